// What the standalone host's pieces share: the per-worker event loop with its provider pool and
// relay buffers, and the process-wide services every session reads (config, budgets, tokens,
// metrics, the exchange options). Thread-safety: a Worker belongs to its loop's thread; Shared is
// read-only after start, its members thread-safe.
#pragma once

#include "auth/token_source.h"
#include "control/config_store.h"
#include "core/clock.h"
#include "mcp/oauth_cache.h"
#include "mcp/session_crypto.h"
#include "observability/metrics.h"
#include "observability/observe.h"
#include "pipeline/exchange.h"
#include "proxy/server.h"
#include "proxy/upstream.h"
#include "ratelimit/memory_store.h"
#include "ratelimit/redis_store.h"

#include <array>
#include <atomic>
#include <memory>
#include <unordered_set>
#include <vector>

namespace aigw::proxy {

using Clock = std::chrono::steady_clock;

class Session;

// Per-worker state: one event loop, its provider pool, its listeners and client sessions.
struct Worker {
  size_t index = 0; // the metrics shard it records into
  // Declared before the loop so that they outlive it: the loop's destructor destroys the
  // sessions still suspended in it, and they leave this set.
  std::unordered_set<Session *> sessions; // open client sessions (this loop's thread only)
  bool draining = false;                  // shutting down: no new requests on open connections
  // Each socket lives on one worker's loop only, so the reactor needs no locking.
  net::io_context io{BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO};
  std::unique_ptr<net::ssl::context> tls_ctx = make_client_tls_context();
  UpstreamPool pool{io.get_executor(), tls_ctx.get()};
  std::unique_ptr<ratelimit::RedisBudgets> redis; // set when budgets are shared through Redis
  std::vector<std::unique_ptr<tcp::acceptor>> acceptors;
  // Relay buffers not lent to an exchange right now (bounded: more are freed on return).
  using RelayBuffer = std::array<char, 16384>;
  std::vector<std::unique_ptr<RelayBuffer>> relay_pool;
  static constexpr size_t kRelayPoolMax = 32;
};

// A relay buffer lent by the worker's pool for one exchange.
class RelayLease {
public:
  explicit RelayLease(Worker &w) : worker_(w) {
    if (w.relay_pool.empty()) {
      buf_ = std::make_unique_for_overwrite<Worker::RelayBuffer>();
    } else {
      buf_ = std::move(w.relay_pool.back());
      w.relay_pool.pop_back();
    }
  }
  ~RelayLease() {
    if (worker_.relay_pool.size() < Worker::kRelayPoolMax)
      worker_.relay_pool.push_back(std::move(buf_));
  }
  RelayLease(const RelayLease &) = delete;
  RelayLease &operator=(const RelayLease &) = delete;
  Worker::RelayBuffer &buffer() { return *buf_; }

private:
  Worker &worker_;
  std::unique_ptr<Worker::RelayBuffer> buf_;
};

struct Shared {
  control::ConfigStore *store;
  const ServerOptions *opts;
  ratelimit::MemoryStore *budgets;
  ratelimit::RedisCounters *redis_counters;
  auth::TokenSource *tokens;
  observability::Metrics *metrics;
  size_t max_connections; // resolved (never 0)
  pipeline::ExchangeOptions exchange;
  pipeline::ExchangeServices services;
  observability::ObserveTargets observe;
  std::atomic<uint64_t> *requests; // served since start (/stats)
  mcp::SessionCrypto *mcp_crypto = nullptr;
  mcp::OAuthCache *mcp_oauth = nullptr;
  class DownstreamTls *tls = nullptr; // the HTTPS listeners' TLS contexts
  // The MCP proxy behind Envoy (`aigw extproc -mcpAddr`): every request is an MCP request.
  bool mcp_only = false;
  pipeline::ResponseCache *response_cache = nullptr; // the in-memory store; null: Redis or off
  bool response_cache_redis = false;                 // the store is each worker's Redis client
};

// Counts something while it lasts (an open connection, a stream being relayed).
struct ActiveGauge {
  explicit ActiveGauge(std::atomic<int64_t> &g) : gauge(g) {
    gauge.fetch_add(1, std::memory_order_relaxed);
  }
  ~ActiveGauge() { gauge.fetch_sub(1, std::memory_order_relaxed); }
  ActiveGauge(const ActiveGauge &) = delete;
  ActiveGauge &operator=(const ActiveGauge &) = delete;
  std::atomic<int64_t> &gauge;
};

} // namespace aigw::proxy
