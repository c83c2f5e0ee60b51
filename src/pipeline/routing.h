// Route rule selection (header matches, host scoping) and backend choice within a rule
// (lowest priority first, weighted within a priority, never the same backend twice in a request).
#pragma once

#include "control/snapshot.h"
#include "core/header_lookup.h"

#include <cstdint>
#include <functional>
#include <optional>
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

// Picks backends for successive attempts of one request.
class BackendPicker {
public:
  BackendPicker(const control::CompiledRule &rule, uint64_t seed);

  // The next backendRef to try, or nullptr when none is left. `attempts_per_priority` (0 means
  // unlimited) moves to the next priority after that many attempts at the current one.
  const control::CompiledBackendRef *next(uint32_t attempts_per_priority);

private:
  const control::CompiledRule &rule_;
  std::vector<bool> tried_;
  uint64_t state_;
  uint32_t current_priority_ = 0;
  uint32_t attempts_at_priority_ = 0;
  bool started_ = false;
};

} // namespace aigw::pipeline
