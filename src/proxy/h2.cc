// HTTP/2 client connections of the standalone host; see h2.h.
#include "proxy/h2.h"

#include "pipeline/headers.h"
#include "proxy/session.h"

#include <nghttp2/nghttp2.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <unordered_map>

namespace aigw::proxy {
namespace {

constexpr auto kTuple = net::as_tuple(net::use_awaitable);
constexpr std::string_view kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
constexpr size_t kHighWater = 64 * 1024;   // answer bytes a stream holds before its writer waits
constexpr uint32_t kMaxStreams = 128;      // SETTINGS_MAX_CONCURRENT_STREAMS
constexpr int32_t kStreamWindow = 1 << 20; // what a client may send on a stream unread
constexpr int32_t kConnWindow = 4 << 20;

// Fields that mean something to one HTTP/1.1 connection only: never in an HTTP/2 message.
bool connection_specific(std::string_view name) {
  for (std::string_view n : {"connection", "keep-alive", "proxy-connection", "transfer-encoding",
                             "upgrade", "te", "trailer"})
    if (pipeline::iequals(name, n)) return true;
  return false;
}

} // namespace

bool is_h2_preface(std::string_view first) {
  return first.size() >= 4 && kPreface.starts_with(first.substr(0, kPreface.size()));
}

// The connection: nghttp2's session, the socket's reader and writer, and the open streams.
class H2Connection : public std::enable_shared_from_this<H2Connection> {
public:
  H2Connection(Worker &worker, const Shared &shared, ClientStream stream)
      : worker_(worker), shared_(shared), stream_(std::move(stream)), wake_(worker.io),
        watch_timer_(worker.io) {
    beast::error_code ec;
    if (auto ep = stream_.socket().remote_endpoint(ec); !ec) peer_ = ep.address().to_string();
  }
  const std::string &peer() const { return peer_; }
  ~H2Connection() {
    if (session_) nghttp2_session_del(session_);
  }
  H2Connection(const H2Connection &) = delete;
  H2Connection &operator=(const H2Connection &) = delete;

  bool start();
  net::awaitable<void> serve(std::string initial);

  // Output is waiting: the writer sends it.
  void signal() {
    if (writer_waiting_) wake_.cancel();
  }
  bool dead() const { return dead_; }
  nghttp2_session *session() { return session_; }
  Worker &worker() { return worker_; }
  void progress() { last_progress_ = Clock::now(); }

private:
  friend class H2Stream;
  net::awaitable<void> reader(std::string initial);
  net::awaitable<void> writer();
  net::awaitable<void> watch();
  bool feed(const char *data, size_t n);
  void refuse(const std::shared_ptr<H2Stream> &st, unsigned status, std::string why);
  void dispatch(const std::shared_ptr<H2Stream> &st);
  static net::awaitable<void> run_stream(std::shared_ptr<H2Connection> self,
                                         std::shared_ptr<H2Stream> st);
  static std::unique_ptr<Session::RequestParser> request_of(H2Stream &st);
  void give_back(int32_t id, size_t n); // body bytes returned to the flow-control windows
  void release_deferred();
  void end(); // the connection is over: every stream is gone

  static int on_begin_headers(nghttp2_session *, const nghttp2_frame *f, void *self);
  static int on_header(nghttp2_session *, const nghttp2_frame *f, const uint8_t *name,
                       size_t namelen, const uint8_t *value, size_t valuelen, uint8_t, void *self);
  static int on_data(nghttp2_session *, uint8_t, int32_t id, const uint8_t *data, size_t len,
                     void *self);
  static int on_frame(nghttp2_session *, const nghttp2_frame *f, void *self);
  static int on_frame_sent(nghttp2_session *, const nghttp2_frame *f, void *self);
  static int on_close(nghttp2_session *, int32_t id, uint32_t, void *self);

  Worker &worker_;
  const Shared &shared_;
  ClientStream stream_;
  std::string peer_; // the client's address
  nghttp2_session *session_ = nullptr;
  net::steady_timer wake_; // the writer's wait for output
  net::steady_timer watch_timer_;
  bool writer_waiting_ = false;
  bool dead_ = false;
  bool read_closed_ = false; // the client half-closed: answers in progress still go out
  bool shutdown_noticed_ = false;
  std::unordered_map<int32_t, std::shared_ptr<H2Stream>> streams_;
  size_t running_ = 0;      // sessions serving this connection's streams
  size_t pending_body_ = 0; // request body bytes held for streams not yet dispatched
  Clock::time_point last_progress_ = Clock::now();
  Clock::time_point write_since_ = Clock::time_point::max(); // a write waiting for the client
  std::array<char, 16384> rbuf_;
  std::string wbuf_;
};

const std::string &H2Stream::peer() const { return conn_.peer(); }

// --- nghttp2's callbacks: the request's frames --------------------------------------------

int H2Connection::on_begin_headers(nghttp2_session *, const nghttp2_frame *f, void *self) {
  auto *c = static_cast<H2Connection *>(self);
  if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
  c->streams_[f->hd.stream_id] = std::make_shared<H2Stream>(*c, f->hd.stream_id);
  return 0;
}

int H2Connection::on_header(nghttp2_session *, const nghttp2_frame *f, const uint8_t *name,
                            size_t namelen, const uint8_t *value, size_t valuelen, uint8_t,
                            void *self) {
  auto *c = static_cast<H2Connection *>(self);
  if (f->hd.type != NGHTTP2_HEADERS) return 0;
  auto it = c->streams_.find(f->hd.stream_id);
  if (it == c->streams_.end()) return 0;
  auto &st = *it->second;
  if (st.remote_done || f->headers.cat != NGHTTP2_HCAT_REQUEST) return 0; // trailers: dropped
  std::string_view n(reinterpret_cast<const char *>(name), namelen);
  std::string_view v(reinterpret_cast<const char *>(value), valuelen);
  const auto &opts = *c->shared_.opts;
  st.header_bytes += namelen + valuelen + 4;
  if (st.header_bytes > opts.max_request_header || st.fields.size() >= opts.max_request_headers) {
    st.refuse = 431;
    // Far past the limit: the stream is reset rather than its block decoded to the end.
    if (st.header_bytes > 2 * opts.max_request_header) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    return 0;
  }
  if (n == ":method") {
    st.method = v;
  } else if (n == ":path") {
    st.path = v;
  } else if (n == ":authority") {
    st.authority = v;
  } else if (n == ":scheme") {
    st.scheme = v;
  } else if (n == "cookie") { // split crumbs are one field again (RFC 9113 §8.2.3)
    auto same = std::find_if(st.fields.begin(), st.fields.end(),
                             [](const auto &f) { return f.first == "cookie"; });
    if (same == st.fields.end())
      st.fields.emplace_back(n, v);
    else
      same->second.append("; ").append(v);
  } else if (!n.starts_with(':')) {
    st.fields.emplace_back(n, v);
  }
  return 0;
}

void H2Connection::give_back(int32_t id, size_t n) {
  if (n == 0) return;
  if (nghttp2_session_consume(session_, id, n) != 0)
    nghttp2_session_consume_connection(session_, n);
}

// Request bodies are held up to a budget per connection (the body limit): past it, what a
// stream sends is not given back to the flow-control windows until earlier streams have taken
// their bodies, except the oldest stream's, so one always completes.
int H2Connection::on_data(nghttp2_session *, uint8_t, int32_t id, const uint8_t *data, size_t len,
                          void *self) {
  auto *c = static_cast<H2Connection *>(self);
  c->progress();
  auto it = c->streams_.find(id);
  if (it == c->streams_.end()) {
    c->give_back(id, len);
    return 0;
  }
  auto &st = *it->second;
  if (st.refuse || st.dispatched) { // answered already: the rest is read and dropped
    c->give_back(id, len);
    return 0;
  }
  const auto limit = c->shared_.opts->max_request_body;
  if (st.body.size() + len > limit) {
    c->give_back(id, len + st.unconsumed);
    st.unconsumed = 0;
    c->refuse(it->second, 413, "");
    return 0;
  }
  st.body.append(reinterpret_cast<const char *>(data), len);
  c->pending_body_ += len;
  bool oldest = true;
  for (const auto &[other, s] : c->streams_)
    if (other < id && !s->dispatched) oldest = false;
  if (c->pending_body_ <= limit || oldest)
    c->give_back(id, len);
  else
    st.unconsumed += len;
  return 0;
}

void H2Connection::release_deferred() {
  const auto limit = shared_.opts->max_request_body;
  for (auto &[id, st] : streams_) {
    if (pending_body_ > limit) break;
    give_back(id, st->unconsumed);
    st->unconsumed = 0;
  }
}

int H2Connection::on_frame(nghttp2_session *, const nghttp2_frame *f, void *self) {
  auto *c = static_cast<H2Connection *>(self);
  c->progress();
  if (f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA) return 0;
  auto it = c->streams_.find(f->hd.stream_id);
  if (it == c->streams_.end()) return 0;
  auto st = it->second;
  if (f->hd.flags & NGHTTP2_FLAG_END_STREAM) st->remote_done = true;
  if (st->dispatched) return 0;
  if (f->hd.type == NGHTTP2_HEADERS && f->headers.cat == NGHTTP2_HCAT_REQUEST) {
    if (st->refuse) {
      c->refuse(st, st->refuse, "");
      return 0;
    }
    std::string_view host, expect;
    for (const auto &[n, v] : st->fields) {
      if (n == "host") host = v;
      if (n == "expect") expect = v;
      if (n == "content-length") {
        uint64_t len = 0;
        auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), len);
        if (ec == std::errc{} && len > c->shared_.opts->max_request_body) {
          c->refuse(st, 413, ""); // refused before any of the body is held
          return 0;
        }
      }
    }
    if (!host.empty() && !st->authority.empty() && !pipeline::iequals(host, st->authority)) {
      c->refuse(st, 400, "Host differs from :authority");
      return 0;
    }
    // A client that waits for 100 Continue before it sends the body gets one.
    if (!st->remote_done && pipeline::iequals(expect, "100-continue")) {
      nghttp2_nv nv{(uint8_t *)":status", (uint8_t *)"100", 7, 3, NGHTTP2_NV_FLAG_NONE};
      nghttp2_submit_headers(c->session_, NGHTTP2_FLAG_NONE, st->id_, nullptr, &nv, 1, nullptr);
    }
  }
  if (st->remote_done) c->dispatch(st);
  return 0;
}

// An answer given before the request's body ended (413): once its last frame is out, the
// stream is reset so that the client stops sending (RFC 9113 §8.1).
int H2Connection::on_frame_sent(nghttp2_session *, const nghttp2_frame *f, void *self) {
  auto *c = static_cast<H2Connection *>(self);
  if (!(f->hd.flags & NGHTTP2_FLAG_END_STREAM)) return 0;
  if (f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA) return 0;
  auto it = c->streams_.find(f->hd.stream_id);
  if (it == c->streams_.end()) return 0;
  auto &st = *it->second;
  st.end_sent_ = true;
  if (st.reset_after_end && !st.remote_done)
    nghttp2_submit_rst_stream(c->session_, NGHTTP2_FLAG_NONE, st.id_, NGHTTP2_NO_ERROR);
  return 0;
}

int H2Connection::on_close(nghttp2_session *, int32_t id, uint32_t, void *self) {
  auto *c = static_cast<H2Connection *>(self);
  auto it = c->streams_.find(id);
  if (it == c->streams_.end()) return 0;
  auto st = std::move(it->second);
  c->streams_.erase(it);
  if (!st->dispatched) c->pending_body_ -= st->body.size();
  if (st->unconsumed) nghttp2_session_consume_connection(c->session_, st->unconsumed);
  st->unconsumed = 0;
  st->closed();
  c->release_deferred();
  return 0;
}

// --- The connection ------------------------------------------------------------------------

bool H2Connection::start() {
  nghttp2_session_callbacks *cbs = nullptr;
  if (nghttp2_session_callbacks_new(&cbs) != 0) return false;
  nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, on_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame);
  nghttp2_session_callbacks_set_on_frame_send_callback(cbs, on_frame_sent);
  nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_close);
  nghttp2_option *opt = nullptr;
  if (nghttp2_option_new(&opt) != 0) {
    nghttp2_session_callbacks_del(cbs);
    return false;
  }
  nghttp2_option_set_no_auto_window_update(opt, 1); // request bodies are held to a budget
  int rv = nghttp2_session_server_new2(&session_, cbs, this, opt);
  nghttp2_option_del(opt);
  nghttp2_session_callbacks_del(cbs);
  if (rv != 0) return false;
  std::array<nghttp2_settings_entry, 3> iv{{
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, kMaxStreams},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, kStreamWindow},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE,
       static_cast<uint32_t>(shared_.opts->max_request_header)},
  }};
  nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, iv.data(), iv.size());
  nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0, kConnWindow);
  return true;
}

net::awaitable<void> H2Connection::serve(std::string initial) {
  using namespace net::experimental::awaitable_operators;
  beast::error_code ec;
  stream_.socket().non_blocking(true, ec);
  co_await ((reader(std::move(initial)) && writer()) || watch());
  end();
  stream_.socket().close(ec);
}

bool H2Connection::feed(const char *data, size_t n) {
  progress();
  auto rv = nghttp2_session_mem_recv(session_, reinterpret_cast<const uint8_t *>(data), n);
  signal();
  if (rv < 0) {
    spdlog::debug("HTTP/2 client connection: {}", nghttp2_strerror(static_cast<int>(rv)));
    return false;
  }
  return true;
}

net::awaitable<void> H2Connection::reader(std::string initial) {
  bool ok = feed(initial.data(), initial.size());
  beast::error_code ec;
  while (ok && !dead_ && nghttp2_session_want_read(session_)) {
    size_t n = 0;
    std::tie(ec, n) = co_await stream_.async_read_some(net::buffer(rbuf_), kTuple);
    if (ec) break;
    ok = feed(rbuf_.data(), n);
  }
  if (ok && ec == net::error::eof && !dead_) {
    read_closed_ = true; // half-closed: the answers under way still go out (watch() ends it)
    co_return;
  }
  dead_ = true; // nothing more is read: what is queued (a GOAWAY) still goes out
  signal();
}

// Sends what nghttp2 has queued: frames gathered into one write, up to 64 KiB.
net::awaitable<void> H2Connection::writer() {
  for (;;) {
    wbuf_.clear();
    bool failed = false;
    while (wbuf_.size() < kHighWater) {
      const uint8_t *data = nullptr;
      auto n = nghttp2_session_mem_send(session_, &data);
      if (n < 0) failed = true;
      if (n <= 0) break;
      wbuf_.append(reinterpret_cast<const char *>(data), static_cast<size_t>(n));
    }
    if (failed && wbuf_.empty()) break;
    if (wbuf_.empty()) {
      if (dead_ || (!nghttp2_session_want_read(session_) && !nghttp2_session_want_write(session_)))
        break;
      writer_waiting_ = true;
      wake_.expires_at(Clock::time_point::max());
      co_await wake_.async_wait(kTuple);
      writer_waiting_ = false;
      continue;
    }
    beast::error_code ec;
    // Offered to a plain socket without blocking first; TLS records go through the stream.
    size_t n = stream_.tls() ? 0 : stream_.socket().write_some(net::buffer(wbuf_), ec);
    if (ec == net::error::would_block || ec == net::error::try_again) {
      ec = {};
      n = 0;
    }
    if (!ec && n < wbuf_.size()) {
      write_since_ = Clock::now(); // a client that stops reading is cut by watch()
      std::tie(ec, std::ignore) = co_await net::async_write(
          stream_, net::buffer(wbuf_.data() + n, wbuf_.size() - n), kTuple);
      write_since_ = Clock::time_point::max();
    }
    if (ec) break;
    progress();
  }
  dead_ = true;
  beast::error_code ignored;
  stream_.socket().cancel(ignored); // the reader stops too
}

// Once a second: ends an idle connection (no session running, and no stream or no progress for
// the idle timeout), a draining one once its streams are done, one whose client stopped reading
// (a write waiting 60 s), and refuses streams whose body did not come within the request-header
// timeout (408).
net::awaitable<void> H2Connection::watch() {
  for (;;) {
    watch_timer_.expires_after(std::chrono::seconds(1));
    co_await watch_timer_.async_wait(kTuple);
    auto cs = co_await net::this_coro::cancellation_state;
    if (cs.cancelled() != net::cancellation_type::none) co_return;
    auto now = Clock::now();
    const auto &opts = *shared_.opts;
    if (now - write_since_ > std::chrono::seconds(60)) {
      beast::error_code ignored;
      stream_.socket().cancel(ignored);
      continue;
    }
    if (worker_.draining && !shutdown_noticed_) { // no new streams; those open finish
      shutdown_noticed_ = true;
      nghttp2_submit_shutdown_notice(session_);
      signal();
    }
    std::vector<std::shared_ptr<H2Stream>> late;
    for (const auto &[id, st] : streams_)
      if (!st->dispatched && now - st->begun_ > opts.request_header_timeout) late.push_back(st);
    for (const auto &st : late)
      refuse(st, 408, "");
    bool no_progress = now - last_progress_ >= opts.idle_timeout;
    if (running_ == 0 &&
        (no_progress || ((read_closed_ || worker_.draining) && streams_.empty()))) {
      nghttp2_session_terminate_session(session_, NGHTTP2_NO_ERROR);
      if (read_closed_) dead_ = true;
      signal();
    }
  }
}

void H2Connection::end() {
  dead_ = true;
  auto open = std::move(streams_);
  streams_.clear();
  for (auto &[id, st] : open)
    st->closed();
}

// A stream answered with an error of the gateway's own (400, 408, 413, 431) without its body.
void H2Connection::refuse(const std::shared_ptr<H2Stream> &st, unsigned status, std::string why) {
  if (!st->dispatched) pending_body_ -= st->body.size();
  st->body.clear();
  st->body.shrink_to_fit();
  st->refuse = status;
  st->refuse_why = std::move(why);
  if (!st->remote_done) st->reset_after_end = true;
  dispatch(st);
}

void H2Connection::dispatch(const std::shared_ptr<H2Stream> &st) {
  if (st->dispatched) return;
  if (!st->refuse) pending_body_ -= st->body.size();
  st->dispatched = true;
  give_back(st->id_, st->unconsumed); // its body is no longer held for it
  st->unconsumed = 0;
  release_deferred();
  // Sessions per connection are bounded: a client that resets each stream it opens (the open
  // ones are bounded by nghttp2) cannot pile up sessions still finishing.
  if (running_ >= 2 * kMaxStreams) {
    nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, st->id_, NGHTTP2_REFUSED_STREAM);
    signal();
    return;
  }
  ++running_;
  // Posted: a coroutine spawned here would start inside nghttp2's callback, and inside the
  // reader's coroutine.
  net::post(worker_.io, [self = shared_from_this(), st] {
    net::co_spawn(self->worker_.io, run_stream(self, st), net::detached);
  });
}

// The stream's request as the session reads one: an HTTP/1.1 message with its Host.
std::unique_ptr<Session::RequestParser> H2Connection::request_of(H2Stream &st) {
  auto parser = std::make_unique<Session::RequestParser>();
  auto &req = parser->get();
  req.version(11);
  req.method_string(st.method);
  req.target(st.path);
  bool has_host = false;
  for (auto &[n, v] : st.fields) {
    if (n == "host") has_host = true;
    req.insert(n, v);
  }
  if (!has_host && !st.authority.empty()) req.insert(http::field::host, st.authority);
  req.body() = std::move(st.body);
  st.fields.clear();
  st.fields.shrink_to_fit();
  st.head_request_ = req.method() == http::verb::head;
  return parser;
}

net::awaitable<void> H2Connection::run_stream(std::shared_ptr<H2Connection> self,
                                              std::shared_ptr<H2Stream> st) {
  if (!st->gone_ && !self->dead_) {
    auto parser = request_of(*st);
    auto session = std::make_unique<Session>(self->worker_, self->shared_, *st);
    st->session = session.get();
    co_await session->serve_stream(*parser, st->refuse, st->refuse_why);
    st->session = nullptr;
  }
  --self->running_;
  if (!st->gone_ && !self->dead_) {
    // An answer cut short (or never given): the client must not trust what it got.
    if (!st->head_sent_ || !st->body_done_)
      nghttp2_submit_rst_stream(self->session_, NGHTTP2_FLAG_NONE, st->id_, NGHTTP2_INTERNAL_ERROR);
    else if (st->reset_after_end && st->end_sent_ && !st->remote_done)
      nghttp2_submit_rst_stream(self->session_, NGHTTP2_FLAG_NONE, st->id_, NGHTTP2_NO_ERROR);
    self->signal();
  }
}

// --- A stream's answer ---------------------------------------------------------------------

struct H2StreamAccess {
  // nghttp2 asks for the next DATA frame's bytes.
  static ssize_t read(nghttp2_session *, int32_t, uint8_t *buf, size_t length, uint32_t *flags,
                      nghttp2_data_source *source, void *) {
    auto &st = *static_cast<H2Stream *>(source->ptr);
    size_t n = std::min(length, st.out_.size() - st.out_off_);
    std::memcpy(buf, st.out_.data() + st.out_off_, n);
    st.out_off_ += n;
    if (st.out_off_ == st.out_.size()) {
      st.out_.clear();
      st.out_off_ = 0;
    } else if (st.out_off_ >= kHighWater) { // what went out is not kept
      st.out_.erase(0, st.out_off_);
      st.out_off_ = 0;
    }
    if (st.out_.empty() && st.body_done_)
      *flags |= NGHTTP2_DATA_FLAG_EOF;
    else if (n == 0)
      return NGHTTP2_ERR_DEFERRED; // resumed when the session writes more
    if (st.waiting_ && st.out_.size() - st.out_off_ < kHighWater) st.wait_->cancel();
    return static_cast<ssize_t>(n);
  }
};

bool H2Stream::put(std::string_view bytes) {
  if (!parser_) {
    parser_.emplace();
    parser_->header_limit(256 * 1024);
    parser_->body_limit(boost::none);
    parser_->eager(true);
    if (head_request_) parser_->skip(true);
  }
  std::string_view data = bytes;
  if (!in_.empty()) {
    in_.append(bytes);
    data = in_;
  }
  std::array<char, 16384> scratch;
  size_t used = 0;
  while (used < data.size() && !parser_->is_done()) {
    auto &body = parser_->get().body();
    body.data = scratch.data();
    body.size = scratch.size();
    beast::error_code ec;
    size_t n = parser_->put(net::buffer(data.data() + used, data.size() - used), ec);
    if (ec == http::error::need_buffer) ec = {};
    used += n;
    out_.append(scratch.data(), scratch.size() - body.size);
    if (ec == http::error::need_more) break;
    if (ec) return false;
    if (n == 0 && body.size == scratch.size()) break; // (nothing taken: wait for more)
  }
  if (parser_->is_header_done() && !head_sent_) submit_head();
  if (parser_->is_done()) body_done_ = true;
  std::string rest(data.substr(used));
  in_ = std::move(rest);
  if (parser_->is_done()) in_.clear(); // (nothing follows one answer)
  return true;
}

void H2Stream::submit_head() {
  head_sent_ = true;
  auto &res = parser_->get();
  std::string status = std::to_string(res.result_int());
  std::vector<std::string> names; // lower-cased, as HTTP/2 requires
  std::vector<nghttp2_nv> nv;
  names.reserve(static_cast<size_t>(std::distance(res.begin(), res.end())));
  nv.push_back(
      {(uint8_t *)":status", (uint8_t *)status.data(), 7, status.size(), NGHTTP2_NV_FLAG_NONE});
  for (const auto &f : res) {
    if (connection_specific(f.name_string())) continue;
    auto &n = names.emplace_back(f.name_string());
    for (auto &ch : n)
      ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    nv.push_back({(uint8_t *)n.data(), (uint8_t *)f.value().data(), n.size(), f.value().size(),
                  NGHTTP2_NV_FLAG_NONE});
  }
  bool no_body = parser_->is_done() && out_.empty();
  nghttp2_data_provider provider{};
  provider.source.ptr = this;
  provider.read_callback = H2StreamAccess::read;
  if (nghttp2_submit_response(conn_.session(), id_, nv.data(), nv.size(),
                              no_body ? nullptr : &provider) != 0)
    nghttp2_submit_rst_stream(conn_.session(), NGHTTP2_FLAG_NONE, id_, NGHTTP2_INTERNAL_ERROR);
}

net::awaitable<beast::error_code> H2Stream::write(std::span<const net::const_buffer> bufs) {
  if (gone_ || conn_.dead()) co_return net::error::connection_reset;
  size_t before = out_.size();
  for (const auto &b : bufs)
    if (b.size() > 0 && !put(std::string_view(static_cast<const char *>(b.data()), b.size())))
      co_return http::error::bad_value;
  if (head_sent_ && !gone_ && (out_.size() != before || body_done_))
    nghttp2_session_resume_data(conn_.session(), id_);
  conn_.signal();
  if (!wait_) wait_.emplace(conn_.worker().io);
  while (!gone_ && !conn_.dead() && out_.size() - out_off_ >= kHighWater) {
    waiting_ = true;
    wait_->expires_at(Clock::time_point::max());
    co_await wait_->async_wait(kTuple);
    waiting_ = false;
    if (abort_) {
      abort_ = false;
      co_return net::error::operation_aborted;
    }
  }
  if (gone_ || conn_.dead()) co_return net::error::connection_reset;
  co_return beast::error_code{};
}

void H2Stream::cancel() {
  if (waiting_) {
    abort_ = true;
    wait_->cancel();
  }
  fire_gone();
}

void H2Stream::watch_gone(std::function<void()> f) {
  on_gone_ = std::move(f);
  if (gone_) fire_gone();
}

void H2Stream::fire_gone() {
  if (!on_gone_) return;
  net::post(conn_.worker().io, std::move(on_gone_));
  on_gone_ = nullptr;
}

void H2Stream::closed() {
  gone_ = true;
  if (waiting_) wait_->cancel();
  fire_gone();
  if (session) session->client_gone(); // its provider call ends now, not at its next write
}

net::awaitable<void> serve_h2(Worker &worker, const Shared &shared, ClientStream socket,
                              std::string initial) {
  auto conn = std::make_shared<H2Connection>(worker, shared, std::move(socket));
  if (!conn->start()) co_return;
  co_await conn->serve(std::move(initial));
}

} // namespace aigw::proxy
