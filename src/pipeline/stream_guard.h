// Watches the start of a streamed answer as the client would read it (OpenAI chat or completions
// chunks, the Responses API's events, Anthropic Messages events) to tell when content begins:
// until then nothing the client could act on was produced, and a failing stream can be replaced
// by another backend's. Classifies each event as content, an error, the stream's end, or none.
// Bounded: past kMaxHeld bytes without content it gives up holding. No I/O.
#pragma once

#include "core/sse.h"

#include <cstddef>
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

private:
  void on_line(std::string_view line);
  void on_data(std::string_view data);

  sse::LineSplitter splitter_{256 * 1024};
  State state_ = State::kHolding;
  size_t held_ = 0;
  bool error_event_ = false;
  bool event_error_ = false; // the current event's `event:` line named an error
  std::string_view why_;
};

} // namespace aigw::pipeline
