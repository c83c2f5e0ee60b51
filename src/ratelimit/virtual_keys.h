// Virtual keys compiled: per client id, the models it may ask for, when it expires, and its
// budgets as buckets of the rate limit store (memory or Redis, so replicas share them) over
// calendar windows in the key's time zone. Requests count at admission; tokens and dollars are
// charged when the response completes, from the two costs below.
#pragma once

#include "api/resources.h"
#include "core/timezone.h"
#include "ratelimit/limiter.h"

#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace aigw::ratelimit {

// The cost keys a key's token and dollar budgets are settled from (computed by the exchange).
inline constexpr std::string_view kKeyTokensCost = "aigw.key.total_tokens";
inline constexpr std::string_view kKeyDollarsCost = "aigw.key.cost"; // micro-dollars

struct CompiledVirtualKey {
  std::string key; // namespace/name of the VirtualKey
  std::string client_id;
  std::vector<std::string> allowed_models;
  std::optional<int64_t> expires_at;
  std::shared_ptr<const TimeZone> tz;
  struct Budget {
    api::VirtualKeyBudget spec;
    CalendarWindow window = CalendarWindow::kDay;
    std::shared_ptr<const CompiledRateLimit> limit; // id "key|ns/name|i"
  };
  std::vector<Budget> budgets;

  bool allows_model(std::string_view model) const;
  bool expired(int64_t now) const { return expires_at && now >= *expires_at; }
  // This request's buckets, one per budget, in the windows `now` falls in.
  std::vector<Hit> hits(int64_t now) const;
  // The budget a bucket of this key belongs to, or null.
  const Budget *budget_of(const CompiledRateLimit *limit) const;
};

using VirtualKeys = std::unordered_map<std::string, std::shared_ptr<const CompiledVirtualKey>>;

// By client id; problems (two keys for one client, a bad time zone) go to `diag`.
VirtualKeys compile_virtual_keys(const std::vector<api::VirtualKey> &keys, api::Diagnostics &diag);

// "$5.00", "$0.012500": micro-dollars as dollars (cents, or six decimals when finer).
std::string format_dollars(uint64_t micro);

} // namespace aigw::ratelimit
