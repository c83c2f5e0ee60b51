// Streaming Content-Encoding decoding: gzip and deflate (compressed here with zlib), br (bodies
// compressed by Node's zlib), fed whole and a byte at a time; corrupt, truncated and trailing
// data refused; an expansion past the per-piece bound refused.
#include "core/base64.h"
#include "core/decompress.h"

#include <gtest/gtest.h>
#include <zlib.h>

namespace aigw {
namespace {

std::string zlib_compress(const std::string &in, int window_bits) {
  z_stream z{};
  deflateInit2(&z, Z_BEST_COMPRESSION, Z_DEFLATED, window_bits, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&z, in.size()) + 64, '\0');
  z.next_in = reinterpret_cast<Bytef *>(const_cast<char *>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef *>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

std::unique_ptr<Decompressor> make(std::string_view encoding, size_t limit = 1 << 20) {
  auto d = Decompressor::for_encoding(encoding, limit);
  EXPECT_TRUE(d) << encoding;
  return d ? std::move(*d) : nullptr;
}

const std::string kEvent = "data: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n\n";

TEST(Decompress, IdentityNeedsNoDecoderAndUnknownEncodingsAreNamed) {
  auto none = Decompressor::for_encoding("", 100);
  ASSERT_TRUE(none);
  EXPECT_EQ(*none, nullptr);
  auto identity = Decompressor::for_encoding("Identity", 100);
  ASSERT_TRUE(identity);
  EXPECT_EQ(*identity, nullptr);
  auto zstd = Decompressor::for_encoding("zstd", 100);
  ASSERT_FALSE(zstd);
  EXPECT_NE(zstd.error().message.find("\"zstd\" is not supported"), std::string::npos);
}

TEST(Decompress, GzipWholeAndByteByByte) {
  std::string body;
  for (int i = 0; i < 200; ++i)
    body += kEvent;
  std::string gz = zlib_compress(body, 16 + MAX_WBITS);
  auto whole = make("gzip");
  std::string out;
  ASSERT_TRUE(whole->feed(gz, out)) << whole->error();
  EXPECT_EQ(out, body);
  EXPECT_TRUE(whole->finished());

  auto bytes = make("x-gzip");
  out.clear();
  for (char c : gz) {
    ASSERT_TRUE(bytes->feed(std::string_view(&c, 1), out)) << bytes->error();
  }
  EXPECT_EQ(out, body);
  EXPECT_TRUE(bytes->finished());
}

TEST(Decompress, GzipMembersOneAfterAnotherAndAnEmptyBody) {
  std::string two =
      zlib_compress("first ", 16 + MAX_WBITS) + zlib_compress("second", 16 + MAX_WBITS);
  auto d = make("gzip");
  std::string out;
  ASSERT_TRUE(d->feed(two, out)) << d->error();
  EXPECT_EQ(out, "first second");
  EXPECT_TRUE(d->finished());
  auto bytes = make("gzip");
  out.clear();
  for (char c : two)
    ASSERT_TRUE(bytes->feed(std::string_view(&c, 1), out)) << bytes->error();
  EXPECT_EQ(out, "first second");
  // Nothing fed: an empty body (a 202 under Content-Encoding), not a truncated one.
  auto empty = make("gzip");
  EXPECT_FALSE(empty->started());
  EXPECT_FALSE(empty->finished());
}

TEST(Decompress, DeflateIsZlibWrapped) {
  auto d = make("deflate");
  std::string out;
  ASSERT_TRUE(d->feed(zlib_compress(kEvent, MAX_WBITS), out)) << d->error();
  EXPECT_EQ(out, kEvent);
  EXPECT_TRUE(d->finished());
}

TEST(Decompress, BrotliWholeAndByteByByte) {
  std::string br =
      base64_decode("ixWAZGF0YTogeyJqc29ucnBjIjoiMi4wIiwiaWQiOjEsInJlc3VsdCI6e319CgoD").value();
  auto whole = make("br");
  std::string out;
  ASSERT_TRUE(whole->feed(br, out)) << whole->error();
  EXPECT_EQ(out, kEvent);
  EXPECT_TRUE(whole->finished());
  auto bytes = make("BR");
  out.clear();
  for (char c : br)
    ASSERT_TRUE(bytes->feed(std::string_view(&c, 1), out)) << bytes->error();
  EXPECT_EQ(out, kEvent);
  EXPECT_TRUE(bytes->finished());
}

TEST(Decompress, TruncatedCorruptAndTrailingDataAreRefused) {
  std::string gz = zlib_compress(kEvent, 16 + MAX_WBITS);
  auto truncated = make("gzip");
  std::string out;
  ASSERT_TRUE(truncated->feed(std::string_view(gz).substr(0, gz.size() - 4), out));
  EXPECT_FALSE(truncated->finished()); // the caller refuses a body that ends here

  auto corrupt = make("gzip");
  std::string bad = gz;
  bad[12] ^= 0x55;
  bad[13] ^= 0x55;
  out.clear();
  EXPECT_FALSE(corrupt->feed(bad, out)); // the deflate data or its CRC-32 does not match

  auto trailing = make("gzip");
  out.clear();
  EXPECT_FALSE(trailing->feed(gz + "junk", out));
  EXPECT_NE(trailing->error().find("cannot be decoded"), std::string::npos);

  auto not_br = make("br");
  out.clear();
  EXPECT_FALSE(not_br->feed("definitely not brotli", out));
}

TEST(Decompress, AnExpansionPastTheBoundIsRefused) {
  std::string zeros(20 * 1024 * 1024, '\0');
  std::string gz = zlib_compress(zeros, 16 + MAX_WBITS);
  ASSERT_LT(gz.size(), 64u * 1024);
  auto d = make("gzip", 8 * 1024 * 1024);
  std::string out;
  EXPECT_FALSE(d->feed(gz, out));
  EXPECT_NE(d->error().find("expands past the limit"), std::string::npos);
  EXPECT_LE(out.size(), 8u * 1024 * 1024 + 16384);

  std::string br =
      base64_decode("y///P/gnAOKxQCD3/o///3/wTwDEYRGA7v1f/v//4J8AiMMCAN37Hw==").value();
  auto b = make("br", 8 * 1024 * 1024);
  out.clear();
  EXPECT_FALSE(b->feed(br, out));
  EXPECT_NE(b->error().find("expands past the limit"), std::string::npos);
}

} // namespace
} // namespace aigw
