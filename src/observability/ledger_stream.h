// The usage ledger's Redis stream: each record XADDed as one entry whose fields are the record's
// members (XADD KEY MAXLEN ~ N * time ... status 200), so readers (XREAD, XRANGE, consumer
// groups) see the file's records one by one. A thread of its own sends them over a blocking
// connection, pipelined in batches (what is queued every kSendEvery, or a full kBatch sooner); a
// request only queues its entry. While Redis cannot be
// reached the entries wait (at most kMaxQueued: past that new ones are dropped and counted) and
// the connection is tried again after a pause that grows to 5 s; so are entries a temporary
// refusal turned back (LOADING, READONLY, OOM, ...). An entry is lost only to a full queue, a
// reply that refuses it for good (a key of another type) or a shutdown while Redis is away.
// An entry whose reply never came (the connection broke after the write) is sent again: the
// stream holds each record at least once, and `request_id` tells a repeat.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

struct redisContext;

namespace aigw::observability {

struct HealthCounters;

struct RedisStreamTarget {
  std::string host = "127.0.0.1";
  uint16_t port = 6379;
  std::string key = "aigw:usage";
  uint64_t max_len = 1000000; // 0: the stream is never trimmed
};

class LedgerStream {
public:
  static constexpr size_t kMaxQueued = 65536;
  static constexpr size_t kBatch = 512;                      // entries per pipelined write
  static constexpr std::chrono::milliseconds kSendEvery{50}; // or sooner, at a full batch

  // Starts the sending thread; the first connection is made there (a Redis that is down at start
  // is waited for, not an error). `counters` may be null.
  LedgerStream(RedisStreamTarget target, HealthCounters *counters);
  // Sends what is queued, giving up after kShutdownGrace when Redis does not take it.
  ~LedgerStream();
  LedgerStream(const LedgerStream &) = delete;
  LedgerStream &operator=(const LedgerStream &) = delete;

  // Queues one entry: field names and values, alternating.
  void push(std::vector<std::string> fields);
  // Waits until everything queued has been answered, or `within` has passed; true when empty.
  bool flush(std::chrono::milliseconds within);

  uint64_t written() const { return written_.load(std::memory_order_relaxed); }
  uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }
  uint64_t errors() const { return errors_.load(std::memory_order_relaxed); }
  bool connected() const { return connected_.load(std::memory_order_relaxed); }
  const RedisStreamTarget &target() const { return target_; }

private:
  using Clock = std::chrono::steady_clock;
  using Entry = std::vector<std::string>;
  static constexpr std::chrono::seconds kShutdownGrace{2};
  void run();
  // Sends `batch`, leaving in `again`, in order, what is to be sent again: the entries a
  // temporary refusal turned back, and all from where the connection broke.
  void send(std::vector<Entry> &batch, std::vector<Entry> &again,
            const std::optional<Clock::time_point> &deadline);
  void append_commands(const std::vector<Entry> &batch);
  bool connect();
  void disconnect();
  void drop(uint64_t n);
  void fail(const char *what);

  RedisStreamTarget target_;
  HealthCounters *counters_;
  redisContext *ctx_ = nullptr; // the sending thread's alone
  std::string max_len_;
  std::mutex mu_;
  std::condition_variable cv_, idle_, done_cv_;
  std::deque<Entry> queue_;
  bool stop_ = false, busy_ = false, done_ = false, flush_wanted_ = false;
  bool waiting_ = false; // the sender waits for entries: push() wakes it only then
  int fd_ = -1;          // the connection's socket (under mu_), for the destructor to shut
  std::optional<Clock::time_point> deadline_; // set at stop: until when Redis is waited for
  std::atomic<uint64_t> written_{0}, dropped_{0}, errors_{0};
  std::atomic<bool> connected_{false};
  Clock::time_point last_warning_{}, last_refusal_{}; // warnings: one per 30 s
  bool warned_ = false;                               // a warning since the last good batch
  std::thread sender_;
};

} // namespace aigw::observability
