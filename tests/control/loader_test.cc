#include "config_test_util.h"

#include <chrono>
#include <filesystem>
#include <fstream>

namespace aigw::control {
namespace {

using testing::expect_rejected;
using testing::kMinimalBackend;
using testing::load;

std::string route(const std::string &rules) {
  return std::string(R"(
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIGatewayRoute
metadata: {name: r, namespace: default}
spec:
  rules:
)") + rules +
         "\n---\n" + kMinimalBackend;
}

TEST(Loader, LoadsAMinimalRouteWithDefaults) {
  auto r = load(route(R"(
    - matches: [{headers: [{type: Exact, name: x-ai-eg-model, value: gpt-4o}]}]
      backendRefs: [{name: be}])"));
  ASSERT_NE(r.snapshot, nullptr) << (r.diag.errors().empty() ? "" : r.diag.errors()[0]);
  const auto &s = *r.snapshot;
  ASSERT_EQ(s.rules.size(), 1u);
  EXPECT_EQ(s.rules[0].request_timeout.count(), 60000);
  EXPECT_EQ(s.listener_ports, std::vector<uint16_t>{1975});
  ASSERT_EQ(s.models.size(), 1u);
  EXPECT_EQ(s.models[0].id, "gpt-4o");
  EXPECT_EQ(s.models[0].owned_by, "Envoy AI Gateway");
  EXPECT_EQ(s.rules[0].refs[0].backend->path_prefix, "/v1");
  EXPECT_EQ(s.rules[0].refs[0].backend->host_header, "127.0.0.1:8080");
  EXPECT_FALSE(s.rules[0].refs[0].backend->tls.enabled);
}

TEST(Loader, RejectsRouteWithUnknownBackend) {
  expect_rejected(route(R"(
    - backendRefs: [{name: missing}])"),
                  "AIGatewayRoute default/r: spec.rules[0].backendRefs[0].name: AIServiceBackend "
                  "\"missing\" not found in namespace \"default\"");
}

TEST(Loader, RejectsBadMatchTypeAndBadRegex) {
  expect_rejected(route(R"(
    - matches: [{headers: [{type: Prefix, name: x-ai-eg-model, value: g}]}]
      backendRefs: [{name: be}])"),
                  "spec.rules[0].matches[0].headers[0].type: must be Exact or RegularExpression");
  expect_rejected(route(R"(
    - matches: [{headers: [{type: RegularExpression, name: x-ai-eg-model, value: "("}]}]
      backendRefs: [{name: be}])"),
                  "spec.rules[0].matches[0].headers[0].value: invalid regular expression");
}

TEST(Loader, RejectsBadTimeoutAndWeight) {
  expect_rejected(route(R"(
    - backendRefs: [{name: be}]
      timeouts: {request: soon})"),
                  "spec.rules[0].timeouts.request: must be a duration");
  expect_rejected(route(R"(
    - backendRefs: [{name: be, weight: -1}])"),
                  "spec.rules[0].backendRefs[0].weight: must be between 0 and 1000000");
}

TEST(Loader, RejectsInvalidYamlWithLineNumber) {
  expect_rejected("kind: [unclosed", "test.yaml: invalid YAML at line");
}

TEST(Loader, RejectsMissingSecretAndMissingKey) {
  std::string base = route("    - backendRefs: [{name: be}]") + R"(
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: BackendSecurityPolicy
metadata: {name: p, namespace: default}
spec:
  targetRefs: [{group: aigateway.envoyproxy.io, kind: AIServiceBackend, name: be}]
  type: APIKey
  apiKey: {secretRef: {name: s}}
)";
  expect_rejected(
      base, "BackendSecurityPolicy default/p: spec.apiKey.secretRef.name: Secret \"s\" not found");
  expect_rejected(
      base + "---\napiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData: {other: x}\n",
      "Secret \"s\" has no key \"apiKey\"");
}

TEST(Loader, SecretFromDataEnvAnnotationAndExpansion) {
  std::string base = route("    - backendRefs: [{name: be}]") + R"(
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: BackendSecurityPolicy
metadata: {name: p, namespace: default}
spec:
  targetRefs: [{group: aigateway.envoyproxy.io, kind: AIServiceBackend, name: be}]
  type: APIKey
  apiKey: {secretRef: {name: s}}
---
apiVersion: v1
kind: Secret
metadata: {name: s}
)";
  auto a = load(base + "data: {apiKey: c2stZGF0YQ==}\n");
  ASSERT_NE(a.snapshot, nullptr);
  EXPECT_EQ(a.snapshot->rules[0].refs[0].backend->api_key, "sk-data");
  auto b = load(base + "stringData: {apiKey: \"${KEY}\"}\n", {{"KEY", "sk-env"}});
  ASSERT_NE(b.snapshot, nullptr);
  EXPECT_EQ(b.snapshot->rules[0].refs[0].backend->api_key, "sk-env");
  std::string annotated = base;
  annotated.replace(annotated.rfind("metadata: {name: s}"), 19,
                    "metadata: {name: s, annotations: {substitution.aigw.run/env/apiKey: MYKEY}}");
  auto c = load(annotated, {{"MYKEY", "sk-ann"}});
  ASSERT_NE(c.snapshot, nullptr) << (c.diag.errors().empty() ? "" : c.diag.errors()[0]);
  EXPECT_EQ(c.snapshot->rules[0].refs[0].backend->api_key, "sk-ann");
  // The dump never shows the key.
  EXPECT_EQ(c.snapshot->dump_json.find("sk-ann"), std::string::npos);
  EXPECT_NE(c.snapshot->dump_json.find("[REDACTED]"), std::string::npos);
}

TEST(Loader, UnsupportedKindsAreWarnedAboutNotFatal) {
  auto r = load(route("    - backendRefs: [{name: be}]") +
                "---\napiVersion: gateway.envoyproxy.io/v1alpha1\nkind: ClientTrafficPolicy\n"
                "metadata: {name: c}\nspec: {}\n");
  ASSERT_NE(r.snapshot, nullptr);
  bool warned = false;
  for (const auto &w : r.diag.warnings())
    warned |= w.find("ClientTrafficPolicy default/c: kind ClientTrafficPolicy is not supported") !=
              std::string::npos;
  EXPECT_TRUE(warned);
}

TEST(Loader, PrecedencePrefersMoreHeaderMatches) {
  auto r = load(route(R"(
    - matches: [{headers: [{type: RegularExpression, name: x-ai-eg-model, value: ".*"}]}]
      backendRefs: [{name: be}]
    - matches: [{headers: [{type: Exact, name: x-ai-eg-model, value: a}, {type: Exact, name: x-tenant, value: t}]}]
      backendRefs: [{name: be}])"));
  ASSERT_NE(r.snapshot, nullptr);
  EXPECT_EQ(r.snapshot->rules[0].rule_index, 1u);
}

TEST(Loader, RetryPolicyFromBackendTrafficPolicyTargetingTheRoute) {
  auto r = load(route("    - backendRefs: [{name: be}]") + R"(
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: BackendTrafficPolicy
metadata: {name: btp, namespace: default}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: r}]
  retry:
    numAttemptsPerPriority: 1
    numRetries: 5
    perRetry: {timeout: 30s}
    retryOn: {httpStatusCodes: [500], triggers: [connect-failure, retriable-status-codes]}
)");
  ASSERT_NE(r.snapshot, nullptr);
  const auto &retry = r.snapshot->rules[0].retry;
  ASSERT_TRUE(retry);
  EXPECT_EQ(retry->num_retries, 5u);
  EXPECT_EQ(retry->num_attempts_per_priority, 1u);
  EXPECT_EQ(retry->http_status_codes, std::vector<int>{500});
  EXPECT_EQ(retry->per_retry_timeout->count(), 30000);
}

TEST(Loader, UnknownRetryTriggerNamesTheField) {
  expect_rejected(route("    - backendRefs: [{name: be}]") + R"(
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: BackendTrafficPolicy
metadata: {name: btp}
spec:
  targetRefs: [{kind: HTTPRoute, name: r}]
  retry: {retryOn: {triggers: [sometimes]}}
)",
                  "BackendTrafficPolicy default/btp: spec.retry.retryOn.triggers[0]: unknown retry "
                  "trigger \"sometimes\"");
}

TEST(Loader, ADirectoryIsOneConfigurationAcrossItsFiles) {
  std::filesystem::path dir =
      AIGW_SHARED_DIR "/fixtures/envoy-ai-gateway/examples/stream_idle_timeout";
  if (!std::filesystem::exists(dir)) GTEST_SKIP() << "shared fixtures not found at " << dir;
  // base.yaml references backends that backends.yaml defines.
  auto r = load_file(dir.string(), testing::fake_env({}), 1);
  std::string errs;
  for (const auto &e : r.diag.errors())
    errs += e + "\n";
  ASSERT_NE(r.snapshot, nullptr) << errs;
  EXPECT_FALSE(r.snapshot->rules.empty());
}

TEST(Loader, AServiceBackendRefResolvesToTheClusterDnsName) {
  auto r = load(route("    - backendRefs: [{name: svc}]") + R"(
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIServiceBackend
metadata: {name: svc, namespace: default}
spec:
  schema: {name: OpenAI}
  backendRef: {name: upstream, kind: Service, port: 8080}
)");
  ASSERT_NE(r.snapshot, nullptr);
  const auto *b = r.snapshot->rules[0].refs[0].backend.get();
  EXPECT_EQ(b->endpoints[0].host, "upstream.default.svc.cluster.local");
  EXPECT_EQ(b->endpoints[0].port, 8080);
}

// Every upstream example this issue covers loads (later kinds warn, not fail).
TEST(Loader, UpstreamFixturesLoad) {
  std::filesystem::path root = AIGW_SHARED_DIR "/fixtures/envoy-ai-gateway";
  if (!std::filesystem::exists(root)) GTEST_SKIP() << "shared fixtures not found at " << root;
  std::vector<std::filesystem::path> files = {root / "examples/basic/openai.yaml",
                                              root / "examples/aigw/ollama.yaml"};
  for (const auto &e : std::filesystem::directory_iterator(root / "aigw-autoconfig"))
    if (e.path().filename().string().starts_with("openai")) files.push_back(e.path());
  auto env = testing::fake_env({{"OPENAI_API_KEY", "sk-test"}});
  for (const auto &f : files) {
    auto r = load_file(f.string(), env, 1);
    std::string errs;
    for (const auto &e : r.diag.errors())
      errs += e + "\n";
    EXPECT_NE(r.snapshot, nullptr) << f << ":\n" << errs;
  }
}

// Every provider example in upstream's examples/basic loads, with the schema and credentials
// compiled (anthropic-openai-local.yaml needs openai.yaml beside it and loads with it).
TEST(Loader, UpstreamProviderExamplesLoad) {
  std::filesystem::path root = AIGW_SHARED_DIR "/fixtures/envoy-ai-gateway/examples/basic";
  if (!std::filesystem::exists(root)) GTEST_SKIP() << "shared fixtures not found at " << root;
  auto env = testing::fake_env({});
  for (const auto &e : std::filesystem::directory_iterator(root)) {
    if (e.path().filename() == "anthropic-openai-local.yaml") continue;
    auto r = load_file(e.path().string(), env, 1);
    std::string errs;
    for (const auto &x : r.diag.errors())
      errs += x + "\n";
    ASSERT_NE(r.snapshot, nullptr) << e.path() << ":\n" << errs;
    for (const auto &rule : r.snapshot->rules)
      for (const auto &ref : rule.refs)
        EXPECT_TRUE(ref.backend->supported) << e.path() << " " << ref.backend->key;
  }
  auto aws = load_file((root / "aws.yaml").string(), env, 1);
  ASSERT_NE(aws.snapshot, nullptr);
  const auto &b = *aws.snapshot->rules[0].refs[0].backend;
  EXPECT_EQ(b.auth_type, "AWSCredentials");
  EXPECT_EQ(b.aws_region, "us-east-1");
  ASSERT_TRUE(b.aws_credentials.has_value());
  EXPECT_EQ(b.aws_credentials->access_key_id, "AWS_ACCESS_KEY_ID");
  EXPECT_EQ(aws.snapshot->dump_json.find("AWS_SECRET_ACCESS_KEY"), std::string::npos);
  auto gcp = load_file((root / "gcp_vertex.yaml").string(), env, 1);
  ASSERT_NE(gcp.snapshot, nullptr);
  EXPECT_FALSE(gcp.snapshot->rules[0].refs[0].backend->gcp_problem.empty()); // "{}" placeholder
}

// A misspelt or misshapen match must not become a rule that matches every request.
TEST(Loader, RejectsMalformedMatchesInsteadOfMatchingEverything) {
  auto rule = [](const std::string &matches) {
    return route("    - matches: " + matches + "\n      backendRefs: [{name: be}]");
  };
  expect_rejected(rule("[{headrs: [{name: x-ai-eg-model, value: m}]}]"),
                  "AIGatewayRoute default/r: spec.rules[0].matches[0].headrs: unknown field "
                  "(expected headers)");
  expect_rejected(rule("[\"x\"]"),
                  "AIGatewayRoute default/r: spec.rules[0].matches[0]: must be a mapping");
  expect_rejected(
      rule("[{headers: [{value: m}]}]"),
      "AIGatewayRoute default/r: spec.rules[0].matches[0].headers[0].name: is required");
  expect_rejected(rule("[{headers: [{name: x-ai-eg-model}]}]"),
                  "spec.rules[0].matches[0].headers[0].value: is required");
  expect_rejected(rule("[{headers: [\"x-ai-eg-model\"]}]"),
                  "spec.rules[0].matches[0].headers[0]: must be a mapping");
  expect_rejected(rule("[{headers: [{name: x-ai-eg-model, value: m, typ: Exact}]}]"),
                  "spec.rules[0].matches[0].headers[0].typ: unknown field (expected type, name, "
                  "value)");
  expect_rejected(rule("[{type: Prefix, headers: [{name: x-ai-eg-model, value: m}]}]"),
                  "spec.rules[0].matches[0].type: unknown field");
  // An empty match is Gateway API's match-all, written on purpose.
  EXPECT_NE(load(rule("[{}]")).snapshot, nullptr);
}

// yaml-cpp shares aliased nodes, so a billion-laughs document parses at once; it is refused
// before anything walks (or prints) it.
TEST(Loader, RefusesAnAliasBomb) {
  std::string bomb = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: lol}\ndata:\n"
                     "  a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n";
  for (char c = 'b'; c <= 'i'; ++c) {
    std::string prev(1, static_cast<char>(c - 1));
    bomb += std::string("  ") + c + ": &" + c + " [";
    for (int i = 0; i < 9; ++i)
      bomb += (i ? ", *" : "*") + prev;
    bomb += "]\n";
  }
  auto start = std::chrono::steady_clock::now();
  expect_rejected(route("    - backendRefs: [{name: be}]") + "---\n" + bomb,
                  "test.yaml: document 4 expands through aliases to more than");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
  // Aliases used as intended still load.
  auto r = load(route(R"(
    - matches: [{headers: &m [{type: Exact, name: x-ai-eg-model, value: a}]}]
      backendRefs: &refs [{name: be}]
    - matches: [{headers: *m}]
      backendRefs: *refs)"));
  EXPECT_NE(r.snapshot, nullptr);
}

std::string with_api_key_secret(const std::string &env_var) {
  return "---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: token\n  annotations:\n"
         "    substitution.aigw.run/env/apiKey: " +
         env_var + "\nstringData: {apiKey: placeholder}\n";
}

// A Secret nothing refers to needs none of its variables.
TEST(Loader, AMissingVariableOnlyAnUnusedSecretNeedsIsNotAnError) {
  auto r = load(route("    - backendRefs: [{name: be}]") + with_api_key_secret("UNSET_TOKEN"));
  ASSERT_NE(r.snapshot, nullptr) << (r.diag.errors().empty() ? "" : r.diag.errors()[0]);
  for (const auto &w : r.diag.warnings())
    EXPECT_EQ(w.find("UNSET_TOKEN"), std::string::npos) << w;
}

// As upstream's MCP example: the MCPRoute's backend key comes from the environment.
TEST(Loader, AnMCPRoutesKeyFromTheEnvironment) {
  std::string mcp = R"(
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: MCPRoute
metadata: {name: mcp, namespace: default}
spec:
  parentRefs: [{name: gw}]
  backendRefs: [{name: github, securityPolicy: {apiKey: {secretRef: {name: token}}}}]
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: Backend
metadata: {name: github, namespace: default}
spec:
  endpoints: [{fqdn: {hostname: api.githubcopilot.com, port: 443}}]
)";
  auto r =
      load(mcp + with_api_key_secret("GITHUB_ACCESS_TOKEN"), {{"GITHUB_ACCESS_TOKEN", "ghp_x"}});
  ASSERT_NE(r.snapshot, nullptr) << (r.diag.errors().empty() ? "" : r.diag.errors()[0]);
  const auto &b = *r.snapshot->mcp_routes.at(0).backends.at(0);
  EXPECT_EQ(b.api_key, "ghp_x");
  EXPECT_TRUE(b.tls.enabled);
  EXPECT_EQ(b.host_header, "api.githubcopilot.com");
  // Without the variable the key is missing, which is an error naming it.
  auto missing = load(mcp + with_api_key_secret("GITHUB_ACCESS_TOKEN"));
  EXPECT_EQ(missing.snapshot, nullptr);
}

TEST(Loader, AMissingVariableAUsedSecretNeedsIsStillAnError) {
  expect_rejected(route("    - backendRefs: [{name: be}]") + R"(
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: BackendSecurityPolicy
metadata: {name: p, namespace: default}
spec:
  targetRefs: [{group: aigateway.envoyproxy.io, kind: AIServiceBackend, name: be}]
  type: APIKey
  apiKey: {secretRef: {name: token}}
)" + with_api_key_secret("MISSING_KEY"),
                  "Secret default/token: metadata.annotations[substitution.aigw.run/env/apiKey]: "
                  "environment variable MISSING_KEY is not set");
  // And an unset ${VAR} in a resource aigw reads is still warned about.
  auto r = load(route("    - backendRefs: [{name: be}]\n      name: \"${RULE_NAME}\""));
  ASSERT_NE(r.snapshot, nullptr);
  ASSERT_FALSE(r.diag.warnings().empty());
  EXPECT_NE(r.diag.warnings()[0].find("environment variable RULE_NAME is not set"),
            std::string::npos);
}

TEST(Loader, UpstreamMcpExampleLoads) {
  std::filesystem::path file =
      AIGW_SHARED_DIR "/fixtures/envoy-ai-gateway/examples/mcp/mcp_example.yaml";
  if (!std::filesystem::exists(file)) GTEST_SKIP() << "shared fixtures not found at " << file;
  // Its backend's key comes from the environment, as the example's README says to set it.
  auto r = load_file(file.string(), testing::fake_env({{"GITHUB_ACCESS_TOKEN", "ghp_test"}}), 1);
  std::string errs;
  for (const auto &e : r.diag.errors())
    errs += e + "\n";
  ASSERT_NE(r.snapshot, nullptr) << errs;
  ASSERT_EQ(r.snapshot->mcp_routes.size(), 1u);
  EXPECT_FALSE(r.snapshot->mcp_routes[0].backends.empty());
}

TEST(Loader, SeveralPathsLoadAsOneConfiguration) {
  auto dir = std::filesystem::temp_directory_path() /
             ("aigw-paths-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()));
  std::filesystem::create_directories(dir / "backends");
  {
    std::string text = route("    - backendRefs: [{name: be}]");
    std::ofstream(dir / "route.yaml") << text.substr(0, text.find("\n---\n"));
    std::ofstream(dir / "backends" / "be.yaml") << kMinimalBackend;
  }
  auto alone = load_file((dir / "route.yaml").string(), testing::fake_env({}), 1);
  EXPECT_EQ(alone.snapshot, nullptr); // the backend is in the other path
  auto both = load_files({(dir / "route.yaml").string(), (dir / "backends").string()},
                         testing::fake_env({}), 1);
  std::filesystem::remove_all(dir);
  ASSERT_NE(both.snapshot, nullptr) << (both.diag.errors().empty() ? "" : both.diag.errors()[0]);
  EXPECT_EQ(both.snapshot->rules.size(), 1u);
  EXPECT_NE(both.snapshot->source.find(", "), std::string::npos);

  // Upstream's anthropic-openai-local.yaml is meant to be applied with openai.yaml.
  std::filesystem::path basic = AIGW_SHARED_DIR "/fixtures/envoy-ai-gateway/examples/basic";
  if (!std::filesystem::exists(basic)) GTEST_SKIP() << "shared fixtures not found at " << basic;
  auto pair = load_files(
      {(basic / "openai.yaml").string(), (basic / "anthropic-openai-local.yaml").string()},
      testing::fake_env({}), 1);
  std::string errs;
  for (const auto &e : pair.diag.errors())
    errs += e + "\n";
  EXPECT_NE(pair.snapshot, nullptr) << errs;
}

} // namespace
} // namespace aigw::control
