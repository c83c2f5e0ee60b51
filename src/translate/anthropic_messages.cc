// The Anthropic Messages format as the client's; see anthropic_messages.h.
#include "translate/anthropic_messages.h"

#include "translate/json_in.h"
#include "translate/json_out.h"
#include "translate/messages.h"

#include <simdjson.h>

#include <algorithm>

namespace aigw::translate {
namespace {

namespace dom = simdjson::dom;

Error bad(std::string msg) { return Error::client(422, std::move(msg)); }

bool has_cache_control(dom::element b) {
  dom::element cc;
  return !b["cache_control"].get(cc) && !cc.is_null();
}

Part text_part(std::string_view text, bool cache = false) {
  Part p;
  p.text = std::string(text);
  p.cache = cache;
  return p;
}

// An image block: a base64 source (a data URL for OpenAI) or a URL.
Result<Part> image_part(dom::element b, const std::string &where) {
  dom::element src;
  if (b["source"].get(src) || !src.is_object()) return bad(where + ".source: is required");
  std::string_view type = str_of(src["type"]);
  Part p;
  p.kind = Part::Kind::kImage;
  p.cache = has_cache_control(b);
  if (type == "base64") {
    p.media_type = std::string(str_of(src["media_type"]));
    p.data = std::string(str_of(src["data"]));
  } else if (type == "url") {
    p.url = std::string(str_of(src["url"]));
    if (p.url.empty()) return bad(where + ".source.url: is required");
  } else {
    return bad(where + ".source.type: image source \"" + std::string(type) +
               "\" is not supported for this backend");
  }
  return p;
}

// A tool_result block: a tool message with the result's text (a string, or its text blocks).
Message tool_result(dom::element b, const ChatRequest &r) {
  Message m;
  m.role = Message::Role::kTool;
  m.tool_call_id = std::string(str_of(b["tool_use_id"]));
  bool is_error = false;
  m.tool_error = !b["is_error"].get_bool().get(is_error) && is_error;
  dom::element content;
  if (!b["content"].get(content)) {
    if (content.is_string()) {
      m.parts.push_back(text_part(str_of(content)));
    } else if (dom::array blocks; !content.get_array().get(blocks)) {
      for (dom::element item : blocks)
        if (str_of(item["type"]) == "text") m.parts.push_back(text_part(str_of(item["text"])));
    }
  }
  if (!m.parts.empty()) m.parts.back().cache = has_cache_control(b);
  // The function's name, from the assistant message that asked for it.
  for (auto it = r.messages.rbegin(); it != r.messages.rend() && m.name.empty(); ++it)
    for (const auto &c : it->tool_calls)
      if (c.id == m.tool_call_id) m.name = c.name;
  return m;
}

// A user turn: its tool results first (each a tool message, as OpenAI wants them right after the
// assistant's calls), then its text and images as one user message.
std::optional<Error> decode_user(dom::element content, const std::string &where, ChatRequest &r) {
  Message user;
  if (content.is_string()) {
    if (!str_of(content).empty()) user.parts.push_back(text_part(str_of(content)));
  } else {
    dom::array blocks;
    if (content.get_array().get(blocks))
      return bad(where + ".content: must be a string or an array");
    size_t i = 0;
    for (dom::element b : blocks) {
      std::string bw = where + ".content[" + std::to_string(i++) + "]";
      std::string_view type = str_of(b["type"]);
      if (type == "text") {
        user.parts.push_back(text_part(str_of(b["text"]), has_cache_control(b)));
      } else if (type == "image") {
        auto p = image_part(b, bw);
        if (!p) return p.error();
        user.parts.push_back(std::move(*p));
      } else if (type == "tool_result") {
        r.messages.push_back(tool_result(b, r));
      }
    }
  }
  std::erase_if(user.parts,
                [](const Part &p) { return p.kind == Part::Kind::kText && p.text.empty(); });
  if (!user.parts.empty()) r.messages.push_back(std::move(user));
  return std::nullopt;
}

std::optional<Error> decode_assistant(dom::element content, const std::string &where,
                                      ChatRequest &r) {
  Message m;
  m.role = Message::Role::kAssistant;
  if (content.is_string()) {
    m.parts.push_back(text_part(str_of(content)));
  } else {
    dom::array blocks;
    if (content.get_array().get(blocks))
      return bad(where + ".content: must be a string or an array");
    for (dom::element b : blocks) {
      std::string_view type = str_of(b["type"]);
      if (type == "text") {
        m.parts.push_back(text_part(str_of(b["text"]), has_cache_control(b)));
      } else if (type == "thinking" || type == "redacted_thinking") {
        Part p;
        p.kind = type == "thinking" ? Part::Kind::kThinking : Part::Kind::kRedactedThinking;
        p.text = std::string(type == "thinking" ? str_of(b["thinking"]) : str_of(b["data"]));
        p.signature = std::string(str_of(b["signature"]));
        m.parts.push_back(std::move(p));
      } else if (type == "tool_use") {
        ToolCall c;
        c.id = std::string(str_of(b["id"]));
        c.name = std::string(str_of(b["name"]));
        dom::element input;
        c.arguments = b["input"].get(input) || input.is_null() ? "{}" : simdjson::minify(input);
        m.tool_calls.push_back(std::move(c));
      }
    }
  }
  r.messages.push_back(std::move(m));
  return std::nullopt;
}

std::optional<Error> decode_messages(dom::object root, ChatRequest &r) {
  dom::element system;
  if (!root["system"].get(system) && !system.is_null()) {
    Message m;
    m.role = Message::Role::kSystem;
    if (system.is_string()) {
      m.parts.push_back(text_part(str_of(system)));
    } else if (dom::array blocks; !system.get_array().get(blocks)) {
      for (dom::element b : blocks)
        if (str_of(b["type"]) == "text")
          m.parts.push_back(text_part(str_of(b["text"]), has_cache_control(b)));
    } else {
      return bad("system: must be a string or an array of text blocks");
    }
    r.messages.push_back(std::move(m));
  }
  dom::array messages;
  if (root["messages"].get_array().get(messages)) return bad("messages: must be an array");
  size_t i = 0;
  for (dom::element me : messages) {
    std::string where = "messages[" + std::to_string(i++) + "]";
    if (!me.is_object()) return bad(where + ": must be an object");
    std::string_view role = str_of(me["role"]);
    dom::element content;
    if (me["content"].get(content) || content.is_null())
      return bad(where + ".content: is required");
    std::optional<Error> e;
    if (role == "user") {
      e = decode_user(content, where, r);
    } else if (role == "assistant") {
      e = decode_assistant(content, where, r);
    } else if (role == "system") {
      // Clients that send a system prompt mid-conversation (upstream promotes these too).
      Message m;
      m.role = Message::Role::kSystem;
      if (content.is_string()) m.parts.push_back(text_part(str_of(content)));
      if (dom::array blocks; !content.get_array().get(blocks))
        for (dom::element b : blocks)
          if (str_of(b["type"]) == "text") m.parts.push_back(text_part(str_of(b["text"])));
      r.messages.push_back(std::move(m));
    } else {
      return bad(where + ".role: unsupported role \"" + std::string(role) + "\"");
    }
    if (e) return e;
  }
  return std::nullopt;
}

// Custom tools (a `type` of "custom" or none); Anthropic's built-in tools (bash, web search,
// ...) have no OpenAI equivalent and are left out, as upstream does. tool_choice too.
std::optional<Error> decode_tools(dom::object root, ChatRequest &r) {
  dom::array tools;
  if (!root["tools"].get_array().get(tools)) {
    size_t i = 0;
    for (dom::element te : tools) {
      std::string where = "tools[" + std::to_string(i++) + "]";
      std::string_view type = str_of(te["type"]);
      if (!type.empty() && type != "custom") continue;
      Tool t;
      t.name = std::string(str_of(te["name"]));
      if (t.name.empty()) return bad(where + ".name: is required");
      t.description = std::string(str_of(te["description"]));
      dom::element schema;
      if (!te["input_schema"].get(schema) && !schema.is_null())
        t.parameters = simdjson::minify(schema);
      t.cache = has_cache_control(te);
      r.tools.push_back(std::move(t));
    }
  }
  dom::object tc;
  if (!root["tool_choice"].get_object().get(tc)) {
    std::string_view type = str_of(tc["type"]);
    if (type == "auto" || type == "none") {
      r.tool_choice = std::string(type);
    } else if (type == "any") {
      r.tool_choice = "required";
    } else if (type == "tool") {
      r.tool_choice = "function";
      r.tool_choice_name = std::string(str_of(tc["name"]));
      if (r.tool_choice_name.empty()) return bad("tool_choice.name: is required");
    } else {
      return bad("tool_choice.type: unsupported tool choice \"" + std::string(type) + "\"");
    }
    bool disable = false;
    if (!tc["disable_parallel_tool_use"].get_bool().get(disable) && disable)
      r.parallel_tool_calls = false;
  }
  return std::nullopt;
}

std::optional<Error> decode_options(dom::object root, ChatRequest &r) {
  dom::element e;
  if (!root["max_tokens"].get(e) && !e.is_null()) {
    uint64_t n = 0;
    double d = 0;
    if (!e.get_uint64().get(n))
      r.max_tokens = n;
    else if (!e.get_double().get(d) && d >= 0 && d < 1.8e19 &&
             d == static_cast<double>(static_cast<uint64_t>(d)))
      r.max_tokens = static_cast<uint64_t>(d);
    else
      return bad("max_tokens: must be a non-negative integer");
  }
  using Sampling = std::pair<const char *, std::optional<double> *>;
  for (auto [key, out] : {Sampling{"temperature", &r.temperature}, Sampling{"top_p", &r.top_p}}) {
    if (root[key].get(e) || e.is_null()) continue;
    double v = 0;
    if (e.get_double().get(v)) return bad(std::string(key) + ": must be a number");
    *out = v;
  }
  dom::array stops;
  if (!root["stop_sequences"].get_array().get(stops))
    for (dom::element s : stops) {
      if (!s.is_string()) return bad("stop_sequences: must be an array of strings");
      r.stop.emplace_back(str_of(s));
    }
  uint64_t top_k = 0;
  if (!root["top_k"].get_uint64().get(top_k)) r.top_k = top_k;
  bool stream = false;
  if (!root["stream"].get_bool().get(stream)) r.stream = r.include_usage = stream;
  dom::object th;
  if (!root["thinking"].get_object().get(th)) {
    r.thinking_type = std::string(str_of(th["type"]));
    uint64_t b = 0;
    if (!th["budget_tokens"].get_uint64().get(b)) r.thinking_budget = b;
  }
  r.user = std::string(str_of(root["metadata"]["user_id"]));
  return std::nullopt;
}

void append_usage(JsonOut &j, const TokenUsage &u) {
  uint64_t read = u.cached_input.value_or(0), write = u.cache_creation_input.value_or(0);
  uint64_t in = u.input.value_or(0);
  in = in > read + write ? in - read - write : 0;
  j.key("usage").begin_object();
  j.kv("cache_creation_input_tokens", write).kv("cache_read_input_tokens", read);
  j.kv("input_tokens", in).kv("output_tokens", u.output.value_or(0));
  j.end_object();
}

std::string event_json(std::string_view type, std::string_view body) {
  std::string s = "{\"type\":\"";
  s += type;
  s += '"';
  if (!body.empty()) {
    s += ',';
    s += body;
  }
  s += '}';
  return s;
}

void write_event(std::string &out, std::string_view type, std::string_view data) {
  out += "event: ";
  out += type;
  out += "\ndata: ";
  out += data;
  out += "\n\n";
}

} // namespace

std::string anthropic_error_envelope(std::string_view type, std::string_view message) {
  std::string o;
  JsonOut j(o);
  j.begin_object().kv("type", "error").key("error").begin_object();
  j.kv("type", type).kv("message", message).end_object();
  j.kv("request_id", "").end_object();
  return o;
}

Result<ChatRequest> decode_anthropic_messages_request(std::string_view body) {
  thread_local dom::parser parser;
  dom::element doc;
  if (parser.parse(body.data(), body.size()).get(doc))
    return Error::client(400, "malformed request: failed to parse JSON for /v1/messages");
  dom::object root;
  if (doc.get_object().get(root))
    return Error::client(400, "malformed request: the body must be a JSON object");
  ChatRequest r;
  r.model = std::string(str_of(root["model"]));
  if (auto e = decode_messages(root, r)) return *e;
  if (auto e = decode_tools(root, r)) return *e;
  if (auto e = decode_options(root, r)) return *e;
  return r;
}

std::string_view anthropic_stop_reason(std::string_view f) {
  for (std::string_view own :
       {"end_turn", "max_tokens", "stop_sequence", "tool_use", "pause_turn", "refusal"})
    if (f == own) return own;
  if (f == "length") return "max_tokens";
  if (f == "tool_calls") return "tool_use";
  if (f == "content_filter") return "refusal";
  return "end_turn";
}

std::string encode_anthropic_message(const ChatResponse &r) {
  std::string out;
  out.reserve(256 + r.text.size());
  JsonOut j(out);
  j.begin_object().kv("id", r.id).kv("type", "message").kv("role", "assistant");
  j.key("content").begin_array();
  // Anthropic's order: thinking, text, tool_use.
  for (const auto &p : r.thinking) {
    j.begin_object();
    if (p.kind == Part::Kind::kRedactedThinking)
      j.kv("type", "redacted_thinking").kv("data", p.text);
    else
      j.kv("type", "thinking").kv("thinking", p.text).kv("signature", p.signature);
    j.end_object();
  }
  if (!r.text.empty()) j.begin_object().kv("type", "text").kv("text", r.text).end_object();
  for (const auto &c : r.tool_calls) {
    j.begin_object().kv("type", "tool_use").kv("id", c.id).kv("name", c.name);
    j.kv_raw("input", json_object_or_empty(c.arguments)).end_object();
  }
  j.end_array();
  j.kv("model", r.model);
  if (!r.finish_reason.empty()) j.kv("stop_reason", anthropic_stop_reason(r.finish_reason));
  append_usage(j, r.usage);
  j.end_object();
  return out;
}

void AnthropicSseEncoder::start(std::string &out) {
  if (started_) return;
  started_ = true;
  std::string body;
  JsonOut j(body);
  j.begin_object().kv("id", id_).kv("type", "message").kv("role", "assistant");
  j.key("content").begin_array().end_array().kv("model", model());
  j.key("stop_reason").null().key("stop_sequence").null();
  j.key("usage").begin_object().kv("input_tokens", uint64_t{0}).kv("output_tokens", uint64_t{0});
  j.end_object().end_object();
  write_event(out, "message_start", event_json("message_start", "\"message\":" + body));
}

void AnthropicSseEncoder::block_start(std::string &out, std::string_view block_json) {
  write_event(
      out, "content_block_start",
      event_json("content_block_start", "\"index\":" + std::to_string(block_) +
                                            ",\"content_block\":" + std::string(block_json)));
}

void AnthropicSseEncoder::block_stop(std::string &out) {
  write_event(out, "content_block_stop",
              event_json("content_block_stop", "\"index\":" + std::to_string(block_)));
  ++block_;
  open_ = Open::kNone;
}

void AnthropicSseEncoder::delta(std::string &out, int index, std::string_view type,
                                std::string_view field, std::string_view value) {
  std::string body = "\"index\":" + std::to_string(index) + ",\"delta\":{\"type\":\"";
  body += type;
  body += "\",\"";
  body += field;
  body += "\":";
  json::append_quoted(body, value);
  body += '}';
  write_event(out, "content_block_delta", event_json("content_block_delta", body));
}

void AnthropicSseEncoder::on_thinking(std::string &out, std::string_view text,
                                      std::string_view signature) {
  if (text.empty() && signature.empty()) return;
  start(out);
  if (open_ != Open::kThinking && open_ != Open::kNone) block_stop(out);
  if (open_ == Open::kNone) {
    block_start(out, R"({"type":"thinking","thinking":""})");
    open_ = Open::kThinking;
  }
  if (!text.empty()) delta(out, block_, "thinking_delta", "thinking", text);
  if (!signature.empty()) delta(out, block_, "signature_delta", "signature", signature);
}

void AnthropicSseEncoder::on_text(std::string &out, std::string_view text) {
  if (text.empty()) return;
  start(out);
  if (open_ != Open::kText && open_ != Open::kNone) block_stop(out);
  if (open_ == Open::kNone) {
    block_start(out, R"({"type":"text","text":""})");
    open_ = Open::kText;
  }
  delta(out, block_, "text_delta", "text", text);
}

void AnthropicSseEncoder::on_tool_start(std::string &out, const StreamEvent &e) {
  for (const auto &[index, block] : tools_)
    if (index == e.index) return;
  start(out);
  if (open_ != Open::kNone) block_stop(out);
  tools_.emplace_back(e.index, block_);
  std::string block;
  JsonOut j(block);
  j.begin_object().kv("type", "tool_use").kv("id", e.id).kv("name", e.name);
  j.key("input").begin_object().end_object().end_object();
  block_start(out, block);
  open_ = Open::kTool;
}

void AnthropicSseEncoder::on_event(const StreamEvent &e, std::string &out) {
  if (closed_) return;
  switch (e.kind) {
  case StreamEvent::Kind::kStart:
    if (!started_) {
      id_ = e.id;
      model_ = e.model;
    }
    start(out);
    break;
  case StreamEvent::Kind::kText: on_text(out, e.text); break;
  case StreamEvent::Kind::kReasoning: on_thinking(out, e.text, {}); break;
  case StreamEvent::Kind::kSignature: on_thinking(out, {}, e.text); break;
  case StreamEvent::Kind::kToolCallStart: on_tool_start(out, e); break;
  case StreamEvent::Kind::kToolCallArgs:
    if (e.text.empty()) break;
    for (const auto &[index, block] : tools_)
      if (index == e.index) delta(out, block, "input_json_delta", "partial_json", e.text);
    break;
  case StreamEvent::Kind::kFinish: stop_reason_ = std::string(anthropic_stop_reason(e.text)); break;
  case StreamEvent::Kind::kUsage:
    merge_usage(usage_, e.usage);
    close(out); // the usage chunk ends an OpenAI stream
    break;
  case StreamEvent::Kind::kError: {
    closed_ = true;
    std::string body;
    JsonOut j(body);
    j.begin_object().kv("type", "error").key("error").begin_object();
    j.kv("type", e.error_type.empty() ? anthropic_error_type(500) : std::string_view(e.error_type));
    j.kv("message", e.text).end_object().end_object();
    write_event(out, "error", body);
    break;
  }
  }
}

void AnthropicSseEncoder::close(std::string &out) {
  if (closed_) return;
  start(out);
  closed_ = true;
  if (open_ != Open::kNone)
    write_event(out, "content_block_stop",
                event_json("content_block_stop", "\"index\":" + std::to_string(block_)));
  uint64_t read = usage_.cached_input.value_or(0), write = usage_.cache_creation_input.value_or(0);
  uint64_t in = usage_.input.value_or(0);
  in = in > read + write ? in - read - write : 0;
  std::string body;
  JsonOut j(body);
  j.begin_object().kv("type", "message_delta").key("delta").begin_object();
  j.kv("stop_reason", stop_reason_.empty() ? std::string_view("end_turn") : stop_reason_);
  j.key("stop_sequence").null().end_object();
  j.key("usage")
      .begin_object()
      .kv("input_tokens", in)
      .kv("output_tokens", usage_.output.value_or(0));
  j.end_object().end_object();
  write_event(out, "message_delta", body);
  write_event(out, "message_stop", event_json("message_stop", ""));
}

void AnthropicSseEncoder::finish(std::string &out) { close(out); }

std::string openai_error_to_anthropic(int status, std::string_view content_type,
                                      std::string_view body) {
  thread_local dom::parser parser;
  dom::element doc;
  bool json = content_type.find("application/json") != std::string_view::npos;
  if (json && !parser.parse(body.data(), body.size()).get(doc) && doc.is_object()) {
    if (str_of(doc["type"]) == "error") return std::string(body); // already Anthropic's
    dom::element err;
    if (!doc["error"].get(err) && err.is_object()) {
      std::string_view type = str_of(err["type"]);
      return anthropic_error_envelope(type.empty() ? anthropic_error_type(status) : type,
                                      str_of(err["message"]));
    }
  }
  return anthropic_error_envelope(anthropic_error_type(status), body);
}

} // namespace aigw::translate
