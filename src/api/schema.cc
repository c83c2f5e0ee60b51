// Schema names; see schema.h.
#include "api/schema.h"

namespace aigw::api {

Schema schema_from_name(std::string_view n) {
  if (n == "OpenAI") return Schema::kOpenAI;
  if (n == "AzureOpenAI") return Schema::kAzureOpenAI;
  if (n == "AWSBedrock") return Schema::kAWSBedrock;
  if (n == "AWSAnthropic") return Schema::kAWSAnthropic;
  if (n == "GCPVertexAI") return Schema::kGCPVertexAI;
  if (n == "GCPAnthropic") return Schema::kGCPAnthropic;
  if (n == "Anthropic") return Schema::kAnthropic;
  if (n == "Cohere") return Schema::kCohere;
  if (n == "AWSOpenAI") return Schema::kAWSOpenAI;
  if (n == "TypeSafe") return Schema::kTypeSafe;
  return Schema::kUnknown;
}

std::string_view schema_name(Schema s) {
  switch (s) {
  case Schema::kOpenAI: return "OpenAI";
  case Schema::kAzureOpenAI: return "AzureOpenAI";
  case Schema::kAWSBedrock: return "AWSBedrock";
  case Schema::kAWSAnthropic: return "AWSAnthropic";
  case Schema::kGCPVertexAI: return "GCPVertexAI";
  case Schema::kGCPAnthropic: return "GCPAnthropic";
  case Schema::kAnthropic: return "Anthropic";
  case Schema::kCohere: return "Cohere";
  case Schema::kAWSOpenAI: return "AWSOpenAI";
  case Schema::kTypeSafe: return "TypeSafe";
  case Schema::kUnknown: break;
  }
  return "Unknown";
}

std::string_view provider_name(Schema s) {
  switch (s) {
  case Schema::kOpenAI: return "openai";
  case Schema::kAzureOpenAI: return "azure.openai";
  case Schema::kAWSBedrock: return "aws.bedrock";
  case Schema::kAWSAnthropic: return "aws.anthropic";
  case Schema::kGCPVertexAI: return "gcp.vertex_ai";
  case Schema::kGCPAnthropic: return "gcp.anthropic";
  case Schema::kAnthropic: return "anthropic";
  case Schema::kCohere: return "cohere";
  case Schema::kAWSOpenAI: return "aws.bedrock";
  case Schema::kTypeSafe: return "typesafe";
  case Schema::kUnknown: break;
  }
  return "unknown";
}

} // namespace aigw::api
