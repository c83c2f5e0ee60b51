#include "proxy/dashboard.h"

#include "control/backend_state.h"
#include "core/json_scan.h"
#include "ratelimit/virtual_keys.h"

#include <algorithm>
#include <charconv>
#include <set>

namespace aigw::proxy {
namespace {

void append_number(std::string &o, double v) {
  char buf[40];
  auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed, 6);
  std::string_view s(buf, static_cast<size_t>(r.ptr - buf));
  while (s.size() > 1 && s.back() == '0')
    s.remove_suffix(1);
  if (s.back() == '.') s.remove_suffix(1);
  o.append(s);
}

void routes_json(std::string &o, const control::Snapshot &snap) {
  int64_t now_ms = control::steady_ms();
  o += "\"routes\":[";
  for (size_t ri = 0; ri < snap.routes.size(); ++ri) {
    const auto &route = snap.routes[ri];
    if (route.key.empty()) continue; // (behind Envoy: the global costs' entry)
    if (o.back() != '[') o += ',';
    o += "{\"name\":";
    json::append_quoted(o, route.key);
    o += ",\"backends\":[";
    std::set<std::string> seen;
    for (const auto &rule : snap.rules) {
      if (rule.route_index != ri) continue;
      for (const auto &ref : rule.refs) {
        const auto &b = *ref.backend;
        if (!seen.insert(b.key).second) continue;
        bool ejected = b.state && b.state->ejected_until_ms.load() > now_ms;
        bool cooling = b.state && b.state->cooldown_until_ms.load() > now_ms;
        if (o.back() != '[') o += ',';
        o += "{\"name\":";
        json::append_quoted(o, b.key);
        o += ",\"schema\":";
        json::append_quoted(o, b.schema);
        o += ejected || cooling ? ",\"healthy\":false" : ",\"healthy\":true";
        o += ejected ? ",\"ejected\":true" : ",\"ejected\":false";
        o += cooling ? ",\"cooling_down\":true" : ",\"cooling_down\":false";
        o += ",\"in_flight\":" + std::to_string(b.state ? b.state->in_flight.load() : 0);
        o += ",\"latency_ewma_ms\":";
        append_number(o, b.state ? static_cast<double>(b.state->ewma_us.load()) / 1000.0 : 0.0);
        o += '}';
      }
    }
    o += "]}";
  }
  o += ']';
}

void budgets_json(std::string &o, const control::Snapshot &snap, const BudgetUse &use,
                  int64_t now) {
  using K = api::VirtualKeyBudget::Kind;
  struct Row {
    const ratelimit::CompiledVirtualKey *key;
    const ratelimit::CompiledVirtualKey::Budget *budget;
    int64_t window_end;
  };
  std::vector<const ratelimit::CompiledVirtualKey *> keys;
  for (const auto &[id, k] : snap.virtual_keys)
    keys.push_back(k.get());
  std::sort(keys.begin(), keys.end(), [](auto *a, auto *b) { return a->key < b->key; });
  std::vector<Row> rows;
  std::vector<std::string> windows;
  for (const auto *k : keys) {
    auto hits = k->hits(now);
    for (size_t i = 0; i < k->budgets.size() && i < hits.size(); ++i) {
      rows.push_back({k, &k->budgets[i], hits[i].window_end});
      windows.push_back(std::move(hits[i].key));
    }
  }
  auto used = use ? use(windows) : std::vector<std::optional<uint64_t>>();
  used.resize(rows.size()); // a reader that answered fewer: the rest unknown
  o += "\"budgets\":[";
  for (size_t r = 0; r < rows.size(); ++r) {
    const auto &b = *rows[r].budget;
    double scale = b.spec.kind == K::kDollars ? 1e6 : 1.0;
    const std::optional<uint64_t> &u = used[r];
    if (o.back() != '[') o += ',';
    o += "{\"key\":";
    json::append_quoted(o, rows[r].key->key);
    o += ",\"window\":";
    json::append_quoted(o, b.spec.window);
    o += b.spec.kind == K::kDollars  ? ",\"unit\":\"dollars\""
         : b.spec.kind == K::kTokens ? ",\"unit\":\"tokens\""
                                     : ",\"unit\":\"requests\"";
    o += ",\"limit\":";
    append_number(o, static_cast<double>(b.spec.limit) / scale);
    o += ",\"used\":";
    if (u)
      append_number(o, static_cast<double>(*u) / scale);
    else
      o += "null"; // the store could not be read
    o += ",\"remaining\":";
    if (u)
      append_number(o, static_cast<double>(b.spec.limit - std::min(*u, b.spec.limit)) / scale);
    else
      o += "null";
    o += ",\"resets_at\":" + std::to_string(rows[r].window_end) + '}';
  }
  o += ']';
}

} // namespace

BudgetUse memory_budget_use(const ratelimit::MemoryStore &store) {
  return [&store](const std::vector<std::string> &keys) {
    std::vector<std::optional<uint64_t>> out;
    out.reserve(keys.size());
    for (const auto &k : keys)
      out.emplace_back(store.used(k));
    return out;
  };
}

std::string dashboard_data(const control::Snapshot &snap, const observability::Board &board,
                           const BudgetUse &use, int64_t now) {
  std::string o = "{\"now\":" + std::to_string(now) +
                  ",\"generation\":" + std::to_string(snap.generation) + ',';
  routes_json(o, snap);
  o += ',';
  o += board.json_members(now);
  o += ',';
  budgets_json(o, snap, use, now);
  o += '}';
  return o;
}

} // namespace aigw::proxy
