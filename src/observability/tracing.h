// Tracing as upstream does it (reference §7.2): W3C trace context taken from the client and
// passed on to the provider, one span per request with OpenInference attributes (default) or the
// OTel GenAI set (AI_GATEWAY_TRACING_SEMCONV=gen_ai), redaction by upstream's environment
// variables, and the OTLP/HTTP JSON encoding of finished spans. No I/O here: the exporter lives
// with the proxy. Thread-safety: plain values and pure functions.
#pragma once

#include "api/token_usage.h"
#include "core/result.h"

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace aigw::observability {

struct TraceContext {
  std::string trace_id; // 32 lower-case hex
  std::string span_id;  // 16 lower-case hex
  bool sampled = true;
};

// Parses a `traceparent` header (version 00; all-zero ids are invalid). nullopt when absent/bad.
std::optional<TraceContext> parse_traceparent(std::string_view header);
std::string format_traceparent(const TraceContext &c);
std::string random_hex(size_t bytes);

using AttrValue = std::variant<std::string, int64_t, double, bool>;

struct SpanEvent {
  uint64_t time_unix_nano = 0;
  std::string name;
  std::vector<std::pair<std::string, AttrValue>> attributes;
};

struct Span {
  std::string trace_id, span_id, parent_span_id;
  std::string name;
  int kind = 1; // OTLP SpanKind: 1 INTERNAL, 3 CLIENT
  uint64_t start_unix_nano = 0, end_unix_nano = 0;
  std::vector<std::pair<std::string, AttrValue>> attributes;
  std::vector<SpanEvent> events;
  bool error = false;
  std::string error_message;
};

// An MCP request's call to one backend: upstream's "route to backend" span event.
struct McpRouted {
  std::string backend, session_id; // the backend's own session id
  bool is_new = false;             // the session began here (initialize)
  uint64_t unix_nano = 0;
};

enum class Semconv { kOpenInference, kGenAI };

// Environment-driven configuration, read once at startup.
struct TracingConfig {
  bool enabled = false;
  std::string endpoint;                                     // full URL of the traces endpoint
  std::vector<std::pair<std::string, std::string>> headers; // OTEL_EXPORTER_OTLP_[TRACES_]HEADERS
  std::string service_name = "ai-gateway";
  bool json = false; // OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL=http/json; default http/protobuf
  Semconv semconv = Semconv::kOpenInference;
  // Request headers copied into span attributes ("agent-session-id:session.id" by default).
  std::vector<std::pair<std::string, std::string>> header_attributes;
  // OpenInference redaction switches (OPENINFERENCE_HIDE_*), and OTel GenAI content capture.
  bool hide_invocation_parameters = false, hide_inputs = false, hide_outputs = false,
       hide_input_messages = false, hide_output_messages = false, hide_input_text = false,
       hide_output_text = false;
  bool capture_message_content = false; // OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT
};

using Getenv = std::function<std::optional<std::string>(const std::string &)>;
// An unknown AI_GATEWAY_TRACING_SEMCONV is an error, as upstream fails to start.
Result<TracingConfig> tracing_config_from_env(const Getenv &getenv);

// What one request contributes to its span.
struct SpanFacts {
  std::string_view operation; // chat, completion, embeddings, rerank
  std::string_view provider;  // gen_ai provider name
  std::string_view request_model;
  std::string_view response_model;
  std::string_view request_body;  // the client's JSON body
  std::string_view response_body; // a non-streamed JSON answer (OpenAI-shaped), else empty
  std::string_view streamed_text; // the text a stream delivered, when known
  api::TokenUsage usage;
  int status = 0;
  std::string error;                                                  // empty on success
  std::vector<std::pair<std::string, std::string>> header_attributes; // resolved values
  // operation "mcp": an MCPRoute request (the JSON-RPC method, its id, the tool or prompt as
  // the client named it, the backend, the client's session id).
  std::string_view mcp_method, mcp_request_id, mcp_name, mcp_backend, mcp_session_id;
  const std::vector<McpRouted> *mcp_routed = nullptr;
};

// Fills the span's name, kind and attributes from the facts, per the configured convention.
void describe_span(Span &span, const SpanFacts &facts, const TracingConfig &cfg);

// SpanFacts that own their text, so describing the span can wait for the exporter's thread.
struct OwnedSpanFacts {
  std::string operation, provider, request_model, response_model, request_body, response_body;
  api::TokenUsage usage;
  int status = 0;
  std::string error;
  std::vector<std::pair<std::string, std::string>> header_attributes;
  std::string mcp_method, mcp_request_id, mcp_name, mcp_backend, mcp_session_id;
  std::vector<McpRouted> mcp_routed;

  SpanFacts view() const {
    SpanFacts f;
    f.operation = operation;
    f.provider = provider;
    f.request_model = request_model;
    f.response_model = response_model;
    f.request_body = request_body;
    f.response_body = response_body;
    f.usage = usage;
    f.status = status;
    f.error = error;
    f.header_attributes = header_attributes;
    f.mcp_method = mcp_method;
    f.mcp_request_id = mcp_request_id;
    f.mcp_name = mcp_name;
    f.mcp_backend = mcp_backend;
    f.mcp_session_id = mcp_session_id;
    f.mcp_routed = &mcp_routed;
    return f;
  }
};

// The OTLP/HTTP JSON body (ExportTraceServiceRequest) for a batch of spans.
std::string encode_otlp_json(const std::vector<Span> &spans, std::string_view service_name);
// The same request in the protobuf wire format (OTLP/HTTP's default, application/x-protobuf).
std::string encode_otlp_protobuf(const std::vector<Span> &spans, std::string_view service_name);

} // namespace aigw::observability
