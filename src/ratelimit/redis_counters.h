// Reads budget counters from Redis for the admin dashboard: blocking MGETs (a page of keys each,
// all sent in one write) over a connection of its own, made on first use and again 5 s after a
// failure, each read bounded to 0.5 s. For the admin thread (a refresh, never a request); the
// calls are serialised.
#pragma once

#include "ratelimit/redis_url.h"

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

struct redisContext;

namespace aigw::ratelimit {

class RedisCounterReader {
public:
  explicit RedisCounterReader(RedisTarget target) : target_(std::move(target)) {}
  ~RedisCounterReader();
  RedisCounterReader(const RedisCounterReader &) = delete;
  RedisCounterReader &operator=(const RedisCounterReader &) = delete;

  // The values of the budget store's `keys` (as the store names them, without kBudgetKeyPrefix):
  // 0 for an absent key, nullopt for all when Redis could not answer.
  std::vector<std::optional<uint64_t>> used(const std::vector<std::string> &keys);

private:
  bool connect();
  void disconnect();
  using Clock = std::chrono::steady_clock;
  RedisTarget target_;
  std::mutex mu_;
  redisContext *ctx_ = nullptr;
  Clock::time_point retry_at_{}; // after a failure, no new connection before then
};

} // namespace aigw::ratelimit
