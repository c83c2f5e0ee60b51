// Token budgets shared by replicas through Redis: one EVAL round trip per admission (a Lua script
// that checks every bucket and charges them only when all allow, atomically), and settlements as
// fire-and-forget INCRBY/DECRBY. Keys and windows are the in-memory store's. When Redis cannot be
// reached the gateway fails open (a warning and a counter) unless configured to fail closed;
// connections are re-opened on the next request.
// Thread-safety: one RedisBudgets per worker, used only from that worker's event loop.
#pragma once

#include "proxy/beast_pch.h"
#include "ratelimit/limiter.h"

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace aigw::ratelimit {

struct RedisTarget {
  std::string host = "127.0.0.1";
  uint16_t port = 6379;
  bool fail_closed = false;
};

// Parses redis://HOST[:PORT][/]. nullopt when malformed.
std::optional<RedisTarget> parse_redis_url(const std::string &url);

struct RedisCounters {
  std::atomic<uint64_t> errors{0};
  std::atomic<uint64_t> failed_open{0};
};

class RedisBudgets {
public:
  RedisBudgets(boost::asio::any_io_executor ex, RedisTarget target, RedisCounters *counters);
  ~RedisBudgets();

  // The verdict, or nullopt when Redis could not answer (the caller fails open or closed).
  boost::asio::awaitable<std::optional<Verdict>>
  admit(std::vector<Hit> &hits, int64_t now, const CostValues *estimate, bool any_allows = false);

  // Adds signed deltas (settlements, refunds) to the buckets; never below zero.
  boost::asio::awaitable<void> adjust(std::vector<std::pair<std::string, int64_t>> deltas,
                                      std::vector<int64_t> ttls);

  const RedisTarget &target() const { return target_; }

private:
  struct Conn;
  boost::asio::awaitable<std::optional<std::vector<int64_t>>> eval(std::string command);

  boost::asio::any_io_executor ex_;
  RedisTarget target_;
  RedisCounters *counters_;
  std::vector<std::unique_ptr<Conn>> idle_;
};

} // namespace aigw::ratelimit
