// Parsing a client request body once (simdjson, validated in full) and re-encoding it for a
// backend with surgical edits: the model replaced and `stream_options.include_usage` injected,
// every other byte unchanged.
#pragma once

#include "core/result.h"
#include "pipeline/endpoints.h"
#include "pipeline/multipart.h"

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace aigw::pipeline {

struct ParsedRequest {
  std::string model;
  bool stream = false;
  bool include_usage = false; // stream_options.include_usage is true
  std::optional<uint64_t> max_tokens;
  // multipart/form-data bodies (the audio endpoints): the boundary and the parts, in place.
  bool multipart = false;
  std::string boundary;
  std::vector<MultipartPart> parts;
};

// REQUIRES: `body` is the complete request body. Returns a 400 error (upstream's message) on
// malformed JSON or a body that is not a JSON object, a multipart body on an endpoint that takes
// JSON, and a malformed multipart body. `content_type` is the client's.
// Readable bytes simdjson needs after its input (SIMDJSON_PADDING).
inline constexpr size_t kJsonPadding = 64;

// `padded`: the bytes after `body` (SIMDJSON_PADDING of them) are readable, so it is parsed in
// place instead of copied.
Result<ParsedRequest> parse_request_body(Endpoint endpoint, std::string_view body,
                                         std::string_view content_type = {}, bool padded = false);

// Returns the body to send upstream, or nullopt when it is unchanged (no copy needed).
// `model_override` empty: keep the model. `inject_include_usage`: make sure
// stream_options.include_usage is true.
std::optional<std::string> encode_request_body(std::string_view body,
                                               std::string_view model_override,
                                               bool inject_include_usage);

// HTTPBodyMutation on the body sent upstream: top-level fields removed, then set. A value that
// looks like JSON (a quoted string, number, true/false/null, object or array) goes in as is;
// anything else as a JSON string. Not a JSON object: returned unchanged.
std::string apply_body_mutation(std::string_view body,
                                const std::vector<std::pair<std::string, std::string>> &set,
                                const std::vector<std::string> &remove);

} // namespace aigw::pipeline
