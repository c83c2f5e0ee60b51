// Trace context parsing, span attributes per convention, redaction and the OTLP/JSON encoding.
#include "observability/tracing.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <map>

namespace aigw::observability {
namespace {

Getenv env(std::map<std::string, std::string> m) {
  return [m](const std::string &k) -> std::optional<std::string> {
    auto it = m.find(k);
    if (it == m.end()) return std::nullopt;
    return it->second;
  };
}

TEST(TraceParent, ParsesW3CAndRejectsBadOnes) {
  auto c = parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(c->span_id, "00f067aa0ba902b7");
  EXPECT_TRUE(c->sampled);
  EXPECT_EQ(format_traceparent(*c), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  EXPECT_FALSE(parse_traceparent("00-00000000000000000000000000000000-00f067aa0ba902b7-01"));
  EXPECT_FALSE(parse_traceparent("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"));
  EXPECT_FALSE(parse_traceparent("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
  EXPECT_FALSE(parse_traceparent(""));
  EXPECT_EQ(random_hex(16).size(), 32u);
}

TEST(TracingConfig, FromEnvironment) {
  auto off = tracing_config_from_env(env({}));
  ASSERT_TRUE(off);
  EXPECT_FALSE(off->enabled);
  auto on = tracing_config_from_env(env({{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318/"},
                                         {"OTEL_EXPORTER_OTLP_HEADERS", "x-k=v"}}));
  ASSERT_TRUE(on);
  EXPECT_TRUE(on->enabled);
  EXPECT_EQ(on->endpoint, "http://127.0.0.1:4318/v1/traces");
  EXPECT_EQ(on->headers.at(0).second, "v");
  auto none = tracing_config_from_env(
      env({{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://x"}, {"OTEL_TRACES_EXPORTER", "none"}}));
  EXPECT_FALSE(none->enabled);
  EXPECT_FALSE(on->json); // http/protobuf by default, as the OTel SDKs
  auto json = tracing_config_from_env(env(
      {{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://x"}, {"OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"}}));
  EXPECT_TRUE(json->json);
  auto grpc = tracing_config_from_env(
      env({{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://x"}, {"OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"}}));
  EXPECT_FALSE(grpc);
  auto bad = tracing_config_from_env(env({{"AI_GATEWAY_TRACING_SEMCONV", "zipkin"}}));
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("AI_GATEWAY_TRACING_SEMCONV"), std::string::npos);
}

SpanFacts chat_facts() {
  SpanFacts f;
  f.operation = "chat";
  f.provider = "openai";
  f.request_model = "gpt-4o";
  f.response_model = "gpt-4o-2024-08-06";
  f.request_body =
      R"({"model":"gpt-4o","messages":[{"role":"user","content":"secret plan"}],"temperature":0.5})";
  f.response_body =
      R"({"id":"c1","choices":[{"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}]})";
  f.usage.input = 3;
  f.usage.output = 1;
  f.usage.total = 4;
  f.status = 200;
  return f;
}

std::map<std::string, std::string> attrs(const Span &s) {
  std::map<std::string, std::string> m;
  for (const auto &[k, v] : s.attributes)
    std::visit(
        [&](const auto &x) {
          using T = std::decay_t<decltype(x)>;
          if constexpr (std::is_same_v<T, std::string>)
            m[k] = x;
          else
            m[k] = std::to_string(x);
        },
        v);
  return m;
}

TEST(Span, OpenInferenceByDefaultWithRedaction) {
  TracingConfig cfg;
  Span s;
  describe_span(s, chat_facts(), cfg);
  EXPECT_EQ(s.name, "ChatCompletion");
  auto a = attrs(s);
  EXPECT_EQ(a["openinference.span.kind"], "LLM");
  EXPECT_EQ(a["llm.model_name"], "gpt-4o-2024-08-06");
  EXPECT_EQ(a["llm.input_messages.0.message.content"], "secret plan");
  EXPECT_EQ(a["llm.output_messages.0.message.content"], "ok");
  EXPECT_EQ(a["llm.invocation_parameters"], R"({"model":"gpt-4o","temperature":0.5})");
  EXPECT_EQ(a["llm.token_count.total"], "4");
  cfg.hide_inputs = true;
  Span hidden;
  describe_span(hidden, chat_facts(), cfg);
  auto h = attrs(hidden);
  EXPECT_EQ(h.count("input.value"), 0u);
  EXPECT_EQ(h.count("llm.input_messages.0.message.content"), 0u);
}

TEST(Span, GenAIConvention) {
  TracingConfig cfg;
  cfg.semconv = Semconv::kGenAI;
  Span s;
  describe_span(s, chat_facts(), cfg);
  EXPECT_EQ(s.name, "chat gpt-4o");
  EXPECT_EQ(s.kind, 3);
  auto a = attrs(s);
  EXPECT_EQ(a["gen_ai.operation.name"], "chat");
  EXPECT_EQ(a["gen_ai.usage.input_tokens"], "3");
  EXPECT_EQ(a["gen_ai.response.finish_reasons"], "[\"stop\"]");
  EXPECT_EQ(a.count("gen_ai.input.messages"), 0u); // content only when opted in
}

TEST(Otlp, EncodesValidJson) {
  Span s;
  s.trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
  s.span_id = "00f067aa0ba902b7";
  s.name = "ChatCompletion";
  s.attributes = {{"a", std::string("x\"y")}, {"n", int64_t{5}}, {"b", true}};
  s.error = true;
  s.error_message = "boom";
  std::string body = encode_otlp_json({s}, "ai-gateway");
  simdjson::dom::parser p;
  simdjson::dom::element doc;
  ASSERT_FALSE(p.parse(body).get(doc)) << body;
  auto span = doc["resourceSpans"].at(0)["scopeSpans"].at(0)["spans"].at(0);
  EXPECT_EQ(std::string_view(span["traceId"]), s.trace_id);
  EXPECT_EQ(std::string_view(span["attributes"].at(1)["value"]["intValue"]), "5");
  EXPECT_EQ(int64_t(span["status"]["code"]), 2);
}

TEST(Otlp, ProtobufCarriesIdsAsBytes) {
  Span s;
  s.trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
  s.span_id = "00f067aa0ba902b7";
  s.name = "n";
  std::string pb = encode_otlp_protobuf({s}, "svc");
  EXPECT_EQ(static_cast<unsigned char>(pb[0]), 0x0a); // field 1, length-delimited
  std::string trace_bytes("\x4b\xf9\x2f\x35\x77\xb3\x4d\xa6\xa3\xce\x92\x9d\x0e\x0e\x47\x36", 16);
  EXPECT_NE(pb.find(trace_bytes), std::string::npos);
  EXPECT_NE(pb.find("svc"), std::string::npos);
}

TEST(Otlp, SpanEventsInBothEncodings) {
  Span s;
  s.trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
  s.span_id = "00f067aa0ba902b7";
  s.name = "CallTool";
  SpanEvent e;
  e.time_unix_nano = 1700000000000000000ULL;
  e.name = "route to backend";
  e.attributes = {{"mcp.backend.name", std::string("alpha")}, {"mcp.session.new", false}};
  s.events.push_back(e);
  std::string body = encode_otlp_json({s}, "svc");
  simdjson::dom::parser p;
  simdjson::dom::element doc;
  ASSERT_FALSE(p.parse(body).get(doc)) << body;
  auto ev = doc["resourceSpans"].at(0)["scopeSpans"].at(0)["spans"].at(0)["events"].at(0);
  EXPECT_EQ(std::string_view(ev["name"]), "route to backend");
  EXPECT_EQ(std::string_view(ev["timeUnixNano"]), "1700000000000000000");
  EXPECT_EQ(std::string_view(ev["attributes"].at(0)["value"]["stringValue"]), "alpha");
  EXPECT_FALSE(bool(ev["attributes"].at(1)["value"]["boolValue"]));

  // Protobuf: Span.events is field 11 (tag 0x5a), an Event of time (fixed64, field 1), name
  // (field 2) and attributes (field 3).
  std::string pb = encode_otlp_protobuf({s}, "svc");
  std::string event;
  event += '\x09';
  for (int i = 0; i < 8; ++i)
    event += static_cast<char>((e.time_unix_nano >> (8 * i)) & 0xff);
  event += '\x12';
  event += static_cast<char>(e.name.size());
  event += e.name;
  auto at = pb.find(event);
  ASSERT_NE(at, std::string::npos);
  EXPECT_EQ(static_cast<unsigned char>(pb[at - 2]), 0x5a); // the tag, then a one-byte length
}

TEST(McpSpan, RouteEventsAndAnExceptionEventOnError) {
  Span s;
  s.end_unix_nano = 42;
  std::vector<McpRouted> routed = {{"alpha", "sid-a", true, 7}, {"beta", "sid-b", true, 8}};
  SpanFacts f;
  f.operation = "mcp";
  f.mcp_method = "initialize";
  f.mcp_routed = &routed;
  f.status = 500;
  f.error = "backend alpha failed";
  describe_span(s, f, TracingConfig{});
  ASSERT_EQ(s.events.size(), 3u);
  EXPECT_EQ(s.events[0].name, "route to backend");
  EXPECT_EQ(s.events[0].time_unix_nano, 7u);
  EXPECT_EQ(std::get<std::string>(s.events[1].attributes[1].second), "sid-b");
  EXPECT_TRUE(std::get<bool>(s.events[1].attributes[2].second));
  EXPECT_EQ(s.events[2].name, "exception");
  EXPECT_EQ(std::get<std::string>(s.events[2].attributes[0].second), "internal_error");
  EXPECT_EQ(std::get<std::string>(s.events[2].attributes[1].second), "backend alpha failed");
  EXPECT_TRUE(s.error);
}

} // namespace
} // namespace aigw::observability
