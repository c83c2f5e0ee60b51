// LLM request costs (AIGatewayRoute.spec.llmRequestCosts): token counts or a CEL expression over
// them, computed when a successful response completes, keyed by `metadataKey` as upstream's
// io.envoy.ai_gateway dynamic metadata.
#pragma once

#include "api/resources.h"
#include "api/token_usage.h"
#include "core/result.h"
#include "ratelimit/cel.h"

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace aigw::ratelimit {

struct CostSpec {
  enum class Type {
    kInput,
    kCachedInput,
    kCacheCreationInput,
    kOutput,
    kTotal,
    kReasoning,
    kCel,
    kCost, // aigw: the request's price in micro-dollars (millionths of a USD), from the catalog
  };
  std::string metadata_key;
  Type type = Type::kTotal;
  std::shared_ptr<const CelProgram> cel; // type kCel only
};

using CostValues = std::vector<std::pair<std::string, uint64_t>>;

// Compiles one cost; a CEL expression is checked as upstream does (evaluated once with zeros).
Result<CostSpec> compile_cost(const api::LLMRequestCost &cost);

struct CostInput {
  const api::TokenUsage &usage;
  std::string_view model;      // x-ai-eg-model after any override
  std::string_view backend;    // the per-rule backend name
  std::string_view route_name; // namespace/name
};

// Every cost that can be computed; a CEL evaluation error leaves its key out and is reported in
// `errors` (never thrown).
CostValues compute_costs(const std::vector<CostSpec> &specs, const CostInput &in,
                         std::vector<std::string> *errors);

} // namespace aigw::ratelimit
