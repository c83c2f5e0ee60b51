// Route rule selection (header matches, host scoping) and backend choice within a rule
// (lowest priority first, weighted within a priority, never the same backend twice in a request).
#pragma once

#include "control/snapshot.h"
#include "core/header_lookup.h"

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

namespace aigw::pipeline {

// Returns the first rule (in precedence order) whose route accepts `host` and one of whose match
// groups holds; nullptr when none does.
const control::CompiledRule *select_rule(const control::Snapshot &snap, const HeaderLookup &headers,
                                         std::string_view host);

// `host` without its port ("[::1]:80" → "[::1]", "a.com:1975" → "a.com").
std::string_view host_without_port(std::string_view host);

// True when `host` (without port) is accepted by `hostnames` (empty: any; "*.x" matches one label).
bool host_matches(const std::vector<std::string> &hostnames, std::string_view host);

// Picks backends for successive attempts of one request: the lowest priority first, never the
// same backendRef twice while others are left, and within a priority by the rule's load balancer
// (weighted random by default). Backends ejected by passive health checks, cooling down after a
// 429, or at their circuit breaker's parallel-request limit are passed over while another can
// serve; a backend whose provider reported little remaining quota gets traffic only when none
// with more is left. When every backend is ejected or cooling down they are used anyway (better
// than no answer); when every one is at its circuit breaker's limit, none is (overflowed()).
class BackendPicker {
public:
  // `hash_key`: what ConsistentHash hashes (the header's or cookie's value), if present.
  BackendPicker(const control::CompiledRule &rule, uint64_t seed,
                std::optional<std::string> hash_key = std::nullopt);

  // The next backendRef to try, or nullptr when none is left. `attempts_per_priority` (0 means
  // unlimited) moves to the next priority after that many attempts at the current one.
  const control::CompiledBackendRef *next(uint32_t attempts_per_priority);
  // The last next() returned nullptr because every backend was at its parallel-request limit.
  bool overflowed() const { return overflowed_; }

private:
  enum class Health { kGood, kLowQuota, kResting, kFull };
  Health health(size_t i, int64_t now_ms) const;
  uint64_t random();
  size_t choose(std::span<const size_t> candidates);

  const control::CompiledRule &rule_;
  std::vector<bool> tried_;
  uint64_t state_;
  std::optional<std::string> hash_key_;
  uint32_t current_priority_ = 0;
  uint32_t attempts_at_priority_ = 0;
  bool started_ = false;
  bool overflowed_ = false;
};

} // namespace aigw::pipeline
