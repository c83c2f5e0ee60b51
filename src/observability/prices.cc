// The price catalog; see prices.h.
#include "observability/prices.h"

#include <simdjson.h>

#include <algorithm>

namespace aigw::observability {
namespace {

struct Bundled {
  const char *model;
  ModelPrice price;
};

// List prices in USD per million tokens (input, cached input, cache write, output). Contracts
// differ: override with --price-catalog.
constexpr Bundled kBundled[] = {
    {"gpt-5", {1.25, 0.125, 0, 10}},
    {"gpt-5-mini", {0.25, 0.025, 0, 2}},
    {"gpt-5-nano", {0.05, 0.005, 0, 0.40}},
    {"gpt-4.1", {2, 0.50, 0, 8}},
    {"gpt-4.1-mini", {0.40, 0.10, 0, 1.60}},
    {"gpt-4.1-nano", {0.10, 0.025, 0, 0.40}},
    {"gpt-4o", {2.50, 1.25, 0, 10}},
    {"gpt-4o-mini", {0.15, 0.075, 0, 0.60}},
    {"gpt-4-turbo", {10, 0, 0, 30}},
    {"gpt-3.5-turbo", {0.50, 0, 0, 1.50}},
    {"o1", {15, 7.50, 0, 60}},
    {"o1-mini", {1.10, 0.55, 0, 4.40}},
    {"o3", {2, 0.50, 0, 8}},
    {"o3-mini", {1.10, 0.55, 0, 4.40}},
    {"o4-mini", {1.10, 0.275, 0, 4.40}},
    {"text-embedding-3-small", {0.02, 0, 0, 0}},
    {"text-embedding-3-large", {0.13, 0, 0, 0}},
    {"text-embedding-ada-002", {0.10, 0, 0, 0}},
    {"claude-opus-4-5", {5, 0.50, 6.25, 25}},
    {"claude-opus-4-1", {15, 1.50, 18.75, 75}},
    {"claude-opus-4", {15, 1.50, 18.75, 75}},
    {"claude-sonnet-4-5", {3, 0.30, 3.75, 15}},
    {"claude-sonnet-4", {3, 0.30, 3.75, 15}},
    {"claude-3-7-sonnet", {3, 0.30, 3.75, 15}},
    {"claude-3-5-sonnet", {3, 0.30, 3.75, 15}},
    {"claude-haiku-4-5", {1, 0.10, 1.25, 5}},
    {"claude-3-5-haiku", {0.80, 0.08, 1, 4}},
    {"claude-3-haiku", {0.25, 0.03, 0.30, 1.25}},
    {"claude-3-opus", {15, 1.50, 18.75, 75}},
    {"gemini-2.5-pro", {1.25, 0.31, 0, 10}},
    {"gemini-2.5-flash", {0.30, 0.075, 0, 2.50}},
    {"gemini-2.5-flash-lite", {0.10, 0.025, 0, 0.40}},
    {"gemini-2.0-flash", {0.10, 0.025, 0, 0.40}},
    {"gemini-2.0-flash-lite", {0.075, 0, 0, 0.30}},
    {"gemini-1.5-pro", {1.25, 0.3125, 0, 5}},
    {"gemini-1.5-flash", {0.075, 0.01875, 0, 0.30}},
    {"amazon.nova-micro", {0.035, 0.00875, 0, 0.14}},
    {"amazon.nova-lite", {0.06, 0.015, 0, 0.24}},
    {"amazon.nova-pro", {0.80, 0.20, 0, 3.20}},
    {"command-r-plus", {2.50, 0, 0, 10}},
    {"command-r", {0.15, 0, 0, 0.60}},
    {"command-a", {2.50, 0, 0, 10}},
};

} // namespace

PriceCatalog::PriceCatalog() {
  for (const auto &b : kBundled)
    prices_.emplace(b.model, b.price);
}

Result<size_t> PriceCatalog::merge_json(std::string_view json) {
  simdjson::dom::parser parser;
  simdjson::dom::object models;
  if (parser.parse(json.data(), json.size()).get(models))
    return Error::config("the price catalog is not a JSON object of models");
  size_t n = 0;
  for (auto [model, v] : models) {
    simdjson::dom::object o;
    std::string where = "model \"" + std::string(model) + "\"";
    if (v.get_object().get(o)) return Error::config(where + ": must be an object of prices");
    ModelPrice p;
    if (auto it = prices_.find(model); it != prices_.end()) p = it->second; // fields override
    for (auto [field, price] : o) {
      double d = 0;
      if (price.get_double().get(d) || d < 0 || d > 1e6)
        return Error::config(where + "." + std::string(field) +
                             ": must be a non-negative number (USD per million tokens)");
      if (field == "input")
        p.input = d;
      else if (field == "cachedInput")
        p.cached_input = d;
      else if (field == "cacheWrite")
        p.cache_write = d;
      else if (field == "output")
        p.output = d;
      else if (field == "reasoning")
        p.reasoning = d;
      else
        return Error::config(where + ": unknown field \"" + std::string(field) +
                             "\" (input, cachedInput, cacheWrite, output, reasoning)");
    }
    prices_[std::string(model)] = p;
    ++n;
  }
  return n;
}

const ModelPrice *PriceCatalog::find(std::string_view model) const {
  for (size_t from = 0; from < model.size();) {
    std::string_view name = model.substr(from);
    if (auto it = prices_.find(name); it != prices_.end()) return &it->second;
    // The longest catalog name `name` starts with.
    const ModelPrice *best = nullptr;
    size_t best_len = 0;
    auto it = prices_.upper_bound(name);
    while (it != prices_.begin()) {
      --it;
      if (it->first.empty() || it->first[0] != name[0]) break;
      if (name.starts_with(it->first) && it->first.size() > best_len) {
        best = &it->second;
        best_len = it->first.size();
      }
    }
    if (best) return best;
    auto next = model.find_first_of("./", from);
    if (next == std::string_view::npos) break;
    from = next + 1;
  }
  return nullptr;
}

PriceCatalog &process_prices() {
  static PriceCatalog catalog;
  return catalog;
}

std::optional<double> PriceCatalog::cost(std::string_view model, const api::TokenUsage &u) const {
  const ModelPrice *p = find(model);
  if (!p) return std::nullopt;
  // Input counts every prompt token (cache reads and writes included, as usage is normalised).
  double input = static_cast<double>(u.input.value_or(0));
  double cached = static_cast<double>(u.cached_input.value_or(0));
  double written = static_cast<double>(u.cache_creation_input.value_or(0));
  double plain = std::max(0.0, input - cached - written);
  double output = static_cast<double>(u.output.value_or(0));
  double reasoning = static_cast<double>(u.reasoning.value_or(0));
  double usd = plain * p->input + cached * (p->cached_input ? p->cached_input : p->input) +
               written * (p->cache_write ? p->cache_write : p->input);
  if (p->reasoning && reasoning <= output)
    usd += (output - reasoning) * p->output + reasoning * p->reasoning;
  else
    usd += output * p->output;
  return usd / 1e6;
}

} // namespace aigw::observability
