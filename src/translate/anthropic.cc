// Anthropic Messages encoding and decoding; see anthropic.h.
#include "translate/anthropic.h"

#include "core/sse.h"
#include "pipeline/errors.h"
#include "translate/json_in.h"
#include "translate/json_out.h"

#include <simdjson.h>

namespace aigw::translate {
namespace {

namespace dom = simdjson::dom;

void cache_control(JsonOut &j, bool cache) {
  if (cache) j.key("cache_control").begin_object().kv("type", "ephemeral").end_object();
}

void encode_part(JsonOut &j, const Part &p) {
  j.begin_object();
  switch (p.kind) {
  case Part::Kind::kText: j.kv("type", "text").kv("text", p.text); break;
  case Part::Kind::kImage:
    j.kv("type", "image").key("source").begin_object();
    if (!p.url.empty())
      j.kv("type", "url").kv("url", p.url);
    else
      j.kv("type", "base64").kv("media_type", p.media_type).kv("data", p.data);
    j.end_object();
    break;
  case Part::Kind::kThinking:
    j.kv("type", "thinking").kv("thinking", p.text).kv("signature", p.signature);
    break;
  case Part::Kind::kRedactedThinking: j.kv("type", "redacted_thinking").kv("data", p.text); break;
  }
  cache_control(j, p.cache);
  j.end_object();
}

} // namespace

std::string_view anthropic_finish_reason(std::string_view s) {
  if (s == "end_turn" || s == "stop_sequence" || s == "pause_turn") return "stop";
  if (s == "max_tokens") return "length";
  if (s == "tool_use") return "tool_calls";
  if (s == "refusal") return "content_filter";
  return s.empty() ? "stop" : s;
}

Result<std::string> encode_anthropic_request(const ChatRequest &r,
                                             const AnthropicRequestOptions &opts) {
  if (r.temperature && *r.temperature > 1.0)
    return Error::client(422, "temperature: must be between 0 and 1 for Anthropic models, got " +
                                  std::to_string(*r.temperature));
  std::string out;
  out.reserve(512);
  JsonOut j(out);
  j.begin_object();
  if (opts.include_model) j.kv("model", r.model);
  if (!opts.anthropic_version.empty()) j.kv("anthropic_version", opts.anthropic_version);
  j.kv("max_tokens", r.max_tokens.value_or(4096));

  // System messages become the system blocks.
  bool any_system = false;
  for (const auto &m : r.messages)
    if (m.role == Message::Role::kSystem) any_system = true;
  if (any_system) {
    j.key("system").begin_array();
    for (const auto &m : r.messages) {
      if (m.role != Message::Role::kSystem) continue;
      for (const auto &p : m.parts)
        if (p.kind == Part::Kind::kText) encode_part(j, p);
    }
    j.end_array();
  }

  // Messages alternate user/assistant: consecutive same-role messages (tool results are user
  // turns) merge into one.
  j.key("messages").begin_array();
  TurnWriter turns(j, "user", "assistant", "content");

  for (const auto &m : r.messages) {
    switch (m.role) {
    case Message::Role::kSystem: break;
    case Message::Role::kUser:
      turns.user();
      for (const auto &p : m.parts)
        encode_part(j, p);
      break;
    case Message::Role::kTool: {
      turns.user();
      j.begin_object().kv("type", "tool_result").kv("tool_use_id", m.tool_call_id);
      j.key("content").begin_array();
      bool cache = false;
      for (const auto &p : m.parts) {
        cache = cache || p.cache;
        Part q = p;
        q.cache = false;
        encode_part(j, q);
      }
      j.end_array();
      cache_control(j, cache);
      j.end_object();
      break;
    }
    case Message::Role::kAssistant:
      turns.assistant();
      for (const auto &p : m.parts) {
        if (p.kind == Part::Kind::kText && p.text.empty()) continue;
        encode_part(j, p);
      }
      for (const auto &c : m.tool_calls) {
        j.begin_object().kv("type", "tool_use").kv("id", c.id).kv("name", c.name);
        j.kv_raw("input", json_object_or_empty(c.arguments));
        j.end_object();
      }
      break;
    }
  }
  turns.close();
  j.end_array();

  if (!r.tools.empty() && r.tool_choice != "none") {
    j.key("tools").begin_array();
    for (const auto &t : r.tools) {
      j.begin_object().kv("name", t.name);
      if (!t.description.empty()) j.kv("description", t.description);
      j.kv_raw("input_schema", t.parameters.empty() ? "{\"type\":\"object\"}" : t.parameters);
      cache_control(j, t.cache);
      j.end_object();
    }
    j.end_array();
    if (!r.tool_choice.empty() || !r.parallel_tool_calls) {
      j.key("tool_choice").begin_object();
      if (r.tool_choice == "required")
        j.kv("type", "any");
      else if (r.tool_choice == "function")
        j.kv("type", "tool").kv("name", r.tool_choice_name);
      else
        j.kv("type", "auto");
      if (!r.parallel_tool_calls) j.kv_bool("disable_parallel_tool_use", true);
      j.end_object();
    }
  }
  if (r.temperature) j.kv("temperature", *r.temperature);
  if (r.top_p) j.kv("top_p", *r.top_p);
  if (!r.stop.empty()) {
    j.key("stop_sequences").begin_array();
    for (const auto &s : r.stop)
      j.str(s);
    j.end_array();
  }
  if (r.thinking_type == "enabled") {
    j.key("thinking").begin_object().kv("type", "enabled");
    j.kv("budget_tokens", r.thinking_budget.value_or(1024));
    j.end_object();
  } else if (r.thinking_type == "disabled") {
    j.key("thinking").begin_object().kv("type", "disabled").end_object();
  }
  if (r.stream && opts.stream_field) j.kv_bool("stream", true);
  if (!r.user.empty()) j.key("metadata").begin_object().kv("user_id", r.user).end_object();
  j.end_object();
  return out;
}

Result<ChatResponse> decode_anthropic_response(std::string_view body,
                                               std::string_view request_model) {
  thread_local dom::parser parser;
  dom::element doc;
  if (parser.parse(body.data(), body.size()).get(doc) || !doc.is_object())
    return Error::upstream(502, "the Anthropic response is not valid JSON", false);
  ChatResponse r;
  r.id = std::string(str_of(doc["id"]));
  r.model = std::string(str_of(doc["model"]));
  if (r.model.empty()) r.model = std::string(request_model);
  dom::array content;
  if (!doc["content"].get_array().get(content)) {
    for (dom::element b : content) {
      std::string_view type = str_of(b["type"]);
      if (type == "text") {
        r.text += str_of(b["text"]);
      } else if (type == "thinking") {
        Part p;
        p.kind = Part::Kind::kThinking;
        p.text = std::string(str_of(b["thinking"]));
        p.signature = std::string(str_of(b["signature"]));
        r.reasoning += p.text;
        r.thinking.push_back(std::move(p));
      } else if (type == "redacted_thinking") {
        Part p;
        p.kind = Part::Kind::kRedactedThinking;
        p.text = std::string(str_of(b["data"]));
        r.thinking.push_back(std::move(p));
      } else if (type == "tool_use") {
        ToolCall c;
        c.id = std::string(str_of(b["id"]));
        c.name = std::string(str_of(b["name"]));
        dom::element input;
        c.arguments = b["input"].get(input) ? "{}" : simdjson::minify(input);
        r.tool_calls.push_back(std::move(c));
      }
    }
  }
  r.finish_reason = std::string(anthropic_finish_reason(str_of(doc["stop_reason"])));
  dom::object u;
  if (!doc["usage"].get_object().get(u))
    r.usage = explicit_caching_usage(u64_of(u["input_tokens"]), u64_of(u["output_tokens"]),
                                     u64_of(u["cache_read_input_tokens"]),
                                     u64_of(u["cache_creation_input_tokens"]));
  return r;
}

void AnthropicStreamDecoder::on_event_json(std::string_view json, std::vector<StreamEvent> &out) {
  thread_local dom::parser parser;
  dom::element ev;
  if (parser.parse(json.data(), json.size()).get(ev) || !ev.is_object()) return;
  std::string_view type = str_of(ev["type"]);
  auto usage_event = [&] {
    StreamEvent e;
    e.kind = StreamEvent::Kind::kUsage;
    e.usage = explicit_caching_usage(input_, output_, cache_read_, cache_write_);
    out.push_back(std::move(e));
  };
  // Per-field merge: message_delta may repeat or update input and cache counts.
  auto read_usage = [&](dom::element u) {
    dom::element f;
    if (!u["input_tokens"].get(f)) input_ = u64_of(f);
    if (!u["output_tokens"].get(f)) output_ = u64_of(f);
    if (!u["cache_read_input_tokens"].get(f)) cache_read_ = u64_of(f);
    if (!u["cache_creation_input_tokens"].get(f)) cache_write_ = u64_of(f);
  };
  if (type == "message_start") {
    dom::element msg;
    if (ev["message"].get(msg)) return;
    StreamEvent e;
    e.kind = StreamEvent::Kind::kStart;
    e.id = std::string(str_of(msg["id"]));
    e.model = std::string(str_of(msg["model"]));
    out.push_back(std::move(e));
    dom::element u;
    if (!msg["usage"].get(u)) {
      read_usage(u);
      usage_event();
    }
  } else if (type == "content_block_start") {
    int index = static_cast<int>(u64_of(ev["index"]));
    dom::element cb;
    if (ev["content_block"].get(cb)) return;
    std::string_view bt = str_of(cb["type"]);
    Block b;
    if (bt == "text") {
      b.kind = Block::Kind::kText;
      std::string_view t = str_of(cb["text"]);
      if (!t.empty()) out.push_back(StreamEvent{StreamEvent::Kind::kText, std::string(t)});
    } else if (bt == "thinking") {
      b.kind = Block::Kind::kThinking;
    } else if (bt == "tool_use") {
      b.kind = Block::Kind::kToolUse;
      b.tool_index = tools_++;
      StreamEvent e;
      e.kind = StreamEvent::Kind::kToolCallStart;
      e.index = b.tool_index;
      e.id = std::string(str_of(cb["id"]));
      e.name = std::string(str_of(cb["name"]));
      out.push_back(std::move(e));
    }
    blocks_.emplace_back(index, b);
  } else if (type == "content_block_delta") {
    int index = static_cast<int>(u64_of(ev["index"]));
    const Block *b = nullptr;
    for (const auto &[i, blk] : blocks_)
      if (i == index) b = &blk;
    dom::element d;
    if (ev["delta"].get(d)) return;
    std::string_view dt = str_of(d["type"]);
    StreamEvent e;
    if (dt == "text_delta") {
      e.kind = StreamEvent::Kind::kText;
      e.text = std::string(str_of(d["text"]));
    } else if (dt == "thinking_delta") {
      e.kind = StreamEvent::Kind::kReasoning;
      e.text = std::string(str_of(d["thinking"]));
    } else if (dt == "signature_delta") {
      e.kind = StreamEvent::Kind::kSignature;
      e.text = std::string(str_of(d["signature"]));
    } else if (dt == "input_json_delta") {
      e.kind = StreamEvent::Kind::kToolCallArgs;
      e.index = b ? b->tool_index : 0;
      e.text = std::string(str_of(d["partial_json"]));
    } else {
      return;
    }
    out.push_back(std::move(e));
  } else if (type == "message_delta") {
    dom::element d;
    if (!ev["delta"].get(d)) {
      std::string_view sr = str_of(d["stop_reason"]);
      if (!sr.empty())
        out.push_back(
            StreamEvent{StreamEvent::Kind::kFinish, std::string(anthropic_finish_reason(sr))});
    }
    dom::element u;
    if (!ev["usage"].get(u)) {
      read_usage(u);
      usage_event();
    }
  } else if (type == "error") {
    StreamEvent e;
    e.kind = StreamEvent::Kind::kError;
    e.error_type = std::string(str_of(ev["error"]["type"]));
    e.text = std::string(str_of(ev["error"]["message"]));
    out.push_back(std::move(e));
  }
}

void AnthropicStreamDecoder::feed_sse(std::string_view bytes, std::vector<StreamEvent> &out) {
  // Events are separated by blank lines; only `data:` matters (its JSON carries the type).
  size_t i = 0;
  while (i < bytes.size()) {
    size_t nl = bytes.find('\n', i);
    std::string_view piece =
        bytes.substr(i, nl == std::string_view::npos ? bytes.size() - i : nl - i);
    if (overflow_ || line_.size() + piece.size() > max_event_) {
      overflow_ = true;
      line_.clear();
    } else {
      line_.append(piece);
    }
    if (nl == std::string_view::npos) break;
    i = nl + 1;
    std::string_view line = line_;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (overflow_) {
      overflow_ = false;
    } else if (line.empty()) {
      if (!data_.empty()) on_event_json(data_, out);
      data_.clear();
    } else {
      auto f = sse::parse_field(line);
      if (f.name == "data") {
        if (data_.size() + f.value.size() <= max_event_) {
          if (!data_.empty()) data_ += '\n';
          data_.append(f.value);
        }
      }
    }
    line_.clear();
  }
}

std::string anthropic_error_to_openai(int status, std::string_view body) {
  thread_local dom::parser parser;
  dom::element doc;
  if (!parser.parse(body.data(), body.size()).get(doc) && doc.is_object()) {
    std::string_view type = str_of(doc["error"]["type"]);
    std::string_view message = str_of(doc["error"]["message"]);
    if (!type.empty() || !message.empty())
      return pipeline::error_body(type.empty() ? "AnthropicBackendError" : type, status, message);
  }
  return pipeline::error_body("AnthropicBackendError", status, body);
}

} // namespace aigw::translate
