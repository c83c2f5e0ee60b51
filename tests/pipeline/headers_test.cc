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
  auto built = build_request_head(h, client, m);
  ASSERT_TRUE(built);
  const std::string &head = *built;
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

TEST(BuildRequestHead, StripsClientCredentialsOfEveryScheme) {
  std::vector<HeaderView> client = {
      {"x-api-key", "sk-ant-client"}, {"Api-Key", "azure-client"},
      {"Cookie", "session=secret"},   {"Proxy-Authorization", "Basic abc"},
      {"x-goog-api-key", "goog"},     {"X-Kept", "yes"}};
  UpstreamHead h{"POST", "/v1/messages", "api.anthropic.com", "m", "", "rid", 2};
  std::vector<std::pair<std::string, std::string>> extra = {{"x-api-key", "sk-ant-gateway"}};
  h.extra = &extra;
  auto head = build_request_head(h, client, {});
  ASSERT_TRUE(head);
  EXPECT_EQ(head->find("client"), std::string::npos) << *head;
  EXPECT_EQ(head->find("secret"), std::string::npos);
  EXPECT_EQ(head->find("Basic"), std::string::npos);
  EXPECT_EQ(head->find("goog"), std::string::npos);
  EXPECT_NE(head->find("x-api-key: sk-ant-gateway\r\n"), std::string::npos);
  EXPECT_NE(head->find("X-Kept: yes\r\n"), std::string::npos);
}

TEST(BuildRequestHead, RefusesAModelThatWouldSplitTheHead) {
  std::string smuggle = "gpt-4o\r\nContent-Length: 0\r\n\r\nGET /v1/models HTTP/1.1\r\nX: y";
  UpstreamHead h{"POST", "/v1/chat/completions", "api.openai.com", smuggle, "Bearer sk", "r", 2};
  auto head = build_request_head(h, {}, {});
  ASSERT_FALSE(head);
  EXPECT_EQ(head.error().code, 400);
  EXPECT_NE(head.error().message.find("\"model\""), std::string::npos);
}

TEST(BuildRequestHead, RefusesControlCharactersInEveryValueAndInThePath) {
  UpstreamHead ok{"POST", "/v1/chat/completions", "h", "m", "", "r", 2};
  std::vector<HeaderView> bad_client = {{"x-custom", "a\nb"}};
  auto r1 = build_request_head(ok, bad_client, {});
  ASSERT_FALSE(r1);
  EXPECT_NE(r1.error().message.find("x-custom"), std::string::npos);
  api::HeaderMutation m;
  m.set = {{"x-team", "a\rb"}};
  EXPECT_FALSE(build_request_head(ok, {}, m));
  std::vector<std::pair<std::string, std::string>> extra = {{"anthropic-beta", "x\r\ny: z"}};
  UpstreamHead with_extra = ok;
  with_extra.extra = &extra;
  EXPECT_FALSE(build_request_head(with_extra, {}, {}));
  UpstreamHead bad_path = ok;
  bad_path.path = "/model/a b/converse";
  EXPECT_FALSE(build_request_head(bad_path, {}, {}));
  UpstreamHead bad_rid = ok;
  bad_rid.request_id = "r\n1";
  EXPECT_FALSE(build_request_head(bad_rid, {}, {}));
  std::vector<HeaderView> tab = {{"x-custom", "a\tb"}};
  EXPECT_TRUE(build_request_head(ok, tab, {})); // HTAB is allowed in a value
}

TEST(ScrubSecrets, RemovesEveryCredentialTheAttemptSent) {
  std::vector<std::pair<std::string, std::string>> extra = {{"api-key", "azure-key-123456"},
                                                            {"x-other", "not-a-secret-value"}};
  auto secrets = sent_secrets("Bearer sk-live-abcdefgh", extra);
  std::string body = R"({"error":{"message":"Incorrect API key provided: sk-live-abcdefgh. )"
                     R"(Also azure-key-123456 and not-a-secret-value"}})";
  scrub_secrets(body, secrets);
  EXPECT_EQ(body.find("sk-live-abcdefgh"), std::string::npos) << body;
  EXPECT_EQ(body.find("azure-key-123456"), std::string::npos);
  EXPECT_NE(body.find("not-a-secret-value"), std::string::npos);
  EXPECT_NE(body.find("[REDACTED]"), std::string::npos);
}

TEST(RequestFraming, RefusesEveryAmbiguousBodyLength) {
  using H = std::vector<HeaderView>;
  auto status = [](unsigned v, const H &h) {
    auto r = check_request_framing(v, h);
    return r ? r->status : 0u;
  };
  EXPECT_EQ(status(11, {{"Host", "a"}, {"Content-Length", "3"}}), 0u);
  EXPECT_EQ(status(11, {{"Host", "a"}, {"Transfer-Encoding", "chunked"}}), 0u);
  EXPECT_EQ(status(11, {{"Host", "a"}, {"Transfer-Encoding", "xchunked"}}), 501u);
  EXPECT_EQ(status(11, {{"Host", "a"}, {"Transfer-Encoding", "gzip, chunked"}}), 501u);
  EXPECT_EQ(status(11, {{"Host", "a"}, {"Transfer-Encoding", "chunked, gzip"}}), 400u);
  EXPECT_EQ(status(11, {{"Host", "a"}, {"Transfer-Encoding", "chunked, chunked"}}), 400u);
  EXPECT_EQ(status(11, {{"Host", "a"}, {"Transfer-Encoding", ""}}), 400u);
  EXPECT_EQ(
      status(11,
             {{"Host", "a"}, {"Transfer-Encoding", "chunked"}, {"Transfer-Encoding", "chunked"}}),
      400u);
  EXPECT_EQ(status(11, {{"Host", "a"}, {"Transfer-Encoding", "chunked"}, {"Content-Length", "1"}}),
            400u);
  EXPECT_EQ(status(11, {{"Host", "a"}, {"Content-Length", "1"}, {"content-length", "2"}}), 400u);
  EXPECT_EQ(status(11, {{"Host", "a"}, {"Content-Length", "1"}, {"content-length", "1"}}), 0u);
  EXPECT_EQ(status(11, {{"Content-Length", "1"}}), 400u);
  EXPECT_EQ(status(11, {{"Host", "a"}, {"host", "b"}}), 400u);
  EXPECT_EQ(status(10, {}), 0u); // HTTP/1.0 needs no Host
  EXPECT_EQ(status(10, {{"Transfer-Encoding", "chunked"}}), 400u);
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
