// TLS termination on HTTPS listeners; see downstream_tls.h.
#include "proxy/downstream_tls.h"

#include "core/pem.h"
#include "pipeline/headers.h"

#include <openssl/ssl.h>

#include <stdexcept>

namespace aigw::proxy {
namespace {

// ALPN: the server's order (h2, then http/1.1) among what the client offers; a client that
// offers neither proceeds without ALPN (HTTP/1.1, or h2 with prior knowledge).
int select_alpn(SSL *, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
                unsigned inlen, void *) {
  static const unsigned char kOffer[] = "\x02h2\x08http/1.1";
  unsigned char *chosen = nullptr;
  if (SSL_select_next_proto(&chosen, outlen, kOffer, sizeof kOffer - 1, in, inlen) !=
      OPENSSL_NPN_NEGOTIATED)
    return SSL_TLSEXT_ERR_NOACK;
  *out = chosen;
  return SSL_TLSEXT_ERR_OK;
}

// SNI: the listener entry whose hostname matches the name the client asked for.
int select_certificate(SSL *ssl, int *, void *arg) {
  const auto *bundle = static_cast<const DownstreamTlsBundle *>(arg);
  const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  SSL_CTX *ctx = bundle->select(name ? name : "");
  if (ctx != SSL_get_SSL_CTX(ssl)) SSL_set_SSL_CTX(ssl, ctx);
  return SSL_TLSEXT_ERR_OK;
}

bool hostname_matches(std::string_view pattern, std::string_view name) {
  if (pattern.size() > 2 && pattern.substr(0, 2) == "*.") {
    auto suffix = pattern.substr(1); // ".example.com"
    return name.size() > suffix.size() &&
           pipeline::iequals(name.substr(name.size() - suffix.size()), suffix);
  }
  return pipeline::iequals(pattern, name);
}

} // namespace

SSL_CTX *DownstreamTlsBundle::select(std::string_view server_name) const {
  const Entry *best = nullptr, *any = nullptr;
  for (const auto &e : entries) {
    if (e.hostname.empty()) {
      if (!any) any = &e;
      continue;
    }
    if (server_name.empty() || !hostname_matches(e.hostname, server_name)) continue;
    if (e.hostname[0] != '*') return e.ctx->native_handle(); // exact
    if (!best || e.hostname.size() > best->hostname.size()) best = &e;
  }
  if (best) return best->ctx->native_handle();
  return (any ? any : &entries.front())->ctx->native_handle();
}

std::shared_ptr<const DownstreamTlsBundle> build_bundle(const control::ListenerTls &tls) {
  auto bundle = std::make_shared<DownstreamTlsBundle>();
  for (const auto &e : tls.entries) {
    auto ctx = std::make_unique<net::ssl::context>(net::ssl::context::tls_server);
    ctx->set_options(net::ssl::context::default_workarounds | net::ssl::context::no_sslv2 |
                     net::ssl::context::no_sslv3 | net::ssl::context::no_tlsv1 |
                     net::ssl::context::no_tlsv1_1 | SSL_OP_NO_RENEGOTIATION |
                     SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX *native = ctx->native_handle();
    // An idle connection holds no OpenSSL record buffers.
    SSL_CTX_set_mode(native, SSL_MODE_RELEASE_BUFFERS);
    for (const auto &c : e.certificates)
      if (auto refused = load_key_pair(native, c.cert_pem, c.key_pem); !refused.empty())
        throw std::runtime_error("TLS certificate refused: " + refused);
    SSL_CTX_set_alpn_select_cb(native, select_alpn, nullptr);
    SSL_CTX_set_tlsext_servername_callback(native, select_certificate);
    SSL_CTX_set_tlsext_servername_arg(native, bundle.get());
    bundle->entries.push_back({e.hostname, std::move(ctx)});
  }
  return bundle;
}

std::shared_ptr<const DownstreamTlsBundle> DownstreamTls::bundle(uint16_t port,
                                                                 const control::Snapshot &snap) {
  const control::ListenerTls *tls = snap.tls_for(port);
  if (!tls || tls->entries.empty()) return nullptr;
  std::lock_guard lock(mu_);
  auto &state = ports_[port];
  if (state.bundle && state.generation == snap.generation) return state.bundle;
  if (!state.bundle || !(state.built_from == *tls)) {
    try {
      state.bundle = build_bundle(*tls);
    } catch (...) {
      // The control plane checks every certificate as a server context would load it, so this
      // is not expected; should it happen, the certificates already serving stay.
      state.generation = snap.generation;
      if (state.bundle) return state.bundle;
      throw;
    }
    state.built_from = *tls;
  }
  state.generation = snap.generation;
  return state.bundle;
}

} // namespace aigw::proxy
