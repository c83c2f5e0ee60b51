// Fuzz target: multipart/form-data parsing and the in-place model rewrite. A form that parses
// must, once its model is replaced, parse again with the new model and the same other parts.
// The first byte picks the boundary's length; the rest is the body.
#include "pipeline/multipart.h"

#include <cstdint>
#include <cstdlib>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2) return 0;
  size_t blen = 1 + data[0] % 16;
  if (size < 1 + blen) return 0;
  std::string boundary(reinterpret_cast<const char *>(data + 1), blen);
  std::string_view body(reinterpret_cast<const char *>(data + 1 + blen), size - 1 - blen);
  namespace p = aigw::pipeline;
  auto parts = p::parse_multipart(body, boundary);
  if (!parts.ok()) return 0;
  for (const auto &part : *parts)
    if (part.value_begin > part.value_end || part.value_end > body.size()) std::abort();
  bool had_model = p::multipart_field(body, *parts, "model").has_value();
  auto out = p::replace_multipart_field(body, boundary, *parts, "model", "override-model");
  if (!out.ok()) return 0;
  auto again = p::parse_multipart(*out, boundary, parts->size() + 1); // one more, at most
  if (!again.ok()) std::abort();
  auto model = p::multipart_field(*out, *again, "model");
  if (!model || *model != "override-model") std::abort();
  if (again->size() != parts->size() + (had_model ? 0 : 1)) std::abort();
  return 0;
}
