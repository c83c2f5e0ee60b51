// The OpenAI chat completions format on both sides of the canonical representation: as the
// client's (decoding its request, encoding a complete answer and the chunks of a streamed one)
// and as a provider's, for clients of another API (encoding a canonical request, decoding the
// answer and its chunks).
// Thread-safety: functions are pure; a ChunkEncoder or ChunkDecoder belongs to one response.
#pragma once

#include "core/result.h"
#include "core/sse.h"
#include "translate/chat.h"

#include <string>
#include <string_view>
#include <vector>

namespace aigw::translate {

// REQUIRES: `body` is a JSON object (already validated by the request parser). Errors are 422
// (the request cannot be expressed for the provider), naming the field.
Result<ChatRequest> decode_openai_chat_request(std::string_view body);

// `created` is a unix timestamp.
std::string encode_openai_chat_response(const ChatResponse &r, int64_t created);

// The usage object as OpenAI writes it.
void append_openai_usage(std::string &out, const TokenUsage &u);

// Turns canonical stream events into `data: {chat.completion.chunk}\n\n` lines, then
// `data: [DONE]\n\n` on finish().
class ChunkEncoder {
public:
  ChunkEncoder(std::string id, std::string model, int64_t created, bool include_usage)
      : id_(std::move(id)), model_(std::move(model)), created_(created),
        include_usage_(include_usage) {}

  void on_event(const StreamEvent &e, std::string &out);
  // Ends the stream: the finish chunk if none was sent, the usage chunk when asked for, [DONE].
  void finish(std::string &out);
  const TokenUsage &usage() const { return usage_; }
  bool finished() const { return done_; }

private:
  void chunk_prefix(std::string &out);
  void ensure_role(std::string &out);

  std::string id_;
  std::string model_;
  int64_t created_;
  bool include_usage_;
  bool role_sent_ = false;
  bool finish_sent_ = false;
  bool done_ = false;
  std::string finish_reason_;
  TokenUsage usage_;
};

// --- OpenAI chat as a provider ----------------------------------------------------------------

// A canonical request as a chat completions body, as upstream writes one from an Anthropic
// Messages request: system text joined into one system message, text joined into a string unless
// images (then content parts) or thinking blocks (then the assistant's content parts) need an
// array, tool results as `tool` messages, `max_completion_tokens`, `stop` as an array,
// `stream_options.include_usage` when streaming.
std::string encode_openai_chat_request(const ChatRequest &r);

// A chat.completion answer. `finish_reason` is empty when the answer has no choice; usage is
// prompt and completion tokens (OpenAI's cached tokens are part of the prompt: not counted apart,
// as upstream). The model falls back to `request_model`.
Result<ChatResponse> decode_openai_chat_response(std::string_view body,
                                                 std::string_view request_model);

// Turns a chat.completion.chunk event stream into canonical events, as upstream reads it: the
// first chunk with a delta starts the message (the first id and model seen), the first choice
// only, a tool call starts at its first index, and the usage-only chunk (`choices: []`) is the
// kUsage event. `data: {"error": ...}` is a kError.
class ChunkDecoder {
public:
  void feed(std::string_view bytes, std::vector<StreamEvent> &out);
  // The end of the provider's stream: a last event without its blank line, and usage that came
  // only on a chunk with choices.
  void finish(std::vector<StreamEvent> &out);
  const std::string &model() const { return model_; }

private:
  void on_data(std::string_view json, std::vector<StreamEvent> &out);

  sse::LineSplitter lines_{8 * 1024 * 1024};
  std::string data_;
  std::string id_, model_;
  bool started_ = false;
  bool usage_sent_ = false;
  bool failed_ = false;
  std::optional<TokenUsage> pending_usage_; // usage on a chunk with choices
  std::vector<int64_t> tools_;              // the tool call indexes started
};

} // namespace aigw::translate
