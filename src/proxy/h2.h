// HTTP/2 from clients (h2c with prior knowledge, as Envoy detects it on a plain listener): the
// connection's frames through nghttp2, each stream's request served by its own Session, the same
// lifecycle an HTTP/1.1 request takes. The session writes its answer as HTTP/1.1 bytes; the stream
// parses them back into HEADERS and DATA frames (hop-by-hop fields dropped), with flow control
// reaching back to the provider: a stream whose client does not read holds at most 64 KiB.
// Thread-safety: a connection and its streams live on their worker's loop only.
#pragma once

#include "proxy/client_stream.h"
#include "proxy/worker.h"

#include <functional>
#include <memory>
#include <span>
#include <string>

namespace aigw::proxy {

namespace http = beast::http;
class H2Connection;
class Session;

// One HTTP/2 stream as its Session sees the client.
class H2Stream {
public:
  H2Stream(H2Connection &conn, int32_t id) : conn_(conn), id_(id) {}
  H2Stream(const H2Stream &) = delete;
  H2Stream &operator=(const H2Stream &) = delete;

  // Takes the next bytes of the HTTP/1.1 answer; waits while the client is more than 64 KiB
  // behind. Fails when the stream is gone (reset by the client, the connection closed).
  net::awaitable<beast::error_code> write(std::span<const net::const_buffer> bufs);
  // Ends a write that is waiting (operation_aborted), and a watch for the client leaving.
  void cancel();
  // `f` runs once (posted): when the client resets the stream, the connection ends, or cancel().
  void watch_gone(std::function<void()> f);
  // The client's address (its connection's peer).
  const std::string &peer() const;

private:
  friend class H2Connection;
  friend struct H2StreamAccess;
  bool put(std::string_view bytes); // parses answer bytes; false when they are not HTTP/1.1
  void submit_head();
  void closed(); // the stream is gone
  void fire_gone();

  H2Connection &conn_;
  int32_t id_;
  Clock::time_point begun_ = Clock::now();
  // The request, as its frames arrive.
  std::string method, path, authority, scheme;
  std::vector<std::pair<std::string, std::string>> fields;
  std::string body;
  size_t header_bytes = 0;
  size_t unconsumed = 0; // body bytes received but not yet given back to the flow-control window
  unsigned refuse = 0;   // 400, 408, 413, 431: answered with that error, the rest not read
  std::string refuse_why;
  bool dispatched = false;      // a session serves it (or it was refused)
  bool remote_done = false;     // the client's END_STREAM came
  bool reset_after_end = false; // answered before the body ended: RST_STREAM(NO_ERROR) after
  Session *session = nullptr;   // serving it now
  // The answer.
  std::optional<http::response_parser<http::buffer_body>> parser_;
  std::string in_;  // answer bytes not yet parsed (an incomplete head)
  std::string out_; // body bytes not yet taken by nghttp2, from out_off_
  size_t out_off_ = 0;
  bool head_sent_ = false; // HEADERS submitted
  bool body_done_ = false; // the parser saw the body's end
  bool end_sent_ = false;  // the frame with END_STREAM went out
  bool gone_ = false;
  bool abort_ = false;
  bool waiting_ = false;
  std::optional<net::steady_timer> wait_;
  std::function<void()> on_gone_;
  bool head_request_ = false;
};

// Serves a client connection (plain, or TLS that agreed on h2) whose first bytes (`initial`,
// already read) open HTTP/2's preface.
net::awaitable<void> serve_h2(Worker &worker, const Shared &shared, ClientStream socket,
                              std::string initial);

// True when `first` (a connection's first bytes) can only be HTTP/2's connection preface.
bool is_h2_preface(std::string_view first);

} // namespace aigw::proxy
