// One client connection of the standalone host: reads requests with their limits and deadlines,
// drives one pipeline::Exchange per request, performs the I/O it asks for (budget checks, token
// fetches, provider attempts) and relays the answer. Every decision is the Exchange's.
// Thread-safety: a Session lives on its worker's loop only.
#pragma once

#include "mcp/exchange.h"
#include "pipeline/exchange.h"
#include "pipeline/headers.h"
#include "proxy/client_stream.h"
#include "proxy/worker.h"

#include <array>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

namespace aigw::proxy {

namespace http = beast::http;
struct McpCall;
class H2Stream;

class Session {
public:
  Session(Worker &worker, const Shared &shared, ClientStream client)
      : worker_(worker), shared_(shared), client_(std::move(client)) {
    worker_.sessions.insert(this);
  }
  // One HTTP/2 stream's request (proxy/h2.cc): its answer goes to the stream.
  Session(Worker &worker, const Shared &shared, H2Stream &stream)
      : worker_(worker), shared_(shared), client_(worker.io.get_executor()), h2_(&stream) {
    worker_.sessions.insert(this);
  }
  ~Session() { worker_.sessions.erase(this); }
  Session(const Session &) = delete;
  Session &operator=(const Session &) = delete;

  using RequestParser = http::request_parser<http::string_body>;

  // Serves requests until the client leaves; a watchdog enforces the deadlines meanwhile.
  net::awaitable<void> serve();
  // The client opened with HTTP/2's preface: serve() returned without answering, and the
  // connection with the bytes read so far goes to proxy/h2.cc.
  bool wants_h2() const { return h2_handoff_; }
  ClientStream take_socket() { return std::move(client_); }
  std::string take_buffered();
  // Serves one HTTP/2 stream's request, decoded into `parser`; `refuse` (413, 431) answers it
  // with that error instead.
  net::awaitable<void> serve_stream(RequestParser &parser, unsigned refuse, std::string_view why);
  // The HTTP/2 client reset its stream (or the connection ended): the provider call in flight
  // ends now, and nothing is retried.
  void client_gone();
  // The worker started draining: a connection waiting for its next request closes now; one
  // with a request under way finishes it and closes after (`connection: close`).
  void on_drain();
  // The drain ran out of time: the request in flight is cut, and logged as cut.
  void cut();

private:
  using ResponseParser = http::response_parser<http::buffer_body>;
  // One attempt's provider connection and the parser holding its response head.
  struct Attempt {
    std::unique_ptr<UpstreamConn> conn;
    std::optional<ResponseParser> parser;
    std::optional<pipeline::AttemptFailure> failure; // set when no response head came
    std::string detail;                              // why the connection failed
  };

  net::awaitable<void> run();
  net::awaitable<void> stream_request(RequestParser *parser, unsigned refuse, std::string_view why);
  net::awaitable<void> watchdog();
  // Aborts the client's operation in flight (a read or write on the socket, or the stream's).
  void cancel_client();
  // The head fields listed, and the header count and framing checked: what to refuse the
  // request with, if anything.
  std::optional<pipeline::FramingError> check_head(RequestParser &parser);
  net::awaitable<beast::error_code> read_body_direct(RequestParser &parser, size_t len);
  std::string too_large() const;
  // Every wait of the session ends by `t`: past it, the watchdog aborts the client's and the
  // provider's operations in flight. Setting it is a store, not a timer operation.
  void set_deadline(Clock::time_point t) {
    deadline_ = t;
    timed_out_ = false;
    if (t < wake_at_) watchdog_timer_.cancel(); // wake it to look at the earlier deadline
  }
  bool timed_out(const beast::error_code &ec) const {
    return timed_out_ && ec == net::error::operation_aborted;
  }
  // True when the response must end the connection (the client asked, or the worker drains).
  bool closing() {
    if (worker_.draining) keep_alive_ = false;
    return !keep_alive_;
  }

  // The request lifecycle, driven against the Exchange.
  net::awaitable<bool> handle(RequestParser &parser);
  // A request to an MCPRoute (proxy/mcp_host.cc): the calls mcp::Exchange asks for, in parallel.
  net::awaitable<bool> mcp(RequestParser &parser, const control::CompiledMCPRoute &route,
                           std::shared_ptr<const control::Snapshot> snap);
  void mcp_finish(observability::ExchangeRecord &rec, const mcp::Exchange &ex);
  net::awaitable<bool> mcp_relay(mcp::Exchange &ex, McpCall &call,
                                 observability::ExchangeRecord &rec, Clock::time_point deadline);
  net::awaitable<bool> mcp_listen(mcp::Exchange &ex, std::vector<mcp::BackendCall> calls,
                                  observability::ExchangeRecord &rec,
                                  const control::CompiledMCPRoute &route);
  std::string mcp_head(const mcp::Reply &r, bool chunked);
  net::awaitable<std::optional<bool>> mcp_single(mcp::Exchange &ex, const mcp::BackendCall &call,
                                                 mcp::BackendAnswer &answer,
                                                 observability::ExchangeRecord &rec,
                                                 Clock::time_point deadline);
  // An oauth route's keys: its local JWKS, or the remote (or discovered) one, cached.
  net::awaitable<mcp::OAuthCache::Keys> mcp_keys(const control::CompiledMCPRoute &route);
  // The authorization server's metadata document for an oauth route (fetched, cached).
  net::awaitable<std::string> mcp_server_metadata(const control::CompiledMCPRoute &route);
  // The OAuth well-known documents of the MCPRoutes; false when `path` is none of them.
  net::awaitable<std::optional<bool>>
  mcp_well_known(std::string_view path, const control::Snapshot &snap, const HeaderLookup &headers);
  net::awaitable<bool> attempts(pipeline::Exchange &ex);
  // A request hedged (aigw.run/hedge-after): the first attempt, and a second one alongside it
  // when the first is slower than `delay`; the first response head wins. nullopt: neither
  // answered and the attempts go on; else what answering returned.
  struct HedgeLeg;
  net::awaitable<std::optional<bool>> hedged(pipeline::Exchange &ex, std::string head,
                                             std::chrono::milliseconds delay);
  static net::awaitable<void> run_leg(Worker *worker, std::shared_ptr<HedgeLeg> leg);
  std::shared_ptr<HedgeLeg> make_leg(pipeline::Exchange &ex, std::string head);
  net::awaitable<bool> end_continued(pipeline::Exchange &ex);
  net::awaitable<std::optional<ratelimit::Verdict>> check(pipeline::BudgetCheck &c);
  void apply(const pipeline::Settlement &s);
  // The response cache: what its store holds under `key`; a hit written to the client.
  net::awaitable<std::optional<std::string>> cache_get(const std::string &key);
  net::awaitable<bool> replay(pipeline::Exchange &ex);
  void charge(const std::vector<ratelimit::Hit> &hits, const ratelimit::CostValues *costs);
  net::awaitable<std::pair<beast::error_code, size_t>> read_some(Attempt &a, char *buf, size_t cap);
  net::awaitable<std::pair<beast::error_code, size_t>> next_piece(Attempt &a,
                                                                  std::optional<RelayLease> &relay);
  // The answer, per the Exchange's plan: its head, then one of the three relays.
  std::string response_head(pipeline::Exchange &ex, const pipeline::ResponsePlan &plan, Attempt &a);
  net::awaitable<bool> relay_gathered(pipeline::Exchange &ex, Attempt &a, std::string head);
  net::awaitable<bool> relay_stream(pipeline::Exchange &ex, const pipeline::ResponsePlan &plan,
                                    Attempt &a, std::string head);
  void release(Attempt &a, bool keep_alive);
  pipeline::ResponsePlan plan_answer(pipeline::Exchange &ex, Attempt &a);
  void arm_idle(const pipeline::Exchange &ex);
  bool idle_fired() const;
  pipeline::StreamFailure stream_failure(pipeline::Exchange &ex, const beast::error_code &ec);

  net::awaitable<bool> reply(unsigned status, std::string_view content_type, std::string_view body,
                             std::string_view extra_headers = {});
  net::awaitable<bool> reply(const pipeline::LocalReply &r);
  net::awaitable<bool> write_all(std::string_view a, std::string_view b = {});
  // The write of `bufs` to the client: its HTTP/2 stream or its connection. Not a coroutine (no
  // frame of its own); `bufs` is referred to until the write is done.
  net::awaitable<beast::error_code> to_client(const std::span<const net::const_buffer> &bufs);

  Worker &worker_;
  const Shared &shared_;
  ClientStream client_;
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
  H2Stream *h2_ = nullptr;    // serving one HTTP/2 stream: the answer goes there
  bool h2_handoff_ = false;   // the connection turned out to speak HTTP/2
  bool client_gone_ = false;  // the HTTP/2 stream was reset
  observability::ExchangeRecord *rec_ = nullptr;
  Clock::time_point try_deadline_ = Clock::time_point::max(); // the attempt's deadline
  bool idle_armed_ = false; // the deadline set is the streamIdleTimeout's
  bool stream_retry_ = false;
  bool client_chunked_ = false;
  net::steady_timer *race_ = nullptr; // a hedged request's race, while it runs // the answer's body
                                      // is chunked (a continuation keeps it so)
  bool peer_known_ = false;
  std::string peer_; // the client's address // relay_stream dropped a failed stream: the next
                     // attempt serves
};

} // namespace aigw::proxy
