// Gemini encoding and decoding; see gemini.h.
#include "translate/gemini.h"

#include "pipeline/errors.h"
#include "translate/json_in.h"
#include "translate/json_out.h"

#include <simdjson.h>

#include <cstdio>
#include <optional>
#include <random>

namespace aigw::translate {
namespace {

namespace dom = simdjson::dom;

// A random UUIDv4, as upstream names the tool calls Gemini leaves without an id (call ids must
// differ across turns of one conversation).
std::string random_call_id() {
  thread_local std::mt19937_64 rng(std::random_device{}());
  uint64_t a = rng(), b = rng();
  char buf[40];
  std::snprintf(buf, sizeof buf, "%08x-%04x-4%03x-%04x-%012llx", static_cast<unsigned>(a >> 32),
                static_cast<unsigned>((a >> 16) & 0xffff), static_cast<unsigned>(a & 0xfff),
                static_cast<unsigned>(((b >> 48) & 0x3fff) | 0x8000),
                static_cast<unsigned long long>(b & 0xffffffffffffULL));
  return buf;
}

// JSON Schema → the OpenAPI subset Gemini's `parameters` and `responseSchema` take, as upstream
// converts it for models without JSON Schema support: local $refs resolved, allOf of one schema
// inlined, ["T","null"] and anyOf with a null branch made `nullable`, unknown keys dropped.
class OpenApiSchema {
public:
  explicit OpenApiSchema(dom::element root) : root_(root) {}

  std::optional<Error> write(dom::element s, JsonOut &j, int depth = 0) {
    if (depth > 32) return Error::client(422, "tools: the JSON schema nests too deep");
    dom::object o;
    if (s.get_object().get(o)) return Error::client(422, "tools: a JSON schema must be an object");
    std::string_view ref;
    if (!s["$ref"].get_string().get(ref)) {
      auto target = resolve(ref);
      if (!target)
        return Error::client(422, "tools: unresolvable $ref \"" + std::string(ref) + "\"");
      return write(*target, j, depth + 1);
    }
    dom::array all;
    if (!s["allOf"].get_array().get(all)) {
      if (all.size() != 1)
        return Error::client(422, "tools: only one value for 'allOf' is supported");
      return write(all.at(0).value(), j, depth + 1);
    }
    j.begin_object();
    bool nullable_written = false;
    for (auto field : o) {
      std::string_view k = field.key;
      dom::element v = field.value;
      if (k == "items") {
        j.key("items");
        if (auto e = write(v, j, depth + 1)) return e;
      } else if (k == "properties") {
        dom::object props;
        if (v.get_object().get(props))
          return Error::client(422, "tools: 'properties' must be an object");
        j.key("properties").begin_object();
        for (auto p : props) {
          j.key(p.key);
          if (auto e = write(p.value, j, depth + 1)) return e;
        }
        j.end_object();
      } else if (k == "type") {
        dom::array types;
        if (!v.get_array().get(types)) {
          std::string_view other;
          bool has_null = false;
          for (dom::element t : types) {
            std::string_view name = str_of(t);
            if (name == "null")
              has_null = true;
            else
              other = name;
          }
          if (types.size() != 2 || !has_null || other.empty())
            return Error::client(422,
                                 "tools: a type list must hold one non-null type and \"null\"");
          j.kv("type", other);
          if (!nullable_written) j.kv_raw("nullable", "true");
          nullable_written = true;
        } else {
          j.key("type").raw(simdjson::minify(v));
        }
      } else if (k == "anyOf") {
        dom::array branches;
        if (v.get_array().get(branches) || branches.size() == 0)
          return Error::client(422, "tools: 'anyOf' must be a non-empty list");
        bool nullable = false;
        j.key("anyOf").begin_array();
        for (dom::element b : branches) {
          if (str_of(b["type"]) == "null") {
            nullable = true;
            continue;
          }
          if (auto e = write(b, j, depth + 1)) return e;
        }
        j.end_array();
        if (nullable && !nullable_written) j.kv_raw("nullable", "true");
        nullable_written |= nullable;
      } else if (allowed(k)) {
        if (k == "nullable" && nullable_written) continue;
        j.key(k).raw(simdjson::minify(v));
        nullable_written |= k == "nullable";
      }
    }
    j.end_object();
    return std::nullopt;
  }

private:
  static bool allowed(std::string_view k) {
    static constexpr std::string_view kAllowed[] = {
        "default",   "description",   "enum",    "example",          "format",    "maxItems",
        "maxLength", "maxProperties", "maximum", "minItems",         "minLength", "minProperties",
        "minimum",   "nullable",      "pattern", "propertyOrdering", "required",  "title"};
    for (auto a : kAllowed)
      if (a == k) return true;
    return false;
  }

  std::optional<dom::element> resolve(std::string_view ref) {
    for (std::string_view prefix : {"#/$defs/", "#/definitions/"}) {
      if (!ref.starts_with(prefix)) continue;
      dom::element e;
      std::string_view defs = prefix.substr(2, prefix.size() - 3);
      if (!root_[defs][ref.substr(prefix.size())].get(e)) return e;
    }
    return std::nullopt;
  }

  dom::element root_;
};

// As upstream decides it from the model's name: Gemini 2.5 and 3 take JSON Schema as it is.
bool json_schema_available(std::string_view model) {
  return model.find("gemini") != std::string_view::npos &&
         (model.find("2.5") != std::string_view::npos || model.find('3') != std::string_view::npos);
}

// `schema` (JSON Schema text) as `key`: as it is, or converted to the OpenAPI subset.
std::optional<Error> write_schema(JsonOut &j, std::string_view key, std::string_view openapi_key,
                                  std::string_view schema, bool as_is) {
  if (as_is) {
    j.kv_raw(key, schema);
    return std::nullopt;
  }
  dom::parser parser;
  dom::element root;
  if (parser.parse(schema).get(root)) return Error::client(422, "tools: invalid JSON schema");
  j.key(openapi_key);
  return OpenApiSchema(root).write(root, j);
}

std::string guess_mime(std::string_view url) {
  auto dot = url.rfind('.');
  std::string_view ext = dot == std::string_view::npos ? "" : url.substr(dot + 1);
  if (ext == "png") return "image/png";
  if (ext == "gif") return "image/gif";
  if (ext == "webp") return "image/webp";
  if (ext == "pdf") return "application/pdf";
  return "image/jpeg";
}

// A tool result as Gemini's functionResponse.response object.
std::string function_response(const Message &m) {
  std::string text;
  for (const auto &p : m.parts)
    if (p.kind == Part::Kind::kText) text += p.text;
  thread_local dom::parser parser;
  dom::element e;
  if (!parser.parse(text.data(), text.size()).get(e) && e.is_object()) return text;
  std::string out;
  JsonOut j(out);
  j.begin_object().kv("output", text).end_object();
  return out;
}

uint64_t effort_budget(std::string_view effort) {
  if (effort == "minimal" || effort == "none") return 0;
  if (effort == "low") return 1024;
  if (effort == "medium") return 8192;
  return 24576;
}

TokenUsage gemini_usage(dom::element u) {
  TokenUsage t;
  uint64_t prompt = u64_of(u["promptTokenCount"]);
  uint64_t candidates = u64_of(u["candidatesTokenCount"]);
  uint64_t thoughts = u64_of(u["thoughtsTokenCount"]);
  uint64_t cached = u64_of(u["cachedContentTokenCount"]);
  uint64_t total = u64_of(u["totalTokenCount"]);
  t.input = prompt;
  t.output = candidates + thoughts;
  t.reasoning = thoughts;
  t.cached_input = cached;
  t.total = total ? total : prompt + candidates + thoughts;
  return t;
}

} // namespace

std::string_view gemini_finish_reason(std::string_view r) {
  if (r == "STOP") return "stop";
  if (r == "MAX_TOKENS") return "length";
  if (r == "SAFETY" || r == "RECITATION" || r == "BLOCKLIST" || r == "PROHIBITED_CONTENT" ||
      r == "SPII" || r == "IMAGE_SAFETY" || r == "LANGUAGE")
    return "content_filter";
  if (r == "MALFORMED_FUNCTION_CALL" || r == "UNEXPECTED_TOOL_CALL") return "tool_calls";
  return "error";
}

Result<std::string> encode_gemini_request(const ChatRequest &r) {
  std::string out;
  out.reserve(512);
  JsonOut j(out);
  j.begin_object();
  j.key("contents").begin_array();
  TurnWriter turns(j, "user", "model", "parts");

  for (const auto &m : r.messages) {
    switch (m.role) {
    case Message::Role::kSystem: break;
    case Message::Role::kUser:
      turns.user();
      for (const auto &p : m.parts) {
        if (p.kind == Part::Kind::kText) {
          j.begin_object().kv("text", p.text).end_object();
        } else if (p.kind == Part::Kind::kImage) {
          if (p.url.empty())
            j.begin_object()
                .key("inlineData")
                .begin_object()
                .kv("mimeType", p.media_type)
                .kv("data", p.data)
                .end_object()
                .end_object();
          else
            j.begin_object()
                .key("fileData")
                .begin_object()
                .kv("mimeType", guess_mime(p.url))
                .kv("fileUri", p.url)
                .end_object()
                .end_object();
        }
      }
      break;
    case Message::Role::kTool:
      turns.user();
      if (m.name.empty())
        return Error::client(422, "messages: tool message with tool_call_id \"" + m.tool_call_id +
                                      "\" answers no earlier tool call");
      j.begin_object().key("functionResponse").begin_object().kv("name", m.name);
      j.kv_raw("response", function_response(m)).end_object().end_object();
      break;
    case Message::Role::kAssistant:
      turns.assistant();
      for (const auto &p : m.parts)
        if (p.kind == Part::Kind::kText && !p.text.empty())
          j.begin_object().kv("text", p.text).end_object();
      for (const auto &c : m.tool_calls) {
        j.begin_object()
            .key("functionCall")
            .begin_object()
            .kv("name", c.name)
            .kv_raw("args", json_object_or_empty(c.arguments))
            .end_object()
            .end_object();
      }
      break;
    }
  }
  turns.close();
  j.end_array();

  bool any_system = false;
  for (const auto &m : r.messages)
    if (m.role == Message::Role::kSystem) any_system = true;
  if (any_system) {
    j.key("systemInstruction").begin_object().key("parts").begin_array();
    for (const auto &m : r.messages)
      if (m.role == Message::Role::kSystem)
        for (const auto &p : m.parts)
          if (p.kind == Part::Kind::kText) j.begin_object().kv("text", p.text).end_object();
    j.end_array().end_object();
  }
  bool as_is = json_schema_available(r.model);
  if (!r.tools.empty()) {
    j.key("tools").begin_array().begin_object().key("functionDeclarations").begin_array();
    for (const auto &t : r.tools) {
      j.begin_object().kv("name", t.name);
      if (!t.description.empty()) j.kv("description", t.description);
      if (!t.parameters.empty())
        if (auto e = write_schema(j, "parametersJsonSchema", "parameters", t.parameters, as_is))
          return *e;
      j.end_object();
    }
    j.end_array().end_object().end_array();
    if (!r.tool_choice.empty()) {
      j.key("toolConfig").begin_object().key("functionCallingConfig").begin_object();
      if (r.tool_choice == "none")
        j.kv("mode", "NONE");
      else if (r.tool_choice == "required")
        j.kv("mode", "ANY");
      else if (r.tool_choice == "function")
        j.kv("mode", "ANY")
            .key("allowedFunctionNames")
            .begin_array()
            .str(r.tool_choice_name)
            .end_array();
      else
        j.kv("mode", "AUTO");
      j.end_object().end_object();
    }
  }
  j.key("generationConfig").begin_object();
  if (r.max_tokens) j.kv("maxOutputTokens", *r.max_tokens);
  if (r.temperature) j.kv("temperature", *r.temperature);
  if (r.top_p) j.kv("topP", *r.top_p);
  if (r.n) j.kv("candidateCount", *r.n);
  if (r.seed) j.key("seed").num(*r.seed);
  if (!r.stop.empty()) {
    j.key("stopSequences").begin_array();
    for (const auto &s : r.stop)
      j.str(s);
    j.end_array();
  }
  if (r.response_format == "json_object" || r.response_format == "json_schema")
    j.kv("responseMimeType", "application/json");
  if (r.response_format == "json_schema")
    if (auto e = write_schema(j, "responseJsonSchema", "responseSchema", r.response_schema, as_is))
      return *e;
  if (r.thinking_type == "enabled" || !r.reasoning_effort.empty()) {
    j.key("thinkingConfig").begin_object();
    j.kv("thinkingBudget", r.thinking_type == "enabled" ? r.thinking_budget.value_or(1024)
                                                        : effort_budget(r.reasoning_effort));
    j.kv_bool("includeThoughts", true);
    j.end_object();
  } else if (r.thinking_type == "disabled") {
    j.key("thinkingConfig").begin_object().kv("thinkingBudget", uint64_t{0}).end_object();
  }
  j.end_object();
  j.end_object();
  return out;
}

Result<ChatResponse> decode_gemini_response(std::string_view body, std::string_view model) {
  thread_local dom::parser parser;
  dom::element doc;
  if (parser.parse(body.data(), body.size()).get(doc) || !doc.is_object())
    return Error::upstream(502, "the Gemini response is not valid JSON", false);
  ChatResponse r;
  // As upstream: the model version Gemini answered with, else the request's.
  r.model = std::string(str_of(doc["modelVersion"]));
  if (r.model.empty()) r.model = std::string(model);
  r.id = std::string(str_of(doc["responseId"]));
  dom::array candidates;
  std::string_view finish;
  if (!doc["candidates"].get_array().get(candidates)) {
    for (dom::element c : candidates) { // the first candidate answers
      dom::array parts;
      if (!c["content"]["parts"].get_array().get(parts)) {
        for (dom::element p : parts) {
          dom::element x;
          if (!p["functionCall"].get(x)) {
            ToolCall tc;
            tc.id = std::string(str_of(x["id"]));
            if (tc.id.empty()) tc.id = random_call_id();
            tc.name = std::string(str_of(x["name"]));
            dom::element args;
            tc.arguments = x["args"].get(args) ? "{}" : simdjson::minify(args);
            r.tool_calls.push_back(std::move(tc));
          } else if (!p["text"].get(x)) {
            bool thought = false;
            if (p["thought"].get_bool().get(thought)) thought = false;
            (thought ? r.reasoning : r.text) += str_of(x);
          }
        }
      }
      finish = str_of(c["finishReason"]);
      break;
    }
  }
  r.finish_reason =
      !r.tool_calls.empty() ? "tool_calls" : std::string(gemini_finish_reason(finish));
  dom::element u;
  if (!doc["usageMetadata"].get(u)) r.usage = gemini_usage(u);
  return r;
}

void GeminiStreamDecoder::feed(std::string_view bytes, std::vector<StreamEvent> &out) {
  lines_.feed(bytes, [&](std::string_view line) {
    if (line.empty()) {
      if (!data_.empty()) on_data(data_, out);
      data_.clear();
      return;
    }
    auto f = sse::parse_field(line);
    if (f.name != "data") return;
    if (data_.size() + f.value.size() > 8 * 1024 * 1024) return;
    if (!data_.empty()) data_ += '\n';
    data_.append(f.value);
  });
  // A stream that ends without a trailing blank line still delivers its last event: the
  // translator calls feed("") at the end, and a complete JSON object is flushed here.
  if (bytes.empty() && !data_.empty()) {
    on_data(data_, out);
    data_.clear();
  }
}

void GeminiStreamDecoder::on_data(std::string_view json, std::vector<StreamEvent> &out) {
  thread_local dom::parser parser;
  dom::element doc;
  if (parser.parse(json.data(), json.size()).get(doc) || !doc.is_object()) return;
  dom::element err;
  if (!doc["error"].get(err)) {
    StreamEvent e;
    e.kind = StreamEvent::Kind::kError;
    e.error_type = std::string(str_of(err["status"]));
    if (e.error_type.empty()) e.error_type = "GCPVertexAIBackendError";
    e.text = std::string(str_of(err["message"]));
    out.push_back(std::move(e));
    return;
  }
  if (!started_) {
    started_ = true;
    StreamEvent e;
    e.kind = StreamEvent::Kind::kStart;
    e.id = std::string(str_of(doc["responseId"]));
    out.push_back(std::move(e));
  }
  dom::array candidates;
  if (!doc["candidates"].get_array().get(candidates)) {
    for (dom::element c : candidates) {
      dom::array parts;
      if (!c["content"]["parts"].get_array().get(parts)) {
        for (dom::element p : parts) {
          dom::element x;
          if (!p["functionCall"].get(x)) {
            saw_tool_call_ = true;
            StreamEvent s;
            s.kind = StreamEvent::Kind::kToolCallStart;
            s.index = tools_++;
            s.id = std::string(str_of(x["id"]));
            if (s.id.empty()) s.id = random_call_id();
            s.name = std::string(str_of(x["name"]));
            out.push_back(s);
            dom::element args;
            StreamEvent a;
            a.kind = StreamEvent::Kind::kToolCallArgs;
            a.index = s.index;
            a.text = x["args"].get(args) ? "{}" : simdjson::minify(args);
            out.push_back(std::move(a));
          } else if (!p["text"].get(x)) {
            bool thought = false;
            if (p["thought"].get_bool().get(thought)) thought = false;
            out.push_back(
                StreamEvent(thought ? StreamEvent::Kind::kReasoning : StreamEvent::Kind::kText,
                            std::string(str_of(x))));
          }
        }
      }
      std::string_view finish = str_of(c["finishReason"]);
      if (!finish.empty())
        out.push_back(StreamEvent{StreamEvent::Kind::kFinish,
                                  saw_tool_call_ ? std::string("tool_calls")
                                                 : std::string(gemini_finish_reason(finish))});
      break;
    }
  }
  dom::element u;
  if (!doc["usageMetadata"].get(u) && u64_of(u["promptTokenCount"]) > 0) {
    StreamEvent e;
    e.kind = StreamEvent::Kind::kUsage;
    e.usage = gemini_usage(u);
    out.push_back(std::move(e));
  }
}

std::string gemini_error_to_openai(int status, std::string_view body) {
  thread_local dom::parser parser;
  dom::element doc;
  if (!parser.parse(body.data(), body.size()).get(doc) && doc.is_object()) {
    dom::element err;
    if (!doc["error"].get(err)) {
      std::string_view type = str_of(err["status"]);
      return pipeline::error_body(type.empty() ? "GCPVertexAIBackendError" : type, status,
                                  str_of(err["message"]));
    }
  }
  return pipeline::error_body("GCPVertexAIBackendError", status, body);
}

} // namespace aigw::translate
