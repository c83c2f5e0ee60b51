// Header rules; see headers.h.
#include "pipeline/headers.h"

#include "core/strings.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstring>

namespace aigw::pipeline {

bool iequals(std::string_view a, std::string_view b) {
  // ASCII case folding: header names and host names are ASCII, and this runs for every header of
  // every request (std::tolower consults the locale).
  auto fold = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; };
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [&](char x, char y) { return fold(x) == fold(y); });
}

bool is_hop_by_hop(std::string_view n) {
  static constexpr std::string_view kNames[] = {
      "connection", "keep-alive", "proxy-connection", "transfer-encoding",
      "te",         "trailer",    "upgrade",          "content-length",
      "host",       "expect"};
  return std::any_of(std::begin(kNames), std::end(kNames),
                     [&](std::string_view k) { return iequals(k, n); });
}

bool strip_from_client(std::string_view n) {
  if (is_hop_by_hop(n)) return true;
  static constexpr std::string_view kCredentials[] = {
      "authorization", "proxy-authorization", "x-api-key", "api-key", "x-goog-api-key",
      "cookie",        "accept-encoding"};
  if (std::any_of(std::begin(kCredentials), std::end(kCredentials),
                  [&](std::string_view k) { return iequals(k, n); }))
    return true;
  if (n.size() >= 8 && iequals(n.substr(0, 8), "x-ai-eg-")) return true;
  if (iequals(n, "x-aigw-deadline-ms")) return true; // the client's deadline is the gateway's
  return false;
}

namespace {
bool valid_bytes(const unsigned char *p, size_t n) {
  for (size_t i = 0; i < n; ++i)
    if ((p[i] < 0x20 && p[i] != '\t') || p[i] == 0x7f) return false;
  return true;
}
} // namespace

bool is_valid_header_value(std::string_view v) {
  // Eight bytes at a time: a word with no byte below 0x20 and none equal to 0x7f is fine as it
  // is; only a word that has one (a tab, usually) is looked at byte by byte.
  constexpr uint64_t kOnes = 0x0101010101010101ULL, kHigh = 0x8080808080808080ULL;
  const auto *p = reinterpret_cast<const unsigned char *>(v.data());
  size_t n = v.size(), i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    std::memcpy(&w, p + i, 8);
    uint64_t below_space = (w - kOnes * 0x20) & ~w & kHigh;
    uint64_t x = w ^ (kOnes * 0x7f);
    uint64_t del = (x - kOnes) & ~x & kHigh;
    if ((below_space | del) && !valid_bytes(p + i, 8)) return false;
  }
  return valid_bytes(p + i, n - i);
}

bool is_valid_request_target(std::string_view p) {
  if (p.empty()) return false;
  for (char ch : p) {
    auto c = static_cast<unsigned char>(ch);
    if (c <= 0x20 || c >= 0x7f) return false;
  }
  return true;
}

std::optional<FramingError> check_request_framing(unsigned version,
                                                  const std::vector<HeaderView> &headers) {
  size_t hosts = 0, lengths = 0, encodings = 0;
  std::string_view first_length;
  bool lengths_differ = false;
  std::string te;
  for (const auto &[name, value] : headers) {
    if (iequals(name, "host")) {
      ++hosts;
    } else if (iequals(name, "content-length")) {
      if (lengths++ == 0)
        first_length = value;
      else if (value != first_length)
        lengths_differ = true;
    } else if (iequals(name, "transfer-encoding")) {
      ++encodings;
      if (!te.empty()) te += ',';
      te.append(value);
    }
  }
  auto bad = [](unsigned status, std::string msg) {
    return std::optional<FramingError>(FramingError{status, std::move(msg)});
  };
  if (version >= 11 && hosts == 0) return bad(400, "missing Host header");
  if (hosts > 1) return bad(400, "more than one Host header");
  if (lengths_differ) return bad(400, "conflicting Content-Length headers");
  if (encodings == 0) return std::nullopt;
  if (lengths > 0) return bad(400, "both Transfer-Encoding and Content-Length");
  if (version < 11) return bad(400, "Transfer-Encoding in an HTTP/1.0 request");
  // RFC 9112 §6.3: chunked present but not the final coding (or twice) leaves the body's end
  // unknown: 400 (a MUST, so it is checked first). Otherwise any coding but chunked is one aigw
  // does not implement: 501 (§6.1).
  size_t chunked = 0;
  bool chunked_last = false;
  std::string_view unknown;
  std::string_view rest = te;
  while (!rest.empty()) {
    auto comma = rest.find(',');
    std::string_view token = trim_ows(rest.substr(0, comma));
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    if (token.empty()) continue;
    chunked_last = iequals(token, "chunked");
    if (chunked_last)
      ++chunked;
    else if (unknown.empty())
      unknown = token;
  }
  if (chunked > 0 && (chunked != 1 || !chunked_last))
    return bad(400, "chunked must be the final transfer coding, once");
  if (!unknown.empty()) {
    std::string shown(unknown.substr(0, 64));
    for (char &c : shown)
      if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) c = '?';
    return bad(501, "transfer coding \"" + shown + "\" is not implemented");
  }
  if (chunked == 0) return bad(400, "Transfer-Encoding without chunked");
  return std::nullopt;
}

std::vector<std::string>
sent_secrets(std::string_view authorization,
             const std::vector<std::pair<std::string, std::string>> &extra) {
  std::vector<std::string> out;
  auto add = [&](std::string_view v) {
    if (v.size() >= 8) out.emplace_back(v);
  };
  auto add_authorization = [&](std::string_view v) {
    add(v);
    if (auto sp = v.find(' '); sp != std::string_view::npos) add(v.substr(sp + 1));
  };
  add_authorization(authorization);
  for (const auto &[name, value] : extra) {
    if (iequals(name, "authorization"))
      add_authorization(value);
    else if (iequals(name, "api-key") || iequals(name, "x-api-key") ||
             iequals(name, "x-goog-api-key"))
      add(value);
  }
  return out;
}

void scrub_secrets(std::string &body, const std::vector<std::string> &secrets) {
  static constexpr std::string_view kRedacted = "[REDACTED]";
  for (const auto &secret : secrets) {
    if (secret.size() < 8) continue;
    for (size_t pos = body.find(secret); pos != std::string::npos;
         pos = body.find(secret, pos + kRedacted.size()))
      body.replace(pos, secret.size(), kRedacted);
  }
}

bool mutation_may_set(std::string_view name) {
  if (name.size() >= 8 && iequals(name.substr(0, 8), "x-ai-eg-")) return false;
  return !is_hop_by_hop(name) && !iequals(name, "authorization") && !iequals(name, "host") &&
         !iequals(name, "content-length") && !(name.size() > 0 && name.front() == ':');
}

Error invalid_header_value(std::string_view name) {
  if (iequals(name, "x-ai-eg-model"))
    return Error::client(400, "invalid \"model\": a model name may not contain control characters");
  return Error::client(400, "invalid value for header \"" + std::string(name) +
                                "\": control characters are not allowed");
}

Error invalid_request_target() {
  return Error::client(400, "invalid request path for the backend: it may hold only visible "
                            "ASCII characters (check \"model\")");
}

Result<std::string> build_request_head(const UpstreamHead &h,
                                       const std::vector<HeaderView> &client_headers,
                                       const api::HeaderMutation &mutation) {
  bool check = !h.values_checked; // the gateway's own values, unless its caller checked them
  if (check && !is_valid_request_target(h.path)) return invalid_request_target();
  if (check && !is_valid_header_value(h.model)) return invalid_header_value("x-ai-eg-model");
  if (!is_valid_header_value(h.host_header)) return invalid_header_value("host");
  if (check && !is_valid_header_value(h.authorization))
    return invalid_header_value("authorization");
  if (check && !is_valid_header_value(h.request_id)) return invalid_header_value("x-request-id");
  std::string o;
  o.reserve(512 + client_headers.size() * 48);
  o.append(h.method).append(" ").append(h.path).append(" HTTP/1.1\r\nHost: ");
  o.append(h.host_header).append("\r\n");
  auto mutated = [&](std::string_view name) {
    for (const auto &r : mutation.remove)
      if (iequals(r, name)) return true;
    for (const auto &s : mutation.set)
      if (iequals(s.first, name)) return true;
    if (h.extra)
      for (const auto &e : *h.extra)
        if (iequals(e.first, name)) return true;
    if (h.remove)
      for (const auto &r : *h.remove)
        if (iequals(r, name)) return true;
    return false;
  };
  bool has_request_id = false;
  for (const auto &[name, value] : client_headers) {
    if (strip_from_client(name)) continue;
    if (iequals(name, "x-request-id")) has_request_id = true;
    if (mutated(name) && !iequals(name, "x-request-id")) continue;
    if (!is_valid_header_value(value)) return invalid_header_value(name);
    o.append(name).append(": ").append(value).append("\r\n");
  }
  for (const auto &[name, value] : mutation.set) {
    if (!mutation_may_set(name)) continue;
    bool overridden = false;
    if (h.extra)
      for (const auto &e : *h.extra)
        if (iequals(e.first, name)) overridden = true;
    if (overridden) continue;
    if (check && !is_valid_header_value(value)) return invalid_header_value(name);
    o.append(name).append(": ").append(value).append("\r\n");
  }
  if (h.extra)
    for (const auto &[name, value] : *h.extra) {
      if (check && !is_valid_header_value(value)) return invalid_header_value(name);
      o.append(name).append(": ").append(value).append("\r\n");
    }
  if (!has_request_id && !h.request_id.empty())
    o.append("x-request-id: ").append(h.request_id).append("\r\n");
  o.append("x-ai-eg-model: ").append(h.model).append("\r\n");
  if (!h.authorization.empty()) o.append("Authorization: ").append(h.authorization).append("\r\n");
  o.append("Content-Length: ").append(std::to_string(h.content_length)).append("\r\n\r\n");
  return o;
}

} // namespace aigw::pipeline
