// The admin listener both hosts serve (`aigw run` and `aigw extproc`): /health and /ready, the
// Prometheus /metrics, /config_dump (secrets redacted), /stats and the /dashboard. It runs on a
// loop of its own, so a scrape never stalls request handling. Thread-safety: the sources are read
// from the admin loop's thread; each must be safe to read from there.
#pragma once

#include "control/config_store.h"
#include "core/result.h"
#include "observability/metrics.h"
#include "proxy/beast_pch.h"

#include <functional>
#include <string>

namespace aigw::proxy {

struct AdminSources {
  control::ConfigStore *store = nullptr; // /config_dump and the config generation
  observability::Metrics *metrics = nullptr;
  std::function<std::string()> stats;          // the /stats JSON object
  std::function<void()> before_metrics;        // copies counters kept elsewhere into the metrics
  std::function<std::string()> dashboard_data; // GET /dashboard/data (null: no dashboard)
};

class AdminServer {
public:
  AdminServer(boost::asio::io_context &io, AdminSources sources);
  // Listens on host:port (port 0: any); with the host 127.0.0.1, [::1] too when it can. Returns
  // the port it got.
  Result<uint16_t> listen(const std::string &host, uint16_t port);

private:
  boost::asio::awaitable<void> accept_loop(boost::asio::ip::tcp::acceptor acceptor);
  boost::asio::awaitable<void> session(boost::asio::ip::tcp::socket socket);
  std::string respond(std::string_view target, std::string &content_type, unsigned &status);

  boost::asio::io_context &io_;
  AdminSources sources_;
};

// A listening acceptor on host:port; `reuse_port` shares the port (SO_REUSEPORT).
Result<boost::asio::ip::tcp::acceptor>
open_acceptor(boost::asio::io_context &io, const std::string &host, uint16_t port, bool reuse_port);

} // namespace aigw::proxy
