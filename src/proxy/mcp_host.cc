// The standalone host's side of MCPRoutes: performs the backend calls mcp::Exchange decides, each
// round in parallel over the worker's pool, and writes its reply. Every decision is the
// Exchange's.
#include "mcp/exchange.h"
#include "observability/access_log.h"
#include "proxy/session.h"

#include <spdlog/spdlog.h>

// GCC 12 reports the frame of a coroutine spawned from another as freed by a mismatched
// operator delete: both are Asio's awaitable_frame_base operators (a known false positive).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace aigw::proxy {
namespace {

using namespace net::experimental::awaitable_operators;
constexpr auto kTuple = net::as_tuple(net::use_awaitable);
constexpr size_t kMaxBackendBody = 16 * 1024 * 1024;
constexpr std::chrono::minutes kCallTimeout{30}; // as upstream's MCP route timeout

// One request to one MCP server; `out` gets its answer, or why none came.
net::awaitable<void> backend_call(UpstreamPool &pool, const mcp::BackendCall &c,
                                  mcp::BackendAnswer &out, Clock::time_point deadline) {
  const auto &target = c.backend->upstream;
  std::string req = c.method + " " + c.target + " HTTP/1.1\r\nhost: " + target.host_header + "\r\n";
  for (const auto &[name, value] : c.headers)
    req.append(name).append(": ").append(value).append("\r\n");
  if (c.method == "POST") req += "content-length: " + std::to_string(c.body.size()) + "\r\n";
  req += "\r\n";
  req += c.body;
  for (int attempt = 0; attempt < 2; ++attempt) {
    std::string error;
    // A pooled connection the server closed meanwhile fails at once: then a fresh one.
    std::unique_ptr<UpstreamConn> conn;
    if (attempt == 0) // (not a conditional expression: GCC 12 miscompiles co_await in one)
      conn = co_await pool.acquire(target, deadline, &error);
    else
      conn = co_await pool.connect(target, deadline, &error);
    if (!conn) {
      out.error = error;
      co_return;
    }
    http::response_parser<http::string_body> parser;
    parser.body_limit(kMaxBackendBody);
    net::steady_timer timer(co_await net::this_coro::executor);
    timer.expires_at(deadline);
    auto exchange = [&]() -> net::awaitable<beast::error_code> {
      beast::error_code e;
      if (conn->tls()) {
        std::tie(e, std::ignore) =
            co_await net::async_write(conn->tls_stream(), net::buffer(req), kTuple);
        if (!e)
          std::tie(e, std::ignore) =
              co_await http::async_read(conn->tls_stream(), conn->buffer(), parser, kTuple);
      } else {
        std::tie(e, std::ignore) =
            co_await net::async_write(conn->socket(), net::buffer(req), kTuple);
        if (!e)
          std::tie(e, std::ignore) =
              co_await http::async_read(conn->socket(), conn->buffer(), parser, kTuple);
      }
      co_return e;
    };
    bool reused = conn->reused;
    auto result = co_await (exchange() || timer.async_wait(kTuple));
    if (result.index() == 1) {
      out.error = "timed out";
      co_return;
    }
    if (auto e = std::get<0>(result)) {
      if (reused && attempt == 0) continue;
      out.error = e.message();
      co_return;
    }
    auto &res = parser.get();
    out.ok = true;
    out.status = static_cast<int>(res.result_int());
    out.content_type = std::string(res[http::field::content_type]);
    out.session_id = std::string(res["mcp-session-id"]);
    out.body = std::move(res.body());
    if (res.keep_alive()) pool.release(std::move(conn));
    co_return;
  }
}

} // namespace

net::awaitable<bool> Session::mcp(RequestParser &parser, const control::CompiledMCPRoute &route,
                                  std::shared_ptr<const control::Snapshot> snap) {
  auto &req = parser.get();
  observability::ExchangeRecord rec;
  rec.method = std::string(req.method_string());
  rec.path = std::string(req.target().substr(0, req.target().find('?')));
  rec.route = route.key;
  if (auto it = req.find("x-request-id"); it != req.end())
    rec.request_id = std::string(it->value());
  else
    rec.request_id = pipeline::make_request_id();
  rec_ = &rec;
  shared_.requests->fetch_add(1, std::memory_order_relaxed);

  mcp::Exchange ex(route, *shared_.mcp_crypto, "0.1.0");
  mcp::Request r;
  r.method = req.method_string();
  r.headers = [&req](std::string_view name) -> std::optional<std::string_view> {
    auto it = req.find(name);
    if (it == req.end()) return std::nullopt;
    return it->value();
  };
  r.body = req.body();
  auto deadline = Clock::now() + kCallTimeout;
  set_deadline(deadline);
  // A decision that throws (a bug) answers 500 rather than leaving the client waiting.
  auto guarded = [&](auto &&decide) -> mcp::Exchange::Step {
    try {
      return decide();
    } catch (const std::exception &e) {
      spdlog::error("MCPRoute {}: {}", route.key, e.what());
      mcp::Reply failed;
      failed.status = 500;
      failed.content_type = "text/plain; charset=utf-8";
      failed.body = "internal error";
      return failed;
    }
  };
  auto step = guarded([&] { return ex.begin(r); });
  while (auto *calls = std::get_if<std::vector<mcp::BackendCall>>(&step)) {
    std::vector<mcp::BackendAnswer> answers(calls->size());
    // The round's calls at once; the timer wakes this coroutine when the last one is done.
    net::steady_timer done(co_await net::this_coro::executor, Clock::time_point::max());
    size_t pending = calls->size();
    for (size_t i = 0; i < calls->size(); ++i)
      net::co_spawn(co_await net::this_coro::executor,
                    backend_call(worker_.pool, (*calls)[i], answers[i], deadline),
                    [&pending, &done](std::exception_ptr) {
                      if (--pending == 0) done.cancel();
                    });
    while (pending > 0)
      co_await done.async_wait(kTuple);
    for (size_t i = 0; i < answers.size(); ++i)
      if (!answers[i].ok)
        spdlog::warn("MCPRoute {}: backend {}: {}", route.key, (*calls)[i].backend->name,
                     answers[i].error);
    step = guarded([&] { return ex.on_answers(std::move(answers)); });
  }
  const auto &reply = std::get<mcp::Reply>(step);
  rec.mcp_method = ex.rpc_method();
  rec.mcp_tool = ex.tool();
  rec.mcp_backend = ex.backend_name();
  rec.mcp_session_id = ex.session_id();
  rec.jsonrpc_id = ex.jsonrpc_id();
  rec.error = ex.error();
  std::string extra;
  for (const auto &[name, value] : reply.headers)
    extra.append(name).append(": ").append(value).append("\r\n");
  bool ok = co_await this->reply(static_cast<unsigned>(reply.status), reply.content_type,
                                 reply.body, extra);
  if (shared_.opts->access_log) observability::write_access_log(rec);
  rec_ = nullptr;
  (void)snap; // held for the route's lifetime across the rounds
  co_return ok;
}

} // namespace aigw::proxy
