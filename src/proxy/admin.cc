// The admin listener; see admin.h.
#include "proxy/admin.h"

#include "proxy/dashboard_assets.h"

namespace aigw::proxy {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
constexpr auto kTuple = net::as_tuple(net::use_awaitable);

} // namespace

Result<tcp::acceptor> open_acceptor(net::io_context &io, const std::string &host, uint16_t port,
                                    bool reuse_port) {
  beast::error_code ec;
  auto addr = net::ip::make_address(host, ec);
  if (ec) return Error::config("invalid listen address \"" + host + "\"");
  tcp::endpoint endpoint(addr, port);
  tcp::acceptor acceptor(io);
  acceptor.open(endpoint.protocol(), ec);
  if (ec) return Error::config("socket: " + ec.message());
  acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (addr.is_v6() && addr.is_unspecified()) acceptor.set_option(net::ip::v6_only(false), ec);
  if (reuse_port) {
    int one = 1;
    ::setsockopt(acceptor.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  }
  acceptor.bind(endpoint, ec);
  if (ec)
    return Error::config("cannot listen on " + host + ":" + std::to_string(port) + ": " +
                         ec.message());
  acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) return Error::config("listen: " + ec.message());
  return acceptor;
}

AdminServer::AdminServer(net::io_context &io, AdminSources sources)
    : io_(io), sources_(std::move(sources)) {}

Result<uint16_t> AdminServer::listen(const std::string &host, uint16_t port) {
  auto acceptor = open_acceptor(io_, host, port, false);
  if (!acceptor) return acceptor.error();
  uint16_t got = acceptor->local_endpoint().port(); // the one it got, for port 0
  net::co_spawn(io_, accept_loop(std::move(*acceptor)), net::detached);
  if (host == "127.0.0.1") { // "localhost" may resolve to ::1 first
    if (auto v6 = open_acceptor(io_, "::1", got, false))
      net::co_spawn(io_, accept_loop(std::move(*v6)), net::detached);
  }
  return got;
}

net::awaitable<void> AdminServer::accept_loop(tcp::acceptor acceptor) {
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(kTuple);
    if (ec) {
      if (ec == net::error::operation_aborted) co_return;
      continue;
    }
    net::co_spawn(io_, session(std::move(socket)), net::detached);
  }
}

std::string AdminServer::respond(std::string_view target, std::string &content_type,
                                 unsigned &status) {
  target = target.substr(0, target.find('?'));
  status = 200;
  content_type = "text/plain";
  if (target == "/health" || target == "/ready") return "OK\n";
  if (target == "/config_dump" || target == "/config") {
    content_type = "application/json";
    auto snap = sources_.store ? sources_.store->current() : nullptr;
    return snap ? snap->dump_json : "{}";
  }
  if (target == "/stats" && sources_.stats) {
    content_type = "application/json";
    return sources_.stats();
  }
  if (target == "/metrics" && sources_.metrics) {
    if (sources_.before_metrics) sources_.before_metrics();
    content_type = "text/plain; version=0.0.4; charset=utf-8";
    return sources_.metrics->render();
  }
  if (sources_.dashboard_data) {
    if (target == "/dashboard" || target == "/dashboard/") {
      content_type = "text/html; charset=utf-8";
      return std::string(dashboard_html());
    }
    if (target == "/dashboard/app.js" || target == "/dashboard/chart.js") {
      content_type = "text/javascript; charset=utf-8";
      return std::string(target == "/dashboard/app.js" ? dashboard_app_js() : dashboard_chart_js());
    }
    if (target == "/dashboard/data") {
      content_type = "application/json";
      return sources_.dashboard_data();
    }
  }
  status = 404;
  return "not found; try /health, /ready, /metrics, /config_dump, /stats, /dashboard\n";
}

net::awaitable<void> AdminServer::session(tcp::socket socket) {
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer;
  for (;;) {
    http::request<http::string_body> req;
    stream.expires_after(std::chrono::seconds(30));
    auto [ec, n] = co_await http::async_read(stream, buffer, req, kTuple);
    if (ec) break;
    http::response<http::string_body> res;
    res.version(11);
    res.keep_alive(req.keep_alive());
    std::string content_type;
    unsigned status = 200;
    res.body() = respond(req.target(), content_type, status);
    res.result(status);
    res.set(http::field::content_type, content_type);
    res.prepare_payload();
    auto [wec, wn] = co_await http::async_write(stream, res, kTuple);
    if (wec || !res.keep_alive()) break;
  }
}

} // namespace aigw::proxy
