// The Anthropic Messages format as the client's, for backends that speak another API: decoding a
// Messages request into the canonical representation, encoding a canonical answer as an
// Anthropic message, canonical stream events as Anthropic's SSE events (upstream's state
// machine), and provider errors in Anthropic's error shape.
// Thread-safety: functions are pure; an AnthropicSseEncoder belongs to one response.
#pragma once

#include "core/result.h"
#include "translate/chat.h"

#include <string>
#include <string_view>
#include <vector>

namespace aigw::translate {

// REQUIRES: `body` is a JSON object (validated by the request parser). Errors are 422 naming
// the field. As upstream reads it: `system` (a string or text blocks), user content (text,
// images, tool_result blocks: each a tool message, before the user's text), assistant content
// (text, thinking, redacted_thinking, tool_use), custom tools, tool_choice, max_tokens,
// stop_sequences, temperature, top_p, top_k, thinking, metadata.user_id, stream. A `system` role in
// `messages` is a system message in place. Other block types are left out, as upstream does.
Result<ChatRequest> decode_anthropic_messages_request(std::string_view body);

// OpenAI's finish reason in Anthropic's vocabulary (upstream's table): stop → end_turn,
// length → max_tokens, tool_calls → tool_use, content_filter → refusal, else end_turn. A reason
// already in Anthropic's vocabulary (a translator mapped the provider's own) is kept.
std::string_view anthropic_stop_reason(std::string_view finish_reason);

// A complete answer as an Anthropic message: thinking blocks, text, tool_use blocks (input the
// arguments' JSON object, `{}` when they are not one); stop_reason left out when
// `finish_reason` is empty (an answer without a choice); usage with the cache counts apart
// (input_tokens = input - cache read - cache write).
std::string encode_anthropic_message(const ChatResponse &r);

// Canonical stream events → `event: <type>\ndata: <json>\n\n`, as upstream's OpenAI-to-Anthropic
// state machine writes them: message_start at the start (usage zero; input is only known at the
// end), one content block at a time (thinking, text, tool_use with input_json_delta), and on the
// usage (or at the end) content_block_stop, message_delta with stop_reason and usage,
// message_stop. An error event ends the stream.
class AnthropicSseEncoder {
public:
  explicit AnthropicSseEncoder(std::string request_model)
      : request_model_(std::move(request_model)) {}

  void on_event(const StreamEvent &e, std::string &out);
  // The end of the provider's stream: the closing events if not sent yet.
  void finish(std::string &out);
  const TokenUsage &usage() const { return usage_; }
  // The provider's model, else the request's.
  const std::string &model() const { return model_.empty() ? request_model_ : model_; }

private:
  void start(std::string &out);
  void block_start(std::string &out, std::string_view block_json);
  void block_stop(std::string &out);
  void delta(std::string &out, int index, std::string_view type, std::string_view field,
             std::string_view value);
  void on_thinking(std::string &out, std::string_view text, std::string_view signature);
  void on_text(std::string &out, std::string_view text);
  void on_tool_start(std::string &out, const StreamEvent &e);
  void close(std::string &out);

  enum class Open { kNone, kText, kThinking, kTool };
  std::string request_model_;
  std::string id_, model_;
  bool started_ = false;
  bool closed_ = false;
  Open open_ = Open::kNone;
  int block_ = 0;
  std::string stop_reason_;
  TokenUsage usage_;
  std::vector<std::pair<int, int>> tools_; // the provider's tool call index → block index
};

// {"type":"error","error":{"type":T,"message":M},"request_id":""}, as upstream writes the errors
// of the translated backends.
std::string anthropic_error_envelope(std::string_view type, std::string_view message);

// A provider's OpenAI-shaped error as Anthropic's {"type":"error","error":{type,message},
// "request_id":""}: the OpenAI error's type and message (the type by status when it has none);
// a body that is not an OpenAI JSON error becomes the message, typed by status.
std::string openai_error_to_anthropic(int status, std::string_view content_type,
                                      std::string_view body);

} // namespace aigw::translate
