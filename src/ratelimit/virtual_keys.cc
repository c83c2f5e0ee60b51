// Virtual keys; see virtual_keys.h.
#include "ratelimit/virtual_keys.h"

#include <cstdio>

namespace aigw::ratelimit {

bool CompiledVirtualKey::allows_model(std::string_view model) const {
  if (allowed_models.empty()) return true;
  for (const auto &m : allowed_models) {
    if (!m.empty() && m.back() == '*') {
      if (model.starts_with(std::string_view(m).substr(0, m.size() - 1))) return true;
    } else if (model == m) {
      return true;
    }
  }
  return false;
}

std::vector<Hit> CompiledVirtualKey::hits(int64_t now) const {
  std::vector<Hit> out;
  out.reserve(budgets.size());
  for (const auto &b : budgets) {
    auto w = calendar_window(*tz, b.window, now);
    Hit h;
    h.limit = b.limit.get();
    h.key = b.limit->id + "|" + std::to_string(w.start);
    h.window_end = w.end;
    out.push_back(std::move(h));
  }
  return out;
}

const CompiledVirtualKey::Budget *CompiledVirtualKey::budget_of(const CompiledRateLimit *l) const {
  for (const auto &b : budgets)
    if (b.limit.get() == l) return &b;
  return nullptr;
}

VirtualKeys compile_virtual_keys(const std::vector<api::VirtualKey> &keys, api::Diagnostics &diag) {
  VirtualKeys out;
  std::unordered_map<std::string, std::string> owner; // client id → key
  for (const auto &k : keys) {
    std::string where = "VirtualKey " + k.meta.key();
    if (k.client_id.empty()) continue; // reported when decoded
    if (auto [it, fresh] = owner.emplace(k.client_id, k.meta.key()); !fresh) {
      diag.error(where + ": spec.clientID: client \"" + k.client_id + "\" already has VirtualKey " +
                 it->second);
      continue;
    }
    auto c = std::make_shared<CompiledVirtualKey>();
    c->key = k.meta.key();
    c->client_id = k.client_id;
    c->allowed_models = k.allowed_models;
    c->expires_at = k.expires_at;
    auto tz = TimeZone::load(k.time_zone);
    if (!tz) {
      diag.error(where + ": spec.timeZone: " + tz.error().message);
      continue;
    }
    c->tz = *tz;
    for (size_t i = 0; i < k.budgets.size(); ++i) {
      const auto &b = k.budgets[i];
      CompiledVirtualKey::Budget cb;
      cb.spec = b;
      using W = CalendarWindow;
      cb.window = b.window == "Minute"  ? W::kMinute
                  : b.window == "Hour"  ? W::kHour
                  : b.window == "Week"  ? W::kWeek
                  : b.window == "Month" ? W::kMonth
                                        : W::kDay;
      api::RateLimitRule rule;
      rule.limit = b.limit;
      rule.unit = b.window;
      using K = api::VirtualKeyBudget::Kind;
      // Requests count one each at admission; tokens and dollars are charged at completion.
      rule.request_cost = api::RateLimitCost{false, b.kind == K::kRequests ? 1u : 0u, ""};
      if (b.kind == K::kRequests)
        rule.response_cost = api::RateLimitCost{false, 0, ""};
      else
        rule.response_cost = api::RateLimitCost{
            true, 0, std::string(b.kind == K::kTokens ? kKeyTokensCost : kKeyDollarsCost)};
      auto limit = std::make_shared<CompiledRateLimit>();
      limit->id = "key|" + k.meta.key() + "|" + std::to_string(i);
      limit->rule = std::move(rule);
      cb.limit = std::move(limit);
      c->budgets.push_back(std::move(cb));
    }
    out.emplace(k.client_id, std::move(c));
  }
  return out;
}

std::string format_dollars(uint64_t micro) {
  char buf[48];
  if (micro % 10'000 == 0)
    std::snprintf(buf, sizeof buf, "$%llu.%02llu",
                  static_cast<unsigned long long>(micro / 1'000'000),
                  static_cast<unsigned long long>(micro / 10'000 % 100));
  else
    std::snprintf(buf, sizeof buf, "$%llu.%06llu",
                  static_cast<unsigned long long>(micro / 1'000'000),
                  static_cast<unsigned long long>(micro % 1'000'000));
  return buf;
}

} // namespace aigw::ratelimit
