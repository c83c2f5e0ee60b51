// Provider connections and the per-worker pool; see upstream.h.
#include "proxy/upstream.h"

#include <openssl/ssl.h>
#include <sys/socket.h>

#include <cerrno>

namespace aigw::proxy {

UpstreamConn::UpstreamConn(net::any_io_executor ex, net::ssl::context *tls_ctx, bool tls) {
  if (tls) {
    tls_ = std::make_unique<net::ssl::stream<tcp::socket>>(ex, *tls_ctx);
  } else {
    plain_ = std::make_unique<tcp::socket>(ex);
  }
}

std::unique_ptr<net::ssl::context> make_client_tls_context() {
  auto ctx = std::make_unique<net::ssl::context>(net::ssl::context::tls_client);
  ctx->set_default_verify_paths();
  ctx->set_verify_mode(net::ssl::verify_peer);
  ctx->set_options(net::ssl::context::default_workarounds | net::ssl::context::no_sslv2 |
                   net::ssl::context::no_sslv3 | net::ssl::context::no_tlsv1 |
                   net::ssl::context::no_tlsv1_1);
  return ctx;
}

namespace {
using namespace net::experimental::awaitable_operators;
constexpr auto kTuple = net::as_tuple(net::use_awaitable);

std::string key_of(const control::CompiledBackend &b) {
  const auto &ep = b.endpoints.front();
  return ep.host + ":" + std::to_string(ep.port) + (b.tls.enabled ? "|tls|" + b.tls.sni : "");
}
} // namespace

net::awaitable<std::unique_ptr<UpstreamConn>>
UpstreamPool::acquire(const control::CompiledBackend &backend,
                      std::chrono::steady_clock::time_point deadline, std::string *error) {
  if (backend.endpoints.empty()) {
    *error = "no endpoints";
    co_return nullptr;
  }
  auto it = idle_.find(key_of(backend));
  while (it != idle_.end() && !it->second.empty()) {
    auto conn = std::move(it->second.back());
    it->second.pop_back();
    // Bytes that arrived while it was idle belong to no request of ours: never reuse it.
    if (!at_message_boundary(*conn)) continue;
    conn->reused = true;
    co_return conn;
  }
  co_return co_await connect(backend, deadline, error);
}

net::awaitable<std::unique_ptr<UpstreamConn>>
UpstreamPool::connect(const control::CompiledBackend &backend,
                      std::chrono::steady_clock::time_point deadline, std::string *error) {
  if (backend.endpoints.empty()) {
    *error = "no endpoints";
    co_return nullptr;
  }
  // Every endpoint of the Backend, and every address of each, is tried in order.
  for (const auto &ep : backend.endpoints) {
    tcp::resolver resolver(ex_);
    auto flags = ep.is_ip ? tcp::resolver::numeric_host : tcp::resolver::flags();
    auto [rec, results] = co_await resolver.async_resolve(ep.host, std::to_string(ep.port), flags,
                                                          net::as_tuple(net::use_awaitable));
    if (rec) {
      *error = "DNS resolution of " + ep.host + " failed: " + rec.message();
      continue;
    }
    auto conn = std::make_unique<UpstreamConn>(ex_, tls_ctx_, backend.tls.enabled);
    conn->pool_key = key_of(backend);
    // Connects are rare (the pool keeps connections): a timer per connect is fine here.
    net::steady_timer timer(ex_, deadline);
    auto connected =
        co_await (net::async_connect(conn->socket(), results, kTuple) || timer.async_wait(kTuple));
    if (connected.index() == 1) {
      *error = "connection timeout";
      continue;
    }
    auto [cec, endpoint] = std::get<0>(connected);
    if (cec) {
      *error = "connection failure";
      continue;
    }
    conn->socket().set_option(tcp::no_delay(true));
    conn->peer = endpoint.address().to_string() + ":" + std::to_string(endpoint.port());
    if (backend.tls.enabled) {
      auto &s = conn->tls_stream();
      if (!backend.tls.sni.empty()) {
        if (!SSL_set_tlsext_host_name(s.native_handle(), backend.tls.sni.c_str())) {
          *error = "TLS: cannot set SNI";
          continue;
        }
        if (backend.tls.verify)
          s.set_verify_callback(net::ssl::host_name_verification(backend.tls.sni));
      }
      if (!backend.tls.verify) s.set_verify_mode(net::ssl::verify_none);
      auto shaken = co_await (s.async_handshake(net::ssl::stream_base::client, kTuple) ||
                              timer.async_wait(kTuple));
      if (shaken.index() == 1) {
        *error = "TLS handshake with " + backend.tls.sni + " timed out";
        continue;
      }
      auto [hec] = std::get<0>(shaken);
      if (hec) {
        *error = "TLS handshake with " + backend.tls.sni + " failed: " + hec.message();
        continue;
      }
    }
    co_return conn;
  }
  co_return nullptr;
}

bool UpstreamPool::nothing_buffered(UpstreamConn &conn) {
  if (conn.buffer().size() != 0) return false; // bytes past the end of the last response
  return !(conn.tls() && SSL_pending(conn.tls_stream().native_handle()) > 0);
}

bool UpstreamPool::at_message_boundary(UpstreamConn &conn) {
  if (!nothing_buffered(conn)) return false;
  char c;
  ssize_t n = ::recv(conn.socket().native_handle(), &c, 1, MSG_PEEK | MSG_DONTWAIT);
  // Nothing to read and still open is the only clean state: data means the provider sent more
  // than the response, 0 means it closed.
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

void UpstreamPool::release(std::unique_ptr<UpstreamConn> conn) {
  // What the parser read past the response is checked now; what arrives later, when the
  // connection is taken again (one syscall a request, not two).
  if (!nothing_buffered(*conn)) return; // closes it
  auto &vec = idle_[conn->pool_key];
  if (vec.size() >= kMaxIdlePerKey) return; // closes it
  vec.push_back(std::move(conn));
}

} // namespace aigw::proxy
