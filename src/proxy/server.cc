// The standalone data plane; see server.h. This translation unit holds the client sessions, the
// request phases driven against the pipeline, the attempt loop and the streaming relay.
#include "proxy/server.h"

#include "auth/static_auth.h"
#include "core/json_scan.h"
#include "core/log.h"
#include "observability/metrics.h"
#include "observability/tracing.h"
#include "pipeline/endpoints.h"
#include "pipeline/errors.h"
#include "pipeline/headers.h"
#include "pipeline/models.h"
#include "pipeline/request_body.h"
#include "pipeline/routing.h"
#include "pipeline/usage.h"
#include "observability/otlp_exporter.h"
#include "ratelimit/redis_store.h"
#include "proxy/token_fetch.h"
#include "proxy/upstream.h"
#include "ratelimit/limiter.h"
#include "translate/translator.h"

#include <spdlog/spdlog.h>

#include <atomic>
#include <charconv>
#include <csignal>
#include <functional>
#include <random>
#include <span>
#include <thread>
#include <unordered_set>

#include <sys/resource.h>

namespace aigw::proxy {
namespace {

namespace http = beast::http;
using Clock = std::chrono::steady_clock;
using pipeline::Endpoint;
constexpr auto kTuple = net::as_tuple(net::use_awaitable);

std::atomic<uint64_t> g_request_counter{0};

std::string make_request_id() {
  thread_local std::mt19937_64 rng(std::random_device{}() ^
                                   std::hash<std::thread::id>{}(std::this_thread::get_id()));
  uint64_t a = rng(), b = rng();
  char buf[40];
  std::snprintf(buf, sizeof buf, "%08x-%04x-4%03x-%04x-%012llx", static_cast<unsigned>(a >> 32),
                static_cast<unsigned>((a >> 16) & 0xffff), static_cast<unsigned>(a & 0xfff),
                static_cast<unsigned>(((b >> 48) & 0x3fff) | 0x8000),
                static_cast<unsigned long long>(b & 0xffffffffffffULL));
  return buf;
}

std::string status_line(unsigned status) {
  std::string s = "HTTP/1.1 " + std::to_string(status) + " ";
  s.append(http::obsolete_reason(static_cast<http::status>(status)));
  s += "\r\n";
  return s;
}

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
  static constexpr size_t kRelayPoolMax = 256;
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
  size_t max_connections;                      // resolved (never 0)
  const observability::TracingConfig *tracing; // enabled or not
  observability::SpanExporter *exporter;                      // null when tracing is off
};

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// x-ratelimit-* headers for a verdict (nothing when no limit applied).
std::string ratelimit_headers(const ratelimit::Verdict &v) {
  if (!v.limited) return {};
  return "x-ratelimit-limit: " + std::to_string(v.limit) +
         "\r\nx-ratelimit-remaining: " + std::to_string(v.remaining) +
         "\r\nx-ratelimit-reset: " + std::to_string(v.reset_seconds) + "\r\n";
}

// What one request did, for the request log line.
struct RequestRecord {
  std::string request_id;
  std::string method;
  std::string path;
  int status = 0;
  std::string model;
  std::string model_override;
  std::string backend;
  std::string route;
  std::string response_model;
  std::string upstream_host;
  std::string error;
  pipeline::TokenUsage usage;
  ratelimit::CostValues costs;
  int attempts = 0;
  bool stream = false;
  Clock::time_point start = Clock::now();
  // Observability.
  std::string_view operation;   // chat, completion, embeddings, rerank ("" before routing)
  std::string_view provider;    // GenAI provider name of the backend that answered
  std::string provider_backend; // the backend of the previous attempt (fallback counting)
  std::string request_model;    // after modelNameOverride
  std::optional<Clock::time_point> first_byte; // streams: when the first body bytes went out
  std::string session_id;                      // agent-session-id
  std::string user_agent;
  std::string forwarded_for;
  std::string_view request_body; // for spans
  std::string response_body;     // for spans (non-streamed answers, tracing only)
  std::optional<observability::TraceContext> parent; // the client's trace context
  observability::TraceContext trace;                 // this request's span (ids empty: no tracing)
  std::vector<std::string_view> metric_header_values;
};

void log_request(const RequestRecord &r) {
  std::string o;
  o.reserve(1024);
  o += "{\"time\":\"";
  // The date and time to the second are formatted once a second per thread.
  auto now = std::chrono::system_clock::now();
  auto t = std::chrono::system_clock::to_time_t(now);
  auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  thread_local std::time_t cached_second = -1;
  thread_local char cached_text[64];
  if (t != cached_second) {
    std::tm tm{};
    gmtime_r(&t, &tm);
    std::snprintf(cached_text, sizeof cached_text, "%04d-%02d-%02dT%02d:%02d:%02d",
                  tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    cached_second = t;
  }
  o += cached_text;
  char msbuf[8] = {'.',
                   static_cast<char>('0' + ms / 100),
                   static_cast<char>('0' + ms / 10 % 10),
                   static_cast<char>('0' + ms % 10),
                   'Z',
                   0};
  o += msbuf;
  o += "\",\"request_id\":";
  json::append_quoted(o, r.request_id);
  o += ",\"method\":";
  json::append_quoted(o, r.method);
  o += ",\"path\":";
  json::append_quoted(o, r.path);
  o += ",\"status\":" + std::to_string(r.status);
  auto dur = std::chrono::duration<double, std::milli>(Clock::now() - r.start).count();
  char dbuf[32];
  auto dr = std::to_chars(dbuf, dbuf + sizeof dbuf, dur, std::chars_format::fixed, 3);
  o += ",\"duration_ms\":";
  o.append(dbuf, static_cast<size_t>(dr.ptr - dbuf));
  auto str = [&](const char *k, const std::string &v) {
    if (v.empty()) return;
    o += ",\"";
    o += k;
    o += "\":";
    json::append_quoted(o, v);
  };
  str("x-ai-eg-model", r.model);
  str("model_name_override", r.model_override);
  str("backend_name", r.backend);
  str("route_name", r.route);
  str("response_model", r.response_model);
  str("upstream_host", r.upstream_host);
  str("error", r.error);
  if (r.attempts) o += ",\"attempts\":" + std::to_string(r.attempts);
  if (r.stream) o += ",\"stream\":true";
  auto num = [&](const char *k, const std::optional<uint64_t> &v) {
    if (!v) return;
    o += ",\"";
    o += k;
    o += "\":" + std::to_string(*v);
  };
  num("input_tokens", r.usage.input);
  num("output_tokens", r.usage.output);
  num("total_tokens", r.usage.total);
  num("cached_input_tokens", r.usage.cached_input);
  num("cache_creation_input_tokens", r.usage.cache_creation_input);
  num("reasoning_tokens", r.usage.reasoning);
  for (const auto &[key, value] : r.costs) {
    o += ',';
    json::append_quoted(o, key);
    o += ':' + std::to_string(value);
  }
  // The keys of upstream's `aigw run` access log template, for the same dashboards and queries.
  str("session.id", r.session_id);
  str("gen_ai.request.model", r.model);
  str("gen_ai.response.model", r.response_model);
  str("gen_ai.provider.name", r.backend);
  num("gen_ai.usage.input_tokens", r.usage.input);
  num("gen_ai.usage.output_tokens", r.usage.output);
  num("gen_ai.usage.reasoning_tokens", r.usage.reasoning);
  o += ",\"response_code\":" + std::to_string(r.status);
  str("request.path", r.path);
  str("x-request-id", r.request_id);
  str("user-agent", r.user_agent);
  str("x-forwarded-for", r.forwarded_for);
  if (!r.trace.trace_id.empty()) {
    str("trace_id", r.trace.trace_id);
    str("span_id", r.trace.span_id);
  }
  o += '}';
  write_access_line(o);
}

uint64_t unix_nanos(Clock::time_point t) {
  auto offset = std::chrono::system_clock::now().time_since_epoch() -
                std::chrono::duration_cast<std::chrono::system_clock::duration>(
                    Clock::now().time_since_epoch());
  auto sys = std::chrono::duration_cast<std::chrono::system_clock::duration>(t.time_since_epoch()) +
             offset;
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(sys).count());
}

// The models a configuration names (exact model matches and overrides): always kept as metric
// labels, whatever the cap on client-chosen values.
std::vector<std::string> configured_models(const control::Snapshot &snap) {
  std::vector<std::string> out;
  for (const auto &m : snap.models)
    out.push_back(m.id);
  for (const auto &rule : snap.rules)
    for (const auto &ref : rule.refs)
      if (!ref.model_name_override.empty()) out.push_back(ref.model_name_override);
  return out;
}

// Metrics and the span of a finished request (the access log line is written beside).
void observe_request(const RequestRecord &r, size_t shard, const Shared &shared) {
  auto &m = *shared.metrics;
  if (shared.store->generation() != m.known_models_generation()) {
    auto snap = shared.store->current();
    m.set_known_models(snap->generation, configured_models(*snap));
  }
  m.health().requests.fetch_add(1, std::memory_order_relaxed);
  if (r.status > 0 && r.status < 600)
    m.health().responses_by_class[static_cast<size_t>(r.status / 100)].fetch_add(
        1, std::memory_order_relaxed);
  if (r.operation.empty() || r.backend.empty()) return; // never reached a provider
  if (!shared.opts->metrics && !shared.exporter) return;
  auto end = Clock::now();
  double seconds = std::chrono::duration<double>(end - r.start).count();
  observability::GenAILabels l;
  l.operation = r.operation;
  l.provider = r.provider.empty() ? std::string_view(r.backend) : r.provider;
  l.original_model = r.model;
  l.request_model = r.request_model.empty() ? std::string_view(r.model) : r.request_model;
  l.response_model = r.response_model;
  l.header_values = r.metric_header_values;
  bool failed = r.status >= 400 || r.status == 0 || !r.error.empty();
  if (shared.opts->metrics) {
    observability::Metrics::Completion c;
    c.seconds = seconds;
    c.failed = failed;
    if (!failed) {
      c.usage = &r.usage;
      if (r.stream && r.first_byte) {
        c.ttft = std::chrono::duration<double>(*r.first_byte - r.start).count();
        if (r.usage.output && *r.usage.output > 1)
          c.tpot = (seconds - *c.ttft) / static_cast<double>(*r.usage.output - 1);
      }
    }
    m.record_completion(shard, l, c);
  }
  if (shared.exporter && !r.trace.trace_id.empty()) {
    observability::Span span;
    span.trace_id = r.trace.trace_id;
    span.span_id = r.trace.span_id;
    if (r.parent) span.parent_span_id = r.parent->span_id;
    span.start_unix_nano = unix_nanos(r.start);
    span.end_unix_nano = unix_nanos(end);
    observability::OwnedSpanFacts f;
    f.operation = std::string(r.operation);
    f.provider = std::string(l.provider);
    f.request_model = std::string(l.request_model);
    f.response_model = r.response_model;
    f.request_body = std::string(r.request_body);
    f.response_body = r.response_body;
    f.usage = r.usage;
    f.status = r.status;
    f.error = r.error;
    for (const auto &[header, attr] : shared.tracing->header_attributes)
      if (header == "agent-session-id" && !r.session_id.empty())
        f.header_attributes.emplace_back(attr, r.session_id);
    shared.exporter->submit(std::move(span), std::move(f));
  }
}

// Counts a streamed response while it is being relayed.
struct ActiveStream {
  explicit ActiveStream(std::atomic<int64_t> &g) : gauge(g) {
    gauge.fetch_add(1, std::memory_order_relaxed);
  }
  ~ActiveStream() { gauge.fetch_sub(1, std::memory_order_relaxed); }
  std::atomic<int64_t> &gauge;
};

class Session {
public:
  Session(Worker &worker, const Shared &shared, tcp::socket socket)
      : worker_(worker), shared_(shared), client_(std::move(socket)) {
    worker_.sessions.insert(this);
  }
  ~Session() { worker_.sessions.erase(this); }
  Session(const Session &) = delete;
  Session &operator=(const Session &) = delete;

  // Serves requests until the client leaves; a watchdog enforces the deadlines meanwhile.
  net::awaitable<void> serve();

  // The worker started draining: a connection waiting for its next request closes now; one
  // with a request under way finishes it and closes after (`connection: close`).
  void on_drain() {
    if (idle_) {
      beast::error_code ignored;
      client_.cancel(ignored);
    }
  }
  // The drain ran out of time: the request in flight is cut, and logged as cut.
  void cut() {
    if (rec_ && !idle_) {
      cut_ = true; // the request's log line says so, whatever error the cut causes on the way
      shared_.metrics->health().drain_cut_requests.fetch_add(1, std::memory_order_relaxed);
    }
    beast::error_code ignored;
    client_.cancel(ignored);
    if (active_upstream_) active_upstream_->cancel();
  }

private:
  net::awaitable<void> run();
  net::awaitable<void> watchdog();
  // Every wait of the session ends by `t`: past it, the watchdog aborts the client's and the
  // provider's operations in flight. Setting it is a store, not a timer operation, so the hot path
  // arms no timers.
  void set_deadline(Clock::time_point t) {
    deadline_ = t;
    timed_out_ = false;
    if (t < wake_at_) watchdog_timer_.cancel(); // wake it to look at the earlier deadline
  }
  // Settles the buckets to `costs`, or refunds their reservations when `costs` is null.
  void charge(const std::vector<ratelimit::Hit> &hits, const ratelimit::CostValues *costs) {
    if (hits.empty()) return;
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
    net::co_spawn(worker_.io, worker_.redis->adjust(std::move(deltas), std::move(ttls)),
                  net::detached);
  }
  bool timed_out(const beast::error_code &ec) const {
    return timed_out_ && ec == net::error::operation_aborted;
  }

  using RequestParser = http::request_parser<http::string_body>;

  net::awaitable<bool> handle(RequestParser &parser);
  // True when the response must end the connection (the client asked, or the worker drains).
  bool closing() {
    if (worker_.draining) keep_alive_ = false;
    return !keep_alive_;
  }
  net::awaitable<bool> reply(unsigned status, std::string_view content_type, std::string_view body,
                             std::string_view extra_headers = {});
  net::awaitable<bool> write_all(std::string_view a, std::string_view b = {});
  net::awaitable<bool>
  proxy(const http::request<http::string_body> &req, const pipeline::EndpointMatch &ep,
        const pipeline::ParsedRequest &parsed, std::shared_ptr<const control::Snapshot> snap,
        const control::CompiledRule &rule, RequestRecord &rec,
        const std::vector<ratelimit::Hit> &hits, const ratelimit::Verdict &verdict,
        const pipeline::HeaderLookup &lookup);
  // The 429 for an exhausted budget or quota, with its x-ratelimit-* and retry-after headers.
  net::awaitable<bool> refuse(const ratelimit::Verdict &verdict, std::string_view what) {
    std::string extra = ratelimit_headers(verdict) + "retry-after: " +
                        std::to_string(std::max<int64_t>(1, verdict.reset_seconds)) + "\r\n";
    shared_.metrics->health().rate_limited.fetch_add(1, std::memory_order_relaxed);
    std::string body = "{\"error\":{\"message\":";
    json::append_quoted(body, std::string(what) + ": the budget of " +
                                  std::to_string(verdict.limit) + " resets in " +
                                  std::to_string(verdict.reset_seconds) + "s.");
    body += ",\"type\":\"rate_limit_exceeded\",\"param\":null,\"code\":\"rate_limit_exceeded\"}}";
    co_return co_await reply(429, "application/json", body, extra);
  }

  Worker &worker_;
  const Shared &shared_;
  tcp::socket client_;
  net::steady_timer watchdog_timer_{client_.get_executor()};
  Clock::time_point deadline_ = Clock::time_point::max();
  Clock::time_point wake_at_ = Clock::time_point::max();
  bool timed_out_ = false;
  UpstreamConn *active_upstream_ = nullptr;
  beast::flat_buffer buffer_;
  bool keep_alive_ = true;
  std::array<char, 1024> first_read_;             // the first bytes of each request
  std::vector<pipeline::HeaderView> head_fields_; // the current request's fields
  Clock::time_point idle_since_;
  bool idle_ = true;          // waiting for the first byte of a request
  bool cut_ = false;          // the request in flight was cut by the end of a drain
  bool head_request_ = false; // HEAD: replies carry no body
  bool http10_ = false;       // an HTTP/1.0 client: no chunked framing, close-delimited bodies
  RequestRecord *rec_ = nullptr;
};

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
      beast::error_code ignored;
      client_.cancel(ignored);
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

net::awaitable<void> Session::run() {
  const auto &opts = *shared_.opts;
  beast::error_code nodelay_ec;
  client_.set_option(tcp::no_delay(true), nodelay_ec);
  auto too_large = [&] {
    return pipeline::error_body("PayloadTooLarge", 413,
                                "request body exceeds the limit of " +
                                    std::to_string(opts.max_request_body) + " bytes");
  };
  for (;;) {
    if (worker_.draining) break;
    RequestParser parser;
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
      auto [rec, got] = co_await client_.async_read_some(net::buffer(first_read_), kTuple);
      idle_ = false;
      if (rec) break; // gone, idle past the timeout, or drained
      buffer_.commit(net::buffer_copy(buffer_.prepare(got), net::buffer(first_read_.data(), got)));
    }
    idle_ = false;
    set_deadline(Clock::now() + opts.request_header_timeout);
    auto [ec, n] = co_await http::async_read_header(client_, buffer_, parser, kTuple);
    if (ec) {
      keep_alive_ = false;
      if (ec == http::error::header_limit) {
        co_await reply(431, "text/plain", "request header fields too large");
      } else if (ec == http::error::body_limit) {
        // Beast checks Content-Length against the limit while parsing the head.
        co_await reply(413, "application/json", too_large());
      } else if (timed_out(ec)) {
        co_await reply(408, "text/plain", "request header timeout");
      } else if (ec != http::error::end_of_stream && ec != net::error::eof &&
                 ec != net::error::connection_reset && ec != net::error::operation_aborted) {
        co_await reply(400, "text/plain", "bad request: " + ec.message());
      }
      break;
    }
    auto &req = parser.get();
    head_request_ = req.method() == http::verb::head;
    http10_ = req.version() < 11;
    set_deadline(Clock::now() + std::chrono::seconds(60)); // the rest of the request
    if (static_cast<size_t>(std::distance(req.begin(), req.end())) > opts.max_request_headers) {
      keep_alive_ = false;
      co_await reply(431, "text/plain",
                     "too many request headers (limit " + std::to_string(opts.max_request_headers) +
                         ")");
      break;
    }
    // The request's fields, listed once for the framing checks and the provider's head (views
    // into the parser's message; the vector's capacity is kept across requests).
    head_fields_.clear();
    for (const auto &f : req)
      head_fields_.emplace_back(f.name_string(), f.value());
    if (auto bad = pipeline::check_request_framing(req.version(), head_fields_)) {
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
    auto [bec, bn] = co_await http::async_read(client_, buffer_, parser, kTuple);
    if (bec) {
      keep_alive_ = false;
      if (bec == http::error::body_limit) {
        co_await reply(413, "application/json", too_large());
      } else if (timed_out(bec)) {
        co_await reply(408, "text/plain", "request body timeout");
      } else if (bec != net::error::eof && bec != http::error::end_of_stream &&
                 bec != net::error::connection_reset && bec != net::error::operation_aborted) {
        co_await reply(400, "text/plain", "bad request: " + bec.message());
      }
      break;
    }
    keep_alive_ = req.keep_alive();
    bool ok = co_await handle(parser);
    if (!ok || closing()) break;
  }
  beast::error_code ignored;
  client_.shutdown(tcp::socket::shutdown_send, ignored);
}

net::awaitable<bool> Session::write_all(std::string_view a, std::string_view b) {
  std::array<net::const_buffer, 2> bufs{net::buffer(a.data(), a.size()),
                                        net::buffer(b.data(), b.size())};
  auto [ec, n] = co_await net::async_write(client_, bufs, kTuple);
  co_return !ec;
}

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

net::awaitable<bool> Session::handle(RequestParser &parser) {
  auto &req = parser.get();
  RequestRecord rec;
  rec_ = &rec;
  struct ClearRec {
    Session *s;
    RequestRecord *r;
    ~ClearRec() {
      if (s->cut_) r->error = "cut by shutdown: the drain timeout ran out";
      if (s->shared_.opts->access_log) log_request(*r);
      observe_request(*r, s->worker_.index, s->shared_);
      s->rec_ = nullptr;
    }
  } clear{this, &rec};

  rec.method = std::string(req.method_string());
  rec.path = std::string(req.target());
  auto rid = req["x-request-id"];
  rec.request_id = rid.empty() ? make_request_id() : std::string(rid);
  g_request_counter.fetch_add(1, std::memory_order_relaxed);
  rec.session_id = std::string(req["agent-session-id"]);
  rec.user_agent = std::string(req[http::field::user_agent]);
  rec.forwarded_for = std::string(req["x-forwarded-for"]);
  if (shared_.exporter) {
    rec.parent = observability::parse_traceparent(req["traceparent"]);
    rec.trace.trace_id = rec.parent ? rec.parent->trace_id : observability::random_hex(16);
    rec.trace.span_id = observability::random_hex(8);
    rec.trace.sampled = !rec.parent || rec.parent->sampled;
    rec.request_body = req.body();
  }
  for (const auto &a : shared_.metrics->header_attributes())
    rec.metric_header_values.push_back(req[a.header]);

  auto ep = pipeline::match_endpoint(req.method_string(), req.target());
  if (ep.endpoint == Endpoint::kUnknown) {
    co_return co_await reply(404, "text/plain", "unsupported path: " + std::string(req.target()));
  }
  if (!ep.method_allowed) {
    std::string allow = ep.endpoint == Endpoint::kModels ? "allow: GET\r\n" : "allow: POST\r\n";
    co_return co_await reply(
        405, "application/json",
        pipeline::error_body("MethodNotAllowed", 405,
                             "method " + rec.method + " is not allowed on " + std::string(ep.path)),
        allow);
  }
  auto snap = shared_.store->current();
  std::string_view host = req[http::field::host];
  if (ep.endpoint == Endpoint::kModels) {
    co_return co_await reply(200, "application/json", pipeline::models_json(*snap, host));
  }
  auto parsed = pipeline::parse_request_body(ep.endpoint, req.body());
  if (!parsed) {
    rec.error = parsed.error().message;
    co_return co_await reply(400, "application/json",
                             pipeline::error_body("BadRequest", 400, parsed.error().message));
  }
  rec.model = parsed->model;
  rec.stream = parsed->stream;
  rec.operation = pipeline::operation_name(ep.endpoint);
  // x-ai-eg-model is always the gateway's: the body's model, whatever the client sent.
  pipeline::HeaderLookup lookup = [&](std::string_view name) -> std::optional<std::string_view> {
    if (name == "x-ai-eg-model") return std::string_view(parsed->model);
    auto it = req.find(name);
    if (it == req.end()) return std::nullopt;
    return it->value();
  };
  const auto *rule = pipeline::select_rule(*snap, lookup, host);
  if (!rule) {
    rec.error = "no matching route";
    co_return co_await reply(404, "application/json", pipeline::route_not_found_json());
  }
  const auto &route = snap->routes[rule->route_index];
  rec.route = route.key;
  // Admission: every bucket this request falls in must have budget left.
  std::vector<ratelimit::Hit> hits;
  ratelimit::Verdict verdict;
  if (!route.rate_limits.empty()) {
    int64_t now = unix_now();
    hits = ratelimit::match_rate_limits(route.rate_limits, lookup, now);
    ratelimit::CostValues estimate;
    if (std::any_of(hits.begin(), hits.end(),
                    [](const auto &h) { return h.limit->rule.reserve_then_settle; })) {
      // Reserve-then-settle: what this request may cost, from its prompt and max_tokens.
      auto est = ratelimit::estimate_usage(req.body().size(), parsed->max_tokens);
      estimate =
          ratelimit::compute_costs(route.costs, {est, parsed->model, "", route.key}, nullptr);
    }
    if (worker_.redis) {
      auto v = co_await worker_.redis->admit(hits, now, &estimate);
      if (v) {
        verdict = *v;
      } else if (shared_.opts->ratelimit_fail_closed) {
        rec.error = "rate limit store unavailable";
        co_return co_await reply(
            503, "application/json",
            pipeline::error_body("ServiceUnavailable", 503, "the rate limit store is unavailable"));
      } else {
        shared_.redis_counters->failed_open.fetch_add(1, std::memory_order_relaxed);
        spdlog::warn("rate limit store {}:{} unavailable: admitting {} without a budget check",
                     worker_.redis->target().host, worker_.redis->target().port, rec.request_id);
        hits.clear(); // nothing was reserved, nothing to settle
      }
    } else {
      verdict = ratelimit::admit(*shared_.budgets, hits, now, &estimate);
    }
    if (!verdict.allowed) {
      rec.error = "rate limited";
      co_return co_await refuse(verdict, "Rate limit exceeded for this route");
    }
  }
  co_return co_await proxy(req, ep, *parsed, snap, *rule, rec, hits, verdict, lookup);
}

// Which failures the retry policy lets the next attempt handle.
struct RetryDecision {
  const std::optional<api::RetryPolicy> &policy;

  bool has(std::string_view t) const {
    return policy &&
           std::find(policy->triggers.begin(), policy->triggers.end(), t) != policy->triggers.end();
  }
  bool on_connect_failure() const {
    // Without a policy, a connect failure (nothing reached the provider) still moves to the
    // next backend: the request is untouched, so this is always safe.
    return !policy || has("connect-failure") || has("reset") || has("5xx") || has("gateway-error");
  }
  bool on_reset() const { return has("reset") || has("5xx"); }
  bool on_timeout() const { return has("5xx") || has("gateway-error") || has("reset"); }
  bool on_status(unsigned status) const {
    if (!policy) return false;
    if (status >= 500 && has("5xx")) return true;
    if ((status == 502 || status == 503 || status == 504) && has("gateway-error")) return true;
    if (has("retriable-status-codes") || !policy->http_status_codes.empty()) {
      const auto &codes = policy->http_status_codes;
      if (std::find(codes.begin(), codes.end(), static_cast<int>(status)) != codes.end())
        return true;
    }
    return false;
  }
};

net::awaitable<bool>
Session::proxy(const http::request<http::string_body> &req, const pipeline::EndpointMatch &ep,
               const pipeline::ParsedRequest &parsed, std::shared_ptr<const control::Snapshot> snap,
               const control::CompiledRule &rule, RequestRecord &rec,
               const std::vector<ratelimit::Hit> &hits, const ratelimit::Verdict &verdict,
               const pipeline::HeaderLookup &lookup) {
  const auto &opts = *shared_.opts;
  const std::string rl_headers = ratelimit_headers(verdict);
  // Reservations are given back on every way out but a settled success.
  struct Reservation {
    Session *session;
    const std::vector<ratelimit::Hit> &hits;
    bool settled = false;
    ~Reservation() {
      if (!settled) session->charge(hits, nullptr);
    }
  } reservation{this, hits};
  const auto &route = snap->routes[rule.route_index];
  auto deadline = Clock::now() + rule.request_timeout;
  RetryDecision retry{rule.retry};
  uint32_t max_attempts =
      rule.retry ? 1 + rule.retry->num_retries : static_cast<uint32_t>(rule.refs.size());
  if (max_attempts == 0) max_attempts = 1;
  uint32_t per_priority = rule.retry ? rule.retry->num_attempts_per_priority.value_or(0) : 1;
  pipeline::BackendPicker picker(rule, g_request_counter.load(std::memory_order_relaxed) *
                                           0x9E3779B97F4A7C15ULL);
  bool inject_usage = ep.endpoint == Endpoint::kChatCompletions && parsed.stream &&
                      !parsed.include_usage && !route.llm_request_costs.empty();
  std::string_view query;
  if (auto q = req.target().find('?'); q != std::string_view::npos) query = req.target().substr(q);

  const std::vector<pipeline::HeaderView> &client_headers = head_fields_; // set by run()

  std::string last_error = "no healthy upstream";
  unsigned last_status = 503;
  std::string last_body_override; // a retriable upstream error we may have to pass on
  for (uint32_t attempt = 0; attempt < max_attempts; ++attempt) {
    const auto *ref = picker.next(per_priority);
    if (!ref) break;
    const auto &backend = *ref->backend;
    rec.attempts = static_cast<int>(attempt + 1);
    rec.backend = backend.key;
    rec.model_override = ref->model_name_override;
    auto schema = backend.schema_kind;
    if (!backend.supported || !translate::schema_serves(schema, ep.endpoint)) {
      last_status = 501;
      last_error = "backend " + backend.key + " (schema " + backend.schema + ") does not serve " +
                   std::string(ep.path);
      continue;
    }
    auto translator = translate::make_translator(schema, ep.endpoint);
    std::string_view model_header =
        ref->model_name_override.empty() ? parsed.model : ref->model_name_override;
    if (attempt > 0) {
      shared_.metrics->health().retries.fetch_add(1, std::memory_order_relaxed);
      if (rec.provider_backend != backend.key)
        shared_.metrics->health().fallbacks.fetch_add(1, std::memory_order_relaxed);
    }
    rec.provider_backend = backend.key;
    rec.provider = translate::provider_name(schema);
    rec.request_model = std::string(model_header);
    translate::TranslateInput tin;
    tin.endpoint = ep.endpoint;
    tin.body = req.body();
    tin.parsed = &parsed;
    tin.model = model_header;
    tin.model_override = ref->model_name_override;
    tin.query = query;
    tin.path_prefix = backend.path_prefix;
    tin.version = backend.schema_version;
    tin.inject_include_usage = inject_usage;
    tin.request_id = rec.request_id;
    // Re-translated from the pristine request on every attempt.
    auto upstream_req = translator->request(tin);
    if (!upstream_req) {
      int code = upstream_req.error().code ? upstream_req.error().code : 422;
      rec.error = upstream_req.error().message;
      co_return co_await reply(static_cast<unsigned>(code), "application/json",
                               pipeline::error_body(pipeline::local_error_type(code), code,
                                                    "invalid request for backend " + backend.key +
                                                        ": " + upstream_req.error().message),
                               rl_headers);
    }
    std::string_view send_body =
        upstream_req->body ? std::string_view(*upstream_req->body) : std::string_view(req.body());
    std::string mutated_body; // HTTPBodyMutation, after translation and before signing
    if (!ref->body_mutation.set.empty() || !ref->body_mutation.remove.empty()) {
      mutated_body = pipeline::apply_body_mutation(send_body, ref->body_mutation.set,
                                                   ref->body_mutation.remove);
      send_body = mutated_body;
    }
    std::string path = std::move(upstream_req->path);
    if (!path.starts_with("/")) {
      // GCP: the auth step owns the project and location part of the path.
      if (!backend.gcp_project.empty())
        path =
            "/v1/projects/" + backend.gcp_project + "/locations/" + backend.gcp_region + "/" + path;
      else
        path = "/" + path;
    }
    // Authentication, last, over the final path and body.
    auto &extra = upstream_req->headers;
    if (!rec.trace.span_id.empty()) // the provider continues this request's trace
      extra.emplace_back("traceparent", observability::format_traceparent(rec.trace));
    std::string auth;
    auto auth_outcome = auth::apply_static_auth(backend, req.method_string(), path, send_body,
                                                   unix_now(), auth, extra);
    if (!auth_outcome) {
      rec.error = auth_outcome.error().message;
      co_return co_await reply(
          500, "application/json",
          pipeline::error_body("InternalServerError", 500, auth_outcome.error().message),
          rl_headers);
    }
    if (*auth_outcome == auth::AuthOutcome::kNeedsToken) {
      auto token = co_await fetch_token(*shared_.tokens, 
          backend, worker_.pool, std::min(deadline, Clock::now() + std::chrono::seconds(30)));
      if (!token) {
        last_status = static_cast<unsigned>(token.error().code ? token.error().code : 503);
        last_error = token.error().message;
        if (token.error().retryable) continue;
        rec.error = last_error;
        co_return co_await reply(
            last_status, "application/json",
            pipeline::error_body(pipeline::local_error_type(static_cast<int>(last_status)),
                                 static_cast<int>(last_status), last_error),
            rl_headers);
      }
      auth = "Bearer " + *token;
    }
    // QuotaPolicy: this backend's quota for the model it is asked for (Shared mode).
    const control::CompiledModelQuota *quota = backend.quota_for(model_header);
    std::vector<ratelimit::Hit> quota_hits;
    if (quota) {
      int64_t now = unix_now();
      quota_hits = ratelimit::match_rate_limits(quota->buckets, lookup, now);
      std::optional<ratelimit::Verdict> qv;
      if (worker_.redis)
        qv = co_await worker_.redis->admit(quota_hits, now, nullptr, true);
      else
        qv = ratelimit::admit(*shared_.budgets, quota_hits, now, nullptr, true);
      if (!qv && shared_.opts->ratelimit_fail_closed) {
        rec.error = "rate limit store unavailable";
        co_return co_await reply(
            503, "application/json",
            pipeline::error_body("ServiceUnavailable", 503, "the rate limit store is unavailable"));
      }
      if (!qv) {
        shared_.redis_counters->failed_open.fetch_add(1, std::memory_order_relaxed);
        quota_hits.clear();
      } else if (!qv->allowed) {
        rec.error = "quota exceeded";
        co_return co_await refuse(*qv, "Quota exceeded for model " + std::string(model_header) +
                                           " on " + backend.key);
      }
    }
    pipeline::UpstreamHead uh{req.method_string(), path,  backend.host_header,
                              model_header,        auth,  rec.request_id,
                              send_body.size(),    &extra};
    auto built = pipeline::build_request_head(uh, client_headers, ref->header_mutation);
    if (!built) {
      rec.error = built.error().message;
      co_return co_await reply(400, "application/json",
                               pipeline::error_body("BadRequest", 400, built.error().message),
                               rl_headers);
    }
    std::string head = std::move(built).value();

    auto try_deadline = deadline;
    if (rule.retry && rule.retry->per_retry_timeout)
      try_deadline = std::min(deadline, Clock::now() + *rule.retry->per_retry_timeout);

    std::string cerr;
    set_deadline(try_deadline); // connecting counts against the attempt's deadline too
    auto conn = co_await worker_.pool.acquire(backend, try_deadline, &cerr);
    // Whenever `conn` goes, the watchdog must no longer see it.
    struct ClearActive {
      Session *s;
      ~ClearActive() { s->active_upstream_ = nullptr; }
    } clear_active{this};
    std::optional<http::response_parser<http::buffer_body>> rp_holder;
    rp_holder.emplace();
    rp_holder->body_limit(boost::none);
    enum class Outcome { kOk, kConnectFailure, kReset, kTimeout } outcome = Outcome::kOk;
    for (int round = 0; round < 2; ++round) {
      if (!conn) {
        outcome = Outcome::kConnectFailure;
        last_error =
            "upstream connect error or disconnect/reset before headers. reset reason: " + cerr;
        break;
      }
      set_deadline(try_deadline);
      active_upstream_ = conn.get();
      std::array<net::const_buffer, 2> bufs{net::buffer(head),
                                            net::buffer(send_body.data(), send_body.size())};
      beast::error_code ec;
      if (conn->tls())
        std::tie(ec, std::ignore) = co_await net::async_write(conn->tls_stream(), bufs, kTuple);
      else
        std::tie(ec, std::ignore) = co_await net::async_write(conn->socket(), bufs, kTuple);
      // Interim responses (103 Early Hints, 100 Continue) are not the answer: skip them and read
      // the final head (101 never comes: the gateway asks for no upgrade).
      for (int interim = 0; !ec; ++interim) {
        if (conn->tls())
          std::tie(ec, std::ignore) = co_await http::async_read_header(
              conn->tls_stream(), conn->buffer(), *rp_holder, kTuple);
        else
          std::tie(ec, std::ignore) =
              co_await http::async_read_header(conn->socket(), conn->buffer(), *rp_holder, kTuple);
        if (ec) break;
        unsigned code = rp_holder->get().result_int();
        if (code >= 200 || code == 101) break;
        if (interim >= 16) {
          ec = http::error::bad_status; // a provider that only ever sends interim heads
          break;
        }
        rp_holder.emplace();
        rp_holder->body_limit(boost::none);
      }
      if (!ec) {
        outcome = Outcome::kOk;
        break;
      }
      active_upstream_ = nullptr;
      if (timed_out(ec)) {
        outcome = Outcome::kTimeout;
        last_error = "upstream request timeout";
        conn.reset();
        break;
      }
      // A pooled connection the provider closed while idle: open a fresh one, once.
      if (conn->reused && round == 0 && !rp_holder->got_some()) {
        rp_holder.emplace();
        rp_holder->body_limit(boost::none);
        conn = co_await worker_.pool.connect(backend, try_deadline, &cerr);
        continue;
      }
      outcome = Outcome::kReset;
      last_error = "upstream connect error or disconnect/reset before headers. reset reason: "
                   "connection termination";
      conn.reset();
      break;
    }
    if (outcome != Outcome::kOk) {
      if (outcome != Outcome::kTimeout)
        shared_.metrics->health().upstream_connect_failures.fetch_add(1, std::memory_order_relaxed);
      bool again = (outcome == Outcome::kConnectFailure && retry.on_connect_failure()) ||
                   (outcome == Outcome::kReset && retry.on_reset()) ||
                   (outcome == Outcome::kTimeout && retry.on_timeout());
      last_status = outcome == Outcome::kTimeout ? 504 : 503;
      spdlog::debug("attempt {} to {} failed: {}", attempt + 1, backend.key, last_error);
      if (again && Clock::now() < deadline) continue;
      break;
    }
    active_upstream_ = conn.get();
    rec.upstream_host = conn->peer;
    auto &rp = *rp_holder;
    auto &res = rp.get();
    unsigned status = res.result_int();
    bool is_last_attempt = attempt + 1 >= max_attempts;
    if (status >= 500 && retry.on_status(status) && !is_last_attempt && Clock::now() < deadline) {
      spdlog::debug("attempt {} to {} answered {}; retrying", attempt + 1, backend.key, status);
      continue; // the connection is dropped: its body is not worth reading
    }

    // Commit to this response. The relay buffer is the worker's, lent for this exchange only:
    // an idle keep-alive connection holds none, and no request allocates one.
    RelayLease relay(worker_);
    auto &buf = relay.buffer();
    auto read_some = [&](char *buf,
                         size_t cap) -> net::awaitable<std::pair<beast::error_code, size_t>> {
      res.body().data = buf;
      res.body().size = cap;
      beast::error_code ec;
      // read_some: hand over whatever arrived, so streams are relayed as they come.
      if (conn->tls())
        std::tie(ec, std::ignore) =
            co_await http::async_read_some(conn->tls_stream(), conn->buffer(), rp, kTuple);
      else
        std::tie(ec, std::ignore) =
            co_await http::async_read_some(conn->socket(), conn->buffer(), rp, kTuple);
      if (ec == http::error::need_buffer) ec = {};
      co_return std::pair{ec, cap - res.body().size};
    };
    std::string head_out = status_line(status);
    std::string content_type(res[http::field::content_type]);
    bool upstream_keepalive = res.keep_alive();
    bool rewrites = translator->rewrites_response();
    for (const auto &f : res) {
      if (pipeline::is_hop_by_hop(f.name_string())) continue;
      if ((status >= 300 || rewrites) && f.name() == http::field::content_type) continue;
      if (rewrites && f.name() == http::field::content_encoding) continue;
      head_out.append(f.name_string()).append(": ").append(f.value()).append("\r\n");
    }
    // An HTTP/1.0 client cannot read chunked framing: a body of unknown length is delimited by
    // closing the connection.
    if (http10_ && status < 300 &&
        (rewrites ? parsed.stream && status == 200 : !rp.content_length().has_value()))
      keep_alive_ = false;
    if (closing()) head_out += "connection: close\r\n";
    head_out += rl_headers;
    rec.status = static_cast<int>(status);

    if (status >= 300) {
      // Errors are small and get translated: read them whole (bounded).
      std::string err_body;
      bool err_too_large = false;
      while (!rp.is_done()) {
        auto [ec, got] = co_await read_some(buf.data(), buf.size());
        err_body.append(buf.data(), got);
        if (ec) {
          upstream_keepalive = false;
          break;
        }
        if (err_body.size() > opts.max_error_body) {
          err_too_large = true;
          upstream_keepalive = false;
          break;
        }
      }
      active_upstream_ = nullptr;
      if (err_too_large) {
        // Cut JSON is not JSON: the client gets a well-formed error of our own instead.
        rec.error = "upstream status " + std::to_string(status) + " with an error body over " +
                    std::to_string(opts.max_error_body) + " bytes";
        co_return co_await reply(
            502, "application/json",
            pipeline::error_body("BadGateway", 502,
                                 "the error response from " + backend.key + " (status " +
                                     std::to_string(status) + ") exceeds " +
                                     std::to_string(opts.max_error_body) + " bytes"),
            rl_headers);
      }
      std::string out_body;
      std::string out_ct = content_type;
      if (ep.endpoint == Endpoint::kCompletions) {
        out_body = std::move(err_body);
      } else {
        std::tie(out_body, out_ct) = translator->error_body(static_cast<int>(status), content_type,
                                                            res["x-amzn-errortype"], err_body);
      }
      // A provider may echo the credential it was sent: it never reaches the client.
      pipeline::scrub_secrets(out_body, pipeline::sent_secrets(auth, extra));
      if (!out_ct.empty()) head_out += "content-type: " + out_ct + "\r\n";
      head_out += "content-length: " + std::to_string(out_body.size()) + "\r\n\r\n";
      rec.error = "upstream status " + std::to_string(status);
      active_upstream_ = nullptr;
      if (upstream_keepalive && rp.is_done()) worker_.pool.release(std::move(conn));
      co_return co_await write_all(head_out, out_body);
    }

    // Costs are computed, and budgets and quotas charged, when a successful response completes
    // (rec.usage set), whichever way the answer is relayed.
    auto charge_completed = [&] {
      if (!route.costs.empty() || !hits.empty()) {
        std::vector<std::string> cost_errors;
        rec.costs = ratelimit::compute_costs(
            route.costs, {rec.usage, model_header, ref->per_rule_name, route.key}, &cost_errors);
        for (const auto &e : cost_errors)
          spdlog::warn("request {}: cost {}", rec.request_id, e);
        if (!hits.empty()) {
          charge(hits, &rec.costs);
          reservation.settled = true;
        }
      }
      if (quota && !quota_hits.empty()) {
        auto quota_cost = ratelimit::compute_costs(
            {quota->cost}, {rec.usage, model_header, ref->per_rule_name, route.key}, nullptr);
        charge(quota_hits, &quota_cost);
      }
    };
    if (rewrites) {
      // A translated answer: the provider's format in, the client's out.
      bool streaming = parsed.stream && status == 200;
      head_out += "content-type: ";
      head_out += translator->response_content_type(streaming);
      head_out += "\r\n";
      bool upstream_failed = false;
      bool settled = false;
      auto settle = [&] {
        if (settled) return;
        settled = true;
        rec.usage = translator->usage();
        rec.response_model = translator->response_model();
        if (rec.response_model.empty()) rec.response_model = std::string(model_header);
        if (!upstream_failed) charge_completed();
      };
      if (!streaming) {
        std::string in_body;
        while (!rp.is_done()) {
          auto [ec, got] = co_await read_some(buf.data(), buf.size());
          in_body.append(buf.data(), got);
          if (ec) {
            upstream_failed = true;
            break;
          }
          if (in_body.size() > opts.max_usage_body) {
            upstream_failed = true;
            break;
          }
        }
        active_upstream_ = nullptr;
        if (upstream_failed) {
          rec.status = 502;
          rec.error = "upstream body unreadable or too large";
          co_return co_await reply(
              502, "application/json",
              pipeline::error_body("BadGateway", 502,
                                   "the response from " + backend.key + " could not be read whole"),
              rl_headers);
        }
        auto out = translator->response_body(in_body);
        if (!out) {
          rec.status = 502;
          rec.error = out.error().message;
          co_return co_await reply(502, "application/json",
                                   pipeline::error_body("BadGateway", 502, out.error().message),
                                   rl_headers);
        }
        settle();
        if (shared_.exporter) rec.response_body = *out;
        head_out += "content-length: " + std::to_string(out->size()) + "\r\n\r\n";
        if (upstream_keepalive) worker_.pool.release(std::move(conn));
        co_return co_await write_all(head_out, *out);
      }
      // Streaming: translate piece by piece, relay as chunked (HTTP/1.0: close-delimited).
      head_out += http10_ ? "cache-control: no-cache\r\n\r\n"
                          : "cache-control: no-cache\r\ntransfer-encoding: chunked\r\n\r\n";
      if (!co_await write_all(head_out)) co_return false;
      ActiveStream active_stream(shared_.metrics->health().active_streams);
      std::string out;
      for (;;) {
        size_t got = 0;
        if (!rp.is_done()) {
          beast::error_code ec;
          std::tie(ec, got) = co_await read_some(buf.data(), buf.size());
          if (ec) {
            upstream_failed = true;
            rec.error = timed_out(ec) ? "upstream request timeout"
                                      : "upstream stream error: " + ec.message();
          }
        }
        out.clear();
        if (got > 0) translator->stream_chunk(std::string_view(buf.data(), got), out);
        bool done = rp.is_done() && !upstream_failed;
        if (done) {
          translator->stream_end(out);
          settle();
        }
        std::array<net::const_buffer, 4> bufs;
        size_t nbufs = 0;
        char size_line[24];
        if (!out.empty()) {
          if (!rec.first_byte) rec.first_byte = Clock::now();
          if (http10_) {
            bufs[nbufs++] = net::buffer(out);
          } else {
            int len = std::snprintf(size_line, sizeof size_line, "%zx\r\n", out.size());
            bufs[nbufs++] = net::buffer(size_line, static_cast<size_t>(len));
            bufs[nbufs++] = net::buffer(out);
            bufs[nbufs++] = net::buffer("\r\n", 2);
          }
        }
        if (done && !http10_) bufs[nbufs++] = net::buffer("0\r\n\r\n", 5);
        if (nbufs > 0) {
          auto [wec, wn] = co_await net::async_write(
              client_, std::span<const net::const_buffer>(bufs.data(), nbufs), kTuple);
          if (wec) {
            rec.error = "client went away";
            co_return false;
          }
        }
        if (done || upstream_failed) break;
      }
      settle();
      active_upstream_ = nullptr;
      if (upstream_failed) co_return false;
      if (upstream_keepalive) worker_.pool.release(std::move(conn));
      co_return !http10_;
    }

    bool sse = content_type.find("text/event-stream") != std::string::npos;
    auto length = rp.content_length();
    bool chunked_out = !length.has_value() && !http10_;
    if (length)
      head_out += "content-length: " + std::to_string(*length) + "\r\n\r\n";
    else if (chunked_out)
      head_out += "transfer-encoding: chunked\r\n\r\n";
    else
      head_out += "\r\n"; // HTTP/1.0: the body ends when the connection closes
    // When body bytes already arrived with the head, the head goes out with them in one write;
    // otherwise (a stream still thinking) the client gets the head at once.
    bool head_pending = true;
    if (conn->buffer().size() == 0 && !rp.is_done()) {
      if (!co_await write_all(head_out)) co_return false;
      head_pending = false;
    }

    std::optional<ActiveStream> active_stream;
    if (sse) active_stream.emplace(shared_.metrics->health().active_streams);
    pipeline::SseUsageScanner scanner;
    std::string json_copy;
    bool json_overflow = false;
    // Past max_usage_body only the end of the body is kept: OpenAI-shaped answers put `usage`
    // last, so it is still found there.
    pipeline::UsageTail tail;
    bool upstream_failed = false;
    // Usage, costs and the budget charge: done before the last bytes reach the client, so a
    // client that sends its next request after reading this one finds the budget charged.
    bool accounted = false;
    auto account = [&] {
      if (accounted) return;
      accounted = true;
      if (sse) {
        rec.usage = scanner.usage();
        rec.response_model = scanner.model();
        if (scanner.saw_error() && rec.error.empty()) rec.error = "upstream stream error event";
      } else if (json_overflow) {
        rec.usage = tail.usage();
        rec.response_model = tail.model();
        if (!rec.usage.any() && !upstream_failed) {
          // Counted and logged, never silent: an unmeasured success still settles what it
          // reserved, so a budget is not bypassed by answering big.
          shared_.metrics->health().unmeasured_responses.fetch_add(1, std::memory_order_relaxed);
          spdlog::warn("request {}: no usage found in a {}-byte answer from {}", rec.request_id,
                       tail.total(), backend.key);
          reservation.settled = true; // the reservation stands as the charge
          return;
        }
      } else if (!json_copy.empty()) {
        auto facts = pipeline::extract_from_json(json_copy);
        rec.usage = facts.usage;
        rec.response_model = facts.model;
        if (shared_.exporter) rec.response_body = json_copy;
      }
      if (rec.response_model.empty()) rec.response_model = std::string(model_header);
      if (!upstream_failed) charge_completed();
    };
    for (;;) {
      size_t got = 0;
      if (!rp.is_done()) {
        beast::error_code ec;
        std::tie(ec, got) = co_await read_some(buf.data(), buf.size());
        if (ec) {
          upstream_failed = true;
          rec.error =
              timed_out(ec) ? "upstream request timeout" : "upstream stream error: " + ec.message();
        }
      }
      std::string_view piece(buf.data(), got);
      if (got > 0 && !rec.first_byte) rec.first_byte = Clock::now();
      if (sse) {
        scanner.feed(piece);
      } else if (json_overflow) {
        tail.feed(piece);
      } else if (got > 0) {
        if (json_copy.size() + got > opts.max_usage_body) {
          json_overflow = true;
          tail.feed(json_copy);
          tail.feed(piece);
          std::string().swap(json_copy);
        } else {
          json_copy.append(piece);
        }
      }
      bool done = rp.is_done() && !upstream_failed;
      if (done) account();
      // One write: [head] [chunk-size line, piece, CRLF | piece] [last chunk].
      std::array<net::const_buffer, 5> bufs;
      size_t nbufs = 0;
      if (head_pending) bufs[nbufs++] = net::buffer(head_out);
      char size_line[24];
      if (got > 0) {
        if (chunked_out) {
          int len = std::snprintf(size_line, sizeof size_line, "%zx\r\n", got);
          bufs[nbufs++] = net::buffer(size_line, static_cast<size_t>(len));
          bufs[nbufs++] = net::buffer(piece.data(), piece.size());
          bufs[nbufs++] = net::buffer("\r\n", 2);
        } else {
          bufs[nbufs++] = net::buffer(piece.data(), piece.size());
        }
      }
      if (done && chunked_out) bufs[nbufs++] = net::buffer("0\r\n\r\n", 5);
      if (nbufs > 0) {
        auto [wec, wn] = co_await net::async_write(
            client_, std::span<const net::const_buffer>(bufs.data(), nbufs), kTuple);
        if (wec) {
          rec.error = "client went away";
          co_return false; // dropping `conn` closes the provider connection too
        }
        head_pending = false;
      }
      if (done || upstream_failed) break;
    }
    account();
    // The client already has a status line: the only honest signal left is an aborted body.
    active_upstream_ = nullptr;
    if (upstream_failed) co_return false;
    if (upstream_keepalive) worker_.pool.release(std::move(conn));
    co_return chunked_out || length.has_value();
  }
  rec.error = last_error;
  co_return co_await reply(last_status, "application/json",
                           pipeline::error_body(last_status == 501   ? "NotImplemented"
                                                : last_status == 504 ? "GatewayTimeout"
                                                                     : "OpenAIBackendError",
                                                static_cast<int>(last_status), last_error),
                           rl_headers);
}

// Admin listener: health, readiness and the active configuration (secrets redacted).
net::awaitable<void> admin_session(tcp::socket socket, const Shared &shared) {
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
    std::string_view target = req.target();
    target = target.substr(0, target.find('?'));
    auto snap = shared.store->current();
    if (target == "/health" || target == "/ready") {
      res.result(200);
      res.set(http::field::content_type, "text/plain");
      res.body() = "OK\n";
    } else if (target == "/config_dump" || target == "/config") {
      res.result(200);
      res.set(http::field::content_type, "application/json");
      res.body() = snap->dump_json;
    } else if (target == "/stats") {
      res.result(200);
      res.set(http::field::content_type, "application/json");
      res.body() =
          "{\"requests\":" + std::to_string(g_request_counter.load()) +
          ",\"config_generation\":" + std::to_string(snap->generation) +
          ",\"config_reloads_ok\":" + std::to_string(shared.store->reloads_ok.load()) +
          ",\"config_reloads_rejected\":" + std::to_string(shared.store->reloads_rejected.load()) +
          ",\"budget_keys\":" + std::to_string(shared.budgets->size()) +
          ",\"redis_errors\":" + std::to_string(shared.redis_counters->errors.load()) +
          ",\"redis_failed_open\":" + std::to_string(shared.redis_counters->failed_open.load()) +
          "}";
    } else if (target == "/metrics") {
      auto &h = shared.metrics->health();
      h.config_reloads_ok.store(shared.store->reloads_ok.load());
      h.config_reloads_rejected.store(shared.store->reloads_rejected.load());
      h.redis_errors.store(shared.redis_counters->errors.load());
      h.redis_failed_open.store(shared.redis_counters->failed_open.load());
      res.result(200);
      res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
      res.body() = shared.metrics->render();
    } else {
      res.result(404);
      res.set(http::field::content_type, "text/plain");
      res.body() = "not found; try /health, /ready, /metrics, /config_dump, /stats\n";
    }
    res.prepare_payload();
    auto [wec, wn] = co_await http::async_write(stream, res, kTuple);
    if (wec || !res.keep_alive()) break;
  }
}

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

net::awaitable<void> accept_loop(tcp::acceptor &acceptor, Worker &worker, const Shared &shared) {
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
    net::co_spawn(
        worker.io,
        [&worker, &shared, s = std::move(socket)]() mutable -> net::awaitable<void> {
          ActiveStream connection(shared.metrics->health().active_connections);
          Session session(worker, shared, std::move(s));
          co_await session.serve();
        },
        net::detached);
  }
}

net::awaitable<void> admin_accept_loop(tcp::acceptor acceptor, const Shared &shared) {
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(kTuple);
    if (ec) {
      if (ec == net::error::operation_aborted) co_return;
      continue;
    }
    net::co_spawn(acceptor.get_executor(), admin_session(std::move(socket), shared), net::detached);
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

} // namespace

int run_server(control::ConfigStore &store, const ServerOptions &opts) {
  int n = opts.concurrency > 0
              ? opts.concurrency
              : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  ratelimit::MemoryStore budgets;
  ratelimit::RedisCounters redis_counters;
  auth::TokenSource tokens;
  observability::Metrics metrics(
      static_cast<size_t>(n),
      observability::parse_header_attributes(opts.metrics_request_header_attributes),
      opts.metrics_max_label_values);
  // Descriptors: the soft limit raised to the hard one, and connections capped below it (a
  // client connection may hold a provider connection too), so accept never runs out first.
  size_t max_connections = opts.max_connections;
  rlimit nofile{};
  if (::getrlimit(RLIMIT_NOFILE, &nofile) == 0) {
    if (nofile.rlim_cur < nofile.rlim_max) {
      rlimit raised = nofile;
      raised.rlim_cur = nofile.rlim_max;
      if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) nofile = raised;
    }
    if (max_connections == 0 && nofile.rlim_cur != RLIM_INFINITY)
      max_connections = std::max<size_t>(64, (static_cast<size_t>(nofile.rlim_cur) - 128) / 2);
  }
  if (max_connections == 0) max_connections = 100000;
  auto tracing = observability::tracing_config_from_env(
      [](const std::string &k) -> std::optional<std::string> {
        const char *v = std::getenv(k.c_str());
        if (!v) return std::nullopt;
        return std::string(v);
      });
  if (!tracing) {
    spdlog::error("{}", tracing.error().message);
    return 2;
  }
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
  Shared shared{&store,   &opts,           &budgets,         &redis_counters, &tokens,
                &metrics, max_connections, &tracing.value(), exporter.get()};
  std::vector<std::unique_ptr<Worker>> workers;
  for (int i = 0; i < n; ++i) {
    workers.push_back(std::make_unique<Worker>());
    workers.back()->index = static_cast<size_t>(i);
  }
  if (!opts.ratelimit_redis.empty()) {
    auto target = ratelimit::parse_redis_url(opts.ratelimit_redis);
    if (!target) {
      spdlog::error("--ratelimit-redis: expected redis://HOST:PORT, got \"{}\"",
                    opts.ratelimit_redis);
      return 2;
    }
    target->fail_closed = opts.ratelimit_fail_closed;
    for (auto &w : workers)
      w->redis = std::make_unique<ratelimit::RedisBudgets>(w->io.get_executor(), *target, &redis_counters);
    spdlog::info("token budgets shared through redis {}:{} (fail {})", target->host, target->port,
                 opts.ratelimit_fail_closed ? "closed" : "open");
  }

  auto ports = store.current()->listener_ports;
  std::string listen_host = opts.listen_host;
  for (uint16_t port : ports) {
    // The workers share each port with SO_REUSEPORT; another process must not join silently
    // (the kernel would split the traffic between two configurations).
    if (!opts.reuse_port && port_taken(workers[0]->io, listen_host, port)) {
      spdlog::error("cannot listen on {}:{}: address in use (another process listens there; "
                    "--reuse-port shares the port with it)",
                    listen_host, port);
      return 1;
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
        return 1;
      }
      w->acceptors.push_back(std::make_unique<tcp::acceptor>(std::move(*acc)));
      net::co_spawn(w->io, accept_loop(*w->acceptors.back(), *w, shared), net::detached);
    }
  }
  // The admin listener has a loop and a thread of its own: a scrape never stalls a worker.
  net::io_context admin_io{1};
  auto admin = open_acceptor(admin_io, opts.admin_host, opts.admin_port, false);
  if (!admin) {
    spdlog::error("admin: {}", admin.error().message);
    return 1;
  }
  uint16_t admin_port = admin->local_endpoint().port(); // the one it got, for --admin-port 0
  net::co_spawn(admin_io, admin_accept_loop(std::move(*admin), shared), net::detached);
  if (opts.admin_host == "127.0.0.1") { // "localhost" may resolve to ::1 first
    if (auto admin6 = open_acceptor(admin_io, "::1", admin_port, false))
      net::co_spawn(admin_io, admin_accept_loop(std::move(*admin6), shared), net::detached);
  }

  // Old windows leave the budget store every ten seconds.
  net::co_spawn(
      workers[0]->io,
      [&budgets]() -> net::awaitable<void> {
        net::steady_timer t(co_await net::this_coro::executor);
        for (;;) {
          t.expires_after(std::chrono::seconds(10));
          auto [ec] = co_await t.async_wait(kTuple);
          if (ec) co_return;
          budgets.sweep(unix_now());
        }
      },
      net::detached);

  Shutdown shutdown(admin_io, workers, metrics, opts.drain_timeout);
  std::signal(SIGPIPE, SIG_IGN);

  std::string listen;
  for (uint16_t p : ports)
    listen += (listen.empty() ? "" : ", ") + (listen_host == "::" ? "[::]" : listen_host) + ":" +
              std::to_string(p);
  spdlog::info("aigw listening on {} ({} workers, at most {} connections), admin on {}:{}, "
               "config generation {} from {}",
               listen, n, max_connections, opts.admin_host, admin_port, store.current()->generation,
               store.current()->source);

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

} // namespace aigw::proxy
