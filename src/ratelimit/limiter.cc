// Rate limit matching, admission and settlement; see limiter.h.
#include "ratelimit/limiter.h"

#include <algorithm>
#include <limits>

namespace aigw::ratelimit {
namespace {

int64_t unit_seconds(const std::string &unit) {
  if (unit == "Second") return 1;
  if (unit == "Minute") return 60;
  if (unit == "Hour") return 3600;
  return 86400;
}

uint64_t cost_of(const std::optional<api::RateLimitCost> &cost, const CostValues *costs,
                 uint64_t fallback) {
  if (!cost) return fallback;
  if (!cost->from_metadata) return cost->number;
  if (!costs) return 0;
  for (const auto &[k, v] : *costs)
    if (k == cost->metadata_key) return v;
  return 0; // the key was not computed (no usage): nothing to charge
}

} // namespace

Result<std::shared_ptr<const CompiledRateLimit>> compile_rate_limit(const api::RateLimitRule &rule,
                                                                    std::string id) {
  auto c = std::make_shared<CompiledRateLimit>();
  c->id = std::move(id);
  c->rule = rule;
  c->window_seconds = unit_seconds(rule.unit);
  for (const auto &group : rule.client_selectors) {
    std::vector<CompiledSelector> cg;
    for (const auto &h : group) {
      CompiledSelector cs{h, nullptr};
      if (h.type == api::RateLimitHeaderSelector::Type::kRegularExpression) {
        try {
          cs.re = std::make_shared<const std::regex>(h.value, std::regex::ECMAScript);
        } catch (const std::regex_error &e) {
          return Error::config("invalid regular expression \"" + h.value + "\": " + e.what());
        }
      }
      cg.push_back(std::move(cs));
    }
    c->selectors.push_back(std::move(cg));
  }
  return std::shared_ptr<const CompiledRateLimit>(std::move(c));
}

std::vector<Hit>
match_rate_limits(const std::vector<std::shared_ptr<const CompiledRateLimit>> &limits,
                  const pipeline::HeaderLookup &headers, int64_t now) {
  std::vector<Hit> hits;
  for (const auto &l : limits) {
    std::string descriptor;
    bool applies = true;
    for (const auto &group : l->selectors) {
      for (const auto &s : group) {
        auto v = headers(s.spec.name);
        using T = api::RateLimitHeaderSelector::Type;
        if (s.spec.type == T::kDistinct) {
          if (!v) {
            applies = false;
            break;
          }
          descriptor += '|';
          descriptor += s.spec.name;
          descriptor += '=';
          descriptor += *v;
          continue;
        }
        bool holds =
            v && (s.spec.type == T::kExact ? *v == s.spec.value
                                           : std::regex_match(v->begin(), v->end(), *s.re));
        if (s.spec.invert) holds = v.has_value() && !holds;
        if (!holds) {
          applies = false;
          break;
        }
      }
      if (!applies) break;
    }
    if (!applies) continue;
    int64_t start = now - now % l->window_seconds;
    Hit h;
    h.limit = l.get();
    h.key = l->id + descriptor + "|" + std::to_string(start);
    h.window_end = start + l->window_seconds;
    hits.push_back(std::move(h));
  }
  return hits;
}

Verdict decide(std::vector<Hit> &hits, const std::vector<uint64_t> &used_all, int64_t now,
               const CostValues *estimate, std::vector<uint64_t> *add, bool any_allows) {
  Verdict v;
  if (add) add->assign(hits.size(), 0);
  if (hits.empty()) return v;
  v.limited = true;
  uint64_t best_remaining = std::numeric_limits<uint64_t>::max();
  bool any_open = false, any_enforced = false;
  for (size_t i = 0; i < hits.size(); ++i) {
    const auto &rule = hits[i].limit->rule;
    uint64_t used = i < used_all.size() ? used_all[i] : 0;
    uint64_t request_cost = cost_of(rule.request_cost, nullptr, 1);
    // Reserving buckets hold the outstanding reservations in `used`: any budget left admits.
    bool over = rule.reserve_then_settle ? used >= rule.limit || used + request_cost > rule.limit
                                         : used + request_cost > rule.limit;
    uint64_t remaining = used >= rule.limit ? 0 : rule.limit - used;
    if (remaining < best_remaining || (over && !rule.shadow_mode)) {
      best_remaining = remaining;
      v.limit = rule.limit;
      v.remaining = remaining;
      v.reset_seconds = hits[i].window_end - now;
    }
    if (over && !rule.shadow_mode) {
      if (v.allowed) v.refused_by = hits[i].limit;
      v.allowed = false;
    }
    if (!rule.shadow_mode) {
      any_enforced = true;
      any_open |= !over;
    }
  }
  if (any_allows) v.allowed = any_open || !any_enforced;
  if (!v.allowed) {
    v.remaining = 0;
    return v;
  }
  for (size_t i = 0; i < hits.size(); ++i) {
    auto &h = hits[i];
    uint64_t request_cost = cost_of(h.limit->rule.request_cost, nullptr, 1);
    if (h.limit->rule.reserve_then_settle && estimate)
      h.reserved = cost_of(h.limit->rule.response_cost, estimate, 0);
    if (add) (*add)[i] = request_cost + h.reserved;
  }
  return v;
}

uint64_t request_cost_of(const Hit &h) { return cost_of(h.limit->rule.request_cost, nullptr, 1); }

uint64_t reservation_of(const Hit &h, const CostValues *estimate) {
  if (!h.limit->rule.reserve_then_settle || !estimate) return 0;
  return cost_of(h.limit->rule.response_cost, estimate, 0);
}

Verdict admit(MemoryStore &store, std::vector<Hit> &hits, int64_t now, const CostValues *estimate,
              bool any_allows) {
  std::vector<uint64_t> used;
  used.reserve(hits.size());
  for (const auto &h : hits)
    used.push_back(store.used(h.key));
  std::vector<uint64_t> add;
  Verdict v = decide(hits, used, now, estimate, &add, any_allows);
  if (v.allowed)
    for (size_t i = 0; i < hits.size(); ++i)
      if (add[i] > 0) store.add(hits[i].key, add[i], hits[i].window_end, now);
  return v;
}

int64_t settlement_delta(const Hit &h, const CostValues *costs) {
  uint64_t cost = costs ? cost_of(h.limit->rule.response_cost, costs, 0) : 0;
  return static_cast<int64_t>(cost) - static_cast<int64_t>(h.reserved);
}

void refund(MemoryStore &store, const std::vector<Hit> &hits, int64_t now) {
  for (const auto &h : hits) {
    int64_t delta = settlement_delta(h, nullptr);
    if (delta != 0) store.adjust(h.key, delta, h.window_end, now);
  }
}

api::TokenUsage estimate_usage(size_t body_bytes, std::optional<uint64_t> max_tokens,
                               uint64_t default_output) {
  api::TokenUsage u;
  u.input = body_bytes / 4 + 1;
  u.output = max_tokens.value_or(default_output);
  u.total = *u.input + *u.output;
  return u;
}

void settle(MemoryStore &store, const std::vector<Hit> &hits, const CostValues &costs,
            int64_t now) {
  for (const auto &h : hits) {
    int64_t delta = settlement_delta(h, &costs);
    if (delta != 0) store.adjust(h.key, delta, h.window_end, now);
  }
}

} // namespace aigw::ratelimit
