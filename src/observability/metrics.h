// The Prometheus metrics aigw exposes on the admin port's /metrics: upstream's four GenAI
// instruments with their exact exposed names, labels and buckets (reference §7.1), and the
// gateway's own health counters.
//
// Recording never serialises the workers: each worker records into its own shard (a mutex only
// the scrape contends), and a scrape merges the shards. Thread-safety: record_* from one thread
// per shard index (any thread is correct, only slower); render() and the atomics from any thread.
#pragma once

#include "api/token_usage.h"
#include "observability/mcp_metrics.h"

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace aigw::observability {

// The GenAI attributes of one request.
struct GenAILabels {
  std::string_view operation;      // chat, completion, embeddings, rerank
  std::string_view provider;       // openai, aws.bedrock, ...
  std::string_view original_model; // the client's model
  std::string_view request_model;  // after modelNameOverride
  std::string_view response_model; // "unknown" when empty
  std::string_view backend;        // the AIServiceBackend, namespace/name (v1.2's gen_ai.backend)
  // Request headers mapped to labels (-metricsRequestHeaderAttributes), in configured order.
  std::vector<std::string_view> header_values;
};

// "header:label" pairs, as upstream's -metricsRequestHeaderAttributes ("x-team-id:team.id").
struct HeaderAttribute {
  std::string header; // lower-case
  std::string label;  // Prometheus-safe (dots become underscores)
};
std::vector<HeaderAttribute> parse_header_attributes(std::string_view spec);

// Gateway health counters; plain atomics, incremented from any worker.
struct HealthCounters {
  std::array<std::atomic<uint64_t>, 6> responses_by_class{}; // index: status / 100 (0 = none)
  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> upstream_connect_failures{0};
  std::atomic<uint64_t> retries{0};
  std::atomic<uint64_t> fallbacks{0};
  std::atomic<uint64_t> rate_limited{0};
  std::atomic<int64_t> active_connections{0};
  std::atomic<int64_t> active_streams{0};
  std::atomic<uint64_t> config_reloads_ok{0};
  std::atomic<uint64_t> config_reloads_rejected{0};
  std::atomic<uint64_t> redis_errors{0};
  std::atomic<uint64_t> redis_failed_open{0};
  std::atomic<uint64_t> label_overflow{0}; // label values folded into kOverflowLabel
  std::atomic<uint64_t> max_connections_refused{0};
  std::atomic<uint64_t> accept_errors{0};
  std::atomic<uint64_t> tls_handshake_errors{0}; // HTTPS listeners: failed client handshakes
  std::atomic<uint64_t> auth_failures{0};        // requests refused by a SecurityPolicy (401)
  std::atomic<uint64_t> ejections{0};            // backends ejected by passive health checks
  std::atomic<uint64_t> cooldowns{0};            // backends resting for a 429's retry-after
  std::atomic<uint64_t> circuit_open{0};         // requests refused: every backend at its limit
  std::atomic<uint64_t> hedges{0};               // hedged second attempts sent
  std::atomic<uint64_t> hedges_won{0};           // ... that answered first
  std::atomic<uint64_t> unmeasured_responses{0}; // successes whose usage could not be read
  std::atomic<uint64_t> drain_cut_requests{0};   // requests cut by the end of a drain
  std::atomic<uint64_t> cache_hits{0};           // answered from the response cache
  std::atomic<uint64_t> cache_misses{0};         // cacheable requests the cache did not hold
  std::atomic<uint64_t> cache_stores{0};         // answers stored in the response cache
  // Usage ledger records, by sink (0: the file, 1: the Redis stream).
  std::array<std::atomic<uint64_t>, 2> ledger_written{};
  std::array<std::atomic<uint64_t>, 2> ledger_dropped{};
  std::atomic<uint64_t> ledger_redis_errors{0}; // failed exchanges with the ledger's Redis
  // Streamed answers that failed, by reason (kStreamFailureReasons) and outcome: served again
  // by the next attempt before any content reached the client [0], or ended in-band [1].
  std::array<std::array<std::atomic<uint64_t>, 3>, 5> stream_failures{};
};
inline constexpr std::array<std::string_view, 5> kStreamFailureReasons = {
    "reset", "idle", "timeout", "error_event", "empty"};

// The value a label takes once it has seen its cap of distinct client-chosen values.
inline constexpr std::string_view kOverflowLabel = "_OTHER";

class Metrics {
public:
  // `max_label_values`: distinct values each client-chosen label (the three model labels and
  // every mapped header) may take; values past it are recorded as kOverflowLabel. Models named
  // in the configuration (set_known_models) are always kept and do not count.
  Metrics(size_t shards, std::vector<HeaderAttribute> header_attributes,
          size_t max_label_values = kDefaultMaxLabelValues);
  static constexpr size_t kDefaultMaxLabelValues = 1000;

  // The models of the active configuration. Thread-safe; `generation` avoids rebuilding the set
  // when a caller offers the same configuration again.
  void set_known_models(uint64_t generation, std::vector<std::string> models);
  uint64_t known_models_generation() const {
    return known_generation_.load(std::memory_order_acquire);
  }

  // A completed request: its duration and, for failures, `error_type` ("_OTHER" as upstream).
  void record_request(size_t shard, const GenAILabels &l, double seconds, bool failed);
  // One histogram record per set usage field (input, cached_input, cache_creation_input,
  // output, reasoning).
  void record_tokens(size_t shard, const GenAILabels &l, const api::TokenUsage &u);
  void record_time_to_first_token(size_t shard, const GenAILabels &l, double seconds);
  void record_time_per_output_token(size_t shard, const GenAILabels &l, double seconds);

  // Everything a finished request records, under one lock and one label key.
  struct Completion {
    double seconds = 0;
    bool failed = false;
    const api::TokenUsage *usage = nullptr; // successes only
    std::optional<double> ttft, tpot;       // streams only
  };
  void record_completion(size_t shard, const GenAILabels &l, const Completion &c);

  HealthCounters &health() { return health_; }
  // `reason`: one of kStreamFailureReasons; `outcome`: 0 failover (the next attempt served the
  // request before content), 1 error_event (the stream ended in-band), 2 continued (the next
  // backend carried it on from a prefill).
  void record_stream_failure(std::string_view reason, int outcome) {
    for (size_t i = 0; i < kStreamFailureReasons.size(); ++i)
      if (kStreamFailureReasons[i] == reason)
        health_.stream_failures[i][static_cast<size_t>(outcome)].fetch_add(
            1, std::memory_order_relaxed);
  }
  McpMetrics &mcp() { return mcp_; }
  const std::vector<HeaderAttribute> &header_attributes() const { return header_attributes_; }

  // The Prometheus text exposition format (version 0.0.4).
  std::string render() const;

  // Histogram bucket bounds, as upstream.
  static const std::vector<double> &token_buckets();
  static const std::vector<double> &duration_buckets();
  static const std::vector<double> &ttft_buckets();
  static const std::vector<double> &tpot_buckets();

private:
  enum Instrument { kTokens, kDuration, kTtft, kTpot, kInstruments };
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view v) const { return std::hash<std::string_view>{}(v); }
  };
  using ValueSet = std::unordered_set<std::string, StringHash, std::equal_to<>>;
  struct Series {
    std::vector<std::pair<std::string, std::string>> labels;
    std::vector<uint64_t> counts; // per bucket (not cumulative), plus +Inf last
    double sum = 0;
    uint64_t count = 0;
  };
  struct Shard {
    mutable std::mutex mu;
    std::array<std::unordered_map<std::string, Series>, kInstruments> series;
    // Label values this shard already knows to be admitted, keyed by label slot then value; a
    // cache of the process-wide decision so the common case takes no other lock.
    std::vector<ValueSet> admitted;
  };
  // REQUIRES: the shard's mutex is held. Returns `v`, or kOverflowLabel past the cap.
  std::string_view bounded(Shard &s, size_t slot, std::string_view v);
  // The labels with every client-chosen value bounded. REQUIRES: the shard's mutex is held.
  GenAILabels bound_labels(Shard &s, const GenAILabels &l);
  void observe(size_t shard, Instrument inst, const GenAILabels &l, std::string_view extra_name,
               std::string_view extra_value, double v);
  static std::string base_key(const GenAILabels &l);
  // REQUIRES: the shard's mutex is held.
  void observe_locked(Shard &s, Instrument inst, const GenAILabels &l, std::string &key,
                      size_t base_len, std::string_view extra_name, std::string_view extra_value,
                      double v);

  std::vector<HeaderAttribute> header_attributes_;
  size_t max_label_values_;
  // Process-wide admission of label values (slot byte + value), and the configuration's models.
  std::mutex admit_mu_;
  std::vector<ValueSet> admitted_; // per slot: 0..2 the model labels, 3.. the mapped headers
  ValueSet known_models_;          // guarded by admit_mu_
  std::atomic<uint64_t> known_generation_{~uint64_t{0}};
  std::vector<std::unique_ptr<Shard>> shards_;
  HealthCounters health_;
  McpMetrics mcp_;
};

} // namespace aigw::observability
