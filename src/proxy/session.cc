// Client sessions of the standalone host; see session.h.
#include "proxy/session.h"

#include "mcp/exchange.h"

#include "observability/access_log.h"
#include "pipeline/errors.h"
#include "proxy/h2.h"
#include "proxy/token_fetch.h"

#include <spdlog/spdlog.h>

#include <cstdio>
#include <span>

namespace aigw::proxy {
namespace {

constexpr auto kTuple = net::as_tuple(net::use_awaitable);
constexpr uint64_t kDirectBody = 64 * 1024; // bodies from this size are read by read_body_direct

std::string status_line(unsigned status) {
  std::string s = "HTTP/1.1 " + std::to_string(status) + " ";
  s.append(http::obsolete_reason(static_cast<http::status>(status)));
  s += "\r\n";
  return s;
}

// A write the socket takes at once needs no asynchronous operation: an operation that completes
// at once still has its completion posted, and the loop polls epoll before running it. The
// socket is tried first without blocking; only what it does not take waits for writability.
template <typename Buffers>
net::awaitable<beast::error_code> write_now(tcp::socket &s, const Buffers &bufs) {
  beast::error_code ec;
  if (!s.non_blocking()) s.non_blocking(true, ec);
  size_t total = net::buffer_size(bufs);
  size_t n = ec ? 0 : s.write_some(bufs, ec);
  if (!ec && n == total) co_return ec;
  if (ec && ec != net::error::would_block && ec != net::error::try_again) co_return ec;
  beast::buffers_suffix<Buffers> rest(bufs);
  rest.consume(n);
  auto [wec, wn] = co_await net::async_write(s, rest, kTuple);
  co_return wec;
}
// A client: TLS records are written through the stream.
template <typename Buffers>
net::awaitable<beast::error_code> write_now(ClientStream &c, const Buffers &bufs) {
  if (auto *tls = c.tls()) {
    auto [ec, n] = co_await net::async_write(*tls, bufs, kTuple);
    co_return ec;
  }
  co_return co_await write_now(c.socket(), bufs);
}

bool quiet_close(const beast::error_code &ec) {
  return ec == http::error::end_of_stream || ec == net::error::eof ||
         ec == net::error::connection_reset || ec == net::error::operation_aborted;
}

} // namespace

// --- The connection ------------------------------------------------------------------------

void Session::on_drain() {
  if (idle_) cancel_client();
}

void Session::cancel_client() {
  if (h2_) {
    h2_->cancel();
    return;
  }
  beast::error_code ignored;
  client_.socket().cancel(ignored);
}

std::string Session::take_buffered() {
  std::string bytes(static_cast<const char *>(buffer_.data().data()), buffer_.size());
  buffer_.consume(buffer_.size());
  return bytes;
}

std::string Session::too_large() const {
  return pipeline::error_body("PayloadTooLarge", 413,
                              "request body exceeds the limit of " +
                                  std::to_string(shared_.opts->max_request_body) + " bytes");
}

void Session::cut() {
  if (rec_ && !idle_) {
    cut_ = true; // the request's log line says so, whatever error the cut causes on the way
    shared_.metrics->health().drain_cut_requests.fetch_add(1, std::memory_order_relaxed);
  }
  cancel_client();
  if (race_) race_->cancel();
  if (active_upstream_) active_upstream_->cancel();
}

net::awaitable<void> Session::serve() {
  using namespace net::experimental::awaitable_operators;
  co_await (run() || watchdog());
}

net::awaitable<void> Session::watchdog() {
  for (;;) {
    auto now = Clock::now();
    // Idle for a second: the request buffer is not in use (the wait reads into first_read_).
    if (idle_ && buffer_.size() == 0 && buffer_.capacity() > 0 &&
        now - idle_since_ >= std::chrono::seconds(1))
      buffer_.shrink_to_fit();
    if (now >= deadline_) {
      timed_out_ = true;
      deadline_ = Clock::time_point::max();
      if (race_) race_->cancel();
      cancel_client();
      if (active_upstream_) active_upstream_->cancel();
    }
    // Sleep to the deadline, but look again at least every second: deadlines move without
    // telling the timer (only an earlier one cancels it).
    wake_at_ = std::min(deadline_, now + std::chrono::seconds(1));
    watchdog_timer_.expires_at(wake_at_);
    co_await watchdog_timer_.async_wait(kTuple); // woken early by set_deadline or cancellation
    auto cs = co_await net::this_coro::cancellation_state;
    if (cs.cancelled() != net::cancellation_type::none) co_return; // the session is over
  }
}

// Reads each request with its limits and deadlines (inline, not a coroutine of its own: one frame
// less per request), answers what is wrong with it, and hands the rest to handle().
net::awaitable<void> Session::run() {
  beast::error_code nodelay_ec;
  client_.socket().set_option(tcp::no_delay(true), nodelay_ec);
  if (auto *tls = client_.tls()) { // an HTTPS listener: the handshake has the header timeout
    set_deadline(Clock::now() + shared_.opts->request_header_timeout);
    auto [hec] = co_await tls->async_handshake(net::ssl::stream_base::server, kTuple);
    if (hec) {
      shared_.metrics->health().tls_handshake_errors.fetch_add(1, std::memory_order_relaxed);
      spdlog::debug("TLS handshake with a client failed: {}", hec.message());
      co_return;
    }
  }
  for (bool first = true;;) {
    if (worker_.draining) break;
    RequestParser parser;
    const auto &opts = *shared_.opts;
    parser.header_limit(static_cast<uint32_t>(opts.max_request_header));
    parser.body_limit(opts.max_request_body);
    head_request_ = false;
    http10_ = false;
    // Idle until the first byte of the next request; from it, the head has the header timeout.
    if (buffer_.size() == 0) {
      // The first bytes go into a small array of the session's, so the request buffer is not in
      // use while idle and the watchdog can free it (a connection idle past a second holds none).
      // A read, not a readiness wait: a wait costs an extra trip through the reactor.
      idle_ = true;
      idle_since_ = Clock::now();
      set_deadline(idle_since_ + opts.idle_timeout);
      auto [ec, got] = co_await client_.async_read_some(net::buffer(first_read_), kTuple);
      idle_ = false;
      if (ec) break; // gone, idle past the timeout, or drained
      buffer_.commit(net::buffer_copy(buffer_.prepare(got), net::buffer(first_read_.data(), got)));
      // A connection that opens with HTTP/2's preface is served by proxy/h2.cc.
      if (first && is_h2_preface(std::string_view(first_read_.data(), got))) {
        h2_handoff_ = true;
        co_return;
      }
    }
    first = false;
    idle_ = false;
    set_deadline(Clock::now() + opts.request_header_timeout);
    auto [ec, n] = co_await http::async_read_header(client_, buffer_, parser, kTuple);
    if (ec) {
      keep_alive_ = false;
      if (ec == http::error::header_limit)
        co_await reply(431, "text/plain", "request header fields too large");
      else if (ec == http::error::body_limit) // Beast checks Content-Length against the limit
        co_await reply(413, "application/json", too_large());
      else if (timed_out(ec))
        co_await reply(408, "text/plain", "request header timeout");
      else if (!quiet_close(ec))
        co_await reply(400, "text/plain", "bad request: " + ec.message());
      break;
    }
    auto &req = parser.get();
    head_request_ = req.method() == http::verb::head;
    http10_ = req.version() < 11;
    set_deadline(Clock::now() + std::chrono::seconds(60)); // the rest of the request
    if (auto bad = check_head(parser)) {
      keep_alive_ = false; // the body's end is unknown: nothing after it can be trusted
      co_await reply(bad->status, "text/plain", bad->message);
      break;
    }
    if (auto cl = parser.content_length(); cl && *cl > opts.max_request_body) {
      keep_alive_ = false;
      co_await reply(413, "application/json", too_large());
      break;
    }
    if (pipeline::iequals(req[http::field::expect], "100-continue")) {
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      if (!co_await write_all(kContinue)) break;
    }
    beast::error_code bec;
    if (auto cl = parser.content_length(); cl && *cl >= kDirectBody && !parser.is_done())
      bec = co_await read_body_direct(parser, static_cast<size_t>(*cl));
    else
      std::tie(bec, std::ignore) = co_await http::async_read(client_, buffer_, parser, kTuple);
    if (bec) {
      keep_alive_ = false;
      if (bec == http::error::body_limit)
        co_await reply(413, "application/json", too_large());
      else if (timed_out(bec))
        co_await reply(408, "text/plain", "request body timeout");
      else if (!quiet_close(bec))
        co_await reply(400, "text/plain", "bad request: " + bec.message());
      break;
    }
    keep_alive_ = parser.get().keep_alive();
    bool ok = co_await handle(parser);
    if (!ok || closing()) break;
  }
  beast::error_code ignored;
  client_.socket().shutdown(tcp::socket::shutdown_send, ignored);
}

// A large body of known length is read straight into the request's string, in reads as large
// as the socket gives (not through the connection buffer in 64 KiB steps), with room after it
// for the JSON parser to read it in place. The string grows 1 MiB ahead of what has come, so a
// client that declares a length and sends nothing holds no more than that.
net::awaitable<beast::error_code> Session::read_body_direct(RequestParser &parser, size_t len) {
  constexpr size_t kAhead = 1 << 20;
  auto &body = parser.get().body();
  body.clear();
  body.reserve(len + pipeline::kJsonPadding); // (reserved pages are not touched until written)
  size_t have = std::min(buffer_.size(), len);
  body.resize(have);
  net::buffer_copy(net::buffer(body.data(), have), buffer_.data());
  buffer_.consume(have);
  while (have < len) {
    body.resize(std::min(len, have + kAhead));
    auto [ec, n] = co_await client_.async_read_some(
        net::buffer(body.data() + have, body.size() - have), kTuple);
    have += n;
    if (ec == net::error::eof) ec = http::error::partial_message;
    if (ec) co_return ec;
  }
  body.resize(len);
  co_return beast::error_code{};
}

std::optional<pipeline::FramingError> Session::check_head(RequestParser &parser) {
  const auto &req = parser.get();
  const auto &opts = *shared_.opts;
  if (static_cast<size_t>(std::distance(req.begin(), req.end())) > opts.max_request_headers)
    return pipeline::FramingError{431, "too many request headers (limit " +
                                           std::to_string(opts.max_request_headers) + ")"};
  // The request's fields, listed once for the framing checks and the provider's head (views
  // into the parser's message; the vector's capacity is kept across requests).
  head_fields_.clear();
  for (const auto &f : req)
    head_fields_.emplace_back(f.name_string(), f.value());
  return pipeline::check_request_framing(req.version(), head_fields_);
}

net::awaitable<void> Session::serve_stream(RequestParser &parser, unsigned refuse,
                                           std::string_view why) {
  using namespace net::experimental::awaitable_operators;
  // (A pointer: GCC 12 passed this coroutine's reference parameter on to the next one with a
  // wrong `this`.)
  auto request = stream_request(&parser, refuse, why);
  auto dog = watchdog();
  co_await (std::move(request) || std::move(dog));
}

void Session::client_gone() {
  client_gone_ = true;
  if (race_) race_->cancel();
  if (active_upstream_) active_upstream_->cancel();
}

net::awaitable<void> Session::stream_request(RequestParser *pp, unsigned refuse,
                                             std::string_view why) {
  auto &parser = *pp;
  idle_ = false;
  head_request_ = parser.get().method() == http::verb::head;
  set_deadline(Clock::now() + std::chrono::seconds(60));
  switch (refuse) {
  case 0: break;
  case 413: co_await reply(413, "application/json", too_large()); co_return;
  case 431: co_await reply(431, "text/plain", "request header fields too large"); co_return;
  case 408: co_await reply(408, "text/plain", "request body timeout"); co_return;
  default: co_await reply(refuse, "text/plain", "bad request: " + std::string(why)); co_return;
  }
  if (auto bad = check_head(parser)) {
    co_await reply(bad->status, "text/plain", bad->message);
    co_return;
  }
  co_await handle(parser);
}

// --- Writing -------------------------------------------------------------------------------

net::awaitable<beast::error_code>
Session::to_client(const std::span<const net::const_buffer> &bufs) {
  return h2_ ? h2_->write(bufs) : write_now(client_, bufs);
}

net::awaitable<bool> Session::write_all(std::string_view a, std::string_view b) {
  std::array<net::const_buffer, 2> bufs{net::buffer(a.data(), a.size()),
                                        net::buffer(b.data(), b.size())};
  const std::span<const net::const_buffer> all(bufs);
  auto ec = co_await to_client(all);
  co_return !ec;
}

// The buffers of one write: [head] [a body piece, chunk-framed when `chunked`] [the last chunk].
// Built by a plain function so that writing takes no coroutine frame of its own.
struct PieceWrite {
  std::array<net::const_buffer, 5> bufs;
  size_t n = 0;
  char size_line[24];
  PieceWrite(std::string_view head, std::string_view piece, bool chunked, bool last) {
    if (!head.empty()) bufs[n++] = net::buffer(head.data(), head.size());
    if (!piece.empty()) {
      if (chunked) {
        int len = std::snprintf(size_line, sizeof size_line, "%zx\r\n", piece.size());
        bufs[n++] = net::buffer(size_line, static_cast<size_t>(len));
        bufs[n++] = net::buffer(piece.data(), piece.size());
        bufs[n++] = net::buffer("\r\n", 2);
      } else {
        bufs[n++] = net::buffer(piece.data(), piece.size());
      }
    }
    if (last && chunked) bufs[n++] = net::buffer("0\r\n\r\n", 5);
  }
  std::span<const net::const_buffer> buffers() const { return {bufs.data(), n}; }
};

net::awaitable<bool> Session::reply(unsigned status, std::string_view content_type,
                                    std::string_view body, std::string_view extra_headers) {
  std::string head = status_line(status);
  head += "content-type: ";
  head += content_type;
  head += "\r\ncontent-length: " + std::to_string(body.size()) + "\r\n";
  head += "x-content-type-options: nosniff\r\n";
  head += extra_headers;
  if (closing()) head += "connection: close\r\n";
  head += "\r\n";
  if (rec_) rec_->status = static_cast<int>(status);
  co_return co_await write_all(head, head_request_ ? std::string_view() : body);
}

net::awaitable<bool> Session::reply(const pipeline::LocalReply &r) {
  std::string extra;
  for (const auto &[name, value] : r.headers)
    extra.append(name).append(": ").append(value).append("\r\n");
  co_return co_await reply(static_cast<unsigned>(r.status), r.content_type, r.body, extra);
}

// --- The request lifecycle -----------------------------------------------------------------

net::awaitable<bool> Session::handle(RequestParser &parser) {
  auto &req = parser.get();
  if (auto snap = shared_.store->current(); !snap->mcp_routes.empty()) {
    HeaderLookup lookup = [&req](std::string_view name) -> std::optional<std::string_view> {
      auto it = req.find(name);
      if (it == req.end()) return std::nullopt;
      return it->value();
    };
    if (const auto *route = mcp::match_route(*snap, req.target(), req[http::field::host], lookup))
      co_return co_await mcp(parser, *route, std::move(snap));
    if (shared_.mcp_only)
      if (const auto *route = mcp::session_route(*snap, req["mcp-session-id"], *shared_.mcp_crypto))
        co_return co_await mcp(parser, *route, std::move(snap));
    std::string_view path = req.target().substr(0, req.target().find('?'));
    if (path.starts_with("/.well-known/"))
      if (auto served = co_await mcp_well_known(path, *snap, lookup)) co_return *served;
  }
  if (shared_.mcp_only) // as upstream's proxy answers a request Envoy did not name a route for
    co_return co_await reply(500, "text/plain; charset=utf-8", "missing route header", "");
  pipeline::Exchange ex(shared_.store->current(), shared_.exchange, shared_.services);
  auto &rec = ex.record();
  rec_ = &rec;
  // Whatever way the request ends: budgets settled or refunded, the log line, the metrics.
  struct Finish {
    Session *s;
    pipeline::Exchange &ex;
    ~Finish() {
      s->apply(ex.complete(false));
      auto &r = ex.record();
      if (s->cut_) r.error = "cut by shutdown: the drain timeout ran out";
      if (s->shared_.opts->access_log) observability::write_access_log(r);
      observability::observe_exchange(r, s->worker_.index, s->shared_.observe);
      s->rec_ = nullptr;
    }
  } finish{this, ex};
  shared_.requests->fetch_add(1, std::memory_order_relaxed);

  pipeline::RequestHead head;
  head.method = req.method_string();
  head.target = req.target();
  head.host = req[http::field::host];
  if (!peer_known_) { // once per connection (ConsistentHash by SourceIP reads it)
    peer_known_ = true;
    beast::error_code pec;
    if (h2_) {
      peer_ = h2_->peer();
    } else if (auto ep = client_.socket().remote_endpoint(pec); !pec) {
      peer_ = ep.address().to_string();
    }
  }
  head.client_address = peer_;
  head.headers = [&req](std::string_view name) -> std::optional<std::string_view> {
    auto it = req.find(name);
    if (it == req.end()) return std::nullopt;
    return it->value();
  };
  if (auto r = ex.on_request_headers(head)) co_return co_await reply(*r);
  if (auto r = ex.on_request_body(std::move(req.body()), true)) co_return co_await reply(*r);
  if (const auto *key = ex.cache_lookup()) { // before admission: a hit costs no budget
    auto entry = co_await cache_get(*key);
    if (ex.on_cache(std::move(entry))) co_return co_await replay(ex);
  }
  if (auto *c = ex.admission())
    if (auto r = ex.on_admitted(co_await check(*c))) co_return co_await reply(*r);
  co_return co_await attempts(ex);
}

net::awaitable<std::optional<ratelimit::Verdict>> Session::check(pipeline::BudgetCheck &c) {
  const auto *estimate = c.estimate.empty() ? nullptr : &c.estimate;
  if (worker_.redis) co_return co_await worker_.redis->admit(c.hits, c.now, estimate, c.any_allows);
  co_return ratelimit::admit(*shared_.budgets, c.hits, c.now, estimate, c.any_allows);
}

void Session::apply(const pipeline::Settlement &s) {
  for (const auto *part : {&s.route, &s.quota})
    if (part->hits && !part->hits->empty() && !part->keep) charge(*part->hits, part->costs);
  if (!s.cache.key) return;
  if (shared_.response_cache_redis && worker_.redis)
    worker_.redis->put(*s.cache.key, *s.cache.value, s.cache.ttl_seconds);
  else if (shared_.response_cache)
    shared_.response_cache->put(*s.cache.key, *s.cache.value, unix_now() + s.cache.ttl_seconds);
}

net::awaitable<std::optional<std::string>> Session::cache_get(const std::string &key) {
  if (shared_.response_cache_redis && worker_.redis) co_return co_await worker_.redis->get(key);
  if (shared_.response_cache) co_return shared_.response_cache->get(key, unix_now());
  co_return std::nullopt;
}

// A cache hit: a streamed answer's chunks written one by one, as they first went out (each its
// own HTTP/1.1 chunk or HTTP/2 DATA frame); any other answer as one body.
net::awaitable<bool> Session::replay(pipeline::Exchange &ex) {
  const auto &hit = ex.cached();
  if (!hit.stream || http10_) co_return co_await reply(ex.cached_reply());
  std::string head = status_line(200);
  head.append("content-type: ").append(hit.content_type).append("\r\n");
  head += "cache-control: no-cache\r\n";
  for (const auto &[name, value] : ex.cached_headers())
    head.append(name).append(": ").append(value).append("\r\n");
  if (closing()) head += "connection: close\r\n";
  head += "transfer-encoding: chunked\r\n\r\n";
  client_chunked_ = true;
  ActiveGauge active_stream(shared_.metrics->health().active_streams);
  for (size_t i = 0; i < hit.chunks.size(); ++i) {
    PieceWrite w(i == 0 ? std::string_view(head) : std::string_view(), hit.chunks[i], true,
                 i + 1 == hit.chunks.size());
    auto pieces = w.buffers();
    auto wec = co_await to_client(pieces);
    if (wec) {
      ex.record().error = "client went away";
      co_return false;
    }
  }
  co_return true;
}

// Settles the buckets to `costs`, or refunds their reservations when `costs` is null.
void Session::charge(const std::vector<ratelimit::Hit> &hits, const ratelimit::CostValues *costs) {
  int64_t now = unix_now();
  if (!worker_.redis) {
    if (costs)
      ratelimit::settle(*shared_.budgets, hits, *costs, now);
    else
      ratelimit::refund(*shared_.budgets, hits, now);
    return;
  }
  std::vector<std::pair<std::string, int64_t>> deltas;
  std::vector<int64_t> ttls;
  for (const auto &h : hits) {
    deltas.emplace_back(h.key, ratelimit::settlement_delta(h, costs));
    ttls.push_back(h.window_end - now + 1);
  }
  worker_.redis->adjust(deltas, ttls);
}

net::awaitable<bool> Session::attempts(pipeline::Exchange &ex) {
  for (auto next = ex.next_attempt();;) {
    if (next == pipeline::Next::kReply && ex.continuing()) co_return co_await end_continued(ex);
    if (next == pipeline::Next::kReply) co_return co_await reply(ex.take_reply());
    if (next == pipeline::Next::kFetchToken) {
      auto until = std::min(ex.deadline(), Clock::now() + std::chrono::seconds(30));
      next = ex.on_token(co_await fetch_token(*shared_.tokens, ex.backend(), worker_.pool, until));
      continue;
    }
    if (next == pipeline::Next::kCheckQuota) {
      next = ex.on_quota(co_await check(*ex.quota_check()));
      continue;
    }
    const auto &call = ex.call();
    const auto &backend = ex.backend();
    pipeline::UpstreamHead uh{call.method,      call.path,          backend.host_header,
                              call.model,       call.authorization, ex.record().request_id,
                              call.body.size(), &call.headers};
    uh.values_checked = true; // the Exchange checked every value of its call
    uh.remove = &call.remove_headers;
    auto built = pipeline::build_request_head(uh, head_fields_, *call.mutation);
    if (!built) {
      auto refused = ex.refuse_call(built.error());
      if (ex.continuing()) co_return co_await end_continued(ex); // the client has a head
      co_return co_await reply(refused);
    }
    if (auto delay = ex.hedge_delay()) {
      auto answered = co_await hedged(ex, std::move(*built), *delay);
      if (answered) co_return *answered;
      next = ex.next_attempt();
      continue;
    }
    // The attempt's I/O: acquire or connect, write head and body, read the final response head;
    // a pooled connection the provider closed while idle is replaced once. Inline, not a
    // coroutine of its own: one frame less per request.
    Attempt a;
    auto try_deadline = ex.attempt_deadline();
    try_deadline_ = try_deadline;
    set_deadline(try_deadline); // connecting counts against the attempt's deadline too
    a.conn = co_await worker_.pool.acquire(backend, try_deadline, &a.detail);
    bool got_head = false;
    for (int round = 0; round < 2 && !got_head && !a.failure; ++round) {
      if (!a.conn) {
        a.failure = pipeline::AttemptFailure::kConnect;
        break;
      }
      set_deadline(try_deadline);
      a.parser.emplace();
      a.parser->body_limit(boost::none);
      arm_idle(ex); // the head too must come within the streamIdleTimeout
      auto &conn = *a.conn;
      active_upstream_ = &conn;
      std::array<net::const_buffer, 2> bufs{net::buffer(*built),
                                            net::buffer(call.body.data(), call.body.size())};
      beast::error_code ec;
      if (conn.tls())
        std::tie(ec, std::ignore) = co_await net::async_write(conn.tls_stream(), bufs, kTuple);
      else
        ec = co_await write_now(conn.socket(), bufs);
      // Interim responses (103 Early Hints, 100 Continue) are not the answer: skip them and read
      // the final head (101 never comes: the gateway asks for no upgrade).
      for (int interim = 0; !ec && !got_head; ++interim) {
        if (conn.tls())
          std::tie(ec, std::ignore) =
              co_await http::async_read_header(conn.tls_stream(), conn.buffer(), *a.parser, kTuple);
        else
          std::tie(ec, std::ignore) =
              co_await http::async_read_header(conn.socket(), conn.buffer(), *a.parser, kTuple);
        if (ec) break;
        unsigned code = a.parser->get().result_int();
        if (code >= 200 || code == 101) {
          got_head = true;
        } else if (interim >= 16) {
          ec = http::error::bad_status; // a provider that only ever sends interim heads
        } else {
          a.parser.emplace();
          a.parser->body_limit(boost::none);
        }
      }
      if (got_head) break;
      active_upstream_ = nullptr;
      if (client_gone_) break;
      if (timed_out(ec)) {
        a.failure =
            idle_fired() ? pipeline::AttemptFailure::kIdle : pipeline::AttemptFailure::kTimeout;
      } else if (a.conn->reused && round == 0 && !a.parser->got_some()) {
        // A pooled connection the provider closed while idle: open a fresh one, once.
        a.conn = co_await worker_.pool.connect(backend, try_deadline, &a.detail);
      } else {
        a.failure = pipeline::AttemptFailure::kReset;
      }
    }
    if (!got_head && !a.failure) a.failure = pipeline::AttemptFailure::kReset;
    if (a.failure) a.conn.reset();
    if (client_gone_) { // no one to answer: no retry either
      ex.record().error = "client went away";
      co_return false;
    }
    if (a.failure) {
      if (!ex.on_attempt_failed(*a.failure, a.detail)) {
        // (No co_await inside a conditional expression: GCC 12 miscompiles it.)
        if (ex.continuing()) co_return co_await end_continued(ex);
        co_return co_await reply(ex.take_reply());
      }
      next = ex.next_attempt();
      continue;
    }
    active_upstream_ = a.conn.get();
    std::string().swap(*built); // sent: a long stream does not keep the provider's request head
    auto plan = plan_answer(ex, a);
    if (plan.retry) { // the connection is dropped: its body is not worth reading
      active_upstream_ = nullptr;
      next = ex.next_attempt();
      continue;
    }
    if (ex.continuing() && !plan.continuing) { // a continuation answered with an error
      active_upstream_ = nullptr;
      co_return co_await end_continued(ex);
    }
    std::string head = response_head(ex, plan, a);
    bool ok;
    if (plan.mode == pipeline::BodyMode::kGather)
      ok = co_await relay_gathered(ex, a, std::move(head));
    else
      ok = co_await relay_stream(ex, plan, a, std::move(head));
    active_upstream_ = nullptr;
    if (stream_retry_) { // the stream failed before content reached the client: the next one
      stream_retry_ = false;
      next = ex.next_attempt();
      continue;
    }
    co_return ok;
  }
}

// A continued stream no backend could carry on: it ends as a broken stream does, with the error
// event in the client's schema and the body's last chunk.
net::awaitable<bool> Session::end_continued(pipeline::Exchange &ex) {
  std::string ev;
  ex.stream_error(pipeline::StreamFailure::kReset, "no backend could continue it", ev, false);
  apply(ex.complete(false));
  PieceWrite w({}, ev, client_chunked_, true);
  auto pieces = w.buffers();
  auto wec = co_await to_client(pieces);
  co_return !wec;
}

// --- Hedged attempts ---------------------------------------------------------------------------

// One attempt of a hedged request, run by a coroutine of its own. It owns what it sends, so a
// leg that lost the race can be left to end by itself (its connection cancelled) after the
// session has moved on.
struct Session::HedgeLeg {
  Attempt a;
  std::string head, body;
  std::shared_ptr<const control::CompiledBackend> backend;
  Clock::time_point deadline;
  bool done = false, got_head = false, abandoned = false;
  // The race's timer, cancelled when this leg is done (shared: the leg may outlive the race).
  std::shared_ptr<net::steady_timer> notify;
};

std::shared_ptr<Session::HedgeLeg> Session::make_leg(pipeline::Exchange &ex, std::string head) {
  auto leg = std::make_shared<HedgeLeg>();
  leg->head = std::move(head);
  leg->body = std::string(ex.call().body);
  leg->backend = ex.backend_shared();
  leg->deadline = ex.attempt_deadline();
  return leg;
}

// Connect (or take a pooled connection), send, read the final response head: the attempt's I/O,
// as attempts() does it inline, for a leg.
net::awaitable<void> Session::run_leg(Worker *worker, std::shared_ptr<HedgeLeg> leg) {
  auto &a = leg->a;
  a.conn = co_await worker->pool.acquire(*leg->backend, leg->deadline, &a.detail);
  for (int round = 0; round < 2 && !leg->got_head && !a.failure && !leg->abandoned; ++round) {
    if (!a.conn) {
      a.failure = pipeline::AttemptFailure::kConnect;
      break;
    }
    a.parser.emplace();
    a.parser->body_limit(boost::none);
    auto &conn = *a.conn;
    std::array<net::const_buffer, 2> bufs{net::buffer(leg->head), net::buffer(leg->body)};
    beast::error_code ec;
    if (conn.tls())
      std::tie(ec, std::ignore) = co_await net::async_write(conn.tls_stream(), bufs, kTuple);
    else
      ec = co_await write_now(conn.socket(), bufs);
    for (int interim = 0; !ec && !leg->got_head && interim < 17; ++interim) {
      if (conn.tls())
        std::tie(ec, std::ignore) =
            co_await http::async_read_header(conn.tls_stream(), conn.buffer(), *a.parser, kTuple);
      else
        std::tie(ec, std::ignore) =
            co_await http::async_read_header(conn.socket(), conn.buffer(), *a.parser, kTuple);
      if (ec) break;
      unsigned code = a.parser->get().result_int();
      if (code >= 200 || code == 101) {
        leg->got_head = true;
      } else {
        a.parser.emplace();
        a.parser->body_limit(boost::none);
      }
    }
    if (leg->got_head || leg->abandoned) break;
    if (a.conn->reused && round == 0 && !a.parser->got_some())
      a.conn = co_await worker->pool.connect(*leg->backend, leg->deadline, &a.detail);
    else
      a.failure = ec == net::error::operation_aborted ? pipeline::AttemptFailure::kTimeout
                                                      : pipeline::AttemptFailure::kReset;
  }
  if (!leg->got_head && !a.failure) a.failure = pipeline::AttemptFailure::kReset;
  leg->done = true;
  if (leg->notify) leg->notify->cancel();
}

net::awaitable<std::optional<bool>> Session::hedged(pipeline::Exchange &ex, std::string head,
                                                    std::chrono::milliseconds delay) {
  auto wake = std::make_shared<net::steady_timer>(worker_.io);
  // While the race runs, a client that leaves, a drain's cut and the watchdog wake it.
  race_ = wake.get();
  struct Unregister {
    net::steady_timer *&race;
    ~Unregister() { race = nullptr; }
  } unregister{race_};
  auto first = make_leg(ex, std::move(head));
  first->notify = wake;
  try_deadline_ = first->deadline;
  set_deadline(first->deadline);
  net::co_spawn(worker_.io, run_leg(&worker_, first), net::detached);
  if (!first->done) {
    wake->expires_after(delay);
    co_await wake->async_wait(kTuple);
  }
  std::shared_ptr<HedgeLeg> second;
  if (!first->done) { // slow: a second attempt goes out beside it
    ex.park_attempt();
    auto next = ex.next_attempt();
    if (next == pipeline::Next::kFetchToken) {
      auto until = std::min(ex.deadline(), Clock::now() + std::chrono::seconds(30));
      next = ex.on_token(co_await fetch_token(*shared_.tokens, ex.backend(), worker_.pool, until));
    }
    if (next == pipeline::Next::kSend) {
      const auto &call = ex.call();
      pipeline::UpstreamHead uh{call.method,      call.path,          ex.backend().host_header,
                                call.model,       call.authorization, ex.record().request_id,
                                call.body.size(), &call.headers};
      uh.values_checked = true;
      uh.remove = &call.remove_headers;
      if (auto built = pipeline::build_request_head(uh, head_fields_, *call.mutation)) {
        second = make_leg(ex, std::move(*built));
        second->notify = wake;
        net::co_spawn(worker_.io, run_leg(&worker_, second), net::detached);
        ex.hedge_sent();
      }
    }
    if (!second) ex.take_parked(); // no second attempt after all: the first is the request's
  }
  // The first response head wins; the race ends at the attempts' deadline.
  auto until = std::max(first->deadline, second ? second->deadline : first->deadline);
  try_deadline_ = until;
  set_deadline(until);
  auto answered = [](const std::shared_ptr<HedgeLeg> &l) { return l && l->done && l->got_head; };
  while (!answered(first) && !answered(second) && !(first->done && (!second || second->done)) &&
         Clock::now() < until && !client_gone_ && !cut_ && !timed_out_) {
    wake->expires_at(until);
    co_await wake->async_wait(kTuple);
  }
  auto abandon = [](const std::shared_ptr<HedgeLeg> &l) {
    if (!l) return;
    l->notify = nullptr;
    l->abandoned = true;
    if (l->a.conn) l->a.conn->cancel();
  };
  std::shared_ptr<HedgeLeg> win = answered(first) ? first : answered(second) ? second : nullptr;
  if (win == first) {
    abandon(second);
    if (second) ex.take_parked();
  } else if (win) {
    abandon(first);
    ex.drop_parked(true);
  } else {
    abandon(first);
    abandon(second);
    auto &lost = second ? *second : *first;
    if (second) ex.drop_parked(false);
    if (client_gone_) {
      ex.record().error = "client went away";
      co_return false;
    }
    auto failure = lost.done ? lost.a.failure.value_or(pipeline::AttemptFailure::kReset)
                             : pipeline::AttemptFailure::kTimeout;
    if (!ex.on_attempt_failed(failure, lost.a.detail)) co_return co_await reply(ex.take_reply());
    co_return std::nullopt;
  }
  // The winner's answer, as attempts() relays one.
  auto &a = win->a;
  active_upstream_ = a.conn.get();
  try_deadline_ = win->deadline;
  set_deadline(win->deadline);
  auto plan = plan_answer(ex, a);
  if (plan.retry) {
    active_upstream_ = nullptr;
    co_return std::nullopt;
  }
  std::string rhead = response_head(ex, plan, a);
  bool ok;
  if (plan.mode == pipeline::BodyMode::kGather)
    ok = co_await relay_gathered(ex, a, std::move(rhead));
  else
    ok = co_await relay_stream(ex, plan, a, std::move(rhead));
  active_upstream_ = nullptr;
  co_return ok;
}

// --- One attempt -----------------------------------------------------------------------------

net::awaitable<std::pair<beast::error_code, size_t>> Session::read_some(Attempt &a, char *buf,
                                                                        size_t cap) {
  auto &res = a.parser->get();
  res.body().data = buf;
  res.body().size = cap;
  beast::error_code ec;
  // read_some: hand over whatever arrived, so streams are relayed as they come.
  if (a.conn->tls())
    std::tie(ec, std::ignore) =
        co_await http::async_read_some(a.conn->tls_stream(), a.conn->buffer(), *a.parser, kTuple);
  else
    std::tie(ec, std::ignore) =
        co_await http::async_read_some(a.conn->socket(), a.conn->buffer(), *a.parser, kTuple);
  if (ec == http::error::need_buffer) ec = {};
  co_return std::pair{ec, cap - res.body().size};
}

// The next piece of the body: parsed from what the connection holds into a relay buffer, read
// from the provider (into the connection's own buffer, holding no relay buffer) only when the
// parser needs more.
net::awaitable<std::pair<beast::error_code, size_t>>
Session::next_piece(Attempt &a, std::optional<RelayLease> &relay) {
  auto &b = a.conn->buffer();
  auto &p = *a.parser;
  for (;;) {
    if (b.size() > 0) {
      if (!relay) relay.emplace(worker_);
      auto &buf = relay->buffer();
      auto &body = p.get().body();
      body.data = buf.data();
      body.size = buf.size();
      beast::error_code ec;
      size_t used = p.put(b.data(), ec);
      b.consume(used);
      size_t got = buf.size() - body.size;
      if (ec == http::error::need_buffer) ec = {}; // the relay buffer is full
      if (ec && ec != http::error::need_more) co_return std::pair{ec, got};
      if (got > 0 || p.is_done()) co_return std::pair{beast::error_code{}, got};
      if (!ec && used > 0) continue; // framing consumed (a chunk header), no body byte yet
    }
    relay.reset(); // waiting for the provider: a slow stream holds no relay buffer
    size_t n = std::clamp<size_t>(b.capacity() - b.size(), 512, 16384);
    beast::error_code ec;
    size_t got = 0;
    if (a.conn->tls())
      std::tie(ec, got) = co_await a.conn->tls_stream().async_read_some(b.prepare(n), kTuple);
    else
      std::tie(ec, got) = co_await a.conn->socket().async_read_some(b.prepare(n), kTuple);
    b.commit(got);
    if (ec == net::error::eof || ec == net::ssl::error::stream_truncated) {
      p.put_eof(ec); // a body that ends with the connection ends here; any other is cut short
      co_return std::pair{ec, size_t{0}};
    }
    if (ec) co_return std::pair{ec, size_t{0}};
  }
}

void Session::release(Attempt &a, bool keep_alive) {
  active_upstream_ = nullptr;
  if (keep_alive && a.parser->is_done() && a.parser->get().keep_alive())
    worker_.pool.release(std::move(a.conn));
  a.conn.reset();
}

// --- The answer ------------------------------------------------------------------------------

// The provider's response head, handed to the Exchange: how to relay the answer (or retry).
pipeline::ResponsePlan Session::plan_answer(pipeline::Exchange &ex, Attempt &a) {
  ex.record().upstream_host = a.conn->peer;
  auto &res = a.parser->get();
  HeaderLookup provider_headers = [&res](std::string_view name) -> std::optional<std::string_view> {
    auto it = res.find(name);
    if (it == res.end()) return std::nullopt;
    return it->value();
  };
  return ex.on_response_headers(res.result_int(), res[http::field::content_type],
                                res["x-amzn-errortype"], true, res[http::field::content_encoding],
                                res["x-amzn-requestid"], &provider_headers);
}

// Between reads of one attempt, the rule's streamIdleTimeout bounds the wait (a store, no timer).
void Session::arm_idle(const pipeline::Exchange &ex) {
  idle_armed_ = false;
  if (auto idle = ex.stream_idle_timeout()) {
    auto at = Clock::now() + *idle;
    if (at < try_deadline_) {
      set_deadline(at);
      idle_armed_ = true;
      return;
    }
  }
  set_deadline(try_deadline_);
}

bool Session::idle_fired() const { return idle_armed_ && Clock::now() < try_deadline_; }

pipeline::StreamFailure Session::stream_failure(pipeline::Exchange &ex,
                                                const beast::error_code &ec) {
  if (client_gone_) {
    ex.record().error = "client went away";
    return pipeline::StreamFailure::kReset;
  }
  if (timed_out(ec)) {
    bool idle = idle_fired();
    ex.record().error = idle ? "upstream stream idle timeout" : "upstream request timeout";
    return idle ? pipeline::StreamFailure::kIdle : pipeline::StreamFailure::kTimeout;
  }
  ex.record().error = "upstream stream error: " + ec.message();
  return pipeline::StreamFailure::kReset;
}

std::string Session::response_head(pipeline::Exchange &ex, const pipeline::ResponsePlan &plan,
                                   Attempt &a) {
  auto &res = a.parser->get();
  unsigned status = res.result_int();
  std::string head = status_line(status);
  for (const auto &f : res) {
    if (pipeline::is_hop_by_hop(f.name_string())) continue;
    if (plan.drop_content_type && f.name() == http::field::content_type) continue;
    if (plan.drop_content_encoding && f.name() == http::field::content_encoding) continue;
    head.append(f.name_string()).append(": ").append(f.value()).append("\r\n");
  }
  // An HTTP/1.0 client cannot read chunked framing: a body of unknown length is delimited by
  // closing the connection.
  if (http10_ && status < 300 &&
      (plan.mode == pipeline::BodyMode::kTranslate ||
       (plan.mode == pipeline::BodyMode::kRelay && !a.parser->content_length())))
    keep_alive_ = false;
  // A translated stream says what it is (Bedrock's event stream becomes text/event-stream); a
  // gathered answer's content type comes with it.
  if (plan.mode == pipeline::BodyMode::kTranslate && !plan.content_type.empty())
    head.append("content-type: ").append(plan.content_type).append("\r\n");
  if (closing()) head += "connection: close\r\n";
  for (const auto &[name, value] : ex.response_headers())
    head.append(name).append(": ").append(value).append("\r\n");
  return head;
}

// Errors and translated non-streamed answers: read whole (bounded), then answered at once.
net::awaitable<bool> Session::relay_gathered(pipeline::Exchange &ex, Attempt &a, std::string head) {
  RelayLease relay(worker_);
  auto &buf = relay.buffer();
  bool read_ok = true;
  while (!a.parser->is_done()) {
    arm_idle(ex);
    auto [ec, got] = co_await read_some(a, buf.data(), buf.size());
    bool more = ex.gather(std::string_view(buf.data(), got));
    if (ec || !more) {
      read_ok = false;
      break;
    }
  }
  active_upstream_ = nullptr;
  auto g = ex.finish_gathered(read_ok);
  apply(ex.complete(true)); // charged before the client can send its next request
  if (g.local) co_return co_await reply(g.reply);
  release(a, read_ok);
  if (!g.reply.content_type.empty()) head += "content-type: " + g.reply.content_type + "\r\n";
  head += "content-length: " + std::to_string(g.reply.body.size()) + "\r\n\r\n";
  co_return co_await write_all(head, head_request_ ? std::string_view() : g.reply.body);
}

// The body as it comes, with backpressure: relayed and scanned for usage (passthrough), or
// translated piece by piece (a translated stream). Bodies of unknown length are chunked to
// HTTP/1.1 clients and close-delimited to HTTP/1.0 ones.
net::awaitable<bool> Session::relay_stream(pipeline::Exchange &ex,
                                           const pipeline::ResponsePlan &plan, Attempt &a,
                                           std::string head) {
  bool translated = plan.mode == pipeline::BodyMode::kTranslate;
  auto length = a.parser->content_length();
  if (translated) length.reset(); // the translated body's length is not the provider's
  // 204 and 304 have no body, so no body framing either (a chunked terminator would be read as
  // the start of the next response).
  unsigned status = a.parser->get().result_int();
  bool bodiless = status == 204 || status == 304;
  bool chunked = !length.has_value() && !http10_ && !bodiless;
  if (plan.continuing) chunked = client_chunked_; // the client's body goes on as it was framed
  client_chunked_ = chunked;
  if (translated) head += "cache-control: no-cache\r\n";
  if (bodiless)
    head += "\r\n";
  else if (length)
    head += "content-length: " + std::to_string(*length) + "\r\n\r\n";
  else if (chunked)
    head += "transfer-encoding: chunked\r\n\r\n";
  else
    head += "\r\n"; // HTTP/1.0: the body ends when the connection closes
  // A held stream (another attempt left) keeps its head and first events until content begins:
  // if it fails before that, the next attempt's stream replaces it and the client never knows.
  bool holding = plan.hold;
  std::string held;
  // When body bytes already arrived with the head, the head goes out with them in one write;
  // otherwise (a stream still thinking, or one to translate) the client gets the head at once.
  bool head_pending = !plan.continuing; // a continuation: the client has the head
  if (head_pending && !holding &&
      (translated || (a.conn->buffer().size() == 0 && !a.parser->is_done()))) {
    if (!co_await write_all(head)) co_return false;
    head_pending = false;
  }
  std::optional<ActiveGauge> active_stream;
  if (plan.sse) active_stream.emplace(shared_.metrics->health().active_streams);
  // The relay buffer is held only while there are bytes to parse and write: a stream waiting
  // for its provider's next event holds none (thousands of slow streams at once).
  std::optional<RelayLease> relay;
  std::string out; // the translated pieces
  const char *piece_buf = nullptr;
  for (;;) {
    size_t got = 0;
    std::optional<pipeline::StreamFailure> failure;
    beast::error_code ec;
    if (!a.parser->is_done()) {
      arm_idle(ex);
      std::tie(ec, got) = co_await next_piece(a, relay);
      piece_buf = relay ? relay->buffer().data() : nullptr;
      if (ec) failure = stream_failure(ex, ec);
    }
    bool done = a.parser->is_done() && !failure;
    std::string_view piece(piece_buf, got);
    if (translated) {
      out.clear();
      ex.translate(piece, done, out);
      piece = out;
    } else {
      ex.observe(piece);
    }
    if (holding && !client_gone_) {
      auto st = failure ? pipeline::StreamGuard::State::kFailed : ex.hold_state(done);
      if (st == pipeline::StreamGuard::State::kFailed) {
        if (ex.retry_stream(failure.value_or(ex.hold_failure()), ec ? ec.message() : "")) {
          release(a, false);
          stream_retry_ = true;
          co_return false;
        }
        st = pipeline::StreamGuard::State::kCommitted; // no attempt left: it goes out as it is
      }
      if (st == pipeline::StreamGuard::State::kHolding) {
        PieceWrite w(head_pending ? std::string_view(head) : std::string_view(), piece, chunked,
                     false);
        for (const auto &b : w.buffers())
          held.append(static_cast<const char *>(b.data()), b.size());
        head_pending = false;
        continue;
      }
      holding = false; // content: what was held goes first, then the stream as it comes
      if (!held.empty() && !co_await write_all(held)) {
        ex.record().error = "client went away";
        co_return false;
      }
      std::string().swap(held);
    }
    // After content, a broken stream ends with an error event in the client's schema (its
    // usage so far charged), not with a cut body a client might take for the whole answer.
    std::string closing_event;
    if (failure && !client_gone_ && plan.sse && (chunked || h2_)) {
      if (!piece.empty()) { // what came before the break goes out first
        PieceWrite w(head_pending ? std::string_view(head) : std::string_view(), piece, chunked,
                     false);
        auto pieces = w.buffers();
        auto wec = co_await to_client(pieces);
        if (wec) {
          ex.record().error = "client went away";
          co_return false;
        }
        head_pending = false;
        piece = {};
      }
      if (!head_pending && ex.continue_stream(*failure)) { // the next backend carries it on
        release(a, false);
        stream_retry_ = true;
        co_return false;
      }
      ex.stream_error(*failure, ec.message(), closing_event);
      closing_event.insert(0, piece);
      piece = closing_event;
    }
    // Usage, costs and the budget charge: before the last bytes reach the client, so a client
    // that sends its next request after reading this one finds the budget charged.
    if (done || !closing_event.empty()) apply(ex.complete(done));
    PieceWrite w(head_pending ? std::string_view(head) : std::string_view(), piece, chunked,
                 done || !closing_event.empty());
    if (w.n > 0) {
      auto pieces = w.buffers(); // (named: no temporary inside the co_await expression)
      auto wec = co_await to_client(pieces);
      if (wec) {
        ex.record().error = "client went away";
        co_return false; // dropping the connection closes the provider's too
      }
      head_pending = false;
    }
    if (!closing_event.empty()) { // the client's stream ended cleanly; the provider's is dropped
      release(a, false);
      co_return true;
    }
    // The client already has a status line: the only honest signal left is an aborted body.
    if (failure) co_return false;
    if (done) break;
  }
  release(a, true);
  co_return chunked || length.has_value() || bodiless;
}

} // namespace aigw::proxy
