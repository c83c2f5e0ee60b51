// What a finished request leaves behind besides its log line: the health counters, the GenAI
// metrics and, with tracing on, its span. Shared by both hosts.
#pragma once

#include "observability/board.h"
#include "observability/exchange_record.h"
#include "observability/ledger.h"
#include "observability/metrics.h"
#include "observability/tracing.h"

namespace aigw::observability {

// Where finished spans go (the OTLP exporter); submit() must not block.
class SpanSink {
public:
  virtual ~SpanSink() = default;
  virtual void submit(Span span, OwnedSpanFacts facts) = 0;
};

struct ObserveTargets {
  Metrics *metrics = nullptr;
  bool record_genai = true;               // the GenAI metrics (health counters always)
  SpanSink *spans = nullptr;              // null: tracing off
  const TracingConfig *tracing = nullptr; // header attributes for spans
  UsageLedger *ledger = nullptr;          // null: no usage ledger
  Board *board = nullptr;                 // the admin dashboard's numbers
};

void observe_exchange(const ExchangeRecord &r, size_t shard, const ObserveTargets &t);

// The span of an MCPRoute request (its metrics are recorded by the host), when tracing is on.
// `name`: the tool or prompt as the client named it.
void submit_mcp_span(const ExchangeRecord &r, std::string_view name, const ObserveTargets &t);

} // namespace aigw::observability
