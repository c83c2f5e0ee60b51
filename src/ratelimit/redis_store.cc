// Redis-backed token budgets; see redis_budgets.h.
#include "ratelimit/redis_store.h"

#include <hiredis/hiredis.h>
#include <openssl/sha.h>
#include <spdlog/spdlog.h>

#include <chrono>

namespace aigw::ratelimit {
namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using namespace net::experimental::awaitable_operators;
constexpr auto kTuple = net::as_tuple(net::use_awaitable);
constexpr auto kRedisTimeout = std::chrono::seconds(1);
constexpr auto kRetryAfterDown = std::chrono::milliseconds(500); // after a failed connect

// KEYS: the buckets. ARGV: per key, six values: limit, request cost, reservation, reserve mode
// (0/1), shadow (0/1), ttl seconds. Refuses (and charges nothing) when any non-shadow bucket is
// over; otherwise charges every bucket. Returns {allowed, used_1, ..., used_n}, usage before.
constexpr std::string_view kAdmitScript = R"lua(
local n = #KEYS
local used = {}
for i = 1, n do used[i] = tonumber(redis.call('GET', KEYS[i]) or '0') end
local any = tonumber(ARGV[#ARGV])
local allowed = 1
local open, enforced = 0, 0
for i = 1, n do
  local b = (i - 1) * 6
  local limit, rc, mode, shadow = tonumber(ARGV[b+1]), tonumber(ARGV[b+2]), tonumber(ARGV[b+4]), tonumber(ARGV[b+5])
  local over
  if mode == 1 then over = used[i] >= limit or used[i] + rc > limit else over = used[i] + rc > limit end
  if over and shadow == 0 then allowed = 0 end
  if shadow == 0 then
    enforced = 1
    if not over then open = 1 end
  end
end
if any == 1 then
  if open == 1 or enforced == 0 then allowed = 1 else allowed = 0 end
end
if allowed == 1 then
  for i = 1, n do
    local b = (i - 1) * 6
    local add = tonumber(ARGV[b+2]) + tonumber(ARGV[b+3])
    if add > 0 then
      redis.call('INCRBY', KEYS[i], add)
      redis.call('EXPIRE', KEYS[i], ARGV[b+6])
    end
  end
end
local out = {allowed}
for i = 1, n do out[i+1] = used[i] end
return out
)lua";

// KEYS: buckets; ARGV: per key, delta and ttl. Never leaves a bucket below zero.
constexpr std::string_view kAdjustScript = R"lua(
for i = 1, #KEYS do
  local v = redis.call('INCRBY', KEYS[i], ARGV[2*i-1])
  if v < 0 then redis.call('SET', KEYS[i], 0) end
  redis.call('EXPIRE', KEYS[i], ARGV[2*i])
end
return #KEYS
)lua";

void append_bulk(std::string &out, std::string_view s) {
  out += '$';
  out += std::to_string(s.size());
  out += "\r\n";
  out.append(s);
  out += "\r\n";
}

std::string command(std::string_view sha, const std::vector<std::string> &keys,
                    const std::vector<std::string> &args) {
  std::string out = "*" + std::to_string(3 + keys.size() + args.size()) + "\r\n";
  append_bulk(out, "EVALSHA");
  append_bulk(out, sha);
  append_bulk(out, std::to_string(keys.size()));
  for (const auto &k : keys)
    append_bulk(out, std::string(kBudgetKeyPrefix) + k);
  for (const auto &a : args)
    append_bulk(out, a);
  return out;
}

std::string script_load(std::string_view script) {
  std::string out = "*3\r\n";
  append_bulk(out, "SCRIPT");
  append_bulk(out, "LOAD");
  append_bulk(out, script);
  return out;
}

std::string sha1_hex(std::string_view s) {
  unsigned char md[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char *>(s.data()), s.size(), md);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : md) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

constexpr size_t kMaxQueued = 16384; // calls waiting on one connection; past it they fail at once
constexpr std::string_view kCachePrefix = "aigw:cache:";

} // namespace

struct RedisBudgets::Conn {
  explicit Conn(net::any_io_executor ex)
      : socket(ex), kick(ex), watch(ex), reader(redisReaderCreate()) {}
  ~Conn() { redisReaderFree(reader); }
  tcp::socket socket;
  net::steady_timer kick;  // the writer's wait for commands
  net::steady_timer watch; // the watchdog's tick
  redisReader *reader;
  bool failed = false;
  bool timed_out = false; // the watchdog dropped it: what was in flight may have run
  bool writing = false;
  bool writer_waiting = false;
  std::chrono::steady_clock::time_point oldest_sent{}; // of the calls in flight
};

struct RedisBudgets::Waiter {
  explicit Waiter(net::any_io_executor ex) : wake(std::move(ex)) {}
  net::steady_timer wake;
  bool done = false;
  std::optional<std::vector<int64_t>> result;
  std::optional<std::string> text; // a cache GET's value
};

RedisBudgets::RedisBudgets(net::any_io_executor ex, RedisTarget target, RedisCounters *counters)
    : ex_(std::move(ex)), target_(std::move(target)), counters_(counters),
      admit_sha_(sha1_hex(kAdmitScript)), adjust_sha_(sha1_hex(kAdjustScript)) {}

RedisBudgets::~RedisBudgets() = default;

void RedisBudgets::finish(Entry &e, std::optional<std::vector<int64_t>> result) {
  if (!result) counters_->errors.fetch_add(1, std::memory_order_relaxed);
  if (e.script) return; // (a script that failed to load: its calls' replies say so)
  if (!e.waiter) {
    if (!result && e.cache) return; // a cache entry not stored: the next request computes it
    if (!result)
      spdlog::warn("redis {}:{}: a budget settlement was lost", target_.host, target_.port);
    return;
  }
  e.waiter->result = std::move(result);
  e.waiter->done = true;
  e.waiter->wake.cancel();
}

net::awaitable<std::optional<std::vector<int64_t>>>
RedisBudgets::call(std::string cmd, bool want_reply, std::optional<std::string> *text) {
  // Redis could not be reached a moment ago: the call fails now rather than wait for another
  // connection attempt (a host that drops packets costs each one the connect timeout).
  if (entries_.size() >= kMaxQueued || std::chrono::steady_clock::now() < down_until_) {
    counters_->errors.fetch_add(1, std::memory_order_relaxed);
    co_return std::nullopt;
  }
  std::shared_ptr<Waiter> w;
  if (want_reply) w = std::make_shared<Waiter>(ex_);
  Entry e;
  e.cmd = std::move(cmd);
  e.waiter = w;
  e.cache = text != nullptr;
  enqueue(std::move(e));
  if (!w) co_return std::nullopt;
  // Woken by the reply, or by the connection failing (the watchdog bounds the wait).
  while (!w->done) {
    w->wake.expires_at(std::chrono::steady_clock::time_point::max());
    co_await w->wake.async_wait(kTuple);
  }
  if (text) *text = std::move(w->text);
  co_return std::move(w->result);
}

net::awaitable<std::optional<std::string>> RedisBudgets::get(std::string_view key) {
  std::string cmd = "*2\r\n";
  append_bulk(cmd, "GET");
  append_bulk(cmd, std::string(kCachePrefix) + std::string(key));
  std::optional<std::string> value;
  auto done = co_await call(std::move(cmd), true, &value);
  if (!done) co_return std::nullopt;
  co_return value;
}

void RedisBudgets::put(std::string_view key, std::string_view value, int64_t ttl_seconds) {
  std::string cmd = "*5\r\n";
  append_bulk(cmd, "SET");
  append_bulk(cmd, std::string(kCachePrefix) + std::string(key));
  append_bulk(cmd, value);
  append_bulk(cmd, "EX");
  append_bulk(cmd, std::to_string(std::max<int64_t>(1, ttl_seconds)));
  if (entries_.size() >= kMaxQueued || std::chrono::steady_clock::now() < down_until_) return;
  Entry e;
  e.cmd = std::move(cmd);
  e.cache = true;
  enqueue(std::move(e));
}

// The same call as EVAL with the script's text instead of EVALSHA with its hash.
std::string RedisBudgets::with_script_text(const std::string &cmd) const {
  auto head_end = cmd.find("\r\n") + 2; // "*N\r\n"
  for (auto [sha, script] : {std::pair{std::string_view(admit_sha_), kAdmitScript},
                             std::pair{std::string_view(adjust_sha_), kAdjustScript}}) {
    auto at = cmd.find(sha);
    if (at == std::string::npos) continue;
    std::string out = cmd.substr(0, head_end);
    append_bulk(out, "EVAL");
    append_bulk(out, script);
    out.append(cmd, at + sha.size() + 2, std::string::npos);
    return out;
  }
  return cmd;
}

void RedisBudgets::enqueue(Entry e) {
  entries_.push_back(std::move(e));
  if (!running_) {
    running_ = true;
    net::co_spawn(ex_, run(), net::detached);
  } else if (conn_ && conn_->writer_waiting) {
    conn_->kick.cancel();
  }
}

// The commands queued since the last write, in order; the settlements among them merged into
// the first one (at most 512 buckets a call), which runs them a little earlier, never later.
std::string RedisBudgets::next_write() {
  std::string out;
  constexpr size_t kNone = SIZE_MAX;
  size_t merged = kNone; // an index: a deque's erase moves its elements
  for (size_t i = inflight_; i < entries_.size();) {
    auto &e = entries_[i];
    if (e.adjust && e.cmd.empty() && merged != kNone &&
        entries_[merged].keys.size() + e.keys.size() <= 512) {
      auto &into = entries_[merged];
      for (auto &k : e.keys)
        into.keys.push_back(std::move(k));
      for (auto &a : e.args)
        into.args.push_back(std::move(a));
      entries_.erase(entries_.begin() + static_cast<std::ptrdiff_t>(i));
      continue;
    }
    if (e.adjust && e.cmd.empty()) merged = i; // (one sent again has its command built)
    ++i;
  }
  for (size_t i = inflight_; i < entries_.size(); ++i) {
    auto &e = entries_[i];
    if (e.adjust && e.cmd.empty()) e.cmd = command(adjust_sha_, e.keys, e.args);
    out += e.cmd;
  }
  return out;
}

net::awaitable<bool> RedisBudgets::connect() {
  conn_ = std::make_unique<Conn>(ex_);
  tcp::resolver resolver(ex_);
  auto [rec, results] =
      co_await resolver.async_resolve(target_.host, std::to_string(target_.port), kTuple);
  if (rec) co_return false;
  net::steady_timer timer(ex_, kRedisTimeout);
  auto connected =
      co_await (net::async_connect(conn_->socket, results, kTuple) || timer.async_wait(kTuple));
  if (connected.index() != 0 || std::get<0>(std::get<0>(connected))) co_return false;
  boost::system::error_code ignored;
  conn_->socket.set_option(tcp::no_delay(true), ignored);
  // The scripts first, so that every EVALSHA after them finds them (Redis runs a connection's
  // commands in order).
  for (auto script : {kAdjustScript, kAdmitScript}) {
    Entry e;
    e.cmd = script_load(script);
    e.script = true;
    entries_.push_front(std::move(e));
  }
  co_return true;
}

net::awaitable<void> RedisBudgets::run() {
  for (int attempt = 0; !entries_.empty() && attempt < 2; ++attempt) {
    if (!co_await connect()) {
      down_until_ = std::chrono::steady_clock::now() + kRetryAfterDown;
      break;
    }
    attempt = 0;
    co_await (writer() && reader() && watchdog());
    // What was in flight may or may not have run: settlements are not sent twice (a lost
    // one is counted). An admission is sent once more on the next connection when Redis
    // closed the connection (it did not run), not after a timeout (it may have: charged twice).
    bool resend = !conn_->timed_out;
    std::deque<Entry> again;
    for (size_t i = 0; i < inflight_ && !entries_.empty(); ++i) {
      Entry e = std::move(entries_.front());
      entries_.pop_front();
      if (e.waiter && !e.retried && resend) {
        e.retried = true;
        again.push_back(std::move(e));
      } else if (!e.script) { // (a new connection loads the scripts again)
        finish(e, std::nullopt);
      }
    }
    inflight_ = 0;
    while (!again.empty()) {
      entries_.push_front(std::move(again.back()));
      again.pop_back();
    }
    // Script loads not yet sent belong to the broken connection; the next one sends its own.
    std::erase_if(entries_, [](const Entry &e) { return e.script; });
  }
  conn_.reset();
  for (auto &e : entries_)
    if (!e.script) finish(e, std::nullopt);
  entries_.clear();
  inflight_ = 0;
  running_ = false;
}

void RedisBudgets::fail_connection() {
  if (!conn_ || conn_->failed) return;
  conn_->failed = true;
  boost::system::error_code ignored;
  conn_->socket.close(ignored);
  conn_->kick.cancel();
  conn_->watch.cancel();
}

// Writes every queued command in one write; waits for more while the queue is empty.
net::awaitable<void> RedisBudgets::writer() {
  std::string out;
  while (!conn_->failed) {
    if (inflight_ == entries_.size()) { // nothing queued (idle, the connection stays open)
      conn_->writer_waiting = true;
      conn_->kick.expires_at(std::chrono::steady_clock::time_point::max());
      co_await conn_->kick.async_wait(kTuple);
      conn_->writer_waiting = false;
      continue;
    }
    out = next_write();
    if (inflight_ == 0) conn_->oldest_sent = std::chrono::steady_clock::now();
    inflight_ = entries_.size(); // (replies come after the write; the reader counts them down)
    auto [ec, wrote] = co_await net::async_write(conn_->socket, net::buffer(out), kTuple);
    if (ec) fail_connection();
  }
}

net::awaitable<void> RedisBudgets::reader() {
  char buf[16384];
  while (!conn_->failed) {
    auto [ec, n] = co_await conn_->socket.async_read_some(net::buffer(buf), kTuple);
    if (ec) {
      if (!conn_->failed) spdlog::warn("redis {}:{}: {}", target_.host, target_.port, ec.message());
      fail_connection();
      break;
    }
    redisReaderFeed(conn_->reader, buf, n);
    for (;;) {
      void *r = nullptr;
      if (redisReaderGetReply(conn_->reader, &r) != REDIS_OK) {
        fail_connection();
        break;
      }
      if (!r) break;
      on_reply(r);
      if (conn_->failed) break;
    }
  }
}

void RedisBudgets::on_reply(void *r) {
  auto *reply = static_cast<redisReply *>(r);
  if (inflight_ == 0 || entries_.empty()) { // a reply to nothing: the stream is not trusted
    freeReplyObject(reply);
    fail_connection();
    return;
  }
  Entry e = std::move(entries_.front());
  entries_.pop_front();
  --inflight_;
  conn_->oldest_sent = std::chrono::steady_clock::now();
  std::optional<std::vector<int64_t>> out;
  if (reply->type == REDIS_REPLY_ARRAY) {
    out.emplace();
    for (size_t i = 0; i < reply->elements; ++i)
      out->push_back(reply->element[i]->type == REDIS_REPLY_INTEGER ? reply->element[i]->integer
                                                                    : 0);
  } else if (reply->type == REDIS_REPLY_INTEGER) {
    out.emplace(1, reply->integer);
  } else if (reply->type == REDIS_REPLY_STRING && e.script) {
    out.emplace(); // a script loaded
  } else if (e.cache && (reply->type == REDIS_REPLY_STRING || reply->type == REDIS_REPLY_NIL ||
                         reply->type == REDIS_REPLY_STATUS)) {
    out.emplace(); // a value, none, or OK
    if (reply->type == REDIS_REPLY_STRING && e.waiter)
      e.waiter->text.emplace(reply->str, reply->len);
  } else if (reply->type == REDIS_REPLY_ERROR) {
    std::string_view msg(reply->str, reply->len);
    // The scripts are gone (SCRIPT FLUSH, a failover to a replica without them): the call did
    // not run. It is sent again next, with the script's text (EVAL loads it for the EVALSHAs
    // after it); the replies already on their way keep their order.
    if (msg.starts_with("NOSCRIPT") && !e.script) {
      spdlog::info("redis {}:{}: the scripts are not loaded: sending them again", target_.host,
                   target_.port);
      freeReplyObject(reply);
      e.cmd = with_script_text(e.cmd);
      entries_.insert(entries_.begin() + static_cast<std::ptrdiff_t>(inflight_), std::move(e));
      if (conn_->writer_waiting) conn_->kick.cancel();
      return;
    }
    spdlog::warn("redis {}:{}: {}", target_.host, target_.port, msg);
  }
  freeReplyObject(reply);
  finish(e, std::move(out));
}

// A call in flight for longer than the timeout: Redis is not answering, the connection is
// dropped (its calls fail open or closed, as configured).
net::awaitable<void> RedisBudgets::watchdog() {
  while (!conn_->failed) {
    conn_->watch.expires_after(std::chrono::milliseconds(250));
    co_await conn_->watch.async_wait(kTuple);
    if (conn_->failed) break;
    if (inflight_ > 0 && std::chrono::steady_clock::now() - conn_->oldest_sent > kRedisTimeout) {
      spdlog::warn("redis {}:{}: no reply within {} ms", target_.host, target_.port,
                   std::chrono::duration_cast<std::chrono::milliseconds>(kRedisTimeout).count());
      conn_->timed_out = true;
      fail_connection();
    }
  }
}

net::awaitable<std::optional<Verdict>> RedisBudgets::admit(std::vector<Hit> &hits, int64_t now,
                                                           const CostValues *estimate,
                                                           bool any_allows) {
  std::vector<std::string> keys;
  std::vector<std::string> args;
  for (const auto &h : hits) {
    keys.push_back(h.key);
    const auto &rule = h.limit->rule;
    args.push_back(std::to_string(rule.limit));
    args.push_back(std::to_string(request_cost_of(h)));
    args.push_back(std::to_string(reservation_of(h, estimate)));
    args.push_back(rule.reserve_then_settle ? "1" : "0");
    args.push_back(rule.shadow_mode ? "1" : "0");
    args.push_back(std::to_string(std::max<int64_t>(1, h.window_end - now + 1)));
  }
  args.push_back(any_allows ? "1" : "0");
  auto reply = co_await call(command(admit_sha_, keys, args), true);
  if (!reply || reply->size() != hits.size() + 1) co_return std::nullopt;
  std::vector<uint64_t> used;
  for (size_t i = 1; i < reply->size(); ++i)
    used.push_back(static_cast<uint64_t>(std::max<int64_t>(0, (*reply)[i])));
  // The script decided atomically; the same rule here gives the headers (and the reservations).
  auto v = decide(hits, used, now, estimate, nullptr, any_allows);
  if ((*reply)[0] == 0) v.allowed = false, v.remaining = 0;
  co_return v;
}

void RedisBudgets::adjust(const std::vector<std::pair<std::string, int64_t>> &deltas,
                          const std::vector<int64_t> &ttls) {
  Entry e;
  e.adjust = true;
  for (size_t i = 0; i < deltas.size(); ++i) {
    if (deltas[i].second == 0) continue;
    e.keys.push_back(deltas[i].first);
    e.args.push_back(std::to_string(deltas[i].second));
    e.args.push_back(std::to_string(std::max<int64_t>(1, ttls[i])));
  }
  if (e.keys.empty()) return;
  if (entries_.size() >= kMaxQueued || std::chrono::steady_clock::now() < down_until_) {
    // (a lost one is logged and counted)
    finish(e, std::nullopt);
    return;
  }
  enqueue(std::move(e));
}

} // namespace aigw::ratelimit
