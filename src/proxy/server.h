// The standalone data plane (`aigw run`): HTTP/1.1 listeners on one event loop per worker, the AI
// pipeline in process, streaming relay to providers, and the admin listener.
#pragma once

#include "control/config_store.h"
#include "core/result.h"
#include "observability/ledger.h"

#include <memory>

#include <chrono>
#include <cstdint>
#include <string>

namespace aigw::observability {
class Metrics;
}

namespace aigw::proxy {

struct ServerOptions {
  int concurrency = 0;            // 0: one worker per core
  std::string listen_host = "::"; // every address, IPv4 and IPv6 (0.0.0.0 where there is no IPv6)
  std::string admin_host = "127.0.0.1"; // with the default, [::1] is bound too
  uint16_t admin_port = 1064;
  size_t max_request_body = 32 * 1024 * 1024;
  size_t max_request_header = 64 * 1024;
  size_t max_request_headers = 100;         // header count, as Envoy's max_headers_count
  size_t max_error_body = 4 * 1024 * 1024;  // upstream error bodies are buffered to translate
  size_t max_usage_body = 32 * 1024 * 1024; // JSON bodies beyond this are relayed uncounted
  std::chrono::seconds idle_timeout{300};   // keep-alive connection with no request under way
  // From the first byte of a request to the end of its head (slowloris bound), as Envoy's
  // request_headers_timeout; the body then has until the request timeout.
  std::chrono::seconds request_header_timeout{60};
  // Client connections open at once, across workers; past it a new connection is closed at once
  // (and counted). 0: derived from the file-descriptor limit (two descriptors a connection).
  size_t max_connections = 0;
  // SIGTERM/SIGINT: stop accepting, let requests in flight finish for up to this long, then
  // close. A second signal exits at once.
  std::chrono::seconds drain_timeout{30};
  // Share the listener ports with another process (SO_REUSEPORT across processes). Off: a port
  // another process listens on is refused with "address in use".
  bool reuse_port = false;
  // Distinct values each client-chosen metric label may take (models and mapped headers).
  size_t metrics_max_label_values = 1000;
  bool access_log = true;
  std::string access_log_file;         // empty: stdout
  observability::LedgerOptions ledger; // --usage-ledger*, --price-catalog
  bool metrics = true;                 // record the GenAI metrics (/metrics is served either way)
  // "header:label,..." mapped onto the GenAI metrics (upstream's -metricsRequestHeaderAttributes).
  std::string metrics_request_header_attributes;
  std::string ratelimit_redis;        // redis://HOST:PORT: budgets shared through Redis
  bool ratelimit_fail_closed = false; // refuse (503) instead of admitting when Redis is down
  // The response cache of routes with aigw.run/response-cache: "memory", "redis" (the
  // --ratelimit-redis server, shared by replicas) or "off"; "" : redis when budgets are shared
  // through Redis, else memory.
  std::string response_cache;
  size_t response_cache_max_bytes = 256 * 1024 * 1024; // the in-memory store's bound
  size_t response_cache_max_entry = 1024 * 1024;       // larger answers are not stored
  // MCP session ids are encrypted with a key derived from this seed (PBKDF2-SHA256), so that any
  // replica, or this gateway restarted, serves them; the fallback seed reads ids written before
  // a rotation. Upstream's flags and defaults.
  std::string mcp_session_seed = "default-insecure-seed";
  int mcp_session_iterations = 100000;
  std::string mcp_fallback_session_seed;
  int mcp_fallback_session_iterations = 100000;
};

// Serves until SIGINT or SIGTERM. Returns the process exit code.
int run_server(control::ConfigStore &store, const ServerOptions &opts);

// The MCP proxy `aigw extproc -mcpAddr` serves behind Envoy, as upstream's sidecar does: the MCP
// routes of the store's snapshots (the filter configuration's mcpConfig) on one listener, with
// an event loop and a thread of its own. The sessions are aigw run's.
class McpProxy {
public:
  McpProxy(control::ConfigStore &store, const ServerOptions &opts, observability::Metrics &metrics);
  ~McpProxy(); // stops
  // Listens on `address` (:port or host:port) and starts serving: the port bound, or why not.
  Result<uint16_t> start(const std::string &address);
  void stop();

private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

} // namespace aigw::proxy
