// Streaming gzip/deflate (zlib) and brotli decoding; see decompress.h.
#include "core/decompress.h"

#include <brotli/decode.h>
#include <zlib.h>

#include <algorithm>
#include <cctype>

namespace aigw {
namespace {

constexpr size_t kStep = 16384;

std::string corrupt(const char *what) {
  return std::string("the ") + what + " body cannot be decoded";
}
constexpr const char *kTooLarge = "a compressed body expands past the limit";

class Zlib final : public Decompressor {
public:
  Zlib(int window_bits, size_t max_out) : gzip_(window_bits > MAX_WBITS), max_out_(max_out) {
    ok_ = inflateInit2(&z_, window_bits) == Z_OK;
  }
  ~Zlib() override {
    if (ok_) inflateEnd(&z_);
  }
  bool feed(std::string_view in, std::string &out) override {
    if (!ok_) return fail(corrupt("deflate"));
    if (in.empty()) return true;
    started_ = true;
    if (done_ && gzip_) { // another gzip member follows
      inflateReset(&z_);
      done_ = false;
    }
    if (done_) return fail(corrupt("deflate")); // bytes after the stream ended
    z_.next_in = reinterpret_cast<Bytef *>(const_cast<char *>(in.data()));
    z_.avail_in = static_cast<uInt>(in.size());
    size_t produced = 0;
    // Until the input is used up and the last round did not fill its buffer (output pending).
    do {
      size_t at = out.size();
      out.resize(at + kStep);
      z_.next_out = reinterpret_cast<Bytef *>(out.data() + at);
      z_.avail_out = kStep;
      int rc = inflate(&z_, Z_NO_FLUSH);
      size_t got = kStep - z_.avail_out;
      out.resize(at + got);
      produced += got;
      if (produced > max_out_) return fail(kTooLarge);
      if (rc == Z_STREAM_END) {
        done_ = true;
        if (gzip_ && z_.avail_in > 0) { // the next member, in the same piece
          inflateReset(&z_);
          done_ = false;
        }
      } else if (rc == Z_BUF_ERROR && got == 0) {
        break; // no progress possible: more input needed
      } else if (rc != Z_OK && rc != Z_BUF_ERROR) {
        return fail(corrupt("gzip"));
      }
    } while (!done_ && (z_.avail_in > 0 || z_.avail_out == 0));
    if (done_ && z_.avail_in > 0) return fail(corrupt("gzip")); // bytes after the stream ended
    return true;
  }
  bool finished() const override { return done_; }

private:
  z_stream z_{};
  bool gzip_ = false;
  bool ok_ = false, done_ = false;
  size_t max_out_;
};

class Brotli final : public Decompressor {
public:
  explicit Brotli(size_t max_out) : max_out_(max_out) {
    s_ = BrotliDecoderCreateInstance(nullptr, nullptr, nullptr);
  }
  ~Brotli() override {
    if (s_) BrotliDecoderDestroyInstance(s_);
  }
  bool feed(std::string_view in, std::string &out) override {
    if (!s_) return fail(corrupt("br"));
    if (in.empty()) return true;
    started_ = true;
    if (done_) return fail(corrupt("br"));
    const uint8_t *next_in = reinterpret_cast<const uint8_t *>(in.data());
    size_t avail_in = in.size();
    size_t produced = 0;
    for (;;) {
      size_t at = out.size();
      out.resize(at + kStep);
      uint8_t *next_out = reinterpret_cast<uint8_t *>(out.data() + at);
      size_t avail_out = kStep;
      auto rc =
          BrotliDecoderDecompressStream(s_, &avail_in, &next_in, &avail_out, &next_out, nullptr);
      size_t got = kStep - avail_out;
      out.resize(at + got);
      produced += got;
      if (produced > max_out_) return fail(kTooLarge);
      if (rc == BROTLI_DECODER_RESULT_ERROR) return fail(corrupt("br"));
      if (rc == BROTLI_DECODER_RESULT_SUCCESS) {
        done_ = true;
        if (avail_in > 0) return fail(corrupt("br"));
        return true;
      }
      if (rc == BROTLI_DECODER_RESULT_NEEDS_MORE_INPUT) return true;
      // NEEDS_MORE_OUTPUT: go round.
    }
  }
  bool finished() const override { return done_; }

private:
  BrotliDecoderState *s_ = nullptr;
  bool done_ = false;
  size_t max_out_;
};

} // namespace

Result<std::unique_ptr<Decompressor>> Decompressor::for_encoding(std::string_view encoding,
                                                                 size_t max_out_per_piece) {
  std::string e;
  for (char c : encoding)
    if (c != ' ' && c != '\t') e += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (e.empty() || e == "identity") return std::unique_ptr<Decompressor>();
  if (e == "gzip" || e == "x-gzip")
    return std::unique_ptr<Decompressor>(new Zlib(16 + MAX_WBITS, max_out_per_piece));
  if (e == "deflate") // zlib-wrapped, as HTTP defines it
    return std::unique_ptr<Decompressor>(new Zlib(MAX_WBITS, max_out_per_piece));
  if (e == "br") return std::unique_ptr<Decompressor>(new Brotli(max_out_per_piece));
  return Error::upstream(
      502, "content-encoding \"" + std::string(encoding.substr(0, 64)) + "\" is not supported",
      false);
}

} // namespace aigw
