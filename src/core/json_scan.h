// Byte-exact scanning of JSON objects, for surgical edits of request bodies: find where each
// top-level member's key and value sit so one value can be replaced and every other byte kept.
// Pure functions, no allocation beyond the result; safe on untrusted input (never reads past the
// end, no recursion). Validation is the JSON parser's job; this only locates spans.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace aigw::json {

struct Member {
  std::string_view key; // the key as written, without quotes (escapes not decoded)
  // True when the key, escapes decoded, equals `plain` ("mod\u0065l" is "model").
  bool key_is(std::string_view plain) const;
  size_t key_begin = 0; // offset of the opening quote of the key
  size_t value_begin = 0;
  size_t value_end = 0; // one past the last byte of the value
};

struct ObjectSpans {
  size_t open = 0;  // offset of '{'
  size_t close = 0; // offset of the matching '}'
  std::vector<Member> members;

  const Member *find(std::string_view key) const;
};

// Scans the object that starts at the first non-space byte of `text`. Returns nullopt when `text`
// does not hold an object or is malformed at the top level, or has more than `max_members`.
std::optional<ObjectSpans> scan_object(std::string_view text, size_t max_members = 100000);

// Decodes the escapes of a JSON string body (\n, \uXXXX with surrogate pairs, ...) to UTF-8.
// Malformed escapes are kept as written.
std::string unescape(std::string_view raw);

// Appends `s` to `out` as a JSON string literal (with quotes), escaping as RFC 8259 requires.
void append_quoted(std::string &out, std::string_view s);
std::string quoted(std::string_view s);

// Returns `text` with bytes [begin, end) replaced by `replacement`.
std::string splice(std::string_view text, size_t begin, size_t end, std::string_view replacement);

} // namespace aigw::json
