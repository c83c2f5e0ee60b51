// The canonical chat representation every cross-schema translation goes through: decoders turn
// a client or provider format into these types, encoders turn them into another format. One
// decoder and one encoder per format, instead of a translator per pair of formats.
// Plain values; no shared state.
#pragma once

#include "pipeline/usage.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace aigw::translate {

using pipeline::TokenUsage;

// A piece of message content.
struct Part {
  enum class Kind { kText, kImage, kThinking, kRedactedThinking };
  Kind kind = Kind::kText;
  std::string text;       // text; thinking text; redacted thinking data
  std::string signature;  // thinking signature
  std::string media_type; // image: "image/png" ...
  std::string data;       // image: base64 bytes (data URL), empty when `url` is set
  std::string url;        // image: https URL
  bool cache = false;     // a prompt-cache breakpoint after this part (cache_control)
};

struct ToolCall {
  std::string id;
  std::string name;
  std::string arguments; // JSON text, as OpenAI carries it
};

struct Message {
  enum class Role { kSystem, kUser, kAssistant, kTool };
  Role role = Role::kUser;
  std::vector<Part> parts;
  std::vector<ToolCall> tool_calls; // assistant
  std::string tool_call_id;         // tool
  std::string name;                 // tool: the function's name when known
  bool tool_error = false;          // tool: the result reports an error (Anthropic's is_error)
};

struct Tool {
  std::string name;
  std::string description;
  std::string parameters; // JSON Schema text; empty: none
  bool cache = false;
};

struct ChatRequest {
  std::string model;
  std::vector<Message> messages;
  std::vector<Tool> tools;
  std::string tool_choice;      // "", "auto", "none", "required", "function"
  std::string tool_choice_name; // when tool_choice == "function"
  bool parallel_tool_calls = true;
  std::optional<uint64_t> max_tokens; // max_completion_tokens, else max_tokens
  std::optional<double> temperature;
  std::optional<double> top_p;
  std::optional<uint64_t> top_k; // Anthropic's; Bedrock takes it as a model request field
  std::optional<uint64_t> n;
  std::optional<int64_t> seed;
  std::vector<std::string> stop;
  bool stream = false;
  bool include_usage = false;
  std::string response_format;      // "", "text", "json_object", "json_schema"
  std::string response_schema;      // JSON text
  std::string response_schema_name; // json_schema.name
  std::string reasoning_effort;     // low, medium, high, ...
  std::string thinking_type;        // "", "enabled", "disabled", "adaptive"
  std::optional<uint64_t> thinking_budget;
  std::string user;
};

// A complete (non-streamed) answer.
struct ChatResponse {
  std::string id;
  std::string model;
  std::string text;
  std::string reasoning;      // reasoning text, joined
  std::vector<Part> thinking; // thinking blocks with signatures (kThinking / kRedacted)
  std::vector<ToolCall> tool_calls;
  std::string finish_reason; // OpenAI's vocabulary: stop, length, tool_calls, ...
  std::string stop_reason;   // the provider's own, where it differs (Bedrock's stopReason)
  TokenUsage usage;
};

// One step of a streamed answer, in the order a client should see it.
struct StreamEvent {
  enum class Kind {
    kStart,         // id, model
    kText,          // text
    kReasoning,     // text
    kSignature,     // text: a thinking block's signature
    kToolCallStart, // index, id, name
    kToolCallArgs,  // index, text (a piece of the arguments JSON)
    kFinish,        // text: OpenAI finish reason; name: the provider's own (Bedrock's)
    kUsage,         // usage (may repeat; later fields win)
    kError,         // error_type, text (the message)
  };
  StreamEvent() = default;
  explicit StreamEvent(Kind k, std::string t = {}) : kind(k), text(std::move(t)) {}

  Kind kind = Kind::kText;
  std::string text;
  std::string id;
  std::string model;
  std::string name;
  std::string error_type;
  int index = 0;
  TokenUsage usage;
};

// Upstream's normalisation for providers that report cache reads and writes apart from input
// (Anthropic, Bedrock): input = input + cache read + cache write, total = input + output.
TokenUsage explicit_caching_usage(uint64_t input, uint64_t output, uint64_t cache_read,
                                  uint64_t cache_write);

// Merges `later` into `into`, field by field (a set field wins).
void merge_usage(TokenUsage &into, const TokenUsage &later);

} // namespace aigw::translate
