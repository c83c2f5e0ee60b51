// The admin dashboard's data (GET /dashboard/data, docs/dashboard.md): the routes and their
// backends with health, the Board's traffic and spend, and the VirtualKeys' budgets left, as one
// JSON object the page (dashboard_assets) renders.
#pragma once

#include "control/snapshot.h"
#include "observability/board.h"
#include "ratelimit/memory_store.h"

#include <string>

namespace aigw::proxy {

// `budgets`: the store the keys' budgets are kept in, when it is this process's memory (null:
// they are in Redis and not read here).
std::string dashboard_data(const control::Snapshot &snap, const observability::Board &board,
                           const ratelimit::MemoryStore *budgets, int64_t now);

} // namespace aigw::proxy
