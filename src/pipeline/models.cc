// The models list; see models.h.
#include "pipeline/models.h"

#include "core/json_scan.h"
#include "pipeline/routing.h"

#include <algorithm>
#include <ctime>

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

namespace {

// The tier of the catalog this host is served (the closest match any model has).
Tier best_tier(const control::Snapshot &snap, std::string_view host) {
  Tier best = Tier::kNone;
  for (const auto &m : snap.models)
    best = std::min(best, tier_of(m, host));
  return best;
}

void append_model(std::string &o, const control::ModelEntry &m) {
  o += "{\"id\":";
  json::append_quoted(o, m.id);
  o += ",\"created\":" + std::to_string(m.created) + ",\"object\":\"model\",\"owned_by\":";
  json::append_quoted(o, m.owned_by);
  o += '}';
}

} // namespace

std::string models_json(const control::Snapshot &snap, std::string_view host) {
  host = host_without_port(host);
  Tier best = best_tier(snap, host);
  std::string o = "{\"data\":[";
  bool first = true;
  for (const auto &m : snap.models) {
    if (best == Tier::kNone || tier_of(m, host) != best) continue;
    if (!first) o += ',';
    first = false;
    append_model(o, m);
  }
  o += "],\"object\":\"list\"}";
  return o;
}

std::string anthropic_models_json(const control::Snapshot &snap, std::string_view host) {
  host = host_without_port(host);
  Tier best = best_tier(snap, host);
  std::string o = "{\"data\":[";
  std::string_view first, last;
  for (const auto &m : snap.models) {
    if (best == Tier::kNone || tier_of(m, host) != best) continue;
    if (!first.empty()) o += ',';
    if (first.empty()) first = m.id;
    last = m.id;
    // RFC 3339, as Anthropic writes created_at.
    char when[32];
    std::time_t t = static_cast<std::time_t>(m.created);
    std::tm tm{};
    gmtime_r(&t, &tm);
    std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    o += "{\"type\":\"model\",\"id\":";
    json::append_quoted(o, m.id);
    o += ",\"display_name\":";
    json::append_quoted(o, m.id);
    o += ",\"created_at\":\"";
    o += when;
    o += "\"}";
  }
  o += "],\"has_more\":false,\"first_id\":";
  if (first.empty())
    o += "null";
  else
    json::append_quoted(o, first);
  o += ",\"last_id\":";
  if (last.empty())
    o += "null";
  else
    json::append_quoted(o, last);
  o += '}';
  return o;
}

std::optional<std::string> model_json(const control::Snapshot &snap, std::string_view host,
                                      std::string_view id) {
  host = host_without_port(host);
  Tier best = best_tier(snap, host);
  for (const auto &m : snap.models) {
    if (best == Tier::kNone || tier_of(m, host) != best || m.id != id) continue;
    std::string o;
    append_model(o, m);
    return o;
  }
  return std::nullopt;
}

std::string percent_decode(std::string_view s) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    int hi = 0, lo = 0;
    if (s[i] == '%' && i + 2 < s.size() && (hi = hex(s[i + 1])) >= 0 && (lo = hex(s[i + 2])) >= 0) {
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

} // namespace aigw::pipeline
