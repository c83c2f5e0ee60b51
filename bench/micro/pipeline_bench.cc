// Microbenchmarks of the per-request pipeline work: body parse, surgical re-encode, usage scan.
#include "pipeline/request_body.h"
#include "pipeline/usage.h"

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

} // namespace

BENCHMARK_MAIN();
