// Lenient reads from simdjson DOM values for decoders: a missing or mistyped field reads as
// empty or zero, so provider additions and omissions never throw.
#pragma once

#include <simdjson.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace aigw::translate {

inline std::string_view str_of(simdjson::simdjson_result<simdjson::dom::element> e) {
  std::string_view s;
  if (e.get_string().get(s)) return {};
  return s;
}
inline std::string_view str_of(simdjson::dom::element e) {
  return str_of(simdjson::simdjson_result<simdjson::dom::element>(std::move(e)));
}

// Counts: unsigned integers, or floats some providers send (truncated).
inline uint64_t u64_of(simdjson::simdjson_result<simdjson::dom::element> e) {
  uint64_t v = 0;
  if (!e.get_uint64().get(v)) return v;
  double d = 0;
  if (!e.get_double().get(d) && d > 0 && d < 1.8e19) return static_cast<uint64_t>(d);
  return 0;
}
inline uint64_t u64_of(simdjson::dom::element e) {
  return u64_of(simdjson::simdjson_result<simdjson::dom::element>(std::move(e)));
}

// Tool-call arguments as the providers want them: the JSON object OpenAI carries as a string, or
// `{}` when it is empty or not an object.
inline std::string json_object_or_empty(std::string_view arguments) {
  if (arguments.empty()) return "{}";
  thread_local simdjson::dom::parser p;
  simdjson::dom::element e;
  if (p.parse(arguments.data(), arguments.size()).get(e) || !e.is_object()) return "{}";
  return std::string(arguments);
}

} // namespace aigw::translate
