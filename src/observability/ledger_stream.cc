// The usage ledger's Redis stream; see ledger_stream.h.
#include "observability/ledger_stream.h"

#include "observability/metrics.h"

#include <hiredis/hiredis.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <optional>
#include <string_view>

namespace aigw::observability {

namespace {
using Clock = std::chrono::steady_clock;
constexpr size_t kRedisSink = 1; // HealthCounters' ledger arrays: 0 the file, 1 the stream
} // namespace

LedgerStream::LedgerStream(RedisStreamTarget target, HealthCounters *counters)
    : target_(std::move(target)), counters_(counters), max_len_(std::to_string(target_.max_len)) {
  sender_ = std::thread([this] { run(); });
}

LedgerStream::~LedgerStream() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_one();
  sender_.join();
  disconnect();
  if (dropped())
    spdlog::warn("usage ledger: {} records not added to the Redis stream {}", dropped(),
                 target_.key);
}

void LedgerStream::push(std::vector<std::string> fields) {
  {
    std::lock_guard lock(mu_);
    if (queue_.size() >= kMaxQueued) {
      drop(1);
      return;
    }
    queue_.push_back(std::move(fields));
  }
  cv_.notify_one();
}

bool LedgerStream::flush(std::chrono::milliseconds within) {
  std::unique_lock lock(mu_);
  return idle_.wait_for(lock, within, [&] { return queue_.empty() && !busy_; });
}

void LedgerStream::drop(uint64_t n) {
  if (!n) return;
  dropped_.fetch_add(n, std::memory_order_relaxed);
  if (counters_) counters_->ledger_dropped[kRedisSink].fetch_add(n, std::memory_order_relaxed);
}

void LedgerStream::fail(const char *what) {
  errors_.fetch_add(1, std::memory_order_relaxed);
  if (counters_) counters_->ledger_redis_errors.fetch_add(1, std::memory_order_relaxed);
  auto now = Clock::now();
  if (now - last_warning_ >= std::chrono::seconds(30)) {
    last_warning_ = now;
    spdlog::warn("usage ledger: Redis stream {} at {}:{}: {}; records wait to be sent", target_.key,
                 target_.host, target_.port, what);
  }
  disconnect();
}

void LedgerStream::disconnect() {
  if (ctx_) redisFree(ctx_);
  ctx_ = nullptr;
  connected_.store(false, std::memory_order_relaxed);
}

bool LedgerStream::connect() {
  ctx_ = redisConnectWithTimeout(target_.host.c_str(), target_.port, timeval{1, 0});
  if (!ctx_ || ctx_->err) {
    std::string why = ctx_ ? ctx_->errstr : "out of memory";
    fail(why.c_str());
    return false;
  }
  redisSetTimeout(ctx_, timeval{2, 0}); // a Redis that stops answering breaks the connection
  if (last_warning_ != Clock::time_point{})
    spdlog::info("usage ledger: Redis stream {} at {}:{} reachable", target_.key, target_.host,
                 target_.port);
  last_warning_ = {};
  connected_.store(true, std::memory_order_relaxed);
  return true;
}

size_t LedgerStream::send(const std::vector<std::vector<std::string>> &batch) {
  if (!ctx_ && !connect()) return 0;
  std::vector<const char *> argv;
  std::vector<size_t> lens;
  auto add = [&](std::string_view s) {
    argv.push_back(s.data());
    lens.push_back(s.size());
  };
  for (const auto &entry : batch) {
    argv.clear();
    lens.clear();
    add("XADD");
    add(target_.key);
    if (target_.max_len) {
      add("MAXLEN");
      add("~");
      add(max_len_);
    }
    add("*");
    for (const auto &f : entry)
      add(f);
    if (redisAppendCommandArgv(ctx_, static_cast<int>(argv.size()), argv.data(), lens.data()) !=
        REDIS_OK) {
      fail("cannot queue a command");
      return 0;
    }
  }
  size_t done = 0;
  for (; done < batch.size(); ++done) {
    void *reply = nullptr;
    if (redisGetReply(ctx_, &reply) != REDIS_OK || !reply) {
      std::string why = ctx_->err ? ctx_->errstr : "no reply";
      fail(why.c_str());
      return done;
    }
    auto *r = static_cast<redisReply *>(reply);
    if (r->type == REDIS_REPLY_ERROR) { // refused for good (a key of another type): not retried
      errors_.fetch_add(1, std::memory_order_relaxed);
      if (counters_) counters_->ledger_redis_errors.fetch_add(1, std::memory_order_relaxed);
      spdlog::warn("usage ledger: Redis refused a record for {}: {}", target_.key,
                   std::string_view(r->str, r->len));
      drop(1);
    } else {
      written_.fetch_add(1, std::memory_order_relaxed);
      if (counters_) counters_->ledger_written[kRedisSink].fetch_add(1, std::memory_order_relaxed);
    }
    freeReplyObject(reply);
  }
  return done;
}

void LedgerStream::run() {
  auto pause = std::chrono::milliseconds(100);
  std::optional<Clock::time_point> deadline; // set at stop: how long Redis is waited for
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
    if (queue_.empty()) return; // stopped with nothing left
    if (stop_ && !deadline) deadline = Clock::now() + kShutdownGrace;
    std::vector<std::vector<std::string>> batch;
    batch.reserve(std::min(queue_.size(), kBatch));
    while (!queue_.empty() && batch.size() < kBatch) {
      batch.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    busy_ = true;
    lock.unlock();
    size_t done = send(batch);
    lock.lock();
    busy_ = false;
    if (done == batch.size()) {
      pause = std::chrono::milliseconds(100);
      idle_.notify_all();
      continue;
    }
    // The unanswered go back to the front, in order, as far as the queue has room.
    size_t room = kMaxQueued - std::min(kMaxQueued, queue_.size());
    size_t keep = std::min(room, batch.size() - done);
    drop(batch.size() - done - keep);
    for (size_t i = done + keep; i-- > done;)
      queue_.push_front(std::move(batch[i]));
    idle_.notify_all();
    if (deadline && Clock::now() >= *deadline) {
      drop(queue_.size());
      queue_.clear();
      return;
    }
    auto until = Clock::now() + pause;
    if (deadline) until = std::min(until, *deadline);
    cv_.wait_until(lock, until, [&] { return stop_ && !deadline; });
    pause = std::min<std::chrono::milliseconds>(pause * 2, std::chrono::seconds(5));
  }
}

} // namespace aigw::observability
