// `aigw translate` for MCPRoute: the resources upstream's MCPRoute controller creates, found by
// kind and name and checked field by field, and the filter configuration's mcpConfig.
#include "control/translate.h"
#include "control/translate_mcp.h"
#include "core/base64.h"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

namespace aigw::control {
namespace {

EnvLookup env_with(std::map<std::string, std::string> vars) {
  return [vars](const std::string &k) -> std::optional<std::string> {
    auto it = vars.find(k);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

const char *kBase = R"(apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: aigw, namespace: default}
spec:
  gatewayClassName: aigw
  listeners: [{name: http, protocol: HTTP, port: 1975}]
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: Backend
metadata: {name: alpha, namespace: default}
spec:
  endpoints: [{ip: {address: 127.0.0.1, port: 9001}}]
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: Backend
metadata: {name: beta, namespace: default}
spec:
  endpoints: [{ip: {address: 127.0.0.1, port: 9002}}]
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: Backend
metadata: {name: gamma, namespace: default}
spec:
  endpoints: [{ip: {address: 127.0.0.1, port: 9003}}]
---
apiVersion: v1
kind: Secret
metadata: {name: beta-key, namespace: default}
stringData: {apiKey: s3cret}
---
)";

// The translated document of `kind` named `name`, or an undefined node.
YAML::Node find(const std::string &out, const std::string &kind, const std::string &name) {
  for (const auto &d : YAML::LoadAll(out))
    if (d.IsMap() && d["kind"].as<std::string>("") == kind &&
        d["metadata"]["name"].as<std::string>("") == name)
      return d;
  return YAML::Node(YAML::NodeType::Undefined);
}

YAML::Node filter_config(const std::string &out) {
  auto secret = find(out, "Secret", "aigw-default");
  return YAML::Load(secret["stringData"]["filter-config.yaml"].as<std::string>());
}

TEST(TranslateMCP, RoutesFiltersSecretsAndTheSharedProxyBackend) {
  std::string text = std::string(kBase) + R"(apiVersion: aigateway.envoyproxy.io/v1beta1
kind: MCPRoute
metadata:
  name: tools
  namespace: default
  labels: {team: ml}
spec:
  parentRefs: [{name: aigw, kind: Gateway, group: gateway.networking.k8s.io}]
  path: /tools/mcp
  headers: [{name: x-tenant, value: acme}]
  backendRefs:
    - name: alpha
      path: /a/mcp
      toolSelector: {include: [echo]}
      securityPolicy:
        apiKey: {inline: k-alpha}
    - name: beta
      securityPolicy:
        apiKey: {secretRef: {name: beta-key}, header: X-Api-Key}
      forwardHeaders: [{name: x-trace, backendHeader: x-b3}]
    - name: gamma
      prefixMode: Never
      toolSelector: {include: [add]}
      securityPolicy:
        apiKey: {inline: k-gamma, queryParam: key}
)";
  auto out = translate_config(text, env_with({}));
  ASSERT_TRUE(out) << out.error().message;

  auto main = find(*out, "HTTPRoute", "ai-eg-mcp-main-tools");
  ASSERT_TRUE(main.IsDefined()) << *out;
  EXPECT_EQ(main["metadata"]["labels"]["team"].as<std::string>(), "ml");
  EXPECT_EQ(main["metadata"]["ownerReferences"][0]["kind"].as<std::string>(), "MCPRoute");
  EXPECT_EQ(main["spec"]["parentRefs"][0]["name"].as<std::string>(), "aigw");
  auto rule = main["spec"]["rules"][0];
  EXPECT_EQ(main["spec"]["rules"].size(), 1u); // no OAuth: no well-known rules
  EXPECT_EQ(rule["matches"][0]["path"]["type"].as<std::string>(), "Exact");
  EXPECT_EQ(rule["matches"][0]["path"]["value"].as<std::string>(), "/tools/mcp");
  EXPECT_EQ(rule["matches"][0]["headers"][0]["name"].as<std::string>(), "x-tenant");
  EXPECT_EQ(rule["backendRefs"][0]["name"].as<std::string>(), "ai-eg-mcp-proxy");
  EXPECT_EQ(rule["backendRefs"][0]["port"].as<int>(), 9856);
  EXPECT_EQ(rule["filters"][0]["requestHeaderModifier"]["set"][0]["name"].as<std::string>(),
            "x-ai-eg-mcp-route");
  EXPECT_EQ(rule["filters"][0]["requestHeaderModifier"]["set"][0]["value"].as<std::string>(),
            "default/tools");
  EXPECT_EQ(rule["timeouts"]["request"].as<std::string>(), "30m");

  // alpha: an inline key is a RequestHeaderModifier, Bearer because the header is Authorization.
  auto alpha = find(*out, "HTTPRoute", "ai-eg-mcp-br-tools-alpha");
  ASSERT_TRUE(alpha.IsDefined());
  auto ar = alpha["spec"]["rules"][0];
  EXPECT_EQ(ar["matches"][0]["headers"][0]["name"].as<std::string>(), "x-ai-eg-mcp-backend");
  EXPECT_EQ(ar["matches"][0]["headers"][0]["value"].as<std::string>(), "alpha");
  EXPECT_EQ(ar["matches"][0]["path"]["type"].as<std::string>(), "PathPrefix");
  EXPECT_EQ(ar["backendRefs"][0]["name"].as<std::string>(), "alpha");
  ASSERT_EQ(ar["filters"].size(), 3u);
  EXPECT_EQ(ar["filters"][0]["extensionRef"]["name"].as<std::string>(),
            "ai-eg-mcp-brf-tools-alpha");
  EXPECT_EQ(ar["filters"][1]["requestHeaderModifier"]["set"][0]["name"].as<std::string>(),
            "Authorization");
  EXPECT_EQ(ar["filters"][1]["requestHeaderModifier"]["set"][0]["value"].as<std::string>(),
            "Bearer k-alpha");
  EXPECT_EQ(ar["filters"][2]["urlRewrite"]["path"]["replaceFullPath"].as<std::string>(), "/a/mcp");
  EXPECT_FALSE(find(*out, "Secret", "ai-eg-mcp-cred-tools-alpha").IsDefined());

  // beta: a secretRef key goes through a managed Secret and credentialInjection.
  auto brf = find(*out, "HTTPRouteFilter", "ai-eg-mcp-brf-tools-beta");
  ASSERT_TRUE(brf.IsDefined());
  EXPECT_EQ(brf["spec"]["urlRewrite"]["hostname"]["type"].as<std::string>(), "Backend");
  auto ci = brf["spec"]["credentialInjection"];
  EXPECT_EQ(ci["credential"]["valueRef"]["name"].as<std::string>(), "ai-eg-mcp-cred-tools-beta");
  EXPECT_EQ(ci["header"].as<std::string>(), "X-Api-Key");
  EXPECT_TRUE(ci["overwrite"].as<bool>());
  auto cred = find(*out, "Secret", "ai-eg-mcp-cred-tools-beta");
  ASSERT_TRUE(cred.IsDefined());
  EXPECT_EQ(base64_decode(cred["data"]["credential"].as<std::string>()).value_or(""), "s3cret");
  auto beta = find(*out, "HTTPRoute", "ai-eg-mcp-br-tools-beta");
  EXPECT_EQ(beta["spec"]["rules"][0]["filters"].size(), 2u);
  EXPECT_EQ(beta["spec"]["rules"][0]["filters"][1]["urlRewrite"]["path"]["replaceFullPath"]
                .as<std::string>(),
            "/mcp");

  // gamma: a query-parameter key rides in the rewritten path, unescaped.
  auto gamma = find(*out, "HTTPRoute", "ai-eg-mcp-br-tools-gamma");
  EXPECT_EQ(gamma["spec"]["rules"][0]["filters"][1]["urlRewrite"]["path"]["replaceFullPath"]
                .as<std::string>(),
            "/mcp?key=k-gamma");

  auto proxy = find(*out, "Backend", "ai-eg-mcp-proxy");
  ASSERT_TRUE(proxy.IsDefined());
  EXPECT_EQ(proxy["metadata"]["labels"]["app.kubernetes.io/managed-by"].as<std::string>(),
            "envoy-ai-gateway");
  EXPECT_EQ(proxy["spec"]["endpoints"][0]["ip"]["address"].as<std::string>(), "192.0.2.42");
  EXPECT_EQ(proxy["spec"]["endpoints"][0]["ip"]["port"].as<int>(), 9856);
  EXPECT_FALSE(find(*out, "SecurityPolicy", "ai-eg-mcp-tools").IsDefined());
  EXPECT_FALSE(find(*out, "MCPRoute", "tools").IsDefined()); // consumed, as upstream

  auto mc = filter_config(*out)["mcpConfig"];
  EXPECT_EQ(mc["backendListenerAddr"].as<std::string>(), "http://127.0.0.1:10088");
  ASSERT_EQ(mc["routes"].size(), 1u);
  auto r = mc["routes"][0];
  EXPECT_EQ(r["name"].as<std::string>(), "default/tools");
  ASSERT_EQ(r["backends"].size(), 3u);
  EXPECT_EQ(r["backends"][0]["toolSelector"]["include"][0].as<std::string>(), "echo");
  EXPECT_EQ(r["backends"][1]["forwardHeaders"][0]["name"].as<std::string>(), "x-trace");
  EXPECT_EQ(r["backends"][1]["forwardHeaders"][0]["backendHeader"].as<std::string>(), "x-b3");
  EXPECT_EQ(r["backends"][2]["prefixMode"].as<std::string>(), "Never");
  EXPECT_FALSE(r["authorization"].IsDefined());
}

TEST(TranslateMCP, IfNotPresentKeysDoNotOverwriteTheClients) {
  std::string text = std::string(kBase) + R"(apiVersion: aigateway.envoyproxy.io/v1beta1
kind: MCPRoute
metadata: {name: byo, namespace: default}
spec:
  parentRefs: [{name: aigw}]
  backendRefs:
    - name: alpha
      securityPolicy:
        apiKey: {inline: fallback-key, injectionPolicy: IfNotPresent}
)";
  auto out = translate_config(text, env_with({}));
  ASSERT_TRUE(out) << out.error().message;
  auto brf = find(*out, "HTTPRouteFilter", "ai-eg-mcp-brf-byo-alpha");
  EXPECT_FALSE(brf["spec"]["credentialInjection"]["overwrite"].as<bool>());
  auto cred = find(*out, "Secret", "ai-eg-mcp-cred-byo-alpha");
  EXPECT_EQ(base64_decode(cred["data"]["credential"].as<std::string>()).value_or(""),
            "Bearer fallback-key");
  // Never a header modifier that would replace the client's own key.
  auto route = find(*out, "HTTPRoute", "ai-eg-mcp-br-byo-alpha");
  EXPECT_EQ(route["spec"]["rules"][0]["filters"].size(), 2u);
}

std::string oauth_route(const std::string &issuer, const std::string &jwks) {
  return std::string(kBase) + R"(apiVersion: aigateway.envoyproxy.io/v1beta1
kind: MCPRoute
metadata: {name: secure, namespace: default}
spec:
  parentRefs: [{name: aigw}]
  path: /mcp
  backendRefs: [{name: alpha}]
  securityPolicy:
    oauth:
      issuer: )" +
         issuer + "\n" + jwks + R"(      audiences: [https://gw.example.com/mcp]
      protectedResourceMetadata:
        resource: https://gw.example.com/mcp
        resourceName: Tools
        scopesSupported: [tools, admin]
      claimToHeaders: [{claim: email, header: x-user-email}]
    apiKeyAuth:
      credentialRefs: [{name: client-keys}]
      extractFrom: [{headers: [x-api-key]}]
      forwardClientIDHeader: x-client-id
    authorization:
      defaultAction: Deny
      rules:
        - action: Allow
          source:
            jwt:
              scopes: [tools]
              claims: [{name: org, values: [acme]}]
          target:
            tools: [{backend: alpha, tool: echo}]
        - cel: request.mcp.tool == "add"
  backendSelector:
    rules: [{cel: request.mcp.backend == "alpha"}]
---
apiVersion: v1
kind: Secret
metadata: {name: client-keys, namespace: default}
stringData: {client1: key-1}
)";
}

TEST(TranslateMCP, OAuthSecurityPolicyTrafficPolicyAndWellKnownDocuments) {
  std::vector<std::string> asked;
  HttpGet get = [&](const std::string &url) -> Result<std::pair<int, std::string>> {
    asked.push_back(url);
    if (url == "https://auth.example.com/.well-known/oauth-authorization-server/realms/x")
      return std::pair(404, std::string("no"));
    if (url == "https://auth.example.com/.well-known/openid-configuration/realms/x")
      return std::pair(200, std::string(R"({"jwks_uri":"https://auth.example.com/keys",
        "issuer":"https://auth.example.com/realms/x","extra":1,"grant_types_supported":[],
        "response_types_supported":["code"],"token_endpoint":"https://auth.example.com/t",
        "authorization_endpoint":"https://auth.example.com/a"})"));
    return Error::upstream(502, "unexpected " + url, false);
  };
  std::string text = oauth_route("https://auth.example.com/realms/x/", "") + R"(---
apiVersion: gateway.networking.k8s.io/v1alpha3
kind: BackendTLSPolicy
metadata: {name: auth-tls, namespace: default}
spec:
  targetRefs: [{group: gateway.envoyproxy.io, kind: Backend, name: auth}]
  validation: {hostname: auth.example.com, wellKnownCACertificates: System}
)";
  auto out = translate_config(text, env_with({}), get);
  ASSERT_TRUE(out) << out.error().message;
  ASSERT_GE(asked.size(), 2u);

  auto main = find(*out, "HTTPRoute", "ai-eg-mcp-main-secure");
  ASSERT_EQ(main["spec"]["rules"].size(), 4u);
  EXPECT_EQ(main["spec"]["rules"][1]["name"].as<std::string>(),
            "oauth-protected-resource-metadata");
  EXPECT_EQ(main["spec"]["rules"][1]["matches"][0]["path"]["value"].as<std::string>(),
            "/.well-known/oauth-protected-resource/mcp");
  EXPECT_EQ(main["spec"]["rules"][2]["matches"][0]["path"]["value"].as<std::string>(),
            "/.well-known/oauth-authorization-server/mcp");
  EXPECT_EQ(main["spec"]["rules"][3]["matches"][0]["path"]["value"].as<std::string>(),
            "/.well-known/openid-configuration/mcp");
  EXPECT_EQ(main["spec"]["rules"][3]["filters"][0]["extensionRef"]["name"].as<std::string>(),
            "ai-eg-mcp-secure-oauth-authorization-server-metadata");

  auto sp = find(*out, "SecurityPolicy", "ai-eg-mcp-secure");
  ASSERT_TRUE(sp.IsDefined()) << *out;
  auto p = sp["spec"]["jwt"]["providers"][0];
  EXPECT_EQ(p["name"].as<std::string>(), "mcp-jwt-provider");
  EXPECT_EQ(p["audiences"][0].as<std::string>(), "https://gw.example.com/mcp");
  EXPECT_EQ(p["claimToHeaders"][0]["header"].as<std::string>(), "x-user-email");
  // Discovered from the issuer's metadata; the BackendTLSPolicy for its host names the backend.
  EXPECT_EQ(p["remoteJWKS"]["uri"].as<std::string>(), "https://auth.example.com/keys");
  EXPECT_EQ(p["remoteJWKS"]["backendRefs"][0]["name"].as<std::string>(), "auth");
  EXPECT_EQ(sp["spec"]["apiKeyAuth"]["forwardClientIDHeader"].as<std::string>(), "x-client-id");
  EXPECT_EQ(sp["spec"]["targetRefs"][0]["name"].as<std::string>(), "ai-eg-mcp-main-secure");

  auto btp =
      find(*out, "BackendTrafficPolicy", "ai-eg-mcp-secure-oauth-protected-resource-metadata");
  ASSERT_TRUE(btp.IsDefined());
  auto ov = btp["spec"]["responseOverride"][0];
  EXPECT_EQ(ov["match"]["statusCodes"][0]["value"].as<int>(), 401);
  EXPECT_EQ(ov["response"]["header"]["set"][0]["name"].as<std::string>(), "WWW-Authenticate");
  EXPECT_EQ(ov["response"]["header"]["set"][0]["value"].as<std::string>(),
            "Bearer error=\"invalid_token\", error_description=\"The access token is missing or "
            "invalid\", resource_metadata=\"https://gw.example.com/.well-known/"
            "oauth-protected-resource/mcp\", scope=\"tools admin\"");
  EXPECT_EQ(ov["response"]["header"]["set"].size(), 4u); // and the three CORS headers

  auto prm = find(*out, "HTTPRouteFilter", "ai-eg-mcp-secure-oauth-protected-resource-metadata");
  EXPECT_EQ(prm["spec"]["directResponse"]["body"]["inline"].as<std::string>(),
            R"({"authorization_servers":["https://auth.example.com/realms/x/"],)"
            R"("bearer_methods_supported":["header"],"resource":"https://gw.example.com/mcp",)"
            R"("resource_name":"Tools","scopes_supported":["tools","admin"]})");
  EXPECT_EQ(prm["spec"]["directResponse"]["statusCode"].as<int>(), 200);
  // The fetched document, re-marshalled as upstream's struct: its fields in order, empty ones
  // and unknown ones left out.
  auto asm_ = find(*out, "HTTPRouteFilter", "ai-eg-mcp-secure-oauth-authorization-server-metadata");
  EXPECT_EQ(asm_["spec"]["directResponse"]["body"]["inline"].as<std::string>(),
            R"({"issuer":"https://auth.example.com/realms/x","authorization_endpoint":)"
            R"("https://auth.example.com/a","token_endpoint":"https://auth.example.com/t",)"
            R"("jwks_uri":"https://auth.example.com/keys","response_types_supported":["code"]})");

  auto r = filter_config(*out)["mcpConfig"]["routes"][0];
  auto az = r["authorization"];
  EXPECT_EQ(az["defaultAction"].as<std::string>(), "Deny");
  EXPECT_EQ(az["resourceMetadataURL"].as<std::string>(),
            "https://gw.example.com/.well-known/oauth-protected-resource/mcp");
  ASSERT_EQ(az["rules"].size(), 2u);
  EXPECT_EQ(az["rules"][0]["action"].as<std::string>(), "Allow");
  EXPECT_EQ(az["rules"][0]["source"]["jwt"]["scopes"][0].as<std::string>(), "tools");
  EXPECT_EQ(az["rules"][0]["source"]["jwt"]["claims"][0]["valueType"].as<std::string>(), "String");
  EXPECT_EQ(az["rules"][0]["target"]["tools"][0]["tool"].as<std::string>(), "echo");
  EXPECT_EQ(az["rules"][1]["cel"].as<std::string>(), "request.mcp.tool == \"add\"");
  EXPECT_EQ(az["rules"][1]["action"].as<std::string>(), "Allow");
  EXPECT_EQ(r["backendSelector"]["defaultAction"].as<std::string>(), "Deny");
  EXPECT_EQ(r["backendSelector"]["rules"][0]["cel"].as<std::string>(),
            "request.mcp.backend == \"alpha\"");
  ASSERT_EQ(r["forwardHeaders"].size(), 2u);
  EXPECT_EQ(r["forwardHeaders"][0].as<std::string>(), "x-user-email");
  EXPECT_EQ(r["forwardHeaders"][1].as<std::string>(), "x-client-id");
}

TEST(TranslateMCP, AnUnreachableIssuerFallsBackOrFailsWithoutAJWKS) {
  HttpGet down = [](const std::string &) -> Result<std::pair<int, std::string>> {
    return Error::upstream(502, "connection refused", false);
  };
  // With a JWKS configured, the authorization-server document is upstream's fallback.
  auto out = translate_config(oauth_route("https://auth.example.com",
                                          "      jwks:\n        remoteJWKS: {uri: "
                                          "https://auth.example.com/certs}\n"),
                              env_with({}), down);
  ASSERT_TRUE(out) << out.error().message;
  auto asm_ = find(*out, "HTTPRouteFilter", "ai-eg-mcp-secure-oauth-authorization-server-metadata");
  auto body = YAML::Load(asm_["spec"]["directResponse"]["body"]["inline"].as<std::string>());
  EXPECT_EQ(body["token_endpoint"].as<std::string>(),
            "https://auth.example.com/protocol/openid-connect/token");
  EXPECT_EQ(body["scopes_supported"][1].as<std::string>(), "admin");
  auto sp = find(*out, "SecurityPolicy", "ai-eg-mcp-secure");
  EXPECT_EQ(sp["spec"]["jwt"]["providers"][0]["remoteJWKS"]["uri"].as<std::string>(),
            "https://auth.example.com/certs");
  // Without one, the JWKS cannot be discovered: an error naming the route and the field.
  auto failed = translate_config(oauth_route("https://auth.example.com", ""), env_with({}), down);
  ASSERT_FALSE(failed);
  EXPECT_NE(failed.error().message.find("MCPRoute default/secure: spec.securityPolicy.oauth: "
                                        "failed to auto-discover JWKS URI"),
            std::string::npos)
      << failed.error().message;
}

TEST(TranslateMCP, UpstreamsExampleLoadsAndTranslates) {
  const std::filesystem::path f =
      AIGW_SHARED_DIR "/fixtures/envoy-ai-gateway/examples/mcp/mcp_example.yaml";
  if (!std::filesystem::exists(f)) GTEST_SKIP() << f;
  std::ifstream in(f);
  std::stringstream ss;
  ss << in.rdbuf();
  auto out = translate_config(ss.str(), env_with({{"GITHUB_ACCESS_TOKEN", "ghp_test"}}));
  ASSERT_TRUE(out) << out.error().message;
  auto cred = find(*out, "Secret", "ai-eg-mcp-cred-mcp-route-github");
  ASSERT_TRUE(cred.IsDefined());
  EXPECT_EQ(base64_decode(cred["data"]["credential"].as<std::string>()).value_or(""),
            "Bearer ghp_test");
  EXPECT_EQ(find(*out, "HTTPRoute",
                 "ai-eg-mcp-br-mcp-route-github")["spec"]["rules"][0]["filters"][1]["urlRewrite"]
                                                 ["path"]["replaceFullPath"]
                                                     .as<std::string>(),
            "/mcp/readonly");
  EXPECT_TRUE(find(*out, "HTTPRoute", "ai-eg-mcp-br-mcp-route-kiwi").IsDefined());
  EXPECT_TRUE(find(*out, "HTTPRoute", "ai-eg-mcp-main-mcp-route").IsDefined());
}

} // namespace
} // namespace aigw::control
