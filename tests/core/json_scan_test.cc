#include "core/json_scan.h"

#include <gtest/gtest.h>

namespace aigw::json {
namespace {

TEST(JsonScan, FindsTopLevelMembersAndSkipsNestedOnes) {
  std::string_view body = R"( {"a": {"model": "x"}, "model" : "gpt-4o" , "n":[1,{"b":"}"}]} )";
  auto spans = scan_object(body);
  ASSERT_TRUE(spans);
  ASSERT_EQ(spans->members.size(), 3u);
  const auto *m = spans->find("model");
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(body.substr(m->value_begin, m->value_end - m->value_begin), "\"gpt-4o\"");
  EXPECT_EQ(body[spans->close], '}');
}

TEST(JsonScan, HandlesEscapedQuotesInStrings) {
  std::string_view body = R"({"k":"a\"b}","model":"m"})";
  auto spans = scan_object(body);
  ASSERT_TRUE(spans);
  EXPECT_EQ(spans->members.size(), 2u);
}

TEST(JsonScan, RejectsNonObjectsAndTruncatedInput) {
  EXPECT_FALSE(scan_object("[1,2]"));
  EXPECT_FALSE(scan_object(R"({"a":1)"));
  EXPECT_FALSE(scan_object(R"({"a":"x)"));
  EXPECT_FALSE(scan_object(""));
}

TEST(JsonScan, EmptyObject) {
  auto spans = scan_object(" {} ");
  ASSERT_TRUE(spans);
  EXPECT_TRUE(spans->members.empty());
  EXPECT_EQ(spans->open, 1u);
  EXPECT_EQ(spans->close, 2u);
}

TEST(JsonScan, KeysCompareWithEscapesDecoded) {
  auto spans = scan_object(R"({"mod\u0065l":"a","\ud83d\ude00":1})");
  ASSERT_TRUE(spans);
  ASSERT_NE(spans->find("model"), nullptr);
  EXPECT_TRUE(spans->members[1].key_is("\xF0\x9F\x98\x80"));
}

TEST(JsonQuote, EscapesControlCharactersAndQuotes) {
  EXPECT_EQ(quoted("a\"b\\c\n\x01"), "\"a\\\"b\\\\c\\n\\u0001\"");
}

} // namespace
} // namespace aigw::json
