#include "../control/config_test_util.h"
#include "pipeline/models.h"
#include "pipeline/routing.h"

#include <map>

namespace aigw::pipeline {
namespace {

std::shared_ptr<const control::Snapshot> snapshot(const std::string &spec) {
  std::string yaml = R"(
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIGatewayRoute
metadata: {name: r, namespace: default}
)" + spec + "\n---\n" +
                     control::testing::kMinimalBackend + R"(
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIServiceBackend
metadata: {name: be2}
spec:
  schema: {name: OpenAI}
  backendRef: {name: be}
)";
  auto r = control::testing::load(yaml);
  for (const auto &e : r.diag.errors())
    ADD_FAILURE() << e;
  return r.snapshot;
}

HeaderLookup headers(std::map<std::string, std::string> h) {
  return [h = std::move(h)](std::string_view name) -> std::optional<std::string_view> {
    auto it = h.find(std::string(name));
    if (it == h.end()) return std::nullopt;
    return std::string_view(it->second);
  };
}

TEST(SelectRule, HeadersInOneMatchAreAndedAndMatchesOred) {
  auto s = snapshot(R"(spec:
  rules:
    - matches:
        - headers: [{name: x-ai-eg-model, value: a}, {name: x-tenant, value: t1}]
        - headers: [{name: x-ai-eg-model, value: b}]
      backendRefs: [{name: be}])");
  ASSERT_NE(s, nullptr);
  EXPECT_NE(select_rule(*s, headers({{"x-ai-eg-model", "a"}, {"x-tenant", "t1"}}), "h"), nullptr);
  EXPECT_EQ(select_rule(*s, headers({{"x-ai-eg-model", "a"}}), "h"), nullptr);
  EXPECT_NE(select_rule(*s, headers({{"x-ai-eg-model", "b"}}), "h"), nullptr);
  EXPECT_EQ(select_rule(*s, headers({{"x-ai-eg-model", "c"}}), "h"), nullptr);
}

TEST(SelectRule, RegularExpressionMustMatchTheWholeValue) {
  auto s = snapshot(R"(spec:
  rules:
    - matches: [{headers: [{type: RegularExpression, name: x-ai-eg-model, value: "gpt-4.*"}]}]
      backendRefs: [{name: be}])");
  ASSERT_NE(s, nullptr);
  EXPECT_NE(select_rule(*s, headers({{"x-ai-eg-model", "gpt-4o"}}), "h"), nullptr);
  EXPECT_EQ(select_rule(*s, headers({{"x-ai-eg-model", "my-gpt-4o"}}), "h"), nullptr);
}

TEST(SelectRule, HostnamesScopeRoutesAndModels) {
  auto s = snapshot(R"(spec:
  hostnames: ["*.example.com"]
  rules:
    - matches: [{headers: [{name: x-ai-eg-model, value: a}]}]
      backendRefs: [{name: be}])");
  ASSERT_NE(s, nullptr);
  EXPECT_NE(select_rule(*s, headers({{"x-ai-eg-model", "a"}}), "api.example.com:1975"), nullptr);
  EXPECT_EQ(select_rule(*s, headers({{"x-ai-eg-model", "a"}}), "a.b.example.com"), nullptr);
  EXPECT_EQ(select_rule(*s, headers({{"x-ai-eg-model", "a"}}), "other.com"), nullptr);
  EXPECT_NE(models_json(*s, "api.example.com").find("\"id\":\"a\""), std::string::npos);
  EXPECT_EQ(models_json(*s, "other.com"), "{\"data\":[],\"object\":\"list\"}");
}

TEST(ModelsJson, UsesOwnedByAndCreatedAt) {
  auto s = snapshot(R"(spec:
  modelsOwnedBy: acme
  modelsCreatedAt: "2025-01-02T03:04:05Z"
  rules:
    - matches: [{headers: [{name: x-ai-eg-model, value: m1}]}]
      backendRefs: [{name: be}])");
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(
      models_json(*s, "localhost"),
      R"({"data":[{"id":"m1","created":1735787045,"object":"model","owned_by":"acme"}],"object":"list"})");
}

TEST(BackendPicker, LowestPriorityFirstThenFallsBack) {
  auto s = snapshot(R"(spec:
  rules:
    - backendRefs: [{name: be, priority: 1}, {name: be2, priority: 0}])");
  ASSERT_NE(s, nullptr);
  BackendPicker p(s->rules[0], 42);
  EXPECT_EQ(p.next(1)->backend->name, "be2");
  EXPECT_EQ(p.next(1)->backend->name, "be");
}

TEST(BackendPicker, WeightsSplitTrafficProportionally) {
  auto s = snapshot(R"(spec:
  rules:
    - backendRefs: [{name: be, weight: 3}, {name: be2, weight: 1}, {name: be2, weight: 0}])");
  ASSERT_NE(s, nullptr);
  ASSERT_EQ(s->rules[0].refs.size(), 2u); // weight 0 is left out
  int first = 0;
  for (uint64_t seed = 1; seed <= 4000; ++seed) {
    BackendPicker p(s->rules[0], seed * 0x9E3779B97F4A7C15ULL);
    if (p.next(0)->backend->name == "be") ++first;
  }
  EXPECT_NEAR(first / 4000.0, 0.75, 0.05);
}

} // namespace
} // namespace aigw::pipeline

namespace aigw::pipeline {
namespace {

TEST(BackendPicker, AfterEveryBackendFailedRetriesStayAtTheLastPriority) {
  auto s = snapshot(R"(spec:
  rules:
    - backendRefs: [{name: be, priority: 0}, {name: be2, priority: 1}])");
  ASSERT_NE(s, nullptr);
  BackendPicker p(s->rules[0], 7);
  EXPECT_EQ(p.next(1)->backend->name, "be");
  EXPECT_EQ(p.next(1)->backend->name, "be2");
  EXPECT_EQ(p.next(1)->backend->name, "be2");
  EXPECT_EQ(p.next(1)->backend->name, "be2");
}

} // namespace
} // namespace aigw::pipeline

namespace aigw::pipeline {
namespace {

TEST(HostWithoutPort, StripsThePortOfNamesAndBracketedIpv6) {
  EXPECT_EQ(host_without_port("api.example.com:1975"), "api.example.com");
  EXPECT_EQ(host_without_port("[::1]:1975"), "[::1]");
  EXPECT_EQ(host_without_port("localhost"), "localhost");
}

} // namespace
} // namespace aigw::pipeline

namespace aigw::pipeline {
namespace {

// A route whose BackendTrafficPolicy sets `policy` (spec lines), over be and be2 at one priority.
std::shared_ptr<const control::Snapshot> balanced(const std::string &policy) {
  return snapshot(R"(spec:
  rules:
    - backendRefs: [{name: be}, {name: be2}]
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: BackendTrafficPolicy
metadata: {name: p, namespace: default}
spec:
  targetRefs: [{kind: HTTPRoute, name: r}]
)" + policy);
}

// The backends' learned state is process-wide: each test starts from a clean one.
void reset(const control::Snapshot &s) {
  for (const auto &ref : s.rules[0].refs) {
    auto &st = *ref.backend->state;
    st.in_flight = 0;
    st.ejected_until_ms = 0;
    st.cooldown_until_ms = 0;
    st.remaining_until_ms = 0;
    st.remaining_permille = 1000;
  }
}

TEST(BackendPicker, RoundRobinAlternates) {
  auto s = balanced("  loadBalancer: {type: RoundRobin}\n");
  ASSERT_NE(s, nullptr);
  reset(*s);
  std::vector<std::string> got;
  for (int i = 0; i < 4; ++i)
    got.push_back(BackendPicker(s->rules[0], 99).next(0)->backend->name);
  EXPECT_NE(got[0], got[1]);
  EXPECT_EQ(got[0], got[2]);
  EXPECT_EQ(got[1], got[3]);
}

TEST(BackendPicker, ConsistentHashKeepsAKeyOnItsBackendAndSpreadsKeys) {
  auto s = balanced(
      "  loadBalancer: {type: ConsistentHash, consistentHash: {type: Header, header: {name: "
      "X-Session}}}\n");
  ASSERT_NE(s, nullptr);
  reset(*s);
  ASSERT_TRUE(s->rules[0].load_balancer);
  EXPECT_EQ(s->rules[0].load_balancer->hash_name, "x-session");
  std::map<std::string, int> per_backend;
  for (int k = 0; k < 200; ++k) {
    std::string key = "session-" + std::to_string(k);
    std::string first = BackendPicker(s->rules[0], 1, key).next(0)->backend->name;
    for (uint64_t seed = 2; seed < 6; ++seed)
      EXPECT_EQ(BackendPicker(s->rules[0], seed * 7919, key).next(0)->backend->name, first);
    ++per_backend[first];
  }
  EXPECT_GT(per_backend["be"], 60);
  EXPECT_GT(per_backend["be2"], 60);
}

TEST(BackendPicker, EjectedAndCoolingBackendsArePassedOverUnlessNoneIsLeft) {
  auto s = balanced("  healthCheck: {passive: {consecutive5XxErrors: 2}}\n");
  ASSERT_NE(s, nullptr);
  reset(*s);
  const auto &refs = s->rules[0].refs;
  auto *be = refs[0].backend->name == "be" ? refs[0].backend.get() : refs[1].backend.get();
  be->state->ejected_until_ms = control::steady_ms() + 60000;
  for (uint64_t seed = 1; seed < 50; ++seed)
    EXPECT_EQ(BackendPicker(s->rules[0], seed * 31).next(0)->backend->name, "be2");
  for (const auto &r : refs)
    r.backend->state->cooldown_until_ms = control::steady_ms() + 60000;
  EXPECT_NE(BackendPicker(s->rules[0], 5).next(0), nullptr); // all resting: used anyway
  reset(*s);
}

TEST(BackendPicker, LowRemainingQuotaGetsTrafficOnlyWhenNothingElseIsLeft) {
  auto s = balanced("  loadBalancer: {type: Random}\n");
  ASSERT_NE(s, nullptr);
  reset(*s);
  const auto &refs = s->rules[0].refs;
  auto &low = *refs[0].backend->state;
  low.remaining_permille = 20;
  low.remaining_until_ms = control::steady_ms() + 60000;
  for (uint64_t seed = 1; seed < 50; ++seed) {
    BackendPicker p(s->rules[0], seed * 17);
    EXPECT_EQ(p.next(0), &refs[1]);
    EXPECT_EQ(p.next(0), &refs[0]); // the second attempt may still go there
  }
  reset(*s);
}

TEST(BackendPicker, CircuitBreakerFullEverywhereOverflows) {
  auto s = balanced("  circuitBreaker: {maxParallelRequests: 2}\n");
  ASSERT_NE(s, nullptr);
  reset(*s);
  const auto &refs = s->rules[0].refs;
  refs[0].backend->state->in_flight = 2;
  BackendPicker one(s->rules[0], 3);
  EXPECT_EQ(one.next(0), &refs[1]);
  refs[1].backend->state->in_flight = 2;
  BackendPicker none(s->rules[0], 3);
  EXPECT_EQ(none.next(0), nullptr);
  EXPECT_TRUE(none.overflowed());
  reset(*s);
}

TEST(BackendPicker, LeastRequestPrefersTheLessBusy) {
  auto s = balanced("  loadBalancer: {type: LeastRequest}\n");
  ASSERT_NE(s, nullptr);
  reset(*s);
  const auto &refs = s->rules[0].refs;
  refs[0].backend->state->in_flight = 50;
  int idle = 0;
  for (uint64_t seed = 1; seed <= 400; ++seed)
    if (BackendPicker(s->rules[0], seed * 0x9E3779B97F4A7C15ULL).next(0) == &refs[1]) ++idle;
  EXPECT_GT(idle, 250); // two choices: the idle one wins whenever it is drawn
  reset(*s);
}

TEST(BackendPicker, PeakEwmaPrefersTheFasterBackend) {
  auto s = snapshot(R"(spec:
  rules:
    - backendRefs: [{name: be}, {name: be2}]
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: BackendTrafficPolicy
metadata:
  name: p
  namespace: default
  annotations: {aigw.run/load-balancer: PeakEWMA}
spec:
  targetRefs: [{kind: HTTPRoute, name: r}]
  loadBalancer: {type: LeastRequest}
)");
  ASSERT_NE(s, nullptr);
  ASSERT_EQ(s->rules[0].load_balancer->type, api::LoadBalancerPolicy::Type::kPeakEWMA);
  reset(*s);
  const auto &refs = s->rules[0].refs;
  refs[0].backend->state->ewma_us = 900000; // 900 ms to the first byte
  refs[1].backend->state->ewma_us = 20000;
  int fast = 0;
  for (uint64_t seed = 1; seed <= 400; ++seed)
    if (BackendPicker(s->rules[0], seed * 0x9E3779B97F4A7C15ULL).next(0) == &refs[1]) ++fast;
  EXPECT_GT(fast, 250);
  refs[0].backend->state->ewma_us = 0;
  refs[1].backend->state->ewma_us = 0;
}

TEST(BackendTrafficPolicy, BadLoadBalancerFieldsAreNamed) {
  auto r = control::testing::load(std::string(R"(
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: BackendTrafficPolicy
metadata: {name: p, namespace: default}
spec:
  targetRefs: [{kind: HTTPRoute, name: r}]
  loadBalancer: {type: Fastest}
  healthCheck: {passive: {baseEjectionTime: soon}}
---
)") + control::testing::kMinimalBackend);
  std::string all;
  for (const auto &e : r.diag.errors())
    all += e + "\n";
  EXPECT_NE(all.find("spec.loadBalancer.type: must be Random, RoundRobin, LeastRequest or "
                     "ConsistentHash, got \"Fastest\""),
            std::string::npos)
      << all;
  EXPECT_NE(all.find("spec.healthCheck.passive.baseEjectionTime"), std::string::npos) << all;
}

} // namespace
} // namespace aigw::pipeline
