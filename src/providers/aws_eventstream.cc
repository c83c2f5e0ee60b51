// AWS event stream framing; see aws_eventstream.h.
#include "providers/aws_eventstream.h"

#include <array>

namespace aigw::providers {
namespace {

constexpr size_t kPreludeBytes = 12;    // total_length, headers_length, prelude_crc
constexpr size_t kMinMessageBytes = 16; // prelude + message_crc

constexpr std::array<uint32_t, 256> make_crc_table() {
  std::array<uint32_t, 256> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k)
      c = (c & 1) ? (0xEDB88320u ^ (c >> 1)) : (c >> 1);
    t[i] = c;
  }
  return t;
}
constexpr auto kCrcTable = make_crc_table();

uint64_t read_be(std::string_view s, size_t at, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; ++i)
    v = (v << 8) | static_cast<uint8_t>(s[at + i]);
  return v;
}

void append_be(std::string &out, uint64_t v, size_t n) {
  for (size_t i = n; i-- > 0;)
    out += static_cast<char>((v >> (8 * i)) & 0xff);
}

Error bad(std::string msg) {
  return Error::upstream(502, "aws event stream: " + std::move(msg), false);
}

std::string render_uuid(std::string_view b) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
    auto c = static_cast<uint8_t>(b[i]);
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

// Decodes one header value of `type` at the front of `rest`, advancing it.
Result<std::string> read_value(uint8_t type, std::string_view &rest) {
  auto take = [&](size_t n) -> std::optional<std::string_view> {
    if (rest.size() < n) return std::nullopt;
    std::string_view v = rest.substr(0, n);
    rest.remove_prefix(n);
    return v;
  };
  auto signed_int = [&](size_t n) -> Result<std::string> {
    auto v = take(n);
    if (!v) return bad("truncated header value");
    uint64_t u = read_be(*v, 0, n);
    if (n < 8 && (u >> (8 * n - 1)) & 1) u |= ~uint64_t{0} << (8 * n); // sign-extend
    return std::to_string(static_cast<int64_t>(u));
  };
  switch (type) {
  case 0: return std::string("true");
  case 1: return std::string("false");
  case 2: return signed_int(1);
  case 3: return signed_int(2);
  case 4: return signed_int(4);
  case 5:
  case 8: return signed_int(8);
  case 6:
  case 7: {
    auto len = take(2);
    if (!len) return bad("truncated header value length");
    auto v = take(static_cast<size_t>(read_be(*len, 0, 2)));
    if (!v) return bad("truncated header value");
    return std::string(*v);
  }
  case 9: {
    auto v = take(16);
    if (!v) return bad("truncated uuid header value");
    return render_uuid(*v);
  }
  default: return bad("unknown header value type " + std::to_string(type));
  }
}

Result<std::vector<std::pair<std::string, std::string>>> parse_headers(std::string_view rest) {
  std::vector<std::pair<std::string, std::string>> headers;
  while (!rest.empty()) {
    auto name_len = static_cast<uint8_t>(rest[0]);
    rest.remove_prefix(1);
    if (name_len == 0) return bad("empty header name");
    if (rest.size() < size_t{name_len} + 1) return bad("truncated header");
    std::string name(rest.substr(0, name_len));
    auto type = static_cast<uint8_t>(rest[name_len]);
    rest.remove_prefix(size_t{name_len} + 1);
    auto value = read_value(type, rest);
    if (!value) return value.error();
    headers.emplace_back(std::move(name), std::move(value).value());
  }
  return headers;
}

} // namespace

uint32_t crc32_ieee(std::string_view data, uint32_t crc) {
  crc = ~crc;
  for (char ch : data)
    crc = kCrcTable[(crc ^ static_cast<uint8_t>(ch)) & 0xff] ^ (crc >> 8);
  return ~crc;
}

std::string_view EventMessage::header(std::string_view name) const {
  for (const auto &[k, v] : headers)
    if (k == name) return v;
  return {};
}

std::string
encode_event_message(const std::vector<std::pair<std::string, std::string>> &string_headers,
                     std::string_view payload) {
  std::string headers;
  for (const auto &[name, value] : string_headers) {
    std::string_view n = std::string_view(name).substr(0, 255);
    std::string_view v = std::string_view(value).substr(0, 65535);
    headers += static_cast<char>(n.size());
    headers += n;
    headers += '\x07';
    append_be(headers, v.size(), 2);
    headers += v;
  }
  std::string out;
  out.reserve(kMinMessageBytes + headers.size() + payload.size());
  append_be(out, kMinMessageBytes + headers.size() + payload.size(), 4);
  append_be(out, headers.size(), 4);
  append_be(out, crc32_ieee(out), 4);
  out += headers;
  out += payload;
  append_be(out, crc32_ieee(out), 4);
  return out;
}

Result<EventParse> parse_event_message(std::string_view bytes, size_t max_message_bytes) {
  if (bytes.size() < kPreludeBytes) return EventParse{};
  uint64_t total = read_be(bytes, 0, 4);
  uint64_t headers_len = read_be(bytes, 4, 4);
  if (crc32_ieee(bytes.substr(0, 8)) != read_be(bytes, 8, 4)) return bad("prelude CRC mismatch");
  if (total < kMinMessageBytes)
    return bad("message length " + std::to_string(total) + " is below the minimum of 16");
  if (total > max_message_bytes)
    return bad("message length " + std::to_string(total) + " exceeds the limit of " +
               std::to_string(max_message_bytes));
  if (headers_len > total - kMinMessageBytes)
    return bad("headers length " + std::to_string(headers_len) + " does not fit a message of " +
               std::to_string(total) + " bytes");
  if (bytes.size() < total) return EventParse{};
  std::string_view msg = bytes.substr(0, total);
  if (crc32_ieee(msg.substr(0, total - 4)) != read_be(msg, total - 4, 4))
    return bad("message CRC mismatch");
  auto headers = parse_headers(msg.substr(kPreludeBytes, headers_len));
  if (!headers) return headers.error();
  EventParse out;
  out.message.emplace();
  out.message->headers = std::move(headers).value();
  out.message->payload =
      std::string(msg.substr(kPreludeBytes + headers_len, total - kMinMessageBytes - headers_len));
  out.consumed = total;
  return out;
}

void EventStreamDecoder::feed(std::string_view bytes) {
  if (error_) return;
  // Drop what was already decoded before growing, so the buffer holds at most one partial
  // message plus the new bytes.
  if (pos_ > 0) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  buf_.append(bytes);
}

Result<std::optional<EventMessage>> EventStreamDecoder::next() {
  if (error_) return *error_;
  auto parsed = parse_event_message(std::string_view(buf_).substr(pos_), max_message_bytes_);
  if (!parsed) {
    error_ = parsed.error();
    buf_.clear();
    buf_.shrink_to_fit();
    pos_ = 0;
    return *error_;
  }
  if (!parsed->message) return std::optional<EventMessage>();
  pos_ += parsed->consumed;
  if (pos_ == buf_.size()) {
    buf_.clear();
    pos_ = 0;
  }
  return std::move(parsed->message);
}

} // namespace aigw::providers
