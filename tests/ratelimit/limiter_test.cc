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
  r.client_selectors = {{{api::RateLimitHeaderSelector::Type::kDistinct, "x-tenant-id", "", false}}};
  r.limit = limit;
  r.unit = "Hour";
  r.request_cost = api::RateLimitCost{false, 0, ""};
  r.response_cost = api::RateLimitCost{true, 0, key};
  return *compile_rate_limit(r, "default/p/rule/0");
}

TEST(Limiter, TheRequestThatCrossesTheBudgetIsTheLastOneServed) {
  MemoryStore store;
  std::vector<std::shared_ptr<const CompiledRateLimit>> limits = {per_tenant(10, "llm_total_token")};
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
  EXPECT_TRUE(admit(store, b, now).allowed);
  // A request without the header is not limited by a Distinct rule.
  EXPECT_TRUE(match_rate_limits(limits, headers({}), now).empty());
  // The next window starts afresh.
  auto later = match_rate_limits(limits, a, now + 3600);
  EXPECT_TRUE(admit(store, later, now + 3600).allowed);
}

TEST(Limiter, RequestCostsCountAtAdmissionAndExactSelectorsShareOneBucket) {
  api::RateLimitRule r;
  r.client_selectors = {{{api::RateLimitHeaderSelector::Type::kExact, "x-ai-eg-model", "m", false}}};
  r.limit = 2;
  r.unit = "Minute";
  auto limits = std::vector{*compile_rate_limit(r, "default/p/rule/1")};
  MemoryStore store;
  int64_t now = 1700000000;
  auto m = headers({{"x-ai-eg-model", "m"}});
  EXPECT_TRUE(admit(store, match_rate_limits(limits, m, now), now).allowed);
  auto v = admit(store, match_rate_limits(limits, m, now), now);
  EXPECT_TRUE(v.allowed);
  EXPECT_EQ(v.remaining, 1u); // remaining before this request's own cost
  EXPECT_FALSE(admit(store, match_rate_limits(limits, m, now), now).allowed);
  EXPECT_TRUE(match_rate_limits(limits, headers({{"x-ai-eg-model", "other"}}), now).empty());
}

TEST(Limiter, ShadowModeNeverRefuses) {
  api::RateLimitRule r;
  r.limit = 0;
  r.unit = "Second";
  r.shadow_mode = true;
  auto limits = std::vector{*compile_rate_limit(r, "default/p/rule/2")};
  MemoryStore store;
  EXPECT_TRUE(admit(store, match_rate_limits(limits, headers({}), 5), 5).allowed);
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
  for (const auto &e : r.diag.errors()) errs += e + "\n";
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
