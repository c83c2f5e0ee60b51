// Fuzz target: request body parsing and re-encoding. A body that parses must re-encode into a
// body that still parses, with the overridden model.
#include "pipeline/request_body.h"

#include <cstdint>
#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string_view body(reinterpret_cast<const char *>(data), size);
  using aigw::pipeline::Endpoint;
  auto parsed = aigw::pipeline::parse_request_body(Endpoint::kChatCompletions, body);
  if (!parsed.ok()) return 0;
  auto out = aigw::pipeline::encode_request_body(body, "override-model", true);
  if (!out) return 0;
  auto again = aigw::pipeline::parse_request_body(Endpoint::kChatCompletions, *out);
  if (!again.ok() || again->model != "override-model" || !again->include_usage) std::abort();
  return 0;
}
