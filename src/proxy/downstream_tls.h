// TLS termination on HTTPS Gateway listeners: one server context per listener entry (hostname
// and certificates), chosen by SNI during the handshake, ALPN offering h2 then http/1.1. A reload
// that changes a port's certificates builds new contexts; connections already open keep theirs.
// Thread-safety: DownstreamTls is shared by the workers (a mutex guards the rebuild); a bundle is
// immutable once built.
#pragma once

#include "control/snapshot.h"
#include "proxy/upstream.h"

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace aigw::proxy {

struct DownstreamTlsBundle {
  struct Entry {
    std::string hostname; // empty: any name
    std::unique_ptr<net::ssl::context> ctx;
  };
  std::vector<Entry> entries; // the first is the default
  // The context for the client's SNI: an exact name, then the longest wildcard that matches,
  // then a listener without a hostname, then the first entry.
  SSL_CTX *select(std::string_view server_name) const;
};

class DownstreamTls {
public:
  // The bundle for a connection accepted on `port` under `snap`; null when the port is plain.
  // Built on first use and again when a reload changes the port's certificates.
  std::shared_ptr<const DownstreamTlsBundle> bundle(uint16_t port, const control::Snapshot &snap);

private:
  struct PortState {
    uint64_t generation = 0;
    control::ListenerTls built_from;
    std::shared_ptr<const DownstreamTlsBundle> bundle;
  };
  std::mutex mu_;
  std::map<uint16_t, PortState> ports_;
};

// A bundle from a listener port's entries; throws on a certificate OpenSSL refuses (the
// control plane checked each already).
std::shared_ptr<const DownstreamTlsBundle> build_bundle(const control::ListenerTls &tls);

} // namespace aigw::proxy
