// The HTTP half of OAuth tokens: POSTs the form an auth::TokenSource asks for; see token_fetch.h.
#include "proxy/token_fetch.h"

#include "core/clock.h"
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <functional>

// GCC 12 reports a coroutine frame as freed by a mismatched operator delete: both are Asio's
// awaitable_frame_base operators (a known false positive, as in mcp_host.cc).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace aigw::proxy {
namespace {

namespace http = beast::http;
using namespace net::experimental::awaitable_operators;
constexpr auto kTuple = net::as_tuple(net::use_awaitable);

struct Url {
  bool tls = false;
  std::string host;
  uint16_t port = 0;
  std::string path;
};

Result<Url> parse_url(std::string_view url) {
  Url u;
  if (url.starts_with("https://")) {
    u.tls = true;
    url.remove_prefix(8);
  } else if (url.starts_with("http://")) {
    url.remove_prefix(7);
  } else {
    return Error::config("must be an http(s) URL");
  }
  auto slash = url.find('/');
  std::string_view authority = url.substr(0, slash);
  u.path = slash == std::string_view::npos ? "/" : std::string(url.substr(slash));
  u.port = u.tls ? 443 : 80;
  if (!authority.empty() && authority.front() == '[') { // [::1]:port
    auto close = authority.find(']');
    if (close == std::string_view::npos) return Error::config("bad IPv6 host in URL");
    u.host = std::string(authority.substr(1, close - 1));
    authority.remove_prefix(close + 1);
    if (authority.starts_with(":")) u.port = static_cast<uint16_t>(std::atoi(authority.data() + 1));
  } else {
    auto colon = authority.rfind(':');
    u.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos)
      u.port = static_cast<uint16_t>(std::atoi(std::string(authority.substr(colon + 1)).c_str()));
  }
  if (u.host.empty() || u.port == 0) return Error::config("bad host in URL");
  return u;
}

} // namespace

// POSTs a form to `url` (or GETs it, when `form` is null) and returns the status and body.
net::awaitable<Result<std::pair<int, std::string>>>
http_request(UpstreamPool &pool, const std::string &url, const std::string *form,
             std::chrono::steady_clock::time_point deadline) {
  auto u = parse_url(url);
  if (!u) co_return u.error();
  control::CompiledBackend target;
  target.key = "token-endpoint";
  boost::system::error_code ec;
  net::ip::make_address(u->host, ec);
  target.endpoints.push_back({u->host, u->port, !ec});
  target.tls.enabled = u->tls;
  if (u->tls && ec) target.tls.sni = u->host;
  bool default_port = (u->tls && u->port == 443) || (!u->tls && u->port == 80);
  target.host_header = default_port ? u->host : u->host + ":" + std::to_string(u->port);
  std::string error;
  auto conn = co_await pool.connect(target, deadline, &error);
  if (!conn) co_return Error::upstream(503, u->host + ": " + error, true);
  std::string req = form ? "POST " : "GET ";
  req += u->path + " HTTP/1.1\r\nHost: " + target.host_header +
         "\r\nAccept: application/json\r\nConnection: close\r\n";
  if (form)
    req += "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: " +
           std::to_string(form->size()) + "\r\n\r\n" + *form;
  else
    req += "\r\n";
  http::response_parser<http::string_body> parser;
  parser.body_limit(1 << 20);
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
  auto result = co_await (exchange() || timer.async_wait(kTuple));
  if (result.index() == 1) co_return Error::upstream(504, u->host + " timed out", true);
  if (auto e = std::get<0>(result))
    co_return Error::upstream(503, u->host + ": " + e.message(), true);
  co_return std::pair(static_cast<int>(parser.get().result_int()), parser.get().body());
}

Result<std::pair<int, std::string>> http_get_blocking(const std::string &url,
                                                      std::chrono::milliseconds timeout) {
  net::io_context io;
  auto tls = make_client_tls_context();
  UpstreamPool pool(io.get_executor(), tls.get());
  Result<std::pair<int, std::string>> out = Error::upstream(502, url + ": no answer", false);
  net::co_spawn(
      io,
      [&]() -> net::awaitable<void> {
        out = co_await http_request(pool, url, nullptr, std::chrono::steady_clock::now() + timeout);
      },
      net::detached);
  io.run();
  return out;
}

net::awaitable<Result<std::string>> fetch_token(auth::TokenSource &source,
                                                const control::CompiledBackend &b,
                                                UpstreamPool &pool,
                                                std::chrono::steady_clock::time_point deadline) {
  int64_t now = unix_now();
  if (auto hit = source.cached(b, now)) co_return std::move(*hit);
  auto request = source.request_for(b, now);
  if (!request) co_return request.error();
  // (token endpoints explain their refusals in JSON: the body is read whatever the status)
  auto answer = co_await http_request(pool, request->url, &request->form, deadline);
  if (!answer) {
    Error e = answer.error();
    e.message = "token endpoint " + e.message;
    spdlog::warn("backend {}: fetching an access token failed: {}", b.key, e.message);
    co_return e;
  }
  co_return source.on_response(b, *request, answer->second, now);
}

} // namespace aigw::proxy
