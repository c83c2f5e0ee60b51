// The MCP gateway's decisions: MCPRoute validation, the session plaintext, selectors, and the
// rounds of mcp::Exchange against hand-written backend answers (initialize, lists merged with
// prefixes, calls routed back, refusals, URIs, session close).
#include "../control/config_test_util.h"
#include "mcp/exchange.h"

#include <gtest/gtest.h>

namespace aigw::mcp {
namespace {

std::string route_yaml(const std::string &refs, const std::string &extra = "") {
  return R"(
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: MCPRoute
metadata: {name: tools, namespace: default}
spec:
  parentRefs: [{name: aigw}]
)" + extra +
         "  backendRefs:\n" + refs + R"(
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: Backend
metadata: {name: a, namespace: default}
spec:
  endpoints: [{ip: {address: 127.0.0.1, port: 9001}}]
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: Backend
metadata: {name: b, namespace: default}
spec:
  endpoints: [{ip: {address: 127.0.0.1, port: 9002}}]
)";
}

TEST(MCPRouteConfig, RefusalsNameTheField) {
  using control::testing::expect_rejected;
  expect_rejected(route_yaml("    - {name: a, toolSelector: {include: [x], includeRegex: [y]}}\n"),
                  "spec.backendRefs[0].toolSelector: include and includeRegex cannot both be set");
  expect_rejected(route_yaml("    - {name: a, toolSelector: {}}\n"),
                  "spec.backendRefs[0].toolSelector: at least one of include");
  expect_rejected(route_yaml("    - {name: a, toolSelector: {excludeRegex: ['(']}}\n"),
                  "spec.backendRefs[0].toolSelector.excludeRegex[0]: is not a valid regular");
  expect_rejected(route_yaml("    - {name: a}\n    - {name: a}\n"),
                  "spec.backendRefs[1].name: \"a\" is listed twice");
  expect_rejected(route_yaml("    - {name: a}\n    - {name: b, prefixMode: Never}\n"),
                  "spec.backendRefs[1].toolSelector.include: is required when prefixMode is Never");
  expect_rejected(route_yaml("    - {name: a, prefixMode: Never, toolSelector: {include: [t]}}\n"
                             "    - {name: b, prefixMode: Never, toolSelector: {include: [t]}}\n"),
                  "tool \"t\" is exposed without a prefix by two backends");
  expect_rejected(
      route_yaml("    - {name: a, securityPolicy: {apiKey: {inline: k, secretRef: {name: s}}}}\n"),
      "spec.backendRefs[0].securityPolicy.apiKey: exactly one of secretRef or inline");
  expect_rejected(route_yaml("    - {name: a, securityPolicy: {apiKey: {inline: k, queryParam: q, "
                             "injectionPolicy: IfNotPresent}}}\n"),
                  "injectionPolicy: IfNotPresent cannot be combined with queryParam");
  expect_rejected(
      route_yaml("    - {name: a, securityPolicy: {apiKey: {secretRef: {name: gone}}}}\n"),
      "spec.backendRefs[0].securityPolicy.apiKey.secretRef.name: Secret \"gone\" not "
      "found");
  expect_rejected(route_yaml("    - {name: nowhere}\n"),
                  "spec.backendRefs[0].name: Backend \"nowhere\" not found");
  // Client authentication that is not enforced yet is refused, never accepted and ignored.
  expect_rejected(route_yaml("    - {name: a}\n", "  securityPolicy: {extAuth: {}}\n"),
                  "spec.securityPolicy.extAuth: is not served by aigw run yet");
  expect_rejected(route_yaml("    - {name: a}\n", "  securityPolicy: {apiKeyAuth: {}}\n"),
                  "spec.securityPolicy.apiKeyAuth.credentialRefs: is required");
}

TEST(MCPRouteConfig, OAuthIsValidatedWithFieldPaths) {
  using control::testing::expect_rejected;
  std::string prm = "      protectedResourceMetadata: {resource: https://gw.example.com/mcp}\n";
  expect_rejected(route_yaml("    - {name: a}\n", "  securityPolicy:\n    oauth:\n" + prm),
                  "spec.securityPolicy.oauth.issuer: is required");
  expect_rejected(route_yaml("    - {name: a}\n",
                             "  securityPolicy:\n    oauth:\n      issuer: auth.example\n" + prm),
                  "spec.securityPolicy.oauth.issuer: must be an http(s) URL");
  expect_rejected(
      route_yaml("    - {name: a}\n",
                 "  securityPolicy:\n    oauth:\n      issuer: https://a\n      jwks: "
                 "{localJWKS: {inline: '{\"keys\":[]}'}}\n" +
                     prm),
      "spec.securityPolicy.oauth.jwks.localJWKS.inline: the JWKS has no usable signing key");
  expect_rejected(
      route_yaml("    - {name: a}\n",
                 "  securityPolicy:\n    oauth:\n      issuer: https://a\n      jwks: "
                 "{localJWKS: {type: ValueRef, valueRef: {name: gone}}}\n" +
                     prm),
      "spec.securityPolicy.oauth.jwks.localJWKS.valueRef.name: ConfigMap \"gone\" not found");
  expect_rejected(
      route_yaml("    - {name: a}\n", "  securityPolicy:\n    oauth:\n      issuer: https://a\n"),
      "spec.securityPolicy.oauth.protectedResourceMetadata.resource: is required");
  expect_rejected(route_yaml("    - {name: a}\n",
                             "  securityPolicy:\n    authorization:\n      rules: [{source: {jwt: "
                             "{scopes: [a]}}}]\n"),
                  "spec.securityPolicy.authorization.rules[0].source.jwt: requires "
                  "spec.securityPolicy.oauth");
  expect_rejected(route_yaml("    - {name: a}\n", "  securityPolicy:\n    authorization:\n      "
                                                  "rules: [{cel: 'true', action: Maybe}]\n"),
                  "spec.securityPolicy.authorization.rules[0].action: must be Allow or Deny");
  expect_rejected(route_yaml("    - {name: a}\n", "  securityPolicy:\n    authorization:\n      "
                                                  "rules: [{cel: 'request.mcp.tool =='}]\n"),
                  "spec.securityPolicy.authorization.rules[0].cel: cel: column");
  expect_rejected(route_yaml("    - {name: a}\n",
                             "  securityPolicy:\n    authorization:\n      rules: [{cel: "
                             "\"request.auth.jwt.claims.sub == 'a'\"}]\n"),
                  "rules[0].cel: reads request.auth.jwt, which requires spec.securityPolicy.oauth");
  EXPECT_EQ(control::resource_metadata_url("https://gw.example.com/mcp/"),
            "https://gw.example.com/.well-known/oauth-protected-resource/mcp");
  EXPECT_EQ(control::resource_metadata_url("http://gw:8080"),
            "http://gw:8080/.well-known/oauth-protected-resource");
}

TEST(MCPRouteConfig, SelectorsNeverRunARegexOverANameFarPastAnyRealOne) {
  control::CompiledMCPSelector s;
  s.empty = false;
  s.exclude_regex.emplace_back(".*delete.*", std::regex::ECMAScript);
  EXPECT_TRUE(s.keeps("read_file"));
  EXPECT_FALSE(s.keeps("delete_repo"));
  // std::regex recurses per character: a megabyte name would overflow the stack
  EXPECT_FALSE(s.keeps(std::string(1 << 20, 'a')));
}

TEST(MCPSession, ThePlaintextRoundTripsAsUpstreamWritesIt) {
  ClientSession s{"default/tools", "user-1", {{"a", "sid-a", 0x013}, {"b", "", 0x000}}};
  std::string text = encode_session(s);
  EXPECT_EQ(text, "default/tools@user-1@a:c2lkLWE=:013,b::000");
  std::string err;
  auto back = parse_session(text, &err);
  ASSERT_TRUE(back) << err;
  EXPECT_EQ(back->route, "default/tools");
  EXPECT_EQ(back->subject, "user-1");
  ASSERT_EQ(back->backends.size(), 2u);
  EXPECT_EQ(back->backends[0].session_id, "sid-a");
  EXPECT_EQ(back->backends[0].caps, 0x013);
  EXPECT_EQ(back->backends[1].session_id, "");
  // Upstream's legacy form without capabilities means all of them.
  auto legacy = parse_session("r@@b1:dGVzdC1zZXNzaW9u", &err);
  ASSERT_TRUE(legacy);
  EXPECT_EQ(legacy->backends[0].session_id, "test-session");
  EXPECT_EQ(legacy->backends[0].caps, kAllCapabilities);
  EXPECT_FALSE(parse_session("no separators", &err));
  EXPECT_FALSE(parse_session("r@@:abc", &err));
  EXPECT_NE(err.find("empty backend name"), std::string::npos);
}

TEST(MCPSession, UrisCarryTheirBackendAndComeBack) {
  EXPECT_EQ(downstream_uri("local", "file:///x"), "local+file:///x");
  EXPECT_EQ(downstream_uri("local", "ui://renderer.html"), "ui://local/renderer.html");
  EXPECT_EQ(upstream_uri("local+file+test:///x")->second, "file+test:///x");
  EXPECT_EQ(upstream_uri("ui://local/renderer.html")->first, "local");
  EXPECT_EQ(upstream_uri("ui://local/renderer.html")->second, "ui://renderer.html");
  EXPECT_FALSE(upstream_uri("file:///x"));
  EXPECT_FALSE(upstream_uri("ui://nobackend"));
}

TEST(MCPSession, TheSubjectIsTheBearerTokensSub) {
  // {"sub":"alice"} as a JWT payload (signature not checked: the session is only bound to it)
  EXPECT_EQ(bearer_subject("Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9.sig"), "alice");
  EXPECT_EQ(bearer_subject("bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9.sig"), "alice");
  EXPECT_EQ(bearer_subject("Basic abc"), "");
  EXPECT_EQ(bearer_subject("Bearer not-a-jwt"), "");
}

TEST(MCPSession, RequestsAServerMakesCarryTheirBackendInTheirIds) {
  // upstream's vectors
  EXPECT_EQ(encode_server_request_id(R"("abcd")", "backend"), "YWJjZA==__s__backend");
  EXPECT_EQ(encode_server_request_id("1.1", "backend"), "9a9999999999f13f__f__backend");
  EXPECT_EQ(encode_server_request_id("1345", "backend"), "1345__i__backend");
  EXPECT_EQ(decode_server_request_id("YWJjZA==__s__backend")->second, R"("abcd")");
  EXPECT_EQ(decode_server_request_id("1345__i__backend")->first, "backend");
  EXPECT_EQ(decode_server_request_id("1345__i__backend")->second, "1345");
  EXPECT_EQ(decode_server_request_id("9a9999999999f13f__f__backend")->second, "1.1");
  EXPECT_FALSE(decode_server_request_id("plain"));
  EXPECT_FALSE(decode_server_request_id("1__x__b"));
  EXPECT_FALSE(decode_server_request_id("1__i__"));
  EXPECT_FALSE(decode_server_request_id("a__i__b__c"));
}

struct Harness {
  control::LoadResult loaded;
  SessionCrypto crypto{"seed", 10};
  std::map<std::string, std::string> headers;

  explicit Harness(const std::string &yaml) : loaded(control::testing::load(yaml)) {
    for (const auto &e : loaded.diag.errors())
      ADD_FAILURE() << e;
  }
  const control::CompiledMCPRoute &route() const { return loaded.snapshot->mcp_routes.at(0); }
  Request request(std::string_view method, std::string_view body) {
    Request r;
    r.method = method;
    r.body = body;
    r.headers = [this](std::string_view name) -> std::optional<std::string_view> {
      auto it = headers.find(std::string(name));
      if (it == headers.end()) return std::nullopt;
      return std::string_view(it->second);
    };
    return r;
  }
  // Initializes a session with both backends; returns the client's session id.
  std::string initialize() {
    Exchange ex(route(), crypto, "test");
    auto step = ex.begin(request(
        "POST",
        R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"c","version":"1"}}})"));
    auto *calls = std::get_if<std::vector<BackendCall>>(&step);
    EXPECT_TRUE(calls && calls->size() == 2);
    std::vector<BackendAnswer> answers(2);
    for (size_t i = 0; i < 2; ++i) {
      answers[i].ok = true;
      answers[i].status = 200;
      answers[i].content_type = "text/event-stream";
      answers[i].session_id = i == 0 ? "sid-a" : "sid-b";
      answers[i].body =
          "event: message\ndata: "
          R"({"jsonrpc":"2.0","id":"aigw-initialize","result":{"protocolVersion":"2025-06-18","capabilities":{"tools":{"listChanged":true}},"serverInfo":{"name":"s","version":"1"}}})"
          "\n\n";
    }
    step = ex.on_answers(answers);
    calls = std::get_if<std::vector<BackendCall>>(&step);
    EXPECT_TRUE(calls && calls->size() == 2); // notifications/initialized to each
    EXPECT_NE(calls->at(0).body.find("notifications/initialized"), std::string::npos);
    std::vector<BackendAnswer> accepted(2);
    for (auto &a : accepted) {
      a.ok = true;
      a.status = 202;
    }
    step = ex.on_answers(accepted);
    auto *reply = std::get_if<Reply>(&step);
    EXPECT_TRUE(reply);
    EXPECT_NE(reply->body.find(R"("capabilities":{"tools":{"listChanged":true}})"),
              std::string::npos)
        << reply->body;
    for (const auto &[k, v] : reply->headers)
      if (k == "mcp-session-id") return v;
    return "";
  }
};

const std::string kTwo = route_yaml(
    "    - {name: a, toolSelector: {exclude: [hidden]}, securityPolicy: {apiKey: {inline: ka}}}\n"
    "    - {name: b, prefixMode: Never, toolSelector: {include: [search]}, securityPolicy: "
    "{apiKey: {inline: kb, header: x-api-key, injectionPolicy: IfNotPresent}}}\n");

TEST(MCPExchange, InitializeOpensASessionAtEveryBackendAndEncryptsTheirIds) {
  Harness h(kTwo);
  std::string sid = h.initialize();
  auto plain = h.crypto.decrypt(sid);
  ASSERT_TRUE(plain);
  EXPECT_EQ(*plain, "default/tools@@a:c2lkLWE=:003,b:c2lkLWI=:003");
}

TEST(MCPExchange, ToolsListIsMergedWithPrefixesSelectorsAndBareNames) {
  Harness h(kTwo);
  h.headers["mcp-session-id"] = h.initialize();
  Exchange ex(h.route(), h.crypto, "test");
  auto step = ex.begin(h.request("POST", R"({"jsonrpc":"2.0","id":7,"method":"tools/list"})"));
  auto &calls = std::get<std::vector<BackendCall>>(step);
  ASSERT_EQ(calls.size(), 2u);
  // keys: Bearer in Authorization for a, the named header for b; each backend's own session
  auto has = [](const BackendCall &c, std::string_view k, std::string_view v) {
    for (const auto &[name, value] : c.headers)
      if (name == k && value == v) return true;
    return false;
  };
  EXPECT_TRUE(has(calls[0], "authorization", "Bearer ka"));
  EXPECT_TRUE(has(calls[0], "mcp-session-id", "sid-a"));
  EXPECT_TRUE(has(calls[1], "x-api-key", "kb"));
  EXPECT_TRUE(has(calls[1], "mcp-session-id", "sid-b"));
  std::vector<BackendAnswer> answers(2);
  answers[0] = {
      true,
      200,
      "application/json",
      "",
      R"({"jsonrpc":"2.0","id":7,"result":{"tools":[{"name":"read","inputSchema":{"type":"object"}},{"name":"hidden"}]}})",
      ""};
  answers[1] = {
      true,
      200,
      "text/event-stream",
      "",
      "data: "
      R"({"jsonrpc":"2.0","id":7,"result":{"tools":[{"name":"search"},{"name":"other"}]}})"
      "\n\n",
      ""};
  step = ex.on_answers(answers);
  auto &reply = std::get<Reply>(step);
  EXPECT_EQ(reply.content_type, "text/event-stream");
  EXPECT_EQ(
      reply.body,
      "event: message\ndata: "
      R"({"jsonrpc":"2.0","id":7,"result":{"tools":[{"name":"a__read","inputSchema":{"type":"object"}},{"name":"search"}]}})"
      "\n\n");
}

TEST(MCPExchange, CallsGoToTheOwningBackendWithItsOwnNameOrAreRefused) {
  Harness h(kTwo);
  h.headers["mcp-session-id"] = h.initialize();
  h.headers["x-api-key"] = "the-clients-own"; // IfNotPresent: b takes the client's
  auto call = [&](const std::string &name) {
    Exchange ex(h.route(), h.crypto, "test");
    return ex.begin(
        h.request("POST", R"({"jsonrpc":"2.0","id":"x","method":"tools/call","params":{"name":")" +
                              name + R"(","arguments":{"q":1}}})"));
  };
  {
    auto step = call("a__read");
    auto &calls = std::get<std::vector<BackendCall>>(step);
    EXPECT_EQ(calls[0].backend->name, "a");
    EXPECT_EQ(
        calls[0].body,
        R"({"jsonrpc":"2.0","id":"x","method":"tools/call","params":{"name":"read","arguments":{"q":1}}})");
  }
  {
    auto step = call("search"); // bare: prefixMode Never
    auto &calls = std::get<std::vector<BackendCall>>(step);
    EXPECT_EQ(calls[0].backend->name, "b");
    bool own = false;
    for (const auto &[k, v] : calls[0].headers)
      own |= k == "x-api-key" && v == "the-clients-own";
    EXPECT_TRUE(own);
  }
  auto refused = [&](const std::string &name, int status, std::string_view text) {
    auto step = call(name);
    auto *r = std::get_if<Reply>(&step);
    ASSERT_TRUE(r) << name;
    EXPECT_EQ(r->status, status) << name;
    EXPECT_EQ(r->body, text);
  };
  refused("a__hidden", 400, "invalid tool name: hidden");
  refused("c__read", 404, "unknown backend c");
  refused("read", 400, "invalid tool name read: invalid resource name: read");
  refused("b__other", 400, "invalid tool name: other");
}

TEST(MCPExchange, TheSpansTraceContextReachesTheBackendInParamsMeta) {
  Harness h(kTwo);
  h.headers["mcp-session-id"] = h.initialize();
  std::vector<std::string> asked;
  auto call = [&](const std::string &params) {
    Exchange ex(h.route(), h.crypto, "test");
    std::string body = R"({"jsonrpc":"2.0","id":3,"method":"tools/call","params":)" + params + "}";
    auto r = h.request("POST", body);
    r.trace = [&](std::string_view client) {
      asked.emplace_back(client);
      return std::string("00-0123456789abcdef0123456789abcdef-00f067aa0ba902b7-01");
    };
    auto step = ex.begin(r);
    return std::get<std::vector<BackendCall>>(step).at(0).body;
  };
  EXPECT_EQ(
      call(R"({"name":"a__read","arguments":{"q":1}})"),
      R"({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"read","arguments":{"q":1},"_meta":{"traceparent":"00-0123456789abcdef0123456789abcdef-00f067aa0ba902b7-01"}}})");
  EXPECT_EQ(asked.back(), "");
  // The client's own _meta is kept (its progress token among it); its traceparent is replaced,
  // and handed to the host as the parent.
  EXPECT_EQ(
      call(
          R"({"_meta":{"progressToken":5,"traceparent":"00-11111111111111111111111111111111-2222222222222222-01"},"name":"a__read"})"),
      R"({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"_meta":{"progressToken":5,"traceparent":"00-0123456789abcdef0123456789abcdef-00f067aa0ba902b7-01"},"name":"read"}})");
  EXPECT_EQ(asked.back(), "00-11111111111111111111111111111111-2222222222222222-01");
}

TEST(MCPExchange, AnEventThatNeverEndsIsRefusedPastTheBound) {
  Harness h(kTwo);
  h.headers["mcp-session-id"] = h.initialize();
  Exchange ex(h.route(), h.crypto, "test");
  std::string body =
      R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a__read"}})";
  auto step = ex.begin(h.request("POST", body));
  ASSERT_TRUE(std::get_if<std::vector<BackendCall>>(&step));
  std::string line = "data: " + std::string(3 * 1024 * 1024, 'x') + "\n";
  for (int i = 0; i < 5 && !ex.stream_overflow(); ++i)
    EXPECT_EQ(ex.stream_events(0, line), "");
  EXPECT_FALSE(ex.stream_overflow()); // 15 MiB: still within the bound
  ex.stream_events(0, line);
  ex.stream_events(0, line);
  EXPECT_TRUE(ex.stream_overflow());
}

TEST(MCPExchange, ResourcesAreReadFromTheirBackendAndNamedAsTheClientKnowsThem) {
  Harness h(kTwo);
  h.headers["mcp-session-id"] = h.initialize();
  Exchange ex(h.route(), h.crypto, "test");
  auto step = ex.begin(h.request(
      "POST",
      R"({"jsonrpc":"2.0","id":3,"method":"resources/read","params":{"uri":"a+file:///x.txt"}})"));
  auto &calls = std::get<std::vector<BackendCall>>(step);
  EXPECT_NE(calls[0].body.find(R"("uri":"file:///x.txt")"), std::string::npos);
  BackendAnswer a{
      true,
      200,
      "application/json",
      "",
      R"({"jsonrpc":"2.0","id":3,"result":{"contents":[{"uri":"file:///x.txt","text":"hi"}]}})",
      ""};
  step = ex.on_answers({a});
  EXPECT_EQ(
      std::get<Reply>(step).body,
      R"({"jsonrpc":"2.0","id":3,"result":{"contents":[{"uri":"a+file:///x.txt","text":"hi"}]}})");
}

TEST(MCPExchange, TheBackendSelectorPicksASessionsBackendsAtInitialize) {
  Harness h(
      route_yaml("    - {name: a}\n    - {name: b}\n",
                 "  backendSelector:\n    rules:\n      - cel: \"request.mcp.backend == 'a'\"\n"
                 "      - cel: \"request.headers['x-team'] == 'blue' && request.mcp.backend "
                 "== 'b'\"\n"));
  auto backends = [&](std::map<std::string, std::string> headers) {
    Exchange ex(h.route(), h.crypto, "test");
    auto r = h.request(
        "POST",
        R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"c","version":"1"}}})");
    for (const auto &kv : headers)
      r.header_list.emplace_back(kv.first, kv.second);
    auto step = ex.begin(r);
    std::string names;
    if (auto *calls = std::get_if<std::vector<BackendCall>>(&step))
      for (const auto &c : *calls)
        names += c.backend->name;
    else
      names = "refused " + std::to_string(std::get<Reply>(step).status);
    return names;
  };
  EXPECT_EQ(backends({}), "a");
  EXPECT_EQ(backends({{"x-team", "blue"}}), "ab");
  Harness none(
      route_yaml("    - {name: a}\n",
                 "  backendSelector:\n    rules: [{cel: \"request.mcp.backend == 'z'\"}]\n"));
  Exchange ex(none.route(), none.crypto, "test");
  auto step = ex.begin(
      none.request("POST", R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":{}})"));
  EXPECT_EQ(std::get<Reply>(step).status, 403);
}

TEST(MCPExchange, SessionsAreCheckedAndClosedAtEveryBackend) {
  Harness h(kTwo);
  {
    Exchange ex(h.route(), h.crypto, "test");
    auto step = ex.begin(h.request("POST", R"({"jsonrpc":"2.0","id":1,"method":"tools/list"})"));
    EXPECT_EQ(std::get<Reply>(step).status, 400); // missing session ID
  }
  {
    h.headers["mcp-session-id"] = "garbage";
    Exchange ex(h.route(), h.crypto, "test");
    auto step = ex.begin(h.request("POST", R"({"jsonrpc":"2.0","id":1,"method":"tools/list"})"));
    EXPECT_EQ(std::get<Reply>(step).status, 400);
  }
  h.headers.erase("mcp-session-id");
  h.headers["mcp-session-id"] = h.initialize();
  {
    // another subject reusing the session
    h.headers["authorization"] = "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9.sig";
    Exchange ex(h.route(), h.crypto, "test");
    auto step = ex.begin(h.request("POST", R"({"jsonrpc":"2.0","id":1,"method":"ping"})"));
    EXPECT_EQ(std::get<Reply>(step).status, 401);
    h.headers.erase("authorization");
  }
  Exchange ex(h.route(), h.crypto, "test");
  auto step = ex.begin(h.request("DELETE", ""));
  auto &calls = std::get<std::vector<BackendCall>>(step);
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0].method, "DELETE");
  step = ex.on_answers(std::vector<BackendAnswer>(2));
  EXPECT_EQ(std::get<Reply>(step).status, 200);
}

} // namespace
} // namespace aigw::mcp
