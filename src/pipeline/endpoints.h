// The endpoint table: which client paths the gateway serves (exact match, query string stripped),
// and what each maps to upstream.
#pragma once

#include <string_view>

namespace aigw::pipeline {

enum class Endpoint { kUnknown, kChatCompletions, kCompletions, kEmbeddings, kModels, kRerank };

struct EndpointMatch {
  Endpoint endpoint = Endpoint::kUnknown;
  std::string_view path; // the request target without its query string
  bool method_allowed = false;
};

EndpointMatch match_endpoint(std::string_view method, std::string_view target);

// "/chat/completions" etc.: appended to the backend's path prefix.
std::string_view upstream_suffix(Endpoint e);
// The GenAI operation name used in logs and metrics: chat, completion, embeddings.
std::string_view operation_name(Endpoint e);
// "/v1/chat/completions" etc., for error messages.
std::string_view endpoint_path(Endpoint e);

} // namespace aigw::pipeline
