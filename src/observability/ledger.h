// The usage ledger: one JSON line per finished request (time, client id, route, backend, model,
// token counts, cost in dollars, status), appended to a file by a thread of its own. A request
// only queues its line: the writer takes what is queued every kWriteEvery (or at kWakeAt lines),
// and when it falls behind by kMaxQueued lines, lines are dropped and counted (a warning at
// shutdown), never waited for. `aigw usage FILE` sums it. The same records
// can also go to a Redis stream (ledger_stream.h), through a thread and a queue of their own.
#pragma once

#include "observability/exchange_record.h"
#include "observability/ledger_stream.h"
#include "observability/prices.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace aigw::observability {

struct HealthCounters;

// Where records go; both hosts' flags.
struct LedgerOptions {
  std::string path;          // the JSON-lines file ("" : none)
  std::string price_catalog; // a JSON file of prices over the bundled catalog ("" : none)
  std::string redis_url;     // redis://HOST[:PORT] of the stream ("" : none)
  std::string stream_key = "aigw:usage";
  uint64_t stream_max_len = 1000000; // XADD MAXLEN ~: the stream keeps about this many records
};

// One member of a record, in order: `text` values are JSON strings, the others numbers or
// booleans as written.
struct LedgerField {
  std::string_view name;
  std::string value;
  bool text = false;
};

class UsageLedger {
public:
  static constexpr size_t kMaxQueued = 65536;
  static constexpr size_t kWakeAt = 512; // lines that wake the writer before its next round
  static constexpr std::chrono::milliseconds kWriteEvery{50};

  // Opens `path` for appending (created 0600 when missing); false with `err` when it cannot.
  bool open(const std::string &path, const PriceCatalog *prices, std::string *err);
  // Sends every record to a Redis stream as well (or only, without a file).
  void open_stream(const RedisStreamTarget &target, const PriceCatalog *prices);
  // Counts written and dropped records in the gateway's metrics (before the first append).
  void set_counters(HealthCounters *h) { counters_ = h; }
  ~UsageLedger(); // writes what is queued, then stops
  // Queues the record of a finished request (inference requests; not MCP).
  void append(const ExchangeRecord &r);
  void flush(); // blocks until the file's queue is written (shutdown, tests)
  uint64_t written() const { return written_.load(std::memory_order_relaxed); }
  uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }
  bool enabled() const { return fd_ >= 0 || stream_; }
  const LedgerStream *stream() const { return stream_.get(); }

private:
  void run();
  int fd_ = -1;
  const PriceCatalog *prices_ = nullptr;
  HealthCounters *counters_ = nullptr;
  std::unique_ptr<LedgerStream> stream_;
  std::mutex mu_;
  std::condition_variable cv_, idle_;
  std::deque<std::string> queue_;
  bool stop_ = false, busy_ = false, flush_wanted_ = false;
  std::atomic<uint64_t> written_{0}, dropped_{0};
  std::thread writer_;
};

// Both hosts' flags: the file and the stream `opts` name, prices from the bundled catalog and
// the catalog file. false with `err` naming the file, the URL or the stream key.
bool open_usage_ledger(UsageLedger &ledger, PriceCatalog &prices, const LedgerOptions &opts,
                       std::string *err);

// The members of one record ("cost_usd" from `prices`, absent when the model has none).
std::vector<LedgerField> ledger_fields(const ExchangeRecord &r, const PriceCatalog *prices,
                                       int64_t unix_ms);
// The ledger line of one record: its members as one JSON object and a newline.
std::string ledger_line(const std::vector<LedgerField> &fields);
std::string ledger_line(const ExchangeRecord &r, const PriceCatalog *prices, int64_t unix_ms);

} // namespace aigw::observability
