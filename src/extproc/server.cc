// The gRPC host of the external processor; see server.h.
#include "extproc/server.h"

#include "core/clock.h"
#include "envoy/service/ext_proc/v3/external_processor.grpc.pb.h"
#include "extproc/filter_config.h"
#include "extproc/processor.h"
#include "observability/metrics.h"
#include "proxy/admin.h"
#include "proxy/dashboard.h"
#include "proxy/server.h"

#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <spdlog/spdlog.h>

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <filesystem>
#include <mutex>
#include <pthread.h>
#include <thread>

namespace aigw::extproc {
namespace {

class ProcessorService final : public pb::ExternalProcessor::Service {
public:
  ProcessorService(RequestRegistry &registry, const ProcessorContext &ctx)
      : registry_(registry), ctx_(ctx) {}

  grpc::Status Process(
      grpc::ServerContext *,
      grpc::ServerReaderWriter<pb::ProcessingResponse, pb::ProcessingRequest> *stream) override {
    Stream s(registry_, ctx_);
    pb::ProcessingRequest req;
    while (stream->Read(&req)) {
      auto resp = s.process(req);
      if (!stream->Write(resp)) break;
    }
    return grpc::Status::OK;
  }

private:
  RequestRegistry &registry_;
  const ProcessorContext &ctx_;
};

Result<std::shared_ptr<const control::Snapshot>> load(const ExtprocOptions &o) {
  const std::string &path = o.config_bundle_path.empty() ? o.config_path : o.config_bundle_path;
  auto c = load_filter_config(path);
  if (!c) return c.error();
  if (!c->version.empty() && c->version != "dev")
    spdlog::warn("config version {} differs from this build's (dev); loading it anyway",
                 c->version);
  return to_snapshot(*c);
}

std::string grpc_address(const std::string &a) {
  if (a.starts_with("unix://")) return "unix:" + a.substr(7);
  if (a.starts_with(":")) return "0.0.0.0" + a;
  return a;
}

std::atomic<bool> g_stop{false};

} // namespace

// What the admin listener reads: /stats, the metrics' counters, the dashboard's data.
static proxy::AdminSources admin_sources(control::ConfigStore &store,
                                         observability::Metrics &metrics, RequestRegistry &registry,
                                         const observability::Board &board,
                                         const ratelimit::MemoryStore &key_budgets) {
  proxy::AdminSources a;
  a.store = &store;
  a.metrics = &metrics;
  a.stats = [&] {
    return "{\"requests_in_flight\":" + std::to_string(registry.size()) +
           ",\"config_generation\":" + std::to_string(store.generation()) +
           ",\"config_reloads_ok\":" + std::to_string(store.reloads_ok.load()) +
           ",\"config_reloads_rejected\":" + std::to_string(store.reloads_rejected.load()) + "}";
  };
  a.before_metrics = [&] {
    metrics.health().config_reloads_ok.store(store.reloads_ok.load());
    metrics.health().config_reloads_rejected.store(store.reloads_rejected.load());
  };
  a.dashboard_data = [&] {
    return proxy::dashboard_data(*store.current(), board, proxy::memory_budget_use(key_budgets),
                                 unix_now());
  };
  return a;
}

// Signals are taken by one thread (sigwait): blocked before gRPC starts its threads.
static void block_signals() {
  sigset_t blocked;
  sigemptyset(&blocked);
  sigaddset(&blocked, SIGINT);
  sigaddset(&blocked, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &blocked, nullptr);
}

int run_extproc(const ExtprocOptions &opts) {
  if (opts.config_path.empty() && opts.config_bundle_path.empty()) {
    spdlog::error("one of -configPath or -configBundlePath is required");
    return 2;
  }
  block_signals();
  auto initial = load(opts);
  if (!initial) {
    spdlog::error("config: {}", initial.error().message);
    return 1;
  }
  control::ConfigStore store(*initial);
  RequestRegistry registry;
  observability::Metrics metrics(1, {});
  ProcessorContext ctx;
  ctx.store = &store;
  ctx.services.metrics = &metrics;
  ctx.options.verify_clients = false; // Envoy enforces the SecurityPolicy in front of us
  ctx.options.route_budgets = false;  // and its rate limit filter the BackendTrafficPolicy's
  ratelimit::MemoryStore key_budgets;
  ctx.key_budgets = &key_budgets;
  pipeline::ResponseCache response_cache(opts.response_cache_max_bytes);
  ctx.response_cache = &response_cache;
  ctx.options.response_cache_max_entry = opts.response_cache_max_entry;
  ctx.observe.metrics = &metrics;
  observability::Board board;
  ctx.observe.board = &board;
  observability::UsageLedger ledger;
  ledger.set_counters(&metrics.health());
  if (std::string err; !observability::open_usage_ledger(ledger, observability::process_prices(),
                                                         opts.ledger, &err)) {
    spdlog::error("usage ledger: {}", err);
    return 2;
  }
  if (ledger.enabled()) {
    ctx.observe.ledger = &ledger;
    ctx.options.always_count_usage = true;
  }
  ctx.set_prefixes(opts.root_prefix, opts.endpoint_prefixes);
  ProcessorService service(registry, ctx);

  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  int bound_port = 0;
  std::string address = grpc_address(opts.address);
  builder.AddListeningPort(address, grpc::InsecureServerCredentials(),
                           opts.address.starts_with("unix://") ? nullptr : &bound_port);
  builder.SetMaxReceiveMessageSize(opts.max_recv_msg_size);
  builder.RegisterService(&service);
  auto server = builder.BuildAndStart();
  if (!server) {
    spdlog::error("cannot listen on {}", opts.address);
    return 1;
  }
  if (opts.address.starts_with("unix://")) ::chmod(opts.address.substr(7).c_str(), 0775);
  server->GetHealthCheckService()->SetServingStatus("", true);
  server->GetHealthCheckService()->SetServingStatus("extproc", true);

  // The admin listener `aigw run` serves too, on a loop and thread of its own.
  boost::asio::io_context admin_io{1};
  proxy::AdminServer admin(admin_io, admin_sources(store, metrics, registry, board, key_budgets));
  if (auto port = admin.listen("127.0.0.1", opts.admin_port); !port) {
    spdlog::error("admin: {}", port.error().message);
    return 1;
  }
  // -mcpAddr: the MCP proxy, on a loop and thread of its own, reading the same configuration.
  proxy::ServerOptions mcp_opts;
  mcp_opts.mcp_session_seed = opts.mcp_session_seed;
  mcp_opts.mcp_session_iterations = opts.mcp_session_iterations;
  mcp_opts.mcp_fallback_session_seed = opts.mcp_fallback_session_seed;
  mcp_opts.mcp_fallback_session_iterations = opts.mcp_fallback_session_iterations;
  std::unique_ptr<proxy::McpProxy> mcp;
  if (!opts.mcp_address.empty()) {
    if (opts.mcp_session_iterations <= 0 || opts.mcp_fallback_session_iterations <= 0) {
      spdlog::error("MCP session encryption iterations must be positive");
      return 2;
    }
    mcp = std::make_unique<proxy::McpProxy>(store, mcp_opts, metrics);
    auto port = mcp->start(opts.mcp_address);
    if (!port) {
      spdlog::error("{}", port.error().message);
      return 1;
    }
    spdlog::info("MCP proxy listening on {} (port {}, {} route(s))", opts.mcp_address, *port,
                 store.current()->mcp_routes.size());
  }
  auto guard = boost::asio::make_work_guard(admin_io);
  std::thread admin_thread([&] { admin_io.run(); });
  // Reload: the file's (or the bundle index's) modification time, polled; the last good
  // configuration stays when a new one does not load.
  std::thread watcher([&] {
    namespace fs = std::filesystem;
    std::string watched = opts.config_bundle_path.empty()
                              ? opts.config_path
                              : (fs::path(opts.config_bundle_path) / "index.yaml").string();
    std::error_code ec;
    auto last = fs::last_write_time(watched, ec);
    while (!g_stop.load()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(opts.reload_interval_ms));
      auto now = fs::last_write_time(watched, ec);
      if (ec || now == last) continue;
      last = now;
      auto next = load(opts);
      if (!next) {
        store.reloads_rejected.fetch_add(1);
        spdlog::error("config reload: {}; keeping the last good configuration",
                      next.error().message);
        continue;
      }
      store.publish(*next);
      store.reloads_ok.fetch_add(1);
      spdlog::info("config reloaded (uuid {})", (*next)->source);
    }
  });

  std::signal(SIGPIPE, SIG_IGN);
  std::fprintf(stderr, "AI Gateway External Processor is ready\n");
  std::fflush(stderr);
  spdlog::info("ext_proc listening on {} (port {}), admin on 127.0.0.1:{}", opts.address,
               bound_port, opts.admin_port);
  std::thread stopper([&] {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    int sig = 0;
    sigwait(&set, &sig);
    g_stop.store(true);
    server->Shutdown();
  });
  server->Wait();
  stopper.join();
  if (mcp) mcp->stop();
  guard.reset();
  admin_io.stop();
  admin_thread.join();
  watcher.join();
  return 0;
}

} // namespace aigw::extproc
