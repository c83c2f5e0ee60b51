// Streaming decompression of an HTTP body's Content-Encoding: gzip (and x-gzip; members one
// after another, as Go reads them), deflate (zlib-wrapped, as HTTP defines it), br. Fed piece by
// piece as the body arrives; each piece's output is bounded, so a small compressed input cannot
// expand without limit (a "zip bomb").
#pragma once

#include "core/result.h"

#include <memory>
#include <string>
#include <string_view>

namespace aigw {

class Decompressor {
public:
  // Nullptr for identity (or an empty header); an error naming an encoding not supported.
  static Result<std::unique_ptr<Decompressor>> for_encoding(std::string_view content_encoding,
                                                            size_t max_out_per_piece);
  virtual ~Decompressor() = default;
  // Appends the plain bytes `in` decodes to. False (and `error()` says why) on corrupt input,
  // data past the end of the compressed stream, or more than max_out_per_piece bytes from this
  // piece.
  virtual bool feed(std::string_view in, std::string &out) = 0;
  const std::string &error() const { return error_; }
  // True once the compressed stream ended (a body that stops before is truncated).
  virtual bool finished() const = 0;
  // True once a byte was fed (an empty body has nothing to finish).
  bool started() const { return started_; }

protected:
  bool started_ = false;
  bool fail(std::string why) {
    error_ = std::move(why);
    return false;
  }

private:
  std::string error_;
};

} // namespace aigw
