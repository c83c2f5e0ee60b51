// The price catalog: what a model's tokens cost, in US dollars per million tokens (input, cached
// input read, cache write, output, reasoning). A catalog of common models is bundled; a JSON file
// (aigw run --price-catalog) adds models or overrides them. A model is found by its exact name,
// else by the longest catalog name it starts with ("gpt-4o-mini-2024-07-18" → "gpt-4o-mini"),
// else after a provider prefix ("anthropic.claude-…", "us.anthropic.…", "models/…").
#pragma once

#include "api/token_usage.h"
#include "core/result.h"

#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace aigw::observability {

struct ModelPrice {
  double input = 0, cached_input = 0, cache_write = 0, output = 0;
  double reasoning = 0; // 0: reasoning tokens are billed as output (they are counted in it)
};

class PriceCatalog {
public:
  PriceCatalog(); // the bundled catalog
  // Adds or overrides models from a JSON document: {"<model>": {"input": 2.5, "output": 10,
  // "cachedInput": 1.25, "cacheWrite": 3.75, "reasoning": 0}, ...} (USD per million tokens).
  Result<size_t> merge_json(std::string_view json);
  const ModelPrice *find(std::string_view model) const;
  // The cost of `usage` in dollars; nullopt when the model has no price.
  std::optional<double> cost(std::string_view model, const api::TokenUsage &usage) const;
  size_t size() const { return prices_.size(); }

private:
  std::map<std::string, ModelPrice, std::less<>> prices_;
};

// The process's catalog: the bundled one, with --price-catalog merged at start (before any
// request; read-only after). Read by the usage ledger and by the `Cost` llmRequestCosts type.
PriceCatalog &process_prices();

} // namespace aigw::observability
