// Rule selection and backend choice; see routing.h.
#include "pipeline/routing.h"

#include "pipeline/headers.h"

#include <algorithm>
#include <array>
#include <cmath>
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

BackendPicker::BackendPicker(const control::CompiledRule &rule, uint64_t seed,
                             std::optional<std::string> hash_key)
    : rule_(rule), tried_(rule.refs.size(), false), state_(seed | 1),
      hash_key_(std::move(hash_key)) {}

uint64_t BackendPicker::random() {
  // xorshift64*: cheap, good enough for weighted choice.
  state_ ^= state_ >> 12;
  state_ ^= state_ << 25;
  state_ ^= state_ >> 27;
  return state_ * 2685821657736338717ULL;
}

BackendPicker::Health BackendPicker::health(size_t i, int64_t now_ms) const {
  const auto *st = rule_.refs[i].backend->state.get();
  if (!st) return Health::kGood;
  if (rule_.circuit_breaker &&
      st->in_flight.load(std::memory_order_relaxed) >=
          static_cast<int64_t>(rule_.circuit_breaker->max_parallel_requests))
    return Health::kFull;
  if (st->ejected_until_ms.load(std::memory_order_relaxed) > now_ms ||
      st->cooldown_until_ms.load(std::memory_order_relaxed) > now_ms)
    return Health::kResting;
  if (st->remaining_until_ms.load(std::memory_order_relaxed) > now_ms &&
      st->remaining_permille.load(std::memory_order_relaxed) < 100)
    return Health::kLowQuota;
  return Health::kGood;
}

namespace {
uint64_t mix(uint64_t h) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return h;
}
} // namespace

// One of `candidates` (indexes into the rule's refs, all usable) by the load balancer.
size_t BackendPicker::choose(std::span<const size_t> c) {
  using LB = api::LoadBalancerPolicy::Type;
  auto type = rule_.load_balancer ? rule_.load_balancer->type : LB::kRandom;
  const auto &refs = rule_.refs;
  uint64_t total = 0;
  for (size_t i : c)
    total += refs[i].weight;
  auto weighted = [&](uint64_t r) {
    for (size_t i : c) {
      if (r < refs[i].weight) return i;
      r -= refs[i].weight;
    }
    return c.back();
  };
  if (c.size() == 1) return c.front();
  switch (type) {
  case LB::kRoundRobin:
    return weighted(rule_.round_robin->fetch_add(1, std::memory_order_relaxed) % total);
  case LB::kConsistentHash: {
    if (!hash_key_) break; // nothing to hash: any backend will do
    // Rendezvous hashing, weighted: a key stays on its backend while that backend is there.
    uint64_t key = std::hash<std::string>{}(*hash_key_);
    double best = -1;
    size_t pick = c.front();
    for (size_t i : c) {
      uint64_t h = mix(key ^ mix(std::hash<std::string>{}(refs[i].per_rule_name)));
      double u = (static_cast<double>(h >> 11) + 0.5) / 9007199254740992.0; // (0, 1)
      double score = -static_cast<double>(refs[i].weight) / std::log(u);
      if (score > best) best = score, pick = i;
    }
    return pick;
  }
  case LB::kLeastRequest:
  case LB::kPeakEWMA: {
    // Power of two choices (weighted draws), the lighter one wins.
    size_t a = weighted(random() % total), b = weighted(random() % total);
    if (a == b) return a;
    auto cost = [&](size_t i) {
      const auto *st = refs[i].backend->state.get();
      double load = st ? static_cast<double>(st->in_flight.load(std::memory_order_relaxed)) : 0;
      double w = refs[i].weight ? refs[i].weight : 1;
      if (type == LB::kLeastRequest) return (load + 1) / w;
      double lat = st ? static_cast<double>(st->ewma_us.load(std::memory_order_relaxed)) : 0;
      return (lat + 1) * (load + 1) / w;
    };
    return cost(a) <= cost(b) ? a : b;
  }
  case LB::kRandom: break;
  }
  return weighted(random() % total);
}

const control::CompiledBackendRef *BackendPicker::next(uint32_t attempts_per_priority) {
  overflowed_ = false;
  const auto &refs = rule_.refs;
  int64_t now = control::steady_ms();
  // A rule has at most 128 refs (upstream's MaxItems): the picks' scratch stays on the stack.
  constexpr size_t kStack = 128;
  std::array<Health, kStack> h_stack;
  std::array<size_t, kStack> c_stack;
  std::vector<Health> h_heap;
  std::vector<size_t> c_heap;
  if (refs.size() > kStack) {
    h_heap.resize(refs.size());
    c_heap.resize(refs.size());
  }
  Health *h = refs.size() > kStack ? h_heap.data() : h_stack.data();
  size_t *c = refs.size() > kStack ? c_heap.data() : c_stack.data();
  size_t nc = 0;
  for (size_t i = 0; i < refs.size(); ++i)
    h[i] = health(i, now);
  // Priorities still holding untried refs that can serve (a good one if any, else any that is
  // not full: ejected and cooling backends beat no answer).
  auto lowest_with = [&](auto usable) {
    uint32_t lowest = std::numeric_limits<uint32_t>::max();
    for (size_t i = 0; i < refs.size(); ++i)
      if (!tried_[i] && refs[i].weight > 0 && usable(h[i]))
        lowest = std::min(lowest, refs[i].priority);
    return lowest;
  };
  constexpr uint32_t kNone = std::numeric_limits<uint32_t>::max();
  auto serves = [](Health x) { return x == Health::kGood || x == Health::kLowQuota; };
  auto not_full = [](Health x) { return x != Health::kFull; };
  bool panic = false;
  uint32_t lowest = lowest_with(serves);
  if (lowest == kNone) {
    lowest = lowest_with(not_full);
    panic = lowest != kNone;
  }
  if (lowest == kNone) {
    bool untried = false, full = false;
    for (size_t i = 0; i < refs.size(); ++i) {
      if (!tried_[i] && refs[i].weight > 0) untried = true;
      if (h[i] == Health::kFull) full = true;
    }
    if (untried || (!started_ && full)) { // every backend left is at its limit
      overflowed_ = true;
      return nullptr;
    }
    // Every ref was tried: further retries stay at the priority reached (the last fallback),
    // never going back to backends that already failed at a higher priority.
    if (refs.empty() || !started_) return nullptr;
    for (size_t i = 0; i < refs.size(); ++i)
      if (refs[i].priority == current_priority_) tried_[i] = false;
    lowest = current_priority_;
    attempts_at_priority_ = 0;
    panic = true;
  }
  if (!started_ || lowest > current_priority_) {
    current_priority_ = lowest;
    attempts_at_priority_ = 0;
    started_ = true;
  } else if (attempts_per_priority > 0 && attempts_at_priority_ >= attempts_per_priority) {
    // Skip what is left of this priority.
    uint32_t next_priority = kNone;
    for (size_t i = 0; i < refs.size(); ++i)
      if (!tried_[i] && refs[i].priority > current_priority_ && not_full(h[i]))
        next_priority = std::min(next_priority, refs[i].priority);
    if (next_priority != kNone) {
      current_priority_ = next_priority;
      attempts_at_priority_ = 0;
    }
  } else {
    current_priority_ = lowest;
  }
  // The candidates at this priority: the good ones; then those with little quota left; in a
  // panic, any that is not full.
  for (auto want : {Health::kGood, Health::kLowQuota}) {
    for (size_t i = 0; i < refs.size(); ++i)
      if (!tried_[i] && refs[i].weight > 0 && refs[i].priority == current_priority_ && h[i] == want)
        c[nc++] = i;
    if (nc > 0) break;
  }
  if (nc == 0 && panic)
    for (size_t i = 0; i < refs.size(); ++i)
      if (!tried_[i] && refs[i].weight > 0 && refs[i].priority == current_priority_ &&
          not_full(h[i]))
        c[nc++] = i;
  if (nc == 0) return nullptr;
  size_t i = choose(std::span<const size_t>(c, nc));
  tried_[i] = true;
  ++attempts_at_priority_;
  return &refs[i];
}

} // namespace aigw::pipeline
