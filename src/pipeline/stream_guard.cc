// See stream_guard.h.
#include "pipeline/stream_guard.h"

#include <simdjson.h>

namespace aigw::pipeline {
namespace {

bool nonempty_string(simdjson::dom::element e) {
  std::string_view s;
  return !e.get(s) && !s.empty();
}

bool nonempty_array(simdjson::dom::element e) {
  simdjson::dom::array a;
  return !e.get(a) && a.size() > 0;
}

// An OpenAI chunk choice with something in it: text, a tool call, reasoning, a refusal, audio.
bool choice_has_content(simdjson::dom::element choice) {
  simdjson::dom::element text;
  if (!choice["text"].get(text) && nonempty_string(text)) return true; // completions
  simdjson::dom::object delta;
  if (choice["delta"].get(delta)) return false;
  for (auto [key, value] : delta) {
    if (key == "content" || key == "reasoning_content" || key == "reasoning" || key == "refusal") {
      if (nonempty_string(value)) return true;
    } else if (key == "tool_calls") {
      if (nonempty_array(value)) return true;
    } else if (key == "function_call" || key == "audio") {
      if (!value.is_null()) return true;
    }
  }
  return false;
}

} // namespace

void StreamGuard::feed(std::string_view bytes) {
  if (state_ != State::kHolding) return;
  held_ += bytes.size();
  splitter_.feed(bytes, [this](std::string_view line) { on_line(line); });
  if (state_ == State::kHolding && held_ > kMaxHeld) state_ = State::kCommitted;
}

void StreamGuard::on_line(std::string_view line) {
  if (state_ != State::kHolding) return;
  if (line.empty()) { // the event's end
    event_error_ = false;
    return;
  }
  if (line.starts_with("event:")) {
    auto name = sse::parse_field(line).value;
    event_error_ = name == "error" || name == "response.failed";
    if (event_error_) {
      error_event_ = true;
      state_ = State::kFailed;
      why_ = "an error event before any content";
    }
    return;
  }
  if (line.starts_with("data:")) on_data(sse::parse_field(line).value);
}

void StreamGuard::on_data(std::string_view data) {
  if (data == "[DONE]") {
    on_end();
    return;
  }
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(data.data(), data.size(), true).get(doc)) return; // not JSON: not content
  simdjson::dom::element e;
  std::string_view type;
  if (!doc["error"].get(e) || (!doc["type"].get(type) && (type == "error"))) {
    error_event_ = true;
    state_ = State::kFailed;
    why_ = "an error event before any content";
    return;
  }
  if (!type.empty()) {
    // Anthropic Messages and the Responses API name their events in `type`.
    if (type == "content_block_delta" || type.ends_with(".delta")) {
      state_ = State::kCommitted;
    } else if (type == "content_block_start") {
      std::string_view block;
      if (!doc["content_block"]["type"].get(block) && block != "text") state_ = State::kCommitted;
    } else if (type == "message_stop" || type == "response.completed" ||
               type == "response.incomplete") {
      on_end();
    } else if (type == "response.failed") {
      error_event_ = true;
      state_ = State::kFailed;
      why_ = "an error event before any content";
    }
    return;
  }
  simdjson::dom::array choices;
  if (doc["choices"].get(choices)) return;
  for (auto choice : choices)
    if (choice_has_content(choice)) {
      state_ = State::kCommitted;
      return;
    }
}

} // namespace aigw::pipeline
