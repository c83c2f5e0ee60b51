// The Anthropic Messages API to Bedrock Converse backends: the request mapping, the answer, the
// ConverseStream event stream as Anthropic's SSE (whatever the split), and errors.
#include "pipeline/request_body.h"
#include "providers/aws_eventstream.h"
#include "translate/messages.h"

#include <gtest/gtest.h>
#include <simdjson.h>

namespace aigw::translate {
namespace {

namespace dom = simdjson::dom;
using pipeline::Endpoint;

struct Translated {
  std::unique_ptr<Translator> t;
  Result<UpstreamRequest> u = Error::client(500, "not translated");
};

Translated translate_request(const std::string &body) {
  auto parsed = pipeline::parse_request_body(Endpoint::kMessages, body);
  EXPECT_TRUE(parsed) << body;
  Translated out;
  out.t = make_translator(Schema::kAWSBedrock, Endpoint::kMessages);
  TranslateInput in;
  in.endpoint = Endpoint::kMessages;
  in.body = body;
  in.parsed = &*parsed;
  in.model = parsed->model;
  out.u = out.t->request(in);
  return out;
}

// JSON text with its keys sorted, so two documents compare by meaning.
std::string canonical(dom::element e) {
  if (e.is_object()) {
    std::vector<std::pair<std::string, std::string>> kv;
    for (auto [k, v] : dom::object(e))
      kv.emplace_back(std::string(k), canonical(v));
    std::sort(kv.begin(), kv.end());
    std::string s = "{";
    for (size_t i = 0; i < kv.size(); ++i)
      s += (i ? "," : "") + ("\"" + kv[i].first + "\":") + kv[i].second;
    return s + "}";
  }
  if (e.is_array()) {
    std::string s = "[";
    bool first = true;
    for (dom::element v : dom::array(e)) {
      s += (first ? "" : ",") + canonical(v);
      first = false;
    }
    return s + "]";
  }
  return simdjson::minify(e);
}

std::string canonical(std::string_view json) {
  dom::parser p;
  dom::element e;
  if (p.parse(json.data(), json.size()).get(e)) return "not JSON: " + std::string(json);
  return canonical(e);
}

TEST(MessagesToBedrock, TheConverseRequest) {
  auto t = translate_request(R"({
    "model": "anthropic.claude-3-sonnet-20240229-v1:0", "max_tokens": 100, "temperature": 0.3,
    "top_p": 0.8, "top_k": 40, "stop_sequences": ["END"], "thinking": {"type": "disabled"},
    "system": [{"type": "text", "text": "be brief", "cache_control": {"type": "ephemeral"}}],
    "messages": [
      {"role": "system", "content": "and kind"},
      {"role": "user", "content": [{"type": "text", "text": "look"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBOR"}}]},
      {"role": "assistant", "content": [
        {"type": "thinking", "thinking": "hmm", "signature": "sig"},
        {"type": "tool_use", "id": "tu_1", "name": "lookup", "input": {"q": "x"}}]},
      {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "tu_1", "content": "failed", "is_error": true}]},
      {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "tu_2", "content": [{"type": "text", "text": "ok"}]}]}
    ],
    "tools": [{"name": "lookup", "description": "Look up", "input_schema": {"type": "object"}}],
    "tool_choice": {"type": "any"}
  })");
  ASSERT_TRUE(t.u) << t.u.error().message;
  EXPECT_EQ(t.u->path, "/model/anthropic.claude-3-sonnet-20240229-v1:0/converse");
  EXPECT_EQ(canonical(*t.u->body), canonical(R"({
    "system": [{"text": "be brief"}, {"cachePoint": {"type": "default"}}, {"text": "and kind"}],
    "messages": [
      {"role": "user", "content": [{"text": "look"},
        {"image": {"format": "png", "source": {"bytes": "iVBOR"}}}]},
      {"role": "assistant", "content": [
        {"reasoningContent": {"reasoningText": {"text": "hmm", "signature": "sig"}}},
        {"toolUse": {"toolUseId": "tu_1", "name": "lookup", "input": {"q": "x"}}}]},
      {"role": "user", "content": [
        {"toolResult": {"toolUseId": "tu_1", "content": [{"text": "failed"}], "status": "error"}},
        {"toolResult": {"toolUseId": "tu_2", "content": [{"text": "ok"}]}}]}
    ],
    "inferenceConfig": {"maxTokens": 100, "temperature": 0.3, "topP": 0.8, "stopSequences": ["END"]},
    "toolConfig": {"tools": [{"toolSpec": {"name": "lookup", "description": "Look up",
      "inputSchema": {"json": {"type": "object"}}}}], "toolChoice": {"any": {}}},
    "additionalModelRequestFields": {"thinking": {"type": "disabled"}, "top_k": 40}
  })"));
  auto s = translate_request(
      R"({"model":"us.anthropic.claude:0","max_tokens":5,"stream":true,"messages":[{"role":"user","content":"hi"}]})");
  ASSERT_TRUE(s.u);
  EXPECT_EQ(s.u->path, "/model/us.anthropic.claude:0/converse-stream");
  // Bedrock takes base64 images only.
  auto url = translate_request(
      R"({"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"url","url":"https://x/y.png"}}]}]})");
  ASSERT_FALSE(url.u);
  EXPECT_EQ(url.u.error().code, 422);
  EXPECT_TRUE(schema_serves(Schema::kAWSBedrock, Endpoint::kMessages));
}

TEST(MessagesToBedrock, TheAnswerWithBedrocksIdModelAndStopReason) {
  auto t = translate_request(
      R"({"model":"anthropic.claude-v1:0","max_tokens":5,"messages":[{"role":"user","content":"hi"}]})");
  ASSERT_TRUE(t.u);
  t.t->set_provider_request_id("bedrock-msg-123");
  ASSERT_TRUE(t.t->rewrites_response());
  auto out = t.t->response_body(
      R"({"output":{"message":{"role":"assistant","content":[{"reasoningContent":{"reasoningText":{"text":"t","signature":"s"}}},{"text":"Hello"},{"toolUse":{"toolUseId":"tu_9","name":"f","input":{"a":1}}}]}},"stopReason":"stop_sequence","usage":{"inputTokens":10,"outputTokens":20,"cacheReadInputTokens":4,"cacheWriteInputTokens":2}})");
  ASSERT_TRUE(out);
  EXPECT_EQ(canonical(*out), canonical(R"({"id":"bedrock-msg-123","type":"message",
    "role":"assistant","model":"anthropic.claude-v1:0","stop_reason":"stop_sequence",
    "content":[{"type":"thinking","thinking":"t","signature":"s"},{"type":"text","text":"Hello"},
      {"type":"tool_use","id":"tu_9","name":"f","input":{"a":1}}],
    "usage":{"input_tokens":10,"output_tokens":20,"cache_read_input_tokens":4,
      "cache_creation_input_tokens":2}})"));
  // Costs see upstream's explicit-caching normalisation.
  EXPECT_EQ(t.t->usage().input, 16u);
  EXPECT_EQ(t.t->usage().cached_input, 4u);
  EXPECT_EQ(t.t->usage().cache_creation_input, 2u);
  EXPECT_EQ(t.t->usage().total, 36u);
  EXPECT_EQ(t.t->response_model(), "anthropic.claude-v1:0");
  for (auto [bedrock, anthropic] : {std::pair{"end_turn", "end_turn"},
                                    {"max_tokens", "max_tokens"},
                                    {"tool_use", "tool_use"},
                                    {"content_filtered", "end_turn"},
                                    {"guardrail_intervened", "end_turn"}}) {
    auto r = t.t->response_body(
        std::string(R"({"output":{"message":{"content":[]}},"stopReason":")") + bedrock + "\"}");
    ASSERT_TRUE(r);
    EXPECT_NE(r->find(std::string("\"stop_reason\":\"") + anthropic + "\""), std::string::npos)
        << bedrock << ": " << *r;
  }
}

std::string frame(std::string_view type, std::string_view payload) {
  return providers::encode_event_message({{":event-type", std::string(type)},
                                          {":content-type", "application/json"},
                                          {":message-type", "event"}},
                                         std::string(payload));
}

std::string converse_stream() {
  return frame("messageStart", R"({"role":"assistant"})") +
         frame("contentBlockDelta",
               R"({"contentBlockIndex":0,"delta":{"reasoningContent":{"text":"let me see"}}})") +
         frame("contentBlockDelta",
               R"({"contentBlockIndex":0,"delta":{"reasoningContent":{"signature":"sg"}}})") +
         frame("contentBlockStop", R"({"contentBlockIndex":0})") +
         frame("contentBlockDelta", R"({"contentBlockIndex":1,"delta":{"text":"Sure. "}})") +
         frame("contentBlockStop", R"({"contentBlockIndex":1})") +
         frame(
             "contentBlockStart",
             R"({"contentBlockIndex":2,"start":{"toolUse":{"toolUseId":"tu_1","name":"get_weather"}}})") +
         frame("contentBlockDelta",
               R"({"contentBlockIndex":2,"delta":{"toolUse":{"input":"{\"location\":"}}})") +
         frame("contentBlockDelta",
               R"({"contentBlockIndex":2,"delta":{"toolUse":{"input":"\"Paris\"}"}}})") +
         frame("contentBlockStop", R"({"contentBlockIndex":2})") +
         frame("messageStop", R"({"stopReason":"tool_use"})") +
         frame(
             "metadata",
             R"({"usage":{"inputTokens":12,"outputTokens":7,"cacheReadInputTokens":3},"metrics":{"latencyMs":5}})");
}

std::string run_stream(const std::string &wire, size_t piece, Translator **keep = nullptr) {
  static thread_local Translated t;
  t = translate_request(
      R"({"model":"anthropic.claude-v1:0","max_tokens":5,"stream":true,"messages":[{"role":"user","content":"hi"}]})");
  EXPECT_TRUE(t.u);
  t.t->set_provider_request_id("req-abc");
  std::string out;
  for (size_t at = 0; at < wire.size(); at += piece)
    t.t->stream_chunk(std::string_view(wire).substr(at, piece), out);
  t.t->stream_end(out);
  if (keep) *keep = t.t.get();
  return out;
}

TEST(MessagesToBedrock, TheEventStreamAsAnthropicSse) {
  Translator *t = nullptr;
  std::string out = run_stream(converse_stream(), 1 << 20, &t);
  EXPECT_EQ(
      out,
      "event: message_start\ndata: "
      R"({"type":"message_start","message":{"id":"req-abc","type":"message","role":"assistant","content":[],"model":"anthropic.claude-v1:0","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":0,"output_tokens":0}}})"
      "\n\nevent: content_block_start\ndata: "
      R"({"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":""}})"
      "\n\nevent: content_block_delta\ndata: "
      R"({"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"let me see"}})"
      "\n\nevent: content_block_delta\ndata: "
      R"({"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"sg"}})"
      "\n\nevent: content_block_stop\ndata: "
      R"({"type":"content_block_stop","index":0})"
      "\n\nevent: content_block_start\ndata: "
      R"({"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}})"
      "\n\nevent: content_block_delta\ndata: "
      R"({"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"Sure. "}})"
      "\n\nevent: content_block_stop\ndata: "
      R"({"type":"content_block_stop","index":1})"
      "\n\nevent: content_block_start\ndata: "
      R"({"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"tu_1","name":"get_weather","input":{}}})"
      "\n\nevent: content_block_delta\ndata: "
      R"({"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{\"location\":"}})"
      "\n\nevent: content_block_delta\ndata: "
      R"({"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"\"Paris\"}"}})"
      "\n\nevent: content_block_stop\ndata: "
      R"({"type":"content_block_stop","index":2})"
      "\n\nevent: message_delta\ndata: "
      R"({"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"input_tokens":12,"output_tokens":7}})"
      "\n\nevent: message_stop\ndata: "
      R"({"type":"message_stop"})"
      "\n\n");
  EXPECT_EQ(t->usage().input, 15u);
  EXPECT_EQ(t->usage().cached_input, 3u);
  EXPECT_EQ(t->usage().output, 7u);
  EXPECT_EQ(t->response_model(), "anthropic.claude-v1:0");
  // The same whatever the split.
  for (size_t piece : {1, 2, 7, 64, 333})
    EXPECT_EQ(run_stream(converse_stream(), piece), out) << piece << "-byte pieces";
}

TEST(MessagesToBedrock, AnExceptionInsideTheStreamIsAnAnthropicErrorEvent) {
  std::string wire = frame("messageStart", R"({"role":"assistant"})") +
                     frame("contentBlockDelta", R"({"contentBlockIndex":0,"delta":{"text":"a"}})") +
                     providers::encode_event_message({{":exception-type", "throttlingException"},
                                                      {":content-type", "application/json"},
                                                      {":message-type", "exception"}},
                                                     R"({"message":"Too many tokens"})");
  std::string out = run_stream(wire, 1 << 20);
  EXPECT_NE(
      out.find(
          "event: error\ndata: "
          R"({"type":"error","error":{"type":"rate_limit_error","message":"Too many tokens"}})"),
      std::string::npos)
      << out;
  EXPECT_EQ(out.find("message_stop"), std::string::npos);
  // A broken frame: an error too, not a silent end.
  std::string broken = frame("messageStart", R"({"role":"assistant"})");
  broken += "garbage-that-is-not-a-frame-at-all-and-long-enough";
  out = run_stream(broken, 1 << 20);
  EXPECT_NE(out.find("event: error"), std::string::npos) << out;
}

TEST(MessagesToBedrock, ErrorsInAnthropicsShape) {
  auto t = translate_request(R"({"model":"m","max_tokens":5,"messages":[]})");
  EXPECT_EQ(canonical(t.t->error_body(400, "application/json", "ValidationException",
                                      R"({"message":"Invalid request format"})")
                          .first),
            canonical(R"({"type":"error","error":{"type":"invalid_request_error",
              "message":"Invalid request format"},"request_id":""})"));
  EXPECT_EQ(canonical(t.t->error_body(429, "text/plain", "", "slow down").first),
            canonical(R"({"type":"error","error":{"type":"rate_limit_error",
              "message":"slow down"},"request_id":""})"));
}

} // namespace
} // namespace aigw::translate
