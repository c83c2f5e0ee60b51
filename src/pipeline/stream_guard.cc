// See stream_guard.h.
#include "pipeline/stream_guard.h"

#include "pipeline/sse_filter.h"

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

struct StreamGuard::Events {
  static void collect(StreamGuard &g, simdjson::dom::element doc);
  static void classify(StreamGuard &g, simdjson::dom::element doc);
};

void StreamGuard::feed(std::string_view bytes) {
  bool holding = state_ == State::kHolding;
  if (!holding && !(collect_ && state_ == State::kCommitted)) return;
  if (holding) held_ += bytes.size();
  splitter_.feed(bytes, [this](std::string_view line) { on_line(line); });
  if (state_ == State::kHolding && held_ > kMaxHeld) {
    state_ = State::kCommitted;
    non_text_ = true; // what was held is not known as text: no continuation
  }
}

void StreamGuard::on_line(std::string_view line) {
  if (state_ == State::kFailed) return;
  if (line.empty()) { // the event's end
    event_error_ = false;
    return;
  }
  if (line.starts_with("event:")) {
    auto name = sse::parse_field(line).value;
    event_error_ = name == "error" || name == "response.failed";
    if (event_error_ && state_ == State::kHolding) {
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
  if (state_ == State::kCommitted) { // collecting the text after the first content
    Events::collect(*this, doc);
    return;
  }
  Events::classify(*this, doc);
  if (collect_ && state_ == State::kCommitted) Events::collect(*this, doc);
}

void StreamGuard::Events::collect(StreamGuard &g, simdjson::dom::element doc) {
  std::string_view type, s;
  if (!doc["type"].get(type)) {
    if (type == "content_block_delta") {
      std::string_view dt;
      if (!doc["delta"]["type"].get(dt) && dt == "text_delta" && !doc["delta"]["text"].get(s))
        g.text_.append(s);
      else
        g.non_text_ = true;
    } else if (type == "content_block_start") {
      std::string_view block;
      if (!doc["content_block"]["type"].get(block) && block != "text") g.non_text_ = true;
    } else if (type.ends_with(".delta")) {
      g.non_text_ = true; // the Responses API: not continued
    }
    return;
  }
  simdjson::dom::array choices;
  if (doc["choices"].get(choices)) return;
  for (auto choice : choices) {
    if (!choice["text"].get(s)) g.text_.append(s);
    simdjson::dom::object delta;
    if (choice["delta"].get(delta)) continue;
    for (auto [key, value] : delta) {
      if (key == "content") {
        if (!value.get(s)) g.text_.append(s);
      } else if (key == "tool_calls" || key == "function_call" || key == "reasoning_content" ||
                 key == "reasoning" || key == "audio") {
        if (!value.is_null()) g.non_text_ = true;
      }
    }
  }
}

void StreamGuard::Events::classify(StreamGuard &g, simdjson::dom::element doc) {
  simdjson::dom::element e;
  std::string_view type;
  if (!doc["error"].get(e) || (!doc["type"].get(type) && (type == "error"))) {
    g.error_event_ = true;
    g.state_ = State::kFailed;
    g.why_ = "an error event before any content";
    return;
  }
  if (!type.empty()) {
    // Anthropic Messages and the Responses API name their events in `type`.
    if (type == "content_block_delta" || type.ends_with(".delta")) {
      g.state_ = State::kCommitted;
    } else if (type == "content_block_start") {
      std::string_view block;
      if (!doc["content_block"]["type"].get(block) && block != "text") g.state_ = State::kCommitted;
    } else if (type == "message_stop" || type == "response.completed" ||
               type == "response.incomplete") {
      g.on_end();
    } else if (type == "response.failed") {
      g.error_event_ = true;
      g.state_ = State::kFailed;
      g.why_ = "an error event before any content";
    }
    return;
  }
  simdjson::dom::array choices;
  if (doc["choices"].get(choices)) return;
  for (auto choice : choices)
    if (choice_has_content(choice)) {
      g.state_ = State::kCommitted;
      return;
    }
}

void ContinuationFilter::feed(std::string_view in, bool end, std::string &out) {
  if (started_) {
    out.append(in);
    return;
  }
  pending_.append(in);
  size_t pos = 0;
  for (size_t e; (e = sse_event_end(pending_, pos)) != std::string::npos; pos = e) {
    StreamGuard one; // this event alone: preamble (dropped), or where the continuation starts
    one.feed(std::string_view(pending_).substr(pos, e - pos));
    if (one.state() != StreamGuard::State::kHolding) {
      started_ = true;
      out.append(pending_, pos);
      pending_.clear();
      return;
    }
  }
  pending_.erase(0, pos);
  if (end) { // it ended with nothing but preamble: none of it belongs in the client's body
    pending_.clear();
  } else if (pending_.size() > StreamGuard::kMaxHeld) { // too long to be preamble
    started_ = true;
    out.append(pending_);
    pending_.clear();
  }
}

} // namespace aigw::pipeline
