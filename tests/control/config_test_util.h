// Helpers for configuration tests written as inline YAML.
#pragma once

#include "control/loader.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

namespace aigw::control::testing {

inline EnvLookup fake_env(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const std::string &k) -> std::optional<std::string> {
    auto it = vars.find(k);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

inline LoadResult load(const std::string &yaml, std::map<std::string, std::string> env = {}) {
  return load_text(yaml, "test.yaml", fake_env(std::move(env)), 1);
}

// Asserts the config is rejected with an error containing `fragment`.
inline void expect_rejected(const std::string &yaml, const std::string &fragment) {
  auto r = load(yaml);
  EXPECT_EQ(r.snapshot, nullptr) << "expected rejection with: " << fragment;
  std::string all;
  for (const auto &e : r.diag.errors())
    all += e + "\n";
  EXPECT_NE(all.find(fragment), std::string::npos) << "errors were:\n" << all;
}

inline const char *kMinimalBackend = R"(
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIServiceBackend
metadata: {name: be, namespace: default}
spec:
  schema: {name: OpenAI}
  backendRef: {name: be, kind: Backend, group: gateway.envoyproxy.io}
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: Backend
metadata: {name: be, namespace: default}
spec:
  endpoints: [{ip: {address: 127.0.0.1, port: 8080}}]
)";

} // namespace aigw::control::testing
