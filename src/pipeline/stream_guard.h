// Watches the start of a streamed answer as the client would read it (OpenAI chat or completions
// chunks, the Responses API's events, Anthropic Messages events) to tell when content begins:
// until then nothing the client could act on was produced, and a failing stream can be replaced
// by another backend's. Classifies each event as content, an error, the stream's end, or none.
// Bounded: past kMaxHeld bytes without content it gives up holding. No I/O.
#pragma once

#include "core/sse.h"

#include <cstddef>
#include <string>
#include <string_view>

namespace aigw::pipeline {

class StreamGuard {
public:
  static constexpr size_t kMaxHeld = 64 * 1024;

  enum class State {
    kHolding,   // no content yet: keep what the client would get
    kCommitted, // content (or the bound): the stream is the client's from here
    kFailed,    // an error event, or the end, before any content
  };

  // The client-bound bytes, in order.
  void feed(std::string_view bytes);
  State state() const { return state_; }
  // The stream ended (the provider's body is complete): with no content, that is a failure.
  void on_end() {
    if (state_ == State::kHolding) {
      state_ = State::kFailed;
      why_ = "the stream ended without content";
    }
  }
  std::string_view why() const { return why_; } // for kFailed
  bool saw_error_event() const { return error_event_; }
  // Continuation: keep reading past the first content and gather the answer's text (OpenAI
  // chat and completions deltas, Anthropic text deltas). non_text(): something else came too
  // (a tool call, reasoning), which a prefill cannot carry on.
  void collect_text() { collect_ = true; }
  const std::string &text() const { return text_; }
  bool non_text() const { return non_text_; }

private:
  void on_line(std::string_view line);
  void on_data(std::string_view data);
  struct Events; // reads one event's JSON (stream_guard.cc)
  friend struct Events;

  sse::LineSplitter splitter_{256 * 1024};
  State state_ = State::kHolding;
  size_t held_ = 0;
  bool error_event_ = false;
  bool event_error_ = false; // the current event's `event:` line named an error
  std::string_view why_;
  bool collect_ = false;
  bool non_text_ = false;
  std::string text_;
};

// A continued stream (aigw.run/stream-continuation): the next backend's answer without its
// preamble (role chunk, message_start, pings), from its first event with content, so that it
// reads on from where the broken stream stopped. Whole events at a time.
class ContinuationFilter {
public:
  void feed(std::string_view in, bool end, std::string &out);
  bool started() const { return started_; }

private:
  std::string pending_;
  bool started_ = false;
};

} // namespace aigw::pipeline
