// The API schemas a backend may speak (AIServiceBackend.spec.schema.name), named once for the
// control plane, the translators and the metrics.
#pragma once

#include <string_view>

namespace aigw::api {

enum class Schema {
  kOpenAI,
  kAzureOpenAI,
  kAWSBedrock,
  kAWSAnthropic,
  kGCPVertexAI,
  kGCPAnthropic,
  kAnthropic,
  kCohere,
  kAWSOpenAI, // Bedrock Runtime's OpenAI-compatible API (/openai/v1), SigV4-signed
  kTypeSafe,  // TypeSafe's /{version}/systemone
  kUnknown
};
Schema schema_from_name(std::string_view name);
std::string_view schema_name(Schema s);
// The GenAI provider name for logs and metrics (openai, aws.bedrock, gcp.vertex_ai, ...).
std::string_view provider_name(Schema s);

} // namespace aigw::api
