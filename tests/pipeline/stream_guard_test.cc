// StreamGuard: where content begins in a stream as the client reads it.
#include "pipeline/stream_guard.h"

#include <gtest/gtest.h>

namespace aigw::pipeline {
namespace {

using State = StreamGuard::State;

State run(std::initializer_list<std::string_view> pieces, bool end = false) {
  StreamGuard g;
  for (auto p : pieces)
    g.feed(p);
  if (end) g.on_end();
  return g.state();
}

TEST(StreamGuard, OpenAIRoleChunkIsNotContentTheFirstTextIs) {
  const char *role =
      "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n";
  EXPECT_EQ(run({role}), State::kHolding);
  EXPECT_EQ(run({role, "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\n"}),
            State::kCommitted);
}

TEST(StreamGuard, ContentSplitAcrossPiecesAndCrlf) {
  EXPECT_EQ(run({"data: {\"choices\":[{\"delta\":{\"con", "tent\":\"x\"}}]}\r", "\n\r\n"}),
            State::kCommitted);
}

TEST(StreamGuard, ToolCallsAndReasoningAreContent) {
  EXPECT_EQ(run({"data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0}]}}]}\n\n"}),
            State::kCommitted);
  EXPECT_EQ(run({"data: {\"choices\":[{\"delta\":{\"reasoning_content\":\"hm\"}}]}\n\n"}),
            State::kCommitted);
  EXPECT_EQ(run({"data: {\"choices\":[{\"delta\":{\"tool_calls\":[]}}]}\n\n"}), State::kHolding);
}

TEST(StreamGuard, ErrorsBeforeContentFail) {
  StreamGuard g;
  g.feed("data: {\"error\":{\"message\":\"overloaded\"}}\n\n");
  EXPECT_EQ(g.state(), State::kFailed);
  EXPECT_TRUE(g.saw_error_event());
  EXPECT_EQ(run({"event: error\ndata: "
                 "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\"}}\n\n"}),
            State::kFailed);
}

TEST(StreamGuard, AnEndWithoutContentFails) {
  StreamGuard g;
  g.feed("data: {\"choices\":[{\"delta\":{\"role\":\"assistant\"}}]}\n\ndata: [DONE]\n\n");
  EXPECT_EQ(g.state(), State::kFailed);
  EXPECT_FALSE(g.saw_error_event());
  EXPECT_EQ(run({"data: {\"choices\":[{\"delta\":{}}]}\n\n"}, true), State::kFailed);
}

TEST(StreamGuard, AnthropicEvents) {
  const char *start = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{}}\n\n"
                      "event: content_block_start\ndata: {\"type\":\"content_block_start\","
                      "\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n"
                      "event: ping\ndata: {\"type\":\"ping\"}\n\n";
  EXPECT_EQ(run({start}), State::kHolding);
  EXPECT_EQ(run({start, "event: content_block_delta\ndata: {\"type\":\"content_block_delta\","
                        "\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\n\n"}),
            State::kCommitted);
  EXPECT_EQ(run({start, "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"}),
            State::kFailed);
  EXPECT_EQ(run({"event: content_block_start\ndata: {\"type\":\"content_block_start\","
                 "\"content_block\":{\"type\":\"tool_use\",\"name\":\"f\"}}\n\n"}),
            State::kCommitted);
}

TEST(StreamGuard, ResponsesApiDeltas) {
  EXPECT_EQ(run({"event: response.created\ndata: {\"type\":\"response.created\"}\n\n"}),
            State::kHolding);
  EXPECT_EQ(run({"event: response.output_text.delta\ndata: {\"type\":\"response.output_text."
                 "delta\",\"delta\":\"a\"}\n\n"}),
            State::kCommitted);
  EXPECT_EQ(run({"event: response.failed\ndata: {\"type\":\"response.failed\"}\n\n"}),
            State::kFailed);
}

TEST(StreamGuard, GivesUpHoldingPastItsBound) {
  StreamGuard g;
  std::string comment = ": " + std::string(1000, 'x') + "\n\n";
  for (size_t n = 0; n <= StreamGuard::kMaxHeld / comment.size() + 1; ++n)
    g.feed(comment);
  EXPECT_EQ(g.state(), State::kCommitted);
}

TEST(StreamGuard, NotJsonIsNotContent) { EXPECT_EQ(run({"data: hello\n\n"}), State::kHolding); }

} // namespace
} // namespace aigw::pipeline
