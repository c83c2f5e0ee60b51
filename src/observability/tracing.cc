// Trace context, span attributes and OTLP/JSON encoding; see tracing.h.
#include "observability/tracing.h"

#include "core/json_scan.h"
#include "translate/openai_chat.h"

#include <simdjson.h>

#include <cstring>
#include <random>
#include <thread>

namespace aigw::observability {
namespace {

bool is_hex(std::string_view s) {
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

bool all_zero(std::string_view s) { return s.find_first_not_of('0') == std::string_view::npos; }

bool env_true(const Getenv &getenv, const char *name) {
  auto v = getenv(name);
  return v && (*v == "true" || *v == "1" || *v == "TRUE" || *v == "True");
}

std::vector<std::pair<std::string, std::string>> parse_pairs(std::string_view spec, char sep) {
  std::vector<std::pair<std::string, std::string>> out;
  while (!spec.empty()) {
    auto comma = spec.find(',');
    std::string_view item = spec.substr(0, comma);
    spec = comma == std::string_view::npos ? std::string_view() : spec.substr(comma + 1);
    while (!item.empty() && item.front() == ' ')
      item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ')
      item.remove_suffix(1);
    auto at = item.find(sep);
    if (item.empty() || at == std::string_view::npos) continue;
    out.emplace_back(std::string(item.substr(0, at)), std::string(item.substr(at + 1)));
  }
  return out;
}

std::string text_of(const translate::Message &m) {
  std::string t;
  for (const auto &p : m.parts)
    if (p.kind == translate::Part::Kind::kText) t += p.text;
  return t;
}

std::string_view role_name(translate::Message::Role r) {
  switch (r) {
  case translate::Message::Role::kSystem: return "system";
  case translate::Message::Role::kUser: return "user";
  case translate::Message::Role::kAssistant: return "assistant";
  case translate::Message::Role::kTool: return "tool";
  }
  return "user";
}

// The request body without `messages` (and the other content fields): the invocation parameters.
std::string invocation_parameters(std::string_view body) {
  auto spans = json::scan_object(body);
  if (!spans) return "{}";
  std::string out = "{";
  bool first = true;
  for (const auto &m : spans->members) {
    if (m.key_is("messages") || m.key_is("input") || m.key_is("prompt") || m.key_is("tools"))
      continue;
    if (!first) out += ',';
    first = false;
    out.append(body.substr(m.key_begin, m.value_end - m.key_begin));
  }
  out += '}';
  return out;
}

std::string_view openinference_name(std::string_view op) {
  if (op == "chat") return "ChatCompletion";
  if (op == "completion") return "Completion";
  if (op == "embeddings") return "CreateEmbeddings";
  if (op == "rerank") return "Rerank";
  return "ChatCompletion";
}

std::string_view openinference_kind(std::string_view op) {
  if (op == "embeddings") return "EMBEDDING";
  if (op == "rerank") return "RERANKER";
  return "LLM";
}

void usage_attributes_openinference(Span &s, const api::TokenUsage &u) {
  auto add = [&](const char *k, const std::optional<uint64_t> &v) {
    if (v) s.attributes.emplace_back(k, static_cast<int64_t>(*v));
  };
  add("llm.token_count.prompt", u.input);
  add("llm.token_count.completion", u.output);
  add("llm.token_count.total", u.total);
  add("llm.token_count.prompt_details.cache_read", u.cached_input);
  add("llm.token_count.prompt_details.cache_creation", u.cache_creation_input);
  add("llm.token_count.completion_details.reasoning", u.reasoning);
}

// Output text and finish reason of an OpenAI-shaped answer.
void read_answer(std::string_view body, std::string &text, std::string &finish, std::string &id) {
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(body.data(), body.size()).get(doc)) return;
  std::string_view v;
  if (!doc["id"].get_string().get(v)) id = std::string(v);
  simdjson::dom::element c;
  if (doc["choices"].at(0).get(c)) return;
  if (!c["message"]["content"].get_string().get(v)) text = std::string(v);
  if (!c["finish_reason"].get_string().get(v)) finish = std::string(v);
}

void append_attr_value(std::string &o, const AttrValue &v) {
  o += "{";
  std::visit(
      [&](const auto &x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::string>) {
          o += "\"stringValue\":";
          json::append_quoted(o, x);
        } else if constexpr (std::is_same_v<T, int64_t>) {
          o += "\"intValue\":\"" + std::to_string(x) + "\"";
        } else if constexpr (std::is_same_v<T, double>) {
          o += "\"doubleValue\":" + std::to_string(x);
        } else {
          o += std::string("\"boolValue\":") + (x ? "true" : "false");
        }
      },
      v);
  o += "}";
}

} // namespace

std::optional<TraceContext> parse_traceparent(std::string_view h) {
  while (!h.empty() && h.front() == ' ')
    h.remove_prefix(1);
  while (!h.empty() && h.back() == ' ')
    h.remove_suffix(1);
  // 00-<32>-<16>-<2>
  if (h.size() < 55 || h[2] != '-' || h[35] != '-' || h[52] != '-') return std::nullopt;
  std::string_view version = h.substr(0, 2), trace = h.substr(3, 32), span = h.substr(36, 16),
                   flags = h.substr(53, 2);
  if (!is_hex(version) || version == "ff" || !is_hex(trace) || !is_hex(span) || !is_hex(flags))
    return std::nullopt;
  if (version == "00" && h.size() != 55) return std::nullopt;
  if (all_zero(trace) || all_zero(span)) return std::nullopt;
  TraceContext c;
  c.trace_id = std::string(trace);
  c.span_id = std::string(span);
  c.sampled = (std::stoi(std::string(flags), nullptr, 16) & 1) != 0;
  return c;
}

std::string format_traceparent(const TraceContext &c) {
  return "00-" + c.trace_id + "-" + c.span_id + (c.sampled ? "-01" : "-00");
}

std::string random_hex(size_t bytes) {
  thread_local std::mt19937_64 rng(std::random_device{}() ^
                                   std::hash<std::thread::id>{}(std::this_thread::get_id()));
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes * 2);
  while (out.size() < bytes * 2) {
    uint64_t r = rng();
    for (int i = 0; i < 16 && out.size() < bytes * 2; ++i, r >>= 4)
      out += kHex[r & 15];
  }
  if (all_zero(out)) out.back() = '1';
  return out;
}

Result<TracingConfig> tracing_config_from_env(const Getenv &getenv) {
  TracingConfig c;
  auto semconv = getenv("AI_GATEWAY_TRACING_SEMCONV");
  if (semconv && !semconv->empty()) {
    if (*semconv == "openinference")
      c.semconv = Semconv::kOpenInference;
    else if (*semconv == "gen_ai")
      c.semconv = Semconv::kGenAI;
    else
      return Error::config("AI_GATEWAY_TRACING_SEMCONV: must be openinference or gen_ai, got \"" +
                           *semconv + "\"");
  }
  if (auto n = getenv("OTEL_SERVICE_NAME"); n && !n->empty()) c.service_name = *n;
  auto attrs = getenv("AIGW_TRACING_REQUEST_HEADER_ATTRIBUTES");
  c.header_attributes = parse_pairs(attrs ? *attrs : "agent-session-id:session.id", ':');
  c.hide_invocation_parameters = env_true(getenv, "OPENINFERENCE_HIDE_LLM_INVOCATION_PARAMETERS");
  c.hide_inputs = env_true(getenv, "OPENINFERENCE_HIDE_INPUTS");
  c.hide_outputs = env_true(getenv, "OPENINFERENCE_HIDE_OUTPUTS");
  c.hide_input_messages = env_true(getenv, "OPENINFERENCE_HIDE_INPUT_MESSAGES");
  c.hide_output_messages = env_true(getenv, "OPENINFERENCE_HIDE_OUTPUT_MESSAGES");
  c.hide_input_text = env_true(getenv, "OPENINFERENCE_HIDE_INPUT_TEXT");
  c.hide_output_text = env_true(getenv, "OPENINFERENCE_HIDE_OUTPUT_TEXT");
  c.capture_message_content =
      env_true(getenv, "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT");

  if (env_true(getenv, "OTEL_SDK_DISABLED")) return c;
  auto exporter = getenv("OTEL_TRACES_EXPORTER");
  if (exporter && *exporter == "none") return c;
  if (auto e = getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"); e && !e->empty()) {
    c.endpoint = *e; // the signal-specific URL is used as is
  } else if (auto b = getenv("OTEL_EXPORTER_OTLP_ENDPOINT"); b && !b->empty()) {
    c.endpoint = *b;
    if (c.endpoint.back() == '/') c.endpoint.pop_back();
    c.endpoint += "/v1/traces";
  }
  if (c.endpoint.empty()) return c;
  auto protocol = getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL");
  if (!protocol || protocol->empty()) protocol = getenv("OTEL_EXPORTER_OTLP_PROTOCOL");
  if (protocol && !protocol->empty()) {
    if (*protocol == "http/json")
      c.json = true;
    else if (*protocol != "http/protobuf")
      return Error::config("OTEL_EXPORTER_OTLP_PROTOCOL: \"" + *protocol +
                           "\" is not supported; use http/protobuf (the default) or http/json");
  }
  auto hdrs = getenv("OTEL_EXPORTER_OTLP_TRACES_HEADERS");
  if (!hdrs) hdrs = getenv("OTEL_EXPORTER_OTLP_HEADERS");
  if (hdrs) c.headers = parse_pairs(*hdrs, '=');
  c.enabled = true;
  return c;
}

namespace {

// Upstream's MCP span names in the default (OpenInference-era) vocabulary.
std::string mcp_legacy_name(std::string_view method) {
  static constexpr std::pair<std::string_view, std::string_view> kNames[] = {
      {"initialize", "Initialize"},
      {"tools/list", "ListTools"},
      {"tools/call", "CallTool"},
      {"prompts/list", "ListPrompts"},
      {"prompts/get", "GetPrompt"},
      {"resources/list", "ListResources"},
      {"resources/read", "ReadResource"},
      {"resources/subscribe", "Subscribe"},
      {"resources/unsubscribe", "Unsubscribe"},
      {"resources/templates/list", "ListResourceTemplates"},
      {"logging/setLevel", "SetLoggingLevel"},
      {"completion/complete", "Complete"},
      {"ping", "Ping"}};
  for (const auto &[m, n] : kNames)
    if (m == method) return std::string(n);
  return std::string(method);
}

void describe_mcp_span(Span &s, const SpanFacts &f, const TracingConfig &cfg) {
  s.kind = 3; // CLIENT, as upstream
  auto &a = s.attributes;
  std::string id(f.mcp_request_id);
  if (id.size() >= 2 && id.front() == '"') id = id.substr(1, id.size() - 2);
  if (cfg.semconv == Semconv::kOpenInference) {
    s.name = mcp_legacy_name(f.mcp_method);
    a.emplace_back("mcp.protocol.version", std::string("2025-06-18"));
    a.emplace_back("mcp.transport", std::string("http"));
    a.emplace_back("mcp.request.id", "{" + id + "}");
    a.emplace_back("mcp.method.name", std::string(f.mcp_method));
    if (f.mcp_method == "tools/call") a.emplace_back("mcp.tool.name", std::string(f.mcp_name));
    if (f.mcp_method == "prompts/get") a.emplace_back("mcp.prompt.name", std::string(f.mcp_name));
  } else {
    s.name = std::string(f.mcp_method);
    if (f.mcp_method == "tools/call" || f.mcp_method == "prompts/get")
      s.name += " " + std::string(f.mcp_name);
    a.emplace_back("mcp.protocol.version", std::string("2025-06-18"));
    a.emplace_back("network.transport", std::string("tcp"));
    a.emplace_back("network.protocol.name", std::string("http"));
    a.emplace_back("network.protocol.version", std::string("1.1"));
    if (!id.empty()) a.emplace_back("jsonrpc.request.id", id);
    a.emplace_back("mcp.method.name", std::string(f.mcp_method));
    if (!f.mcp_session_id.empty()) a.emplace_back("mcp.session.id", std::string(f.mcp_session_id));
    if (f.mcp_method == "tools/call") {
      a.emplace_back("gen_ai.operation.name", std::string("execute_tool"));
      a.emplace_back("gen_ai.tool.name", std::string(f.mcp_name));
    }
    if (f.mcp_method == "prompts/get")
      a.emplace_back("gen_ai.prompt.name", std::string(f.mcp_name));
  }
  if (!f.mcp_backend.empty()) a.emplace_back("mcp.backend.name", std::string(f.mcp_backend));
  if (f.mcp_routed)
    for (const auto &r : *f.mcp_routed) {
      SpanEvent e;
      e.time_unix_nano = r.unix_nano;
      e.name = "route to backend";
      e.attributes.emplace_back("mcp.backend.name", r.backend);
      e.attributes.emplace_back("mcp.session.id", r.session_id);
      e.attributes.emplace_back("mcp.session.new", r.is_new);
      s.events.push_back(std::move(e));
    }
  if (!f.error.empty() || f.status >= 400) {
    s.error = true;
    s.error_message = f.error.empty() ? "status " + std::to_string(f.status) : std::string(f.error);
    std::string type = f.status >= 500 ? "internal_error" : "invalid_param";
    a.emplace_back("error.type", type);
    SpanEvent e; // as upstream's RecordError
    e.time_unix_nano = s.end_unix_nano;
    e.name = "exception";
    e.attributes.emplace_back("exception.type", type);
    e.attributes.emplace_back("exception.message", s.error_message);
    s.events.push_back(std::move(e));
  }
}

} // namespace

void describe_span(Span &s, const SpanFacts &f, const TracingConfig &cfg) {
  if (f.operation == "mcp") return describe_mcp_span(s, f, cfg);
  std::optional<translate::ChatRequest> chat;
  if (f.operation == "chat" && !f.request_body.empty()) {
    auto r = translate::decode_openai_chat_request(f.request_body);
    if (r) chat = std::move(*r);
  }
  std::string out_text(f.streamed_text), finish, response_id;
  if (!f.response_body.empty()) read_answer(f.response_body, out_text, finish, response_id);
  std::string_view model = f.response_model.empty() ? f.request_model : f.response_model;

  if (cfg.semconv == Semconv::kOpenInference) {
    s.name = std::string(openinference_name(f.operation));
    s.kind = 1;
    auto &a = s.attributes;
    a.emplace_back("openinference.span.kind", std::string(openinference_kind(f.operation)));
    a.emplace_back("llm.system", std::string(f.provider == "cohere"      ? "cohere"
                                             : f.provider == "anthropic" ? "anthropic"
                                                                         : "openai"));
    a.emplace_back("llm.model_name", std::string(model));
    if (!cfg.hide_invocation_parameters)
      a.emplace_back("llm.invocation_parameters", invocation_parameters(f.request_body));
    if (!cfg.hide_inputs) {
      a.emplace_back("input.value", std::string(f.request_body));
      a.emplace_back("input.mime_type", std::string("application/json"));
    }
    if (chat && !cfg.hide_inputs && !cfg.hide_input_messages) {
      for (size_t i = 0; i < chat->messages.size(); ++i) {
        std::string p = "llm.input_messages." + std::to_string(i) + ".message.";
        a.emplace_back(p + "role", std::string(role_name(chat->messages[i].role)));
        std::string t = text_of(chat->messages[i]);
        if (!t.empty()) a.emplace_back(p + "content", cfg.hide_input_text ? "__REDACTED__" : t);
      }
    }
    if (!cfg.hide_outputs) {
      if (!f.response_body.empty()) {
        a.emplace_back("output.value", std::string(f.response_body));
        a.emplace_back("output.mime_type", std::string("application/json"));
      } else if (!out_text.empty()) {
        a.emplace_back("output.value", cfg.hide_output_text ? "__REDACTED__" : out_text);
        a.emplace_back("output.mime_type", std::string("text/plain"));
      }
      if (!out_text.empty() && !cfg.hide_output_messages) {
        a.emplace_back("llm.output_messages.0.message.role", std::string("assistant"));
        a.emplace_back("llm.output_messages.0.message.content",
                       cfg.hide_output_text ? "__REDACTED__" : out_text);
      }
    }
    usage_attributes_openinference(s, f.usage);
  } else {
    s.name = std::string(f.operation == "completion" ? "text_completion" : f.operation) + " " +
             std::string(f.request_model);
    s.kind = 3;
    auto &a = s.attributes;
    a.emplace_back("gen_ai.operation.name",
                   std::string(f.operation == "completion" ? "text_completion" : f.operation));
    a.emplace_back("gen_ai.provider.name", std::string(f.provider));
    a.emplace_back("gen_ai.request.model", std::string(f.request_model));
    if (chat) {
      if (chat->max_tokens)
        a.emplace_back("gen_ai.request.max_tokens", static_cast<int64_t>(*chat->max_tokens));
      if (chat->temperature) a.emplace_back("gen_ai.request.temperature", *chat->temperature);
      if (chat->top_p) a.emplace_back("gen_ai.request.top_p", *chat->top_p);
      if (chat->seed) a.emplace_back("gen_ai.request.seed", *chat->seed);
    }
    if (!f.response_model.empty())
      a.emplace_back("gen_ai.response.model", std::string(f.response_model));
    if (!response_id.empty()) a.emplace_back("gen_ai.response.id", response_id);
    if (!finish.empty()) a.emplace_back("gen_ai.response.finish_reasons", "[\"" + finish + "\"]");
    auto add = [&](const char *k, const std::optional<uint64_t> &v) {
      if (v) a.emplace_back(k, static_cast<int64_t>(*v));
    };
    add("gen_ai.usage.input_tokens", f.usage.input);
    add("gen_ai.usage.output_tokens", f.usage.output);
    add("gen_ai.usage.cache_read.input_tokens", f.usage.cached_input);
    add("gen_ai.usage.cache_creation.input_tokens", f.usage.cache_creation_input);
    add("gen_ai.usage.reasoning.output_tokens", f.usage.reasoning);
    if (chat && cfg.capture_message_content) {
      std::string msgs = "[";
      for (size_t i = 0; i < chat->messages.size(); ++i) {
        if (i) msgs += ',';
        msgs += "{\"role\":";
        json::append_quoted(msgs, role_name(chat->messages[i].role));
        msgs += ",\"parts\":[{\"type\":\"text\",\"content\":";
        json::append_quoted(msgs, text_of(chat->messages[i]));
        msgs += "}]}";
      }
      msgs += ']';
      a.emplace_back("gen_ai.input.messages", msgs);
      if (!out_text.empty()) {
        std::string o = "[{\"role\":\"assistant\",\"parts\":[{\"type\":\"text\",\"content\":";
        json::append_quoted(o, out_text);
        o += "}]}]";
        a.emplace_back("gen_ai.output.messages", o);
      }
    }
    if (!f.error.empty()) a.emplace_back("error.type", std::string("_OTHER"));
  }
  for (const auto &[k, v] : f.header_attributes)
    s.attributes.emplace_back(k, v);
  if (f.status >= 400 || !f.error.empty()) {
    s.error = true;
    s.error_message = f.error.empty() ? "status " + std::to_string(f.status) : f.error;
  }
  s.attributes.emplace_back("http.response.status_code", static_cast<int64_t>(f.status));
}

namespace {
// `,"attributes":[{"key":…,"value":…},…]`
void append_attributes(std::string &o,
                       const std::vector<std::pair<std::string, AttrValue>> &attrs) {
  o += ",\"attributes\":[";
  for (size_t a = 0; a < attrs.size(); ++a) {
    if (a) o += ',';
    o += "{\"key\":";
    json::append_quoted(o, attrs[a].first);
    o += ",\"value\":";
    append_attr_value(o, attrs[a].second);
    o += '}';
  }
  o += ']';
}
} // namespace

std::string encode_otlp_json(const std::vector<Span> &spans, std::string_view service_name) {
  std::string o;
  o.reserve(1024 * spans.size() + 256);
  o += "{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\",\"value\":{"
       "\"stringValue\":";
  json::append_quoted(o, service_name);
  o += "}}]},\"scopeSpans\":[{\"scope\":{\"name\":\"aigw\"},\"spans\":[";
  for (size_t i = 0; i < spans.size(); ++i) {
    const auto &s = spans[i];
    if (i) o += ',';
    o += "{\"traceId\":\"" + s.trace_id + "\",\"spanId\":\"" + s.span_id + "\"";
    if (!s.parent_span_id.empty()) o += ",\"parentSpanId\":\"" + s.parent_span_id + "\"";
    o += ",\"name\":";
    json::append_quoted(o, s.name);
    o += ",\"kind\":" + std::to_string(s.kind);
    o += ",\"startTimeUnixNano\":\"" + std::to_string(s.start_unix_nano) + "\"";
    o += ",\"endTimeUnixNano\":\"" + std::to_string(s.end_unix_nano) + "\"";
    append_attributes(o, s.attributes);
    if (!s.events.empty()) {
      o += ",\"events\":[";
      for (size_t e = 0; e < s.events.size(); ++e) {
        const auto &ev = s.events[e];
        if (e) o += ',';
        o += "{\"timeUnixNano\":\"" + std::to_string(ev.time_unix_nano) + "\",\"name\":";
        json::append_quoted(o, ev.name);
        append_attributes(o, ev.attributes);
        o += '}';
      }
      o += ']';
    }
    o += ",\"status\":{";
    if (s.error) {
      o += "\"code\":2,\"message\":";
      json::append_quoted(o, s.error_message);
    } else {
      o += "\"code\":1";
    }
    o += "}}";
  }
  o += "]}]}]}";
  return o;
}

namespace {

// Protocol buffers wire format, just what ExportTraceServiceRequest needs.
void put_varint(std::string &o, uint64_t v) {
  while (v >= 0x80) {
    o += static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  o += static_cast<char>(v);
}
void put_tag(std::string &o, uint32_t field, uint32_t wire) { put_varint(o, (field << 3) | wire); }
void put_bytes(std::string &o, uint32_t field, std::string_view b) {
  put_tag(o, field, 2);
  put_varint(o, b.size());
  o.append(b);
}
void put_fixed64(std::string &o, uint32_t field, uint64_t v) {
  put_tag(o, field, 1);
  for (int i = 0; i < 8; ++i)
    o += static_cast<char>((v >> (8 * i)) & 0xff);
}
std::string hex_to_bytes(std::string_view hex) {
  std::string out;
  auto val = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
  for (size_t i = 0; i + 1 < hex.size(); i += 2)
    out += static_cast<char>(val(hex[i]) * 16 + val(hex[i + 1]));
  return out;
}
std::string any_value(const AttrValue &v) {
  std::string o;
  std::visit(
      [&](const auto &x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::string>) {
          put_bytes(o, 1, x);
        } else if constexpr (std::is_same_v<T, bool>) {
          put_tag(o, 2, 0);
          put_varint(o, x ? 1 : 0);
        } else if constexpr (std::is_same_v<T, int64_t>) {
          put_tag(o, 3, 0);
          put_varint(o, static_cast<uint64_t>(x));
        } else {
          put_tag(o, 4, 1);
          uint64_t bits;
          std::memcpy(&bits, &x, 8);
          for (int i = 0; i < 8; ++i)
            o += static_cast<char>((bits >> (8 * i)) & 0xff);
        }
      },
      v);
  return o;
}
std::string key_value(std::string_view key, const AttrValue &v) {
  std::string o;
  put_bytes(o, 1, key);
  put_bytes(o, 2, any_value(v));
  return o;
}

} // namespace

std::string encode_otlp_protobuf(const std::vector<Span> &spans, std::string_view service_name) {
  std::string scope_spans;
  std::string scope;
  put_bytes(scope, 1, "aigw");
  put_bytes(scope_spans, 1, scope); // ScopeSpans.scope
  for (const auto &s : spans) {
    std::string span;
    put_bytes(span, 1, hex_to_bytes(s.trace_id));
    put_bytes(span, 2, hex_to_bytes(s.span_id));
    if (!s.parent_span_id.empty()) put_bytes(span, 4, hex_to_bytes(s.parent_span_id));
    put_bytes(span, 5, s.name);
    put_tag(span, 6, 0);
    put_varint(span, static_cast<uint64_t>(s.kind));
    put_fixed64(span, 7, s.start_unix_nano);
    put_fixed64(span, 8, s.end_unix_nano);
    for (const auto &[k, v] : s.attributes)
      put_bytes(span, 9, key_value(k, v));
    for (const auto &ev : s.events) { // Span.events: Event{time_unix_nano, name, attributes}
      std::string event;
      put_fixed64(event, 1, ev.time_unix_nano);
      put_bytes(event, 2, ev.name);
      for (const auto &[k, v] : ev.attributes)
        put_bytes(event, 3, key_value(k, v));
      put_bytes(span, 11, event);
    }
    std::string status;
    if (s.error) put_bytes(status, 2, s.error_message);
    put_tag(status, 3, 0);
    put_varint(status, s.error ? 2 : 1);
    put_bytes(span, 15, status);
    put_bytes(scope_spans, 2, span); // ScopeSpans.spans
  }
  std::string resource;
  put_bytes(resource, 1, key_value("service.name", std::string(service_name)));
  std::string resource_spans;
  put_bytes(resource_spans, 1, resource);
  put_bytes(resource_spans, 2, scope_spans);
  std::string out;
  put_bytes(out, 1, resource_spans);
  return out;
}

} // namespace aigw::observability
