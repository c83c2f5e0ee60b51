#include "pipeline/usage.h"

#include <gtest/gtest.h>

namespace aigw::pipeline {
namespace {

TEST(ExtractFromJson, ReadsChatUsageWithCachedAndReasoningTokens) {
  auto f = extract_from_json(R"({"model":"gpt-5-nano-2025-08-07","usage":{"completion_tokens":377,
    "completion_tokens_details":{"reasoning_tokens":320},"prompt_tokens":8,
    "prompt_tokens_details":{"cached_tokens":2},"total_tokens":385}})");
  EXPECT_EQ(f.model, "gpt-5-nano-2025-08-07");
  EXPECT_EQ(f.usage.input, 8u);
  EXPECT_EQ(f.usage.output, 377u);
  EXPECT_EQ(f.usage.total, 385u);
  EXPECT_EQ(f.usage.cached_input, 2u);
  EXPECT_EQ(f.usage.reasoning, 320u);
  EXPECT_FALSE(f.usage.cache_creation_input);
}

TEST(ExtractFromJson, EmbeddingsHaveInputAndTotalOnly) {
  auto f = extract_from_json(R"({"object":"list","usage":{"prompt_tokens":5,"total_tokens":5}})");
  EXPECT_EQ(f.usage.input, 5u);
  EXPECT_EQ(f.usage.total, 5u);
  EXPECT_FALSE(f.usage.output);
}

TEST(ExtractFromJson, FloatCountsAreTruncatedAndHugeOnesIgnored) {
  auto f = extract_from_json(R"({"usage":{"prompt_tokens":12.7,"completion_tokens":1e30}})");
  EXPECT_EQ(f.usage.input, 12u);
  EXPECT_FALSE(f.usage.output);
}

TEST(ExtractFromJson, MalformedOrMissingUsageIsEmpty) {
  EXPECT_FALSE(extract_from_json("{not json").usage.any());
  EXPECT_FALSE(extract_from_json(R"({"usage":null})").usage.any());
}

TEST(SseUsageScanner, TakesTheLastUsageEvenWhenEventsAreCut) {
  std::string stream =
      "data: {\"model\":\"m1\",\"choices\":[{\"delta\":{\"content\":\"hi\"}}],\"usage\":null}\n\n"
      "data: "
      "{\"model\":\"m1\",\"choices\":[],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2,"
      "\"total_tokens\":3}}\n\n"
      "data: "
      "{\"model\":\"m1\",\"choices\":[],\"usage\":{\"prompt_tokens\":4,\"completion_tokens\":5,"
      "\"total_tokens\":9}}\n\n"
      "data: [DONE]\n\n";
  for (size_t step : {1u, 7u, 64u, 4096u}) {
    SseUsageScanner s;
    for (size_t i = 0; i < stream.size(); i += step)
      s.feed(std::string_view(stream).substr(i, step));
    EXPECT_EQ(s.usage().input, 4u) << step;
    EXPECT_EQ(s.usage().output, 5u);
    EXPECT_EQ(s.usage().total, 9u);
    EXPECT_EQ(s.model(), "m1");
    EXPECT_TRUE(s.saw_done());
  }
}

} // namespace
} // namespace aigw::pipeline
