// `aigw translate` against upstream's golden files: the same documents, compared semantically
// (document order and key order do not matter, values and structure do), and the filter-config
// bundle byte for byte (its checksum and base64 part match upstream's).
#include "control/translate.h"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace aigw::control {
namespace {

const std::filesystem::path kDir = AIGW_SHARED_DIR "/fixtures/envoy-ai-gateway/aigw-translate";

std::string read(const std::filesystem::path &p) {
  std::ifstream f(p);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string canonical(const YAML::Node &n) {
  switch (n.Type()) {
  case YAML::NodeType::Map: {
    std::vector<std::pair<std::string, std::string>> kv;
    for (const auto &e : n)
      kv.emplace_back(e.first.Scalar(), canonical(e.second));
    std::sort(kv.begin(), kv.end());
    std::string o = "{";
    for (const auto &[k, v] : kv)
      o += k + ":" + v + ",";
    return o + "}";
  }
  case YAML::NodeType::Sequence: {
    std::string o = "[";
    for (const auto &e : n)
      o += canonical(e) + ",";
    return o + "]";
  }
  case YAML::NodeType::Scalar: return "'" + n.Scalar() + "'";
  default: return "null";
  }
}

std::vector<std::string> documents(const std::string &text) {
  std::vector<std::string> out;
  for (const auto &d : YAML::LoadAll(text))
    if (d.IsMap()) out.push_back(canonical(d));
  std::sort(out.begin(), out.end());
  return out;
}

EnvLookup no_env() {
  return [](const std::string &) -> std::optional<std::string> { return std::nullopt; };
}

TEST(Translate, MatchesUpstreamGoldenOutput) {
  if (!std::filesystem::exists(kDir)) GTEST_SKIP() << "fixtures not found at " << kDir;
  for (const char *in : {"translate_basic.in.yaml", "translate_basic_v1alpha1.in.yaml"}) {
    auto out = translate_config(read(kDir / in), no_env());
    ASSERT_TRUE(out) << out.error().message;
    auto got = documents(*out);
    auto want = documents(read(kDir / "translate_basic.out.yaml"));
    ASSERT_EQ(got.size(), want.size()) << *out;
    for (size_t i = 0; i < got.size(); ++i)
      EXPECT_EQ(got[i], want[i]) << in << " document " << i;
  }
}

TEST(Translate, NonAIResourcesPassThrough) {
  if (!std::filesystem::exists(kDir)) GTEST_SKIP();
  std::string text = read(kDir / "translate_nonairesources.yaml");
  auto out = translate_config(text, no_env());
  ASSERT_TRUE(out) << out.error().message;
  EXPECT_EQ(documents(*out), documents(text));
}

TEST(Translate, GatewayWithoutListenersStillTranslates) {
  if (!std::filesystem::exists(kDir)) GTEST_SKIP();
  auto out = translate_config(read(kDir / "gateway_no_listeners.yaml"), no_env());
  ASSERT_TRUE(out) << out.error().message;
  EXPECT_NE(out->find("kind: HTTPRoute"), std::string::npos);
  EXPECT_NE(out->find("aigw-run-default-85f8cf28b78f"), std::string::npos); // sha256 of default/aigw-run
}

TEST(Translate, InvalidConfigurationIsAnErrorNamingTheField) {
  auto out = translate_config(R"(apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIGatewayRoute
metadata: {name: r}
spec:
  rules:
    - backendRefs: [{name: missing}]
)",
                              no_env());
  ASSERT_FALSE(out);
  EXPECT_NE(out.error().message.find("AIServiceBackend \"missing\" not found"), std::string::npos)
      << out.error().message;
}

} // namespace
} // namespace aigw::control
