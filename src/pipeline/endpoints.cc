// Endpoint table; see endpoints.h.
#include "pipeline/endpoints.h"

namespace aigw::pipeline {

EndpointMatch match_endpoint(std::string_view method, std::string_view target) {
  EndpointMatch m;
  m.path = target.substr(0, target.find('?'));
  if (m.path == "/v1/chat/completions")
    m.endpoint = Endpoint::kChatCompletions;
  else if (m.path == "/v1/completions")
    m.endpoint = Endpoint::kCompletions;
  else if (m.path == "/v1/embeddings")
    m.endpoint = Endpoint::kEmbeddings;
  else if (m.path == "/v1/models")
    m.endpoint = Endpoint::kModels;
  else if (m.path == "/cohere/v2/rerank")
    m.endpoint = Endpoint::kRerank;
  if (m.endpoint == Endpoint::kModels)
    m.method_allowed = method == "GET";
  else
    m.method_allowed = method == "POST";
  return m;
}

std::string_view upstream_suffix(Endpoint e) {
  switch (e) {
  case Endpoint::kChatCompletions: return "/chat/completions";
  case Endpoint::kCompletions: return "/completions";
  case Endpoint::kEmbeddings: return "/embeddings";
  case Endpoint::kModels: return "/models";
  case Endpoint::kRerank: return "/rerank";
  case Endpoint::kUnknown: break;
  }
  return "";
}

std::string_view operation_name(Endpoint e) {
  switch (e) {
  case Endpoint::kChatCompletions: return "chat";
  case Endpoint::kCompletions: return "completion";
  case Endpoint::kEmbeddings: return "embeddings";
  case Endpoint::kModels: return "models";
  case Endpoint::kRerank: return "rerank";
  case Endpoint::kUnknown: break;
  }
  return "unknown";
}

std::string_view endpoint_path(Endpoint e) {
  switch (e) {
  case Endpoint::kChatCompletions: return "/v1/chat/completions";
  case Endpoint::kCompletions: return "/v1/completions";
  case Endpoint::kEmbeddings: return "/v1/embeddings";
  case Endpoint::kModels: return "/v1/models";
  case Endpoint::kRerank: return "/cohere/v2/rerank";
  case Endpoint::kUnknown: break;
  }
  return "";
}

} // namespace aigw::pipeline
