// The standalone host's side of MCPRoutes: performs the backend calls mcp::Exchange decides, each
// round in parallel over the worker's pool, relays event streams as they come (a call's answer,
// the GET notification stream with its heartbeats), and writes the replies. Every decision is the
// Exchange's.
#include "core/clock.h"
#include "core/decompress.h"
#include "core/json_scan.h"
#include "mcp/exchange.h"
#include "observability/access_log.h"
#include "proxy/session.h"

#include "proxy/h2.h"
#include "proxy/token_fetch.h"

#include <spdlog/spdlog.h>

#include <cstdlib>
#include <deque>

// GCC 12 reports the frame of a coroutine spawned from another as freed by a mismatched
// operator delete: both are Asio's awaitable_frame_base operators (a known false positive).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace aigw::proxy {

// A backend call under way: the connection, the parser holding the response head, and the
// decoder of its Content-Encoding (none for identity).
struct McpCall {
  std::unique_ptr<UpstreamConn> conn;
  std::unique_ptr<http::response_parser<http::buffer_body>> parser;
  std::unique_ptr<Decompressor> decoder;
};

namespace {

using namespace net::experimental::awaitable_operators;
constexpr auto kTuple = net::as_tuple(net::use_awaitable);
constexpr size_t kMaxBackendBody = 16 * 1024 * 1024;
constexpr std::chrono::minutes kCallTimeout{30}; // as upstream's MCP route timeout
constexpr size_t kMaxQueued = 8 * 1024 * 1024;   // a GET stream's events not yet written
constexpr size_t kMaxInflated = 8 * 1024 * 1024; // decoded from one compressed read
// A GET stream's client that takes longer than this to accept one write is gone: its stream
// ends, and with it the backends' streams it holds.
constexpr std::chrono::seconds kStalledReader{30};
using BodyParser = http::response_parser<http::buffer_body>;

template <typename Op> net::awaitable<beast::error_code> on_conn(UpstreamConn &c, Op op) {
  if (c.tls()) co_return co_await op(c.tls_stream());
  co_return co_await op(c.socket());
}

// Connects, writes the request and reads the response head. A pooled connection the server
// closed meanwhile fails at once: then a fresh one.
net::awaitable<std::optional<McpCall>> open_call(UpstreamPool &pool, const mcp::BackendCall &c,
                                                 Clock::time_point deadline, std::string &error) {
  const auto &target = c.backend->upstream;
  std::string req = c.method + " " + c.target + " HTTP/1.1\r\nhost: " + target.host_header + "\r\n";
  for (const auto &[name, value] : c.headers)
    req.append(name).append(": ").append(value).append("\r\n");
  if (c.method == "POST") req += "content-length: " + std::to_string(c.body.size()) + "\r\n";
  req += "\r\n";
  req += c.body;
  for (int attempt = 0; attempt < 2; ++attempt) {
    McpCall o;
    if (attempt == 0) // (not a conditional expression: GCC 12 miscompiles co_await in one)
      o.conn = co_await pool.acquire(target, deadline, &error);
    else
      o.conn = co_await pool.connect(target, deadline, &error);
    if (!o.conn) co_return std::nullopt;
    o.parser = std::make_unique<BodyParser>();
    o.parser->body_limit(boost::none);
    net::steady_timer timer(co_await net::this_coro::executor);
    timer.expires_at(deadline);
    auto &conn = *o.conn;
    auto &parser = *o.parser;
    auto exchange = [&]() -> net::awaitable<beast::error_code> {
      co_return co_await on_conn(conn, [&](auto &s) -> net::awaitable<beast::error_code> {
        auto [e, n] = co_await net::async_write(s, net::buffer(req), kTuple);
        if (!e) std::tie(e, n) = co_await http::async_read_header(s, conn.buffer(), parser, kTuple);
        co_return e;
      });
    };
    bool reused = conn.reused;
    auto result = co_await (exchange() || timer.async_wait(kTuple));
    if (result.index() == 1) {
      error = "timed out";
      co_return std::nullopt;
    }
    if (auto e = std::get<0>(result)) {
      if (reused && attempt == 0) continue;
      error = e.message();
      co_return std::nullopt;
    }
    // gzip and br, as upstream asks for them and decodes them itself.
    auto decoder =
        Decompressor::for_encoding(parser.get()[http::field::content_encoding], kMaxInflated);
    if (!decoder) {
      error = decoder.error().message;
      co_return std::nullopt;
    }
    o.decoder = std::move(*decoder);
    co_return o;
  }
  co_return std::nullopt;
}

// Reads the body piece by piece into `on_piece` (decoded) until it ends; false on an error, a
// corrupt or truncated compressed body among them.
template <typename F>
net::awaitable<bool> read_pieces(McpCall &o, Clock::time_point deadline, F &&on_piece) {
  char buf[16384];
  std::string plain;
  auto &parser = *o.parser;
  net::steady_timer timer(co_await net::this_coro::executor);
  timer.expires_at(deadline);
  while (!parser.is_done()) {
    parser.get().body().data = buf;
    parser.get().body().size = sizeof buf;
    auto read = [&]() -> net::awaitable<beast::error_code> {
      co_return co_await on_conn(*o.conn, [&](auto &s) -> net::awaitable<beast::error_code> {
        // some: an event is relayed as it comes, not once a buffer is full
        auto [e, n] = co_await http::async_read_some(s, o.conn->buffer(), parser, kTuple);
        co_return e;
      });
    };
    auto result = co_await (read() || timer.async_wait(kTuple));
    if (result.index() == 1) co_return false;
    auto e = std::get<0>(result);
    if (e == http::error::need_buffer) e = {};
    if (e) co_return false;
    size_t got = sizeof buf - parser.get().body().size;
    if (!got) continue;
    std::string_view piece(buf, got);
    if (o.decoder) {
      plain.clear();
      if (!o.decoder->feed(piece, plain)) co_return false;
      if (plain.empty()) continue;
      piece = plain;
    }
    if (!(co_await on_piece(piece))) co_return false;
  }
  // (an empty body under a Content-Encoding is an empty answer, as Go's transport reads it)
  co_return !o.decoder || o.decoder->finished() || !o.decoder->started();
}

void fill_head(const McpCall &o, mcp::BackendAnswer &out) {
  const auto &res = o.parser->get();
  out.ok = true;
  out.status = static_cast<int>(res.result_int());
  out.content_type = std::string(res[http::field::content_type]);
  out.session_id = std::string(res["mcp-session-id"]);
}

bool is_event_stream(std::string_view content_type) {
  return content_type.substr(0, content_type.find(';')) == "text/event-stream";
}

// One request to one MCP server, its whole answer buffered (bounded).
net::awaitable<void> backend_call(UpstreamPool &pool, const mcp::BackendCall &c,
                                  mcp::BackendAnswer &out, Clock::time_point deadline) {
  auto o = co_await open_call(pool, c, deadline, out.error);
  if (!o) co_return;
  fill_head(*o, out);
  bool within = true;
  bool ok = co_await read_pieces(*o, deadline, [&](std::string_view piece) -> net::awaitable<bool> {
    within = out.body.size() + piece.size() <= kMaxBackendBody;
    if (within) out.body.append(piece);
    co_return within;
  });
  if (!ok) {
    out.ok = false;
    out.error = within ? "the answer broke off" : "the answer is over 16 MiB";
    co_return;
  }
  if (o->parser->get().keep_alive()) pool.release(std::move(o->conn));
}

size_t max_request_body() {
  // Upstream's MCP_PROXY_MAX_REQUEST_BODY_SIZE (bytes), 4 MiB unless set.
  if (const char *v = std::getenv("MCP_PROXY_MAX_REQUEST_BODY_SIZE")) {
    char *end = nullptr;
    unsigned long long n = std::strtoull(v, &end, 10);
    if (end != v && *end == '\0' && n > 0) return static_cast<size_t>(n);
  }
  return 4 * 1024 * 1024;
}

std::chrono::milliseconds heartbeat_interval() {
  // Upstream's MCP_PROXY_HEARTBEAT_INTERVAL: a Go duration; 0 turns the periodic ones off.
  if (const char *v = std::getenv("MCP_PROXY_HEARTBEAT_INTERVAL"))
    if (auto d = api::parse_duration(v)) return *d;
  return std::chrono::minutes(1);
}

std::string chunk(std::string_view piece) {
  char size[24];
  int n = std::snprintf(size, sizeof size, "%zx\r\n", piece.size());
  std::string out(size, static_cast<size_t>(n));
  out.append(piece);
  out += "\r\n";
  return out;
}

} // namespace

net::awaitable<std::string> Session::mcp_server_metadata(const control::CompiledMCPRoute &route) {
  const auto &o = *route.oauth;
  std::string issuer = o.issuer;
  while (!issuer.empty() && issuer.back() == '/')
    issuer.pop_back();
  std::vector<std::string> urls;
  if (!o.authorization_server_metadata_url.empty())
    urls.push_back(o.authorization_server_metadata_url);
  urls.push_back(issuer + "/.well-known/oauth-authorization-server");
  urls.push_back(issuer + "/.well-known/openid-configuration");
  auto now = Clock::now();
  for (const auto &url : urls) {
    if (auto cached = shared_.mcp_oauth->document(url, now)) {
      if (!cached->empty()) co_return *cached;
      continue;
    }
    auto answer = co_await http_request(worker_.pool, url, nullptr, now + std::chrono::seconds(10));
    std::string doc;
    // An empty or non-JSON document counts as a miss (v1.2).
    if (answer && answer->first == 200 && json::scan_object(answer->second)) doc = answer->second;
    if (!answer) spdlog::warn("MCPRoute {}: {}: {}", route.key, url, answer.error().message);
    shared_.mcp_oauth->put_document(url, doc, now);
    if (!doc.empty()) co_return doc;
  }
  co_return std::string();
}

net::awaitable<mcp::OAuthCache::Keys> Session::mcp_keys(const control::CompiledMCPRoute &route) {
  if (!route.local_keys.empty())
    co_return mcp::OAuthCache::Keys(std::shared_ptr<void>(), &route.local_keys); // not owned
  std::string uri = route.oauth->remote_jwks_uri;
  if (uri.empty()) {
    // Discovered from the authorization server's metadata (RFC 8414), as upstream does.
    std::string doc = co_await mcp_server_metadata(route);
    if (auto spans = json::scan_object(doc))
      if (const auto *m = spans->find("jwks_uri"); m && m->value_end - m->value_begin >= 2)
        uri = json::unescape(
            std::string_view(doc).substr(m->value_begin + 1, m->value_end - m->value_begin - 2));
    if (uri.empty()) {
      spdlog::warn("MCPRoute {}: no jwks_uri in {}'s metadata", route.key, route.oauth->issuer);
      co_return nullptr;
    }
  }
  auto now = Clock::now();
  if (auto cached = shared_.mcp_oauth->keys(uri, now)) co_return *cached;
  auto answer = co_await http_request(worker_.pool, uri, nullptr, now + std::chrono::seconds(10));
  mcp::OAuthCache::Keys keys;
  if (!answer || answer->first != 200) {
    spdlog::warn("MCPRoute {}: fetching the JWKS {} failed: {}", route.key, uri,
                 answer ? "status " + std::to_string(answer->first) : answer.error().message);
  } else if (auto parsed = auth::parse_jwks(answer->second); !parsed) {
    spdlog::warn("MCPRoute {}: the JWKS {}: {}", route.key, uri, parsed.error().message);
  } else {
    keys = std::make_shared<const std::vector<auth::JwtKey>>(std::move(*parsed));
  }
  shared_.mcp_oauth->put_keys(uri, keys, now);
  co_return keys;
}

net::awaitable<std::optional<bool>> Session::mcp_well_known(std::string_view path,
                                                            const control::Snapshot &snap,
                                                            const HeaderLookup &headers) {
  for (const auto &route : snap.mcp_routes) {
    if (!route.oauth) continue;
    bool headers_match = true; // the well-known documents honour spec.headers (v1.2)
    for (const auto &[name, value] : route.header_matches) {
      auto v = headers(name);
      headers_match &= v && *v == value;
    }
    if (!headers_match) continue;
    std::string served = route.path;
    while (served.size() > 1 && served.back() == '/')
      served.pop_back();
    mcp::Reply r;
    r.headers = {{"access-control-allow-origin", "*"},
                 {"access-control-allow-methods", "GET"},
                 {"access-control-allow-headers", "mcp-protocol-version"}};
    if (path == "/.well-known/oauth-protected-resource" + served) {
      r.body = mcp::protected_resource_metadata(*route.oauth);
    } else if (path == "/.well-known/oauth-authorization-server" + served ||
               path == "/.well-known/openid-configuration" + served) {
      r.body = co_await mcp_server_metadata(route);
      if (r.body.empty()) r.body = mcp::fallback_server_metadata(*route.oauth);
    } else {
      continue;
    }
    std::string head = mcp_head(r, false);
    if (rec_) rec_->status = 200;
    co_return co_await write_all(head, r.body);
  }
  co_return std::nullopt;
}

std::string Session::mcp_head(const mcp::Reply &r, bool chunked) {
  std::string head = "HTTP/1.1 " + std::to_string(r.status) + " " +
                     std::string(http::obsolete_reason(http::int_to_status(r.status))) + "\r\n";
  head += "content-type: " + r.content_type + "\r\n";
  for (const auto &[name, value] : r.headers)
    head.append(name).append(": ").append(value).append("\r\n");
  head += "x-content-type-options: nosniff\r\n";
  head += chunked ? "transfer-encoding: chunked\r\n"
                  : "content-length: " + std::to_string(r.body.size()) + "\r\n";
  if (closing()) head += "connection: close\r\n";
  return head + "\r\n";
}

// A call to one backend whose answer is an event stream: relayed as it comes.
net::awaitable<bool> Session::mcp_relay(mcp::Exchange &ex, McpCall &o,
                                        observability::ExchangeRecord &rec,
                                        Clock::time_point deadline) {
  auto head = ex.stream_head();
  rec.status = head.status;
  rec.stream = true;
  // (temporaries with destructors stay out of co_await expressions: GCC 12 frees them twice)
  std::string head_text = mcp_head(head, true);
  if (!co_await write_all(head_text)) co_return false;
  bool client_ok = true;
  bool ok = co_await read_pieces(o, deadline, [&](std::string_view piece) -> net::awaitable<bool> {
    std::string events = ex.stream_events(0, piece);
    if (ex.stream_overflow()) co_return false;
    if (!events.empty()) {
      std::string framed = chunk(events);
      client_ok = co_await write_all(framed);
    }
    co_return client_ok;
  });
  if (!ok)
    rec.error = !client_ok             ? "the client left"
                : ex.stream_overflow() ? "an event of the backend's stream is over 16 MiB"
                                       : "the backend's stream broke off";
  if (!client_ok) co_return false;
  if (!co_await write_all("0\r\n\r\n")) co_return false;
  if (ok && o.parser->get().keep_alive()) worker_.pool.release(std::move(o.conn));
  co_return ok;
}

// GET: every backend's notification stream merged into the client's, with heartbeats and a
// tools/list_changed when a reload changes the route; until the client leaves.
net::awaitable<bool> Session::mcp_listen(mcp::Exchange &ex, std::vector<mcp::BackendCall> calls,
                                         observability::ExchangeRecord &rec,
                                         const control::CompiledMCPRoute &route) {
  auto head = ex.stream_head();
  rec.status = head.status;
  rec.stream = true;
  keep_alive_ = false; // the stream is the connection's last answer
  std::string head_text = mcp_head(head, true);
  std::string first_beat = chunk(mcp::Exchange::heartbeat());
  if (!co_await write_all(head_text, first_beat)) co_return false;
  auto executor = co_await net::this_coro::executor;
  std::deque<std::string> queue;
  size_t queued = 0; // bytes in `queue`
  bool done = false;
  size_t open = calls.size();
  net::steady_timer wake(executor, Clock::time_point::max());
  std::vector<std::shared_ptr<McpCall>> streams(calls.size());
  auto far = Clock::now() + std::chrono::hours(24 * 365);
  for (size_t i = 0; i < calls.size(); ++i) {
    net::co_spawn(
        executor,
        [&, i]() -> net::awaitable<void> {
          std::string error;
          // the head within 30 s: a backend holding it back cannot pin the stream's teardown
          auto o = co_await open_call(worker_.pool, calls[i],
                                      Clock::now() + std::chrono::seconds(30), error);
          if (!o || done) co_return;
          mcp::BackendAnswer a;
          fill_head(*o, a);
          if (a.status != 200 || !is_event_stream(a.content_type)) co_return; // none to offer
          streams[i] = std::make_shared<McpCall>(std::move(*o));
          auto keep = streams[i];
          co_await read_pieces(*keep, far, [&](std::string_view piece) -> net::awaitable<bool> {
            if (done) co_return false;
            auto events = ex.stream_events(i, piece);
            if (ex.stream_overflow()) co_return false;
            if (!events.empty()) {
              queued += events.size();
              queue.push_back(std::move(events));
              wake.cancel();
            }
            // A client that stopped reading: its stream ends rather than grow without bound.
            if (queued > kMaxQueued) done = true;
            co_return true;
          });
        },
        [&](std::exception_ptr) {
          --open;
          wake.cancel();
        });
  }
  // The client leaving (or writing anything) ends the stream.
  char probe;
  bool client_gone = false, probe_done = false;
  auto on_gone = [&] {
    client_gone = true;
    probe_done = true;
    wake.cancel();
  };
  if (h2_)
    h2_->watch_gone(on_gone);
  else
    client_.async_read_some(net::buffer(&probe, 1), [&](beast::error_code, size_t) { on_gone(); });
  auto interval = heartbeat_interval();
  auto tools_of = [](const control::CompiledMCPRoute &r) {
    std::string sig;
    for (const auto &b : r.backends) {
      sig += b->name + "|";
      for (const auto *l : {&b->tools.include, &b->tools.exclude})
        for (const auto &n : *l)
          sig += n + ",";
      sig += std::to_string(b->tools.include_regex.size() + b->tools.exclude_regex.size()) + ";";
    }
    return sig;
  };
  std::string tools = tools_of(route);
  auto next_beat = Clock::now() + interval;
  bool ok = true;
  while (ok && !client_gone && !done && !worker_.draining) {
    auto check = std::min(next_beat, Clock::now() + std::chrono::seconds(1));
    if (interval.count() == 0) check = Clock::now() + std::chrono::seconds(1);
    if (queue.empty()) { // (a reader's wake-up while this loop writes is not waited for)
      wake.expires_at(check);
      co_await wake.async_wait(kTuple);
    }
    while (ok && !queue.empty()) {
      std::string framed = chunk(queue.front());
      queued -= queue.front().size();
      queue.pop_front();
      set_deadline(Clock::now() + kStalledReader);
      ok = co_await write_all(framed);
    }
    if (!ok || client_gone) break;
    if (interval.count() > 0 && Clock::now() >= next_beat) {
      std::string beat = chunk(mcp::Exchange::heartbeat());
      set_deadline(Clock::now() + kStalledReader);
      ok = co_await write_all(beat);
      next_beat = Clock::now() + interval;
    }
    // A reload that changed the route's tools (or removed the route): the client lists again.
    auto now = shared_.store->current();
    const control::CompiledMCPRoute *current = nullptr;
    for (const auto &r : now->mcp_routes)
      if (r.key == route.key) current = &r;
    std::string sig = current ? tools_of(*current) : "";
    if (sig != tools) {
      tools = sig;
      std::string notice = chunk(mcp::Exchange::tools_changed());
      set_deadline(Clock::now() + kStalledReader);
      ok = co_await write_all(notice);
    }
    set_deadline(Clock::time_point::max()); // no write under way: waiting is not stalling
  }
  done = true;
  for (auto &s : streams)
    if (s && s->conn) s->conn->cancel();
  cancel_client();
  // The spawned readers hold references into this frame: wait until each has finished.
  while (open > 0 || !probe_done) {
    wake.expires_at(Clock::now() + std::chrono::milliseconds(50));
    co_await wake.async_wait(kTuple);
  }
  co_return false;
}

// A call to one backend: relayed when its answer is an event stream (the reply is then written
// and its outcome returned), else read whole into `answer`.
net::awaitable<std::optional<bool>>
Session::mcp_single(mcp::Exchange &ex, const mcp::BackendCall &call, mcp::BackendAnswer &answer,
                    observability::ExchangeRecord &rec, Clock::time_point deadline) {
  auto o = co_await open_call(worker_.pool, call, deadline, answer.error);
  if (!o) co_return std::nullopt;
  fill_head(*o, answer);
  if (answer.status >= 200 && answer.status < 300 && is_event_stream(answer.content_type)) {
    rec.mcp_backend = call.backend->name;
    co_return co_await mcp_relay(ex, *o, rec, deadline);
  }
  bool ok = co_await read_pieces(*o, deadline, [&](std::string_view piece) -> net::awaitable<bool> {
    answer.body.append(piece);
    co_return answer.body.size() <= kMaxBackendBody;
  });
  if (!ok) {
    answer.ok = false;
    answer.error = "the answer broke off";
  } else if (o->parser->get().keep_alive()) {
    worker_.pool.release(std::move(o->conn));
  }
  co_return std::nullopt;
}

// The request's access-log line, span and metrics, once it is over.
void Session::mcp_finish(observability::ExchangeRecord &rec, const mcp::Exchange &ex) {
  rec.mcp_method = ex.rpc_method();
  rec.mcp_tool = ex.tool();
  rec.mcp_backend = ex.backend_name();
  rec.mcp_session_id = ex.session_id();
  rec.jsonrpc_id = ex.jsonrpc_id();
  if (rec.error.empty()) rec.error = ex.error();
  if (shared_.opts->access_log) observability::write_access_log(rec);
  std::string name = ex.tool();
  if (!name.empty() && !ex.backend_name().empty()) name = ex.backend_name() + "__" + name;
  observability::submit_mcp_span(rec, name, shared_.observe);
  if (shared_.opts->metrics) {
    auto &m = shared_.metrics->mcp();
    double seconds = std::chrono::duration<double>(Clock::now() - rec.start).count();
    auto outcome = ex.outcome(rec.status);
    m.record_request(ex.rpc_method(), ex.backend_name(), outcome,
                     outcome == "error" ? (rec.status >= 500   ? "internal_error"
                                           : rec.status == 400 ? "invalid_param"
                                                               : "access_denied")
                                        : "",
                     seconds);
    for (size_t i = 0; i < ex.progress_relayed(); ++i)
      m.record_progress();
    if (ex.rpc_method() == "initialize" && rec.status == 200) {
      m.record_initialization(seconds);
      for (const auto &c : ex.client_capabilities())
        m.record_capability(c, "client");
      for (const auto &c : ex.server_capabilities())
        m.record_capability(c, "server");
    }
  }
  rec_ = nullptr;
}

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
  if (shared_.observe.spans) { // this request's span, continuing the client's trace
    if (auto it = req.find("traceparent"); it != req.end())
      rec.parent = observability::parse_traceparent(it->value());
    rec.trace.trace_id = rec.parent ? rec.parent->trace_id : observability::random_hex(16);
    rec.trace.span_id = observability::random_hex(8);
    rec.trace.sampled = !rec.parent || rec.parent->sampled;
  }
  struct Finish {
    Session *s;
    observability::ExchangeRecord &rec;
    mcp::Exchange &ex;
    ~Finish() { s->mcp_finish(rec, ex); }
  };
  mcp::Exchange ex(route, *shared_.mcp_crypto, "0.1.0");
  Finish finish{this, rec, ex};
  mcp::Request r;
  r.method = req.method_string();
  r.headers = [&req](std::string_view name) -> std::optional<std::string_view> {
    auto it = req.find(name);
    if (it == req.end()) return std::nullopt;
    return it->value();
  };
  r.body = req.body();
  r.host = req[http::field::host];
  r.path = rec.path;
  if (auto q = req.target().find('?'); q != std::string_view::npos)
    r.query = req.target().substr(q + 1);
  if (route.authorization || route.has_backend_selector)
    for (const auto &f : req) {
      std::string name(f.name_string());
      std::transform(name.begin(), name.end(), name.begin(),
                     [](unsigned char c) { return std::tolower(c); });
      r.header_list.emplace_back(std::move(name), std::string(f.value()));
    }
  if (shared_.observe.spans)
    r.trace = [&rec](std::string_view client_traceparent) {
      // A traceparent in params._meta is the parent, over the header's (as upstream).
      if (auto meta = observability::parse_traceparent(client_traceparent)) {
        rec.parent = meta;
        rec.trace.trace_id = meta->trace_id;
        rec.trace.sampled = meta->sampled;
      }
      return observability::format_traceparent(rec.trace);
    };
  mcp::OAuthCache::Keys keys;
  if (route.oauth) {
    keys = co_await mcp_keys(route);
    r.keys = keys.get();
    r.now = unix_now();
  }
  auto deadline = Clock::now() + kCallTimeout;
  set_deadline(deadline);
  if (req.body().size() > max_request_body()) {
    mcp::Reply too_large{413, "text/plain; charset=utf-8", {}, "request body too large"};
    rec.status = 413;
    rec.error = too_large.body;
    std::string head_text = mcp_head(too_large, false);
    co_return co_await write_all(head_text, too_large.body);
  }
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
  // The span's "route to backend" events: each backend once, with the session it used or got.
  auto routed = [&](const mcp::BackendCall &c, const mcp::BackendAnswer *a) {
    if (!shared_.observe.spans) return;
    for (const auto &e : rec.mcp_routed)
      if (e.backend == c.backend->name) return;
    observability::McpRouted e;
    e.backend = c.backend->name;
    for (const auto &[name, value] : c.headers)
      if (name == "mcp-session-id") e.session_id = value;
    e.is_new = ex.rpc_method() == "initialize";
    if (e.is_new && a) e.session_id = a->session_id;
    e.unix_nano = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                            std::chrono::system_clock::now().time_since_epoch())
                                            .count());
    rec.mcp_routed.push_back(std::move(e));
  };
  while (auto *calls = std::get_if<std::vector<mcp::BackendCall>>(&step)) {
    if (ex.listening()) {
      set_deadline(Clock::time_point::max());
      co_return co_await mcp_listen(ex, std::move(*calls), rec, route);
    }
    std::vector<mcp::BackendAnswer> answers(calls->size());
    if (ex.relays_streams() && calls->size() == 1) {
      // One backend: its event stream is relayed as it comes; anything else is read whole.
      routed(calls->front(), nullptr);
      if (auto relayed = co_await mcp_single(ex, calls->front(), answers[0], rec, deadline))
        co_return *relayed;
    } else {
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
    }
    for (size_t i = 0; i < answers.size(); ++i)
      routed((*calls)[i], &answers[i]);
    for (size_t i = 0; i < answers.size(); ++i)
      if (!answers[i].ok)
        spdlog::warn("MCPRoute {}: backend {}: {}", route.key, (*calls)[i].backend->name,
                     answers[i].error);
    step = guarded([&] { return ex.on_answers(std::move(answers)); });
  }
  const auto &reply = std::get<mcp::Reply>(step);
  rec.status = reply.status;
  (void)snap; // held for the route's lifetime across the rounds
  std::string head_text = mcp_head(reply, false);
  std::string_view body = head_request_ ? std::string_view() : std::string_view(reply.body);
  co_return co_await write_all(head_text, body);
}

} // namespace aigw::proxy
