#include "providers/aws_eventstream.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <initializer_list>

namespace aigw::providers {
namespace {

using Headers = std::vector<std::pair<std::string, std::string>>;

std::string bytes(std::initializer_list<int> v) {
  std::string s;
  for (int b : v)
    s += static_cast<char>(b);
  return s;
}

std::string be32(uint32_t v) {
  return bytes({int(v >> 24), int((v >> 16) & 0xff), int((v >> 8) & 0xff), int(v & 0xff)});
}

// A frame around raw header bytes, with correct CRCs unless told otherwise.
std::string frame(std::string_view raw_headers, std::string_view payload) {
  std::string out = be32(static_cast<uint32_t>(16 + raw_headers.size() + payload.size())) +
                    be32(static_cast<uint32_t>(raw_headers.size()));
  out += be32(crc32_ieee(out));
  out += raw_headers;
  out += payload;
  out += be32(crc32_ieee(out));
  return out;
}

// Decodes a whole buffer in one feed; all messages, or the first error.
Result<std::vector<EventMessage>> decode_all(std::string_view in, size_t cap = 1 << 20) {
  EventStreamDecoder d(cap);
  d.feed(in);
  std::vector<EventMessage> out;
  for (;;) {
    auto m = d.next();
    if (!m) return m.error();
    if (!*m) return out;
    out.push_back(std::move(**m));
  }
}

const Headers kDeltaHeaders = {{":event-type", "contentBlockDelta"},
                               {":content-type", "application/json"},
                               {":message-type", "event"}};
constexpr std::string_view kDeltaPayload =
    R"({"contentBlockIndex":0,"delta":{"text":"Hello"},"p":"abcdefghijklm"})";

TEST(Crc32Ieee, MatchesTheStandardCheckValue) {
  EXPECT_EQ(crc32_ieee("123456789"), 0xCBF43926u);
  EXPECT_EQ(crc32_ieee(""), 0u);
  EXPECT_EQ(crc32_ieee("56789", crc32_ieee("1234")), 0xCBF43926u);
  EXPECT_EQ(crc32_ieee("The quick brown fox jumps over the lazy dog"), 0x414FA339u);
}

// Vectors from AWS's event stream test suite (as in aws-sdk-js-v3's eventstream-marshaller
// TestVectors.fixture.ts); their CRCs were re-checked with python3's zlib.crc32.
const std::string kEmptyMessage =
    bytes({0, 0, 0, 16, 0, 0, 0, 0, 5, 194, 72, 235, 125, 152, 200, 255});
const std::string kInt32Header =
    bytes({0,   0,   0,   43, 0,   0,   0,   14, 52,  139, 236, 123, 8,  101, 118,
           101, 110, 116, 45, 105, 100, 4,   0,  0,   160, 12,  123, 39, 102, 111,
           111, 39,  58,  39, 98,  97,  114, 39, 125, 211, 137, 2,   133});
const std::string kOneStringHeader =
    bytes({0,   0,   0,   61,  0,   0,   0,   32,  7,   253, 131, 150, 12,  99,  111, 110,
           116, 101, 110, 116, 45,  116, 121, 112, 101, 7,   0,   16,  97,  112, 112, 108,
           105, 99,  97,  116, 105, 111, 110, 47,  106, 115, 111, 110, 123, 39,  102, 111,
           111, 39,  58,  39,  98,  97,  114, 39,  125, 141, 156, 8,   177});

TEST(EventStreamDecoder, DecodesTheAwsSuiteVectors) {
  auto empty = decode_all(kEmptyMessage);
  ASSERT_TRUE(empty) << empty.error().message;
  ASSERT_EQ(empty->size(), 1u);
  EXPECT_TRUE((*empty)[0].headers.empty());
  EXPECT_EQ((*empty)[0].payload, "");

  auto int32 = decode_all(kInt32Header);
  ASSERT_TRUE(int32) << int32.error().message;
  EXPECT_EQ((*int32)[0].headers, (Headers{{"event-id", "40972"}}));
  EXPECT_EQ((*int32)[0].payload, "{'foo':'bar'}");

  auto str = decode_all(kOneStringHeader);
  ASSERT_TRUE(str) << str.error().message;
  EXPECT_EQ((*str)[0].header("content-type"), "application/json");
  EXPECT_EQ((*str)[0].payload, "{'foo':'bar'}");
}

TEST(EventStreamEncoder, ReproducesTheAwsSuiteVectors) {
  EXPECT_EQ(encode_event_message({}, ""), kEmptyMessage);
  EXPECT_EQ(encode_event_message({{"content-type", "application/json"}}, "{'foo':'bar'}"),
            kOneStringHeader);
}

TEST(EventStreamDecoder, RejectsTheAwsSuiteCorruptions) {
  std::string corrupted_headers = kOneStringHeader;
  corrupted_headers[20] = 43; // "content+type": message CRC no longer matches
  std::string corrupted_header_len = kOneStringHeader;
  corrupted_header_len[6] = 1; // prelude CRC no longer matches
  std::string corrupted_length = frame("", "{'foo':'bar'}");
  corrupted_length[0] = 1;
  std::string corrupted_payload = frame("", "{'foo':'bar'}");
  corrupted_payload[24] = static_cast<char>(141);
  for (const std::string &in :
       {corrupted_headers, corrupted_header_len, corrupted_length, corrupted_payload})
    EXPECT_FALSE(decode_all(in));
}

TEST(EventStreamDecoder, RoundTripsAStreamOfMessages) {
  std::string stream = encode_event_message(kDeltaHeaders, kDeltaPayload) +
                       encode_event_message({}, "") +
                       encode_event_message({{":message-type", "exception"},
                                             {":exception-type", "throttlingException"}},
                                            R"({"message":"slow down"})");
  auto all = decode_all(stream);
  ASSERT_TRUE(all) << all.error().message;
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].headers, kDeltaHeaders);
  EXPECT_EQ((*all)[0].payload, kDeltaPayload);
  EXPECT_EQ((*all)[0].header(":event-type"), "contentBlockDelta");
  EXPECT_EQ((*all)[0].header(":missing"), "");
  EXPECT_EQ((*all)[1].payload, "");
  EXPECT_EQ((*all)[2].header(":exception-type"), "throttlingException");
}

TEST(EventStreamDecoder, DecodesTheSameWhateverTheSplit) {
  std::string stream = encode_event_message(kDeltaHeaders, kDeltaPayload) +
                       encode_event_message({{"k", "v"}}, "second");
  for (size_t split = 0; split <= stream.size(); ++split) {
    EventStreamDecoder d;
    std::vector<EventMessage> got;
    for (std::string_view part :
         {std::string_view(stream).substr(0, split), std::string_view(stream).substr(split)}) {
      d.feed(part);
      for (;;) {
        auto m = d.next();
        ASSERT_TRUE(m) << "split " << split << ": " << m.error().message;
        if (!*m) break;
        got.push_back(std::move(**m));
      }
    }
    ASSERT_EQ(got.size(), 2u) << "split " << split;
    EXPECT_EQ(got[0].headers, kDeltaHeaders);
    EXPECT_EQ(got[0].payload, kDeltaPayload);
    EXPECT_EQ(got[1].payload, "second");
    EXPECT_EQ(d.buffered_bytes(), 0u);
  }
}

TEST(EventStreamDecoder, DecodesByteAtATime) {
  std::string stream = encode_event_message(kDeltaHeaders, kDeltaPayload);
  EventStreamDecoder d;
  int messages = 0;
  for (size_t i = 0; i < stream.size(); ++i) {
    d.feed(stream.substr(i, 1));
    auto m = d.next();
    ASSERT_TRUE(m);
    if (*m) ++messages;
    EXPECT_EQ(messages, i + 1 == stream.size() ? 1 : 0);
  }
}

TEST(EventStreamDecoder, WaitsOnATruncatedMessage) {
  std::string msg = encode_event_message(kDeltaHeaders, kDeltaPayload);
  for (size_t n : {size_t{0}, size_t{5}, size_t{11}, size_t{12}, msg.size() - 1}) {
    EventStreamDecoder d;
    d.feed(msg.substr(0, n));
    auto m = d.next();
    ASSERT_TRUE(m) << n;
    EXPECT_FALSE(*m) << n;
    EXPECT_EQ(d.buffered_bytes(), n);
  }
}

TEST(EventStreamDecoder, FailsOnACorruptPreludeCrcAndStaysFailed) {
  std::string msg = encode_event_message(kDeltaHeaders, kDeltaPayload);
  msg[9] ^= 0x01;
  EventStreamDecoder d;
  d.feed(msg.substr(0, 12)); // detected from the prelude alone
  auto m = d.next();
  ASSERT_FALSE(m);
  EXPECT_NE(m.error().message.find("prelude CRC"), std::string::npos);
  EXPECT_EQ(m.error().source, ErrorSource::kUpstream);
  EXPECT_TRUE(d.failed());
  d.feed(encode_event_message({}, "fine"));
  EXPECT_FALSE(d.next());
  EXPECT_EQ(d.buffered_bytes(), 0u);
}

TEST(EventStreamDecoder, FailsOnACorruptMessageCrc) {
  std::string stream = encode_event_message({}, "ok") + encode_event_message({}, "payload");
  stream[stream.size() - 6] ^= 0x20; // a payload byte of the second message
  EventStreamDecoder d;
  d.feed(stream);
  auto first = d.next();
  ASSERT_TRUE(first);
  ASSERT_TRUE(*first);
  EXPECT_EQ((*first)->payload, "ok");
  auto second = d.next();
  ASSERT_FALSE(second);
  EXPECT_NE(second.error().message.find("message CRC"), std::string::npos);
}

// A prelude with valid CRC but the given lengths.
std::string prelude(uint32_t total, uint32_t headers_len) {
  std::string p = be32(total) + be32(headers_len);
  return p + be32(crc32_ieee(p));
}

TEST(EventStreamDecoder, RejectsLengthsOutOfRange) {
  EXPECT_FALSE(decode_all(prelude(15, 0) + "abcd"));
  EXPECT_FALSE(decode_all(prelude(0, 0)));
  EXPECT_FALSE(decode_all(prelude(20, 5)));
  EXPECT_FALSE(decode_all(prelude(0xFFFFFFFF, 0xFFFFFFF0)));
  // headers_length == total - 16 is the largest allowed: only headers, no payload.
  EXPECT_TRUE(decode_all(frame(bytes({1, 'a', 0}), "")));
}

TEST(EventStreamDecoder, RejectsOversizeMessagesFromThePreludeAlone) {
  std::string big = encode_event_message({}, std::string(2000, 'x'));
  auto r = decode_all(big.substr(0, 12), 1024);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("exceeds the limit of 1024"), std::string::npos);
  EXPECT_TRUE(decode_all(big, 2016));
  EXPECT_FALSE(decode_all(big, 2015));

  EventStreamDecoder d;
  EXPECT_EQ(d.max_message_bytes(), 16u * 1024 * 1024);
  d.set_max_message_bytes(100);
  d.feed(big);
  EXPECT_FALSE(d.next());
  // The default cap refuses a 4 GiB claim before any payload arrives.
  EXPECT_FALSE(decode_all(prelude(0xFFFFFFF0, 0), EventStreamDecoder::kDefaultMaxMessageBytes));
}

TEST(EventStreamDecoder, RendersEveryHeaderType) {
  std::string h;
  auto add = [&](std::string_view name, int type, std::string_view value) {
    h += static_cast<char>(name.size());
    h += name;
    h += static_cast<char>(type);
    h += value;
  };
  add("t", 0, "");
  add("f", 1, "");
  add("byte", 2, bytes({0xFE}));
  add("short", 3, bytes({0x80, 0x00}));
  add("int", 4, bytes({0x7F, 0xFF, 0xFF, 0xFF}));
  add("long", 5, bytes({0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}));
  add("bytes", 6, bytes({0, 3, 0, 1, 2}));
  add("str", 7, bytes({0, 2}) + "hi");
  add("ts", 8, bytes({0, 0, 1, 0x8F, 0x6A, 0x2C, 0x8E, 0x00}));
  add("uuid", 9,
      bytes({0x12, 0x3e, 0x45, 0x67, 0xe8, 0x9b, 0x12, 0xd3, 0xa4, 0x56, 0x42, 0x66, 0x14, 0x17,
             0x40, 0x00}));
  auto r = decode_all(frame(h, "body"));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ((*r)[0].headers, (Headers{{"t", "true"},
                                      {"f", "false"},
                                      {"byte", "-2"},
                                      {"short", "-32768"},
                                      {"int", "2147483647"},
                                      {"long", "-1"},
                                      {"bytes", std::string("\0\1\2", 3)},
                                      {"str", "hi"},
                                      {"ts", "1715473255936"},
                                      {"uuid", "123e4567-e89b-12d3-a456-426614174000"}}));
  EXPECT_EQ((*r)[0].payload, "body");
}

TEST(EventStreamDecoder, RejectsMalformedHeaders) {
  for (const std::string &h : {
           bytes({0, 7, 0, 0}),           // empty name
           bytes({5, 'a', 'b'}),          // name runs past the headers
           bytes({1, 'a'}),               // no type byte
           bytes({1, 'a', 10}),           // unknown type
           bytes({1, 'a', 4, 0, 0}),      // int cut short
           bytes({1, 'a', 7, 0}),         // string length cut short
           bytes({1, 'a', 7, 0, 5, 'x'}), // string cut short
           bytes({1, 'a', 9, 1, 2, 3}),   // uuid cut short
       }) {
    auto r = decode_all(frame(h, "payload"));
    EXPECT_FALSE(r) << "headers of " << h.size() << " bytes";
  }
}

TEST(EventStreamEncoder, TruncatesOverlongNamesAndValues) {
  auto r =
      decode_all(encode_event_message({{std::string(300, 'n'), std::string(70000, 'v')}}, "p"));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ((*r)[0].headers[0].first.size(), 255u);
  EXPECT_EQ((*r)[0].headers[0].second.size(), 65535u);
}

} // namespace
} // namespace aigw::providers
