// The OpenAI chat completions format on both sides of the canonical representation: decoding a
// client's request, encoding a complete answer and the chunks of a streamed one.
// Thread-safety: functions are pure; a ChunkEncoder belongs to one response.
#pragma once

#include "core/result.h"
#include "translate/chat.h"

#include <string>
#include <string_view>

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

} // namespace aigw::translate
