// Microbenchmarks of the per-request pipeline work: body parse, surgical re-encode, usage scan.
#include "auth/aws_sigv4.h"
#include "pipeline/request_body.h"
#include "pipeline/usage.h"
#include "providers/aws_eventstream.h"
#include "ratelimit/limiter.h"
#include "translate/bedrock.h"
#include "translate/openai_chat.h"
#include "translate/translator.h"

#include <benchmark/benchmark.h>

namespace {

const std::string kBody =
    R"({"model":"gpt-4o-mini","messages":[{"role":"system","content":"You are a helpful assistant."},)"
    R"({"role":"user","content":"Write a haiku about gateways and tokens, please, with feeling."}],)"
    R"("temperature":0.7,"max_tokens":256,"stream":true})";

void BM_ParseRequestBody(benchmark::State &state) {
  for (auto _ : state) {
    auto r = aigw::pipeline::parse_request_body(aigw::pipeline::Endpoint::kChatCompletions, kBody);
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_ParseRequestBody);

void BM_EncodeWithOverrideAndUsage(benchmark::State &state) {
  for (auto _ : state) {
    auto r = aigw::pipeline::encode_request_body(kBody, "gpt-4o-2024-08-06", true);
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_EncodeWithOverrideAndUsage);

void BM_SseUsageScan(benchmark::State &state) {
  std::string stream;
  for (int i = 0; i < 50; ++i)
    stream +=
        R"(data: {"id":"c","object":"chat.completion.chunk","model":"gpt-4o","choices":[{"index":0,"delta":{"content":"word "}}]})"
        "\n\n";
  stream +=
      R"(data: {"id":"c","object":"chat.completion.chunk","model":"gpt-4o","choices":[],"usage":{"prompt_tokens":10,"completion_tokens":50,"total_tokens":60}})"
      "\n\ndata: [DONE]\n\n";
  for (auto _ : state) {
    aigw::pipeline::SseUsageScanner s;
    for (size_t i = 0; i < stream.size(); i += 512)
      s.feed(std::string_view(stream).substr(i, 512));
    benchmark::DoNotOptimize(s.usage());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * stream.size()));
}
BENCHMARK(BM_SseUsageScan);

// OpenAI chat → each provider's request (decode into the canonical form, encode for the provider):
// Bedrock Converse, Anthropic's Messages API, Gemini's generateContent.
void BM_TranslateRequestTo(benchmark::State &state, aigw::translate::Schema schema) {
  aigw::pipeline::ParsedRequest parsed;
  aigw::translate::TranslateInput in;
  in.body = kBody;
  in.parsed = &parsed;
  in.model = "bench-model";
  for (auto _ : state) {
    auto t = aigw::translate::make_translator(schema, aigw::pipeline::Endpoint::kChatCompletions);
    auto r = t->request(in);
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK_CAPTURE(BM_TranslateRequestTo, Converse, aigw::translate::Schema::kAWSBedrock);
BENCHMARK_CAPTURE(BM_TranslateRequestTo, Anthropic, aigw::translate::Schema::kAnthropic);
BENCHMARK_CAPTURE(BM_TranslateRequestTo, Gemini, aigw::translate::Schema::kGCPVertexAI);

// Converse answer → OpenAI chat.completion.
void BM_TranslateConverseResponse(benchmark::State &state) {
  const std::string answer =
      R"({"output":{"message":{"role":"assistant","content":[{"text":"Gateways hum softly, tokens )"
      R"(flow like autumn leaves, budgets keep the count."}]}},"stopReason":"end_turn",)"
      R"("usage":{"inputTokens":25,"outputTokens":17,"totalTokens":42},"metrics":{"latencyMs":300}})";
  for (auto _ : state) {
    auto r = aigw::translate::decode_converse_response(answer, "m");
    auto out = aigw::translate::encode_openai_chat_response(*r, 1);
    benchmark::DoNotOptimize(out);
  }
}
BENCHMARK(BM_TranslateConverseResponse);

// A 50-delta ConverseStream (AWS event stream frames) → OpenAI SSE chunks.
void BM_TranslateConverseStream(benchmark::State &state) {
  auto frame = [](const std::string &type, const std::string &payload) {
    return aigw::providers::encode_event_message(
        {{":event-type", type}, {":content-type", "application/json"}, {":message-type", "event"}},
        payload);
  };
  std::string wire = frame("messageStart", R"({"role":"assistant"})");
  for (int i = 0; i < 50; ++i)
    wire += frame("contentBlockDelta", R"({"contentBlockIndex":0,"delta":{"text":"word "}})");
  wire += frame("messageStop", R"({"stopReason":"end_turn"})");
  wire += frame("metadata", R"({"usage":{"inputTokens":10,"outputTokens":50,"totalTokens":60}})");
  for (auto _ : state) {
    aigw::translate::ConverseStreamDecoder d;
    aigw::translate::ChunkEncoder enc("id", "m", 1, true);
    std::string out;
    std::vector<aigw::translate::StreamEvent> ev;
    for (size_t i = 0; i < wire.size(); i += 512) {
      ev.clear();
      d.feed(std::string_view(wire).substr(i, 512), ev);
      for (const auto &e : ev)
        enc.on_event(e, out);
    }
    enc.finish(out);
    benchmark::DoNotOptimize(out);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * wire.size()));
}
BENCHMARK(BM_TranslateConverseStream);

// SigV4 over a translated Converse body, as every Bedrock attempt does.
void BM_SignSigV4(benchmark::State &state) {
  aigw::auth::AwsCredentials creds{"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", ""};
  aigw::auth::SigV4Request r;
  r.method = "POST";
  r.host = "bedrock-runtime.us-east-1.amazonaws.com";
  r.path = "/model/anthropic.claude-3-5-sonnet-20241022-v2:0/converse";
  r.payload = kBody;
  r.region = "us-east-1";
  r.unix_time = 1700000000;
  for (auto _ : state) {
    auto h = aigw::auth::sign_sigv4(r, creds);
    benchmark::DoNotOptimize(h);
  }
}
BENCHMARK(BM_SignSigV4);

// Token rate limiting in memory: match one Distinct-selector rule, admit, settle.
void BM_RateLimitAdmitSettle(benchmark::State &state) {
  aigw::api::RateLimitRule rule;
  rule.limit = 1000000000;
  rule.unit = "Hour";
  aigw::api::RateLimitHeaderSelector sel;
  sel.type = aigw::api::RateLimitHeaderSelector::Type::kDistinct;
  sel.name = "x-tenant-id";
  rule.client_selectors.push_back({sel});
  rule.response_cost = aigw::api::RateLimitCost{true, 0, "llm_total_token"};
  std::vector<std::shared_ptr<const aigw::ratelimit::CompiledRateLimit>> limits{
      *aigw::ratelimit::compile_rate_limit(rule, "default/policy/rule/0")};
  aigw::ratelimit::MemoryStore store;
  aigw::pipeline::HeaderLookup lookup =
      [](std::string_view name) -> std::optional<std::string_view> {
    if (name == "x-tenant-id") return std::string_view("tenant-a");
    return std::nullopt;
  };
  aigw::ratelimit::CostValues costs{{"llm_total_token", 60}};
  for (auto _ : state) {
    auto hits = aigw::ratelimit::match_rate_limits(limits, lookup, 1700000000);
    auto v = aigw::ratelimit::admit(store, hits, 1700000000);
    aigw::ratelimit::settle(store, hits, costs, 1700000000);
    benchmark::DoNotOptimize(v);
  }
}
BENCHMARK(BM_RateLimitAdmitSettle);

} // namespace

BENCHMARK_MAIN();
