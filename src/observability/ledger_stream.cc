// The usage ledger's Redis stream; see ledger_stream.h.
#include "observability/ledger_stream.h"

#include "observability/metrics.h"

#include <hiredis/hiredis.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <optional>
#include <string_view>

#include <sys/socket.h>

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
    std::unique_lock lock(mu_);
    stop_ = true;
    deadline_ = Clock::now() + kShutdownGrace;
    cv_.notify_all();
    // A Redis that takes the connection and then never answers could hold the sender past its
    // grace (an exchange begun before the stop): its socket is shut to end the exchange.
    if (!done_cv_.wait_until(lock, *deadline_ + std::chrono::milliseconds(250),
                             [&] { return done_; }) &&
        fd_ >= 0)
      ::shutdown(fd_, SHUT_RDWR);
  }
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
    // The sender looks every kSendEvery; a full batch calls it sooner when it waits (not when
    // it is busy or resting after a failure). A wake per entry would cost a context switch per
    // request.
    if (!waiting_ || queue_.size() != kBatch) return;
  }
  cv_.notify_one();
}

bool LedgerStream::flush(std::chrono::milliseconds within) {
  std::unique_lock lock(mu_);
  flush_wanted_ = true;
  cv_.notify_one();
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
    warned_ = true;
    spdlog::warn("usage ledger: Redis stream {} at {}:{}: {}; records wait to be sent", target_.key,
                 target_.host, target_.port, what);
  }
  disconnect();
}

void LedgerStream::disconnect() {
  if (ctx_) {
    std::lock_guard lock(mu_); // the destructor may be about to shut the socket
    fd_ = -1;
  }
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
  {
    std::lock_guard lock(mu_);
    fd_ = ctx_->fd;
  }
  // A Redis that stops answering breaks the connection instead of holding the sender.
  if (redisSetTimeout(ctx_, timeval{2, 0}) != REDIS_OK) {
    fail("cannot set the connection's timeout");
    return false;
  }
  connected_.store(true, std::memory_order_relaxed);
  return true;
}

namespace {
// Error replies that will not change by sending again: the key holds another type, or the
// command itself is refused. Others (LOADING, READONLY, OOM, MISCONF, BUSY, NOAUTH, ...) pass.
bool refused_for_good(std::string_view reply) {
  return reply.starts_with("WRONGTYPE") || reply.starts_with("ERR");
}

timeval time_left(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::microseconds>(deadline - Clock::now());
  left = std::max(left, std::chrono::microseconds(100000));
  return timeval{static_cast<time_t>(left.count() / 1000000),
                 static_cast<suseconds_t>(left.count() % 1000000)};
}
} // namespace

void LedgerStream::append_commands(const std::vector<Entry> &batch) {
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
    // Only fails for want of memory: the command is formatted into the output buffer.
    redisAppendCommandArgv(ctx_, static_cast<int>(argv.size()), argv.data(), lens.data());
  }
}

void LedgerStream::send(std::vector<Entry> &batch, std::vector<Entry> &again,
                        const std::optional<Clock::time_point> &deadline) {
  if (!ctx_ && !connect()) {
    again.swap(batch);
    return;
  }
  if (deadline) redisSetTimeout(ctx_, time_left(*deadline)); // stopping: only the grace is left
  append_commands(batch);
  std::string passing; // a temporary refusal: the entries it turned back wait
  for (size_t i = 0; i < batch.size(); ++i) {
    void *reply = nullptr;
    if (redisGetReply(ctx_, &reply) != REDIS_OK || !reply) {
      bool late = ctx_->err == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK);
      std::string why = late ? "no answer in time" : ctx_->err ? ctx_->errstr : "no reply";
      fail(why.c_str());
      for (; i < batch.size(); ++i)
        again.push_back(std::move(batch[i]));
      return;
    }
    auto *r = static_cast<redisReply *>(reply);
    std::string_view text = r->type == REDIS_REPLY_ERROR ? std::string_view(r->str, r->len) : "";
    if (r->type != REDIS_REPLY_ERROR) {
      written_.fetch_add(1, std::memory_order_relaxed);
      if (counters_) counters_->ledger_written[kRedisSink].fetch_add(1, std::memory_order_relaxed);
    } else if (!refused_for_good(text)) {
      if (passing.empty()) passing = text;
      again.push_back(std::move(batch[i]));
    } else {
      errors_.fetch_add(1, std::memory_order_relaxed);
      if (counters_) counters_->ledger_redis_errors.fetch_add(1, std::memory_order_relaxed);
      if (Clock::now() - last_refusal_ >= std::chrono::seconds(30)) {
        last_refusal_ = Clock::now();
        spdlog::warn("usage ledger: Redis refused records for {}: {}", target_.key, text);
      }
      drop(1);
    }
    freeReplyObject(reply);
  }
  if (!passing.empty()) {
    fail(passing.c_str());
  } else if (warned_) {
    warned_ = false;
    last_warning_ = {};
    spdlog::info("usage ledger: Redis stream {} at {}:{} takes records again", target_.key,
                 target_.host, target_.port);
  }
}

void LedgerStream::run() {
  auto pause = std::chrono::milliseconds(100);
  std::optional<Clock::time_point> deadline; // deadline_, read under the lock
  std::vector<Entry> batch, again;
  std::unique_lock lock(mu_);
  for (;;) {
    waiting_ = true;
    cv_.wait_for(lock, kSendEvery,
                 [&] { return stop_ || flush_wanted_ || queue_.size() >= kBatch; });
    waiting_ = false;
    flush_wanted_ = false;
    deadline = deadline_;
    if (queue_.empty() && !stop_) continue;
    if (queue_.empty() || (deadline && Clock::now() >= *deadline)) {
      drop(queue_.size());
      queue_.clear();
      done_ = true;
      done_cv_.notify_all();
      idle_.notify_all();
      return;
    }
    batch.clear();
    again.clear();
    while (!queue_.empty() && batch.size() < kBatch) {
      batch.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    busy_ = true;
    lock.unlock();
    send(batch, again, deadline);
    lock.lock();
    busy_ = false;
    // What is to be sent again goes back to the front, in order, as far as there is room.
    size_t keep = std::min(again.size(), kMaxQueued - std::min(kMaxQueued, queue_.size()));
    drop(again.size() - keep);
    for (size_t i = keep; i-- > 0;)
      queue_.push_front(std::move(again[i]));
    idle_.notify_all();
    if (again.empty()) {
      pause = std::chrono::milliseconds(100);
      continue;
    }
    auto until = Clock::now() + pause;
    if (deadline) until = std::min(until, *deadline);
    cv_.wait_until(lock, until, [&] { return stop_ && !deadline; });
    pause = std::min<std::chrono::milliseconds>(pause * 2, std::chrono::seconds(5));
  }
}

} // namespace aigw::observability
