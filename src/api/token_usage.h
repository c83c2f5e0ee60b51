// Token usage as upstream counts it (reference §3.2): each field has a "set" state, absent is not
// zero. The vocabulary that translation, usage extraction, costs, budgets and metrics share.
#pragma once

#include <cstdint>
#include <optional>

namespace aigw::api {

struct TokenUsage {
  std::optional<uint64_t> input;
  std::optional<uint64_t> output;
  std::optional<uint64_t> total;
  std::optional<uint64_t> cached_input;
  std::optional<uint64_t> cache_creation_input;
  std::optional<uint64_t> reasoning;

  bool any() const { return input || output || total; }
};

} // namespace aigw::api
