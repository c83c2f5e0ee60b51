// The gRPC host of the external processor; see server.h.
#include "extproc/server.h"

#include "envoy/service/ext_proc/v3/external_processor.grpc.pb.h"
#include "extproc/processor.h"
#include "observability/metrics.h"

#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <spdlog/spdlog.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <pthread.h>
#include <filesystem>
#include <mutex>
#include <thread>

namespace aigw::extproc {
namespace {

class ConfigHolder {
public:
  std::shared_ptr<const FilterConfig> current() {
    std::lock_guard lock(mu_);
    return cfg_;
  }
  void set(std::shared_ptr<const FilterConfig> c) {
    std::lock_guard lock(mu_);
    cfg_ = std::move(c);
  }

private:
  std::mutex mu_;
  std::shared_ptr<const FilterConfig> cfg_;
};

class ProcessorService final : public pb::ExternalProcessor::Service {
public:
  ProcessorService(RequestRegistry &registry, ConfigHolder &config, std::string root_prefix,
                   observability::Metrics &metrics, std::string endpoint_prefixes)
      : registry_(registry), config_(config), root_prefix_(std::move(root_prefix)),
        metrics_(metrics), endpoint_prefixes_(std::move(endpoint_prefixes)) {}

  grpc::Status
  Process(grpc::ServerContext *,
          grpc::ServerReaderWriter<pb::ProcessingResponse, pb::ProcessingRequest> *stream) override {
    Stream s(registry_, [this] { return config_.current(); }, root_prefix_, &metrics_,
             endpoint_prefixes_);
    pb::ProcessingRequest req;
    while (stream->Read(&req)) {
      auto resp = s.process(req);
      if (!stream->Write(resp)) break;
    }
    return grpc::Status::OK;
  }

private:
  RequestRegistry &registry_;
  ConfigHolder &config_;
  std::string root_prefix_;
  observability::Metrics &metrics_;
  std::string endpoint_prefixes_;
};

Result<std::shared_ptr<const FilterConfig>> load(const ExtprocOptions &o) {
  const std::string &path = o.config_bundle_path.empty() ? o.config_path : o.config_bundle_path;
  auto c = load_filter_config(path);
  if (!c) return c.error();
  if (!c->version.empty() && c->version != "dev")
    spdlog::warn("config version {} differs from this build's (dev); loading it anyway",
                 c->version);
  return std::shared_ptr<const FilterConfig>(std::make_shared<FilterConfig>(std::move(*c)));
}

std::string grpc_address(const std::string &a) {
  if (a.starts_with("unix://")) return "unix:" + a.substr(7);
  if (a.starts_with(":")) return "0.0.0.0" + a;
  return a;
}

std::atomic<bool> g_stop{false};

// A minimal admin HTTP server: /health and /metrics.
void serve_admin(uint16_t port, observability::Metrics &metrics) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr *>(&addr), sizeof addr) != 0 || ::listen(fd, 16) != 0) {
    spdlog::error("admin: cannot listen on 127.0.0.1:{}", port);
    ::close(fd);
    return;
  }
  timeval tv{0, 200000};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  while (!g_stop.load()) {
    int c = ::accept(fd, nullptr, nullptr);
    if (c < 0) continue;
    char buf[4096];
    ssize_t n = ::recv(c, buf, sizeof buf - 1, 0);
    std::string req(buf, n > 0 ? static_cast<size_t>(n) : 0);
    std::string body, status = "200 OK", type = "text/plain";
    if (req.starts_with("GET /health")) {
      body = "OK";
    } else if (req.starts_with("GET /metrics")) {
      body = metrics.render();
      type = "text/plain; version=0.0.4; charset=utf-8";
    } else {
      status = "404 Not Found";
      body = "not found; try /health or /metrics\n";
    }
    std::string resp = "HTTP/1.1 " + status + "\r\ncontent-type: " + type +
                       "\r\nconnection: close\r\ncontent-length: " + std::to_string(body.size()) +
                       "\r\n\r\n" + body;
    ssize_t off = 0;
    while (off < static_cast<ssize_t>(resp.size())) {
      ssize_t w = ::send(c, resp.data() + off, resp.size() - static_cast<size_t>(off), MSG_NOSIGNAL);
      if (w <= 0) break;
      off += w;
    }
    ::close(c);
  }
  ::close(fd);
}

} // namespace

int run_extproc(const ExtprocOptions &opts) {
  if (opts.config_path.empty() && opts.config_bundle_path.empty()) {
    spdlog::error("one of -configPath or -configBundlePath is required");
    return 2;
  }
  // Signals are taken by one thread (sigwait): block them before gRPC starts its threads.
  sigset_t blocked;
  sigemptyset(&blocked);
  sigaddset(&blocked, SIGINT);
  sigaddset(&blocked, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &blocked, nullptr);
  auto initial = load(opts);
  if (!initial) {
    spdlog::error("config: {}", initial.error().message);
    return 1;
  }
  ConfigHolder config;
  config.set(*initial);
  RequestRegistry registry;
  observability::Metrics metrics(1, {});
  ProcessorService service(registry, config, opts.root_prefix, metrics, opts.endpoint_prefixes);

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
  if (opts.address.starts_with("unix://"))
    ::chmod(opts.address.substr(7).c_str(), 0775);
  server->GetHealthCheckService()->SetServingStatus("", true);
  server->GetHealthCheckService()->SetServingStatus("extproc", true);

  std::thread admin([&] { serve_admin(opts.admin_port, metrics); });
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
        spdlog::error("config reload: {}; keeping the last good configuration",
                      next.error().message);
        continue;
      }
      config.set(*next);
      spdlog::info("config reloaded (uuid {})", (*next)->uuid);
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
  admin.join();
  watcher.join();
  return 0;
}

} // namespace aigw::extproc
