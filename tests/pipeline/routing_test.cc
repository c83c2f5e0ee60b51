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
