// ExchangeRecord: what one request did, from its head to its last byte. The pipeline fills it;
// the access log line, the GenAI metrics and the span are all written from it, in either host.
// Thread-safety: a plain value, owned by its exchange.
#pragma once

#include "api/token_usage.h"
#include "observability/tracing.h"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace aigw::observability {

struct ExchangeRecord {
  using Clock = std::chrono::steady_clock;

  std::string request_id;
  std::string method;
  std::string path;
  int status = 0;             // what the client was answered (0: nothing)
  std::string model;          // the client's model (x-ai-eg-model)
  std::string model_override; // modelNameOverride of the backend that answered
  std::string backend;        // namespace/name of that backend
  std::string route;          // namespace/name of the route
  std::string client_id;      // who the SecurityPolicy authenticated ("" : no policy)
  std::string virtual_key;    // the client's VirtualKey (namespace/name), "" : none
  std::string cache;          // the response cache: "hit", "miss", "" (the route does not cache)
  std::string response_model;
  std::string upstream_host;
  std::string error;
  api::TokenUsage usage;
  std::vector<std::pair<std::string, uint64_t>> costs; // metadata key → cost
  int attempts = 0;
  int failovers = 0;      // streams dropped before content and served again by the next attempt
  int continuations = 0;  // broken streams carried on by the next backend (prefill)
  int hedges = 0;         // second attempts sent alongside a slow first one
  bool hedge_won = false; // ... and the second answered first
  bool stream = false;
  bool usage_estimated =
      false; // a stream cut before its usage: the usage is the admission estimate
  Clock::time_point start = Clock::now();
  std::optional<Clock::time_point> first_byte; // when the first answer bytes went out
  std::string_view operation; // chat, completion, embeddings, rerank ("" before routing)
  std::string_view provider;  // GenAI provider name of the backend that answered
  std::string request_model;  // after modelNameOverride
  std::string session_id;     // agent-session-id
  std::string user_agent;
  std::string forwarded_for;
  std::string_view request_body;      // for spans (the exchange owns the body)
  std::string response_body;          // for spans (non-streamed answers, tracing only)
  std::optional<TraceContext> parent; // the client's trace context
  TraceContext trace;                 // this request's span (ids empty: no tracing)
  std::vector<std::string> metric_header_values;
  // An MCPRoute request: the JSON-RPC method, id and tool, the backend that served it.
  std::string mcp_method, mcp_tool, mcp_backend, mcp_session_id, jsonrpc_id;
  std::vector<McpRouted> mcp_routed; // the backends the request went to (span events)

  bool failed() const { return status >= 400 || status == 0 || !error.empty(); }
};

// The AIServiceBackend (namespace/name) of a backend key: aigw run's keys are that already, the
// per-route-rule names Envoy hands extproc ("ns/name/route/…/rule/…/ref/…") start with it.
inline std::string_view ai_service_backend(std::string_view key) {
  if (auto first = key.find('/'); first != std::string_view::npos)
    if (auto second = key.find('/', first + 1); second != std::string_view::npos)
      return key.substr(0, second);
  return key;
}

} // namespace aigw::observability
