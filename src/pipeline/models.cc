// The models list; see models.h.
#include "pipeline/models.h"

#include "core/json_scan.h"
#include "pipeline/routing.h"

#include <algorithm>

namespace aigw::pipeline {
namespace {

enum class Tier { kExact, kWildcard, kUnscoped, kNone };

// How a model's hostnames relate to `host`: upstream serves the exact-host catalog if there is
// one, else the wildcard one, else the models of routes without hostnames.
Tier tier_of(const control::ModelEntry &m, std::string_view host) {
  if (m.hostnames.empty()) return Tier::kUnscoped;
  bool wildcard = false;
  for (const auto &h : m.hostnames) {
    if (!host_matches({h}, host)) continue;
    if (!h.starts_with("*.")) return Tier::kExact;
    wildcard = true;
  }
  return wildcard ? Tier::kWildcard : Tier::kNone;
}

} // namespace

std::string models_json(const control::Snapshot &snap, std::string_view host) {
  host = host_without_port(host);
  Tier best = Tier::kNone;
  for (const auto &m : snap.models)
    best = std::min(best, tier_of(m, host));
  std::string o = "{\"data\":[";
  bool first = true;
  for (const auto &m : snap.models) {
    if (best == Tier::kNone || tier_of(m, host) != best) continue;
    if (!first) o += ',';
    first = false;
    o += "{\"id\":";
    json::append_quoted(o, m.id);
    o += ",\"created\":" + std::to_string(m.created) + ",\"object\":\"model\",\"owned_by\":";
    json::append_quoted(o, m.owned_by);
    o += '}';
  }
  o += "],\"object\":\"list\"}";
  return o;
}

} // namespace aigw::pipeline
