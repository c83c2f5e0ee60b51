// Fuzz target: the HTTP/1.1 request parser configuration the proxy uses (Beast, with our header
// and body limits), fed arbitrary bytes in arbitrary pieces, then the framing checks on the head.
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include "pipeline/headers.h"

#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  namespace http = boost::beast::http;
  http::request_parser<http::string_body> parser;
  parser.header_limit(64 * 1024);
  parser.body_limit(1024 * 1024);
  parser.eager(true);
  boost::beast::error_code ec;
  size_t offset = 0;
  while (offset < size && !ec && !parser.is_done()) {
    size_t n = parser.put(boost::asio::buffer(data + offset, size - offset), ec);
    if (ec == http::error::need_more) break;
    if (n == 0) break;
    offset += n;
  }
  // The framing checks the proxy runs on every head the parser accepted.
  if (!ec && parser.is_header_done()) {
    std::vector<aigw::pipeline::HeaderView> fields;
    for (const auto &f : parser.get())
      fields.emplace_back(f.name_string(), f.value());
    (void)aigw::pipeline::check_request_framing(parser.get().version(), fields);
  }
  return 0;
}
