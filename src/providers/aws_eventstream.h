// The application/vnd.amazon.eventstream binary framing that Bedrock's streaming APIs
// (ConverseStream, InvokeModelWithResponseStream) answer with: an incremental, size-capped decoder
// and an encoder for tests and fakes. Pure: no I/O.
// Thread-safety: the free functions are safe to call concurrently; an EventStreamDecoder is a
// per-stream object and must not be shared between threads without external locking.
//
// Wire format of one message (all integers big-endian):
//   total_length u32 | headers_length u32 | prelude_crc u32 (CRC32 of the first 8 bytes)
//   headers (headers_length bytes) | payload | message_crc u32 (CRC32 of everything before it)
// Each header: name_len u8 | name | type u8 | value, where type is 0 true, 1 false (no value),
// 2 byte, 3 short, 4 int, 5 long (signed, 1/2/4/8 bytes), 6 byte array and 7 string (u16 length +
// bytes), 8 timestamp (i64 milliseconds since the epoch), 9 uuid (16 bytes).
#pragma once

#include "core/result.h"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace aigw::providers {

// CRC-32 as in zlib, gzip and Ethernet (IEEE 802.3; reflected, polynomial 0xEDB88320, initial and
// final XOR 0xFFFFFFFF): crc32_ieee("123456789") == 0xCBF43926. Pass the previous result as
// `crc` to continue a running checksum over several pieces.
uint32_t crc32_ieee(std::string_view data, uint32_t crc = 0);

struct EventMessage {
  // Headers in wire order, values rendered as text: strings and byte arrays as their raw bytes,
  // booleans as "true"/"false", integers in decimal, timestamps as decimal milliseconds since the
  // epoch, uuids as 8-4-4-4-12 lower-case hex.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string payload;

  // The value of the first header called `name` (exact, case-sensitive match as AWS sends them,
  // e.g. ":event-type"), or "" when there is none.
  std::string_view header(std::string_view name) const;
};

// The bytes of one message whose headers are all strings (type 7).
// REQUIRES: each name is 1..255 bytes and each value at most 65535 bytes; longer ones are
// truncated to fit (an empty name is sent as is, and decoders, this one included, reject it).
std::string
encode_event_message(const std::vector<std::pair<std::string, std::string>> &string_headers,
                     std::string_view payload);

// Outcome of looking at the front of a buffer: a complete message and how many bytes it used, or
// nothing yet (consumed == 0, more bytes needed).
struct EventParse {
  std::optional<EventMessage> message;
  size_t consumed = 0;
};

// Parses the message at the front of `bytes`, if complete. Errors (all Error::upstream(502, ...,
// not retryable)) for a bad prelude CRC, total_length < 16 or > max_message_bytes,
// headers_length > total_length - 16, a bad message CRC or malformed headers. Lengths are checked
// as soon as the 12-byte prelude is in, so a hostile length never makes a caller wait for or
// buffer more than max_message_bytes.
Result<EventParse> parse_event_message(std::string_view bytes, size_t max_message_bytes);

// Incremental decoder: feed() bytes as they arrive in any chunking, then call next() until it
// returns nullopt (needs more bytes) or an error. After an error the decoder stays failed and
// next() keeps returning that error; feed() then discards its input. Memory: the bytes not yet
// decoded, which stay below max_message_bytes as long as next() is drained after each feed().
class EventStreamDecoder {
public:
  static constexpr size_t kDefaultMaxMessageBytes = size_t{16} * 1024 * 1024;

  explicit EventStreamDecoder(size_t max_message_bytes = kDefaultMaxMessageBytes)
      : max_message_bytes_(max_message_bytes) {}

  void feed(std::string_view bytes);
  Result<std::optional<EventMessage>> next();

  // The cap on one message's total_length; applies from the next call to next().
  void set_max_message_bytes(size_t n) { max_message_bytes_ = n; }
  size_t max_message_bytes() const { return max_message_bytes_; }

  // Bytes received but not yet returned as messages (a partial message at the end of a stream).
  size_t buffered_bytes() const { return buf_.size() - pos_; }
  bool failed() const { return error_.has_value(); }

private:
  std::string buf_;
  size_t pos_ = 0; // start of the first undecoded byte in buf_
  size_t max_message_bytes_;
  std::optional<Error> error_;
};

} // namespace aigw::providers
