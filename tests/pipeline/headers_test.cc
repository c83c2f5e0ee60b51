#include "pipeline/errors.h"
#include "pipeline/headers.h"

#include <gtest/gtest.h>

namespace aigw::pipeline {
namespace {

TEST(BuildRequestHead, StripsClientCredentialsInternalAndHopByHopHeaders) {
  std::vector<HeaderView> client = {{"Authorization", "Bearer client-secret"},
                                    {"X-AI-EG-Model", "spoofed"},
                                    {"Connection", "keep-alive"},
                                    {"Accept-Encoding", "gzip"},
                                    {"Content-Type", "application/json"},
                                    {"X-Custom", "kept"},
                                    {"OpenAI-Project", "client"}};
  api::HeaderMutation m;
  m.set = {{"openai-project", "proj_cfg"}};
  m.remove = {"x-custom"};
  UpstreamHead h{
      "POST", "/v1/chat/completions", "api.openai.com", "gpt-4o", "Bearer sk-cfg", "rid-1", 42};
  auto head = build_request_head(h, client, m);
  EXPECT_TRUE(head.starts_with("POST /v1/chat/completions HTTP/1.1\r\nHost: api.openai.com\r\n"));
  EXPECT_EQ(head.find("client-secret"), std::string::npos);
  EXPECT_EQ(head.find("spoofed"), std::string::npos);
  EXPECT_EQ(head.find("gzip"), std::string::npos);
  EXPECT_EQ(head.find("X-Custom"), std::string::npos);
  EXPECT_EQ(head.find("OpenAI-Project: client"), std::string::npos);
  EXPECT_NE(head.find("openai-project: proj_cfg\r\n"), std::string::npos);
  EXPECT_NE(head.find("x-ai-eg-model: gpt-4o\r\n"), std::string::npos);
  EXPECT_NE(head.find("Authorization: Bearer sk-cfg\r\n"), std::string::npos);
  EXPECT_NE(head.find("x-request-id: rid-1\r\n"), std::string::npos);
  EXPECT_TRUE(head.ends_with("Content-Length: 42\r\n\r\n"));
}

TEST(ErrorBodies, MatchUpstreamShapes) {
  EXPECT_EQ(error_body("BadRequest", 400, "bad \"x\""),
            R"({"type":"error","error":{"type":"BadRequest","code":"400","message":"bad \"x\""}})");
  EXPECT_EQ(
      wrap_openai_backend_error(503, "oops"),
      R"({"type":"error","error":{"type":"OpenAIBackendError","code":"503","message":"oops"}})");
  EXPECT_TRUE(is_json_content_type("Application/JSON; charset=utf-8"));
  EXPECT_FALSE(is_json_content_type("text/plain"));
}

} // namespace
} // namespace aigw::pipeline
