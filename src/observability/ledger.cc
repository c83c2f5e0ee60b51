// The usage ledger; see ledger.h.
#include "observability/ledger.h"

#include "core/json_scan.h"

#include <spdlog/spdlog.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <ctime>

#include <fcntl.h>
#include <unistd.h>

namespace aigw::observability {

std::string ledger_line(const ExchangeRecord &r, const PriceCatalog *prices, int64_t unix_ms) {
  std::string o;
  o.reserve(384);
  std::time_t t = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char when[48];
  std::snprintf(when, sizeof when, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(unix_ms % 1000));
  o += "{\"time\":\"";
  o += when;
  o += "\",\"request_id\":";
  json::append_quoted(o, r.request_id);
  o += ",\"key\":";
  json::append_quoted(o, r.client_id);
  o += ",\"route\":";
  json::append_quoted(o, r.route);
  o += ",\"backend\":";
  json::append_quoted(o, r.backend);
  o += ",\"model\":";
  json::append_quoted(o, r.model);
  const std::string &priced = r.request_model.empty() ? r.model : r.request_model;
  if (!r.request_model.empty() && r.request_model != r.model) {
    o += ",\"backend_model\":";
    json::append_quoted(o, r.request_model);
  }
  auto count = [&](const char *k, const std::optional<uint64_t> &v) {
    o += ",\"";
    o += k;
    o += "\":" + std::to_string(v.value_or(0));
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
    o += ",\"cost_usd\":";
    o.append(buf, static_cast<size_t>(res.ptr - buf));
  }
  o += ",\"status\":" + std::to_string(r.status);
  o += r.stream ? ",\"stream\":true" : ",\"stream\":false";
  if (r.usage_estimated) o += ",\"usage_estimated\":true";
  if (r.cache == "hit") o += ",\"cache\":\"hit\""; // answered from the cache: no tokens spent
  o += "}\n";
  return o;
}

bool open_usage_ledger(UsageLedger &ledger, PriceCatalog &prices, const std::string &path,
                       const std::string &catalog_path, std::string *err) {
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
  if (path.empty()) return true;
  if (!ledger.open(path, &prices, err)) {
    *err = path + ": " + *err;
    return false;
  }
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

UsageLedger::~UsageLedger() {
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
  if (fd_ < 0 || r.operation.empty()) return; // nothing routed: no usage to account
  auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  std::string line = ledger_line(r, prices_, now);
  {
    std::lock_guard lock(mu_);
    if (queue_.size() >= kMaxQueued) {
      dropped_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    queue_.push_back(std::move(line));
  }
  cv_.notify_one();
}

void UsageLedger::flush() {
  std::unique_lock lock(mu_);
  idle_.wait(lock, [&] { return queue_.empty() && !busy_; });
}

void UsageLedger::run() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
    if (queue_.empty() && stop_) return;
    std::deque<std::string> batch;
    batch.swap(queue_);
    busy_ = true;
    lock.unlock();
    std::string out;
    for (auto &l : batch)
      out += l;
    for (size_t off = 0; off < out.size();) {
      ssize_t n = ::write(fd_, out.data() + off, out.size() - off);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break; // a full disk: the lines are lost, the requests are not held
      off += static_cast<size_t>(n);
    }
    written_.fetch_add(batch.size(), std::memory_order_relaxed);
    lock.lock();
    busy_ = false;
    idle_.notify_all();
  }
}

} // namespace aigw::observability
