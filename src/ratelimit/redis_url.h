// Where a Redis server is: redis://HOST[:PORT][/0], shared by the budget store, the response
// cache and the usage ledger's stream.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace aigw::ratelimit {

struct RedisTarget {
  std::string host = "127.0.0.1";
  uint16_t port = 6379;
  bool fail_closed = false;
};

// The budget store's keys in Redis: this prefix and the store's own key.
constexpr std::string_view kBudgetKeyPrefix = "aigw:";

// Parses redis://HOST[:PORT][/0], HOST a name, an IPv4 address or a bracketed IPv6 one. nullopt
// when malformed or naming a database other than 0 (no SELECT is sent).
std::optional<RedisTarget> parse_redis_url(const std::string &url);

} // namespace aigw::ratelimit
