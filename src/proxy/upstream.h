// Connections to providers: resolve (trying every address), connect, TLS with SNI and
// certificate verification against the system CAs, and a per-worker keep-alive pool.
// Thread-safety: an UpstreamPool belongs to one worker's event loop and is used only from it.
#pragma once

#include "control/snapshot.h"
#include "proxy/beast_pch.h"

#include <chrono>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace aigw::proxy {

namespace net = boost::asio;
namespace beast = boost::beast;
using tcp = net::ip::tcp;

// One connection to a provider endpoint, plain or TLS.
class UpstreamConn {
public:
  UpstreamConn(net::any_io_executor ex, net::ssl::context *tls_ctx, bool tls);

  bool tls() const { return tls_ != nullptr; }
  tcp::socket &socket() { return tls_ ? tls_->next_layer() : *plain_; }
  net::ssl::stream<tcp::socket> &tls_stream() { return *tls_; }
  beast::flat_buffer &buffer() { return buffer_; }
  // Aborts whatever operation is in flight (the session's watchdog uses it for deadlines).
  void cancel() {
    beast::error_code ignored;
    socket().cancel(ignored);
  }

  std::string pool_key;
  bool reused = false; // taken from the pool (may have been closed by the peer meanwhile)
  std::string peer;    // "ip:port" it connected to

private:
  std::unique_ptr<tcp::socket> plain_;
  std::unique_ptr<net::ssl::stream<tcp::socket>> tls_;
  beast::flat_buffer buffer_;
};

struct ConnectError {
  std::string reason; // "connection failure", "TLS handshake: ...", ...
};

class UpstreamPool {
public:
  UpstreamPool(net::any_io_executor ex, net::ssl::context *tls_ctx)
      : ex_(std::move(ex)), tls_ctx_(tls_ctx) {}

  // A pooled connection when one is idle, else a new one. Error strings never hold secrets.
  net::awaitable<std::unique_ptr<UpstreamConn>>
  acquire(const control::CompiledBackend &backend, std::chrono::steady_clock::time_point deadline,
          std::string *error);

  // Opens a fresh connection, bypassing the pool.
  net::awaitable<std::unique_ptr<UpstreamConn>>
  connect(const control::CompiledBackend &backend, std::chrono::steady_clock::time_point deadline,
          std::string *error);

  // Returns a connection whose last exchange finished cleanly with keep-alive. It is kept only
  // at an exact message boundary: no byte past the response now (checked here) or when it is
  // taken again, and not closed by the peer meanwhile (checked by acquire); otherwise it is
  // closed.
  void release(std::unique_ptr<UpstreamConn> conn);

  // True when nothing is buffered or waiting to be read on `conn` and the peer has not closed.
  static bool at_message_boundary(UpstreamConn &conn);
  // True when nothing past the last response sits in the gateway's or the TLS layer's buffers.
  static bool nothing_buffered(UpstreamConn &conn);

  static constexpr size_t kMaxIdlePerKey = 128;

private:
  net::any_io_executor ex_;
  net::ssl::context *tls_ctx_;
  std::unordered_map<std::string, std::vector<std::unique_ptr<UpstreamConn>>> idle_;
};

// A client TLS context that verifies peers against the system CA store.
std::unique_ptr<net::ssl::context> make_client_tls_context();

} // namespace aigw::proxy
