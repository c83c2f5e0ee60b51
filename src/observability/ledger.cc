// The usage ledger; see ledger.h.
#include "observability/ledger.h"

#include "core/json_scan.h"
#include "observability/metrics.h"
#include "ratelimit/redis_url.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <ctime>

#include <fcntl.h>
#include <unistd.h>

namespace aigw::observability {

std::vector<LedgerField> ledger_fields(const ExchangeRecord &r, const PriceCatalog *prices,
                                       int64_t unix_ms) {
  std::vector<LedgerField> f;
  f.reserve(20);
  std::time_t t = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char when[48];
  std::snprintf(when, sizeof when, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(unix_ms % 1000));
  auto text = [&](std::string_view k, std::string v) { f.push_back({k, std::move(v), true}); };
  auto number = [&](std::string_view k, std::string v) { f.push_back({k, std::move(v), false}); };
  text("time", when);
  text("request_id", r.request_id);
  text("key", r.client_id);
  text("route", r.route);
  text("backend", r.backend);
  text("model", r.model);
  const std::string &priced = r.request_model.empty() ? r.model : r.request_model;
  if (!r.request_model.empty() && r.request_model != r.model)
    text("backend_model", r.request_model);
  auto count = [&](std::string_view k, const std::optional<uint64_t> &v) {
    number(k, std::to_string(v.value_or(0)));
  };
  count("input_tokens", r.usage.input);
  count("cached_input_tokens", r.usage.cached_input);
  count("cache_write_tokens", r.usage.cache_creation_input);
  count("output_tokens", r.usage.output);
  count("reasoning_tokens", r.usage.reasoning);
  count("total_tokens", r.usage.total);
  if (auto usd = prices ? prices->cost(priced, r.usage) : std::nullopt) {
    char buf[48];
    auto res = std::to_chars(buf, buf + sizeof buf, *usd, std::chars_format::fixed, 9);
    number("cost_usd", std::string(buf, static_cast<size_t>(res.ptr - buf)));
  }
  number("status", std::to_string(r.status));
  number("stream", r.stream ? "true" : "false");
  if (r.usage_estimated) number("usage_estimated", "true");
  if (r.cache == "hit") text("cache", "hit"); // answered from the cache: no tokens spent
  return f;
}

std::string ledger_line(const std::vector<LedgerField> &fields) {
  std::string o;
  o.reserve(384);
  for (const auto &f : fields) {
    o += o.empty() ? "{\"" : ",\"";
    o += f.name;
    o += "\":";
    if (f.text)
      json::append_quoted(o, f.value);
    else
      o += f.value;
  }
  o += "}\n";
  return o;
}

std::string ledger_line(const ExchangeRecord &r, const PriceCatalog *prices, int64_t unix_ms) {
  return ledger_line(ledger_fields(r, prices, unix_ms));
}

// Reads the catalog file over the bundled prices.
static bool merge_catalog_file(PriceCatalog &prices, const std::string &catalog_path,
                               std::string *err) {
  if (!catalog_path.empty()) {
    std::string text;
    int fd = ::open(catalog_path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      *err = catalog_path + ": " + std::strerror(errno);
      return false;
    }
    char buf[65536];
    for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0 && text.size() < (16u << 20);)
      text.append(buf, static_cast<size_t>(n));
    ::close(fd);
    auto merged = prices.merge_json(text);
    if (!merged) {
      *err = catalog_path + ": " + merged.error().message;
      return false;
    }
  }
  return true;
}

bool open_usage_ledger(UsageLedger &ledger, PriceCatalog &prices, const LedgerOptions &opts,
                       std::string *err) {
  if (!merge_catalog_file(prices, opts.price_catalog, err)) return false;
  std::optional<RedisStreamTarget> stream;
  if (!opts.redis_url.empty()) {
    auto where = ratelimit::parse_redis_url(opts.redis_url);
    if (!where) {
      *err = "the stream's Redis URL \"" + opts.redis_url + "\" is not redis://HOST[:PORT][/0]";
      return false;
    }
    const std::string &key = opts.stream_key;
    if (key.empty() || key.size() > 512 || std::any_of(key.begin(), key.end(), [](unsigned char c) {
          return c < 0x21 || c == 0x7f;
        })) {
      *err = "the stream key \"" + key + "\" is not 1 to 512 visible characters without spaces";
      return false;
    }
    stream = RedisStreamTarget{where->host, where->port, key, opts.stream_max_len};
  }
  if (!opts.path.empty() && !ledger.open(opts.path, &prices, err)) {
    *err = opts.path + ": " + *err;
    return false;
  }
  if (stream) ledger.open_stream(*stream, &prices);
  return true;
}

bool UsageLedger::open(const std::string &path, const PriceCatalog *prices, std::string *err) {
  fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd_ < 0) {
    if (err) *err = std::strerror(errno);
    return false;
  }
  prices_ = prices;
  writer_ = std::thread([this] { run(); });
  return true;
}

void UsageLedger::open_stream(const RedisStreamTarget &target, const PriceCatalog *prices) {
  prices_ = prices;
  stream_ = std::make_unique<LedgerStream>(target, counters_);
}

UsageLedger::~UsageLedger() {
  stream_.reset(); // sends what is queued first
  if (fd_ < 0) return;
  if (dropped()) spdlog::warn("usage ledger: {} lines dropped (the writer fell behind)", dropped());
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_one();
  writer_.join();
  ::close(fd_);
}

void UsageLedger::append(const ExchangeRecord &r) {
  if (!enabled() || r.operation.empty()) return; // nothing routed: no usage to account
  auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  auto fields = ledger_fields(r, prices_, now);
  if (stream_) {
    std::vector<std::string> entry;
    entry.reserve(fields.size() * 2);
    for (auto &f : fields) {
      entry.emplace_back(f.name);
      if (fd_ >= 0)
        entry.push_back(f.value); // the line below needs it too
      else
        entry.push_back(std::move(f.value));
    }
    stream_->push(std::move(entry));
  }
  if (fd_ < 0) return;
  std::string line = ledger_line(fields);
  {
    std::lock_guard lock(mu_);
    if (queue_.size() >= kMaxQueued) {
      dropped_.fetch_add(1, std::memory_order_relaxed);
      if (counters_) counters_->ledger_dropped[0].fetch_add(1, std::memory_order_relaxed);
      return;
    }
    queue_.push_back(std::move(line));
    // The writer wakes by itself every kWriteEvery; only a long queue calls it sooner (a wake
    // per line would cost a context switch per request).
    if (queue_.size() != kWakeAt) return;
  }
  cv_.notify_one();
}

void UsageLedger::flush() {
  std::unique_lock lock(mu_);
  flush_wanted_ = true;
  cv_.notify_one();
  idle_.wait(lock, [&] { return queue_.empty() && !busy_; });
}

void UsageLedger::run() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait_for(lock, kWriteEvery,
                 [&] { return stop_ || flush_wanted_ || queue_.size() >= kWakeAt; });
    flush_wanted_ = false;
    if (queue_.empty()) {
      if (stop_) return;
      continue;
    }
    std::deque<std::string> batch;
    batch.swap(queue_);
    busy_ = true;
    lock.unlock();
    std::string out;
    for (auto &l : batch)
      out += l;
    size_t off = 0;
    while (off < out.size()) {
      ssize_t n = ::write(fd_, out.data() + off, out.size() - off);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break; // a full disk: the lines are lost, the requests are not held
      off += static_cast<size_t>(n);
    }
    // Whole lines written; one cut short by a failed write counts as lost.
    size_t lines = 0;
    for (size_t at = 0; lines < batch.size() && at + batch[lines].size() <= off;)
      at += batch[lines++].size();
    written_.fetch_add(lines, std::memory_order_relaxed);
    dropped_.fetch_add(batch.size() - lines, std::memory_order_relaxed);
    if (counters_) {
      counters_->ledger_written[0].fetch_add(lines, std::memory_order_relaxed);
      counters_->ledger_dropped[0].fetch_add(batch.size() - lines, std::memory_order_relaxed);
    }
    lock.lock();
    busy_ = false;
    idle_.notify_all();
  }
}

} // namespace aigw::observability
