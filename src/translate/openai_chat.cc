// OpenAI chat format; see openai_chat.h.
#include "translate/openai_chat.h"

#include "translate/json_in.h"
#include "translate/json_out.h"

#include <simdjson.h>

#include <algorithm>

namespace aigw::translate {
namespace {

namespace dom = simdjson::dom;

Error bad(std::string msg) { return Error::client(422, std::move(msg)); }

std::string raw_json(dom::element e) { return simdjson::minify(e); }

bool has_cache_control(dom::object o) {
  dom::element cc;
  return !o["cache_control"].get(cc);
}

// "data:image/png;base64,AAAA" → media type and data.
bool parse_data_url(std::string_view url, std::string &media_type, std::string &data) {
  if (url.substr(0, 5) != "data:") return false;
  auto comma = url.find(',');
  if (comma == std::string_view::npos) return false;
  std::string_view meta = url.substr(5, comma - 5);
  auto semi = meta.find(';');
  media_type = std::string(meta.substr(0, semi));
  if (semi == std::string_view::npos || meta.substr(semi + 1) != "base64") return false;
  data = std::string(url.substr(comma + 1));
  return true;
}

// Content: a string, or an array of parts.
// `where` names the message for errors (built only when there is one).
template <typename Where>
Result<std::vector<Part>> decode_content(dom::element content, const Where &where) {
  std::vector<Part> parts;
  if (content.is_null()) return parts;
  if (content.is_string()) {
    parts.push_back(Part{Part::Kind::kText, std::string(str_of(content)), {}, {}, {}, {}, false});
    return parts;
  }
  dom::array arr;
  if (content.get_array().get(arr)) return bad(where() + ".content: must be a string or an array");
  size_t i = 0;
  for (dom::element pe : arr) {
    size_t index = i++;
    auto pw = [&] { return where() + ".content[" + std::to_string(index) + "]"; };
    dom::object po;
    if (pe.get_object().get(po)) return bad(pw() + ": must be an object");
    std::string_view type = str_of(po["type"]);
    Part p;
    p.cache = has_cache_control(po);
    if (type == "text") {
      p.text = std::string(str_of(po["text"]));
    } else if (type == "image_url") {
      dom::element iu;
      if (po["image_url"].get(iu)) return bad(pw() + ".image_url: is required");
      std::string_view url = iu.is_string() ? str_of(iu) : str_of(iu["url"]);
      if (url.empty()) return bad(pw() + ".image_url.url: is required");
      p.kind = Part::Kind::kImage;
      if (url.substr(0, 5) == "data:") {
        if (!parse_data_url(url, p.media_type, p.data))
          return bad(pw() + ".image_url.url: only base64 data URLs are supported");
      } else {
        p.url = std::string(url);
      }
    } else if (type == "thinking" || type == "redacted_thinking") {
      p.kind = type == "thinking" ? Part::Kind::kThinking : Part::Kind::kRedactedThinking;
      p.text = std::string(type == "thinking" ? str_of(po["thinking"]) : str_of(po["data"]));
      p.signature = std::string(str_of(po["signature"]));
    } else {
      return bad(pw() + ".type: content part type \"" + std::string(type) +
                 "\" is not supported for this backend");
    }
    parts.push_back(std::move(p));
  }
  return parts;
}

} // namespace

TokenUsage explicit_caching_usage(uint64_t input, uint64_t output, uint64_t cache_read,
                                  uint64_t cache_write) {
  TokenUsage u;
  u.input = input + cache_read + cache_write;
  u.output = output;
  u.total = *u.input + output;
  u.cached_input = cache_read;
  u.cache_creation_input = cache_write;
  return u;
}

void merge_usage(TokenUsage &into, const TokenUsage &later) {
  if (later.input) into.input = later.input;
  if (later.output) into.output = later.output;
  if (later.total) into.total = later.total;
  if (later.cached_input) into.cached_input = later.cached_input;
  if (later.cache_creation_input) into.cache_creation_input = later.cache_creation_input;
  if (later.reasoning) into.reasoning = later.reasoning;
}

// One element of `messages`; `r` holds the messages before it (tool results name their call).
Result<Message> decode_message(dom::element me, size_t message_index, const ChatRequest &r) {
  auto where = [&] { return "messages[" + std::to_string(message_index) + "]"; };
  dom::object mo;
  if (me.get_object().get(mo)) return bad(where() + ": must be an object");
  std::string_view role = str_of(mo["role"]);
  Message m;
  if (role == "system" || role == "developer")
    m.role = Message::Role::kSystem;
  else if (role == "user")
    m.role = Message::Role::kUser;
  else if (role == "assistant")
    m.role = Message::Role::kAssistant;
  else if (role == "tool")
    m.role = Message::Role::kTool;
  else
    return bad(where() + ".role: unsupported role \"" + std::string(role) + "\"");
  dom::element content;
  if (!mo["content"].get(content)) {
    auto parts = decode_content(content, where);
    if (!parts) return parts.error();
    m.parts = std::move(*parts);
  }
  if (m.role == Message::Role::kAssistant) {
    // Reasoning carried back by clients that keep it (LiteLLM's convention).
    dom::array blocks;
    if (!mo["thinking_blocks"].get_array().get(blocks)) {
      std::vector<Part> thinking;
      for (dom::element be : blocks) {
        Part p;
        std::string_view t = str_of(be["type"]);
        p.kind = t == "redacted_thinking" ? Part::Kind::kRedactedThinking : Part::Kind::kThinking;
        p.text = std::string(p.kind == Part::Kind::kThinking ? str_of(be["thinking"])
                                                             : str_of(be["data"]));
        p.signature = std::string(str_of(be["signature"]));
        thinking.push_back(std::move(p));
      }
      m.parts.insert(m.parts.begin(), thinking.begin(), thinking.end());
    }
    dom::array calls;
    if (!mo["tool_calls"].get_array().get(calls)) {
      size_t ci = 0;
      for (dom::element ce : calls) {
        size_t call_index = ci++;
        auto cw = [&] { return where() + ".tool_calls[" + std::to_string(call_index) + "]"; };
        ToolCall c;
        c.id = std::string(str_of(ce["id"]));
        dom::element fn;
        if (ce["function"].get(fn)) return bad(cw() + ".function: is required");
        c.name = std::string(str_of(fn["name"]));
        c.arguments = std::string(str_of(fn["arguments"]));
        if (c.name.empty()) return bad(cw() + ".function.name: is required");
        m.tool_calls.push_back(std::move(c));
      }
    }
  }
  if (m.role == Message::Role::kTool) {
    m.tool_call_id = std::string(str_of(mo["tool_call_id"]));
    if (m.tool_call_id.empty()) return bad(where() + ".tool_call_id: is required");
    // The function's name, from the assistant message that asked for it.
    for (auto it = r.messages.rbegin(); it != r.messages.rend() && m.name.empty(); ++it)
      for (const auto &c : it->tool_calls)
        if (c.id == m.tool_call_id) m.name = c.name;
  }
  return m;
}

// tools and tool_choice.
std::optional<Error> decode_tools(dom::object root, ChatRequest &r) {
  dom::array tools;
  if (!root["tools"].get_array().get(tools)) {
    size_t ti = 0;
    for (dom::element te : tools) {
      size_t tool_index = ti++;
      auto tw = [&] { return "tools[" + std::to_string(tool_index) + "]"; };
      std::string_view type = str_of(te["type"]);
      if (type != "function") return bad(tw() + ".type: only function tools are supported");
      dom::object fn;
      if (te["function"].get_object().get(fn)) return bad(tw() + ".function: is required");
      Tool t;
      t.name = std::string(str_of(fn["name"]));
      if (t.name.empty()) return bad(tw() + ".function.name: is required");
      t.description = std::string(str_of(fn["description"]));
      dom::element params;
      if (!fn["parameters"].get(params)) t.parameters = raw_json(params);
      dom::object to;
      if (!te.get_object().get(to)) t.cache = has_cache_control(to);
      r.tools.push_back(std::move(t));
    }
  }
  dom::element tc;
  if (!root["tool_choice"].get(tc)) {
    if (tc.is_string()) {
      r.tool_choice = std::string(str_of(tc));
    } else {
      r.tool_choice = "function";
      r.tool_choice_name = std::string(str_of(tc["function"]["name"]));
      if (r.tool_choice_name.empty()) return bad("tool_choice.function.name: is required");
    }
  }
  return std::nullopt;
}

// The sampling, length, streaming, format and reasoning options.
std::optional<Error> decode_options(dom::object root, ChatRequest &r) {
  bool ptc = true;
  if (!root["parallel_tool_calls"].get_bool().get(ptc)) r.parallel_tool_calls = ptc;

  auto opt_u64 = [&](const char *k, std::optional<uint64_t> &out) -> std::optional<Error> {
    dom::element e;
    if (root[k].get(e) || e.is_null()) return std::nullopt;
    uint64_t v;
    int64_t iv;
    double dv;
    if (!e.get_uint64().get(v))
      out = v;
    else if (!e.get_int64().get(iv))
      return bad(std::string(k) + ": must not be negative");
    else if (!e.get_double().get(dv) && dv >= 0 && dv < 1.8e19 &&
             dv == static_cast<double>(static_cast<uint64_t>(dv)))
      out = static_cast<uint64_t>(dv);
    else
      return bad(std::string(k) + ": must be an integer");
    return std::nullopt;
  };
  auto opt_double = [&](const char *k, std::optional<double> &out) -> std::optional<Error> {
    dom::element e;
    if (root[k].get(e) || e.is_null()) return std::nullopt;
    double v;
    if (e.get_double().get(v)) return bad(std::string(k) + ": must be a number");
    out = v;
    return std::nullopt;
  };
  std::optional<uint64_t> max_tokens, max_completion_tokens;
  if (auto e = opt_u64("max_tokens", max_tokens)) return *e;
  if (auto e = opt_u64("max_completion_tokens", max_completion_tokens)) return *e;
  r.max_tokens = max_completion_tokens ? max_completion_tokens : max_tokens;
  if (auto e = opt_double("temperature", r.temperature)) return *e;
  if (auto e = opt_double("top_p", r.top_p)) return *e;
  if (auto e = opt_u64("n", r.n)) return *e;
  dom::element seed;
  if (!root["seed"].get(seed) && !seed.is_null()) {
    int64_t s;
    if (seed.get_int64().get(s)) return bad("seed: must be an integer");
    r.seed = s;
  }
  dom::element stop;
  if (!root["stop"].get(stop) && !stop.is_null()) {
    if (stop.is_string()) {
      r.stop.emplace_back(str_of(stop));
    } else {
      dom::array sa;
      if (stop.get_array().get(sa)) return bad("stop: must be a string or an array of strings");
      for (dom::element s : sa)
        r.stop.emplace_back(str_of(s));
    }
  }
  bool stream = false;
  if (!root["stream"].get_bool().get(stream)) r.stream = stream;
  bool iu = false;
  if (!root["stream_options"]["include_usage"].get_bool().get(iu)) r.include_usage = iu;
  dom::object rf;
  if (!root["response_format"].get_object().get(rf)) {
    r.response_format = std::string(str_of(rf["type"]));
    if (r.response_format == "json_schema") {
      dom::element schema;
      if (rf["json_schema"]["schema"].get(schema))
        return bad("response_format.json_schema.schema: is required");
      r.response_schema = raw_json(schema);
      r.response_schema_name = std::string(str_of(rf["json_schema"]["name"]));
    }
  }
  r.reasoning_effort = std::string(str_of(root["reasoning_effort"]));
  dom::object th;
  if (!root["thinking"].get_object().get(th)) {
    r.thinking_type = std::string(str_of(th["type"]));
    uint64_t b;
    if (!th["budget_tokens"].get_uint64().get(b)) r.thinking_budget = b;
  }
  r.user = std::string(str_of(root["user"]));
  return std::nullopt;
}

Result<ChatRequest> decode_openai_chat_request(std::string_view body) {
  thread_local dom::parser parser;
  dom::element doc;
  if (parser.parse(body.data(), body.size()).get(doc))
    return Error::client(400, "malformed request: failed to parse JSON for /v1/chat/completions");
  dom::object root;
  if (doc.get_object().get(root))
    return Error::client(400, "malformed request: the body must be a JSON object");
  ChatRequest r;
  r.model = std::string(str_of(root["model"]));
  dom::array messages;
  if (root["messages"].get_array().get(messages)) return bad("messages: must be an array");
  size_t mi = 0;
  for (dom::element me : messages) {
    auto m = decode_message(me, mi++, r);
    if (!m) return m.error();
    r.messages.push_back(std::move(*m));
  }
  if (auto e = decode_tools(root, r)) return *e;
  if (auto e = decode_options(root, r)) return *e;
  return r;
}

void append_openai_usage(std::string &out, const TokenUsage &u) {
  JsonOut j(out);
  j.begin_object();
  j.kv("prompt_tokens", u.input.value_or(0));
  j.kv("completion_tokens", u.output.value_or(0));
  j.kv("total_tokens", u.total.value_or(u.input.value_or(0) + u.output.value_or(0)));
  if (u.cached_input || u.cache_creation_input) {
    j.key("prompt_tokens_details").begin_object();
    j.kv("cached_tokens", u.cached_input.value_or(0));
    if (u.cache_creation_input) {
      // cache_write_tokens is OpenAI's own name (v1.2); the older name is kept beside it.
      j.kv("cache_creation_input_tokens", *u.cache_creation_input);
      j.kv("cache_write_tokens", *u.cache_creation_input);
    }
    j.end_object();
  }
  if (u.reasoning) {
    j.key("completion_tokens_details").begin_object();
    j.kv("reasoning_tokens", *u.reasoning);
    j.end_object();
  }
  j.end_object();
}

namespace {
void append_tool_calls(JsonOut &j, const std::vector<ToolCall> &calls) {
  j.key("tool_calls").begin_array();
  for (size_t i = 0; i < calls.size(); ++i) {
    const auto &c = calls[i];
    j.begin_object();
    j.kv("id", c.id).kv("type", "function");
    j.key("function").begin_object();
    j.kv("name", c.name).kv("arguments", c.arguments.empty() ? "{}" : c.arguments);
    j.end_object();
    j.end_object();
  }
  j.end_array();
}

void append_thinking_blocks(JsonOut &j, const std::vector<Part> &blocks) {
  j.key("thinking_blocks").begin_array();
  for (const auto &b : blocks) {
    j.begin_object();
    if (b.kind == Part::Kind::kRedactedThinking) {
      j.kv("type", "redacted_thinking").kv("data", b.text);
    } else {
      j.kv("type", "thinking").kv("thinking", b.text);
      if (!b.signature.empty()) j.kv("signature", b.signature);
    }
    j.end_object();
  }
  j.end_array();
}
} // namespace

std::string encode_openai_chat_response(const ChatResponse &r, int64_t created) {
  std::string out;
  out.reserve(256 + r.text.size() + r.reasoning.size());
  JsonOut j(out);
  j.begin_object();
  j.kv("id", r.id).kv("object", "chat.completion");
  j.key("created").num(created);
  j.kv("model", r.model);
  j.key("choices").begin_array().begin_object();
  j.key("index").num(uint64_t{0});
  j.key("message").begin_object();
  j.kv("role", "assistant");
  if (r.text.empty() && !r.tool_calls.empty())
    j.key("content").null();
  else
    j.kv("content", r.text);
  if (!r.reasoning.empty()) j.kv("reasoning_content", r.reasoning);
  if (!r.thinking.empty()) append_thinking_blocks(j, r.thinking);
  if (!r.tool_calls.empty()) append_tool_calls(j, r.tool_calls);
  j.end_object();
  j.kv("finish_reason", r.finish_reason.empty() ? "stop" : r.finish_reason);
  j.end_object().end_array();
  if (r.usage.any()) {
    j.key("usage");
    std::string u;
    append_openai_usage(u, r.usage);
    j.raw(u);
  }
  j.end_object();
  return out;
}

void ChunkEncoder::chunk_prefix(std::string &out) {
  out += "data: {\"id\":";
  json::append_quoted(out, id_);
  out += ",\"object\":\"chat.completion.chunk\",\"created\":";
  out += std::to_string(created_);
  out += ",\"model\":";
  json::append_quoted(out, model_);
  out += ",\"choices\":[";
}

void ChunkEncoder::ensure_role(std::string &out) {
  if (role_sent_) return;
  role_sent_ = true;
  chunk_prefix(out);
  out +=
      "{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}"
      "\n\n";
}

void ChunkEncoder::on_event(const StreamEvent &e, std::string &out) {
  if (done_) return;
  auto delta = [&](auto &&write_delta) {
    ensure_role(out);
    chunk_prefix(out);
    out += "{\"index\":0,\"delta\":{";
    write_delta();
    out += "},\"finish_reason\":null}]}\n\n";
  };
  switch (e.kind) {
  case StreamEvent::Kind::kStart:
    if (!e.id.empty() && !role_sent_) id_ = e.id;
    if (!e.model.empty() && !role_sent_) model_ = e.model;
    ensure_role(out);
    break;
  case StreamEvent::Kind::kText:
    if (e.text.empty()) break;
    delta([&] {
      out += "\"content\":";
      json::append_quoted(out, e.text);
    });
    break;
  case StreamEvent::Kind::kReasoning:
    if (e.text.empty()) break;
    delta([&] {
      out += "\"reasoning_content\":";
      json::append_quoted(out, e.text);
    });
    break;
  case StreamEvent::Kind::kSignature:
    delta([&] {
      out += "\"thinking_blocks\":[{\"type\":\"thinking\",\"thinking\":\"\",\"signature\":";
      json::append_quoted(out, e.text);
      out += "}]";
    });
    break;
  case StreamEvent::Kind::kToolCallStart:
    delta([&] {
      out += "\"tool_calls\":[{\"index\":" + std::to_string(e.index) + ",\"id\":";
      json::append_quoted(out, e.id);
      out += ",\"type\":\"function\",\"function\":{\"name\":";
      json::append_quoted(out, e.name);
      out += ",\"arguments\":\"\"}}]";
    });
    break;
  case StreamEvent::Kind::kToolCallArgs:
    if (e.text.empty()) break;
    delta([&] {
      out +=
          "\"tool_calls\":[{\"index\":" + std::to_string(e.index) + ",\"function\":{\"arguments\":";
      json::append_quoted(out, e.text);
      out += "}}]";
    });
    break;
  case StreamEvent::Kind::kFinish: finish_reason_ = e.text; break;
  case StreamEvent::Kind::kUsage: merge_usage(usage_, e.usage); break;
  case StreamEvent::Kind::kError: {
    // An error inside a stream: the OpenAI shape, as a data event the SDKs raise.
    out += "data: {\"error\":{\"type\":";
    json::append_quoted(out, e.error_type.empty() ? "error" : e.error_type);
    out += ",\"message\":";
    json::append_quoted(out, e.text);
    out += ",\"code\":null}}\n\n";
    done_ = true;
    break;
  }
  }
}

void ChunkEncoder::finish(std::string &out) {
  if (done_) return;
  ensure_role(out);
  if (!finish_sent_) {
    finish_sent_ = true;
    chunk_prefix(out);
    out += "{\"index\":0,\"delta\":{},\"finish_reason\":";
    json::append_quoted(out, finish_reason_.empty() ? "stop" : finish_reason_);
    out += "}]}\n\n";
  }
  if (include_usage_ && usage_.any()) {
    chunk_prefix(out);
    out += "],\"usage\":"; // chunk_prefix opened `choices`: it stays empty
    append_openai_usage(out, usage_);
    out += "}\n\n";
  }
  out += "data: [DONE]\n\n";
  done_ = true;
}

// --- OpenAI chat as a provider ----------------------------------------------------------------

namespace {

std::string joined_text(const std::vector<Part> &parts) {
  std::string s;
  for (const auto &p : parts)
    if (p.kind == Part::Kind::kText) s += p.text;
  return s;
}

bool has_part(const std::vector<Part> &parts, Part::Kind a, Part::Kind b) {
  for (const auto &p : parts)
    if (p.kind == a || p.kind == b) return true;
  return false;
}

void append_user_parts(JsonOut &j, const std::vector<Part> &parts) {
  j.key("content").begin_array();
  for (const auto &p : parts) {
    if (p.kind == Part::Kind::kText) {
      j.begin_object().kv("type", "text").kv("text", p.text).end_object();
    } else if (p.kind == Part::Kind::kImage) {
      j.begin_object().kv("type", "image_url").key("image_url").begin_object();
      j.kv("url", p.url.empty() ? "data:" + p.media_type + ";base64," + p.data : p.url);
      j.end_object().end_object();
    }
  }
  j.end_array();
}

// The assistant's content as parts, so thinking blocks and their signatures survive (upstream's
// shape: thinking {text, signature}, redacted_thinking {redactedContent}).
void append_assistant_parts(JsonOut &j, const std::vector<Part> &parts) {
  j.key("content").begin_array();
  for (const auto &p : parts) {
    j.begin_object();
    switch (p.kind) {
    case Part::Kind::kThinking:
      j.kv("type", "thinking").kv("text", p.text).kv("signature", p.signature);
      break;
    case Part::Kind::kRedactedThinking:
      j.kv("type", "redacted_thinking").kv("redactedContent", p.text);
      break;
    case Part::Kind::kText:
    case Part::Kind::kImage: j.kv("type", "text").kv("text", p.text); break;
    }
    j.end_object();
  }
  j.end_array();
}

void append_chat_message(JsonOut &j, const Message &m) {
  using Role = Message::Role;
  bool thinking = has_part(m.parts, Part::Kind::kThinking, Part::Kind::kRedactedThinking);
  bool images = has_part(m.parts, Part::Kind::kImage, Part::Kind::kImage);
  std::string text = joined_text(m.parts);
  switch (m.role) {
  case Role::kSystem:
    if (text.empty()) return;
    j.begin_object().kv("role", "system").kv("content", text).end_object();
    return;
  case Role::kUser:
    if (images) {
      j.begin_object().kv("role", "user");
      append_user_parts(j, m.parts);
      j.end_object();
    } else if (!text.empty()) {
      j.begin_object().kv("role", "user").kv("content", text).end_object();
    }
    return;
  case Role::kTool:
    j.begin_object().kv("role", "tool").kv("tool_call_id", m.tool_call_id).kv("content", text);
    j.end_object();
    return;
  case Role::kAssistant:
    j.begin_object().kv("role", "assistant");
    if (thinking)
      append_assistant_parts(j, m.parts);
    else if (!text.empty())
      j.kv("content", text);
    else
      j.key("content").null();
    if (!m.tool_calls.empty()) append_tool_calls(j, m.tool_calls);
    j.end_object();
    return;
  }
}

void append_chat_tools(JsonOut &j, const ChatRequest &r) {
  j.key("tools").begin_array();
  for (const auto &t : r.tools) {
    j.begin_object().kv("type", "function").key("function").begin_object().kv("name", t.name);
    if (!t.description.empty()) j.kv("description", t.description);
    if (!t.parameters.empty()) j.kv_raw("parameters", t.parameters);
    j.end_object().end_object();
  }
  j.end_array();
  if (r.tool_choice == "function") {
    j.key("tool_choice").begin_object().kv("type", "function").key("function").begin_object();
    j.kv("name", r.tool_choice_name).end_object().end_object();
  } else if (!r.tool_choice.empty()) {
    j.kv("tool_choice", r.tool_choice);
  }
  if (!r.parallel_tool_calls) j.kv_bool("parallel_tool_calls", false);
}

} // namespace

std::string encode_openai_chat_request(const ChatRequest &r) {
  std::string out;
  out.reserve(512);
  JsonOut j(out);
  j.begin_object().key("messages").begin_array();
  for (const auto &m : r.messages)
    append_chat_message(j, m);
  j.end_array();
  j.kv("model", r.model);
  if (r.max_tokens) j.kv("max_completion_tokens", *r.max_tokens);
  if (r.temperature) j.kv("temperature", *r.temperature);
  if (r.top_p) j.kv("top_p", *r.top_p);
  if (r.stream) {
    j.kv_bool("stream", true);
    j.key("stream_options").begin_object().kv_bool("include_usage", true).end_object();
  }
  if (!r.tools.empty()) append_chat_tools(j, r);
  if (!r.stop.empty()) {
    j.key("stop").begin_array();
    for (const auto &s : r.stop)
      j.str(s);
    j.end_array();
  }
  if (!r.thinking_type.empty()) {
    j.key("thinking").begin_object();
    if (r.thinking_type == "enabled") j.kv("budget_tokens", r.thinking_budget.value_or(0));
    j.kv("type", r.thinking_type).end_object();
  }
  if (!r.user.empty()) j.kv("user", r.user);
  j.end_object();
  return out;
}

namespace {

// thinking_blocks (LiteLLM's convention), else reasoning_content: a string, or Bedrock's
// {reasoningContent: {reasoningText: {text, signature}, redactedContent}} as upstream reads it.
void decode_reasoning(dom::element msg, ChatResponse &r) {
  dom::array blocks;
  if (!msg["thinking_blocks"].get_array().get(blocks) && blocks.size() > 0) {
    for (dom::element b : blocks) {
      std::string_view type = str_of(b["type"]);
      Part p;
      if (type == "thinking") {
        p.kind = Part::Kind::kThinking;
        p.text = std::string(str_of(b["thinking"]));
        p.signature = std::string(str_of(b["signature"]));
        r.reasoning += p.text;
      } else if (type == "redacted_thinking") {
        p.kind = Part::Kind::kRedactedThinking;
        p.text = std::string(str_of(b["data"]));
      } else {
        continue;
      }
      r.thinking.push_back(std::move(p));
    }
    return;
  }
  dom::element rc;
  if (msg["reasoning_content"].get(rc)) return;
  if (rc.is_string()) {
    if (str_of(rc).empty()) return;
    Part p;
    p.kind = Part::Kind::kThinking;
    p.text = std::string(str_of(rc));
    r.reasoning = p.text;
    r.thinking.push_back(std::move(p));
    return;
  }
  dom::element inner;
  if (rc["reasoningContent"].get(inner)) return;
  dom::element text;
  if (!inner["reasoningText"].get(text)) {
    Part p;
    p.kind = Part::Kind::kThinking;
    p.text = std::string(str_of(text["text"]));
    p.signature = std::string(str_of(text["signature"]));
    r.reasoning = p.text;
    r.thinking.push_back(std::move(p));
  }
  std::string_view redacted = str_of(inner["redactedContent"]);
  if (!redacted.empty()) {
    Part p;
    p.kind = Part::Kind::kRedactedThinking;
    p.text = std::string(redacted);
    r.thinking.push_back(std::move(p));
  }
}

// As upstream counts a chat answer for an Anthropic client: prompt and completion tokens only.
TokenUsage chat_usage(dom::element u, bool zero_cache) {
  uint64_t in = u64_of(u["prompt_tokens"]), out = u64_of(u["completion_tokens"]);
  TokenUsage t;
  t.input = in;
  t.output = out;
  t.total = in + out;
  if (zero_cache) {
    t.cached_input = 0;
    t.cache_creation_input = 0;
  }
  return t;
}

} // namespace

Result<ChatResponse> decode_openai_chat_response(std::string_view body,
                                                 std::string_view request_model) {
  thread_local dom::parser parser;
  dom::element doc;
  if (parser.parse(body.data(), body.size()).get(doc) || !doc.is_object())
    return Error::upstream(502, "the OpenAI response is not valid JSON", false);
  ChatResponse r;
  r.id = std::string(str_of(doc["id"]));
  r.model = std::string(str_of(doc["model"]));
  if (r.model.empty()) r.model = std::string(request_model);
  dom::array choices;
  if (!doc["choices"].get_array().get(choices) && choices.size() > 0) {
    dom::element choice = choices.at(0);
    dom::element msg;
    if (!choice["message"].get(msg) && msg.is_object()) {
      decode_reasoning(msg, r);
      r.text = std::string(str_of(msg["content"]));
      dom::array calls;
      if (!msg["tool_calls"].get_array().get(calls)) {
        for (dom::element c : calls) {
          ToolCall tc;
          tc.id = std::string(str_of(c["id"]));
          tc.name = std::string(str_of(c["function"]["name"]));
          tc.arguments = std::string(str_of(c["function"]["arguments"]));
          r.tool_calls.push_back(std::move(tc));
        }
      }
    }
    r.finish_reason = std::string(str_of(choice["finish_reason"]));
    if (r.finish_reason.empty()) r.finish_reason = "stop";
  }
  // Always counted, zero when absent, as upstream.
  dom::element u;
  if (!doc["usage"].get(u) && u.is_object()) {
    r.usage = chat_usage(u, false);
  } else {
    r.usage.input = r.usage.output = r.usage.total = 0;
  }
  return r;
}

void ChunkDecoder::feed(std::string_view bytes, std::vector<StreamEvent> &out) {
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
}

void ChunkDecoder::finish(std::vector<StreamEvent> &out) {
  feed("\n\n", out); // a last line without its terminator, and its event
  if (!data_.empty()) on_data(data_, out);
  data_.clear();
  if (!failed_ && !usage_sent_ && pending_usage_) {
    usage_sent_ = true;
    StreamEvent e(StreamEvent::Kind::kUsage);
    e.usage = *pending_usage_;
    out.push_back(std::move(e));
  }
}

void ChunkDecoder::on_data(std::string_view json, std::vector<StreamEvent> &out) {
  while (!json.empty() && (json.back() == ' ' || json.back() == '\n' || json.back() == '\r'))
    json.remove_suffix(1);
  if (failed_ || json.empty() || json == "[DONE]") return;
  thread_local dom::parser parser;
  dom::element doc;
  if (parser.parse(json.data(), json.size()).get(doc) || !doc.is_object()) return;
  dom::element err;
  if (!doc["error"].get(err) && err.is_object()) {
    // How OpenAI-compatible servers fail once the 200 is sent.
    failed_ = true;
    StreamEvent e(StreamEvent::Kind::kError, std::string(str_of(err["message"])));
    e.error_type = std::string(str_of(err["type"]));
    out.push_back(std::move(e));
    return;
  }
  if (id_.empty()) id_ = std::string(str_of(doc["id"]));
  if (model_.empty()) model_ = std::string(str_of(doc["model"]));
  dom::element u;
  bool usage = !doc["usage"].get(u) && u.is_object();
  dom::array choices;
  if (doc["choices"].get_array().get(choices) || choices.size() == 0) {
    if (usage && !usage_sent_) {
      usage_sent_ = true;
      StreamEvent e(StreamEvent::Kind::kUsage);
      e.usage = chat_usage(u, true);
      out.push_back(std::move(e));
    }
    return;
  }
  if (usage) pending_usage_ = chat_usage(u, true);
  dom::element choice = choices.at(0);
  dom::element delta;
  if (!choice["delta"].get(delta) && delta.is_object()) {
    if (!started_) {
      started_ = true;
      StreamEvent e(StreamEvent::Kind::kStart);
      e.id = id_;
      e.model = model_;
      out.push_back(std::move(e));
    }
    std::string_view reasoning = str_of(delta["reasoning_content"]);
    if (!reasoning.empty())
      out.push_back(StreamEvent(StreamEvent::Kind::kReasoning, std::string(reasoning)));
    dom::array blocks;
    if (!delta["thinking_blocks"].get_array().get(blocks)) {
      for (dom::element b : blocks) {
        std::string_view t = str_of(b["thinking"]), sig = str_of(b["signature"]);
        if (!t.empty()) out.push_back(StreamEvent(StreamEvent::Kind::kReasoning, std::string(t)));
        if (!sig.empty())
          out.push_back(StreamEvent(StreamEvent::Kind::kSignature, std::string(sig)));
      }
    }
    std::string_view content = str_of(delta["content"]);
    if (!content.empty())
      out.push_back(StreamEvent(StreamEvent::Kind::kText, std::string(content)));
    dom::array calls;
    if (!delta["tool_calls"].get_array().get(calls)) {
      for (dom::element c : calls) {
        int64_t index = 0;
        if (c["index"].get_int64().get(index)) index = 0;
        if (std::find(tools_.begin(), tools_.end(), index) == tools_.end()) {
          tools_.push_back(index);
          StreamEvent e(StreamEvent::Kind::kToolCallStart);
          e.index = static_cast<int>(index);
          e.id = std::string(str_of(c["id"]));
          e.name = std::string(str_of(c["function"]["name"]));
          out.push_back(std::move(e));
        }
        std::string_view args = str_of(c["function"]["arguments"]);
        if (args.empty()) continue;
        StreamEvent e(StreamEvent::Kind::kToolCallArgs, std::string(args));
        e.index = static_cast<int>(index);
        out.push_back(std::move(e));
      }
    }
  }
  std::string_view finish = str_of(choice["finish_reason"]);
  if (!finish.empty()) out.push_back(StreamEvent(StreamEvent::Kind::kFinish, std::string(finish)));
}

} // namespace aigw::translate
