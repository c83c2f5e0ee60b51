// The attempt plan of one request: how many attempts a rule allows, how many at one priority,
// and which failures the retry policy hands to the next attempt (Envoy's retry_on semantics, as
// BackendTrafficPolicy.retry configures them).
#pragma once

#include "api/resources.h"
#include "control/snapshot.h"

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string_view>

namespace aigw::pipeline {

enum class AttemptFailure {
  kConnect,
  kReset,
  kTimeout,
  kIdle, // nothing came within the rule's streamIdleTimeout: always tried on the next attempt
};

struct RetryDecision {
  const std::optional<api::RetryPolicy> &policy;

  bool has(std::string_view t) const {
    return policy &&
           std::find(policy->triggers.begin(), policy->triggers.end(), t) != policy->triggers.end();
  }
  // Without a policy, a connect failure (nothing reached the provider) still moves to the next
  // backend: the request is untouched, so this is always safe.
  bool on_connect_failure() const {
    return !policy || has("connect-failure") || has("reset") || has("5xx") || has("gateway-error");
  }
  bool on_reset() const { return has("reset") || has("5xx"); }
  bool on_timeout() const { return has("5xx") || has("gateway-error") || has("reset"); }
  bool on_failure(AttemptFailure f) const {
    switch (f) {
    case AttemptFailure::kConnect: return on_connect_failure();
    case AttemptFailure::kReset: return on_reset();
    case AttemptFailure::kTimeout: return on_timeout();
    case AttemptFailure::kIdle: return true;
    }
    return false;
  }
  bool on_status(unsigned status) const {
    if (!policy) return false;
    if (status >= 500 && has("5xx")) return true;
    if ((status == 502 || status == 503 || status == 504) && has("gateway-error")) return true;
    if (has("retriable-status-codes") || !policy->http_status_codes.empty()) {
      const auto &codes = policy->http_status_codes;
      if (std::find(codes.begin(), codes.end(), static_cast<int>(status)) != codes.end())
        return true;
    }
    return false;
  }
};

// Attempts a rule allows: 1 + numRetries with a policy, else one per backendRef (fallback).
inline uint32_t max_attempts(const control::CompiledRule &rule) {
  uint32_t n = rule.retry ? 1 + rule.retry->num_retries : static_cast<uint32_t>(rule.refs.size());
  return n == 0 ? 1 : n;
}
// Attempts at one priority before the next (0: unlimited).
inline uint32_t attempts_per_priority(const control::CompiledRule &rule) {
  return rule.retry ? rule.retry->num_attempts_per_priority.value_or(0) : 1;
}

} // namespace aigw::pipeline
