// Bedrock Converse encoding and decoding; see bedrock.h.
#include "translate/bedrock.h"

#include "pipeline/errors.h"
#include "translate/json_in.h"
#include "translate/json_out.h"

#include <simdjson.h>

namespace aigw::translate {
namespace {

namespace dom = simdjson::dom;

void cache_point(JsonOut &j) {
  j.begin_object().key("cachePoint").begin_object().kv("type", "default").end_object().end_object();
}

Result<bool> encode_part(JsonOut &j, const Part &p) {
  switch (p.kind) {
  case Part::Kind::kText:
    if (p.text.empty()) return false;
    j.begin_object().kv("text", p.text).end_object();
    break;
  case Part::Kind::kImage: {
    if (!p.url.empty())
      return Error::client(422, "image_url: AWS Bedrock accepts images as base64 data URLs only");
    std::string_view fmt = p.media_type;
    if (fmt.substr(0, 6) == "image/") fmt.remove_prefix(6);
    if (fmt == "jpg") fmt = "jpeg";
    if (fmt != "png" && fmt != "jpeg" && fmt != "gif" && fmt != "webp")
      return Error::client(422, "image_url: unsupported image type \"" + p.media_type +
                                    "\" for AWS Bedrock (png, jpeg, gif, webp)");
    j.begin_object().key("image").begin_object().kv("format", fmt);
    j.key("source").begin_object().kv("bytes", p.data).end_object();
    j.end_object().end_object();
    break;
  }
  case Part::Kind::kThinking:
    j.begin_object().key("reasoningContent").begin_object().key("reasoningText").begin_object();
    j.kv("text", p.text);
    if (!p.signature.empty()) j.kv("signature", p.signature);
    j.end_object().end_object().end_object();
    break;
  case Part::Kind::kRedactedThinking:
    j.begin_object().key("reasoningContent").begin_object().kv("redactedContent", p.text);
    j.end_object().end_object();
    break;
  }
  if (p.cache) cache_point(j);
  return true;
}

} // namespace

std::string_view bedrock_finish_reason(std::string_view s) {
  if (s == "end_turn" || s == "stop_sequence") return "stop";
  if (s == "max_tokens") return "length";
  if (s == "content_filtered" || s == "guardrail_intervened") return "content_filter";
  if (s == "tool_use") return "tool_calls";
  return s.empty() ? "stop" : s;
}

Result<std::string> encode_converse_request(const ChatRequest &r) {
  if (r.response_format == "json_schema")
    return Error::client(422, "response_format: json_schema is not supported for AWS Bedrock "
                              "backends");
  std::string out;
  out.reserve(512);
  JsonOut j(out);
  j.begin_object();
  bool any_system = false;
  for (const auto &m : r.messages)
    if (m.role == Message::Role::kSystem) any_system = true;
  if (any_system) {
    j.key("system").begin_array();
    for (const auto &m : r.messages) {
      if (m.role != Message::Role::kSystem) continue;
      for (const auto &p : m.parts) {
        if (p.kind != Part::Kind::kText) continue;
        j.begin_object().kv("text", p.text).end_object();
        if (p.cache) cache_point(j);
      }
    }
    j.end_array();
  }
  j.key("messages").begin_array();
  TurnWriter turns(j, "user", "assistant", "content");

  for (const auto &m : r.messages) {
    switch (m.role) {
    case Message::Role::kSystem: break;
    case Message::Role::kUser:
      turns.user();
      for (const auto &p : m.parts)
        if (auto e = encode_part(j, p); !e) return e.error();
      break;
    case Message::Role::kTool: {
      turns.user();
      j.begin_object().key("toolResult").begin_object().kv("toolUseId", m.tool_call_id);
      j.key("content").begin_array();
      bool cache = false;
      for (const auto &p : m.parts) {
        cache = cache || p.cache;
        if (p.kind == Part::Kind::kText) j.begin_object().kv("text", p.text).end_object();
      }
      j.end_array();
      if (m.tool_error) j.kv("status", "error");
      j.end_object().end_object();
      if (cache) cache_point(j);
      break;
    }
    case Message::Role::kAssistant:
      turns.assistant();
      for (const auto &p : m.parts)
        if (auto e = encode_part(j, p); !e) return e.error();
      for (const auto &c : m.tool_calls) {
        j.begin_object().key("toolUse").begin_object();
        j.kv("toolUseId", c.id)
            .kv("name", c.name)
            .kv_raw("input", json_object_or_empty(c.arguments));
        j.end_object().end_object();
      }
      break;
    }
  }
  turns.close();
  j.end_array();

  {
    // Always present, as upstream sends it (Converse takes an empty one).
    j.key("inferenceConfig").begin_object();
    if (r.max_tokens) j.kv("maxTokens", *r.max_tokens);
    if (r.temperature) j.kv("temperature", *r.temperature);
    if (r.top_p) j.kv("topP", *r.top_p);
    if (!r.stop.empty()) {
      j.key("stopSequences").begin_array();
      for (const auto &s : r.stop)
        j.str(s);
      j.end_array();
    }
    j.end_object();
  }
  if (!r.tools.empty() && r.tool_choice != "none") {
    j.key("toolConfig").begin_object().key("tools").begin_array();
    for (const auto &t : r.tools) {
      j.begin_object().key("toolSpec").begin_object().kv("name", t.name);
      if (!t.description.empty()) j.kv("description", t.description);
      j.key("inputSchema").begin_object();
      j.kv_raw("json", t.parameters.empty() ? "{\"type\":\"object\"}" : t.parameters);
      j.end_object().end_object().end_object();
      if (t.cache) cache_point(j);
    }
    j.end_array();
    if (r.tool_choice == "required")
      j.key("toolChoice").begin_object().key("any").begin_object().end_object().end_object();
    else if (r.tool_choice == "function")
      j.key("toolChoice")
          .begin_object()
          .key("tool")
          .begin_object()
          .kv("name", r.tool_choice_name)
          .end_object()
          .end_object();
    else if (r.tool_choice == "auto")
      j.key("toolChoice").begin_object().key("auto").begin_object().end_object().end_object();
    j.end_object();
  }
  if (r.thinking_type == "enabled" || r.thinking_type == "disabled" ||
      !r.reasoning_effort.empty() || r.top_k) {
    j.key("additionalModelRequestFields").begin_object();
    if (r.thinking_type == "enabled") {
      j.key("thinking").begin_object().kv("type", "enabled");
      j.kv("budget_tokens", r.thinking_budget.value_or(1024)).end_object();
    } else if (r.thinking_type == "disabled") {
      j.key("thinking").begin_object().kv("type", "disabled").end_object();
    } else if (!r.reasoning_effort.empty()) {
      j.key("reasoning_config").begin_object().kv("type", "enabled");
      j.kv("maxReasoningEffort", r.reasoning_effort).end_object();
    }
    if (r.top_k) j.kv("top_k", *r.top_k);
    j.end_object();
  }
  j.end_object();
  return out;
}

Result<ChatResponse> decode_converse_response(std::string_view body, std::string_view model) {
  thread_local dom::parser parser;
  dom::element doc;
  if (parser.parse(body.data(), body.size()).get(doc) || !doc.is_object())
    return Error::upstream(502, "the AWS Bedrock response is not valid JSON", false);
  ChatResponse r;
  r.model = std::string(model);
  dom::array content;
  if (!doc["output"]["message"]["content"].get_array().get(content)) {
    for (dom::element b : content) {
      dom::element x;
      if (!b["text"].get(x)) {
        r.text += str_of(x);
      } else if (!b["toolUse"].get(x)) {
        ToolCall c;
        c.id = std::string(str_of(x["toolUseId"]));
        c.name = std::string(str_of(x["name"]));
        dom::element input;
        c.arguments = x["input"].get(input) ? "{}" : simdjson::minify(input);
        r.tool_calls.push_back(std::move(c));
      } else if (!b["reasoningContent"].get(x)) {
        dom::element rt;
        Part p;
        if (!x["reasoningText"].get(rt)) {
          p.kind = Part::Kind::kThinking;
          p.text = std::string(str_of(rt["text"]));
          p.signature = std::string(str_of(rt["signature"]));
          r.reasoning += p.text;
        } else {
          p.kind = Part::Kind::kRedactedThinking;
          p.text = std::string(str_of(x["redactedContent"]));
        }
        r.thinking.push_back(std::move(p));
      }
    }
  }
  r.stop_reason = std::string(str_of(doc["stopReason"]));
  r.finish_reason = std::string(bedrock_finish_reason(r.stop_reason));
  dom::object u;
  if (!doc["usage"].get_object().get(u))
    r.usage = explicit_caching_usage(u64_of(u["inputTokens"]), u64_of(u["outputTokens"]),
                                     u64_of(u["cacheReadInputTokens"]),
                                     u64_of(u["cacheWriteInputTokens"]));
  return r;
}

void ConverseStreamDecoder::feed(std::string_view bytes, std::vector<StreamEvent> &out) {
  if (failed_) return;
  decoder_.feed(bytes);
  for (;;) {
    auto m = decoder_.next();
    if (!m) {
      failed_ = true;
      StreamEvent e;
      e.kind = StreamEvent::Kind::kError;
      e.error_type = "AWSBedrockBackendError";
      e.text = "malformed event stream from AWS Bedrock: " + m.error().message;
      out.push_back(std::move(e));
      return;
    }
    if (!m->has_value()) return;
    on_message(**m, out);
  }
}

void ConverseStreamDecoder::on_message(const providers::EventMessage &m,
                                       std::vector<StreamEvent> &out) {
  thread_local dom::parser parser;
  dom::element ev;
  bool parsed = !parser.parse(m.payload.data(), m.payload.size()).get(ev) && ev.is_object();
  if (m.header(":message-type") == "exception" || m.header(":message-type") == "error") {
    StreamEvent e;
    e.kind = StreamEvent::Kind::kError;
    e.error_type = std::string(m.header(":exception-type"));
    if (e.error_type.empty()) e.error_type = std::string(m.header(":error-code"));
    e.text = parsed ? std::string(str_of(ev["message"])) : m.payload;
    if (e.text.empty()) e.text = std::string(m.header(":error-message"));
    out.push_back(std::move(e));
    failed_ = true;
    return;
  }
  if (!parsed) return;
  std::string_view type = m.header(":event-type");
  if (type == "messageStart") {
    out.push_back(StreamEvent{StreamEvent::Kind::kStart});
  } else if (type == "contentBlockStart") {
    dom::element tu;
    if (!ev["start"]["toolUse"].get(tu)) {
      int index = tools_++;
      current_tool_ = index;
      uint64_t block = 0;
      if (!ev["contentBlockIndex"].get_uint64().get(block))
        tool_blocks_.emplace_back(static_cast<int>(block), index);
      StreamEvent e;
      e.kind = StreamEvent::Kind::kToolCallStart;
      e.index = index;
      e.id = std::string(str_of(tu["toolUseId"]));
      e.name = std::string(str_of(tu["name"]));
      out.push_back(std::move(e));
    }
  } else if (type == "contentBlockDelta") {
    dom::element d;
    if (ev["delta"].get(d)) return;
    dom::element x;
    StreamEvent e;
    if (!d["text"].get(x)) {
      e.kind = StreamEvent::Kind::kText;
      e.text = std::string(str_of(x));
    } else if (!d["toolUse"].get(x)) {
      // The call whose block this is; blocks come one after another, so without an index
      // that names a started block, the call started last (as upstream counts them).
      e.kind = StreamEvent::Kind::kToolCallArgs;
      e.index = current_tool_ < 0 ? 0 : current_tool_;
      uint64_t block = 0;
      if (!ev["contentBlockIndex"].get_uint64().get(block))
        for (const auto &[b, i] : tool_blocks_)
          if (b == static_cast<int>(block)) e.index = i;
      e.text = std::string(str_of(x["input"]));
    } else if (!d["reasoningContent"].get(x)) {
      dom::element y;
      if (!x["text"].get(y)) {
        e.kind = StreamEvent::Kind::kReasoning;
        e.text = std::string(str_of(y));
      } else if (!x["signature"].get(y)) {
        e.kind = StreamEvent::Kind::kSignature;
        e.text = std::string(str_of(y));
      } else {
        return;
      }
    } else {
      return;
    }
    out.push_back(std::move(e));
  } else if (type == "messageStop") {
    std::string_view reason = str_of(ev["stopReason"]);
    StreamEvent e(StreamEvent::Kind::kFinish, std::string(bedrock_finish_reason(reason)));
    e.name = std::string(reason);
    out.push_back(std::move(e));
  } else if (type == "metadata") {
    dom::object u;
    if (ev["usage"].get_object().get(u)) return;
    StreamEvent e;
    e.kind = StreamEvent::Kind::kUsage;
    e.usage = explicit_caching_usage(u64_of(u["inputTokens"]), u64_of(u["outputTokens"]),
                                     u64_of(u["cacheReadInputTokens"]),
                                     u64_of(u["cacheWriteInputTokens"]));
    out.push_back(std::move(e));
  }
}

std::string bedrock_error_to_openai(int status, std::string_view amzn_error_type,
                                    std::string_view body) {
  thread_local dom::parser parser;
  dom::element doc;
  std::string type(amzn_error_type.substr(0, amzn_error_type.find(':')));
  if (!parser.parse(body.data(), body.size()).get(doc) && doc.is_object()) {
    std::string_view message = str_of(doc["message"]);
    if (message.empty()) message = str_of(doc["Message"]);
    return pipeline::error_body(type.empty() ? "AWSBedrockBackendError" : type, status, message);
  }
  return pipeline::error_body("AWSBedrockBackendError", status, body);
}

} // namespace aigw::translate
