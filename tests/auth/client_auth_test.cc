#include "auth/client_auth.h"

#include "core/base64.h"

#include <gtest/gtest.h>

#include <map>

namespace aigw::auth {
namespace {

HeaderLookup headers(std::map<std::string, std::string> h) {
  return [h = std::move(h)](std::string_view name) -> std::optional<std::string_view> {
    auto it = h.find(std::string(name));
    if (it == h.end()) return std::nullopt;
    return std::string_view(it->second);
  };
}

ClientAuth api_key_policy() {
  ClientAuth a;
  a.key = "default/keys";
  ApiKeyAuthConfig c;
  c.keys = {{"sk-a", "team-a"}, {"sk-b", "team-b"}};
  c.headers = {"x-my-key", "authorization"};
  c.params = {"key"};
  c.cookies = {"k"};
  c.forward_client_id_header = "x-client-id";
  a.api_key = c;
  return a;
}

TEST(ClientAuth, ApiKeyFromTheFirstHeaderPresentWithoutItsBearerPrefix) {
  auto p = api_key_policy();
  auto r = authenticate(p, headers({{"authorization", "Bearer sk-b"}}), "", nullptr, 0);
  ASSERT_TRUE(r.identity);
  EXPECT_EQ(r.identity->client_id, "team-b");
  EXPECT_EQ(r.identity->remove_headers, std::vector<std::string>{"authorization"});
  ASSERT_EQ(r.identity->set_headers.size(), 1u);
  EXPECT_EQ(r.identity->set_headers[0].second, "team-b");
  // The first header present decides: a wrong key there is not rescued by a later source.
  r = authenticate(p, headers({{"x-my-key", "nope"}, {"authorization", "Bearer sk-b"}}), "",
                   nullptr, 0);
  EXPECT_FALSE(r.identity);
  EXPECT_EQ(r.failure.message, "Client authentication failed.");
}

TEST(ClientAuth, ApiKeyFromAQueryParameterOrACookie) {
  auto p = api_key_policy();
  auto r = authenticate(p, headers({}), "?a=1&key=sk%2Da&b=2", nullptr, 0);
  ASSERT_TRUE(r.identity);
  EXPECT_EQ(r.identity->client_id, "team-a");
  EXPECT_EQ(r.identity->remove_params, std::vector<std::string>{"key"});
  EXPECT_EQ(strip_query_params("?a=1&key=sk%2Da&b=2", {"key"}), "?a=1&b=2");
  EXPECT_EQ(strip_query_params("?key=x", {"key"}), "");
  r = authenticate(p, headers({{"cookie", "x=1; k=sk-b"}}), "", nullptr, 0);
  ASSERT_TRUE(r.identity);
  EXPECT_EQ(r.identity->client_id, "team-b");
  EXPECT_FALSE(authenticate(p, headers({}), "", nullptr, 0).identity);
}

TEST(ClientAuth, BasicAuthChecksTheShaDigest) {
  auto users = parse_htpasswd("# users\nbob:{SHA}87u9ZqY9S/F0eUBXjsPQEDUw4h0=\n");
  ASSERT_TRUE(users) << users.error().message;
  ClientAuth p;
  p.basic = BasicAuthConfig{*users, "x-user"};
  auto basic = [](std::string s) { return "Basic " + base64_encode(s); };
  auto r = authenticate(p, headers({{"authorization", basic("bob:hunter2")}}), "", nullptr, 0);
  ASSERT_TRUE(r.identity) << r.failure.message;
  EXPECT_EQ(r.identity->client_id, "bob");
  r = authenticate(p, headers({{"authorization", basic("bob:hunter3")}}), "", nullptr, 0);
  EXPECT_FALSE(r.identity);
  EXPECT_EQ(r.failure.message,
            "User authentication failed. Invalid username/password combination.");
  r = authenticate(p, headers({}), "", nullptr, 0);
  EXPECT_EQ(r.failure.message, "User authentication failed. Missing username and password.");
}

TEST(ClientAuth, HtpasswdErrorsNameTheLine) {
  auto bad = parse_htpasswd("bob:{SHA}87u9ZqY9S/F0eUBXjsPQEDUw4h0=\nalice:$apr1$x$y\n");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("line 2: user \"alice\": only {SHA}"), std::string::npos);
  EXPECT_FALSE(parse_htpasswd("nocolon\n"));
  EXPECT_FALSE(parse_htpasswd("a:{SHA}bm90c2hh\n")); // not 20 bytes
}

TEST(ClientAuth, JwtMissingUnlessOptional) {
  ClientAuth p;
  p.jwt.push_back(JwtProviderConfig{});
  auto r = authenticate(p, headers({}), "", nullptr, 0);
  EXPECT_FALSE(r.identity);
  EXPECT_EQ(r.failure.message, "Jwt is missing");
  p.jwt_optional = true;
  EXPECT_TRUE(authenticate(p, headers({}), "", nullptr, 0).identity);
}

TEST(ClientAuth, RemoteJwksNotFetchedYetAsksForAFetch) {
  ClientAuth p;
  JwtProviderConfig j;
  j.remote_uri = "http://127.0.0.1:1/jwks";
  p.jwt.push_back(j);
  JwksStore store;
  auto now = JwksStore::Clock::now();
  auto r = authenticate(p, headers({{"authorization", "Bearer a.b.c"}}), "", &store, 0);
  EXPECT_FALSE(r.identity);
  EXPECT_EQ(r.failure.message, "Jwks remote fetch is failed");
  EXPECT_TRUE(store.due(j.remote_uri, std::chrono::seconds(300), now));
  store.put(j.remote_uri, nullptr, now); // failed: retried after kRetry
  EXPECT_FALSE(store.due(j.remote_uri, std::chrono::seconds(300), now));
  EXPECT_TRUE(store.due(j.remote_uri, std::chrono::seconds(300), now + JwksStore::kRetry));
}

TEST(ClientAuth, BehindEnvoyTheIdentityIsReadBack) {
  auto p = api_key_policy();
  auto id = identify_verified(p, headers({{"authorization", "Bearer sk-a"}}), "");
  EXPECT_EQ(id.client_id, "team-a");
  EXPECT_EQ(id.remove_headers, std::vector<std::string>{"authorization"});
}

TEST(ClientAuth, AnEmptyKeyHeaderIsNoKeyTheNextSourceMayHoldIt) {
  auto p = api_key_policy();
  auto r = authenticate(p, headers({{"x-my-key", " "}, {"authorization", "Bearer sk-b"}}), "",
                        nullptr, 0);
  ASSERT_TRUE(r.identity);
  EXPECT_EQ(r.identity->client_id, "team-b");
}

TEST(ClientAuth, EveryProvidersClaimHeadersAreTheGatewaysEvenWithoutAToken) {
  ClientAuth p;
  for (const char *name : {"a", "b"}) {
    JwtProviderConfig j;
    j.name = name;
    j.claim_to_headers = {{"tier", std::string("x-") + name + "-tier"}};
    p.jwt.push_back(j);
  }
  p.jwt_optional = true;
  // No token: admitted, and a client's own x-a-tier / x-b-tier never go on or choose a route.
  auto r = authenticate(p, headers({{"x-a-tier", "gold"}}), "", nullptr, 0);
  ASSERT_TRUE(r.identity);
  EXPECT_EQ(r.identity->remove_headers, (std::vector<std::string>{"x-a-tier", "x-b-tier"}));
  EXPECT_TRUE(r.identity->set_headers.empty());
}

TEST(ClientAuth, ApiKeyIsCheckedBeforeBasicAuthAndNamesTheClient) {
  auto p = api_key_policy();
  BasicAuthConfig b;
  b.users = {{"alice", std::string(20, 'x')}};
  p.basic = b;
  auto r = authenticate(p, headers({{"x-my-key", "nope"}}), "", nullptr, 0);
  EXPECT_FALSE(r.identity);
  EXPECT_EQ(r.failure.message, "Client authentication failed.");
}

TEST(ClientAuth, ConfiguredQueryCredentialsAreRedactedForTheLog) {
  EXPECT_EQ(redact_query_params("?a=1&key=sk-secret&b=2", {"key"}), "?a=1&key=[REDACTED]&b=2");
  EXPECT_EQ(redact_query_params("?a=1", {"key"}), "?a=1");
}

TEST(ClientAuth, JwksFetchesAreNotStartedTwice) {
  JwksStore store;
  auto now = JwksStore::Clock::now();
  EXPECT_TRUE(store.start("u", now));
  EXPECT_FALSE(store.start("u", now + std::chrono::seconds(30)));
  store.put("u", nullptr, now);
  EXPECT_TRUE(store.start("u", now + std::chrono::seconds(30)));
}

} // namespace
} // namespace aigw::auth
