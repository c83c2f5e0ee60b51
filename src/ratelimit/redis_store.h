// Token budgets shared by replicas through Redis: one script call per admission (a Lua script
// that checks every bucket and charges them only when all allow, atomically), and settlements as
// fire-and-forget script calls that never leave a bucket below zero. Keys and windows are the
// in-memory store's. Each worker keeps one connection and pipelines every request's calls on it
// (EVALSHA, the scripts loaded once per connection): the commands queued while a write is under
// way go out together in the next one, and replies are matched in order. When Redis cannot be
// reached the gateway fails open (a warning and a counter) unless configured to fail closed; the
// connection is re-opened on the next call.
// Thread-safety: one RedisBudgets per worker, used only from that worker's event loop.
#pragma once

#include "proxy/beast_pch.h"
#include "ratelimit/limiter.h"
#include "ratelimit/redis_url.h"

#include <atomic>
#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace aigw::ratelimit {

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

  // Adds signed deltas (settlements, refunds) to the buckets; never below zero. Queued without
  // waiting: the settlements queued while a write is under way go out as one script call.
  void adjust(const std::vector<std::pair<std::string, int64_t>> &deltas,
              const std::vector<int64_t> &ttls);

  // The response cache's entries (aigw:cache:KEY): the value, or nullopt when absent or when
  // Redis could not answer (a miss either way); put() is queued without waiting.
  boost::asio::awaitable<std::optional<std::string>> get(std::string_view key);
  void put(std::string_view key, std::string_view value, int64_t ttl_seconds);

  const RedisTarget &target() const { return target_; }

private:
  struct Conn;
  struct Waiter;
  struct Entry {
    std::string cmd;
    std::shared_ptr<Waiter> waiter; // null: fire and forget
    bool retried = false;           // an admission sent again after its connection broke
    bool script = false;            // a SCRIPT LOAD at the start of a connection
    bool adjust = false;            // a settlement: `keys` and `args`, merged at write time
    bool cache = false;             // a cache GET or SET: its reply is a string, nil or OK
    std::vector<std::string> keys, args;
  };
  // Queues `cmd` on the connection; waits for its reply when `want_reply`.
  boost::asio::awaitable<std::optional<std::vector<int64_t>>>
  call(std::string cmd, bool want_reply, std::optional<std::string> *text = nullptr);
  boost::asio::awaitable<void> run(); // the connection, while there is something to send
  boost::asio::awaitable<bool> connect();
  boost::asio::awaitable<void> writer();
  boost::asio::awaitable<void> reader();
  boost::asio::awaitable<void> watchdog();
  void on_reply(void *reply);
  void enqueue(Entry e);
  std::string next_write();
  std::string with_script_text(const std::string &cmd) const;
  void fail_connection();
  void finish(Entry &e, std::optional<std::vector<int64_t>> result);

  boost::asio::any_io_executor ex_;
  RedisTarget target_;
  RedisCounters *counters_;
  std::string admit_sha_, adjust_sha_;
  std::unique_ptr<Conn> conn_;
  std::deque<Entry> entries_; // queued, then in flight (the first `inflight_`), in order
  size_t inflight_ = 0;
  bool running_ = false;
  std::chrono::steady_clock::time_point down_until_{}; // calls fail at once until then
};

} // namespace aigw::ratelimit
