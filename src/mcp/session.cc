// The MCP session plaintext; see session.h.
#include "mcp/session.h"

#include "core/base64.h"

#include <charconv>
#include <cstdio>

namespace aigw::mcp {

std::string encode_session(const ClientSession &s) {
  std::string out = s.route + "@" + s.subject + "@";
  for (size_t i = 0; i < s.backends.size(); ++i) {
    const auto &b = s.backends[i];
    if (i) out += ',';
    char hex[8];
    std::snprintf(hex, sizeof hex, "%03x", static_cast<unsigned>(b.caps));
    out += b.backend + ":" + base64_encode(b.session_id) + ":" + hex;
  }
  return out;
}

std::optional<ClientSession> parse_session(std::string_view text, std::string *error) {
  auto fail = [&](std::string why) -> std::optional<ClientSession> {
    if (error) *error = std::move(why);
    return std::nullopt;
  };
  size_t last_at = text.rfind('@');
  if (last_at == std::string_view::npos) return fail("missing '@' separator");
  std::string_view prefix = text.substr(0, last_at);
  size_t first_at = prefix.find('@');
  if (first_at == std::string_view::npos) return fail("missing '@' separator");
  ClientSession s;
  s.route = std::string(prefix.substr(0, first_at));
  s.subject = std::string(prefix.substr(first_at + 1));
  std::string_view rest = text.substr(last_at + 1);
  while (!rest.empty()) {
    size_t comma = rest.find(',');
    std::string_view part = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    size_t c1 = part.find(':');
    if (c1 == std::string_view::npos)
      return fail("missing ':' separator in backend session ID part \"" + std::string(part) + "\"");
    BackendSession b;
    b.backend = std::string(part.substr(0, c1));
    if (b.backend.empty()) return fail("empty backend name in part \"" + std::string(part) + "\"");
    std::string_view tail = part.substr(c1 + 1);
    size_t c2 = tail.find(':');
    std::string_view sid = tail.substr(0, c2);
    if (!sid.empty()) {
      auto decoded = base64_decode(sid);
      if (!decoded)
        return fail("failed to base64 decode session ID in part \"" + std::string(part) + "\"");
      b.session_id = std::move(*decoded);
    }
    if (c2 != std::string_view::npos) {
      std::string_view hex = tail.substr(c2 + 1);
      unsigned v = 0;
      auto [p, ec] = std::from_chars(hex.data(), hex.data() + hex.size(), v, 16);
      if (ec == std::errc() && p == hex.data() + hex.size() && v <= 0xffff)
        b.caps = static_cast<uint16_t>(v);
    }
    s.backends.push_back(std::move(b));
  }
  return s;
}

} // namespace aigw::mcp
