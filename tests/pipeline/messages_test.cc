// The Anthropic Messages ingress to the Claude-native backends: the request each is sent, the
// Bedrock event stream turned back into Anthropic's SSE with its usage folded, count_tokens, the
// models list, and errors in Anthropic's shape.
#include "../control/config_test_util.h"
#include "core/base64.h"
#include "pipeline/exchange.h"
#include "pipeline/usage.h"
#include "providers/aws_eventstream.h"
#include "translate/messages.h"

#include <gtest/gtest.h>
#include <simdjson.h>

namespace aigw::translate {
namespace {

TranslateInput input(const std::string &body, pipeline::ParsedRequest &parsed,
                     pipeline::Endpoint e = pipeline::Endpoint::kMessages) {
  auto p = pipeline::parse_request_body(e, body);
  EXPECT_TRUE(p);
  parsed = *p;
  TranslateInput in;
  in.endpoint = e;
  in.body = body;
  in.parsed = &parsed;
  in.model = parsed.model;
  in.path_prefix = "/v1";
  return in;
}

const std::string kBody =
    R"({"model":"claude-sonnet-4@20250514","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"hi"}]})";

TEST(Messages, EachClaudeBackendGetsItsOwnPathAndBody) {
  pipeline::ParsedRequest parsed;
  auto in = input(kBody, parsed);
  {
    auto t = make_messages_translator(Schema::kAnthropic, pipeline::Endpoint::kMessages);
    auto u = t->request(in);
    ASSERT_TRUE(u);
    EXPECT_EQ(u->path, "/v1/messages");
    EXPECT_FALSE(u->body); // the client's body, unchanged
    EXPECT_FALSE(t->rewrites_response());
  }
  {
    auto t = make_messages_translator(Schema::kGCPAnthropic, pipeline::Endpoint::kMessages);
    auto u = t->request(in);
    ASSERT_TRUE(u);
    EXPECT_EQ(u->path, "publishers/anthropic/models/claude-sonnet-4@20250514:streamRawPredict");
    EXPECT_EQ(u->body->find("\"model\""), std::string::npos) << *u->body;
    EXPECT_NE(u->body->find(R"("anthropic_version":"vertex-2023-10-16")"), std::string::npos);
    EXPECT_NE(u->body->find(R"("stream":true)"), std::string::npos);
  }
  {
    in.model = "us.anthropic.claude-sonnet-4-20250514-v1:0";
    auto t = make_messages_translator(Schema::kAWSAnthropic, pipeline::Endpoint::kMessages);
    auto u = t->request(in);
    ASSERT_TRUE(u);
    EXPECT_EQ(u->path,
              "/model/us.anthropic.claude-sonnet-4-20250514-v1:0/invoke-with-response-stream");
    EXPECT_EQ(u->body->find("\"model\""), std::string::npos);
    EXPECT_EQ(u->body->find("\"stream\""), std::string::npos);
    EXPECT_NE(u->body->find(R"("anthropic_version":"bedrock-2023-05-31")"), std::string::npos);
    EXPECT_TRUE(t->rewrites_response());
  }
}

TEST(Messages, BedrockGetsTheAnthropicBetaFlagsItAcceptsInItsBody) {
  pipeline::ParsedRequest parsed;
  auto in = input(kBody, parsed);
  in.model = "anthropic.claude-sonnet-4-20250514-v1:0";
  auto betas = [&](std::string_view header) {
    in.anthropic_beta = header;
    auto u =
        make_messages_translator(Schema::kAWSAnthropic, pipeline::Endpoint::kMessages)->request(in);
    EXPECT_TRUE(u);
    simdjson::dom::parser p;
    auto doc = p.parse(*u->body);
    EXPECT_FALSE(doc.error()) << *u->body;
    simdjson::dom::array a;
    if (doc["anthropic_beta"].get(a)) return std::string("absent");
    std::string out;
    for (auto v : a)
      out += std::string(v.get_string().value()) + ";";
    return out;
  };
  EXPECT_EQ(betas(""), "absent");
  // Flags only the Anthropic API knows are dropped (Bedrock refuses the whole request for one).
  EXPECT_EQ(betas("files-api-2025-04-14,prompt-caching-2024-07-31"), "absent");
  EXPECT_EQ(betas(" context-1m-2025-08-07 , files-api-2025-04-14,interleaved-thinking-2025-05-14"),
            "context-1m-2025-08-07;interleaved-thinking-2025-05-14;");
  // The Anthropic API's umbrella flag is Bedrock's tool-search flag, forwarded once.
  EXPECT_EQ(betas("advanced-tool-use-2025-11-20,tool-search-tool-2025-10-19"),
            "tool-search-tool-2025-10-19;");
  // Only the invoke call carries them; Vertex takes the header itself.
  in.anthropic_beta = "context-1m-2025-08-07";
  auto g =
      make_messages_translator(Schema::kGCPAnthropic, pipeline::Endpoint::kMessages)->request(in);
  ASSERT_TRUE(g);
  EXPECT_EQ(g->body->find("anthropic_beta"), std::string::npos);
}

std::string frame(const std::string &event_json) {
  return providers::encode_event_message(
      {{":event-type", "chunk"}, {":content-type", "application/json"}, {":message-type", "event"}},
      "{\"bytes\":\"" + base64_encode(event_json) + "\"}");
}

TEST(Messages, BedrocksEventStreamBecomesAnthropicSseWithItsUsageFolded) {
  pipeline::ParsedRequest parsed;
  auto in = input(kBody, parsed);
  auto t = make_messages_translator(Schema::kAWSAnthropic, pipeline::Endpoint::kMessages);
  ASSERT_TRUE(t->request(in));
  std::string wire =
      frame(
          R"({"type":"message_start","message":{"id":"msg_1","model":"claude-sonnet-4","usage":{"input_tokens":10,"cache_read_input_tokens":4,"output_tokens":1}}})") +
      frame(
          R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}})") +
      frame(
          R"({"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":7}})") +
      frame(R"({"type":"message_stop"})");
  std::string out;
  for (size_t i = 0; i < wire.size(); i += 13)
    t->stream_chunk(std::string_view(wire).substr(i, 13), out);
  EXPECT_NE(out.find("event: message_start\ndata: {\"type\":\"message_start\""), std::string::npos)
      << out;
  EXPECT_NE(out.find("event: content_block_delta\n"), std::string::npos);
  EXPECT_TRUE(out.ends_with("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"));
  EXPECT_EQ(t->usage().input, 14u); // input + cache read
  EXPECT_EQ(t->usage().cached_input, 4u);
  EXPECT_EQ(t->usage().output, 7u);
  EXPECT_EQ(t->usage().total, 21u);
  EXPECT_EQ(t->response_model(), "claude-sonnet-4");
}

TEST(Messages, CountTokensOnBedrockAndVertex) {
  pipeline::ParsedRequest parsed;
  std::string body =
      R"({"model":"claude-3-5-haiku@latest","messages":[{"role":"user","content":"hi"}]})";
  auto in = input(body, parsed, pipeline::Endpoint::kMessagesCountTokens);
  {
    auto t =
        make_messages_translator(Schema::kGCPAnthropic, pipeline::Endpoint::kMessagesCountTokens);
    auto u = t->request(in);
    ASSERT_TRUE(u);
    EXPECT_EQ(u->path, "publishers/anthropic/models/count-tokens:rawPredict");
    EXPECT_NE(u->body->find(R"("model":"claude-3-5-haiku")"), std::string::npos) << *u->body;
    EXPECT_FALSE(t->rewrites_response());
  }
  {
    in.model = "eu.anthropic.claude-3-5-sonnet-20240620-v1:0";
    auto t =
        make_messages_translator(Schema::kAWSAnthropic, pipeline::Endpoint::kMessagesCountTokens);
    auto u = t->request(in);
    ASSERT_TRUE(u);
    EXPECT_EQ(u->path, "/model/anthropic.claude-3-5-sonnet-20240620-v1:0/count-tokens");
    simdjson::dom::parser p;
    simdjson::dom::element doc;
    ASSERT_FALSE(p.parse(*u->body).get(doc));
    std::string_view b64;
    ASSERT_FALSE(doc["input"]["invokeModel"]["body"].get_string().get(b64));
    auto inner = base64_decode(b64);
    ASSERT_TRUE(inner);
    EXPECT_NE(inner->find(R"("max_tokens":1)"), std::string::npos) << *inner;
    EXPECT_EQ(inner->find("\"model\""), std::string::npos);
    EXPECT_EQ(*t->response_body(R"({"inputTokens":12})"), R"({"input_tokens":12})");
    EXPECT_EQ(t->usage().input, 12u);
  }
}

TEST(Messages, ErrorsKeepAnthropicsShape) {
  auto t = make_messages_translator(Schema::kAWSAnthropic, pipeline::Endpoint::kMessages);
  auto [body, ct] = t->error_body(429, "application/json", "ThrottlingException",
                                  R"({"message":"Too many requests"})");
  EXPECT_EQ(
      body,
      R"({"type":"error","error":{"type":"rate_limit_error","message":"Too many requests"}})");
  auto [plain, ct2] = t->error_body(529, "text/plain", "", "overloaded");
  EXPECT_EQ(plain,
            R"({"type":"error","error":{"type":"overloaded_error","message":"overloaded"}})");
  std::string own = R"({"type":"error","error":{"type":"not_found_error","message":"model: x"}})";
  EXPECT_EQ(t->error_body(404, "application/json", "", own).first, own);
}

TEST(Messages, AnthropicUsageFromAnswersAndStreams) {
  auto facts = pipeline::extract_anthropic_json(
      R"({"id":"msg_1","model":"claude","usage":{"input_tokens":5,"cache_creation_input_tokens":3,"output_tokens":2}})");
  EXPECT_EQ(facts.usage.input, 8u);
  EXPECT_EQ(facts.usage.cache_creation_input, 3u);
  EXPECT_EQ(facts.usage.total, 10u);
  EXPECT_EQ(facts.model, "claude");
  pipeline::SseUsageScanner s;
  s.set_anthropic(true);
  s.feed("event: message_start\ndata: "
         "{\"type\":\"message_start\",\"message\":{\"model\":\"claude-x\",\"usage\":{\"input_"
         "tokens\":9,\"output_tokens\":1}}}\n\n");
  s.feed("event: message_delta\ndata: "
         "{\"type\":\"message_delta\",\"usage\":{\"output_tokens\":30}}\n\n");
  EXPECT_EQ(s.usage().input, 9u);
  EXPECT_EQ(s.usage().output, 30u);
  EXPECT_EQ(s.model(), "claude-x");
}

} // namespace
} // namespace aigw::translate

namespace aigw::pipeline {
namespace {

TEST(ExchangeMessages, TheModelsListInAnthropicsShapeAndAModelRequired) {
  auto r = control::testing::load(R"(
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIGatewayRoute
metadata: {name: r, namespace: default}
spec:
  rules:
    - matches: [{headers: [{name: x-ai-eg-model, value: claude-sonnet-4-5}]}]
      backendRefs: [{name: a}]
      modelsCreatedAt: "2025-09-29T00:00:00Z"
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIServiceBackend
metadata: {name: a, namespace: default}
spec:
  schema: {name: Anthropic}
  backendRef: {name: a, kind: Backend, group: gateway.envoyproxy.io}
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: Backend
metadata: {name: a, namespace: default}
spec:
  endpoints: [{ip: {address: 127.0.0.1, port: 9}}]
)");
  for (const auto &e : r.diag.errors())
    ADD_FAILURE() << e;
  ExchangeOptions options;
  ExchangeServices services;
  {
    Exchange ex(r.snapshot, options, services);
    RequestHead h{"GET", "/anthropic/v1/models", "gw", {}, {}};
    auto reply = ex.on_request_headers(h);
    ASSERT_TRUE(reply);
    EXPECT_EQ(
        reply->body,
        R"({"data":[{"type":"model","id":"claude-sonnet-4-5","display_name":"claude-sonnet-4-5","created_at":"2025-09-29T00:00:00Z"}],"has_more":false,"first_id":"claude-sonnet-4-5","last_id":"claude-sonnet-4-5"})");
  }
  {
    Exchange ex(r.snapshot, options, services);
    RequestHead h{"POST", "/anthropic/v1/messages", "gw", {}, {}};
    ASSERT_FALSE(ex.on_request_headers(h));
    auto reply = ex.on_request_body(R"({"max_tokens":5,"messages":[]})", true);
    ASSERT_TRUE(reply);
    EXPECT_EQ(reply->status, 400);
  }
  {
    Exchange ex(r.snapshot, options, services);
    RequestHead h{"POST", "/anthropic/v1/messages", "gw", {}, {}};
    ASSERT_FALSE(ex.on_request_headers(h));
    ASSERT_FALSE(
        ex.on_request_body(R"({"model":"claude-sonnet-4-5","max_tokens":5,"messages":[]})", true));
    ASSERT_EQ(ex.next_attempt(), Next::kSend);
    EXPECT_EQ(ex.call().path, "/v1/messages");
    EXPECT_EQ(ex.record().operation, "messages");
  }
}

TEST(ExchangeMessages, HeaderValueFiltersApplyBeforeBedrocksBetaAllowList) {
  auto r = control::testing::load(R"(
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIGatewayRoute
metadata: {name: r, namespace: default}
spec:
  rules:
    - matches: [{headers: [{name: x-ai-eg-model, value: anthropic.claude-sonnet-4-20250514-v1:0}]}]
      backendRefs: [{name: b}]
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIServiceBackend
metadata: {name: b, namespace: default}
spec:
  schema: {name: AWSAnthropic}
  backendRef: {name: b, kind: Backend, group: gateway.envoyproxy.io}
  headerValueFilters: [{name: anthropic-beta, mode: Denylist, values: [context-1m-2025-08-07]}]
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: Backend
metadata: {name: b, namespace: default}
spec:
  endpoints: [{ip: {address: 127.0.0.1, port: 9}}]
)");
  for (const auto &e : r.diag.errors())
    ADD_FAILURE() << e;
  ExchangeOptions options;
  ExchangeServices services;
  Exchange ex(r.snapshot, options, services);
  auto headers = [](std::string_view name) -> std::optional<std::string_view> {
    if (name == "anthropic-beta")
      return "context-1m-2025-08-07, interleaved-thinking-2025-05-14, files-api-2025-04-14";
    return std::nullopt;
  };
  RequestHead h{"POST", "/anthropic/v1/messages", "gw", headers, {}};
  ASSERT_FALSE(ex.on_request_headers(h));
  ASSERT_FALSE(ex.on_request_body(
      R"({"model":"anthropic.claude-sonnet-4-20250514-v1:0","max_tokens":5,"messages":[]})", true));
  ASSERT_EQ(ex.next_attempt(), Next::kSend);
  EXPECT_EQ(ex.call().path, "/model/anthropic.claude-sonnet-4-20250514-v1:0/invoke");
  EXPECT_NE(ex.call().body.find(R"("anthropic_beta":["interleaved-thinking-2025-05-14"])"),
            std::string::npos)
      << ex.call().body;
}

} // namespace
} // namespace aigw::pipeline
