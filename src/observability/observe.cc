// Metrics and spans of a finished request; see observe.h.
#include "observability/observe.h"

#include "core/clock.h"
#include "observability/prices.h"

namespace aigw::observability {
namespace {

using Clock = std::chrono::steady_clock;

uint64_t unix_nanos(Clock::time_point t) {
  auto offset = std::chrono::system_clock::now().time_since_epoch() -
                std::chrono::duration_cast<std::chrono::system_clock::duration>(
                    Clock::now().time_since_epoch());
  auto sys = std::chrono::duration_cast<std::chrono::system_clock::duration>(t.time_since_epoch()) +
             offset;
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(sys).count());
}

void submit_span(const ExchangeRecord &r, const GenAILabels &l, Clock::time_point end,
                 const ObserveTargets &t) {
  Span span;
  span.trace_id = r.trace.trace_id;
  span.span_id = r.trace.span_id;
  if (r.parent) span.parent_span_id = r.parent->span_id;
  span.start_unix_nano = unix_nanos(r.start);
  span.end_unix_nano = unix_nanos(end);
  OwnedSpanFacts f;
  f.operation = std::string(r.operation);
  f.provider = std::string(l.provider);
  f.request_model = std::string(l.request_model);
  f.response_model = r.response_model;
  f.request_body = std::string(r.request_body);
  f.response_body = r.response_body;
  f.usage = r.usage;
  f.status = r.status;
  f.error = r.error;
  if (t.tracing)
    for (const auto &[header, attr] : t.tracing->header_attributes)
      if (header == "agent-session-id" && !r.session_id.empty())
        f.header_attributes.emplace_back(attr, r.session_id);
  t.spans->submit(std::move(span), std::move(f));
}

} // namespace

void submit_mcp_span(const ExchangeRecord &r, std::string_view name, const ObserveTargets &t) {
  if (!t.spans || r.trace.span_id.empty() || !r.trace.sampled) return;
  Span span;
  span.trace_id = r.trace.trace_id;
  span.span_id = r.trace.span_id;
  if (r.parent) span.parent_span_id = r.parent->span_id;
  span.start_unix_nano = unix_nanos(r.start);
  span.end_unix_nano = unix_nanos(Clock::now());
  OwnedSpanFacts f;
  f.operation = "mcp";
  f.status = r.status;
  f.error = r.error;
  f.mcp_method = r.mcp_method;
  f.mcp_request_id = r.jsonrpc_id;
  f.mcp_name = std::string(name);
  f.mcp_backend = r.mcp_backend;
  f.mcp_session_id = r.mcp_session_id;
  f.mcp_routed = r.mcp_routed;
  t.spans->submit(std::move(span), std::move(f));
}

void observe_exchange(const ExchangeRecord &r, size_t shard, const ObserveTargets &t) {
  if (t.ledger) t.ledger->append(r);
  if (t.board) {
    const std::string &priced = r.request_model.empty() ? r.model : r.request_model;
    t.board->record(r, process_prices().cost(priced, r.usage), unix_now());
  }
  if (!t.metrics) return;
  auto &m = *t.metrics;
  m.health().requests.fetch_add(1, std::memory_order_relaxed);
  if (r.status > 0 && r.status < 600)
    m.health().responses_by_class[static_cast<size_t>(r.status / 100)].fetch_add(
        1, std::memory_order_relaxed);
  if (r.operation.empty() || r.backend.empty()) return; // never reached a provider
  if (!t.record_genai && !t.spans) return;
  auto end = Clock::now();
  double seconds = std::chrono::duration<double>(end - r.start).count();
  GenAILabels l;
  l.operation = r.operation;
  l.provider = r.provider.empty() ? std::string_view(r.backend) : r.provider;
  l.original_model = r.model;
  l.request_model = r.request_model.empty() ? std::string_view(r.model) : r.request_model;
  l.response_model = r.response_model;
  l.backend = ai_service_backend(r.backend);
  l.header_values.assign(r.metric_header_values.begin(), r.metric_header_values.end());
  if (t.record_genai) {
    Metrics::Completion c;
    c.seconds = seconds;
    c.failed = r.failed();
    if (!c.failed) {
      c.usage = &r.usage;
      if (r.stream && r.first_byte) {
        c.ttft = std::chrono::duration<double>(*r.first_byte - r.start).count();
        if (r.usage.output && *r.usage.output > 1)
          c.tpot = (seconds - *c.ttft) / static_cast<double>(*r.usage.output - 1);
      }
    }
    m.record_completion(shard, l, c);
  }
  if (t.spans && !r.trace.trace_id.empty()) submit_span(r, l, end, t);
}

} // namespace aigw::observability
