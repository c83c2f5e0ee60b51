// The external processor's cost per request: every ext_proc message of one exchange (router
// request headers and body, the upstream phase, response headers and body) through the
// processor, on recorded OpenAI exchanges from the shared fixtures (built-in bodies when absent).
// Passthrough to OpenAI, and the same request translated to Bedrock Converse with SigV4.
#include "extproc/filter_config.h"
#include "extproc/processor.h"

#include <benchmark/benchmark.h>
#include <yaml-cpp/yaml.h>

#include <filesystem>

namespace {

using namespace aigw::extproc;

struct Exchange {
  std::string request, response;
};

Exchange load(const char *name, bool streaming) {
  std::filesystem::path p =
      std::filesystem::path(AIGW_SHARED_DIR) / "fixtures/envoy-ai-gateway/openai-cassettes" / name;
  if (std::filesystem::exists(p)) {
    auto doc = YAML::LoadFile(p.string());
    auto i = doc["interactions"][0];
    return {i["request"]["body"].as<std::string>(), i["response"]["body"].as<std::string>()};
  }
  if (streaming)
    return {
        R"({"model":"gpt-5-nano","stream":true,"messages":[{"role":"user","content":"Hello!"}]})",
        "data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\n\ndata: "
        "{\"choices\":[],\"usage\":{\"prompt_tokens\":8,\"completion_tokens\":9,\"total_tokens\":"
        "17}}\n\ndata: [DONE]\n\n"};
  return {
      R"({"model":"gpt-5-nano","messages":[{"role":"user","content":"Hello!"}]})",
      R"({"model":"gpt-5-nano","choices":[],"usage":{"prompt_tokens":8,"completion_tokens":9,"total_tokens":17}})"};
}

const ProcessorContext &context() {
  static auto cfg = [] {
    auto c = parse_filter_config(R"(version: dev
backends:
  - name: openai
    schema: {name: OpenAI, prefix: v1}
    auth: {apiKey: {key: sk-bench}}
  - name: bedrock
    modelNameOverride: anthropic.claude-3-5-sonnet-20241022-v2:0
    schema: {name: AWSBedrock}
    auth: {aws: {credentialFileLiteral: "[default]\naws_access_key_id = A\naws_secret_access_key = B\n", region: us-east-1}}
llmRequestCosts:
  - {metadataKey: llm_total_token, routeName: default/r, type: TotalToken}
)");
    return to_snapshot(*c);
  }();
  static aigw::control::ConfigStore store(cfg);
  static ProcessorContext ctx = [] {
    ProcessorContext c;
    c.store = &store;
    return c;
  }();
  return ctx;
}

void add_header(pb::HttpHeaders *h, const char *k, const std::string &v) {
  auto *x = h->mutable_headers()->add_headers();
  x->set_key(k);
  x->set_raw_value(v);
}

void run(benchmark::State &state, const char *cassette, const char *backend, bool streaming,
         const std::string &answer_override = {}) {
  auto ex = load(cassette, streaming);
  if (!answer_override.empty()) ex.response = answer_override;
  RequestRegistry registry;
  pb::ProcessingRequest rh, rb, up, sh, sb;
  add_header(rh.mutable_request_headers(), ":path", "/v1/chat/completions");
  add_header(rh.mutable_request_headers(), ":method", "POST");
  add_header(rh.mutable_request_headers(), "x-request-id", "bench");
  rb.mutable_request_body()->set_body(ex.request);
  rb.mutable_request_body()->set_end_of_stream(true);
  add_header(sh.mutable_response_headers(), ":status", "200");
  add_header(sh.mutable_response_headers(), "content-type",
             streaming ? "text/event-stream" : "application/json");
  sb.mutable_response_body()->set_body(ex.response);
  sb.mutable_response_body()->set_end_of_stream(true);
  (*(*up.mutable_attributes())["envoy.filters.http.ext_proc"]
        .mutable_fields())["xds.upstream_host_metadata.filter_metadata['aigateway.envoy.io']['per_"
                           "route_rule_backend_name']"]
      .set_string_value(backend);
  for (auto _ : state) {
    Stream router(registry, context());
    auto r1 = router.process(rh);
    std::string id =
        r1.request_headers().response().header_mutation().set_headers(0).header().raw_value();
    router.process(rb);
    pb::ProcessingRequest u = up;
    add_header(u.mutable_request_headers(), "x-ai-eg-internal-req-id", id);
    {
      Stream upstream(registry, context());
      benchmark::DoNotOptimize(upstream.process(u));
    }
    router.process(sh);
    benchmark::DoNotOptimize(router.process(sb));
  }
}

void BM_ExtprocOpenAIChat(benchmark::State &s) { run(s, "chat-basic.yaml", "openai", false); }
BENCHMARK(BM_ExtprocOpenAIChat);
void BM_ExtprocOpenAIChatStreaming(benchmark::State &s) {
  run(s, "chat-streaming.yaml", "openai", true);
}
BENCHMARK(BM_ExtprocOpenAIChatStreaming);
void BM_ExtprocBedrockChat(benchmark::State &s) {
  run(s, "chat-basic.yaml", "bedrock", false,
      R"({"output":{"message":{"role":"assistant","content":[{"text":"Hi there!"}]}},"stopReason":"end_turn","usage":{"inputTokens":8,"outputTokens":3,"totalTokens":11}})");
}
BENCHMARK(BM_ExtprocBedrockChat);

} // namespace

BENCHMARK_MAIN();
