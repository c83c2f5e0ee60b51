// pipeline::Exchange driven phase by phase with scripted hosts: what each phase answers, which
// backend each attempt goes to, what the provider is sent, how answers come back, what the
// record and the settlement say. No sockets: these are the decisions both hosts share.
#include "../control/config_test_util.h"
#include "pipeline/exchange.h"
#include "pipeline/headers.h"
#include "ratelimit/memory_store.h"

#include <map>

namespace aigw::pipeline {
namespace {

constexpr const char *kRoute = R"(
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIGatewayRoute
metadata: {name: r, namespace: default}
spec:
  llmRequestCosts:
    - {metadataKey: llm_total_token, type: TotalToken}
  rules:
    - matches: [{headers: [{name: x-ai-eg-model, value: gpt}]}]
      backendRefs: [{name: first, priority: 0}, {name: second, priority: 1}]
    - matches: [{headers: [{name: x-ai-eg-model, value: claude}]}]
      backendRefs: [{name: bedrock, modelNameOverride: anthropic.claude-3-haiku}]
    - matches: [{headers: [{name: x-ai-eg-model, value: anthropic}]}]
      backendRefs: [{name: anthropic}]
)";

std::string backend(const std::string &name, const std::string &schema) {
  return "\n---\napiVersion: aigateway.envoyproxy.io/v1beta1\nkind: AIServiceBackend\n"
         "metadata: {name: " +
         name + ", namespace: default}\nspec:\n  schema: {name: " + schema +
         "}\n  backendRef: {name: " + name +
         ", kind: Backend, group: gateway.envoyproxy.io}\n---\n"
         "apiVersion: gateway.envoyproxy.io/v1alpha1\nkind: Backend\nmetadata: {name: " +
         name +
         ", namespace: default}\nspec:\n  endpoints: [{ip: {address: 127.0.0.1, port: 9}}]\n";
}

std::string api_key(const std::string &name, const std::string &type, const std::string &key) {
  std::string field = type == "APIKey" ? "apiKey" : "anthropicAPIKey";
  return "\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: " + name +
         "-key, namespace: default}\nstringData: {apiKey: " + key +
         "}\n---\napiVersion: aigateway.envoyproxy.io/v1beta1\nkind: BackendSecurityPolicy\n"
         "metadata: {name: " +
         name + "-auth, namespace: default}\nspec:\n  type: " + type +
         "\n  targetRefs: [{group: aigateway.envoyproxy.io, kind: AIServiceBackend, name: " + name +
         "}]\n  " + field + ":\n    secretRef: {name: " + name + "-key}\n";
}

constexpr const char *kAws = R"(
---
apiVersion: v1
kind: Secret
metadata: {name: aws, namespace: default}
stringData:
  credentials: |
    [default]
    aws_access_key_id = AKIDEXAMPLE
    aws_secret_access_key = wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: BackendSecurityPolicy
metadata: {name: aws, namespace: default}
spec:
  type: AWSCredentials
  targetRefs: [{group: aigateway.envoyproxy.io, kind: AIServiceBackend, name: bedrock}]
  awsCredentials:
    region: us-east-1
    credentialsFile: {secretRef: {name: aws}}
)";

std::shared_ptr<const control::Snapshot> snapshot(const std::string &extra = {}) {
  auto r = control::testing::load(
      std::string(kRoute) + backend("first", "OpenAI") + backend("second", "OpenAI") +
      backend("bedrock", "AWSBedrock") + backend("anthropic", "Anthropic") +
      api_key("first", "APIKey", "sk-first-secret") +
      api_key("anthropic", "AnthropicAPIKey", "sk-ant-secret") + kAws + extra);
  for (const auto &e : r.diag.errors())
    ADD_FAILURE() << e;
  return r.snapshot;
}

// A budget of 10 tokens an hour per x-tenant, charged the answer's total tokens.
constexpr const char *kTenantBudget = R"(
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: BackendTrafficPolicy
metadata: {name: budget, namespace: default}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: r}]
  rateLimit:
    type: Global
    global:
      rules:
        - clientSelectors: [{headers: [{name: x-tenant, type: Distinct}]}]
          limit: {requests: 10, unit: Hour}
          cost:
            request: {from: Number, number: 0}
            response: {from: Metadata, metadata: {namespace: io.envoy.ai_gateway, key: llm_total_token}}
)";

// A scripted host: the request's headers, and the exchange under test.
struct Host {
  explicit Host(std::shared_ptr<const control::Snapshot> snap,
                std::map<std::string, std::string> h = {})
      : headers(std::move(h)), ex(std::move(snap), options, services) {}

  Reply head(std::string_view method, std::string_view target) {
    RequestHead rh;
    rh.method = method;
    rh.target = target;
    rh.host = "gw.example";
    rh.headers = [this](std::string_view name) -> std::optional<std::string_view> {
      auto it = headers.find(std::string(name));
      if (it == headers.end()) return std::nullopt;
      return std::string_view(it->second);
    };
    return ex.on_request_headers(rh);
  }
  // Head and body of a chat completion; the route is chosen (aigw run).
  Reply chat(const std::string &body) {
    if (auto r = head("POST", "/v1/chat/completions")) return r;
    return ex.on_request_body(body, true);
  }

  std::map<std::string, std::string> headers;
  ExchangeOptions options;
  observability::Metrics metrics{1, {}};
  ExchangeServices services{&metrics, nullptr, {}};
  Exchange ex;
};

TEST(ExchangeLocalReplies, UnknownPathWrongMethodAndModels) {
  auto snap = snapshot();
  {
    Host h(snap);
    auto r = h.head("POST", "/v1/nothing");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 404);
    EXPECT_EQ(r->content_type, "text/plain");
    EXPECT_EQ(r->body, "unsupported path: /v1/nothing");
  }
  {
    Host h(snap);
    auto r = h.head("GET", "/v1/chat/completions");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 405);
    ASSERT_EQ(r->headers.size(), 1u);
    EXPECT_EQ(r->headers[0], (std::pair<std::string, std::string>{"allow", "POST"}));
    EXPECT_NE(r->body.find("\"type\":\"MethodNotAllowed\""), std::string::npos);
  }
  {
    Host h(snap);
    auto r = h.head("GET", "/v1/models");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_NE(r->body.find("\"id\":\"gpt\""), std::string::npos);
    EXPECT_NE(r->body.find("\"id\":\"claude\""), std::string::npos);
    EXPECT_EQ(h.ex.record().status, 200);
  }
}

TEST(ExchangeLocalReplies, MalformedJsonAndUnknownModel) {
  auto snap = snapshot();
  {
    Host h(snap);
    auto r = h.chat(R"({"model": "gpt", "messages": [)");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400);
    EXPECT_NE(r->body.find("\"type\":\"BadRequest\""), std::string::npos);
  }
  {
    Host h(snap);
    auto r = h.chat(R"({"model": "nope", "messages": []})");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 404);
    EXPECT_NE(r->body.find("\"code\":\"model_not_found\""), std::string::npos);
    EXPECT_EQ(h.ex.record().error, "no matching route");
  }
}

TEST(ExchangeAttempts, AConnectFailureFallsBackToTheNextPriority) {
  Host h(snapshot());
  ASSERT_FALSE(h.chat(R"({"model": "gpt", "messages": [{"role": "user", "content": "hi"}]})"));
  EXPECT_EQ(h.ex.admission(), nullptr); // no rate limit on this route
  ASSERT_EQ(h.ex.next_attempt(), Next::kSend);
  EXPECT_EQ(h.ex.backend().key, "default/first");
  EXPECT_EQ(h.ex.call().authorization, "Bearer sk-first-secret");
  EXPECT_EQ(h.ex.call().path, "/v1/chat/completions");
  ASSERT_TRUE(h.ex.on_attempt_failed(AttemptFailure::kConnect, "connection refused"));
  ASSERT_EQ(h.ex.next_attempt(), Next::kSend);
  EXPECT_EQ(h.ex.backend().key, "default/second");
  EXPECT_EQ(h.ex.call().authorization, ""); // second has no credentials
  EXPECT_EQ(h.ex.record().attempts, 2);
  EXPECT_EQ(h.metrics.health().fallbacks.load(), 1u);
  // Both failed: nothing is left to try, and the last failure is the answer.
  EXPECT_TRUE(h.ex.on_attempt_failed(AttemptFailure::kConnect, "connection refused"));
  ASSERT_EQ(h.ex.next_attempt(), Next::kReply);
  auto r = h.ex.take_reply();
  EXPECT_EQ(r.status, 503);
  EXPECT_NE(r.body.find("\"type\":\"OpenAIBackendError\""), std::string::npos);
  EXPECT_NE(r.body.find("reset reason: connection refused"), std::string::npos);
}

TEST(ExchangeAttempts, RetriesAStatusThePolicyNamesAndNotOneItDoesNot) {
  auto snap = snapshot(R"(
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: BackendTrafficPolicy
metadata: {name: retry, namespace: default}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: r}]
  retry:
    numRetries: 2
    retryOn: {httpStatusCodes: [503], triggers: [retriable-status-codes]}
)");
  Host h(snap);
  ASSERT_FALSE(h.chat(R"({"model": "gpt", "messages": []})"));
  ASSERT_EQ(h.ex.next_attempt(), Next::kSend);
  EXPECT_TRUE(h.ex.on_response_headers(503, "application/json", "", true).retry);
  ASSERT_EQ(h.ex.next_attempt(), Next::kSend);
  EXPECT_EQ(h.ex.backend().key, "default/second");
  // 500 is not in the policy: this answer is the client's.
  auto plan = h.ex.on_response_headers(500, "application/json", "", true);
  EXPECT_FALSE(plan.retry);
  EXPECT_EQ(plan.mode, BodyMode::kGather);
  EXPECT_EQ(h.metrics.health().retries.load(), 1u);
}

TEST(ExchangeAttempts, ABackendThatCannotServeTheEndpointIsA422NamingThePath) {
  Host h(snapshot());
  {
    // The host's strings need not outlive the head phase (extproc maps the path into a local).
    std::string target = "/v1/embeddings";
    ASSERT_FALSE(h.head("POST", target));
    target.assign(target.size(), 'x');
  }
  ASSERT_FALSE(h.ex.on_request_body(R"({"model": "anthropic", "input": "hi"})", true));
  ASSERT_EQ(h.ex.next_attempt(), Next::kReply);
  auto r = h.ex.take_reply();
  EXPECT_EQ(r.status, 422); // as upstream v1.2
  EXPECT_NE(r.body.find("does not serve /v1/embeddings"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("\"type\":\"invalid_request_error\""), std::string::npos);
}

TEST(ExchangeAdmission, RefusesWithRateLimitHeadersOnceTheBudgetIsSpent) {
  auto snap = snapshot(kTenantBudget);
  ratelimit::MemoryStore store;
  Host first(snap, {{"x-tenant", "t1"}});
  ASSERT_FALSE(first.chat(R"({"model": "gpt", "messages": []})"));
  auto *check = first.ex.admission();
  ASSERT_NE(check, nullptr);
  ASSERT_FALSE(first.ex.on_admitted(ratelimit::admit(store, check->hits, check->now)));
  ASSERT_EQ(first.ex.next_attempt(), Next::kSend);
  EXPECT_EQ(first.ex.on_response_headers(200, "application/json", "", true).mode, BodyMode::kRelay);
  first.ex.observe(
      R"({"model":"gpt-x","usage":{"prompt_tokens":4,"completion_tokens":8,"total_tokens":12}})");
  auto settled = first.ex.complete(true);
  ASSERT_TRUE(settled.route.hits && settled.route.costs);
  ratelimit::settle(store, *settled.route.hits, *settled.route.costs,
                    settled.route.hits->front().window_end - 1);
  EXPECT_EQ(first.ex.record().usage.total, 12u);
  EXPECT_EQ(first.ex.record().costs.size(), 1u);
  EXPECT_EQ(first.ex.record().response_model, "gpt-x");
  // 12 of 10 spent: the next request of this tenant is refused, with the budget's headers.
  Host second(snap, {{"x-tenant", "t1"}});
  ASSERT_FALSE(second.chat(R"({"model": "gpt", "messages": []})"));
  check = second.ex.admission();
  ASSERT_NE(check, nullptr);
  auto refused = second.ex.on_admitted(ratelimit::admit(store, check->hits, check->now));
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 429);
  std::map<std::string, std::string> hs(refused->headers.begin(), refused->headers.end());
  EXPECT_EQ(hs["x-ratelimit-limit"], "10");
  EXPECT_EQ(hs["x-ratelimit-remaining"], "0");
  EXPECT_TRUE(hs.count("retry-after"));
  EXPECT_NE(refused->body.find("rate_limit_exceeded"), std::string::npos);
  // Nothing to settle or refund for a refused request.
  auto s = second.ex.complete(false);
  EXPECT_TRUE(!s.route.hits || s.route.hits->empty());
  // Another tenant has its own bucket.
  Host other(snap, {{"x-tenant", "t2"}});
  ASSERT_FALSE(other.chat(R"({"model": "gpt", "messages": []})"));
  check = other.ex.admission();
  ASSERT_NE(check, nullptr);
  EXPECT_FALSE(other.ex.on_admitted(ratelimit::admit(store, check->hits, check->now)));
}

TEST(ExchangeAdmission, AStoreThatCannotAnswerFailsOpenOrClosed) {
  auto snap = snapshot(kTenantBudget);
  std::atomic<uint64_t> failed_open{0};
  {
    Host h(snap, {{"x-tenant", "t"}});
    h.services.budget_store_failed_open = &failed_open;
    ASSERT_FALSE(h.chat(R"({"model": "gpt", "messages": []})"));
    ASSERT_NE(h.ex.admission(), nullptr);
    EXPECT_FALSE(h.ex.on_admitted(std::nullopt));
    EXPECT_EQ(failed_open.load(), 1u);
  }
  {
    Host h(snap, {{"x-tenant", "t"}});
    h.options.ratelimit_fail_closed = true;
    ASSERT_FALSE(h.chat(R"({"model": "gpt", "messages": []})"));
    ASSERT_NE(h.ex.admission(), nullptr);
    auto r = h.ex.on_admitted(std::nullopt);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 503);
  }
}

TEST(ExchangeResponse, StreamedUsageIsReadAcrossChunksAndCostsComputed) {
  Host h(snapshot());
  ASSERT_FALSE(h.chat(R"({"model": "gpt", "stream": true, "messages": []})"));
  ASSERT_EQ(h.ex.next_attempt(), Next::kSend);
  // Costs are configured: the stream is asked for its usage.
  EXPECT_NE(std::string(h.ex.call().body).find("\"include_usage\":true"), std::string::npos);
  auto plan = h.ex.on_response_headers(200, "text/event-stream", "", true);
  // The client did not ask for the usage chunk the gateway asked for: it is filtered out.
  EXPECT_EQ(plan.mode, BodyMode::kTranslate);
  EXPECT_TRUE(plan.sse);
  EXPECT_FALSE(plan.drop_content_type);
  std::string first =
      "data: {\"model\":\"gpt-2025\",\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\n";
  std::string sse = first +
                    "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4,"
                    "\"total_tokens\":7}}\n\ndata: [DONE]\n\n";
  auto cut = sse.find("completion_tokens");
  std::string out;
  h.ex.translate(std::string_view(sse).substr(0, cut), false, out);
  h.ex.translate(std::string_view(sse).substr(cut), true, out);
  EXPECT_EQ(out, first + "data: [DONE]\n\n");
  h.ex.complete(true);
  const auto &rec = h.ex.record();
  EXPECT_EQ(rec.usage.input, 3u);
  EXPECT_EQ(rec.usage.output, 4u);
  EXPECT_EQ(rec.response_model, "gpt-2025");
  ASSERT_EQ(rec.costs.size(), 1u);
  EXPECT_EQ(rec.costs[0], (std::pair<std::string, uint64_t>{"llm_total_token", 7}));
  EXPECT_TRUE(rec.first_byte.has_value());
}

TEST(ExchangeResponse, AProviderErrorIsTranslatedAndEchoedCredentialsScrubbed) {
  Host h(snapshot());
  ASSERT_FALSE(h.chat(R"({"model": "gpt", "messages": []})"));
  ASSERT_EQ(h.ex.next_attempt(), Next::kSend);
  auto plan = h.ex.on_response_headers(401, "text/plain", "", true);
  EXPECT_EQ(plan.mode, BodyMode::kGather);
  EXPECT_TRUE(plan.drop_content_type);
  EXPECT_TRUE(h.ex.gather("bad key sk-first-secret"));
  auto g = h.ex.finish_gathered(true);
  EXPECT_FALSE(g.local);
  EXPECT_EQ(g.reply.status, 401);
  EXPECT_EQ(g.reply.content_type, "application/json");
  EXPECT_EQ(g.reply.body.find("sk-first-secret"), std::string::npos);
  EXPECT_NE(g.reply.body.find("[REDACTED]"), std::string::npos);
  EXPECT_NE(g.reply.body.find("\"type\":\"OpenAIBackendError\""), std::string::npos);
  EXPECT_EQ(h.ex.record().error, "upstream status 401");
  // A failed answer settles nothing.
  auto s = h.ex.complete(true);
  EXPECT_EQ(s.route.costs, nullptr);
}

TEST(ExchangeResponse, AnErrorBodyPastItsBoundIsABadGatewayOfOurOwn) {
  Host h(snapshot());
  h.options.max_error_body = 16;
  ASSERT_FALSE(h.chat(R"({"model": "gpt", "messages": []})"));
  ASSERT_EQ(h.ex.next_attempt(), Next::kSend);
  h.ex.on_response_headers(500, "application/json", "", false);
  EXPECT_FALSE(h.ex.gather(std::string(32, 'x')));
  auto g = h.ex.finish_gathered(false);
  EXPECT_TRUE(g.local);
  EXPECT_EQ(g.reply.status, 502);
  EXPECT_NE(g.reply.body.find("exceeds 16 bytes"), std::string::npos);
}

TEST(ExchangeResponse, CompletionsErrorsPassThroughAsUpstreamDoes) {
  Host h(snapshot());
  ASSERT_FALSE(h.head("POST", "/v1/completions"));
  ASSERT_FALSE(h.ex.on_request_body(R"({"model": "gpt", "prompt": "hi"})", true));
  ASSERT_EQ(h.ex.next_attempt(), Next::kSend);
  EXPECT_EQ(h.ex.call().path, "/v1/completions");
  h.ex.on_response_headers(429, "text/plain", "", true);
  h.ex.gather("slow down");
  auto g = h.ex.finish_gathered(true);
  EXPECT_EQ(g.reply.body, "slow down");
  EXPECT_EQ(g.reply.content_type, "text/plain");
}

TEST(ExchangeEncode, BedrockGetsConverseSignedWithTheOverriddenModel) {
  Host h(snapshot());
  ASSERT_FALSE(h.chat(
      R"({"model": "claude", "max_tokens": 5, "messages": [{"role": "user", "content": "hello"}]})"));
  ASSERT_EQ(h.ex.next_attempt(), Next::kSend);
  const auto &call = h.ex.call();
  EXPECT_EQ(call.path, "/model/anthropic.claude-3-haiku/converse");
  EXPECT_EQ(call.model, "anthropic.claude-3-haiku");
  EXPECT_TRUE(call.authorization.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/"));
  EXPECT_NE(std::string(call.body).find("\"maxTokens\":5"), std::string::npos);
  EXPECT_EQ(h.ex.record().request_model, "anthropic.claude-3-haiku");
  // A Bedrock error comes back in the OpenAI shape, with the provider's status.
  auto plan = h.ex.on_response_headers(400, "application/json", "ValidationException", true);
  EXPECT_EQ(plan.mode, BodyMode::kGather);
  h.ex.gather(R"({"message":"bad input"})");
  auto g = h.ex.finish_gathered(true);
  EXPECT_EQ(g.reply.status, 400);
  EXPECT_NE(g.reply.body.find("bad input"), std::string::npos);
  EXPECT_NE(g.reply.body.find("ValidationException"), std::string::npos);
}

TEST(ExchangeEncode, ABodyTheSchemaRejectsIsA422WithTheTranslatorsMessage) {
  Host h(snapshot());
  ASSERT_FALSE(h.chat(R"({"model": "claude", "messages": [{"role": "user", "content": "x"}],
    "response_format": {"type": "json_schema", "json_schema": {"name": "n", "schema": {}}}})"));
  ASSERT_EQ(h.ex.next_attempt(), Next::kReply);
  auto r = h.ex.take_reply();
  EXPECT_EQ(r.status, 422);
  EXPECT_NE(r.body.find("\"type\":\"UnprocessableEntity\""), std::string::npos);
  EXPECT_EQ(r.body.find("invalid request for backend"), std::string::npos);
}

TEST(ExchangeResponse, AnAnthropicStreamIsTranslatedPieceByPiece) {
  Host h(snapshot());
  ASSERT_FALSE(h.chat(
      R"({"model": "anthropic", "stream": true, "max_tokens": 9, "messages": [{"role": "user", "content": "hi"}]})"));
  ASSERT_EQ(h.ex.next_attempt(), Next::kSend);
  EXPECT_EQ(h.ex.call().path, "/v1/messages");
  auto plan = h.ex.on_response_headers(200, "text/event-stream", "", true);
  EXPECT_EQ(plan.mode, BodyMode::kTranslate);
  EXPECT_EQ(plan.content_type, "text/event-stream");
  EXPECT_TRUE(plan.drop_content_encoding);
  std::string events =
      "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\","
      "\"model\":\"claude-x\",\"usage\":{\"input_tokens\":5,\"output_tokens\":1}}}\n\n"
      "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,"
      "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n"
      "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,"
      "\"delta\":{\"type\":\"text_delta\",\"text\":\"Hello\"}}\n\n"
      "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":"
      "\"end_turn\"},\"usage\":{\"output_tokens\":6}}\n\n"
      "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
  std::string out;
  h.ex.translate(std::string_view(events).substr(0, 40), false, out);
  h.ex.translate(std::string_view(events).substr(40), true, out);
  EXPECT_NE(out.find("chat.completion.chunk"), std::string::npos);
  EXPECT_NE(out.find("Hello"), std::string::npos);
  EXPECT_NE(out.find("data: [DONE]"), std::string::npos);
  h.ex.complete(true);
  EXPECT_EQ(h.ex.record().usage.input, 5u);
  EXPECT_EQ(h.ex.record().usage.output, 6u);
  EXPECT_EQ(h.ex.record().costs.size(), 1u);
}

TEST(ExchangeEncode, HeaderMutationsNeverSetInternalOrCredentialHeaders) {
  EXPECT_FALSE(mutation_may_set("x-ai-eg-model"));
  EXPECT_FALSE(mutation_may_set("X-AI-EG-Internal"));
  EXPECT_FALSE(mutation_may_set("authorization"));
  EXPECT_FALSE(mutation_may_set("transfer-encoding"));
  EXPECT_FALSE(mutation_may_set(":path"));
  EXPECT_FALSE(mutation_may_set("host"));
  EXPECT_TRUE(mutation_may_set("x-team"));
}

TEST(ExchangeExtproc, EnvoyPicksTheBackendAndNamesTheRoute) {
  auto snap = snapshot();
  // The extproc host: no route choice here, Envoy's attributes name the backend ref and route.
  Host h(snap);
  ASSERT_FALSE(h.head("POST", "/v1/chat/completions"));
  ASSERT_FALSE(h.ex.on_request_body(R"({"model": "gpt", "messages": []})", false));
  EXPECT_EQ(h.ex.admission(), nullptr);
  auto r = h.ex.use_backend("default/nothing/route/r/rule/0/ref/0", "default/r", "");
  ASSERT_EQ(r, Next::kReply);
  EXPECT_EQ(h.ex.take_reply().status, 500);

  Host ok(snap);
  ASSERT_FALSE(ok.head("POST", "/v1/chat/completions"));
  ASSERT_FALSE(ok.ex.on_request_body(R"({"model": "gpt", "messages": []})", false));
  ASSERT_EQ(ok.ex.use_backend("default/first/route/r/rule/0/ref/0", "default/r", ""), Next::kSend);
  EXPECT_EQ(ok.ex.call().authorization, "Bearer sk-first-secret");
  EXPECT_EQ(ok.ex.record().route, "default/r");
  ok.ex.on_response_headers(200, "application/json", "", false);
  ok.ex.observe(R"({"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}})");
  ok.ex.complete(true);
  ASSERT_EQ(ok.ex.record().costs.size(), 1u); // the named route's costs
  EXPECT_EQ(ok.ex.record().costs[0].second, 3u);
}

constexpr const char *kOverride = R"(
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: BackendSecurityPolicy
metadata: {name: second-auth, namespace: default}
spec:
  type: APIKey
  targetRefs: [{group: aigateway.envoyproxy.io, kind: AIServiceBackend, name: second}]
  apiKey: {secretRef: {name: first-key}}
  credentialOverride:
    fromRequestHeaders: {fallbackToConfigured: false}
)";

TEST(ExchangeEncode, ACredentialOverrideHeaderIsTheRequestsCredentialAndNeverForwarded) {
  auto snap = snapshot(kOverride);
  const auto &second = *snap->rules[0].refs[1].backend;
  ASSERT_TRUE(second.credential_override);
  EXPECT_EQ(second.credential_override->header, "x-aigw-api-key");
  const auto &remove = snap->rules[0].refs[1].header_mutation.remove;
  EXPECT_NE(std::find(remove.begin(), remove.end(), "x-aigw-api-key"), remove.end());
  {
    Host h(snap, {{"x-aigw-api-key", " sk-tenant-7 "}});
    ASSERT_FALSE(h.chat(R"({"model": "gpt", "messages": []})"));
    ASSERT_EQ(h.ex.next_attempt(), Next::kSend);
    EXPECT_TRUE(h.ex.on_attempt_failed(AttemptFailure::kConnect, "refused"));
    ASSERT_EQ(h.ex.next_attempt(), Next::kSend); // the second priority: the override applies
    EXPECT_EQ(h.ex.call().authorization, "Bearer sk-tenant-7");
  }
  {
    // No credential and no fallback: 401, nothing sent.
    Host h(snap);
    ASSERT_FALSE(h.chat(R"({"model": "gpt", "messages": []})"));
    ASSERT_EQ(h.ex.next_attempt(), Next::kSend);
    EXPECT_TRUE(h.ex.on_attempt_failed(AttemptFailure::kConnect, "refused"));
    ASSERT_EQ(h.ex.next_attempt(), Next::kReply);
    auto r = h.ex.take_reply();
    EXPECT_EQ(r.status, 401);
    EXPECT_NE(r.body.find("missing upstream credential"), std::string::npos) << r.body;
  }
}

constexpr const char *kAwsFromMetadata = R"(
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIGatewayRoute
metadata: {name: r2, namespace: default}
spec:
  rules:
    - matches: [{headers: [{name: x-ai-eg-model, value: m}]}]
      backendRefs: [{name: bedrock2}]
---
apiVersion: v1
kind: Secret
metadata: {name: aws2, namespace: default}
stringData:
  credentials: |
    [default]
    aws_access_key_id = AKIDCONFIGURED
    aws_secret_access_key = configured
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIServiceBackend
metadata: {name: bedrock2, namespace: default}
spec:
  schema: {name: AWSBedrock}
  backendRef: {name: bedrock, kind: Backend, group: gateway.envoyproxy.io}
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: BackendSecurityPolicy
metadata: {name: aws2, namespace: default}
spec:
  type: AWSCredentials
  targetRefs: [{group: aigateway.envoyproxy.io, kind: AIServiceBackend, name: bedrock2}]
  awsCredentials:
    region: us-east-1
    credentialsFile: {secretRef: {name: aws2}}
  credentialOverride:
    fromDynamicMetadata: {namespace: envoy.filters.http.ext_authz}
)";

TEST(ExchangeExtproc, AnAwsCredentialFromEnvoyMetadataSignsTheRequest) {
  auto snap = snapshot(kAwsFromMetadata);
  std::string name;
  for (const auto &[n, ref] : snap->refs_by_name)
    if (ref.backend->key == "default/bedrock2") name = n;
  ASSERT_FALSE(name.empty());
  MetadataLookup md = [](std::string_view ns, std::string_view key,
                         std::string_view field) -> std::optional<std::string> {
    if (ns != "envoy.filters.http.ext_authz" || key != "x-aigw-aws-credentials") return {};
    if (field == "accessKeyId") return "AKIDPERREQUEST";
    if (field == "secretAccessKey") return "per-request-secret";
    if (field == "sessionToken") return "per-request-session-token";
    return {};
  };
  Host h(snap);
  ASSERT_FALSE(h.head("POST", "/v1/chat/completions"));
  ASSERT_FALSE(h.ex.on_request_body(R"({"model": "m", "messages": []})", false));
  ASSERT_EQ(h.ex.use_backend(name, "", "", &md), Next::kSend);
  EXPECT_NE(h.ex.call().authorization.find("Credential=AKIDPERREQUEST/"), std::string::npos);
  bool token = false;
  for (const auto &[k, v] : h.ex.call().headers)
    token |= k == "x-amz-security-token" && v == "per-request-session-token";
  EXPECT_TRUE(token);
  // Without metadata the configured credential is used (fallbackToConfigured defaults to true).
  Host h2(snap);
  ASSERT_FALSE(h2.head("POST", "/v1/chat/completions"));
  ASSERT_FALSE(h2.ex.on_request_body(R"({"model": "m", "messages": []})", false));
  ASSERT_EQ(h2.ex.use_backend(name, "", ""), Next::kSend);
  EXPECT_NE(h2.ex.call().authorization.find("Credential=AKIDCONFIGURED/"), std::string::npos);
}

} // namespace
} // namespace aigw::pipeline

namespace aigw::pipeline {
namespace {

// API keys name the clients; team-a's VirtualKey allows "gpt" only, with 10 tokens a day.
constexpr const char *kVirtualKeys = R"(
---
apiVersion: v1
kind: Secret
metadata: {name: client-keys, namespace: default}
stringData: {team-a: sk-team-a, team-b: sk-team-b, team-c: sk-team-c}
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: SecurityPolicy
metadata: {name: keys, namespace: default}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: r}]
  apiKeyAuth:
    credentialRefs: [{name: client-keys}]
    extractFrom: [{headers: [x-api-key]}]
---
apiVersion: aigw.run/v1alpha1
kind: VirtualKey
metadata: {name: team-a, namespace: default}
spec:
  clientID: team-a
  allowedModels: [gpt]
  timeZone: UTC
  budgets:
    - {window: Day, tokens: 10}
    - {window: Month, requests: 100}
---
apiVersion: aigw.run/v1alpha1
kind: VirtualKey
metadata: {name: team-c, namespace: default}
spec:
  clientID: team-c
  expiresAt: "2020-01-01T00:00:00Z"
)";

TEST(ExchangeVirtualKeys, AKeysTokenBudgetIsChargedAndThenRefusesInTheClientsSchema) {
  auto snap = snapshot(kVirtualKeys);
  ASSERT_TRUE(snap);
  ratelimit::MemoryStore store;
  Host first(snap, {{"x-api-key", "sk-team-a"}});
  ASSERT_FALSE(first.chat(R"({"model": "gpt", "messages": []})"));
  EXPECT_EQ(first.ex.record().client_id, "team-a");
  EXPECT_EQ(first.ex.record().virtual_key, "default/team-a");
  auto *check = first.ex.admission();
  ASSERT_NE(check, nullptr);
  ASSERT_EQ(check->hits.size(), 2u);
  ASSERT_FALSE(first.ex.on_admitted(ratelimit::admit(store, check->hits, check->now)));
  ASSERT_EQ(first.ex.next_attempt(), Next::kSend);
  EXPECT_EQ(first.ex.on_response_headers(200, "application/json", "", true).mode, BodyMode::kRelay);
  first.ex.observe(
      R"({"model":"gpt","usage":{"prompt_tokens":4,"completion_tokens":8,"total_tokens":12}})");
  auto settled = first.ex.complete(true);
  ASSERT_TRUE(settled.route.hits && settled.route.costs);
  ratelimit::settle(store, *settled.route.hits, *settled.route.costs, check->now);
  // The access log's costs are the route's alone.
  EXPECT_EQ(first.ex.record().costs.size(), 1u);

  Host second(snap, {{"x-api-key", "sk-team-a"}});
  ASSERT_FALSE(second.chat(R"({"model": "gpt", "messages": []})"));
  check = second.ex.admission();
  ASSERT_NE(check, nullptr);
  auto refused = second.ex.on_admitted(ratelimit::admit(store, check->hits, check->now));
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 429);
  EXPECT_NE(refused->body.find("\"code\":\"insufficient_quota\""), std::string::npos);
  EXPECT_NE(refused->body.find("10 tokens per day (UTC), 0 remaining"), std::string::npos)
      << refused->body;
  std::map<std::string, std::string> hs(refused->headers.begin(), refused->headers.end());
  EXPECT_EQ(hs["x-ratelimit-remaining"], "0");
  EXPECT_TRUE(hs.count("x-aigw-budget-reset"));
  auto s = second.ex.complete(false);
  EXPECT_TRUE(!s.route.hits || s.route.hits->empty());
}

TEST(ExchangeVirtualKeys, AModelTheKeyMayNotUseIs403AndAnExpiredKey401) {
  auto snap = snapshot(kVirtualKeys);
  ASSERT_TRUE(snap);
  Host other_model(snap, {{"x-api-key", "sk-team-a"}});
  auto r = other_model.chat(R"({"model": "claude", "messages": []})");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
  EXPECT_NE(r->body.find("model_not_allowed"), std::string::npos);
  Host expired(snap, {{"x-api-key", "sk-team-c"}});
  r = expired.chat(R"({"model": "gpt", "messages": []})");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  EXPECT_NE(r->body.find("expired at 2020-01-01T00:00:00Z"), std::string::npos);
  // A client without a VirtualKey goes on unbudgeted.
  Host plain(snap, {{"x-api-key", "sk-team-b"}});
  ASSERT_FALSE(plain.chat(R"({"model": "claude", "messages": []})"));
  EXPECT_EQ(plain.ex.admission(), nullptr);
}

TEST(ExchangeVirtualKeys, BehindEnvoyOnlyTheKeysBudgetsAreAdmittedHere) {
  auto snap = snapshot(kVirtualKeys + std::string(kTenantBudget));
  ASSERT_TRUE(snap);
  Host h(snap, {{"x-api-key", "sk-team-a"}, {"x-tenant", "t"}});
  h.options.route_budgets = false;
  h.options.verify_clients = false;
  Exchange ex(snap, h.options, h.services);
  RequestHead rh;
  rh.method = "POST";
  rh.target = "/v1/chat/completions";
  rh.host = "gw";
  rh.headers = [&h](std::string_view name) -> std::optional<std::string_view> {
    auto it = h.headers.find(std::string(name));
    if (it == h.headers.end()) return std::nullopt;
    return std::string_view(it->second);
  };
  ASSERT_FALSE(ex.on_request_headers(rh));
  ASSERT_FALSE(ex.on_request_body(R"({"model": "gpt", "messages": []})", false));
  EXPECT_EQ(ex.use_backend("default/first/route/r/rule/0/ref/0", "default/r", ""), Next::kSend);
  EXPECT_EQ(ex.record().client_id, "team-a");
  auto *check = ex.admission();
  ASSERT_NE(check, nullptr);
  EXPECT_EQ(check->hits.size(), 2u); // the key's two, not the route's tenant budget
}

} // namespace
} // namespace aigw::pipeline
