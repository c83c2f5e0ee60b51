#include "pipeline/request_body.h"

#include <gtest/gtest.h>

namespace aigw::pipeline {
namespace {

TEST(ParseRequestBody, ExtractsModelStreamAndUsageOption) {
  auto r = parse_request_body(
      Endpoint::kChatCompletions,
      R"({"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true},"max_tokens":12})");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->model, "gpt-4o");
  EXPECT_TRUE(r->stream);
  EXPECT_TRUE(r->include_usage);
  EXPECT_EQ(r->max_tokens, 12u);
}

TEST(ParseRequestBody, MalformedJsonIsUpstreamsBadRequest) {
  auto r = parse_request_body(Endpoint::kEmbeddings, "{\"model\": ");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, 400);
  EXPECT_TRUE(r.error().message.starts_with(
      "malformed request: failed to parse JSON for /v1/embeddings: "));
}

TEST(ParseRequestBody, RejectsNonObjectAndNonStringModel) {
  EXPECT_FALSE(parse_request_body(Endpoint::kChatCompletions, "[1]").ok());
  EXPECT_FALSE(parse_request_body(Endpoint::kChatCompletions, R"({"model":3})").ok());
  EXPECT_FALSE(parse_request_body(Endpoint::kChatCompletions, "").ok());
}

TEST(ParseRequestBody, RejectsAModelWithControlCharacters) {
  for (const char *body : {R"({"model":"gpt-4o\r\nX-Injected: 1"})", R"({"model":"a\nb"})",
                           R"({"model":"a\u0000b"})", R"({"model":"a\u007fb"})"}) {
    auto r = parse_request_body(Endpoint::kChatCompletions, body);
    ASSERT_FALSE(r.ok()) << body;
    EXPECT_EQ(r.error().code, 400);
    EXPECT_NE(r.error().message.find("\"model\""), std::string::npos);
  }
  EXPECT_TRUE(parse_request_body(Endpoint::kChatCompletions, R"({"model":"my model:v1"})").ok());
}

TEST(ParseRequestBody, MissingModelIsEmpty) {
  auto r = parse_request_body(Endpoint::kChatCompletions, R"({"messages":[]})");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->model, "");
}

TEST(EncodeRequestBody, UnchangedWhenNothingToDo) {
  EXPECT_FALSE(encode_request_body(R"({"model":"a"})", "", false));
}

TEST(EncodeRequestBody, ModelOverrideKeepsEveryOtherByte) {
  std::string body = "{\n  \"messages\": [ {\"role\":\"user\",\"content\":\"model\"} ],\n  "
                     "\"model\" :  \"a\" ,\"x\":1}";
  auto out = encode_request_body(body, "gpt-\"4\"", false);
  ASSERT_TRUE(out);
  EXPECT_EQ(*out, "{\n  \"messages\": [ {\"role\":\"user\",\"content\":\"model\"} ],\n  \"model\" "
                  ":  \"gpt-\\\"4\\\"\" ,\"x\":1}");
}

TEST(EncodeRequestBody, InjectsIncludeUsageWhereverStreamOptionsStand) {
  EXPECT_EQ(*encode_request_body(R"({"model":"a","stream":true})", "", true),
            R"({"model":"a","stream":true,"stream_options":{"include_usage":true}})");
  EXPECT_EQ(*encode_request_body(R"({"stream_options":{}})", "", true),
            R"({"stream_options":{"include_usage":true}})");
  EXPECT_EQ(*encode_request_body(R"({"stream_options":{"x":1}})", "", true),
            R"({"stream_options":{"include_usage":true,"x":1}})");
  EXPECT_EQ(*encode_request_body(R"({"stream_options":{"include_usage":false}})", "", true),
            R"({"stream_options":{"include_usage":true}})");
  EXPECT_EQ(*encode_request_body(R"({"stream_options":null})", "", true),
            R"({"stream_options":{"include_usage":true}})");
}

TEST(EncodeRequestBody, OverrideAndInjectionTogether) {
  auto out = encode_request_body(R"({"model":"a","stream":true})", "b", true);
  ASSERT_TRUE(out);
  EXPECT_EQ(*out, R"({"model":"b","stream":true,"stream_options":{"include_usage":true}})");
  auto reparsed = parse_request_body(Endpoint::kChatCompletions, *out);
  ASSERT_TRUE(reparsed.ok());
  EXPECT_TRUE(reparsed->include_usage);
}

TEST(EncodeRequestBody, BothInsertionsIntoAnEmptyObjectStayValidJson) {
  // Found by fuzz_request_body.
  auto out = encode_request_body("{\n\n}", "m", true);
  ASSERT_TRUE(out);
  EXPECT_EQ(*out, "{\"model\":\"m\"\n\n,\"stream_options\":{\"include_usage\":true}}");
  EXPECT_TRUE(parse_request_body(Endpoint::kChatCompletions, *out).ok());
}

TEST(EncodeRequestBody, InsertionsAtTheSameOffsetKeepTheirOrder) {
  // Found by fuzz_request_body: in "{}" both insertions land on the closing brace.
  auto out = encode_request_body("\r{}", "m", true);
  ASSERT_TRUE(out);
  EXPECT_EQ(*out, "\r{\"model\":\"m\",\"stream_options\":{\"include_usage\":true}}");
  EXPECT_TRUE(parse_request_body(Endpoint::kChatCompletions, *out).ok());
}

} // namespace
} // namespace aigw::pipeline

namespace aigw::pipeline {
namespace {

TEST(BodyMutation, RemovesThenSetsTopLevelFields) {
  std::string body = R"({"model":"m", "internal_flag": true,"messages":[],"service_tier":"auto"})";
  auto out = apply_body_mutation(body,
                                 {{"service_tier", "\"scale\""},
                                  {"seed", "42"},
                                  {"note", "plain text"},
                                  {"opts", "{\"a\":1}"}},
                                 {"internal_flag", "missing"});
  // Every other byte is kept, whitespace included.
  EXPECT_EQ(
      out,
      R"({"model":"m", "messages":[],"service_tier":"scale","seed":42,"note":"plain text","opts":{"a":1}})");
  // Removing the last and the only member keeps the object valid.
  EXPECT_EQ(apply_body_mutation(R"({"a":1,"b":2})", {}, {"b"}), R"({"a":1})");
  EXPECT_EQ(apply_body_mutation(R"({"a":1})", {}, {"a"}), R"({})");
  EXPECT_EQ(apply_body_mutation(R"({})", {{"a", "true"}}, {}), R"({"a":true})");
  // Not an object: unchanged.
  EXPECT_EQ(apply_body_mutation("[1]", {{"a", "1"}}, {}), "[1]");
}

} // namespace
} // namespace aigw::pipeline
