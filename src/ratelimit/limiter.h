// Token rate limiting with Envoy Gateway's BackendTrafficPolicy rules: which rules (and which
// buckets, for Distinct selectors) a request falls in, admission against fixed windows, and the
// charge of the response cost at completion. Semantics are the Envoy rate limit service's: a
// request is refused when its bucket's usage plus the request cost exceeds the limit, and the
// response cost is added when the response completes (a bucket may go over).
#pragma once

#include "api/resources.h"
#include "core/header_lookup.h"
#include "ratelimit/costs.h"
#include "ratelimit/memory_store.h"

#include <memory>
#include <regex>
#include <string>
#include <vector>

namespace aigw::ratelimit {

struct CompiledSelector {
  api::RateLimitHeaderSelector spec;
  std::shared_ptr<const std::regex> re;
};

struct CompiledRateLimit {
  std::string id; // "namespace/policy/rule/i": the bucket key prefix
  api::RateLimitRule rule;
  std::vector<std::vector<CompiledSelector>> selectors;
  int64_t window_seconds = 3600;
};

// Compiles a rule; `where` names it in errors. Returns an error for a bad regular expression.
Result<std::shared_ptr<const CompiledRateLimit>> compile_rate_limit(const api::RateLimitRule &rule,
                                                                    std::string id);

// One bucket a request counts against.
struct Hit {
  const CompiledRateLimit *limit = nullptr;
  std::string key; // id|descriptor values|window start
  int64_t window_end = 0;
  uint64_t reserved = 0; // reserve-then-settle: what admission reserved for the response
};

std::vector<Hit>
match_rate_limits(const std::vector<std::shared_ptr<const CompiledRateLimit>> &limits,
                  const pipeline::HeaderLookup &headers, int64_t now);

struct Verdict {
  bool allowed = true;
  bool limited = false; // any bucket applied (headers are worth sending)
  uint64_t limit = 0;   // of the most constrained bucket
  uint64_t remaining = 0;
  int64_t reset_seconds = 0;
  const CompiledRateLimit *refused_by = nullptr; // the first bucket over its limit
};

// The admission decision for buckets whose usage so far is `used` (one per hit, same order),
// shared by the in-memory and Redis stores. Sets each hit's reservation; `add` receives what each
// bucket is charged now (request cost + reservation) when the request is allowed.
// `any_allows`: QuotaPolicy's Shared mode, where one bucket with quota left admits the request.
Verdict decide(std::vector<Hit> &hits, const std::vector<uint64_t> &used, int64_t now,
               const CostValues *estimate, std::vector<uint64_t> *add, bool any_allows = false);

// What a hit is charged at admission, and what a reserving bucket would reserve.
uint64_t request_cost_of(const Hit &h);
uint64_t reservation_of(const Hit &h, const CostValues *estimate);

// Checks every bucket and, when all allow, charges each its request cost. Reserve-then-settle
// buckets refuse once their budget is spent (reservations included) and reserve the response
// cost computed from `estimate` (the costs over the request's estimated usage).
Verdict admit(MemoryStore &store, std::vector<Hit> &hits, int64_t now,
              const CostValues *estimate = nullptr, bool any_allows = false);

// Charges each bucket its response cost (a metadata key from `costs`, or a number); a reserving
// bucket is charged the difference to what it reserved.
void settle(MemoryStore &store, const std::vector<Hit> &hits, const CostValues &costs, int64_t now);

// What settling `h` adds to its bucket: the response cost (from `costs`; null means the request
// failed and nothing is charged) minus what admission reserved. Negative for refunds.
int64_t settlement_delta(const Hit &h, const CostValues *costs);

// Gives back what reserving buckets reserved (the request failed: nothing is charged).
void refund(MemoryStore &store, const std::vector<Hit> &hits, int64_t now);

// The usage a request may consume, for reservations: the prompt at ~4 bytes a token, and its
// max_tokens (or `default_output` without one).
api::TokenUsage estimate_usage(size_t body_bytes, std::optional<uint64_t> max_tokens,
                               uint64_t default_output = 1024);

} // namespace aigw::ratelimit
