// The usage ledger: one JSON line per finished request (time, client id, route, backend, model,
// token counts, cost in dollars, status), appended to a file by a thread of its own. A request
// only queues its line: when the writer falls behind by kMaxQueued lines, lines are dropped and
// counted (a warning at shutdown), never waited for. `aigw usage FILE` sums it.
#pragma once

#include "observability/exchange_record.h"
#include "observability/prices.h"

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

namespace aigw::observability {

class UsageLedger {
public:
  static constexpr size_t kMaxQueued = 65536;

  // Opens `path` for appending (created 0600 when missing); false with `err` when it cannot.
  bool open(const std::string &path, const PriceCatalog *prices, std::string *err);
  ~UsageLedger(); // writes what is queued, then stops
  // Queues the record of a finished request (inference requests; not MCP).
  void append(const ExchangeRecord &r);
  void flush(); // blocks until the queue is written (shutdown, tests)
  uint64_t written() const { return written_.load(std::memory_order_relaxed); }
  uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }
  bool enabled() const { return fd_ >= 0; }

private:
  void run();
  int fd_ = -1;
  const PriceCatalog *prices_ = nullptr;
  std::mutex mu_;
  std::condition_variable cv_, idle_;
  std::deque<std::string> queue_;
  bool stop_ = false, busy_ = false;
  std::atomic<uint64_t> written_{0}, dropped_{0};
  std::thread writer_;
};

// Both hosts' flags: the ledger at `path` ("" : none), prices from the bundled catalog and the
// JSON file `catalog_path` ("" : none). false with `err` naming the file.
bool open_usage_ledger(UsageLedger &ledger, PriceCatalog &prices, const std::string &path,
                       const std::string &catalog_path, std::string *err);

// The ledger line of one record ("cost_usd" from `prices`, absent when the model has none).
std::string ledger_line(const ExchangeRecord &r, const PriceCatalog *prices, int64_t unix_ms);

} // namespace aigw::observability
