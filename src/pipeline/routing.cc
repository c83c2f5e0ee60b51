// Rule selection and backend choice; see routing.h.
#include "pipeline/routing.h"

#include "pipeline/headers.h"

#include <algorithm>
#include <limits>

namespace aigw::pipeline {
namespace {

bool header_holds(const control::CompiledHeaderMatch &m, const HeaderLookup &headers) {
  auto v = headers(m.name);
  if (!v) return false;
  if (!m.regex) return *v == m.value;
  if (m.match_all) return true;
  return m.re && std::regex_match(v->begin(), v->end(), *m.re);
}

} // namespace

std::string_view host_without_port(std::string_view host) {
  if (!host.empty() && host.front() == '[') {
    auto close = host.find(']');
    return close == std::string_view::npos ? host : host.substr(0, close + 1);
  }
  auto colon = host.rfind(':');
  return colon == std::string_view::npos ? host : host.substr(0, colon);
}

bool host_matches(const std::vector<std::string> &hostnames, std::string_view host) {
  if (hostnames.empty()) return true;
  host = host_without_port(host);
  for (const auto &h : hostnames) {
    if (h.starts_with("*.")) {
      std::string_view suffix = std::string_view(h).substr(1); // ".example.com"
      if (host.size() > suffix.size() &&
          iequals(host.substr(host.size() - suffix.size()), suffix)) {
        std::string_view label = host.substr(0, host.size() - suffix.size());
        if (label.find('.') == std::string_view::npos) return true;
      }
    } else if (iequals(h, host)) {
      return true;
    }
  }
  return false;
}

const control::CompiledRule *select_rule(const control::Snapshot &snap, const HeaderLookup &headers,
                                         std::string_view host) {
  for (const auto &rule : snap.rules) {
    if (!host_matches(snap.routes[rule.route_index].hostnames, host)) continue;
    if (rule.matches.empty()) return &rule;
    for (const auto &group : rule.matches) {
      if (std::all_of(group.begin(), group.end(),
                      [&](const auto &m) { return header_holds(m, headers); }))
        return &rule;
    }
  }
  return nullptr;
}

BackendPicker::BackendPicker(const control::CompiledRule &rule, uint64_t seed)
    : rule_(rule), tried_(rule.refs.size(), false), state_(seed | 1) {}

const control::CompiledBackendRef *BackendPicker::next(uint32_t attempts_per_priority) {
  // Priorities still holding untried refs.
  uint32_t lowest = std::numeric_limits<uint32_t>::max();
  for (size_t i = 0; i < rule_.refs.size(); ++i)
    if (!tried_[i]) lowest = std::min(lowest, rule_.refs[i].priority);
  if (lowest == std::numeric_limits<uint32_t>::max()) {
    // Every ref was tried: further retries stay at the priority reached (the last fallback),
    // never going back to backends that already failed at a higher priority.
    if (rule_.refs.empty() || !started_) return nullptr;
    for (size_t i = 0; i < rule_.refs.size(); ++i)
      if (rule_.refs[i].priority == current_priority_) tried_[i] = false;
    lowest = current_priority_;
    attempts_at_priority_ = 0;
  }
  if (!started_ || lowest > current_priority_) {
    current_priority_ = lowest;
    attempts_at_priority_ = 0;
    started_ = true;
  } else if (attempts_per_priority > 0 && attempts_at_priority_ >= attempts_per_priority) {
    // Skip what is left of this priority.
    uint32_t next_priority = std::numeric_limits<uint32_t>::max();
    for (size_t i = 0; i < rule_.refs.size(); ++i)
      if (!tried_[i] && rule_.refs[i].priority > current_priority_)
        next_priority = std::min(next_priority, rule_.refs[i].priority);
    if (next_priority != std::numeric_limits<uint32_t>::max()) {
      current_priority_ = next_priority;
      attempts_at_priority_ = 0;
    }
  }
  uint64_t total = 0;
  for (size_t i = 0; i < rule_.refs.size(); ++i)
    if (!tried_[i] && rule_.refs[i].priority == current_priority_) total += rule_.refs[i].weight;
  if (total == 0) return nullptr;
  // xorshift64*: cheap, good enough for weighted choice.
  state_ ^= state_ >> 12;
  state_ ^= state_ << 25;
  state_ ^= state_ >> 27;
  uint64_t r = (state_ * 2685821657736338717ULL) % total;
  for (size_t i = 0; i < rule_.refs.size(); ++i) {
    const auto &ref = rule_.refs[i];
    if (tried_[i] || ref.priority != current_priority_) continue;
    if (r < ref.weight) {
      tried_[i] = true;
      ++attempts_at_priority_;
      return &ref;
    }
    r -= ref.weight;
  }
  return nullptr;
}

} // namespace aigw::pipeline
