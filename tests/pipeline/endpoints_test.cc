// The endpoints beyond chat: the endpoint table, multipart bodies, the usage-chunk filter, the
// Responses API's usage, GET /v1/models/{id} and the tokenize translations.
#include "../control/config_test_util.h"
#include "pipeline/endpoints.h"
#include "pipeline/exchange.h"
#include "pipeline/multipart.h"
#include "pipeline/request_body.h"
#include "pipeline/sse_filter.h"
#include "pipeline/usage.h"
#include "translate/tokenize.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include "core/base64.h"

#include <map>

namespace aigw::pipeline {
namespace {

TEST(Endpoints, EveryPathUpstreamServesIsMatchedExactly) {
  EXPECT_EQ(match_endpoint("POST", "/v1/responses?x=1").endpoint, Endpoint::kResponses);
  EXPECT_EQ(match_endpoint("POST", "/v1/responses/input_tokens").endpoint,
            Endpoint::kResponsesInputTokens);
  EXPECT_EQ(match_endpoint("POST", "/v1/images/generations").endpoint, Endpoint::kImageGenerations);
  EXPECT_EQ(match_endpoint("POST", "/v1/audio/speech").endpoint, Endpoint::kAudioSpeech);
  EXPECT_EQ(match_endpoint("POST", "/v1/audio/transcriptions").endpoint,
            Endpoint::kAudioTranscriptions);
  EXPECT_EQ(match_endpoint("POST", "/v1/audio/translations").endpoint,
            Endpoint::kAudioTranslations);
  EXPECT_EQ(match_endpoint("POST", "/tokenize").endpoint, Endpoint::kTokenize);
  EXPECT_EQ(match_endpoint("POST", "/v1/responsesx").endpoint, Endpoint::kUnknown);
  auto m = match_endpoint("GET", "/v1/models/meta-llama%2FLlama-3");
  EXPECT_EQ(m.endpoint, Endpoint::kModel);
  EXPECT_EQ(m.model_id, "meta-llama%2FLlama-3");
  EXPECT_TRUE(m.method_allowed);
  EXPECT_EQ(match_endpoint("GET", "/v1/models/").endpoint, Endpoint::kUnknown);
  EXPECT_EQ(match_endpoint("GET", "/v1/models/{id}").model_id, "{id}");
  EXPECT_FALSE(match_endpoint("GET", "/v1/responses").method_allowed);
  EXPECT_EQ(operation_name(Endpoint::kImageGenerations), "image_generation");
  EXPECT_EQ(operation_name(Endpoint::kResponsesInputTokens), "responses_input_tokens");
}

const std::string kBoundary = "----form42";
std::string form(const std::string &model, bool with_file = true) {
  std::string b = "--" + kBoundary + "\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\n" +
                  model + "\r\n";
  if (with_file)
    b += "--" + kBoundary +
         "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\n"
         "Content-Type: audio/wav\r\n\r\nRIFF\r\n--not-the-boundary\r\n";
  b += "--" + kBoundary + "\r\nContent-Disposition: form-data; name=\"stream\"\r\n\r\nTRUE\r\n";
  b += "--" + kBoundary + "--\r\n";
  return b;
}
const std::string kFormType = "multipart/form-data; boundary=\"" + kBoundary + "\"";

TEST(Multipart, PartsAreFoundInPlaceAndTheModelReplacedWithEveryOtherByteKept) {
  std::string body = form("whisper-1");
  auto parsed = parse_request_body(Endpoint::kAudioTranscriptions, body, kFormType);
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_TRUE(parsed->multipart);
  EXPECT_EQ(parsed->model, "whisper-1");
  EXPECT_TRUE(parsed->stream); // "TRUE", compared as upstream does, without case
  ASSERT_EQ(parsed->parts.size(), 3u);
  EXPECT_EQ(parsed->parts[1].filename, "a.wav");
  EXPECT_EQ(*multipart_field(body, parsed->parts, "stream"), "TRUE");
  auto out =
      replace_multipart_field(body, parsed->boundary, parsed->parts, "model", "gpt-4o-transcribe");
  ASSERT_TRUE(out);
  EXPECT_EQ(*out, form("gpt-4o-transcribe"));
  // A value that would end the part is refused rather than written.
  EXPECT_FALSE(replace_multipart_field(body, parsed->boundary, parsed->parts, "model",
                                       "a\r\n--" + kBoundary));
  // Translations never stream.
  auto tr = parse_request_body(Endpoint::kAudioTranslations, body, kFormType);
  ASSERT_TRUE(tr);
  EXPECT_FALSE(tr->stream);
}

TEST(Multipart, AModelFieldIsAddedBeforeTheClosingDelimiterAfterAPreamble) {
  // No parts at all, a preamble that holds the delimiter text without a CRLF before it.
  std::string body = "pre--" + kBoundary + " text\r\n--" + kBoundary + "--\r\n";
  auto parts = parse_multipart(body, kBoundary);
  ASSERT_TRUE(parts);
  ASSERT_TRUE(parts->empty());
  auto out = replace_multipart_field(body, kBoundary, *parts, "model", "m2");
  ASSERT_TRUE(out);
  auto again = parse_multipart(*out, kBoundary);
  ASSERT_TRUE(again) << *out;
  EXPECT_EQ(*multipart_field(*out, *again, "model"), "m2");
}

TEST(Multipart, RefusalsAreUpstreamsMessages) {
  auto on_chat = parse_request_body(Endpoint::kChatCompletions, form("m"), kFormType);
  ASSERT_FALSE(on_chat);
  EXPECT_EQ(on_chat.error().code, 400);
  EXPECT_EQ(on_chat.error().message,
            "malformed request: multipart body not supported for this endpoint");
  auto no_model = parse_request_body(
      Endpoint::kAudioTranscriptions,
      "--" + kBoundary +
          "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a\"\r\n\r\n"
          "x\r\n--" +
          kBoundary + "--\r\n",
      kFormType);
  ASSERT_FALSE(no_model);
  EXPECT_EQ(no_model.error().message, "malformed request: missing required field 'model'");
  auto no_file = parse_request_body(Endpoint::kAudioTranscriptions, form("m", false), kFormType);
  ASSERT_FALSE(no_file);
  EXPECT_EQ(no_file.error().message, "malformed request: missing required field 'file'");
  auto no_boundary =
      parse_request_body(Endpoint::kAudioTranscriptions, form("m"), "multipart/form-data");
  ASSERT_FALSE(no_boundary);
  EXPECT_NE(no_boundary.error().message.find("missing boundary"), std::string::npos);
  auto cut = parse_request_body(Endpoint::kAudioTranscriptions, form("m").substr(0, 60), kFormType);
  ASSERT_FALSE(cut);
  EXPECT_EQ(cut.error().code, 400);
  auto json =
      parse_request_body(Endpoint::kAudioTranscriptions, R"({"model":"m"})", "application/json");
  ASSERT_FALSE(json);
  EXPECT_EQ(json.error().code, 400);
}

TEST(RequestBody, SpeechStreamsOnlyAsSseAndCountingNeverStreams) {
  EXPECT_TRUE(parse_request_body(Endpoint::kAudioSpeech,
                                 R"({"model":"tts-1","stream_format":"sse","stream":false})")
                  ->stream);
  EXPECT_FALSE(
      parse_request_body(Endpoint::kAudioSpeech, R"({"model":"tts-1","stream":true})")->stream);
  EXPECT_FALSE(parse_request_body(Endpoint::kResponsesInputTokens, R"({"model":"m","stream":true})")
                   ->stream);
  EXPECT_TRUE(parse_request_body(Endpoint::kResponses, R"({"model":"m","stream":true})")->stream);
}

TEST(RequestBody, IncludeUsageIsInjectedIntoEveryDuplicateStreamOptions) {
  std::string body =
      R"({"model":"m","stream":true,"stream_options":{"include_usage":true},"stream_options":{}})";
  auto parsed = parse_request_body(Endpoint::kChatCompletions, body);
  ASSERT_TRUE(parsed);
  EXPECT_FALSE(parsed->include_usage); // the last one wins, as in the provider's parser
  auto out = encode_request_body(body, "", true);
  ASSERT_TRUE(out);
  EXPECT_EQ(
      *out,
      R"({"model":"m","stream":true,"stream_options":{"include_usage":true},"stream_options":{"include_usage":true}})");
  auto again = parse_request_body(Endpoint::kChatCompletions, *out);
  EXPECT_TRUE(again->include_usage);
}

TEST(RequestBody, TokenizeIsValidatedBeforeRouting) {
  auto both =
      parse_request_body(Endpoint::kTokenize, R"({"model":"m","prompt":"x","messages":[]})");
  ASSERT_FALSE(both);
  EXPECT_EQ(both.error().code, 400);
  EXPECT_NE(both.error().message.find("either 'prompt' or 'messages', not both"),
            std::string::npos);
  auto no_model = parse_request_body(Endpoint::kTokenize, R"({"prompt":"x"})");
  ASSERT_FALSE(no_model);
  EXPECT_EQ(no_model.error().message,
            "malformed request: invalid tokenize request: model is required");
  EXPECT_TRUE(parse_request_body(Endpoint::kTokenize, R"({"model":"m","prompt":"x"})"));
}

TEST(Usage, AnInputTokenCountIsInputUsage) {
  auto facts = extract_from_json(R"({"object":"response.input_tokens","input_tokens":7})");
  EXPECT_EQ(facts.usage.input, 7u);
  EXPECT_FALSE(facts.usage.output);
}

TEST(UsageChunkFilter, DropsOnlyTheUsageChunkWhateverTheSplitAndFraming) {
  for (std::string nl : {std::string("\n"), std::string("\r\n")}) {
    std::string a =
        "data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}],\"usage\":null}" + nl + nl;
    std::string u = "data: {\"id\":\"x\",\"choices\":[],\"usage\":{\"prompt_tokens\":1}}" + nl + nl;
    std::string d = "data: [DONE]" + nl + nl;
    std::string wire = a + u + d;
    for (size_t step = 1; step <= wire.size(); ++step) {
      UsageChunkFilter f;
      std::string out;
      for (size_t i = 0; i < wire.size(); i += step)
        f.feed(std::string_view(wire).substr(i, step), i + step >= wire.size(), out);
      EXPECT_EQ(out, a + d) << "step " << step;
    }
  }
  EXPECT_FALSE(is_usage_only_chunk("data: {\"choices\":[{}],\"usage\":{\"a\":1}}\n\n"));
  EXPECT_FALSE(is_usage_only_chunk("data: {\"choices\":[],\"usage\":null}\n\n"));
  EXPECT_TRUE(is_usage_only_chunk("data: {\"choices\" : [ ],\"usage\":{\"a\":1}}\n\n"));
}

TEST(Usage, ResponsesStreamsReadTheCompletedEventCrlfFramedToo) {
  SseUsageScanner s;
  s.feed("event: response.created\r\ndata: {\"type\":\"response.created\",\"response\":{\"model\":"
         "\"gpt-5\",\"usage\":null}}\r\n\r\n");
  s.feed("event: response.completed\r\ndata: {\"type\":\"response.completed\",\"response\":{"
         "\"model\":\"gpt-5\",\"usage\":{\"input_tokens\":5,\"input_tokens_details\":{"
         "\"cached_tokens\":2,\"cache_write_tokens\":1},\"output_tokens\":7,"
         "\"output_tokens_details\":{\"reasoning_tokens\":3},\"total_tokens\":12}}}\r\n\r\n");
  EXPECT_EQ(s.model(), "gpt-5");
  EXPECT_EQ(s.usage().input, 5u);
  EXPECT_EQ(s.usage().output, 7u);
  EXPECT_EQ(s.usage().total, 12u);
  EXPECT_EQ(s.usage().cached_input, 2u);
  EXPECT_EQ(s.usage().cache_creation_input, 1u); // OpenAI's cache_write_tokens
  EXPECT_EQ(s.usage().reasoning, 3u);
  auto facts = extract_from_json(
      R"({"usage":{"prompt_tokens":4,"prompt_tokens_details":{"cache_write_tokens":9}}})");
  EXPECT_EQ(facts.usage.cache_creation_input, 9u);
}

constexpr const char *kConfig = R"(
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIGatewayRoute
metadata: {name: r, namespace: default}
spec:
  rules:
    - matches: [{headers: [{name: x-ai-eg-model, value: whisper-1}]}]
      backendRefs: [{name: openai, modelNameOverride: gpt-4o-transcribe}]
    - matches: [{headers: [{name: x-ai-eg-model, value: meta-llama/Llama-3}]}]
      backendRefs: [{name: openai}]
    - matches: [{headers: [{name: x-ai-eg-model, value: hidden-alias}]}]
      backendRefs: [{name: openai}]
      excludeFromModelsEndpoint: true
    - matches: [{headers: [{name: x-ai-eg-model, value: gemini-2.5-flash}]}]
      backendRefs: [{name: vertex}]
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIServiceBackend
metadata: {name: openai, namespace: default}
spec:
  schema: {name: OpenAI}
  backendRef: {name: openai, kind: Backend, group: gateway.envoyproxy.io}
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIServiceBackend
metadata: {name: vertex, namespace: default}
spec:
  schema: {name: GCPVertexAI}
  backendRef: {name: openai, kind: Backend, group: gateway.envoyproxy.io}
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: Backend
metadata: {name: openai, namespace: default}
spec:
  endpoints: [{ip: {address: 127.0.0.1, port: 9}}]
)";

struct Host {
  explicit Host(std::shared_ptr<const control::Snapshot> snap)
      : ex(std::move(snap), options, services) {}
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
  std::map<std::string, std::string> headers;
  ExchangeOptions options;
  ExchangeServices services{};
  Exchange ex;
};

std::shared_ptr<const control::Snapshot> snapshot() {
  auto r = control::testing::load(kConfig);
  for (const auto &e : r.diag.errors())
    ADD_FAILURE() << e;
  return r.snapshot;
}

TEST(HeaderValueFilters, OnlyTheClaudeSchemasTakeThem) {
  auto r = control::testing::load(R"(
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIServiceBackend
metadata: {name: o, namespace: default}
spec:
  schema: {name: OpenAI}
  backendRef: {name: o, kind: Backend, group: gateway.envoyproxy.io}
  headerValueFilters: [{name: anthropic-beta, values: [x]}]
)");
  ASSERT_FALSE(r.diag.errors().empty());
  EXPECT_NE(r.diag.errors()[0].find("spec.headerValueFilters"), std::string::npos)
      << r.diag.errors()[0];
  EXPECT_NE(r.diag.errors()[0].find("GCPAnthropic and AWSAnthropic"), std::string::npos);
}

TEST(ExchangeEndpoints, ModelsRetrieveFindsAnEscapedIdAndAnswers404InOpenAIsShape) {
  auto snap = snapshot();
  {
    Host h(snap);
    auto r = h.head("GET", "/v1/models/meta-llama%2FLlama-3");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_NE(r->body.find("\"id\":\"meta-llama/Llama-3\""), std::string::npos) << r->body;
    EXPECT_NE(r->body.find("\"object\":\"model\""), std::string::npos);
  }
  {
    Host h(snap);
    auto r = h.head("GET", "/v1/models/nope");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 404);
    EXPECT_NE(r->body.find("\"code\":\"model_not_found\""), std::string::npos);
    EXPECT_NE(r->body.find("The model 'nope' does not exist"), std::string::npos);
  }
  {
    // excludeFromModelsEndpoint hides the alias from the list and from retrieve.
    Host h(snap);
    auto r = h.head("GET", "/v1/models");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body.find("hidden-alias"), std::string::npos);
    EXPECT_NE(r->body.find("whisper-1"), std::string::npos);
  }
}

TEST(ExchangeEndpoints, AnExcludedAliasStillRoutes) {
  Host h(snapshot());
  ASSERT_FALSE(h.head("POST", "/v1/responses"));
  ASSERT_FALSE(h.ex.on_request_body(R"({"model":"hidden-alias","input":"hi"})", true));
  ASSERT_EQ(h.ex.next_attempt(), Next::kSend);
  EXPECT_EQ(h.ex.call().path, "/v1/responses");
}

TEST(ExchangeEndpoints, ATranscriptionsModelOverrideRewritesTheForm) {
  Host h(snapshot());
  h.headers["content-type"] = kFormType;
  ASSERT_FALSE(h.head("POST", "/v1/audio/transcriptions"));
  ASSERT_FALSE(h.ex.on_request_body(form("whisper-1"), true));
  EXPECT_EQ(h.ex.record().operation, "transcription");
  ASSERT_EQ(h.ex.next_attempt(), Next::kSend);
  EXPECT_EQ(h.ex.call().path, "/v1/audio/transcriptions");
  EXPECT_EQ(h.ex.call().body, form("gpt-4o-transcribe"));
}

TEST(ExchangeEndpoints, AnEndpointTheSchemaDoesNotServeIsA422) {
  Host h(snapshot());
  ASSERT_FALSE(h.head("POST", "/v1/responses"));
  ASSERT_FALSE(h.ex.on_request_body(R"({"model":"gemini-2.5-flash","input":"hi"})", true));
  ASSERT_EQ(h.ex.next_attempt(), Next::kReply);
  auto r = h.ex.take_reply();
  EXPECT_EQ(r.status, 422);
  EXPECT_NE(r.body.find("does not serve /v1/responses"), std::string::npos) << r.body;
}

constexpr const char *kV12Schemas = R"(
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIGatewayRoute
metadata: {name: r, namespace: default}
spec:
  rules:
    - matches: [{headers: [{name: x-ai-eg-model, value: ts-1}]}]
      backendRefs: [{name: typesafe}]
    - matches: [{headers: [{name: x-ai-eg-model, value: openai.gpt-oss-120b-1:0}]}]
      backendRefs: [{name: bedrock-openai}]
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIServiceBackend
metadata: {name: typesafe, namespace: default}
spec:
  schema: {name: TypeSafe}
  backendRef: {name: b, kind: Backend, group: gateway.envoyproxy.io}
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIServiceBackend
metadata: {name: bedrock-openai, namespace: default}
spec:
  schema: {name: AWSOpenAI}
  backendRef: {name: b, kind: Backend, group: gateway.envoyproxy.io}
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: Backend
metadata: {name: b, namespace: default}
spec:
  endpoints: [{fqdn: {hostname: bedrock-runtime.us-west-2.amazonaws.com, port: 443}}]
---
apiVersion: v1
kind: Secret
metadata: {name: aws, namespace: default}
stringData:
  credentials: |
    [default]
    aws_access_key_id = AKIDEXAMPLE
    aws_secret_access_key = secret
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: BackendSecurityPolicy
metadata: {name: aws, namespace: default}
spec:
  type: AWSCredentials
  targetRefs: [{group: aigateway.envoyproxy.io, kind: AIServiceBackend, name: bedrock-openai}]
  awsCredentials: {region: us-west-2, credentialsFile: {secretRef: {name: aws}}}
)";

TEST(ExchangeEndpoints, TypeSafeAndBedrocksOpenAICompatibleApi) {
  auto r = control::testing::load(kV12Schemas);
  for (const auto &e : r.diag.errors())
    ADD_FAILURE() << e;
  {
    Host h(r.snapshot);
    ASSERT_FALSE(h.head("POST", "/typesafe/v1/systemone"));
    ASSERT_FALSE(h.ex.on_request_body(R"({"model":"ts-1","query":"x"})", true));
    ASSERT_EQ(h.ex.next_attempt(), Next::kSend);
    EXPECT_EQ(h.ex.call().path, "/v1/systemone");
  }
  {
    Host h(r.snapshot);
    ASSERT_FALSE(h.head("POST", "/typesafe/v1/systemone"));
    ASSERT_FALSE(h.ex.on_request_body(R"({"model":"ts-1","stream":true})", true));
    ASSERT_EQ(h.ex.next_attempt(), Next::kReply);
    EXPECT_EQ(h.ex.take_reply().status, 422);
  }
  {
    Host h(r.snapshot);
    ASSERT_FALSE(h.head("POST", "/v1/responses"));
    ASSERT_FALSE(h.ex.on_request_body(R"({"model":"openai.gpt-oss-120b-1:0","input":"x"})", true));
    ASSERT_EQ(h.ex.next_attempt(), Next::kSend);
    EXPECT_EQ(h.ex.call().path, "/openai/v1/responses");
    EXPECT_NE(h.ex.call().authorization.find("/us-west-2/bedrock/aws4_request"), std::string::npos)
        << h.ex.call().authorization;
  }
  {
    Host h(r.snapshot);
    ASSERT_FALSE(h.head("POST", "/v1/embeddings"));
    ASSERT_FALSE(h.ex.on_request_body(R"({"model":"openai.gpt-oss-120b-1:0","input":"x"})", true));
    ASSERT_EQ(h.ex.next_attempt(), Next::kReply);
    EXPECT_EQ(h.ex.take_reply().status, 422); // AWSOpenAI serves chat and responses only
  }
}

TEST(ExchangeEndpoints, TokenizeToVertexIsCountTokensAnsweredAsVllm) {
  Host h(snapshot());
  ASSERT_FALSE(h.head("POST", "/tokenize"));
  ASSERT_FALSE(h.ex.on_request_body(R"({"model":"gemini-2.5-flash","prompt":"hello"})", true));
  ASSERT_EQ(h.ex.next_attempt(), Next::kSend);
  EXPECT_EQ(h.ex.call().path, "/publishers/google/models/gemini-2.5-flash:countTokens");
  EXPECT_NE(std::string(h.ex.call().body)
                .find(R"("contents":[{"role":"user","parts":[{"text":"hello"}]}])"),
            std::string::npos)
      << h.ex.call().body;
  auto plan = h.ex.on_response_headers(200, "application/json", "", true);
  EXPECT_EQ(plan.mode, BodyMode::kGather);
  h.ex.gather(R"({"totalTokens":31,"promptTokensDetails":[]})");
  auto g = h.ex.finish_gathered(true);
  EXPECT_EQ(g.reply.body, R"({"count":31,"max_model_len":0,"tokens":null})");
}

} // namespace
} // namespace aigw::pipeline

namespace aigw::translate {
namespace {

TEST(Tokenize, BedrockAndClaudeCountTokensBodies) {
  pipeline::ParsedRequest parsed;
  std::string chat =
      R"({"model":"m","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hi"}]})";
  TranslateInput in;
  in.endpoint = pipeline::Endpoint::kTokenize;
  in.body = chat;
  in.parsed = &parsed;
  {
    in.model = "us.amazon.nova-micro-v1:0";
    auto t = make_tokenize_translator(Schema::kAWSBedrock);
    auto u = t->request(in);
    ASSERT_TRUE(u);
    EXPECT_EQ(u->path, "/model/amazon.nova-micro-v1:0/count-tokens");
    EXPECT_TRUE(u->body->starts_with(R"({"input":{"converse":{"messages":[)")) << *u->body;
    EXPECT_NE(u->body->find(R"("system":[{"text":"be brief"}])"), std::string::npos);
    EXPECT_EQ(*t->response_body(R"({"inputTokens":12})"),
              R"({"count":12,"max_model_len":0,"tokens":null})");
  }
  {
    in.model = "us.anthropic.claude-sonnet-4";
    auto t = make_tokenize_translator(Schema::kAWSAnthropic);
    auto u = t->request(in);
    ASSERT_TRUE(u);
    EXPECT_EQ(u->path, "/model/anthropic.claude-sonnet-4/count-tokens");
    simdjson::dom::parser p;
    simdjson::dom::element doc;
    ASSERT_FALSE(p.parse(*u->body).get(doc));
    std::string_view b64;
    ASSERT_FALSE(doc["input"]["invokeModel"]["body"].get_string().get(b64));
    auto inner = base64_decode(b64);
    ASSERT_TRUE(inner);
    EXPECT_NE(inner->find(R"("anthropic_version":"bedrock-2023-05-31","max_tokens":1)"),
              std::string::npos)
        << *inner;
    EXPECT_EQ(inner->find("\"model\""), std::string::npos);
  }
  {
    in.model = "claude-sonnet-4@default";
    auto t = make_tokenize_translator(Schema::kGCPAnthropic);
    auto u = t->request(in);
    ASSERT_TRUE(u);
    EXPECT_EQ(u->path, "publishers/anthropic/models/count-tokens:rawPredict");
    EXPECT_NE(u->body->find(R"("model":"claude-sonnet-4")"), std::string::npos) << *u->body;
    EXPECT_NE(u->body->find(R"("anthropic_version":"vertex-2023-10-16")"), std::string::npos);
    EXPECT_EQ(*t->response_body(R"({"input_tokens":9})"),
              R"({"count":9,"max_model_len":0,"tokens":null})");
  }
  std::string both = R"({"model":"m","prompt":"x","messages":[]})";
  in.body = both;
  auto t = make_tokenize_translator(Schema::kAWSBedrock);
  auto bad = t->request(in);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, 400);
}

TEST(VertexEmbeddings, ObjectInputsBecomeInstancesAsUpstreamWritesThem) {
  pipeline::ParsedRequest parsed;
  TranslateInput in;
  in.endpoint = pipeline::Endpoint::kEmbeddings;
  in.parsed = &parsed;
  in.model = "text-embedding-005";
  std::string body =
      R"({"model":"m","input":[{"content":"a","task_type":"RETRIEVAL_DOCUMENT","title":"T"},)"
      R"({"content":["b","c"],"task_type":"CLUSTERING","title":"dropped"}],"dimensions":8})";
  in.body = body;
  auto t = make_translator(Schema::kGCPVertexAI, pipeline::Endpoint::kEmbeddings);
  auto u = t->request(in);
  ASSERT_TRUE(u) << u.error().message;
  EXPECT_EQ(u->path, "publishers/google/models/text-embedding-005:predict");
  EXPECT_EQ(*u->body,
            R"({"instances":[{"content":"a","task_type":"RETRIEVAL_DOCUMENT","title":"T"},)"
            R"({"content":"b","task_type":"CLUSTERING"},{"content":"c","task_type":"CLUSTERING"}],)"
            R"("parameters":{"outputDimensionality":8}})");
  std::string plain = R"({"model":"m","input":"hi"})";
  in.body = plain;
  auto t2 = make_translator(Schema::kGCPVertexAI, pipeline::Endpoint::kEmbeddings);
  EXPECT_EQ(*t2->request(in)->body, R"({"instances":[{"content":"hi"}],"parameters":{}})");
}

} // namespace
} // namespace aigw::translate
