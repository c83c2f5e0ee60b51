// Endpoint table; see endpoints.h.
#include "pipeline/endpoints.h"

#include <array>

namespace aigw::pipeline {
namespace {

struct Row {
  Endpoint endpoint;
  std::string_view path;      // as the client sends it
  std::string_view suffix;    // after the backend's prefix
  std::string_view operation; // gen_ai.operation.name
};

constexpr std::array<Row, 17> kTable{{
    {Endpoint::kChatCompletions, "/v1/chat/completions", "/chat/completions", "chat"},
    {Endpoint::kCompletions, "/v1/completions", "/completions", "completion"},
    {Endpoint::kEmbeddings, "/v1/embeddings", "/embeddings", "embeddings"},
    {Endpoint::kModels, "/v1/models", "/models", "models"},
    {Endpoint::kModel, "/v1/models/{id}", "/models", "models"},
    {Endpoint::kRerank, "/cohere/v2/rerank", "/rerank", "rerank"},
    {Endpoint::kResponses, "/v1/responses", "/responses", "responses"},
    {Endpoint::kResponsesInputTokens, "/v1/responses/input_tokens", "/responses/input_tokens",
     "responses_input_tokens"},
    {Endpoint::kImageGenerations, "/v1/images/generations", "/images/generations",
     "image_generation"},
    {Endpoint::kAudioSpeech, "/v1/audio/speech", "/audio/speech", "speech"},
    {Endpoint::kAudioTranscriptions, "/v1/audio/transcriptions", "/audio/transcriptions",
     "transcription"},
    {Endpoint::kAudioTranslations, "/v1/audio/translations", "/audio/translations", "translation"},
    {Endpoint::kTokenize, "/tokenize", "/tokenize", "tokenize"},
    {Endpoint::kTypeSafe, "/typesafe/v1/systemone", "/systemone", "systemone"},
    {Endpoint::kMessages, "/anthropic/v1/messages", "/messages", "messages"},
    {Endpoint::kMessagesCountTokens, "/anthropic/v1/messages/count_tokens",
     "/messages/count_tokens", "count_tokens"},
    {Endpoint::kAnthropicModels, "/anthropic/v1/models", "/models", "models"},
}};

const Row *row_of(Endpoint e) {
  for (const auto &r : kTable)
    if (r.endpoint == e) return &r;
  return nullptr;
}

} // namespace

EndpointMatch match_endpoint(std::string_view method, std::string_view target) {
  EndpointMatch m;
  m.path = target.substr(0, target.find('?'));
  for (const auto &r : kTable)
    if (r.endpoint != Endpoint::kModel && r.path == m.path) {
      m.endpoint = r.endpoint;
      break;
    }
  constexpr std::string_view kModelsPrefix = "/v1/models/";
  if (m.endpoint == Endpoint::kUnknown && m.path.starts_with(kModelsPrefix) &&
      m.path.size() > kModelsPrefix.size()) {
    m.endpoint = Endpoint::kModel;
    m.model_id = m.path.substr(kModelsPrefix.size());
  }
  m.method_allowed = is_local_endpoint(m.endpoint) ? method == "GET" : method == "POST";
  return m;
}

std::string_view upstream_suffix(Endpoint e) {
  const Row *r = row_of(e);
  return r ? r->suffix : "";
}

std::string_view operation_name(Endpoint e) {
  const Row *r = row_of(e);
  return r ? r->operation : "unknown";
}

std::string_view endpoint_path(Endpoint e) {
  const Row *r = row_of(e);
  return r ? r->path : "";
}

} // namespace aigw::pipeline
