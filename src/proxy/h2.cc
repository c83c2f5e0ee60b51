// HTTP/2 client connections of the standalone host; see h2.h.
#include "proxy/h2.h"

#include "pipeline/headers.h"
#include "proxy/session.h"

#include <nghttp2/nghttp2.h>
#include <spdlog/spdlog.h>

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
  H2Connection(Worker &worker, const Shared &shared, tcp::socket socket)
      : worker_(worker), shared_(shared), socket_(std::move(socket)), wake_(worker.io),
        idle_timer_(worker.io) {}
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

private:
  friend class H2Stream;
  net::awaitable<void> reader(std::string initial);
  net::awaitable<void> writer();
  net::awaitable<void> watch();
  bool feed(const char *data, size_t n);
  void dispatch(const std::shared_ptr<H2Stream> &st);
  net::awaitable<void> run_stream(std::shared_ptr<H2Stream> st);
  static std::unique_ptr<Session::RequestParser> request_of(H2Stream &st);
  void end(); // the connection is over: every stream is gone

  static int on_begin_headers(nghttp2_session *, const nghttp2_frame *f, void *self);
  static int on_header(nghttp2_session *, const nghttp2_frame *f, const uint8_t *name,
                       size_t namelen, const uint8_t *value, size_t valuelen, uint8_t, void *self);
  static int on_data(nghttp2_session *, uint8_t, int32_t id, const uint8_t *data, size_t len,
                     void *self);
  static int on_frame(nghttp2_session *, const nghttp2_frame *f, void *self);
  static int on_close(nghttp2_session *, int32_t id, uint32_t, void *self);

  Worker &worker_;
  const Shared &shared_;
  tcp::socket socket_;
  nghttp2_session *session_ = nullptr;
  net::steady_timer wake_; // the writer's wait for output
  net::steady_timer idle_timer_;
  bool writer_waiting_ = false;
  bool dead_ = false;
  bool goaway_sent_ = false;
  std::unordered_map<int32_t, std::shared_ptr<H2Stream>> streams_;
  size_t running_ = 0; // streams a session serves
  Clock::time_point idle_since_ = Clock::now();
  std::array<char, 16384> rbuf_;
  std::string wbuf_;
};

// --- nghttp2's callbacks: the request's frames --------------------------------------------

int H2Connection::on_begin_headers(nghttp2_session *, const nghttp2_frame *f, void *self) {
  auto *c = static_cast<H2Connection *>(self);
  if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
  auto st = std::make_shared<H2Stream>(*c, f->hd.stream_id);
  c->streams_[f->hd.stream_id] = std::move(st);
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
    return 0;
  }
  if (n == ":method")
    st.method = v;
  else if (n == ":path")
    st.path = v;
  else if (n == ":authority")
    st.authority = v;
  else if (n == ":scheme")
    st.scheme = v;
  else if (!n.starts_with(':'))
    st.fields.emplace_back(n, v);
  return 0;
}

int H2Connection::on_data(nghttp2_session *, uint8_t, int32_t id, const uint8_t *data, size_t len,
                          void *self) {
  auto *c = static_cast<H2Connection *>(self);
  auto it = c->streams_.find(id);
  if (it == c->streams_.end()) return 0;
  auto &st = *it->second;
  if (st.refuse || st.dispatched) return 0;
  if (st.body.size() + len > c->shared_.opts->max_request_body) {
    st.refuse = 413;
    st.body.clear();
    st.body.shrink_to_fit();
    c->dispatch(it->second); // answered now: the rest of the body is not read
    return 0;
  }
  st.body.append(reinterpret_cast<const char *>(data), len);
  return 0;
}

int H2Connection::on_frame(nghttp2_session *, const nghttp2_frame *f, void *self) {
  auto *c = static_cast<H2Connection *>(self);
  if (f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA) return 0;
  auto it = c->streams_.find(f->hd.stream_id);
  if (it == c->streams_.end()) return 0;
  auto &st = it->second;
  if (f->hd.flags & NGHTTP2_FLAG_END_STREAM) {
    st->remote_done = true;
    if (!st->dispatched) c->dispatch(st);
  } else if (f->hd.type == NGHTTP2_HEADERS && !st->dispatched) {
    if (st->refuse) {
      c->dispatch(st);
      return 0;
    }
    // A client that waits for 100 Continue before it sends the body gets one.
    for (const auto &[n, v] : st->fields)
      if (pipeline::iequals(n, "expect") && pipeline::iequals(v, "100-continue")) {
        nghttp2_nv nv{(uint8_t *)":status", (uint8_t *)"100", 7, 3, NGHTTP2_NV_FLAG_NONE};
        nghttp2_submit_headers(c->session_, NGHTTP2_FLAG_NONE, st->id_, nullptr, &nv, 1, nullptr);
      }
  }
  return 0;
}

int H2Connection::on_close(nghttp2_session *, int32_t id, uint32_t, void *self) {
  auto *c = static_cast<H2Connection *>(self);
  auto it = c->streams_.find(id);
  if (it == c->streams_.end()) return 0;
  auto st = std::move(it->second);
  c->streams_.erase(it);
  st->closed();
  if (c->streams_.empty()) c->idle_since_ = Clock::now();
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
  nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_close);
  int rv = nghttp2_session_server_new(&session_, cbs, this);
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
  socket_.non_blocking(true, ec);
  co_await ((reader(std::move(initial)) && writer()) || watch());
  end();
  socket_.close(ec);
}

bool H2Connection::feed(const char *data, size_t n) {
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
  while (ok && !dead_ && nghttp2_session_want_read(session_)) {
    auto [ec, n] = co_await socket_.async_read_some(net::buffer(rbuf_), kTuple);
    if (ec) break;
    ok = feed(rbuf_.data(), n);
  }
  dead_ = true; // nothing more is read: what is queued (a GOAWAY) still goes out
  signal();
}

// Sends what nghttp2 has queued: frames gathered into one write, up to 64 KiB.
net::awaitable<void> H2Connection::writer() {
  for (;;) {
    wbuf_.clear();
    while (wbuf_.size() < kHighWater) {
      const uint8_t *data = nullptr;
      auto n = nghttp2_session_mem_send(session_, &data);
      if (n <= 0) break; // (an error leaves nothing to send: the reader ends too)
      wbuf_.append(reinterpret_cast<const char *>(data), static_cast<size_t>(n));
    }
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
    size_t n = socket_.write_some(net::buffer(wbuf_), ec);
    if (ec == net::error::would_block || ec == net::error::try_again) {
      ec = {};
      n = 0;
    }
    if (!ec && n < wbuf_.size()) {
      std::tie(ec, std::ignore) = co_await net::async_write(
          socket_, net::buffer(wbuf_.data() + n, wbuf_.size() - n), kTuple);
    }
    if (ec) break;
  }
  dead_ = true;
  beast::error_code ignored;
  socket_.cancel(ignored); // the reader stops too
}

// Ends an idle connection (no stream for the idle timeout) and a draining one (once its streams
// are done), each with a GOAWAY.
net::awaitable<void> H2Connection::watch() {
  for (;;) {
    idle_timer_.expires_after(std::chrono::milliseconds(250));
    co_await idle_timer_.async_wait(kTuple);
    auto cs = co_await net::this_coro::cancellation_state;
    if (cs.cancelled() != net::cancellation_type::none) co_return;
    if (worker_.draining && !goaway_sent_) { // no new streams; those open finish
      goaway_sent_ = true;
      nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE,
                            nghttp2_session_get_last_proc_stream_id(session_), NGHTTP2_NO_ERROR,
                            nullptr, 0);
      signal();
    }
    bool idle = streams_.empty() && running_ == 0;
    if (idle && (worker_.draining || Clock::now() - idle_since_ >= shared_.opts->idle_timeout)) {
      nghttp2_session_terminate_session(session_, NGHTTP2_NO_ERROR);
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

void H2Connection::dispatch(const std::shared_ptr<H2Stream> &st) {
  st->dispatched = true;
  ++running_;
  // Posted: a coroutine spawned here would start inside nghttp2's callback, and inside the
  // reader's coroutine.
  net::post(worker_.io, [self = shared_from_this(), st] {
    net::co_spawn(self->worker_.io, self->run_stream(st), net::detached);
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
    if (pipeline::iequals(n, "host")) has_host = true;
    req.insert(n, v);
  }
  if (!has_host && !st.authority.empty()) req.insert(http::field::host, st.authority);
  req.body() = std::move(st.body);
  st.fields.clear();
  st.head_request_ = req.method() == http::verb::head;
  return parser;
}

net::awaitable<void> H2Connection::run_stream(std::shared_ptr<H2Stream> st) {
  auto self = shared_from_this(); // the connection outlives every stream's session
  auto parser = request_of(*st);
  auto session = std::make_unique<Session>(worker_, shared_, *st);
  co_await session->serve_stream(*parser, st->refuse);
  session.reset();
  parser.reset();
  --running_;
  if (!st->gone_ && session_ && !dead_) {
    if (!st->head_sent_ || !st->body_done_) // an answer cut short: the client must not trust it
      nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, st->id_, NGHTTP2_INTERNAL_ERROR);
    else if (!st->remote_done) // answered before the body came (413): the client stops sending
      nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, st->id_, NGHTTP2_NO_ERROR);
    signal();
  }
  if (streams_.empty() && running_ == 0) idle_since_ = Clock::now();
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
  nghttp2_submit_response(conn_.session(), id_, nv.data(), nv.size(),
                          no_body ? nullptr : &provider);
}

net::awaitable<beast::error_code> H2Stream::write(std::span<const net::const_buffer> bufs) {
  if (gone_ || conn_.dead()) co_return net::error::connection_reset;
  size_t before = out_.size();
  for (const auto &b : bufs)
    if (b.size() > 0 && !put(std::string_view(static_cast<const char *>(b.data()), b.size())))
      co_return http::error::bad_value;
  if (head_sent_ && (out_.size() != before || body_done_))
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
}

net::awaitable<void> serve_h2(Worker &worker, const Shared &shared, tcp::socket socket,
                              std::string initial) {
  auto conn = std::make_shared<H2Connection>(worker, shared, std::move(socket));
  if (!conn->start()) co_return;
  co_await conn->serve(std::move(initial));
}

} // namespace aigw::proxy
