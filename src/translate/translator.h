// One translator per request attempt: what the provider is sent (path, body, extra headers) and
// how its answer becomes the client's (body, stream, errors, usage). OpenAI-shaped backends
// (OpenAI, Azure OpenAI, Cohere) are passthroughs; the others go through the canonical chat
// representation (translate/chat.h).
// Thread-safety: one translator belongs to one request.
#pragma once

#include "api/schema.h"
#include "core/result.h"
#include "pipeline/endpoints.h"
#include "pipeline/request_body.h"
#include "translate/chat.h"

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace aigw::translate {

using Schema = api::Schema;
using api::provider_name;
using api::schema_from_name;
using api::schema_name;
// Whether this build serves `endpoint` for `schema`.
bool schema_serves(Schema s, pipeline::Endpoint endpoint);

struct TranslateInput {
  pipeline::Endpoint endpoint = pipeline::Endpoint::kChatCompletions;
  std::string_view body; // the client's pristine body
  const pipeline::ParsedRequest *parsed = nullptr;
  std::string_view model;          // after modelNameOverride
  std::string_view model_override; // empty: none
  std::string_view query;          // the client's query string ("?a=b" or "")
  std::string_view path_prefix;    // the backend's prefix ("/v1")
  std::string_view version;        // schema.version
  bool inject_include_usage = false;
  std::string_view request_id;
  std::string_view anthropic_beta; // Messages to AWSAnthropic: the client's flags, filtered
};

struct UpstreamRequest {
  std::string path; // GCP backends: relative ("publishers/..."), the auth step prefixes it
  std::optional<std::string> body; // nullopt: the client's body unchanged
  std::vector<std::pair<std::string, std::string>> headers;
};

class Translator {
public:
  virtual ~Translator() = default;

  virtual Result<UpstreamRequest> request(const TranslateInput &in) = 0;
  // The provider's own request id from its response head (Bedrock's x-amzn-requestid), before
  // the body: translated answers use it as their id.
  virtual void set_provider_request_id(std::string_view) {}
  // False: the provider's answer is relayed as is (usage scanned on the way).
  virtual bool rewrites_response() const { return false; }
  // The client's content type for a successful answer.
  virtual std::string_view response_content_type(bool streaming) const {
    return streaming ? "text/event-stream" : "application/json";
  }
  // A complete successful answer → the client's body.
  virtual Result<std::string> response_body(std::string_view body) { return std::string(body); }
  // A streamed answer, piece by piece; `end` once at the end of the provider's stream.
  virtual void stream_chunk(std::string_view, std::string &) {}
  virtual void stream_end(std::string &) {}
  // A provider error (status >= 300) → the client's body and content type.
  virtual std::pair<std::string, std::string> error_body(int status, std::string_view content_type,
                                                         std::string_view amzn_error_type,
                                                         std::string_view body);
  // Known after the answer: usage and model (empty: the request's).
  virtual const TokenUsage &usage() const { return usage_; }
  virtual const std::string &response_model() const { return response_model_; }

protected:
  TokenUsage usage_;
  std::string response_model_;
};

std::unique_ptr<Translator> make_translator(Schema schema, pipeline::Endpoint endpoint);

// A model id as one path segment, escaped as Go's url.PathEscape (upstream's): '/' → %2F, ':' kept.
std::string path_escape(std::string_view segment);

} // namespace aigw::translate
