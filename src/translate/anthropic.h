// The Anthropic Messages format as a provider: encoding a canonical request (for Anthropic,
// Anthropic on AWS Bedrock and on GCP Vertex), decoding its answers and its stream events.
// Thread-safety: functions are pure; a stream decoder belongs to one response.
#pragma once

#include "core/result.h"
#include "translate/chat.h"

#include <string>
#include <string_view>
#include <vector>

namespace aigw::translate {

struct AnthropicRequestOptions {
  bool include_model = true;     // the Anthropic API wants it; Bedrock and Vertex do not
  std::string anthropic_version; // written into the body when not empty (Bedrock, Vertex)
  bool stream_field = true;      // write "stream": true when streaming
};

// 422 when the request cannot be expressed (temperature above 1, ...).
Result<std::string> encode_anthropic_request(const ChatRequest &r,
                                             const AnthropicRequestOptions &opts);

// Decodes a Messages response; the model falls back to `request_model`.
Result<ChatResponse> decode_anthropic_response(std::string_view body,
                                               std::string_view request_model);

// Anthropic's stop_reason in OpenAI's vocabulary.
std::string_view anthropic_finish_reason(std::string_view stop_reason);

// Turns the JSON of Anthropic stream events (the `data:` of each SSE event, or the decoded
// bytes of a Bedrock chunk) into canonical events.
class AnthropicStreamDecoder {
public:
  void on_event_json(std::string_view json, std::vector<StreamEvent> &out);
  // Anthropic's SSE framing: feed raw bytes.
  void feed_sse(std::string_view bytes, std::vector<StreamEvent> &out);

private:
  struct Block {
    enum class Kind { kText, kToolUse, kThinking, kOther } kind = Kind::kOther;
    int tool_index = 0;
  };
  std::vector<std::pair<int, Block>> blocks_;
  int tools_ = 0;
  uint64_t input_ = 0, output_ = 0, cache_read_ = 0, cache_write_ = 0;
  std::string line_;
  std::string data_;
  size_t max_event_ = 8 * 1024 * 1024;
  bool overflow_ = false;
};

// Anthropic-shaped error body → OpenAI-shaped error body.
std::string anthropic_error_to_openai(int status, std::string_view body);

} // namespace aigw::translate
