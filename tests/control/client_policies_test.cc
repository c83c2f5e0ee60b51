// SecurityPolicy and VirtualKey compilation: which policy guards which route, and the
// configurations refused because they would leave routes open or forge gateway headers.
#include "config_test_util.h"

namespace aigw::control {
namespace {

using testing::expect_rejected;
using testing::load;

std::string config(const std::string &route_ns, const std::string &parent,
                   const std::string &policy) {
  return R"(
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: infra}
spec:
  gatewayClassName: aigw
  listeners: [{name: http, protocol: HTTP, port: 1975}]
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIGatewayRoute
metadata: {name: r, namespace: )" +
         route_ns + R"(}
spec:
  parentRefs: [)" +
         parent + R"(]
  rules:
    - backendRefs: [{name: be}]
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIServiceBackend
metadata: {name: be, namespace: )" +
         route_ns + R"(}
spec:
  schema: {name: OpenAI}
  backendRef: {name: be, kind: Backend, group: gateway.envoyproxy.io}
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: Backend
metadata: {name: be, namespace: )" +
         route_ns + R"(}
spec:
  endpoints: [{fqdn: {hostname: 127.0.0.1, port: 1}}]
---
apiVersion: v1
kind: Secret
metadata: {name: keys, namespace: infra}
stringData: {team-a: sk-a}
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: SecurityPolicy
metadata: {name: p, namespace: infra}
spec:
)" + policy;
}

const char *kGatewayApiKey =
    R"(  targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: gw}]
  apiKeyAuth:
    credentialRefs: [{name: keys}]
    extractFrom: [{headers: [x-api-key]}]
)";

TEST(ClientPolicies, AGatewayPolicyGuardsRoutesOfAnotherNamespaceAttachedToIt) {
  auto r = load(config("apps", "{name: gw, namespace: infra}", kGatewayApiKey));
  ASSERT_NE(r.snapshot, nullptr) << (r.diag.errors().empty() ? "" : r.diag.errors()[0]);
  ASSERT_EQ(r.snapshot->routes.size(), 1u);
  EXPECT_NE(r.snapshot->routes[0].client_auth, nullptr);
  EXPECT_EQ(r.snapshot->routes[0].client_auth, r.snapshot->gateway_auth);
  // A route attached to another Gateway of that name in its own namespace is not under it.
  auto other = load(config("apps", "{name: gw}", kGatewayApiKey));
  ASSERT_NE(other.snapshot, nullptr);
  EXPECT_EQ(other.snapshot->routes[0].client_auth, nullptr);
}

TEST(ClientPolicies, PoliciesAigwCannotAttachOrEnforceFailClosed) {
  expect_rejected(
      config("infra", "{name: gw}", R"(  targetSelectors: [{kind: HTTPRoute, matchLabels: {a: b}}]
  apiKeyAuth:
    credentialRefs: [{name: keys}]
    extractFrom: [{headers: [x-api-key]}]
)"),
      "spec.targetSelectors: label selectors are not supported");
  // extAuth alone: the policy loads, and aigw run refuses what it guards.
  auto r =
      load(config("infra", "{name: gw}",
                  R"(  targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: gw}]
  extAuth: {http: {backendRefs: [{name: auth, port: 80}]}}
)"));
  ASSERT_NE(r.snapshot, nullptr);
  ASSERT_NE(r.snapshot->gateway_auth, nullptr);
  EXPECT_EQ(r.snapshot->gateway_auth->unenforced, std::vector<std::string>{"spec.extAuth"});
}

TEST(ClientPolicies, ForwardedHeadersMayNotBeOnesTheGatewayOwns) {
  for (const char *h : {"authorization", "content-length", "x-ai-eg-model", "host", "x-api-key"})
    expect_rejected(config("infra", "{name: gw}",
                           std::string(kGatewayApiKey) + "    forwardClientIDHeader: " + h + "\n"),
                    "spec.apiKeyAuth.forwardClientIDHeader: \"" + std::string(h) +
                        "\" is a header the gateway owns");
  auto ok = load(config("infra", "{name: gw}",
                        std::string(kGatewayApiKey) + "    forwardClientIDHeader: x-client-id\n"));
  EXPECT_NE(ok.snapshot, nullptr);
}

TEST(VirtualKeys, FieldsAreValidatedWithTheirPaths) {
  std::string base = config("infra", "{name: gw}", kGatewayApiKey) + R"(---
apiVersion: aigw.run/v1alpha1
kind: VirtualKey
metadata: {name: k, namespace: infra}
spec:
)";
  expect_rejected(base + "  budgets: [{window: Day}]\n",
                  "VirtualKey infra/k: spec.clientID: is required");
  expect_rejected(base + "  clientID: team-a\n  budgets: [{window: Fortnight, tokens: 5}]\n",
                  "spec.budgets[0].window: must be Minute, Hour, Day, Week or Month");
  expect_rejected(base + "  clientID: team-a\n  budgets: [{window: Day, tokens: 5, dollars: 1}]\n",
                  "spec.budgets[0]: needs exactly one of requests, tokens or dollars");
  expect_rejected(base + "  clientID: team-a\n  budgets: [{window: Day, dollars: \"1.0000001\"}]\n",
                  "spec.budgets[0].dollars: must be a positive amount");
  expect_rejected(base + "  clientID: team-a\n  timeZone: Mars/Base\n",
                  "spec.timeZone: unknown time zone \"Mars/Base\"");
  expect_rejected(base + "  clientID: team-a\n  expiresAt: tomorrow\n",
                  "spec.expiresAt: must be an RFC 3339 time");
  expect_rejected(base + "  clientID: team-a\n  allowedModels: [\"gpt-*-mini\"]\n",
                  "spec.allowedModels[0]: \"gpt-*-mini\": '*' may only end a name");
  auto r = load(base + "  clientID: team-a\n  budgets: [{window: Month, dollars: \"25.50\"}]\n");
  ASSERT_NE(r.snapshot, nullptr) << (r.diag.errors().empty() ? "" : r.diag.errors()[0]);
  const auto *k = r.snapshot->virtual_key("team-a");
  ASSERT_NE(k, nullptr);
  ASSERT_EQ(k->budgets.size(), 1u);
  EXPECT_EQ(k->budgets[0].spec.limit, 25'500'000u);
  expect_rejected(base + "  clientID: team-a\n---\napiVersion: aigw.run/v1alpha1\nkind: "
                         "VirtualKey\nmetadata: {name: k2, namespace: infra}\nspec: {clientID: "
                         "team-a}\n",
                  "VirtualKey infra/k2: spec.clientID: client \"team-a\" already has VirtualKey "
                  "infra/k");
}

} // namespace
} // namespace aigw::control
