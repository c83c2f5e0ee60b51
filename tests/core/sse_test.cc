#include "core/sse.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace aigw::sse {
namespace {

std::vector<std::string> split_all(const std::vector<std::string> &chunks, size_t cap = 1 << 20) {
  LineSplitter s(cap);
  std::vector<std::string> lines;
  for (const auto &c : chunks)
    s.feed(c, [&](std::string_view l) { lines.emplace_back(l); });
  return lines;
}

TEST(SseLineSplitter, JoinsLinesCutAcrossChunks) {
  auto lines = split_all({"data: {\"a\"", ":1}\n", "\ndata: [DO", "NE]\n\n"});
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[0], "data: {\"a\":1}");
  EXPECT_EQ(lines[1], "");
  EXPECT_EQ(lines[2], "data: [DONE]");
}

TEST(SseLineSplitter, HandlesCrLfSplitBetweenChunks) {
  auto lines = split_all({"data: x\r", "\n\r\n", "data: y\r\r"});
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[0], "data: x");
  EXPECT_EQ(lines[1], "");
  EXPECT_EQ(lines[2], "data: y");
  EXPECT_EQ(lines[3], "");
}

TEST(SseLineSplitter, DropsLinesOverTheCapAndKeepsGoing) {
  LineSplitter s(8);
  std::vector<std::string> lines;
  auto cb = [&](std::string_view l) { lines.emplace_back(l); };
  s.feed("0123", cb);
  s.feed("456789abc", cb);
  s.feed("def\nok\n", cb);
  EXPECT_EQ(s.dropped_lines(), 1u);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0], "ok");
}

TEST(SseField, SplitsNameAndValueWithOptionalSpace) {
  auto f = parse_field("data: hello");
  EXPECT_EQ(f.name, "data");
  EXPECT_EQ(f.value, "hello");
  EXPECT_EQ(parse_field("data:hello").value, "hello");
  EXPECT_EQ(parse_field("event").name, "event");
}

} // namespace
} // namespace aigw::sse
