// The standalone data plane; see server.h. This translation unit holds the workers, their
// listeners and accept loops, the drain on SIGTERM, and run_server. Client sessions are in
// session.cc, the admin listener in admin.cc; every request decision is pipeline::Exchange's.
#include "proxy/server.h"

#include "core/clock.h"
#include "core/log.h"
#include "observability/otlp_exporter.h"
#include "proxy/admin.h"
#include "proxy/dashboard.h"
#include "proxy/downstream_tls.h"
#include "proxy/h2.h"
#include "proxy/session.h"
#include "proxy/token_fetch.h"
#include "ratelimit/redis_counters.h"

#include <spdlog/spdlog.h>

#include <atomic>
#include <csignal>
#include <thread>

#include <malloc.h>
#include <sys/resource.h>

namespace aigw::proxy {

namespace {

constexpr auto kTuple = net::as_tuple(net::use_awaitable);

// "Too many open files" and the like: logged at most once every ten seconds, with a count.
void log_accept_error(const beast::error_code &ec) {
  static std::atomic<int64_t> last_log{0};
  static std::atomic<uint64_t> suppressed{0};
  int64_t now = unix_now();
  int64_t last = last_log.load(std::memory_order_relaxed);
  if (now - last < 10 || !last_log.compare_exchange_strong(last, now, std::memory_order_relaxed)) {
    suppressed.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  uint64_t n = suppressed.exchange(0, std::memory_order_relaxed);
  if (n)
    spdlog::warn("accept failed: {} ({} more since the last message)", ec.message(), n);
  else
    spdlog::warn("accept failed: {}", ec.message());
}

// A connection accepted on `port`: in TLS when the port is an HTTPS listener's (the session
// runs the handshake). False when the TLS contexts could not be built (logged).
bool wrap_client(ClientStream &client, uint16_t port, const Shared &shared) {
  auto snap = shared.store->current();
  if (!snap->tls_for(port)) return true;
  try {
    auto bundle = shared.tls->bundle(port, *snap);
    auto &ctx = *bundle->entries.front().ctx;
    client.start_tls(std::move(bundle), ctx);
    return true;
  } catch (const std::exception &e) {
    spdlog::error("listener port {}: {}", port, e.what());
    return false;
  }
}

net::awaitable<void> accept_loop(tcp::acceptor &acceptor, Worker &worker, const Shared &shared,
                                 uint16_t port) {
  auto &health = shared.metrics->health();
  net::steady_timer backoff(worker.io);
  auto pause = std::chrono::milliseconds(10);
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(kTuple);
    if (ec) {
      if (ec == net::error::operation_aborted || !acceptor.is_open()) co_return;
      health.accept_errors.fetch_add(1, std::memory_order_relaxed);
      log_accept_error(ec);
      // Out of descriptors (or another resource): retrying at once would spin; wait, longer
      // each time, until a connection closes.
      backoff.expires_after(pause);
      co_await backoff.async_wait(kTuple);
      pause = std::min<std::chrono::milliseconds>(pause * 2, std::chrono::milliseconds(1000));
      continue;
    }
    pause = std::chrono::milliseconds(10);
    if (static_cast<size_t>(health.active_connections.load(std::memory_order_relaxed)) >=
        shared.max_connections) {
      health.max_connections_refused.fetch_add(1, std::memory_order_relaxed);
      beast::error_code ignored;
      socket.close(ignored);
      continue;
    }
    ClientStream client(std::move(socket));
    if (!wrap_client(client, port, shared)) continue;
    net::co_spawn(
        worker.io,
        [&worker, &shared, c = std::move(client)]() mutable -> net::awaitable<void> {
          ActiveGauge connection(shared.metrics->health().active_connections);
          std::optional<Session> session(std::in_place, worker, shared, std::move(c));
          co_await session->serve();
          if (!session->wants_h2()) co_return;
          auto socket = session->take_socket();
          auto first = session->take_buffered();
          session.reset();
          co_await serve_h2(worker, shared, std::move(socket), std::move(first));
        },
        net::detached);
  }
}

// True when another socket (another process) listens on host:port: a bind without SO_REUSEPORT
// fails then, even against sockets that set it.
bool port_taken(net::io_context &io, const std::string &host, uint16_t port) {
  beast::error_code ec;
  auto addr = net::ip::make_address(host, ec);
  if (ec) return false;
  tcp::acceptor probe(io);
  probe.open(addr.is_v6() ? tcp::v6() : tcp::v4(), ec);
  if (ec) return false;
  probe.set_option(net::socket_base::reuse_address(true), ec);
  if (addr.is_v6() && addr.is_unspecified()) probe.set_option(net::ip::v6_only(false), ec);
  probe.bind(tcp::endpoint(addr, port), ec);
  return ec == net::error::address_in_use;
}

// Shutdown on SIGINT/SIGTERM: the first signal drains (no new connections or requests,
// requests in flight finish within the drain timeout, then what is left is cut), a second one
// exits at once. Runs on the admin loop; reaches each worker by posting to its loop.
class Shutdown {
public:
  Shutdown(net::io_context &admin_io, std::vector<std::unique_ptr<Worker>> &workers,
           observability::Metrics &metrics, std::chrono::seconds drain_timeout)
      : admin_io_(admin_io), workers_(workers), metrics_(metrics), drain_timeout_(drain_timeout),
        signals_(admin_io, SIGINT, SIGTERM), timer_(admin_io) {
    wait();
  }

private:
  void wait() {
    signals_.async_wait([this](const beast::error_code &ec, int sig) { on_signal(ec, sig); });
  }
  void stop_all() {
    for (auto &w : workers_)
      w->io.stop();
    admin_io_.stop();
  }
  // Runs `f(worker)` on each worker's own loop.
  template <typename F> void on_each_worker(F f) {
    for (auto &w : workers_)
      net::post(w->io, [wp = w.get(), f] { f(*wp); });
  }
  size_t open_connections() const {
    return static_cast<size_t>(std::max<int64_t>(0, metrics_.health().active_connections.load()));
  }
  void on_signal(const beast::error_code &ec, int sig) {
    if (ec) return;
    if (draining_) {
      spdlog::warn("received signal {} again: exiting now", sig);
      stop_all();
      return;
    }
    draining_ = true;
    spdlog::info("received signal {}: draining (up to {} s; a second signal exits at once)", sig,
                 drain_timeout_.count());
    on_each_worker([](Worker &w) {
      w.draining = true;
      for (auto &a : w.acceptors) {
        beast::error_code ignored;
        a->close(ignored);
      }
      for (auto *session : w.sessions)
        session->on_drain();
    });
    wait();
    net::co_spawn(admin_io_, drain(), net::detached);
  }
  net::awaitable<void> drain() {
    auto until = Clock::now() + drain_timeout_;
    while (Clock::now() < until && open_connections() > 0) {
      timer_.expires_after(std::chrono::milliseconds(50));
      co_await timer_.async_wait(kTuple);
    }
    if (open_connections() > 0) {
      spdlog::warn("drain timeout: cutting {} connections", open_connections());
      on_each_worker([](Worker &w) {
        std::vector<Session *> open(w.sessions.begin(), w.sessions.end());
        for (auto *session : open)
          session->cut();
      });
      // Let the cut requests unwind and write their log lines.
      timer_.expires_after(std::chrono::milliseconds(200));
      co_await timer_.async_wait(kTuple);
    }
    stop_all();
  }

  net::io_context &admin_io_;
  std::vector<std::unique_ptr<Worker>> &workers_;
  observability::Metrics &metrics_;
  std::chrono::seconds drain_timeout_;
  net::signal_set signals_;
  net::steady_timer timer_;
  bool draining_ = false;
};

// Descriptors: the soft limit raised to the hard one, and connections capped below it (a client
// connection may hold a provider connection too), so accept never runs out first.
size_t resolve_max_connections(size_t configured) {
  size_t max_connections = configured;
  rlimit nofile{};
  if (::getrlimit(RLIMIT_NOFILE, &nofile) == 0) {
    if (nofile.rlim_cur < nofile.rlim_max) {
      rlimit raised = nofile;
      raised.rlim_cur = nofile.rlim_max;
      if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) {
        spdlog::info("open-file limit raised from {} to its hard limit {} (as nginx's "
                     "worker_rlimit_nofile)",
                     static_cast<uint64_t>(nofile.rlim_cur),
                     static_cast<uint64_t>(raised.rlim_cur));
        nofile = raised;
      }
    }
    if (max_connections == 0 && nofile.rlim_cur != RLIM_INFINITY)
      max_connections = std::max<size_t>(64, (static_cast<size_t>(nofile.rlim_cur) - 128) / 2);
  }
  return max_connections == 0 ? 100000 : max_connections;
}

// Opens every worker's listeners (SO_REUSEPORT among the workers); false after logging why not.
bool open_listeners(std::vector<std::unique_ptr<Worker>> &workers, const ServerOptions &opts,
                    const std::vector<uint16_t> &ports, const Shared &shared,
                    std::string &listen_host) {
  listen_host = opts.listen_host;
  for (uint16_t port : ports) {
    // The workers share each port with SO_REUSEPORT; another process must not join silently
    // (the kernel would split the traffic between two configurations).
    if (!opts.reuse_port && port_taken(workers[0]->io, listen_host, port)) {
      spdlog::error("cannot listen on {}:{}: address in use (another process listens there; "
                    "--reuse-port shares the port with it)",
                    listen_host, port);
      return false;
    }
  }
  for (auto &w : workers) {
    for (uint16_t port : ports) {
      auto acc = open_acceptor(w->io, listen_host, port, true);
      if (!acc && listen_host == "::") { // a host without IPv6
        listen_host = "0.0.0.0";
        acc = open_acceptor(w->io, listen_host, port, true);
      }
      if (!acc) {
        spdlog::error("{}", acc.error().message);
        return false;
      }
      w->acceptors.push_back(std::make_unique<tcp::acceptor>(std::move(*acc)));
      net::co_spawn(w->io, accept_loop(*w->acceptors.back(), *w, shared, port), net::detached);
    }
  }
  return true;
}

// What /stats and /metrics read besides the metrics themselves.
AdminSources admin_sources(const Shared &shared) {
  AdminSources a;
  a.store = shared.store;
  a.metrics = shared.metrics;
  a.stats = [&shared] {
    auto snap = shared.store->current();
    return "{\"requests\":" + std::to_string(shared.requests->load()) +
           ",\"config_generation\":" + std::to_string(snap->generation) +
           ",\"config_reloads_ok\":" + std::to_string(shared.store->reloads_ok.load()) +
           ",\"config_reloads_rejected\":" + std::to_string(shared.store->reloads_rejected.load()) +
           ",\"budget_keys\":" + std::to_string(shared.budgets->size()) +
           ",\"redis_errors\":" + std::to_string(shared.redis_counters->errors.load()) +
           ",\"redis_failed_open\":" + std::to_string(shared.redis_counters->failed_open.load()) +
           "}";
  };
  // The VirtualKeys' budgets: from this process's store, or read from Redis when they are kept
  // there (a connection of the admin thread's own).
  BudgetUse use = memory_budget_use(*shared.budgets);
  if (auto target = ratelimit::parse_redis_url(shared.opts->ratelimit_redis)) {
    auto reader = std::make_shared<ratelimit::RedisCounterReader>(*target);
    use = [reader](const std::vector<std::string> &keys) { return reader->used(keys); };
  }
  a.dashboard_data = [&shared, use = std::move(use)] {
    return dashboard_data(*shared.store->current(), *shared.observe.board, use, unix_now());
  };
  a.before_metrics = [&shared] {
    auto &h = shared.metrics->health();
    h.config_reloads_ok.store(shared.store->reloads_ok.load());
    h.config_reloads_rejected.store(shared.store->reloads_rejected.load());
    h.redis_errors.store(shared.redis_counters->errors.load());
    h.redis_failed_open.store(shared.redis_counters->failed_open.load());
  };
  return a;
}

// Old windows leave the budget store every ten seconds.
net::awaitable<void> sweep_budgets(ratelimit::MemoryStore &budgets) {
  net::steady_timer t(co_await net::this_coro::executor);
  for (;;) {
    t.expires_after(std::chrono::seconds(10));
    auto [ec] = co_await t.async_wait(kTuple);
    if (ec) co_return;
    budgets.sweep(unix_now());
  }
}

// SecurityPolicy remote JWKS, kept fetched for every request to read: at start, after their
// cache duration, and soon after a token names a key the set lacks (rotation). Checked every
// 250 ms on the first worker; a failed fetch keeps the last good keys.
net::awaitable<void> fetch_jwks(std::string uri, auth::JwksStore *jwks, UpstreamPool *pool) {
  auto answer = co_await http_request(*pool, uri, nullptr,
                                      std::chrono::steady_clock::now() + std::chrono::seconds(10));
  auth::JwksStore::Keys keys;
  if (!answer || answer->first != 200) {
    spdlog::warn("SecurityPolicy: fetching the JWKS {} failed: {}", uri,
                 answer ? "status " + std::to_string(answer->first) : answer.error().message);
  } else if (auto parsed = auth::parse_jwks(answer->second); !parsed) {
    spdlog::warn("SecurityPolicy: the JWKS {}: {}", uri, parsed.error().message);
  } else {
    keys = std::make_shared<const std::vector<auth::JwtKey>>(std::move(*parsed));
  }
  jwks->put(uri, std::move(keys), std::chrono::steady_clock::now());
}

// Every remote JWKS is fetched when due, each on its own (a slow one delays no other).
net::awaitable<void> refresh_jwks(control::ConfigStore &store, auth::JwksStore &jwks,
                                  UpstreamPool &pool) {
  auto ex = co_await net::this_coro::executor;
  net::steady_timer t(ex);
  for (;;) {
    auto snap = store.current();
    for (const auto &r : snap->remote_jwks) {
      auto now = std::chrono::steady_clock::now();
      if (!jwks.due(r.uri, r.cache_duration, now) || !jwks.start(r.uri, now)) continue;
      net::co_spawn(ex, fetch_jwks(r.uri, &jwks, &pool), net::detached);
    }
    t.expires_after(std::chrono::milliseconds(250));
    auto [ec] = co_await t.async_wait(kTuple);
    if (ec) co_return;
  }
}

// Heap pages freed by a load that went away go back to the system: without it, the memory
// thousands of streams or a hundred 10 MB bodies used stays resident. Checked every two seconds
// (from the admin loop, never a worker's): when the allocator holds 16 MiB more free memory than
// at the last trim.
net::awaitable<void> release_memory_after_load() {
  net::steady_timer t(co_await net::this_coro::executor);
  size_t trimmed_at = 0;
  for (;;) {
    t.expires_after(std::chrono::seconds(2));
    auto [ec] = co_await t.async_wait(kTuple);
    if (ec) co_return;
    struct mallinfo2 mi = ::mallinfo2();
    size_t free_bytes = mi.fordblks;
    if (free_bytes < trimmed_at) trimmed_at = free_bytes; // reused since
    if (free_bytes > trimmed_at + (16u << 20)) {
      ::malloc_trim(0);
      spdlog::debug("gave {} MiB of free heap memory back", free_bytes >> 20);
      trimmed_at = free_bytes;
    }
  }
}

std::optional<observability::TracingConfig> tracing_from_env() {
  auto tracing = observability::tracing_config_from_env(
      [](const std::string &k) -> std::optional<std::string> {
        const char *v = std::getenv(k.c_str());
        if (!v) return std::nullopt;
        return std::string(v);
      });
  if (!tracing) {
    spdlog::error("{}", tracing.error().message);
    return std::nullopt;
  }
  return std::move(*tracing);
}

// Budgets shared through Redis (--ratelimit-redis): a client per worker. False when malformed.
bool connect_redis(std::vector<std::unique_ptr<Worker>> &workers, const ServerOptions &opts,
                   ratelimit::RedisCounters &counters, std::string &name) {
  if (opts.ratelimit_redis.empty()) return true;
  auto target = ratelimit::parse_redis_url(opts.ratelimit_redis);
  if (!target) {
    spdlog::error("--ratelimit-redis: expected redis://HOST:PORT, got \"{}\"",
                  opts.ratelimit_redis);
    return false;
  }
  target->fail_closed = opts.ratelimit_fail_closed;
  for (auto &w : workers)
    w->redis = std::make_unique<ratelimit::RedisBudgets>(w->io.get_executor(), *target, &counters);
  name = "redis " + target->host + ":" + std::to_string(target->port);
  spdlog::info("token budgets shared through {} (fail {})", name,
               opts.ratelimit_fail_closed ? "closed" : "open");
  return true;
}

// The response cache's store (--response-cache). False: redis asked for without a server.
bool configure_response_cache(const ServerOptions &opts, Shared &shared,
                              std::optional<pipeline::ResponseCache> &memory) {
  std::string kind = opts.response_cache;
  if (kind.empty()) kind = opts.ratelimit_redis.empty() ? "memory" : "redis";
  shared.exchange.response_cache_max_entry = opts.response_cache_max_entry;
  if (kind == "off") {
    shared.exchange.response_cache = false;
  } else if (kind == "redis") {
    if (opts.ratelimit_redis.empty()) {
      spdlog::error("--response-cache redis: needs --ratelimit-redis (the Redis server)");
      return false;
    }
    shared.response_cache_redis = true;
  } else {
    memory.emplace(opts.response_cache_max_bytes);
    shared.response_cache = &*memory;
  }
  return true;
}

} // namespace

int run_server(control::ConfigStore &store, const ServerOptions &opts) {
  int n = opts.concurrency > 0
              ? opts.concurrency
              : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  ratelimit::MemoryStore budgets;
  ratelimit::RedisCounters redis_counters;
  std::optional<pipeline::ResponseCache> response_cache; // outlives the workers' sessions
  observability::Board board;                            // the admin dashboard's numbers
  auth::TokenSource tokens;
  std::atomic<uint64_t> requests{0};
  observability::Metrics metrics(
      static_cast<size_t>(n),
      observability::parse_header_attributes(opts.metrics_request_header_attributes),
      opts.metrics_max_label_values);
  auto tracing = tracing_from_env();
  if (!tracing) return 2;
  std::unique_ptr<observability::SpanExporter> exporter;
  if (tracing->enabled) {
    exporter = std::make_unique<observability::SpanExporter>(*tracing);
    spdlog::info("tracing: spans exported to {} ({})", tracing->endpoint,
                 tracing->semconv == observability::Semconv::kGenAI ? "gen_ai" : "openinference");
  }
  if (!opts.access_log_file.empty()) {
    std::string err;
    if (!open_access_log(opts.access_log_file, &err)) {
      spdlog::error("--access-log-file {}: {}", opts.access_log_file, err);
      return 2;
    }
  }
  observability::UsageLedger ledger;
  ledger.set_counters(&metrics.health());
  if (std::string err; !observability::open_usage_ledger(ledger, observability::process_prices(),
                                                         opts.ledger, &err)) {
    spdlog::error("usage ledger: {}", err);
    return 2;
  }
  std::vector<std::unique_ptr<Worker>> workers;
  for (int i = 0; i < n; ++i) {
    workers.push_back(std::make_unique<Worker>());
    workers.back()->index = static_cast<size_t>(i);
  }
  Shared shared{&store,
                &opts,
                &budgets,
                &redis_counters,
                &tokens,
                &metrics,
                resolve_max_connections(opts.max_connections),
                {},
                {},
                {},
                &requests};
  mcp::SessionCrypto mcp_crypto(opts.mcp_session_seed, opts.mcp_session_iterations,
                                opts.mcp_fallback_session_seed,
                                opts.mcp_fallback_session_iterations);
  shared.mcp_crypto = &mcp_crypto;
  mcp::OAuthCache mcp_oauth;
  shared.mcp_oauth = &mcp_oauth;
  DownstreamTls downstream_tls;
  shared.tls = &downstream_tls;
  auth::JwksStore jwks;
  shared.services.jwks = &jwks;
  if (!store.current()->mcp_routes.empty() && opts.mcp_session_seed == "default-insecure-seed")
    spdlog::warn("MCP sessions are encrypted with the default seed: set "
                 "--mcp-session-encryption-seed (or AIGW_MCP_SESSION_ENCRYPTION_SEED) to a secret");
  shared.exchange.max_error_body = opts.max_error_body;
  shared.exchange.max_usage_body = opts.max_usage_body;
  shared.exchange.ratelimit_fail_closed = opts.ratelimit_fail_closed;
  shared.exchange.tracing = exporter != nullptr;
  shared.exchange.always_count_usage = ledger.enabled();
  shared.services.metrics = &metrics;
  shared.services.budget_store_failed_open = &redis_counters.failed_open;
  shared.observe = {
      &metrics, opts.metrics, exporter.get(), &*tracing, ledger.enabled() ? &ledger : nullptr,
      &board};
  if (!connect_redis(workers, opts, redis_counters, shared.services.budget_store)) return 2;
  if (!configure_response_cache(opts, shared, response_cache)) return 2;

  auto ports = store.current()->listener_ports;
  try { // the certificates are loaded before the first client, so a bad one stops the start
    for (uint16_t p : ports)
      (void)downstream_tls.bundle(p, *store.current());
  } catch (const std::exception &e) {
    spdlog::error("{}", e.what());
    return 1;
  }
  std::string listen_host;
  if (!open_listeners(workers, opts, ports, shared, listen_host)) return 1;
  // The admin listener has a loop and a thread of its own: a scrape never stalls a worker.
  net::io_context admin_io{1};
  AdminServer admin(admin_io, admin_sources(shared));
  auto admin_port = admin.listen(opts.admin_host, opts.admin_port);
  if (!admin_port) {
    spdlog::error("admin: {}", admin_port.error().message);
    return 1;
  }
  net::co_spawn(workers[0]->io, sweep_budgets(budgets), net::detached);
  net::co_spawn(workers[0]->io, refresh_jwks(store, jwks, workers[0]->pool), net::detached);
  net::co_spawn(admin_io, release_memory_after_load(), net::detached);
  Shutdown shutdown(admin_io, workers, metrics, opts.drain_timeout);
  std::signal(SIGPIPE, SIG_IGN);

  std::string listen;
  for (uint16_t p : ports) {
    listen += (listen.empty() ? "" : ", ") + (listen_host == "::" ? "[::]" : listen_host) + ":" +
              std::to_string(p);
    if (store.current()->tls_for(p)) listen += " (HTTPS, h2 and http/1.1 by ALPN)";
  }
  spdlog::info("aigw listening on {} ({} workers, at most {} connections), admin on {}:{}, "
               "config generation {} from {}",
               listen, n, shared.max_connections, opts.admin_host, *admin_port,
               store.current()->generation, store.current()->source);

  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i)
    threads.emplace_back([&, i] {
      workers[static_cast<size_t>(i)]->io.run();
      // Stopped: no handler of this loop runs again, so nothing else reads its sessions.
    });
  admin_io.run();
  for (auto &t : threads)
    t.join();
  flush_access_log();
  return 0;
}

struct McpProxy::Impl {
  control::ConfigStore &store;
  ServerOptions opts;
  observability::Metrics &metrics;
  std::optional<observability::TracingConfig> tracing;
  std::unique_ptr<observability::SpanExporter> exporter;
  ratelimit::MemoryStore budgets;
  ratelimit::RedisCounters redis_counters;
  auth::TokenSource tokens;
  std::atomic<uint64_t> requests{0};
  mcp::SessionCrypto crypto;
  mcp::OAuthCache oauth;
  Shared shared;
  // Last: its loop's suspended requests are destroyed first, while what they read still is.
  Worker worker;
  std::thread thread;

  Impl(control::ConfigStore &s, const ServerOptions &o, observability::Metrics &m)
      : store(s), opts(o), metrics(m), tracing(tracing_from_env()),
        crypto(o.mcp_session_seed, o.mcp_session_iterations, o.mcp_fallback_session_seed,
               o.mcp_fallback_session_iterations),
        shared{&store,
               &opts,
               &budgets,
               &redis_counters,
               &tokens,
               &metrics,
               resolve_max_connections(o.max_connections),
               {},
               {},
               {},
               &requests} {
    shared.mcp_crypto = &crypto;
    shared.mcp_oauth = &oauth;
    shared.mcp_only = true;
    shared.services.metrics = &metrics;
    // Spans as aigw run exports them (the OTEL_* variables), continuing Envoy's trace.
    if (tracing && tracing->enabled)
      exporter = std::make_unique<observability::SpanExporter>(*tracing);
    shared.observe = {&metrics, opts.metrics, exporter.get(), tracing ? &*tracing : nullptr};
  }
};

McpProxy::McpProxy(control::ConfigStore &store, const ServerOptions &opts,
                   observability::Metrics &metrics)
    : impl_(std::make_unique<Impl>(store, opts, metrics)) {}

McpProxy::~McpProxy() { stop(); }

Result<uint16_t> McpProxy::start(const std::string &address) {
  if (address.starts_with("unix://"))
    return Error::config("-mcpAddr " + address +
                         ": only TCP addresses (:port, host:port) are served");
  std::string host = "0.0.0.0";
  std::string port_text = address;
  if (auto colon = address.rfind(':'); colon != std::string::npos) {
    if (colon > 0) host = address.substr(0, colon);
    port_text = address.substr(colon + 1);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']')
      host = host.substr(1, host.size() - 2);
  }
  char *end = nullptr;
  long port = std::strtol(port_text.c_str(), &end, 10);
  if (port_text.empty() || *end != '\0' || port < 0 || port > 65535)
    return Error::config("-mcpAddr " + address + ": expected :PORT or HOST:PORT");
  auto &w = impl_->worker;
  auto acc = open_acceptor(w.io, host, static_cast<uint16_t>(port), false);
  if (!acc) return acc.error();
  w.acceptors.push_back(std::make_unique<tcp::acceptor>(std::move(*acc)));
  uint16_t bound = w.acceptors.back()->local_endpoint().port();
  net::co_spawn(w.io, accept_loop(*w.acceptors.back(), w, impl_->shared, 0), net::detached);
  if (impl_->opts.mcp_session_seed == "default-insecure-seed")
    spdlog::warn("MCP sessions are encrypted with the default seed: set "
                 "-mcpSessionEncryptionSeed to a secret");
  impl_->thread = std::thread([&w] { w.io.run(); });
  return bound;
}

void McpProxy::stop() {
  if (!impl_ || !impl_->thread.joinable()) return;
  impl_->worker.io.stop();
  impl_->thread.join();
}

} // namespace aigw::proxy
