// Fuzz target: the AWS event stream decoder on arbitrary chunkings of arbitrary bytes, and
// decode(encode(headers, payload)) == (headers, payload) for headers and payload cut from the
// input.
#include "providers/aws_eventstream.h"

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace {

using aigw::providers::EventStreamDecoder;

void decode_in_pieces(std::string_view text, size_t step) {
  // A small cap so hostile lengths are exercised against the limit, not just waited on.
  EventStreamDecoder d(1 << 16);
  for (size_t i = 0; i < text.size(); i += step) {
    d.feed(text.substr(i, step));
    for (;;) {
      auto m = d.next();
      if (!m || !*m) break;
      if ((*m)->payload.size() > d.max_message_bytes()) std::abort();
    }
    if (d.buffered_bytes() > d.max_message_bytes() + step) std::abort();
  }
}

// Cuts up to 4 headers and a payload out of `text`: each header takes a length byte for its name
// (1..32) and one for its value (0..255), then those bytes.
void round_trip(std::string_view text) {
  std::vector<std::pair<std::string, std::string>> headers;
  size_t count = text.empty() ? 0 : static_cast<uint8_t>(text[0]) % 5;
  if (!text.empty()) text.remove_prefix(1);
  for (size_t i = 0; i < count && text.size() >= 2; ++i) {
    size_t name_len = 1 + static_cast<uint8_t>(text[0]) % 32;
    size_t value_len = static_cast<uint8_t>(text[1]);
    text.remove_prefix(2);
    if (text.size() < name_len + value_len) break;
    headers.emplace_back(std::string(text.substr(0, name_len)),
                         std::string(text.substr(name_len, value_len)));
    text.remove_prefix(name_len + value_len);
  }
  std::string wire = aigw::providers::encode_event_message(headers, text);
  EventStreamDecoder d;
  d.feed(wire);
  auto m = d.next();
  if (!m || !*m) std::abort();
  if ((*m)->headers != headers || (*m)->payload != text) std::abort();
  auto end = d.next();
  if (!end || *end) std::abort();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0) return 0;
  size_t step = 1 + data[0] % 64;
  std::string_view text(reinterpret_cast<const char *>(data) + 1, size - 1);
  decode_in_pieces(text, step);
  round_trip(text);
  return 0;
}
