// The client-facing endpoints (reference §2): exact paths, query string stripped, as upstream
// matches them. One table names each endpoint's path, method, upstream suffix and GenAI operation.
#pragma once

#include <string_view>

namespace aigw::pipeline {

enum class Endpoint {
  kUnknown,
  kChatCompletions,
  kCompletions,
  kEmbeddings,
  kModels,
  kModel, // GET /v1/models/{id}
  kRerank,
  kResponses,
  kResponsesInputTokens,
  kImageGenerations,
  kAudioSpeech,
  kAudioTranscriptions,
  kAudioTranslations,
  kTokenize,
  kTypeSafe,
  kMessages,            // POST /anthropic/v1/messages
  kMessagesCountTokens, // POST /anthropic/v1/messages/count_tokens
  kAnthropicModels,     // GET /anthropic/v1/models
};

struct EndpointMatch {
  Endpoint endpoint = Endpoint::kUnknown;
  std::string_view path;     // the request target without its query string
  std::string_view model_id; // kModel: the {id} segment, still percent-encoded
  bool method_allowed = false;
};

EndpointMatch match_endpoint(std::string_view method, std::string_view target);

// "/chat/completions" etc.: appended to the backend's path prefix.
std::string_view upstream_suffix(Endpoint e);
// The GenAI operation name used in logs and metrics: chat, completion, embeddings, ...
std::string_view operation_name(Endpoint e);
// "/v1/chat/completions" etc., for error messages.
std::string_view endpoint_path(Endpoint e);
// Endpoints answered by the gateway itself, with GET.
inline bool is_local_endpoint(Endpoint e) {
  return e == Endpoint::kModels || e == Endpoint::kModel || e == Endpoint::kAnthropicModels;
}
// The Anthropic Messages API endpoints: Anthropic-shaped bodies, usage and errors.
inline bool is_anthropic_endpoint(Endpoint e) {
  return e == Endpoint::kMessages || e == Endpoint::kMessagesCountTokens ||
         e == Endpoint::kAnthropicModels;
}
// The endpoints whose body is multipart/form-data (every other one is JSON).
inline bool takes_multipart(Endpoint e) {
  return e == Endpoint::kAudioTranscriptions || e == Endpoint::kAudioTranslations;
}

} // namespace aigw::pipeline
