// Incremental Server-Sent Events decoding: splits a byte stream that arrives in arbitrary chunks
// into complete lines and events. Bounded: a line longer than the cap is dropped (and counted),
// because the sender chooses the lengths. No I/O; trivially fuzzable.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace aigw::sse {

// One field line of an event stream, e.g. `data: {...}`; `name` is "data", `value` is "{...}".
struct Field {
  std::string_view name;
  std::string_view value;
};

// Splits "name: value" (one optional space after the colon, as the SSE spec says).
Field parse_field(std::string_view line);

class LineSplitter {
public:
  explicit LineSplitter(size_t max_line = 4 * 1024 * 1024) : max_line_(max_line) {}

  // Calls on_line(std::string_view) for every complete line in `chunk` (terminators \n, \r\n or
  // a lone \r stripped). Empty lines (event boundaries) are reported as empty views.
  template <typename F> void feed(std::string_view chunk, F &&on_line);

  size_t dropped_lines() const { return dropped_; }
  bool has_partial() const { return !partial_.empty(); }

private:
  void push_partial(std::string_view bytes);

  std::string partial_;
  size_t max_line_;
  size_t dropped_ = 0;
  bool overflow_ = false; // the current line is being dropped
  bool last_cr_ = false;  // previous chunk ended in '\r' (a following '\n' belongs to it)
};

template <typename F> void LineSplitter::feed(std::string_view chunk, F &&on_line) {
  size_t i = 0;
  if (last_cr_ && !chunk.empty() && chunk[0] == '\n') i = 1;
  last_cr_ = false;
  size_t start = i;
  for (; i < chunk.size(); ++i) {
    char c = chunk[i];
    if (c != '\n' && c != '\r') continue;
    std::string_view piece = chunk.substr(start, i - start);
    if (overflow_) {
      overflow_ = false;
    } else if (partial_.empty()) {
      on_line(piece);
    } else {
      push_partial(piece);
      if (!overflow_) on_line(std::string_view(partial_));
      overflow_ = false;
      partial_.clear();
    }
    if (c == '\r') {
      if (i + 1 < chunk.size()) {
        if (chunk[i + 1] == '\n') ++i;
      } else {
        last_cr_ = true;
      }
    }
    start = i + 1;
  }
  if (start < chunk.size() && !overflow_) push_partial(chunk.substr(start));
}

} // namespace aigw::sse
