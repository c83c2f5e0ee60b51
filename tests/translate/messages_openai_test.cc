// The Anthropic Messages API to OpenAI chat completions backends: the request mapping, the
// answer, the stream state machine (whatever the provider's chunk split), a tool round trip and
// errors in Anthropic's shape.
#include "../control/config_test_util.h"
#include "pipeline/exchange.h"
#include "translate/anthropic_messages.h"
#include "translate/messages.h"
#include "translate/openai_chat.h"

#include <gtest/gtest.h>
#include <simdjson.h>

namespace aigw::translate {
namespace {

namespace dom = simdjson::dom;
using pipeline::Endpoint;

struct Translated {
  std::unique_ptr<Translator> t;
  UpstreamRequest u;
  std::string body;
};

Translated translate_request(const std::string &body, Schema schema = Schema::kOpenAI,
                             std::string_view model = {}) {
  auto parsed = pipeline::parse_request_body(Endpoint::kMessages, body);
  EXPECT_TRUE(parsed) << body;
  Translated out;
  out.t = make_translator(schema, Endpoint::kMessages);
  TranslateInput in;
  in.endpoint = Endpoint::kMessages;
  in.body = body;
  in.parsed = &*parsed;
  in.model = model.empty() ? std::string_view(parsed->model) : model;
  in.path_prefix = "/v1";
  in.version = "2025-01-01-preview";
  auto u = out.t->request(in);
  EXPECT_TRUE(u) << (u ? "" : u.error().message);
  if (!u) return out;
  out.u = std::move(*u);
  out.body = out.u.body.value_or("");
  return out;
}

// JSON text with its keys sorted, so two documents compare by meaning.
std::string canonical(dom::element e) {
  std::string s;
  switch (e.type()) {
  case dom::element_type::OBJECT: {
    std::vector<std::pair<std::string, std::string>> kv;
    for (auto [k, v] : dom::object(e))
      kv.emplace_back(std::string(k), canonical(v));
    std::sort(kv.begin(), kv.end());
    s = "{";
    for (size_t i = 0; i < kv.size(); ++i)
      s += (i ? "," : "") + ("\"" + kv[i].first + "\":") + kv[i].second;
    return s + "}";
  }
  case dom::element_type::ARRAY: {
    s = "[";
    bool first = true;
    for (dom::element v : dom::array(e)) {
      s += (first ? "" : ",") + canonical(v);
      first = false;
    }
    return s + "]";
  }
  default: return simdjson::minify(e);
  }
}

std::string canonical(std::string_view json) {
  dom::parser p;
  dom::element e;
  if (p.parse(json.data(), json.size()).get(e)) return "not JSON: " + std::string(json);
  return canonical(e);
}

#define EXPECT_JSON_EQ(a, b) EXPECT_EQ(canonical(a), canonical(b))

TEST(MessagesToOpenAI, TheRequestAsUpstreamMapsIt) {
  auto t = translate_request(R"({
    "model": "claude-test", "max_tokens": 300, "temperature": 0.5, "top_p": 0.9, "top_k": 5,
    "stop_sequences": ["END", "STOP"], "metadata": {"user_id": "u-1"},
    "system": [{"type": "text", "text": "be brief. "}, {"type": "text", "text": "be kind.",
                "cache_control": {"type": "ephemeral"}}],
    "messages": [
      {"role": "user", "content": [
        {"type": "text", "text": "what is in "},
        {"type": "text", "text": "these pictures?"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBOR"}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}}]},
      {"role": "assistant", "content": [
        {"type": "text", "text": "Let me check the weather."},
        {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"location": "Paris"}}]},
      {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"},
        {"type": "text", "text": "and tomorrow?"}]},
      {"role": "assistant", "content": "I do not know."},
      {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "toolu_2",
         "content": [{"type": "text", "text": "a "}, {"type": "text", "text": "b"}]}]}
    ],
    "tools": [
      {"type": "custom", "name": "get_weather", "description": "Weather",
       "input_schema": {"type": "object", "properties": {"location": {"type": "string"}}}},
      {"name": "no_type"},
      {"type": "web_search_20250305", "name": "web_search"}
    ],
    "tool_choice": {"type": "tool", "name": "get_weather", "disable_parallel_tool_use": true}
  })",
                             Schema::kOpenAI, "gpt-4o");
  EXPECT_EQ(t.u.path, "/v1/chat/completions");
  EXPECT_JSON_EQ(t.body, R"({
    "model": "gpt-4o", "max_completion_tokens": 300, "temperature": 0.5, "top_p": 0.9,
    "stop": ["END", "STOP"], "user": "u-1",
    "messages": [
      {"role": "system", "content": "be brief. be kind."},
      {"role": "user", "content": [
        {"type": "text", "text": "what is in "}, {"type": "text", "text": "these pictures?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBOR"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}}]},
      {"role": "assistant", "content": "Let me check the weather.", "tool_calls": [
        {"id": "toolu_1", "type": "function",
         "function": {"name": "get_weather", "arguments": "{\"location\":\"Paris\"}"}}]},
      {"role": "tool", "tool_call_id": "toolu_1", "content": "sunny"},
      {"role": "user", "content": "and tomorrow?"},
      {"role": "assistant", "content": "I do not know."},
      {"role": "tool", "tool_call_id": "toolu_2", "content": "a b"}
    ],
    "tools": [
      {"type": "function", "function": {"name": "get_weather", "description": "Weather",
       "parameters": {"type": "object", "properties": {"location": {"type": "string"}}}}},
      {"type": "function", "function": {"name": "no_type"}}
    ],
    "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
    "parallel_tool_calls": false
  })");
}

TEST(MessagesToOpenAI, StreamingToolChoicesAndThinking) {
  auto t = translate_request(
      R"({"model":"m","max_tokens":10,"stream":true,"messages":[{"role":"user","content":"hi"}],
          "thinking":{"type":"enabled","budget_tokens":2048},
          "tools":[{"name":"f","input_schema":{"type":"object"}}],"tool_choice":{"type":"any"}})");
  EXPECT_JSON_EQ(t.body, R"({"model":"m","max_completion_tokens":10,"stream":true,
    "stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}],
    "thinking":{"type":"enabled","budget_tokens":2048},
    "tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}],
    "tool_choice":"required"})");
  for (auto [anthropic, openai] : {std::pair{"auto", "\"auto\""}, {"none", "\"none\""}}) {
    auto c = translate_request(
        std::string(R"({"model":"m","max_tokens":1,"tool_choice":{"type":")") + anthropic +
        R"("},"tools":[{"name":"f"}],"messages":[{"role":"user","content":"x"}]})");
    EXPECT_NE(c.body.find(std::string("\"tool_choice\":") + openai), std::string::npos) << c.body;
  }
  // Without tools, no tool_choice; without stream, no stream_options.
  auto plain = translate_request(
      R"({"model":"m","max_tokens":1,"tool_choice":{"type":"auto"},"messages":[{"role":"user","content":"x"}]})");
  EXPECT_JSON_EQ(
      plain.body,
      R"({"model":"m","max_completion_tokens":1,"messages":[{"role":"user","content":"x"}]})");
}

TEST(MessagesToOpenAI, ThinkingBlocksKeepTheirSignaturesInTheAssistantsParts) {
  auto t = translate_request(R"({"model":"m","max_tokens":1,"messages":[
    {"role":"user","content":"q"},
    {"role":"assistant","content":[
      {"type":"thinking","thinking":"hmm","signature":"sig=="},
      {"type":"redacted_thinking","data":"opaque"},
      {"type":"text","text":"answer"}]},
    {"role":"user","content":"more"}]})");
  EXPECT_JSON_EQ(t.body, R"({"model":"m","max_completion_tokens":1,"messages":[
    {"role":"user","content":"q"},
    {"role":"assistant","content":[
      {"type":"thinking","text":"hmm","signature":"sig=="},
      {"type":"redacted_thinking","redactedContent":"opaque"},
      {"type":"text","text":"answer"}]},
    {"role":"user","content":"more"}]})");
}

TEST(MessagesToOpenAI, AzureGetsItsDeploymentPath) {
  auto t = translate_request(
      R"({"model":"gpt-4o","max_tokens":1,"messages":[{"role":"user","content":"x"}]})",
      Schema::kAzureOpenAI);
  EXPECT_EQ(t.u.path, "/openai/deployments/gpt-4o/chat/completions?api-version=2025-01-01-preview");
  EXPECT_NE(t.body.find("\"model\":\"gpt-4o\""), std::string::npos);
  EXPECT_TRUE(schema_serves(Schema::kOpenAI, Endpoint::kMessages));
  EXPECT_TRUE(schema_serves(Schema::kAzureOpenAI, Endpoint::kMessages));
  EXPECT_FALSE(schema_serves(Schema::kOpenAI, Endpoint::kMessagesCountTokens));
  EXPECT_FALSE(schema_serves(Schema::kAzureOpenAI, Endpoint::kMessagesCountTokens));
}

TEST(MessagesToOpenAI, MalformedRequestsNameTheField) {
  auto bad = [](const std::string &body) {
    auto parsed = pipeline::parse_request_body(Endpoint::kMessages, body);
    EXPECT_TRUE(parsed);
    auto t = make_translator(Schema::kOpenAI, Endpoint::kMessages);
    TranslateInput in;
    in.endpoint = Endpoint::kMessages;
    in.body = body;
    in.parsed = &*parsed;
    in.model = "m";
    auto u = t->request(in);
    EXPECT_FALSE(u) << body;
    return u ? std::string() : u.error().message;
  };
  EXPECT_NE(bad(R"({"model":"m","messages":{}})").find("messages"), std::string::npos);
  EXPECT_NE(bad(R"({"model":"m","messages":[{"role":"robot","content":"x"}]})").find("role"),
            std::string::npos);
  EXPECT_NE(bad(R"({"model":"m","messages":[{"role":"user"}]})").find("content"),
            std::string::npos);
  EXPECT_NE(bad(R"({"model":"m","max_tokens":-1,"messages":[]})").find("max_tokens"),
            std::string::npos);
  EXPECT_NE(
      bad(R"({"model":"m","tool_choice":{"type":"sometimes"},"messages":[]})").find("tool_choice"),
      std::string::npos);
}

TEST(MessagesToOpenAI, TheAnswerAsAnAnthropicMessage) {
  auto t = translate_request(R"({"model":"claude-test","max_tokens":9,"messages":[]})");
  ASSERT_TRUE(t.t->rewrites_response());
  auto out = t.t->response_body(
      R"({"id":"chatcmpl-1","model":"gpt-4o","choices":[{"message":{"role":"assistant",
          "content":"Here.","reasoning_content":"thought",
          "tool_calls":[{"id":"call_1","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}},
                        {"id":"call_2","type":"function","function":{"name":"g","arguments":"{\"cut"}}]},
          "finish_reason":"tool_calls"}],"usage":{"prompt_tokens":50,"completion_tokens":15,
          "prompt_tokens_details":{"cached_tokens":40}}})");
  ASSERT_TRUE(out);
  EXPECT_JSON_EQ(*out, R"({"id":"chatcmpl-1","type":"message","role":"assistant","model":"gpt-4o",
    "content":[{"type":"thinking","thinking":"thought","signature":""},{"type":"text","text":"Here."},
      {"type":"tool_use","id":"call_1","name":"f","input":{"a":1}},
      {"type":"tool_use","id":"call_2","name":"g","input":{}}],
    "stop_reason":"tool_use","usage":{"cache_creation_input_tokens":0,"cache_read_input_tokens":0,
      "input_tokens":50,"output_tokens":15}})");
  // As upstream: the prompt and completion tokens; OpenAI's cached tokens are not counted apart.
  EXPECT_EQ(t.t->usage().input, 50u);
  EXPECT_EQ(t.t->usage().output, 15u);
  EXPECT_EQ(t.t->usage().total, 65u);
  EXPECT_FALSE(t.t->usage().cached_input);
  EXPECT_EQ(t.t->response_model(), "gpt-4o");

  // No id, model or usage: the request's model, zero usage; no choice: no stop_reason.
  out = t.t->response_body(R"({"choices":[{"message":{"content":"hi"}}]})");
  ASSERT_TRUE(out);
  EXPECT_JSON_EQ(*out, R"({"id":"","type":"message","role":"assistant","model":"claude-test",
    "content":[{"type":"text","text":"hi"}],"stop_reason":"end_turn","usage":{
    "cache_creation_input_tokens":0,"cache_read_input_tokens":0,"input_tokens":0,"output_tokens":0}})");
  out = t.t->response_body(R"({"id":"x","choices":[]})");
  ASSERT_TRUE(out);
  EXPECT_EQ(out->find("stop_reason"), std::string::npos) << *out;
  EXPECT_FALSE(t.t->response_body("not json"));
}

TEST(MessagesToOpenAI, FinishReasonsAsUpstreamMapsThem) {
  EXPECT_EQ(anthropic_stop_reason("stop"), "end_turn");
  EXPECT_EQ(anthropic_stop_reason("length"), "max_tokens");
  EXPECT_EQ(anthropic_stop_reason("tool_calls"), "tool_use");
  EXPECT_EQ(anthropic_stop_reason("content_filter"), "refusal");
  EXPECT_EQ(anthropic_stop_reason("function_call"), "end_turn");
}

TEST(MessagesToOpenAI, ThinkingBlocksOfTheAnswerWinOverReasoningContent) {
  auto t = translate_request(R"({"model":"m","max_tokens":9,"messages":[]})");
  auto out = t.t->response_body(
      R"({"choices":[{"message":{"content":"ok","reasoning_content":"ignored","thinking_blocks":[
        {"type":"thinking","thinking":"step","signature":"s1"},{"type":"redacted_thinking","data":"r"}]},
        "finish_reason":"length"}]})");
  ASSERT_TRUE(out);
  EXPECT_NE(out->find(R"("content":[{"type":"thinking","thinking":"step","signature":"s1"},)"
                      R"({"type":"redacted_thinking","data":"r"},{"type":"text","text":"ok"}])"),
            std::string::npos)
      << *out;
  EXPECT_NE(out->find(R"("stop_reason":"max_tokens")"), std::string::npos);
}

// The chunks of an OpenAI stream, as `data:` events.
std::string openai_sse(const std::vector<std::string> &chunks) {
  std::string s;
  for (const auto &c : chunks)
    s += "data: " + c + "\n\n";
  return s + "data: [DONE]\n\n";
}

std::string run_stream(const std::string &wire, const std::vector<size_t> &cuts,
                       Translator **keep = nullptr) {
  static thread_local Translated t;
  t = translate_request(R"({"model":"claude-test","max_tokens":9,"stream":true,"messages":[]})");
  std::string out;
  size_t at = 0;
  for (size_t c : cuts) {
    t.t->stream_chunk(std::string_view(wire).substr(at, c - at), out);
    at = c;
  }
  t.t->stream_chunk(std::string_view(wire).substr(at), out);
  t.t->stream_end(out);
  if (keep) *keep = t.t.get();
  return out;
}

const std::vector<std::string> kTextChunks = {
    R"({"id":"chatcmpl-stream","model":"gpt-4o","choices":[{"index":0,"delta":{"role":"assistant","content":"Hi"},"finish_reason":null}],"usage":null})",
    R"({"id":"chatcmpl-stream","model":"gpt-4o","choices":[{"index":0,"delta":{"content":" there!"},"finish_reason":null}],"usage":null})",
    R"({"id":"chatcmpl-stream","model":"gpt-4o","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null})",
    R"({"id":"chatcmpl-stream","model":"gpt-4o","choices":[],"usage":{"prompt_tokens":10,"completion_tokens":3}})",
};

TEST(MessagesToOpenAI, TheTextStreamAsUpstreamWritesIt) {
  Translator *t = nullptr;
  std::string out = run_stream(openai_sse(kTextChunks), {}, &t);
  EXPECT_EQ(
      out,
      "event: message_start\ndata: "
      R"({"type":"message_start","message":{"id":"chatcmpl-stream","type":"message","role":"assistant","content":[],"model":"gpt-4o","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":0,"output_tokens":0}}})"
      "\n\nevent: content_block_start\ndata: "
      R"({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}})"
      "\n\nevent: content_block_delta\ndata: "
      R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}})"
      "\n\nevent: content_block_delta\ndata: "
      R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" there!"}})"
      "\n\nevent: content_block_stop\ndata: "
      R"({"type":"content_block_stop","index":0})"
      "\n\nevent: message_delta\ndata: "
      R"({"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"input_tokens":10,"output_tokens":3}})"
      "\n\nevent: message_stop\ndata: "
      R"({"type":"message_stop"})"
      "\n\n");
  EXPECT_EQ(t->usage().input, 10u);
  EXPECT_EQ(t->usage().output, 3u);
  EXPECT_EQ(t->usage().total, 13u);
  EXPECT_EQ(t->usage().cached_input, 0u);
  EXPECT_EQ(t->response_model(), "gpt-4o");
}

const std::vector<std::string> kMixedChunks = {
    // Azure's first chunk: no choices, no id or model.
    R"({"choices":[],"created":0,"id":"","model":"","object":"","prompt_filter_results":[]})",
    R"({"id":"c1","model":"m-2","choices":[{"index":0,"delta":{"role":"assistant","reasoning_content":"think"},"finish_reason":null}]})",
    R"({"id":"c1","model":"m-2","choices":[{"index":0,"delta":{"thinking_blocks":[{"type":"thinking","thinking":"","signature":"sig"}]},"finish_reason":null}]})",
    R"({"id":"c1","model":"m-2","choices":[{"index":0,"delta":{"content":"Let me look. ","refusal":null},"finish_reason":null}]})",
    R"({"id":"c1","model":"m-2","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_a","type":"function","function":{"name":"get_weather","arguments":""}}]},"finish_reason":null}]})",
    R"({"id":"c1","model":"m-2","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"location\":"}}]},"finish_reason":null}]})",
    R"({"id":"c1","model":"m-2","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"Paris\"}"}}]},"finish_reason":null}]})",
    R"({"id":"c1","model":"m-2","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_b","type":"function","function":{"name":"get_time","arguments":"{}"}}]},"finish_reason":null}]})",
    R"({"id":"c1","model":"m-2","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]})",
    R"({"id":"c1","model":"m-2","choices":[],"usage":{"prompt_tokens":50,"completion_tokens":15,"total_tokens":65}})",
};

// "event: <type>" lines, in order, and the data lines' JSON.
std::vector<std::string> event_types(const std::string &sse) {
  std::vector<std::string> out;
  size_t at = 0;
  while ((at = sse.find("event: ", at)) != std::string::npos) {
    size_t nl = sse.find('\n', at);
    out.push_back(sse.substr(at + 7, nl - at - 7));
    at = nl;
  }
  return out;
}

TEST(MessagesToOpenAI, ThinkingTextAndToolBlocksOneAtATime) {
  std::string out = run_stream(openai_sse(kMixedChunks), {});
  EXPECT_EQ(
      event_types(out),
      (std::vector<std::string>{"message_start", "content_block_start", "content_block_delta",
                                "content_block_delta", "content_block_stop", "content_block_start",
                                "content_block_delta", "content_block_stop", "content_block_start",
                                "content_block_delta", "content_block_delta", "content_block_stop",
                                "content_block_start", "content_block_delta", "content_block_stop",
                                "message_delta", "message_stop"}));
  for (
      const char *piece : {
          R"("message":{"id":"c1","type":"message","role":"assistant","content":[],"model":"m-2",)",
          R"({"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":""}})",
          R"({"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"think"}})",
          R"({"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"sig"}})",
          R"({"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}})",
          R"({"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"call_a","name":"get_weather","input":{}}})",
          R"({"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{\"location\":"}})",
          R"({"type":"content_block_start","index":3,"content_block":{"type":"tool_use","id":"call_b","name":"get_time","input":{}}})",
          R"({"type":"content_block_stop","index":3})",
          R"("delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"input_tokens":50,"output_tokens":15}})",
      })
    EXPECT_NE(out.find(piece), std::string::npos) << piece << "\nin\n" << out;
}

TEST(MessagesToOpenAI, TheStreamIsTheSameWhateverTheChunkSplit) {
  std::string wire = openai_sse(kMixedChunks);
  std::string whole = run_stream(wire, {});
  for (size_t cut = 1; cut < wire.size(); ++cut)
    ASSERT_EQ(run_stream(wire, {cut}), whole) << "split at " << cut;
  std::vector<size_t> bytes;
  for (size_t i = 1; i < wire.size(); ++i)
    bytes.push_back(i);
  EXPECT_EQ(run_stream(wire, bytes), whole);
  // CRLF framing, and a last event without its blank line.
  std::string crlf;
  for (char c : wire)
    crlf += c == '\n' ? std::string("\r\n") : std::string(1, c);
  EXPECT_EQ(run_stream(crlf, {}), whole);
  std::string unterminated = openai_sse(kMixedChunks);
  unterminated.resize(unterminated.size() - std::string("\n\ndata: [DONE]\n\n").size());
  EXPECT_EQ(run_stream(unterminated, {}), whole);
}

TEST(MessagesToOpenAI, AStreamWithoutAUsageChunkStillCloses) {
  // The usage on the last chunk with choices (some compatible servers), no [DONE].
  std::string wire =
      "data: "
      R"({"id":"c","model":"m","choices":[{"index":0,"delta":{"content":"x"},"finish_reason":"length"}],"usage":{"prompt_tokens":4,"completion_tokens":1}})"
      "\n\n";
  Translator *t = nullptr;
  std::string out = run_stream(wire, {}, &t);
  EXPECT_EQ(event_types(out).back(), "message_stop");
  EXPECT_NE(out.find(R"("stop_reason":"max_tokens")"), std::string::npos) << out;
  EXPECT_NE(out.find(R"("usage":{"input_tokens":4,"output_tokens":1})"), std::string::npos);
  EXPECT_EQ(t->usage().input, 4u);
  // Nothing at all: a well-formed, empty message.
  out = run_stream("", {});
  EXPECT_EQ(event_types(out),
            (std::vector<std::string>{"message_start", "message_delta", "message_stop"}));
}

TEST(MessagesToOpenAI, AnErrorInsideTheStreamIsAnAnthropicErrorEvent) {
  std::string wire =
      "data: " + kTextChunks[0] + "\n\n" +
      R"(data: {"error":{"message":"The server had an error","type":"server_error","param":null,"code":null}})"
      "\n\n";
  std::string out = run_stream(wire, {});
  auto types = event_types(out);
  ASSERT_FALSE(types.empty());
  EXPECT_EQ(types.back(), "error");
  EXPECT_NE(
      out.find(
          R"(data: {"type":"error","error":{"type":"server_error","message":"The server had an error"}})"),
      std::string::npos)
      << out;
  EXPECT_EQ(out.find("message_stop"), std::string::npos);
}

TEST(MessagesToOpenAI, AToolRoundTrip) {
  // The streamed tool use, as the Anthropic SDK assembles it ...
  std::string out = run_stream(openai_sse(kMixedChunks), {});
  std::string args;
  for (size_t at = 0; (at = out.find("data: ", at)) != std::string::npos;) {
    size_t nl = out.find('\n', at);
    std::string data = out.substr(at + 6, nl - at - 6);
    at = nl;
    dom::parser p;
    dom::element e;
    ASSERT_FALSE(p.parse(data).get(e)) << data;
    std::string_view type, partial;
    uint64_t index = 0;
    if (e["type"].get(type) || type != "content_block_delta" || e["index"].get(index) ||
        index != 2 || e["delta"]["partial_json"].get(partial))
      continue;
    args += partial;
  }
  EXPECT_EQ(args, R"({"location":"Paris"})");
  // ... sent back with its result: the assistant's tool call and a tool message follow.
  auto t = translate_request(std::string(R"({"model":"m","max_tokens":5,"messages":[
    {"role":"user","content":"weather?"},
    {"role":"assistant","content":[{"type":"tool_use","id":"call_a","name":"get_weather","input":)") +
                             args + R"(}]},
    {"role":"user","content":[{"type":"tool_result","tool_use_id":"call_a","content":"sunny"}]}]})");
  EXPECT_JSON_EQ(t.body, R"({"model":"m","max_completion_tokens":5,"messages":[
    {"role":"user","content":"weather?"},
    {"role":"assistant","content":null,"tool_calls":[{"id":"call_a","type":"function",
      "function":{"name":"get_weather","arguments":"{\"location\":\"Paris\"}"}}]},
    {"role":"tool","tool_call_id":"call_a","content":"sunny"}]})");
}

TEST(MessagesToOpenAI, ErrorsInAnthropicsShape) {
  auto t = translate_request(R"({"model":"m","max_tokens":5,"messages":[]})");
  auto [body, ct] = t.t->error_body(
      400, "application/json", "",
      R"({"error":{"type":"invalid_request_error","message":"Model not found","code":"model_not_found"}})");
  EXPECT_EQ(ct, "application/json");
  EXPECT_JSON_EQ(body, R"({"type":"error","error":{"type":"invalid_request_error",
    "message":"Model not found"},"request_id":""})");
  // Azure's errors may carry no type: the status names it.
  EXPECT_JSON_EQ(t.t->error_body(429, "application/json; charset=utf-8", "",
                                 R"({"error":{"code":"429","message":"slow down"}})")
                     .first,
                 R"({"type":"error","error":{"type":"rate_limit_error","message":"slow down"},
                    "request_id":""})");
  EXPECT_JSON_EQ(t.t->error_body(503, "text/plain", "", "upstream connect error").first,
                 R"({"type":"error","error":{"type":"service_unavailable_error",
                    "message":"upstream connect error"},"request_id":""})");
  EXPECT_JSON_EQ(t.t->error_body(500, "application/json", "", R"({"detail":"boom"})").first,
                 R"({"type":"error","error":{"type":"internal_server_error",
                    "message":"{\"detail\":\"boom\"}"},"request_id":""})");
}

} // namespace
} // namespace aigw::translate

namespace aigw::pipeline {
namespace {

TEST(ExchangeMessagesToOpenAI, RoutedToAnOpenAIBackendAndTranslatedBack) {
  auto r = control::testing::load(R"(
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIGatewayRoute
metadata: {name: r, namespace: default}
spec:
  rules:
    - matches: [{headers: [{name: x-ai-eg-model, value: claude-x}]}]
      backendRefs: [{name: o, modelNameOverride: gpt-4o}]
  llmRequestCosts:
    - {metadataKey: total, type: TotalToken}
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIServiceBackend
metadata: {name: o, namespace: default}
spec:
  schema: {name: OpenAI, prefix: v1}
  backendRef: {name: o, kind: Backend, group: gateway.envoyproxy.io}
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: Backend
metadata: {name: o, namespace: default}
spec:
  endpoints: [{ip: {address: 127.0.0.1, port: 9}}]
)");
  for (const auto &e : r.diag.errors())
    ADD_FAILURE() << e;
  ExchangeOptions options;
  ExchangeServices services;
  Exchange ex(r.snapshot, options, services);
  RequestHead h{"POST", "/anthropic/v1/messages", "gw", {}, {}};
  ASSERT_FALSE(ex.on_request_headers(h));
  ASSERT_FALSE(ex.on_request_body(
      R"({"model":"claude-x","max_tokens":5,"stream":true,"messages":[{"role":"user","content":"hi"}]})",
      true));
  ASSERT_EQ(ex.next_attempt(), Next::kSend);
  EXPECT_EQ(ex.call().path, "/v1/chat/completions");
  EXPECT_NE(ex.call().body.find(R"("model":"gpt-4o")"), std::string::npos) << ex.call().body;
  auto plan = ex.on_response_headers(200, "text/event-stream", "", false);
  EXPECT_EQ(plan.mode, BodyMode::kTranslate);
  EXPECT_EQ(plan.content_type, "text/event-stream");
  std::string out;
  ex.translate(
      "data: "
      R"({"id":"c","model":"gpt-4o-2024","choices":[{"index":0,"delta":{"content":"yo"}}]})"
      "\n\ndata: "
      R"({"id":"c","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":1}})"
      "\n\ndata: [DONE]\n\n",
      true, out);
  EXPECT_NE(out.find("event: message_stop"), std::string::npos) << out;
  auto s = ex.complete(true);
  EXPECT_EQ(ex.record().usage.input, 3u);
  EXPECT_EQ(ex.record().usage.total, 4u);
  EXPECT_EQ(ex.record().response_model, "gpt-4o-2024");
  ASSERT_EQ(ex.record().costs.size(), 1u);
  EXPECT_EQ(ex.record().costs[0].second, 4u);
  (void)s;
}

} // namespace
} // namespace aigw::pipeline
