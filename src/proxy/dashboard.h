// The admin dashboard's data (GET /dashboard/data, docs/dashboard.md): the routes and their
// backends with health, the Board's traffic and spend, and the VirtualKeys' budgets left, as one
// JSON object the page (dashboard_assets) renders.
#pragma once

#include "control/snapshot.h"
#include "observability/board.h"
#include "ratelimit/memory_store.h"

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace aigw::proxy {

// What the budget windows `keys` (the store's keys) have used, one count per key; nullopt where
// the store could not say.
using BudgetUse =
    std::function<std::vector<std::optional<uint64_t>>(const std::vector<std::string> &keys)>;
BudgetUse memory_budget_use(const ratelimit::MemoryStore &store);

// `use`: where the keys' budgets are kept (this process's memory, or Redis).
std::string dashboard_data(const control::Snapshot &snap, const observability::Board &board,
                           const BudgetUse &use, int64_t now);

} // namespace aigw::proxy
