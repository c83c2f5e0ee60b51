// Token usage as upstream counts it (reference §3.2), from OpenAI-shaped JSON bodies and SSE
// streams. Each field has a "set" state: absent is not zero.
#pragma once

#include "api/token_usage.h"
#include "core/sse.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace aigw::pipeline {

using api::TokenUsage;

// Reads `usage` (and `model`) from a complete JSON response body. Missing or malformed: empty.
struct BodyFacts {
  TokenUsage usage;
  std::string model;
};
BodyFacts extract_from_json(std::string_view body);
// The same for an Anthropic Messages answer: usage normalised as upstream does for explicit
// caching (input = input + cache read + cache write; cached = cache read; cache creation = cache
// write), or a count_tokens answer's input_tokens.
BodyFacts extract_anthropic_json(std::string_view body);

// The usage of a JSON answer too large to keep whole: keeps its first and last bytes only and
// reads `usage` (an OpenAI-shaped answer puts it last) and `model` (first) from them.
class UsageTail {
public:
  static constexpr size_t kHead = 4096;
  static constexpr size_t kTail = 64 * 1024;
  void feed(std::string_view chunk);
  TokenUsage usage() const;
  std::string model() const;
  uint64_t total() const { return total_; }

private:
  std::string head_;
  std::string tail_; // a ring kept linear: trimmed to kTail when it grows past twice that
  uint64_t total_ = 0;
};

// Feeds an OpenAI SSE stream chunk by chunk; remembers the last `usage` seen (the last one wins,
// as upstream) and the response model. Bounded memory (line cap in the splitter).
class SseUsageScanner {
public:
  // Anthropic's event stream: usage folded from message_start (the baseline) and message_delta
  // (the final output, and input or cache counts when it carries them), field by field.
  void set_anthropic(bool on) { anthropic_ = on; }
  void feed(std::string_view chunk);
  const TokenUsage &usage() const { return usage_; }
  const std::string &model() const { return model_; }
  bool saw_done() const { return done_; }
  // An `event: error` or a `data:` object with a top-level "error" (how OpenAI-compatible
  // servers report a failure once the 200 is sent): the stream ended in an error.
  bool saw_error() const { return error_; }

private:
  void on_line(std::string_view line);
  void on_anthropic(std::string_view data);

  sse::LineSplitter splitter_;
  bool anthropic_ = false;
  std::optional<uint64_t> in_, out_, cache_read_, cache_write_; // Anthropic's raw counts
  TokenUsage usage_;
  std::string model_;
  bool done_ = false;
  bool error_ = false;
};

} // namespace aigw::pipeline
