#include "config_test_util.h"
#include "control/autoconfig.h"

namespace aigw::control {
namespace {

using testing::fake_env;

std::shared_ptr<const Snapshot> from_env(std::map<std::string, std::string> vars) {
  auto env = fake_env(vars);
  auto yaml = autoconfig_yaml(env);
  EXPECT_TRUE(yaml.ok());
  if (!yaml.ok()) return nullptr;
  auto r = load_text(*yaml, "environment", env, 1);
  for (const auto &e : r.diag.errors())
    ADD_FAILURE() << e;
  return r.snapshot;
}

TEST(Autoconfig, DefaultsToOpenAIOverTls) {
  auto s = from_env({{"OPENAI_API_KEY", "sk-x"}});
  ASSERT_NE(s, nullptr);
  const auto &b = *s->rules[0].refs[0].backend;
  EXPECT_EQ(b.host_header, "api.openai.com");
  EXPECT_TRUE(b.tls.enabled);
  EXPECT_EQ(b.tls.sni, "api.openai.com");
  EXPECT_EQ(b.path_prefix, "/v1");
  EXPECT_EQ(b.api_key, "sk-x");
  EXPECT_EQ(s->listener_ports, std::vector<uint16_t>{1975});
  EXPECT_EQ(s->rules[0].request_timeout.count(), 120000);
}

TEST(Autoconfig, HonoursTheBaseUrlPathAndIp) {
  auto s =
      from_env({{"OPENAI_API_KEY", "k"}, {"OPENAI_BASE_URL", "http://127.0.0.1:11434/api/v1/"}});
  ASSERT_NE(s, nullptr);
  const auto &b = *s->rules[0].refs[0].backend;
  EXPECT_EQ(b.path_prefix, "/api/v1");
  EXPECT_FALSE(b.tls.enabled);
  EXPECT_EQ(b.endpoints[0].host, "127.0.0.1");
  EXPECT_TRUE(b.endpoints[0].is_ip);
  EXPECT_EQ(b.endpoints[0].port, 11434);
}

TEST(Autoconfig, OrgAndProjectBecomeHeaders) {
  auto s = from_env(
      {{"OPENAI_API_KEY", "k"}, {"OPENAI_ORG_ID", "org-1"}, {"OPENAI_PROJECT_ID", "proj_2"}});
  ASSERT_NE(s, nullptr);
  const auto &set = s->rules[0].refs[0].header_mutation.set;
  ASSERT_EQ(set.size(), 2u);
  EXPECT_EQ(set[0], (std::pair<std::string, std::string>{"openai-organization", "org-1"}));
  EXPECT_EQ(set[1], (std::pair<std::string, std::string>{"openai-project", "proj_2"}));
}

TEST(Autoconfig, WithoutAKeySaysWhatToSet) {
  auto r = autoconfig_yaml(fake_env({}));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("OPENAI_API_KEY"), std::string::npos);
  auto bad = autoconfig_yaml(fake_env({{"OPENAI_API_KEY", "k"}, {"OPENAI_BASE_URL", "ftp://x"}}));
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("unsupported scheme"), std::string::npos);
}

TEST(EnvExpand, ExpandsBracedVariablesAndDefaultsOnly) {
  std::vector<std::string> unset;
  auto env = fake_env({{"A", "1"}});
  EXPECT_EQ(expand_env("x${A}y ${B:-d} ${C} $A ^a.*$", env, &unset), "x1y d  $A ^a.*$");
  EXPECT_EQ(unset, std::vector<std::string>{"C"});
}

TEST(Autoconfig, AnthropicFromTheEnvironmentWhenNoOpenAIKey) {
  auto s = from_env(
      {{"ANTHROPIC_API_KEY", "sk-ant"}, {"ANTHROPIC_BASE_URL", "http://127.0.0.1:8080/v1"}});
  ASSERT_NE(s, nullptr);
  const auto &b = *s->rules[0].refs[0].backend;
  EXPECT_EQ(b.schema, "Anthropic");
  EXPECT_EQ(b.auth_type, "AnthropicAPIKey");
  EXPECT_EQ(b.api_key, "sk-ant");
  EXPECT_EQ(b.path_prefix, "/v1");
  EXPECT_EQ(b.endpoints[0].port, 8080);
  // OpenAI first, as upstream.
  auto both = from_env({{"ANTHROPIC_API_KEY", "a"}, {"OPENAI_API_KEY", "o"}});
  ASSERT_NE(both, nullptr);
  EXPECT_EQ(both->rules[0].refs[0].backend->schema, "OpenAI");
  auto bad =
      autoconfig_yaml(fake_env({{"ANTHROPIC_API_KEY", "a"}, {"ANTHROPIC_BASE_URL", "unix:///s"}}));
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("ANTHROPIC_BASE_URL: unsupported scheme"), std::string::npos);
}

TEST(Autoconfig, AzureOpenAIFromTheEnvironment) {
  auto s = from_env({{"AZURE_OPENAI_API_KEY", "az"},
                     {"AZURE_OPENAI_ENDPOINT", "https://res.openai.azure.com"},
                     {"OPENAI_API_VERSION", "2024-10-21"}});
  ASSERT_NE(s, nullptr);
  const auto &b = *s->rules[0].refs[0].backend;
  EXPECT_EQ(b.schema, "AzureOpenAI");
  EXPECT_EQ(b.schema_version, "2024-10-21");
  EXPECT_EQ(b.auth_type, "AzureAPIKey");
  EXPECT_EQ(b.api_key, "az");
  EXPECT_EQ(b.host_header, "res.openai.azure.com");
  auto no_version = autoconfig_yaml(fake_env(
      {{"AZURE_OPENAI_API_KEY", "az"}, {"AZURE_OPENAI_ENDPOINT", "https://res.openai.azure.com"}}));
  ASSERT_FALSE(no_version.ok());
  EXPECT_NE(no_version.error().message.find("OPENAI_API_VERSION"), std::string::npos);
  auto no_endpoint = autoconfig_yaml(fake_env({{"AZURE_OPENAI_API_KEY", "az"}}));
  ASSERT_FALSE(no_endpoint.ok());
  EXPECT_NE(no_endpoint.error().message.find("AZURE_OPENAI_ENDPOINT"), std::string::npos);
}

} // namespace
} // namespace aigw::control
