// Parsing a client request body once (simdjson, validated in full) and re-encoding it for a
// backend with surgical edits: the model replaced and `stream_options.include_usage` injected,
// every other byte unchanged.
#pragma once

#include "core/result.h"
#include "pipeline/endpoints.h"

#include <optional>
#include <string>
#include <string_view>

namespace aigw::pipeline {

struct ParsedRequest {
  std::string model;
  bool stream = false;
  bool include_usage = false; // stream_options.include_usage is true
  std::optional<uint64_t> max_tokens;
};

// REQUIRES: `body` is the complete request body. Returns a 400 error (upstream's message) on
// malformed JSON or a body that is not a JSON object.
Result<ParsedRequest> parse_request_body(Endpoint endpoint, std::string_view body);

// Returns the body to send upstream, or nullopt when it is unchanged (no copy needed).
// `model_override` empty: keep the model. `inject_include_usage`: make sure
// stream_options.include_usage is true.
std::optional<std::string> encode_request_body(std::string_view body,
                                               std::string_view model_override,
                                               bool inject_include_usage);

} // namespace aigw::pipeline
