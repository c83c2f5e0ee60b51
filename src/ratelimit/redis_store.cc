// Redis-backed token budgets; see redis_budgets.h.
#include "ratelimit/redis_store.h"

#include <hiredis/hiredis.h>
#include <spdlog/spdlog.h>

#include <chrono>

namespace aigw::ratelimit {
namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using namespace net::experimental::awaitable_operators;
constexpr auto kTuple = net::as_tuple(net::use_awaitable);
constexpr auto kRedisTimeout = std::chrono::seconds(1);

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

std::string command(std::string_view script, const std::vector<std::string> &keys,
                    const std::vector<std::string> &args) {
  std::string out = "*" + std::to_string(3 + keys.size() + args.size()) + "\r\n";
  append_bulk(out, "EVAL");
  append_bulk(out, script);
  append_bulk(out, std::to_string(keys.size()));
  for (const auto &k : keys)
    append_bulk(out, "aigw:" + k);
  for (const auto &a : args)
    append_bulk(out, a);
  return out;
}

} // namespace

std::optional<RedisTarget> parse_redis_url(const std::string &url) {
  if (!url.starts_with("redis://")) return std::nullopt;
  std::string rest = url.substr(8);
  while (!rest.empty() && rest.back() == '/')
    rest.pop_back();
  RedisTarget t;
  auto colon = rest.rfind(':');
  if (colon != std::string::npos && rest.find(']') == std::string::npos) {
    t.host = rest.substr(0, colon);
    try {
      int p = std::stoi(rest.substr(colon + 1));
      if (p <= 0 || p > 65535) return std::nullopt;
      t.port = static_cast<uint16_t>(p);
    } catch (const std::exception &) {
      return std::nullopt;
    }
  } else {
    t.host = rest;
  }
  if (t.host.empty()) return std::nullopt;
  return t;
}

struct RedisBudgets::Conn {
  explicit Conn(net::any_io_executor ex) : socket(std::move(ex)), reader(redisReaderCreate()) {}
  ~Conn() { redisReaderFree(reader); }
  tcp::socket socket;
  redisReader *reader;
};

RedisBudgets::RedisBudgets(net::any_io_executor ex, RedisTarget target, RedisCounters *counters)
    : ex_(std::move(ex)), target_(std::move(target)), counters_(counters) {}

RedisBudgets::~RedisBudgets() = default;

net::awaitable<std::optional<std::vector<int64_t>>> RedisBudgets::eval(std::string cmd) {
  std::unique_ptr<Conn> conn;
  if (!idle_.empty()) {
    conn = std::move(idle_.back());
    idle_.pop_back();
  }
  net::steady_timer timer(ex_, kRedisTimeout);
  for (int round = 0; round < 2; ++round) {
    bool reused = conn != nullptr;
    if (!conn) {
      conn = std::make_unique<Conn>(ex_);
      tcp::resolver resolver(ex_);
      auto [rec, results] =
          co_await resolver.async_resolve(target_.host, std::to_string(target_.port), kTuple);
      if (rec) break;
      auto connected =
          co_await (net::async_connect(conn->socket, results, kTuple) || timer.async_wait(kTuple));
      if (connected.index() != 0 || std::get<0>(std::get<0>(connected))) break;
      boost::system::error_code ignored;
      conn->socket.set_option(tcp::no_delay(true), ignored);
    }
    auto wrote = co_await (net::async_write(conn->socket, net::buffer(cmd), kTuple) ||
                           timer.async_wait(kTuple));
    bool ok = wrote.index() == 0 && !std::get<0>(std::get<0>(wrote));
    redisReply *reply = nullptr;
    char buf[4096];
    while (ok && reply == nullptr) {
      void *r = nullptr;
      if (redisReaderGetReply(conn->reader, &r) != REDIS_OK) {
        ok = false;
        break;
      }
      if (r) {
        reply = static_cast<redisReply *>(r);
        break;
      }
      auto got = co_await (conn->socket.async_read_some(net::buffer(buf), kTuple) ||
                           timer.async_wait(kTuple));
      if (got.index() != 0) {
        ok = false;
        break;
      }
      auto [ec, n] = std::get<0>(got);
      if (ec) {
        ok = false;
        break;
      }
      redisReaderFeed(conn->reader, buf, n);
    }
    if (!ok) {
      conn.reset();
      if (reused) continue; // a pooled connection Redis closed: once more on a fresh one
      break;
    }
    std::optional<std::vector<int64_t>> out;
    if (reply->type == REDIS_REPLY_ARRAY) {
      out.emplace();
      for (size_t i = 0; i < reply->elements; ++i)
        out->push_back(reply->element[i]->type == REDIS_REPLY_INTEGER ? reply->element[i]->integer
                                                                      : 0);
    } else if (reply->type == REDIS_REPLY_INTEGER) {
      out.emplace(1, reply->integer);
    } else if (reply->type == REDIS_REPLY_ERROR) {
      spdlog::warn("redis {}:{}: {}", target_.host, target_.port,
                   std::string_view(reply->str, reply->len));
    }
    freeReplyObject(reply);
    if (idle_.size() < 256) idle_.push_back(std::move(conn)); // one per request in flight
    if (!out) counters_->errors.fetch_add(1, std::memory_order_relaxed);
    co_return out;
  }
  counters_->errors.fetch_add(1, std::memory_order_relaxed);
  co_return std::nullopt;
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
  auto reply = co_await eval(command(kAdmitScript, keys, args));
  if (!reply || reply->size() != hits.size() + 1) co_return std::nullopt;
  std::vector<uint64_t> used;
  for (size_t i = 1; i < reply->size(); ++i)
    used.push_back(static_cast<uint64_t>(std::max<int64_t>(0, (*reply)[i])));
  // The script decided atomically; the same rule here gives the headers (and the reservations).
  auto v = decide(hits, used, now, estimate, nullptr, any_allows);
  if ((*reply)[0] == 0) v.allowed = false, v.remaining = 0;
  co_return v;
}

net::awaitable<void> RedisBudgets::adjust(std::vector<std::pair<std::string, int64_t>> deltas,
                                          std::vector<int64_t> ttls) {
  std::vector<std::string> keys;
  std::vector<std::string> args;
  for (size_t i = 0; i < deltas.size(); ++i) {
    if (deltas[i].second == 0) continue;
    keys.push_back(deltas[i].first);
    args.push_back(std::to_string(deltas[i].second));
    args.push_back(std::to_string(std::max<int64_t>(1, ttls[i])));
  }
  if (keys.empty()) co_return;
  if (!co_await eval(command(kAdjustScript, keys, args)))
    spdlog::warn("redis {}:{}: a budget settlement was lost", target_.host, target_.port);
}

} // namespace aigw::ratelimit
