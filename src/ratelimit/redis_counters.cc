// Budget counters read from Redis; see redis_counters.h.
#include "ratelimit/redis_counters.h"

#include <hiredis/hiredis.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <memory>

namespace aigw::ratelimit {

namespace {
constexpr size_t kPage = 256; // keys per MGET
} // namespace

RedisCounterReader::~RedisCounterReader() { disconnect(); }

void RedisCounterReader::disconnect() {
  if (ctx_) redisFree(ctx_);
  ctx_ = nullptr;
}

bool RedisCounterReader::connect() {
  if (Clock::now() < retry_at_) return false; // failed a moment ago: not each refresh again
  ctx_ = redisConnectWithTimeout(target_.host.c_str(), target_.port, timeval{0, 500000});
  if (!ctx_ || ctx_->err || redisSetTimeout(ctx_, timeval{0, 500000}) != REDIS_OK) {
    spdlog::debug("dashboard: Redis at {}:{}: {}", target_.host, target_.port,
                  ctx_ ? ctx_->errstr : "out of memory");
    disconnect();
    retry_at_ = Clock::now() + std::chrono::seconds(5);
    return false;
  }
  return true;
}

std::vector<std::optional<uint64_t>>
RedisCounterReader::used(const std::vector<std::string> &keys) {
  std::vector<std::optional<uint64_t>> out(keys.size());
  std::lock_guard lock(mu_);
  if (keys.empty() || (!ctx_ && !connect())) return out;
  // Every page's MGET goes out in one write, and the replies are read in turn: one round trip
  // whatever the number of keys, each read bounded by the connection's timeout.
  std::vector<std::string> names;
  std::vector<const char *> argv;
  std::vector<size_t> lens;
  for (size_t at = 0; at < keys.size(); at += kPage) {
    size_t n = std::min(kPage, keys.size() - at);
    names.assign(1, "MGET");
    for (size_t i = 0; i < n; ++i)
      names.push_back(std::string(kBudgetKeyPrefix) + keys[at + i]);
    argv.clear();
    lens.clear();
    for (const auto &s : names) {
      argv.push_back(s.data());
      lens.push_back(s.size());
    }
    redisAppendCommandArgv(ctx_, static_cast<int>(argv.size()), argv.data(), lens.data());
  }
  for (size_t at = 0; at < keys.size(); at += kPage) {
    size_t n = std::min(kPage, keys.size() - at);
    void *raw = nullptr;
    if (redisGetReply(ctx_, &raw) != REDIS_OK) raw = nullptr;
    std::unique_ptr<redisReply, decltype(&freeReplyObject)> r(static_cast<redisReply *>(raw),
                                                              &freeReplyObject);
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != n) {
      disconnect(); // the next call connects again (the replies still owed go with it)
      retry_at_ = Clock::now() + std::chrono::seconds(5);
      return std::vector<std::optional<uint64_t>>(keys.size());
    }
    for (size_t i = 0; i < n; ++i) {
      const redisReply *v = r->element[i];
      uint64_t count = 0;
      if (v->type == REDIS_REPLY_STRING) std::from_chars(v->str, v->str + v->len, count);
      out[at + i] = count;
    }
  }
  return out;
}

} // namespace aigw::ratelimit
