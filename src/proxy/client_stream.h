// A client connection as sessions read and write it: a plain TCP socket, or TLS over one (an
// HTTPS Gateway listener). Reads and writes pick the layer at run time, so the sessions, Beast's
// parsers and the HTTP/2 connection are written once for both.
// Thread-safety: as the socket it holds (one worker's loop).
#pragma once

#include "proxy/upstream.h"

#include <memory>
#include <string_view>

namespace aigw::proxy {

struct DownstreamTlsBundle; // proxy/downstream_tls.h: the contexts a TLS connection was given

class ClientStream {
public:
  using executor_type = net::any_io_executor;
  using TlsStream = net::ssl::stream<tcp::socket>;

  explicit ClientStream(tcp::socket s) : exec_(s.get_executor()), plain_(std::move(s)) {}
  explicit ClientStream(const executor_type &ex) : exec_(ex), plain_(ex) {}

  executor_type get_executor() const { return exec_; }
  tcp::socket &socket() { return tls_ ? tls_->next_layer() : plain_; }
  // The TLS layer, when the listener terminates TLS; null on a plain connection.
  TlsStream *tls() { return tls_.get(); }
  // Wraps the socket in TLS with the bundle's default context (SNI may switch it during the
  // handshake, which the caller then runs).
  void start_tls(std::shared_ptr<const DownstreamTlsBundle> bundle, net::ssl::context &ctx) {
    bundle_ = std::move(bundle);
    tls_ = std::make_unique<TlsStream>(std::move(plain_), ctx);
  }
  // The protocol the TLS handshake agreed on by ALPN ("h2", "http/1.1"), or empty.
  std::string_view alpn() {
    if (!tls_) return {};
    const unsigned char *p = nullptr;
    unsigned len = 0;
    SSL_get0_alpn_selected(tls_->native_handle(), &p, &len);
    return {reinterpret_cast<const char *>(p), len};
  }

  template <typename Buffers, typename Token>
  auto async_read_some(const Buffers &bufs, Token &&token) {
    return net::async_initiate<Token, void(beast::error_code, size_t)>(
        [this](auto handler, const Buffers &b) {
          if (tls_)
            tls_->async_read_some(b, std::move(handler));
          else
            plain_.async_read_some(b, std::move(handler));
        },
        token, bufs);
  }
  template <typename Buffers, typename Token>
  auto async_write_some(const Buffers &bufs, Token &&token) {
    return net::async_initiate<Token, void(beast::error_code, size_t)>(
        [this](auto handler, const Buffers &b) {
          if (tls_)
            tls_->async_write_some(b, std::move(handler));
          else
            plain_.async_write_some(b, std::move(handler));
        },
        token, bufs);
  }

private:
  executor_type exec_;
  tcp::socket plain_;
  // Declared before the TLS stream, so it outlives it (the SNI callback's argument is the bundle).
  std::shared_ptr<const DownstreamTlsBundle> bundle_;
  std::unique_ptr<TlsStream> tls_;
};

} // namespace aigw::proxy
