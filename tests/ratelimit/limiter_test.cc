#include "../control/config_test_util.h"
#include "ratelimit/limiter.h"

#include <filesystem>
#include <map>

namespace aigw::ratelimit {
namespace {

pipeline::HeaderLookup headers(std::map<std::string, std::string> h) {
  return [h = std::move(h)](std::string_view name) -> std::optional<std::string_view> {
    auto it = h.find(std::string(name));
    if (it == h.end()) return std::nullopt;
    return std::string_view(it->second);
  };
}

std::shared_ptr<const CompiledRateLimit> per_tenant(uint64_t limit, const std::string &key) {
  api::RateLimitRule r;
  r.client_selectors = {
      {{api::RateLimitHeaderSelector::Type::kDistinct, "x-tenant-id", "", false}}};
  r.limit = limit;
  r.unit = "Hour";
  r.request_cost = api::RateLimitCost{false, 0, ""};
  r.response_cost = api::RateLimitCost{true, 0, key};
  return *compile_rate_limit(r, "default/p/rule/0");
}

// admit() records reservations in the hits; these tests keep them only for the call.
Verdict admit_once(MemoryStore &store, std::vector<Hit> hits, int64_t now) {
  return admit(store, hits, now);
}

TEST(Limiter, TheRequestThatCrossesTheBudgetIsTheLastOneServed) {
  MemoryStore store;
  std::vector<std::shared_ptr<const CompiledRateLimit>> limits = {
      per_tenant(10, "llm_total_token")};
  int64_t now = 1700000000;
  auto a = headers({{"x-tenant-id", "a"}});
  for (int i = 0; i < 3; ++i) {
    auto hits = match_rate_limits(limits, a, now);
    ASSERT_EQ(hits.size(), 1u);
    auto v = admit(store, hits, now);
    ASSERT_TRUE(v.allowed) << i;
    settle(store, hits, {{"llm_total_token", 4}}, now); // 4, 8, 12: the third crosses 10
  }
  auto hits = match_rate_limits(limits, a, now);
  auto v = admit(store, hits, now);
  EXPECT_FALSE(v.allowed);
  EXPECT_EQ(v.remaining, 0u);
  EXPECT_EQ(v.limit, 10u);
  EXPECT_GT(v.reset_seconds, 0);
  // Another tenant has its own bucket.
  auto b = match_rate_limits(limits, headers({{"x-tenant-id", "b"}}), now);
  EXPECT_TRUE(admit_once(store, b, now).allowed);
  // A request without the header is not limited by a Distinct rule.
  EXPECT_TRUE(match_rate_limits(limits, headers({}), now).empty());
  // The next window starts afresh.
  auto later = match_rate_limits(limits, a, now + 3600);
  EXPECT_TRUE(admit_once(store, later, now + 3600).allowed);
}

TEST(Limiter, RequestCostsCountAtAdmissionAndExactSelectorsShareOneBucket) {
  api::RateLimitRule r;
  r.client_selectors = {
      {{api::RateLimitHeaderSelector::Type::kExact, "x-ai-eg-model", "m", false}}};
  r.limit = 2;
  r.unit = "Minute";
  auto limits = std::vector{*compile_rate_limit(r, "default/p/rule/1")};
  MemoryStore store;
  int64_t now = 1700000000;
  auto m = headers({{"x-ai-eg-model", "m"}});
  EXPECT_TRUE(admit_once(store, match_rate_limits(limits, m, now), now).allowed);
  auto v = admit_once(store, match_rate_limits(limits, m, now), now);
  EXPECT_TRUE(v.allowed);
  EXPECT_EQ(v.remaining, 1u); // remaining before this request's own cost
  EXPECT_FALSE(admit_once(store, match_rate_limits(limits, m, now), now).allowed);
  EXPECT_TRUE(match_rate_limits(limits, headers({{"x-ai-eg-model", "other"}}), now).empty());
}

TEST(Limiter, ShadowModeNeverRefuses) {
  api::RateLimitRule r;
  r.limit = 0;
  r.unit = "Second";
  r.shadow_mode = true;
  auto limits = std::vector{*compile_rate_limit(r, "default/p/rule/2")};
  MemoryStore store;
  EXPECT_TRUE(admit_once(store, match_rate_limits(limits, headers({}), 5), 5).allowed);
}

TEST(Limiter, ReserveThenSettleStopsAdmittingOnceReservationsSpendTheBudget) {
  api::RateLimitRule r;
  r.limit = 100;
  r.unit = "Hour";
  r.request_cost = api::RateLimitCost{false, 0, ""};
  r.response_cost = api::RateLimitCost{true, 0, "total"};
  r.reserve_then_settle = true;
  auto limits = std::vector{*compile_rate_limit(r, "default/p/rule/3")};
  MemoryStore store;
  int64_t now = 1700000000;
  CostValues estimate = {{"total", 30}};
  // Concurrent requests: each reserves 30 before any completes; the fourth crosses 100 and is the
  // last one admitted, so the overshoot is at most one reservation.
  std::vector<std::vector<Hit>> admitted;
  for (int i = 0; i < 10; ++i) {
    auto hits = match_rate_limits(limits, headers({}), now);
    if (admit(store, hits, now, &estimate).allowed) admitted.push_back(hits);
  }
  EXPECT_EQ(admitted.size(), 4u);
  // Settle to the real cost (10 each) and refund a failed one: the budget frees up again.
  settle(store, admitted[0], {{"total", 10}}, now);
  settle(store, admitted[1], {{"total", 10}}, now);
  settle(store, admitted[2], {{"total", 10}}, now);
  refund(store, admitted[3], now);
  EXPECT_EQ(store.used(admitted[0][0].key), 30u);
  auto hits = match_rate_limits(limits, headers({}), now);
  EXPECT_TRUE(admit(store, hits, now, &estimate).allowed);
}

TEST(Limiter, EstimatesThePromptFromTheBodyAndTheOutputFromMaxTokens) {
  auto u = estimate_usage(400, 50);
  EXPECT_EQ(u.input, 101u);
  EXPECT_EQ(u.output, 50u);
  EXPECT_EQ(u.total, 151u);
  EXPECT_EQ(estimate_usage(0, std::nullopt).output, 1024u);
}

TEST(MemoryStore, SweepsExpiredWindowsAndBoundsKeys) {
  MemoryStore store(2);
  store.add("a", 1, 100, 50);
  store.add("b", 1, 200, 50);
  EXPECT_EQ(store.size(), 2u);
  store.sweep(150);
  EXPECT_EQ(store.size(), 1u);
  EXPECT_EQ(store.used("b"), 1u);
  EXPECT_EQ(store.used("a"), 0u);
}

TEST(RateLimitConfig, TokenRateLimitFixtureLoads) {
  auto path = std::string(AIGW_SHARED_DIR) +
              "/fixtures/envoy-ai-gateway/examples/token_ratelimit/token_ratelimit.yaml";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << "no fixture at " << path;
  auto r = control::load_file(path, control::testing::fake_env({}), 1);
  std::string errs;
  for (const auto &e : r.diag.errors())
    errs += e + "\n";
  ASSERT_NE(r.snapshot, nullptr) << errs;
  const auto &route = r.snapshot->routes[0];
  EXPECT_FALSE(route.rate_limits.empty());
  EXPECT_FALSE(route.costs.empty());
}

TEST(RateLimitConfig, BadSelectorTypeNamesTheField) {
  control::testing::expect_rejected(std::string(R"(
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIGatewayRoute
metadata: {name: r}
spec:
  rules: [{backendRefs: [{name: be}]}]
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: BackendTrafficPolicy
metadata: {name: btp}
spec:
  targetRefs: [{kind: HTTPRoute, name: r}]
  rateLimit:
    type: Global
    global:
      rules:
        - clientSelectors: [{headers: [{name: x-tenant-id, type: Prefix}]}]
          limit: {requests: 10, unit: Hour}
)") + control::testing::kMinimalBackend,
                                    "BackendTrafficPolicy default/btp: "
                                    "spec.rateLimit.global.rules[0].clientSelectors[0].headers[0]."
                                    "type: must be Exact, Distinct or RegularExpression");
}

} // namespace
} // namespace aigw::ratelimit

namespace aigw::ratelimit {
namespace {

TEST(QuotaPolicyConfig, UpstreamQuotaFixtureCompilesIntoABackendQuota) {
  auto path =
      std::string(AIGW_SHARED_DIR) + "/fixtures/envoy-ai-gateway/e2e/backend_quota_ratelimit.yaml";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << "no fixture at " << path;
  auto r = control::load_file(path, control::testing::fake_env({}), 1);
  std::string errs;
  for (const auto &e : r.diag.errors())
    errs += e + "\n";
  ASSERT_NE(r.snapshot, nullptr) << errs;
  const control::CompiledModelQuota *quota = nullptr;
  for (const auto &rule : r.snapshot->rules)
    for (const auto &ref : rule.refs)
      if (auto q = ref.backend->quota_for("quota-test-model")) quota = q;
  ASSERT_NE(quota, nullptr);
  ASSERT_EQ(quota->buckets.size(), 1u);
  EXPECT_EQ(quota->buckets[0]->rule.limit, 10u);
  EXPECT_EQ(quota->buckets[0]->window_seconds, 3600);
}

TEST(QuotaPolicyConfig, BadDurationAndCostExpressionNameTheField) {
  std::string base = std::string(control::testing::kMinimalBackend) + R"(
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIGatewayRoute
metadata: {name: r}
spec:
  rules: [{backendRefs: [{name: be}]}]
---
apiVersion: aigateway.envoyproxy.io/v1alpha1
kind: QuotaPolicy
metadata: {name: q}
spec:
  targetRefs: [{kind: AIServiceBackend, name: be}]
  perModelQuotas:
    - modelName: m
      quota:
)";
  control::testing::expect_rejected(base + "        defaultBucket: {limit: 5, duration: 2h}\n",
                                    "QuotaPolicy default/q: spec.perModelQuotas[0].quota."
                                    "defaultBucket.duration: must be one of 1s, 1m, 1h, 1d");
  control::testing::expect_rejected(
      base + "        costExpression: \"uint(1) - uint(1200)\"\n        defaultBucket: {limit: 5, "
             "duration: 1h}\n",
      "QuotaPolicy default/q: spec.perModelQuotas[0].quota.costExpression: cel:");
}

} // namespace
} // namespace aigw::ratelimit

namespace aigw::ratelimit {
namespace {

TEST(GatewayConfigCosts, GlobalCostsFillKeysTheRouteLeavesUnset) {
  auto r = control::testing::load(std::string(control::testing::kMinimalBackend) + R"yaml(
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: gw
  annotations: {aigateway.envoyproxy.io/gateway-config: cfg}
spec:
  listeners: [{name: http, protocol: HTTP, port: 1975}]
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: GatewayConfig
metadata: {name: cfg}
spec:
  globalLLMRequestCosts:
    - {metadataKey: llm_total_token, type: TotalToken}
    - {metadataKey: llm_input_token, type: CEL, cel: "input_tokens * uint(2)"}
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIGatewayRoute
metadata: {name: r}
spec:
  parentRefs: [{name: gw}]
  rules: [{backendRefs: [{name: be}]}]
  llmRequestCosts:
    - {metadataKey: llm_input_token, type: InputToken}
)yaml");
  for (const auto &e : r.diag.errors())
    ADD_FAILURE() << e;
  ASSERT_NE(r.snapshot, nullptr);
  const auto &costs = r.snapshot->routes[0].costs;
  ASSERT_EQ(costs.size(), 2u);
  EXPECT_EQ(costs[0].metadata_key, "llm_input_token");
  EXPECT_EQ(costs[0].type, CostSpec::Type::kInput); // the route's wins
  EXPECT_EQ(costs[1].metadata_key, "llm_total_token");
}

} // namespace
} // namespace aigw::ratelimit
