// The canonical translation layer: OpenAI requests into Bedrock, Anthropic and Gemini bodies,
// provider answers and streams back into OpenAI's shapes, usage normalised as upstream.
#include "core/base64.h"
#include "providers/aws_eventstream.h"
#include "translate/anthropic.h"
#include "translate/bedrock.h"
#include "translate/gemini.h"
#include "translate/openai_chat.h"
#include "translate/translator.h"

#include <gtest/gtest.h>
#include <simdjson.h>

namespace aigw::translate {
namespace {

simdjson::dom::element parse(simdjson::dom::parser &p, const std::string &s) {
  simdjson::dom::element e;
  EXPECT_FALSE(p.parse(s).get(e)) << s;
  return e;
}

const char *kToolRequest = R"({
  "model": "m",
  "messages": [
    {"role": "system", "content": "be brief"},
    {"role": "user", "content": [{"type": "text", "text": "weather?", "cache_control": {"type": "ephemeral"}},
                                 {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0K"}}]},
    {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
      "function": {"name": "get_weather", "arguments": "{\"location\":\"Paris\"}"}}]},
    {"role": "tool", "tool_call_id": "call_1", "content": "sunny"}
  ],
  "tools": [{"type": "function", "function": {"name": "get_weather", "description": "d",
             "parameters": {"type": "object", "properties": {"location": {"type": "string"}}}}}],
  "tool_choice": "auto",
  "max_completion_tokens": 100, "max_tokens": 5, "temperature": 0.5, "top_p": 0.9, "stop": "END",
  "stream": true, "stream_options": {"include_usage": true}
})";

TEST(OpenAIChatDecode, ReadsEveryField) {
  auto r = decode_openai_chat_request(kToolRequest);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->messages.size(), 4u);
  EXPECT_EQ(r->messages[1].parts.size(), 2u);
  EXPECT_TRUE(r->messages[1].parts[0].cache);
  EXPECT_EQ(r->messages[1].parts[1].media_type, "image/png");
  EXPECT_EQ(r->messages[2].tool_calls.at(0).name, "get_weather");
  EXPECT_EQ(r->messages[3].name, "get_weather"); // found from the assistant's call
  EXPECT_EQ(*r->max_tokens, 100u);               // max_completion_tokens wins
  EXPECT_EQ(r->stop, std::vector<std::string>{"END"});
  EXPECT_TRUE(r->stream && r->include_usage);
  EXPECT_EQ(r->tools.at(0).parameters,
            R"({"type":"object","properties":{"location":{"type":"string"}}})");
}

TEST(OpenAIChatDecode, NamesTheBadField) {
  auto r =
      decode_openai_chat_request(R"({"model":"m","messages":[{"role":"wizard","content":"x"}]})");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, 422);
  EXPECT_NE(r.error().message.find("messages[0].role"), std::string::npos);
  auto t =
      decode_openai_chat_request(R"({"model":"m","messages":[{"role":"tool","content":"x"}]})");
  ASSERT_FALSE(t);
  EXPECT_NE(t.error().message.find("messages[0].tool_call_id"), std::string::npos);
}

TEST(Converse, EncodesMessagesToolsAndCachePoints) {
  auto r = decode_openai_chat_request(kToolRequest);
  ASSERT_TRUE(r);
  auto body = encode_converse_request(*r);
  ASSERT_TRUE(body) << body.error().message;
  simdjson::dom::parser p;
  auto doc = parse(p, *body);
  EXPECT_EQ(std::string_view(doc["system"].at(0)["text"]), "be brief");
  auto msgs = doc["messages"].get_array().value();
  ASSERT_EQ(msgs.size(), 3u); // user, assistant, user(toolResult)
  EXPECT_EQ(std::string_view(msgs.at(0)["content"].at(0)["text"]), "weather?");
  EXPECT_EQ(std::string_view(msgs.at(0)["content"].at(1)["cachePoint"]["type"]), "default");
  EXPECT_EQ(std::string_view(msgs.at(0)["content"].at(2)["image"]["format"]), "png");
  EXPECT_EQ(std::string_view(msgs.at(1)["content"].at(0)["toolUse"]["input"]["location"]), "Paris");
  EXPECT_EQ(std::string_view(msgs.at(2)["content"].at(0)["toolResult"]["toolUseId"]), "call_1");
  EXPECT_EQ(uint64_t(doc["inferenceConfig"]["maxTokens"]), 100u);
  EXPECT_EQ(std::string_view(doc["inferenceConfig"]["stopSequences"].at(0)), "END");
  EXPECT_EQ(std::string_view(doc["toolConfig"]["tools"].at(0)["toolSpec"]["name"]), "get_weather");
  EXPECT_TRUE(doc["toolConfig"]["toolChoice"]["auto"].is_object());
}

TEST(Converse, DecodesAnswerWithExplicitCachingUsage) {
  auto r = decode_converse_response(
      R"({"output":{"message":{"role":"assistant","content":[{"reasoningContent":{"reasoningText":{"text":"hmm","signature":"sig"}}},{"text":"Hi"},{"toolUse":{"toolUseId":"t1","name":"f","input":{"a":1}}}]}},
          "stopReason":"tool_use","usage":{"inputTokens":10,"outputTokens":5,"totalTokens":15,"cacheReadInputTokens":3,"cacheWriteInputTokens":2}})",
      "model-x");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->text, "Hi");
  EXPECT_EQ(r->reasoning, "hmm");
  EXPECT_EQ(r->finish_reason, "tool_calls");
  EXPECT_EQ(r->tool_calls.at(0).arguments, R"({"a":1})");
  EXPECT_EQ(*r->usage.input, 15u); // 10 + 3 + 2
  EXPECT_EQ(*r->usage.total, 20u);
  EXPECT_EQ(*r->usage.cached_input, 3u);
  EXPECT_EQ(*r->usage.cache_creation_input, 2u);
  std::string out = encode_openai_chat_response(*r, 1);
  simdjson::dom::parser p;
  auto doc = parse(p, out);
  EXPECT_EQ(std::string_view(doc["choices"].at(0)["finish_reason"]), "tool_calls");
  EXPECT_EQ(std::string_view(
                doc["choices"].at(0)["message"]["tool_calls"].at(0)["function"]["arguments"]),
            R"({"a":1})");
  EXPECT_EQ(uint64_t(doc["usage"]["prompt_tokens_details"]["cached_tokens"]), 3u);
}

std::string frame(const std::string &type, const std::string &payload) {
  return providers::encode_event_message(
      {{":event-type", type}, {":content-type", "application/json"}, {":message-type", "event"}},
      payload);
}

TEST(Converse, StreamBecomesOpenAIChunksWhateverTheSplit) {
  std::string wire =
      frame("messageStart", R"({"role":"assistant"})") +
      frame("contentBlockDelta", R"({"contentBlockIndex":0,"delta":{"text":"Hel"}})") +
      frame("contentBlockDelta", R"({"contentBlockIndex":0,"delta":{"text":"lo"}})") +
      frame("contentBlockStart",
            R"({"contentBlockIndex":1,"start":{"toolUse":{"toolUseId":"t1","name":"f"}}})") +
      frame("contentBlockDelta",
            R"({"contentBlockIndex":1,"delta":{"toolUse":{"input":"{\"a\":"}}})") +
      frame("contentBlockDelta", R"({"contentBlockIndex":1,"delta":{"toolUse":{"input":"1}"}}})") +
      frame("messageStop", R"({"stopReason":"tool_use"})") +
      frame(
          "metadata",
          R"({"usage":{"inputTokens":7,"outputTokens":3,"totalTokens":10},"metrics":{"latencyMs":1}})");
  for (size_t step : {size_t{1}, size_t{7}, wire.size()}) {
    ConverseStreamDecoder d;
    ChunkEncoder enc("id1", "m", 1, true);
    std::string out;
    for (size_t i = 0; i < wire.size(); i += step) {
      std::vector<StreamEvent> ev;
      d.feed(std::string_view(wire).substr(i, step), ev);
      for (const auto &e : ev)
        enc.on_event(e, out);
    }
    enc.finish(out);
    EXPECT_NE(out.find(R"("delta":{"content":"Hel"})"), std::string::npos) << out;
    EXPECT_NE(out.find(R"("tool_calls":[{"index":0,"id":"t1","type":"function")"),
              std::string::npos);
    EXPECT_NE(out.find(R"("arguments":"1}")"), std::string::npos);
    EXPECT_NE(out.find(R"("finish_reason":"tool_calls")"), std::string::npos);
    EXPECT_NE(
        out.find(
            R"("choices":[],"usage":{"prompt_tokens":7,"completion_tokens":3,"total_tokens":10)"),
        std::string::npos);
    EXPECT_TRUE(out.ends_with("data: [DONE]\n\n"));
    EXPECT_EQ(*enc.usage().input, 7u);
  }
}

TEST(Converse, TwoToolCallsGetTheirOwnIndexEvenWhenStartsNameNoBlock) {
  // As upstream's data-plane table sends them: the starts carry no contentBlockIndex.
  std::string wire =
      frame("messageStart", R"({"role":"assistant"})") +
      frame("contentBlockStart", R"({"start":{"toolUse":{"name":"cosine","toolUseId":"t1"}}})") +
      frame("contentBlockDelta",
            R"({"contentBlockIndex":1,"delta":{"toolUse":{"input":"{\"x\":1}"}}})") +
      frame("contentBlockStop", R"({"contentBlockIndex":1})") +
      frame("contentBlockStart", R"({"start":{"toolUse":{"name":"sine","toolUseId":"t2"}}})") +
      frame("contentBlockDelta",
            R"({"contentBlockIndex":2,"delta":{"toolUse":{"input":"{\"x\":2}"}}})") +
      frame("messageStop", R"({"stopReason":"tool_use"})");
  ConverseStreamDecoder d;
  std::vector<StreamEvent> ev;
  d.feed(wire, ev);
  std::vector<std::pair<int, std::string>> args;
  for (const auto &e : ev)
    if (e.kind == StreamEvent::Kind::kToolCallArgs) args.emplace_back(e.index, e.text);
  ASSERT_EQ(args.size(), 2u);
  EXPECT_EQ(args[0], (std::pair<int, std::string>{0, R"({"x":1})"}));
  EXPECT_EQ(args[1], (std::pair<int, std::string>{1, R"({"x":2})"}));
}

TEST(Gemini, OlderModelsGetTheOpenApiSubsetAsUpstreamConvertsIt) {
  std::string req =
      R"({"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f","parameters":{
    "type":"object","additionalProperties":false,"$defs":{"Unit":{"type":"string","enum":["c","f"]}},
    "properties":{"city":{"type":["string","null"],"description":"d"},"unit":{"$ref":"#/$defs/Unit"},
    "n":{"anyOf":[{"type":"integer"},{"type":"null"}]}},"required":["city"]}}}]})";
  auto r = decode_openai_chat_request(req);
  ASSERT_TRUE(r);
  r->model = "gemini-2.0-flash-001";
  auto old_model = encode_gemini_request(*r);
  ASSERT_TRUE(old_model) << old_model.error().message;
  simdjson::dom::parser p;
  auto doc = parse(p, *old_model);
  auto params = doc["tools"].at(0)["functionDeclarations"].at(0)["parameters"];
  EXPECT_TRUE(doc["tools"].at(0)["functionDeclarations"].at(0)["parametersJsonSchema"].error() ==
              simdjson::NO_SUCH_FIELD);
  EXPECT_TRUE(params["additionalProperties"].error() == simdjson::NO_SUCH_FIELD);
  EXPECT_TRUE(params["$defs"].error() == simdjson::NO_SUCH_FIELD);
  EXPECT_EQ(std::string_view(params["properties"]["city"]["type"]), "string");
  EXPECT_TRUE(bool(params["properties"]["city"]["nullable"]));
  EXPECT_EQ(std::string_view(params["properties"]["unit"]["enum"].at(1)), "f");
  EXPECT_TRUE(bool(params["properties"]["n"]["nullable"]));
  EXPECT_EQ(params["properties"]["n"]["anyOf"].get_array().value().size(), 1u);
  r->model = "gemini-2.5-flash";
  auto new_model = encode_gemini_request(*r);
  ASSERT_TRUE(new_model);
  simdjson::dom::parser p2;
  auto doc2 = parse(p2, *new_model);
  EXPECT_FALSE(
      doc2["tools"].at(0)["functionDeclarations"].at(0)["parametersJsonSchema"]["$defs"].error());
}

TEST(Converse, CorruptFrameBecomesAnErrorEvent) {
  std::string wire = frame("messageStart", R"({"role":"assistant"})");
  wire[wire.size() - 1] ^= 1; // message CRC
  ConverseStreamDecoder d;
  std::vector<StreamEvent> ev;
  d.feed(wire, ev);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, StreamEvent::Kind::kError);
  EXPECT_TRUE(d.failed());
}

TEST(Anthropic, EncodesAlternatingTurnsAndRejectsHotTemperature) {
  auto r = decode_openai_chat_request(kToolRequest);
  ASSERT_TRUE(r);
  AnthropicRequestOptions o;
  o.include_model = false;
  o.anthropic_version = "bedrock-2023-05-31";
  o.stream_field = false;
  auto body = encode_anthropic_request(*r, o);
  ASSERT_TRUE(body);
  simdjson::dom::parser p;
  auto doc = parse(p, *body);
  EXPECT_TRUE(doc["model"].error() == simdjson::NO_SUCH_FIELD);
  EXPECT_TRUE(doc["stream"].error() == simdjson::NO_SUCH_FIELD);
  EXPECT_EQ(std::string_view(doc["anthropic_version"]), "bedrock-2023-05-31");
  EXPECT_EQ(uint64_t(doc["max_tokens"]), 100u);
  auto msgs = doc["messages"].get_array().value();
  ASSERT_EQ(msgs.size(), 3u);
  EXPECT_EQ(std::string_view(msgs.at(0)["content"].at(0)["cache_control"]["type"]), "ephemeral");
  EXPECT_EQ(std::string_view(msgs.at(0)["content"].at(1)["source"]["type"]), "base64");
  EXPECT_EQ(std::string_view(msgs.at(1)["content"].at(0)["type"]), "tool_use");
  EXPECT_EQ(std::string_view(msgs.at(2)["content"].at(0)["type"]), "tool_result");
  EXPECT_EQ(std::string_view(doc["tool_choice"]["type"]), "auto");

  r->temperature = 1.5;
  auto hot = encode_anthropic_request(*r, o);
  ASSERT_FALSE(hot);
  EXPECT_EQ(hot.error().code, 422);
}

TEST(Anthropic, StreamFoldsUsageFromStartAndDelta) {
  std::string sse = "event: message_start\ndata: "
                    "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"model\":"
                    "\"claude\",\"usage\":{\"input_tokens\":10,\"cache_read_input_tokens\":4,"
                    "\"cache_creation_input_tokens\":1,\"output_tokens\":1}}}\n\n"
                    "event: content_block_start\ndata: "
                    "{\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":"
                    "\"thinking\",\"thinking\":\"\"}}\n\n"
                    "event: content_block_delta\ndata: "
                    "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"thinking_"
                    "delta\",\"thinking\":\"ponder\"}}\n\n"
                    "event: content_block_start\ndata: "
                    "{\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":"
                    "\"text\",\"text\":\"\"}}\n\n"
                    "event: content_block_delta\ndata: "
                    "{\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"text_"
                    "delta\",\"text\":\"Hi\"}}\n\n"
                    "event: message_delta\ndata: "
                    "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"max_tokens\"},"
                    "\"usage\":{\"output_tokens\":9}}\n\n"
                    "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
  AnthropicStreamDecoder d;
  std::vector<StreamEvent> ev;
  for (size_t i = 0; i < sse.size(); i += 5)
    d.feed_sse(std::string_view(sse).substr(i, 5), ev);
  ChunkEncoder enc("id", "claude", 1, false);
  std::string out;
  for (const auto &e : ev)
    enc.on_event(e, out);
  enc.finish(out);
  EXPECT_NE(out.find(R"("reasoning_content":"ponder")"), std::string::npos) << out;
  EXPECT_NE(out.find(R"("finish_reason":"length")"), std::string::npos);
  EXPECT_EQ(out.find("\"usage\""), std::string::npos); // not asked for
  EXPECT_EQ(*enc.usage().input, 15u);
  EXPECT_EQ(*enc.usage().output, 9u);
  EXPECT_EQ(*enc.usage().cached_input, 4u);
}

TEST(Anthropic, ErrorsBecomeOpenAIShaped) {
  auto body = anthropic_error_to_openai(
      429, R"({"type":"error","error":{"type":"rate_limit_error","message":"slow down"}})");
  EXPECT_EQ(
      body,
      R"({"type":"error","error":{"type":"rate_limit_error","code":"429","message":"slow down"}})");
}

TEST(Gemini, EncodesContentsToolsAndConfig) {
  auto r = decode_openai_chat_request(kToolRequest);
  ASSERT_TRUE(r);
  r->response_format = "json_object";
  auto body = encode_gemini_request(*r);
  ASSERT_TRUE(body) << body.error().message;
  simdjson::dom::parser p;
  auto doc = parse(p, *body);
  EXPECT_EQ(std::string_view(doc["systemInstruction"]["parts"].at(0)["text"]), "be brief");
  auto contents = doc["contents"].get_array().value();
  ASSERT_EQ(contents.size(), 3u);
  EXPECT_EQ(std::string_view(contents.at(0)["parts"].at(1)["inlineData"]["mimeType"]), "image/png");
  EXPECT_EQ(std::string_view(contents.at(1)["role"]), "model");
  EXPECT_EQ(std::string_view(contents.at(1)["parts"].at(0)["functionCall"]["name"]), "get_weather");
  EXPECT_EQ(
      std::string_view(contents.at(2)["parts"].at(0)["functionResponse"]["response"]["output"]),
      "sunny");
  EXPECT_EQ(uint64_t(doc["generationConfig"]["maxOutputTokens"]), 100u);
  EXPECT_EQ(std::string_view(doc["generationConfig"]["responseMimeType"]), "application/json");
  EXPECT_EQ(std::string_view(doc["toolConfig"]["functionCallingConfig"]["mode"]), "AUTO");
}

TEST(Gemini, UsageCountsThoughtsAsOutput) {
  auto r = decode_gemini_response(
      R"({"candidates":[{"content":{"role":"model","parts":[{"text":"think","thought":true},{"text":"Hi"}]},"finishReason":"STOP"}],
          "usageMetadata":{"promptTokenCount":5,"candidatesTokenCount":2,"thoughtsTokenCount":3,"cachedContentTokenCount":1,"totalTokenCount":10}})",
      "gemini-2.5-flash");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->text, "Hi");
  EXPECT_EQ(r->reasoning, "think");
  EXPECT_EQ(*r->usage.output, 5u);
  EXPECT_EQ(*r->usage.reasoning, 3u);
  EXPECT_EQ(*r->usage.cached_input, 1u);
  EXPECT_EQ(*r->usage.total, 10u);
}

TEST(Gemini, StreamAcceptsEveryDelimiter) {
  for (std::string delim : {"\r\n\r\n", "\n\n", "\r\r"}) {
    std::string wire =
        "data: "
        "{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"He\"}]}}]}" +
        delim +
        "data: "
        "{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"llo\"}]},"
        "\"finishReason\":\"STOP\"}],\"usageMetadata\":{\"promptTokenCount\":3,"
        "\"candidatesTokenCount\":2,\"totalTokenCount\":5}}" +
        delim;
    GeminiStreamDecoder d;
    std::vector<StreamEvent> ev;
    for (size_t i = 0; i < wire.size(); i += 3)
      d.feed(std::string_view(wire).substr(i, 3), ev);
    d.feed("", ev);
    std::string text;
    TokenUsage u;
    for (const auto &e : ev) {
      if (e.kind == StreamEvent::Kind::kText) text += e.text;
      if (e.kind == StreamEvent::Kind::kUsage) u = e.usage;
    }
    EXPECT_EQ(text, "Hello");
    EXPECT_EQ(*u.input, 3u);
    EXPECT_EQ(*u.output, 2u);
  }
}

TEST(Translator, PathsPerSchema) {
  pipeline::ParsedRequest parsed;
  parsed.model = "anthropic.claude-3-5-sonnet-20241022-v2:0";
  TranslateInput in;
  in.body =
      R"({"model":"anthropic.claude-3-5-sonnet-20241022-v2:0","messages":[{"role":"user","content":"hi"}]})";
  in.parsed = &parsed;
  in.model = parsed.model;
  in.request_id = "r1";
  auto bedrock = make_translator(Schema::kAWSBedrock, pipeline::Endpoint::kChatCompletions);
  auto u = bedrock->request(in);
  ASSERT_TRUE(u);
  EXPECT_EQ(u->path, "/model/anthropic.claude-3-5-sonnet-20241022-v2:0/converse");
  auto azure = make_translator(Schema::kAzureOpenAI, pipeline::Endpoint::kChatCompletions);
  in.model = "gpt-4o";
  in.version = "2025-01-01-preview";
  auto a = azure->request(in);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->path, "/openai/deployments/gpt-4o/chat/completions?api-version=2025-01-01-preview");
  EXPECT_FALSE(a->body.has_value()); // unchanged
  auto vertex = make_translator(Schema::kGCPVertexAI, pipeline::Endpoint::kChatCompletions);
  in.model = "gemini-2.5-flash";
  auto v = vertex->request(in);
  ASSERT_TRUE(v);
  EXPECT_EQ(v->path, "publishers/google/models/gemini-2.5-flash:generateContent");
  in.version = "v2";
  auto cohere = make_translator(Schema::kCohere, pipeline::Endpoint::kRerank);
  EXPECT_EQ(cohere->request(in)->path, "/v2/rerank");
  EXPECT_EQ(path_escape("a:b/c d"), "a:b%2Fc%20d");
}

TEST(Translator, EmbeddingsHonourBase64) {
  pipeline::ParsedRequest parsed;
  TranslateInput in;
  in.body =
      R"({"model":"amazon.titan-embed-text-v2:0","input":"hello","encoding_format":"base64"})";
  in.parsed = &parsed;
  in.model = "amazon.titan-embed-text-v2:0";
  auto t = make_translator(Schema::kAWSBedrock, pipeline::Endpoint::kEmbeddings);
  auto u = t->request(in);
  ASSERT_TRUE(u);
  EXPECT_EQ(*u->body, R"({"inputText":"hello"})");
  auto out = t->response_body(R"({"embedding":[1.0,0.5],"inputTextTokenCount":2})");
  ASSERT_TRUE(out);
  simdjson::dom::parser p;
  auto doc = parse(p, *out);
  auto b64 = base64_decode(std::string_view(doc["data"].at(0)["embedding"]));
  ASSERT_TRUE(b64);
  ASSERT_EQ(b64->size(), 8u);
  float f[2];
  std::memcpy(f, b64->data(), 8);
  EXPECT_EQ(f[0], 1.0f);
  EXPECT_EQ(f[1], 0.5f);
  EXPECT_EQ(*t->usage().input, 2u);
}

} // namespace
} // namespace aigw::translate
