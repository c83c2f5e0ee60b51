// The OpenAI usage chunk (`"choices":[]` with a `usage` object) taken out of a relayed event
// stream: a client that did not ask for `stream_options.include_usage` never gets it, even when
// the gateway asked the provider for usage (costs need it). Every other byte passes unchanged,
// one whole event at a time.
#pragma once

#include <string>
#include <string_view>

namespace aigw::pipeline {

class UsageChunkFilter {
public:
  // Appends to `out` every complete event of `in` but the usage chunk; `end`: the stream ended,
  // what is left goes out as it is.
  void feed(std::string_view in, bool end, std::string &out);

  // An event larger than this is passed on as it comes, unfiltered (the buffer stays bounded).
  static constexpr size_t kMaxEvent = 1024 * 1024;

private:
  std::string pending_;
  size_t scanned_ = 0;      // bytes of pending_ known to hold no event boundary
  bool unfiltered_ = false; // an oversized event: the rest of it passes as it comes
};

// The end of the first complete event in `s` from `from` (past its blank line), or npos.
size_t sse_event_end(std::string_view s, size_t from);

// True for an event whose data is an OpenAI chunk with no choices and a usage object.
bool is_usage_only_chunk(std::string_view event);

} // namespace aigw::pipeline
