// Fuzz target: the HTTP/1.1 request parser configuration the proxy uses (Beast, with our header
// and body limits), fed arbitrary bytes in arbitrary pieces.
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

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
  return 0;
}
