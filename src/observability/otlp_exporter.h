// Ships finished spans to an OTLP/HTTP endpoint (JSON encoding) from a background thread, in
// batches, off the request path: submit() only appends to a bounded queue (spans are dropped and
// counted when it is full, never waited for). Thread-safety: submit() from any thread.
#pragma once

#include "observability/observe.h"
#include "observability/tracing.h"

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace aigw::observability {

class SpanExporter final : public SpanSink {
public:
  explicit SpanExporter(TracingConfig cfg);
  ~SpanExporter(); // exports what is queued, then stops

  // `span` carries ids and times; its name and attributes are described from `facts` on the
  // exporter's thread, off the request path.
  void submit(Span span, OwnedSpanFacts facts) override;

  uint64_t exported() const { return exported_.load(); }
  uint64_t dropped() const { return dropped_.load(); }
  uint64_t failed() const { return failed_.load(); }

  static constexpr size_t kMaxQueue = 4096;
  static constexpr size_t kMaxBatch = 512;

private:
  void run();
  bool post(const std::string &body);

  TracingConfig cfg_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::pair<Span, OwnedSpanFacts>> queue_;
  bool stop_ = false;
  std::vector<OwnedSpanFacts> facts_; // the exporter thread's batch
  std::atomic<uint64_t> exported_{0}, dropped_{0}, failed_{0};
  std::thread thread_;
};

} // namespace aigw::observability
