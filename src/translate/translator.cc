// Translators per schema; see translator.h.
#include "translate/translator.h"

#include "auth/aws_sigv4.h"
#include "core/base64.h"
#include "core/clock.h"
#include "pipeline/errors.h"
#include "pipeline/multipart.h"
#include "pipeline/request_body.h"
#include "providers/aws_eventstream.h"
#include "translate/anthropic.h"
#include "translate/bedrock.h"
#include "translate/gemini.h"
#include "translate/json_in.h"
#include "translate/json_out.h"
#include "translate/messages.h"
#include "translate/openai_chat.h"
#include "translate/tokenize.h"

#include <simdjson.h>

#include <chrono>
#include <cstring>

namespace aigw::translate {
namespace {

namespace dom = simdjson::dom;
using pipeline::Endpoint;

// The client's body for a passthrough: the model replaced (in the JSON, or in the multipart
// form of the audio endpoints) and include_usage injected.
Result<std::optional<std::string>> passthrough_body(const TranslateInput &in,
                                                    std::string_view model_override,
                                                    bool inject_include_usage) {
  if (in.parsed && in.parsed->multipart) {
    if (model_override.empty()) return std::optional<std::string>();
    auto body = pipeline::replace_multipart_field(in.body, in.parsed->boundary, in.parsed->parts,
                                                  "model", model_override);
    if (!body) return body.error();
    return std::optional<std::string>(std::move(*body));
  }
  return pipeline::encode_request_body(in.body, model_override, inject_include_usage);
}

// OpenAI and OpenAI-compatible servers (and Bedrock's OpenAI-compatible API): the foundation's
// passthrough.
class OpenAITranslator : public Translator {
public:
  Result<UpstreamRequest> request(const TranslateInput &in) override {
    UpstreamRequest u;
    // vLLM serves /tokenize at its root, beside /v1 (as upstream sends it).
    u.path =
        in.endpoint == Endpoint::kTokenize
            ? std::string("/tokenize")
            : std::string(in.path_prefix) + std::string(pipeline::upstream_suffix(in.endpoint));
    u.path += in.query;
    auto body = passthrough_body(in, in.model_override, in.inject_include_usage);
    if (!body) return body.error();
    u.body = std::move(*body);
    return u;
  }
};

// Azure OpenAI: the deployment (the model) in the path, api-version in the query, body as is.
// The Responses API is not per deployment: /openai/responses, the model in the body.
class AzureTranslator : public Translator {
public:
  Result<UpstreamRequest> request(const TranslateInput &in) override {
    UpstreamRequest u;
    bool responses =
        in.endpoint == Endpoint::kResponses || in.endpoint == Endpoint::kResponsesInputTokens;
    if (responses)
      u.path = "/openai" + std::string(pipeline::upstream_suffix(in.endpoint)) + "?api-version=";
    else
      u.path = "/openai/deployments/" + path_escape(in.model) +
               std::string(pipeline::upstream_suffix(in.endpoint)) + "?api-version=";
    u.path += in.version;
    auto body = passthrough_body(in, responses ? in.model_override : std::string_view(),
                                 in.inject_include_usage);
    if (!body) return body.error();
    u.body = std::move(*body);
    return u;
  }
};

// TypeSafe: /{version}/systemone, the body as is but for a model override; answers once.
class TypeSafeTranslator : public Translator {
public:
  Result<UpstreamRequest> request(const TranslateInput &in) override {
    if (in.parsed && in.parsed->stream)
      return Error::client(422, "stream: TypeSafe backends do not stream");
    UpstreamRequest u;
    u.path = "/" + std::string(in.version.empty() ? "v1" : in.version) + "/systemone" +
             std::string(in.query);
    u.body = pipeline::encode_request_body(in.body, in.model_override, false);
    return u;
  }
};

// Cohere rerank: passthrough to /{version}/rerank.
class CohereTranslator : public Translator {
public:
  Result<UpstreamRequest> request(const TranslateInput &in) override {
    UpstreamRequest u;
    u.path = in.version.empty() ? "/rerank" : "/" + std::string(in.version) + "/rerank";
    u.body = pipeline::encode_request_body(in.body, in.model_override, false);
    return u;
  }
};

// Chat through the canonical representation.
class CanonicalChatTranslator : public Translator {
public:
  explicit CanonicalChatTranslator(Schema s) : schema_(s) {}

  Result<UpstreamRequest> request(const TranslateInput &in) override {
    auto req = decode_openai_chat_request(in.body);
    if (!req) return req.error();
    req_ = std::move(*req);
    req_.model = std::string(in.model);
    model_ = std::string(in.model);
    created_ = unix_now();
    id_ = "chatcmpl-" + std::string(in.request_id);
    UpstreamRequest u;
    Result<std::string> body = std::string();
    bool stream = req_.stream;
    switch (schema_) {
    case Schema::kAWSBedrock:
      u.path = "/model/" + path_escape(in.model) + (stream ? "/converse-stream" : "/converse");
      body = encode_converse_request(req_);
      break;
    case Schema::kAWSAnthropic: {
      u.path =
          "/model/" + path_escape(in.model) + (stream ? "/invoke-with-response-stream" : "/invoke");
      AnthropicRequestOptions o;
      o.include_model = false;
      o.stream_field = false;
      o.anthropic_version = in.version.empty() ? "bedrock-2023-05-31" : std::string(in.version);
      body = encode_anthropic_request(req_, o);
      break;
    }
    case Schema::kGCPVertexAI:
      u.path = "publishers/google/models/" + path_escape(in.model) +
               (stream ? ":streamGenerateContent?alt=sse" : ":generateContent");
      body = encode_gemini_request(req_);
      break;
    case Schema::kGCPAnthropic: {
      u.path = "publishers/anthropic/models/" + path_escape(in.model) +
               (stream ? ":streamRawPredict" : ":rawPredict");
      AnthropicRequestOptions o;
      o.include_model = false;
      o.anthropic_version = in.version.empty() ? "vertex-2023-10-16" : std::string(in.version);
      body = encode_anthropic_request(req_, o);
      break;
    }
    case Schema::kAnthropic: {
      u.path = std::string(in.path_prefix) + "/messages";
      body = encode_anthropic_request(req_, AnthropicRequestOptions{});
      u.headers.emplace_back("anthropic-version", "2023-06-01");
      break;
    }
    default: return Error::client(501, "unsupported schema");
    }
    if (!body) return body.error();
    u.body = std::move(*body);
    return u;
  }

  bool rewrites_response() const override { return true; }
  void set_provider_request_id(std::string_view id) override { provider_request_id_ = id; }

  Result<std::string> response_body(std::string_view body) override {
    Result<ChatResponse> r = Error::upstream(502, "", false);
    switch (schema_) {
    case Schema::kAWSBedrock: r = decode_converse_response(body, model_); break;
    case Schema::kGCPVertexAI: r = decode_gemini_response(body, model_); break;
    default: r = decode_anthropic_response(body, model_); break;
    }
    if (!r) return r.error();
    // As upstream: the provider's id where it gives one (Bedrock's in its x-amzn-requestid).
    if (schema_ == Schema::kAWSBedrock) r->id = provider_request_id_;
    if (r->id.empty()) r->id = id_;
    if (schema_ != Schema::kAnthropic && schema_ != Schema::kGCPVertexAI) r->model = model_;
    usage_ = r->usage;
    response_model_ = r->model;
    return encode_openai_chat_response(*r, created_);
  }

  void stream_chunk(std::string_view in, std::string &out) override {
    ensure_encoder();
    events_.clear();
    switch (schema_) {
    case Schema::kAWSBedrock: converse_.feed(in, events_); break;
    case Schema::kGCPVertexAI: gemini_.feed(in, events_); break;
    case Schema::kAWSAnthropic: bedrock_anthropic(in); break;
    default: anthropic_.feed_sse(in, events_); break;
    }
    for (const auto &e : events_) {
      if (e.kind == StreamEvent::Kind::kStart && schema_ == Schema::kAnthropic && !e.model.empty())
        response_model_ = e.model;
      StreamEvent copy = e;
      if (copy.kind == StreamEvent::Kind::kStart) {
        // The provider's id (Anthropic's msg_…, Gemini's responseId, Bedrock's request id),
        // else ours; the request's model but from Anthropic.
        if (schema_ == Schema::kAWSBedrock) copy.id = provider_request_id_;
        if (schema_ != Schema::kAnthropic) copy.model.clear();
      }
      encoder_->on_event(copy, out);
    }
    usage_ = encoder_->usage();
  }

  void stream_end(std::string &out) override {
    ensure_encoder();
    events_.clear();
    if (schema_ == Schema::kGCPVertexAI) gemini_.feed("", events_);
    for (const auto &e : events_)
      encoder_->on_event(e, out);
    encoder_->finish(out);
    usage_ = encoder_->usage();
  }

  std::pair<std::string, std::string> error_body(int status, std::string_view content_type,
                                                 std::string_view amzn_error_type,
                                                 std::string_view body) override {
    std::string out;
    switch (schema_) {
    case Schema::kAWSBedrock:
    case Schema::kAWSAnthropic:
      if (!amzn_error_type.empty() || schema_ == Schema::kAWSBedrock)
        out = bedrock_error_to_openai(status, amzn_error_type, body);
      else
        out = anthropic_error_to_openai(status, body);
      break;
    case Schema::kGCPVertexAI: out = gemini_error_to_openai(status, body); break;
    default: out = anthropic_error_to_openai(status, body); break;
    }
    (void)content_type;
    return {std::move(out), "application/json"};
  }

private:
  void ensure_encoder() {
    if (!encoder_) {
      encoder_.emplace(id_, model_, created_, req_.include_usage);
      if (response_model_.empty()) response_model_ = model_;
    }
  }

  // Anthropic events inside event stream frames: {"bytes": base64(event)}.
  void bedrock_anthropic(std::string_view in) {
    if (frames_failed_) return;
    frames_.feed(in);
    for (;;) {
      auto m = frames_.next();
      if (!m) {
        frames_failed_ = true;
        StreamEvent e;
        e.kind = StreamEvent::Kind::kError;
        e.error_type = "AWSBedrockBackendError";
        e.text = "malformed event stream from AWS Bedrock: " + m.error().message;
        events_.push_back(std::move(e));
        return;
      }
      if (!m->has_value()) return;
      const auto &msg = **m;
      if (msg.header(":message-type") == "exception") {
        StreamEvent e;
        e.kind = StreamEvent::Kind::kError;
        e.error_type = std::string(msg.header(":exception-type"));
        thread_local dom::parser parser;
        dom::element doc;
        e.text =
            !parser.parse(msg.payload).get(doc) ? std::string(str_of(doc["message"])) : msg.payload;
        events_.push_back(std::move(e));
        frames_failed_ = true;
        return;
      }
      thread_local dom::parser parser;
      dom::element doc;
      if (parser.parse(msg.payload).get(doc)) continue;
      auto bytes = base64_decode(str_of(doc["bytes"]));
      if (bytes) anthropic_.on_event_json(*bytes, events_);
    }
  }

  Schema schema_;
  ChatRequest req_;
  std::string model_;
  std::string id_;
  std::string provider_request_id_;
  int64_t created_ = 0;
  std::optional<ChunkEncoder> encoder_;
  std::vector<StreamEvent> events_;
  ConverseStreamDecoder converse_;
  GeminiStreamDecoder gemini_;
  AnthropicStreamDecoder anthropic_;
  providers::EventStreamDecoder frames_;
  bool frames_failed_ = false;
};

// Embeddings input: one string, or several; Vertex's predict also takes objects
// {content (a string or strings), task_type, title}, one instance per content string.
struct EmbeddingInstance {
  std::string content, task_type, title;
};
struct EmbeddingInputs {
  std::vector<EmbeddingInstance> items;
  bool objects = false; // the input had {content, ...} objects
  std::string dims, encoding, task_type, title;
  bool auto_truncate = false;
};

Result<EmbeddingInputs> embedding_inputs(std::string_view body) {
  thread_local dom::parser parser;
  dom::element doc;
  if (parser.parse(body.data(), body.size()).get(doc) || !doc.is_object())
    return Error::client(400, "malformed request: failed to parse JSON for /v1/embeddings");
  EmbeddingInputs out;
  dom::element input;
  if (doc["input"].get(input)) return Error::client(422, "input: is required");
  auto object_item = [&](dom::element e) -> std::optional<Error> {
    out.objects = true;
    std::string task(str_of(e["task_type"])), title(str_of(e["title"]));
    // As upstream: an item's title goes with the RETRIEVAL_DOCUMENT task only.
    if (task != "RETRIEVAL_DOCUMENT") title.clear();
    dom::element content;
    if (e["content"].get(content))
      return Error::client(422, "input: an object input needs \"content\"");
    if (content.is_string()) {
      out.items.push_back({std::string(str_of(content)), task, title});
      return std::nullopt;
    }
    dom::array a;
    if (content.get_array().get(a) || a.size() == 0)
      return Error::client(422, "input: \"content\" must be a string or strings");
    for (dom::element c : a) {
      if (!c.is_string())
        return Error::client(422, "input: \"content\" must be a string or strings");
      out.items.push_back({std::string(str_of(c)), task, title});
    }
    return std::nullopt;
  };
  if (input.is_string()) {
    out.items.push_back({std::string(str_of(input)), {}, {}});
  } else if (input.is_object()) {
    if (auto e = object_item(input)) return *e;
  } else {
    dom::array a;
    if (input.get_array().get(a)) return Error::client(422, "input: must be a string or strings");
    for (dom::element e : a) {
      if (e.is_string()) {
        out.items.push_back({std::string(str_of(e)), {}, {}});
      } else if (e.is_object()) {
        if (auto err = object_item(e)) return *err;
      } else {
        return Error::client(422, "input: token arrays are not supported for this backend");
      }
    }
  }
  uint64_t d = 0;
  if (!doc["dimensions"].get_uint64().get(d) && d > 0) out.dims = std::to_string(d);
  out.encoding = std::string(str_of(doc["encoding_format"]));
  out.task_type = std::string(str_of(doc["task_type"]));
  out.title = std::string(str_of(doc["title"]));
  bool at = false;
  out.auto_truncate = !doc["auto_truncate"].get_bool().get(at) && at;
  return out;
}

// Writes one embedding vector (raw JSON array text) as OpenAI does: floats, or base64 of
// little-endian float32 when the client asked for base64 (the openai SDKs do by default).
void append_embedding(JsonOut &j, dom::array values, bool base64) {
  if (!base64) {
    j.raw(simdjson::minify(values));
    return;
  }
  std::string bytes;
  for (dom::element v : values) {
    double d = 0;
    if (v.get_double().get(d)) d = 0;
    float f = static_cast<float>(d);
    char b[4];
    std::memcpy(b, &f, 4); // x86 and arm64 are little-endian, as the wire format wants
    bytes.append(b, 4);
  }
  j.str(base64_encode(bytes));
}

class EmbeddingsTranslator : public Translator {
public:
  explicit EmbeddingsTranslator(Schema s) : schema_(s) {}

  Result<UpstreamRequest> request(const TranslateInput &in) override {
    auto parsed = embedding_inputs(in.body);
    if (!parsed) return parsed.error();
    const auto &items = parsed->items;
    const std::string &dims = parsed->dims;
    encoding_ = parsed->encoding;
    model_ = std::string(in.model);
    UpstreamRequest u;
    std::string body;
    JsonOut j(body);
    bool embed_content = model_.find("gemini") != std::string::npos &&
                         model_ != "gemini-embedding-001"; // as upstream picks the API
    if (schema_ == Schema::kAWSBedrock || embed_content) {
      if (parsed->objects)
        return Error::client(422, "input: object input with per-item task_type/title is not "
                                  "supported for this model; use plain string input");
      if (items.size() != 1)
        return Error::client(422, schema_ == Schema::kAWSBedrock
                                      ? "input: AWS Bedrock Titan embeddings take a single string"
                                      : "input: model " + model_ +
                                            " does not support batch embeddings; send one input "
                                            "per request");
    }
    if (schema_ == Schema::kAWSBedrock) {
      u.path = "/model/" + path_escape(in.model) + "/invoke";
      j.begin_object().kv("inputText", items.front().content);
      if (!dims.empty()) j.kv_raw("dimensions", dims);
      j.end_object();
    } else if (embed_content) {
      embed_content_ = true;
      u.path = "publishers/google/models/" + path_escape(model_) + ":embedContent";
      j.begin_object().key("content").begin_object().key("parts").begin_array();
      j.begin_object().kv("text", items.front().content).end_object();
      j.end_array().end_object();
      if (!dims.empty() || !parsed->task_type.empty() || !parsed->title.empty()) {
        j.key("embedContentConfig").begin_object();
        if (!dims.empty()) j.kv_raw("outputDimensionality", dims);
        if (!parsed->task_type.empty()) j.kv("taskType", parsed->task_type);
        if (!parsed->title.empty()) j.kv("title", parsed->title);
        j.end_object();
      }
      j.end_object();
    } else {
      u.path = "publishers/google/models/" + path_escape(model_) + ":predict";
      j.begin_object().key("instances").begin_array();
      for (const auto &it : items) {
        // The request's task_type and title apply to every instance, as upstream sets them.
        const std::string &task = parsed->task_type.empty() ? it.task_type : parsed->task_type;
        const std::string &title = parsed->title.empty() ? it.title : parsed->title;
        j.begin_object().kv("content", it.content);
        if (!task.empty()) j.kv("task_type", task);
        if (!title.empty()) j.kv("title", title);
        j.end_object();
      }
      j.end_array();
      // Always present, as upstream writes it (a struct, never omitted).
      j.key("parameters").begin_object();
      if (parsed->auto_truncate) j.kv_raw("auto_truncate", "true");
      if (!dims.empty()) j.kv_raw("outputDimensionality", dims);
      j.end_object();
      j.end_object();
    }
    u.body = std::move(body);
    return u;
  }

  bool rewrites_response() const override { return true; }

  Result<std::string> response_body(std::string_view body) override {
    thread_local dom::parser parser;
    dom::element doc;
    if (parser.parse(body.data(), body.size()).get(doc) || !doc.is_object())
      return Error::upstream(502, "the embeddings response is not valid JSON", false);
    bool b64 = encoding_ == "base64";
    std::string out;
    JsonOut j(out);
    j.begin_object().kv("object", "list").key("data").begin_array();
    uint64_t tokens = 0;
    if (schema_ == Schema::kAWSBedrock) {
      dom::array values;
      if (doc["embedding"].get_array().get(values))
        return Error::upstream(502, "the Titan response has no embedding", false);
      j.begin_object().kv("object", "embedding").kv("index", uint64_t{0}).key("embedding");
      append_embedding(j, values, b64);
      j.end_object();
      tokens = u64_of(doc["inputTextTokenCount"]);
    } else if (embed_content_) {
      dom::array values;
      if (doc["embedding"]["values"].get_array().get(values))
        return Error::upstream(502, "the Vertex response has no embedding", false);
      j.begin_object().kv("object", "embedding").kv("index", uint64_t{0}).key("embedding");
      append_embedding(j, values, b64);
      j.end_object();
      tokens = u64_of(doc["usageMetadata"]["promptTokenCount"]);
    } else {
      dom::array predictions;
      if (doc["predictions"].get_array().get(predictions))
        return Error::upstream(502, "the Vertex response has no predictions", false);
      uint64_t i = 0;
      for (dom::element p : predictions) {
        dom::array values;
        if (p["embeddings"]["values"].get_array().get(values)) continue;
        j.begin_object().kv("object", "embedding").kv("index", i++).key("embedding");
        append_embedding(j, values, b64);
        j.end_object();
        tokens += u64_of(p["embeddings"]["statistics"]["token_count"]);
      }
      if (tokens == 0) tokens = u64_of(doc["usageMetadata"]["promptTokenCount"]);
    }
    j.end_array();
    j.kv("model", model_);
    j.key("usage").begin_object().kv("prompt_tokens", tokens).kv("total_tokens", tokens);
    j.end_object().end_object();
    usage_.input = tokens;
    usage_.total = tokens;
    response_model_ = model_;
    return out;
  }

  std::pair<std::string, std::string> error_body(int status, std::string_view,
                                                 std::string_view amzn_error_type,
                                                 std::string_view body) override {
    if (schema_ == Schema::kAWSBedrock)
      return {bedrock_error_to_openai(status, amzn_error_type, body), "application/json"};
    return {gemini_error_to_openai(status, body), "application/json"};
  }

private:
  Schema schema_;
  std::string model_;
  std::string encoding_;
  bool embed_content_ = false;
};

} // namespace

std::pair<std::string, std::string> Translator::error_body(int status,
                                                           std::string_view content_type,
                                                           std::string_view,
                                                           std::string_view body) {
  if (pipeline::is_json_content_type(content_type))
    return {std::string(body), std::string(content_type)};
  return {pipeline::wrap_openai_backend_error(status, body), "application/json"};
}

bool schema_serves(Schema s, Endpoint e) {
  switch (s) {
  case Schema::kOpenAI:
    return e != Endpoint::kRerank && e != Endpoint::kTypeSafe && !pipeline::is_local_endpoint(e) &&
           e != Endpoint::kMessagesCountTokens && e != Endpoint::kUnknown;
  case Schema::kAzureOpenAI:
    return e == Endpoint::kChatCompletions || e == Endpoint::kEmbeddings ||
           e == Endpoint::kCompletions || e == Endpoint::kResponses ||
           e == Endpoint::kResponsesInputTokens || e == Endpoint::kMessages;
  case Schema::kAWSBedrock:
    return e == Endpoint::kChatCompletions || e == Endpoint::kEmbeddings ||
           e == Endpoint::kTokenize || e == Endpoint::kMessages ||
           e == Endpoint::kMessagesCountTokens;
  case Schema::kGCPVertexAI:
    return e == Endpoint::kChatCompletions || e == Endpoint::kEmbeddings ||
           e == Endpoint::kTokenize;
  case Schema::kAWSAnthropic:
  case Schema::kGCPAnthropic:
    return e == Endpoint::kChatCompletions || e == Endpoint::kTokenize ||
           e == Endpoint::kMessages || e == Endpoint::kMessagesCountTokens;
  case Schema::kAnthropic:
    return e == Endpoint::kChatCompletions || e == Endpoint::kMessages ||
           e == Endpoint::kMessagesCountTokens;
  case Schema::kCohere: return e == Endpoint::kRerank;
  case Schema::kAWSOpenAI: return e == Endpoint::kChatCompletions || e == Endpoint::kResponses;
  case Schema::kTypeSafe: return e == Endpoint::kTypeSafe;
  case Schema::kUnknown: break;
  }
  return false;
}

std::unique_ptr<Translator> make_translator(Schema schema, Endpoint endpoint) {
  if (endpoint == Endpoint::kMessages || endpoint == Endpoint::kMessagesCountTokens)
    return make_messages_translator(schema, endpoint);
  switch (schema) {
  case Schema::kOpenAI:
  case Schema::kAWSOpenAI: return std::make_unique<OpenAITranslator>();
  case Schema::kAzureOpenAI: return std::make_unique<AzureTranslator>();
  case Schema::kCohere: return std::make_unique<CohereTranslator>();
  case Schema::kTypeSafe: return std::make_unique<TypeSafeTranslator>();
  case Schema::kAWSBedrock:
  case Schema::kGCPVertexAI:
    if (endpoint == Endpoint::kEmbeddings) return std::make_unique<EmbeddingsTranslator>(schema);
    if (endpoint == Endpoint::kTokenize) return make_tokenize_translator(schema);
    return std::make_unique<CanonicalChatTranslator>(schema);
  case Schema::kAWSAnthropic:
  case Schema::kGCPAnthropic:
    if (endpoint == Endpoint::kTokenize) return make_tokenize_translator(schema);
    return std::make_unique<CanonicalChatTranslator>(schema);
  case Schema::kAnthropic: return std::make_unique<CanonicalChatTranslator>(schema);
  case Schema::kUnknown: break;
  }
  return nullptr;
}

std::string path_escape(std::string_view s) { return auth::bedrock_path_escape(s); }

} // namespace aigw::translate
