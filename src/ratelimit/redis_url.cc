// redis:// URLs; see redis_url.h.
#include "ratelimit/redis_url.h"

namespace aigw::ratelimit {

std::optional<RedisTarget> parse_redis_url(const std::string &url) {
  if (!url.starts_with("redis://")) return std::nullopt;
  std::string rest = url.substr(8);
  // A database path: only the default one, the one every connection starts on.
  if (auto slash = rest.find('/'); slash != std::string::npos) {
    std::string db = rest.substr(slash + 1);
    if (!db.empty() && db != "0") return std::nullopt;
    rest.resize(slash);
  }
  RedisTarget t;
  std::string port;
  if (rest.starts_with('[')) { // [::1]:6379
    auto close = rest.find(']');
    if (close == std::string::npos) return std::nullopt;
    t.host = rest.substr(1, close - 1);
    if (close + 1 < rest.size()) {
      if (rest[close + 1] != ':') return std::nullopt;
      port = rest.substr(close + 2);
      if (port.empty()) return std::nullopt;
    }
  } else if (auto colon = rest.rfind(':'); colon != std::string::npos) {
    t.host = rest.substr(0, colon);
    if (t.host.find(':') != std::string::npos) return std::nullopt; // IPv6 needs brackets
    port = rest.substr(colon + 1);
    if (port.empty()) return std::nullopt;
  } else {
    t.host = rest;
  }
  if (!port.empty()) {
    if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos)
      return std::nullopt;
    int p = std::stoi(port);
    if (p <= 0 || p > 65535) return std::nullopt;
    t.port = static_cast<uint16_t>(p);
  }
  if (t.host.empty()) return std::nullopt;
  return t;
}

} // namespace aigw::ratelimit
