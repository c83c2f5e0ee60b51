// LLM request costs; see costs.h.
#include "ratelimit/costs.h"

#include "observability/prices.h"

#include <cmath>

namespace aigw::ratelimit {

Result<CostSpec> compile_cost(const api::LLMRequestCost &cost) {
  CostSpec s;
  s.metadata_key = cost.metadata_key;
  using T = CostSpec::Type;
  if (cost.type == "InputToken")
    s.type = T::kInput;
  else if (cost.type == "CachedInputToken")
    s.type = T::kCachedInput;
  else if (cost.type == "CacheCreationInputToken")
    s.type = T::kCacheCreationInput;
  else if (cost.type == "OutputToken")
    s.type = T::kOutput;
  else if (cost.type == "TotalToken")
    s.type = T::kTotal;
  else if (cost.type == "ReasoningToken")
    s.type = T::kReasoning;
  else if (cost.type == "Cost")
    s.type = T::kCost;
  else if (cost.type == "CEL") {
    s.type = T::kCel;
    auto program = CelProgram::compile(cost.cel);
    if (!program) return program.error();
    s.cel = std::make_shared<const CelProgram>(std::move(program).value());
  } else {
    return Error::config("unknown cost type \"" + cost.type + "\"");
  }
  return s;
}

CostValues compute_costs(const std::vector<CostSpec> &specs, const CostInput &in,
                         std::vector<std::string> *errors) {
  CostValues out;
  out.reserve(specs.size());
  const auto &u = in.usage;
  auto v = [](const std::optional<uint64_t> &x) { return x.value_or(0); };
  for (const auto &s : specs) {
    using T = CostSpec::Type;
    switch (s.type) {
    case T::kInput: out.emplace_back(s.metadata_key, v(u.input)); break;
    case T::kCachedInput: out.emplace_back(s.metadata_key, v(u.cached_input)); break;
    case T::kCacheCreationInput: out.emplace_back(s.metadata_key, v(u.cache_creation_input)); break;
    case T::kOutput: out.emplace_back(s.metadata_key, v(u.output)); break;
    case T::kTotal: out.emplace_back(s.metadata_key, v(u.total)); break;
    case T::kReasoning: out.emplace_back(s.metadata_key, v(u.reasoning)); break;
    case T::kCost: { // an unpriced model costs nothing (docs/usage.md)
      auto usd = observability::process_prices().cost(in.model, u);
      out.emplace_back(s.metadata_key, usd ? static_cast<uint64_t>(std::llround(*usd * 1e6)) : 0);
      break;
    }
    case T::kCel: {
      CelVars vars;
      vars.model = in.model;
      vars.backend = in.backend;
      vars.route_name = in.route_name;
      vars.input_tokens = v(u.input);
      vars.cached_input_tokens = v(u.cached_input);
      vars.cache_creation_input_tokens = v(u.cache_creation_input);
      vars.output_tokens = v(u.output);
      vars.total_tokens = v(u.total);
      vars.reasoning_tokens = v(u.reasoning);
      auto r = s.cel->evaluate(vars);
      if (r)
        out.emplace_back(s.metadata_key, *r);
      else if (errors)
        errors->push_back(s.metadata_key + ": " + r.error().message);
      break;
    }
    }
  }
  return out;
}

} // namespace aigw::ratelimit
