// Metrics registry and exposition; see metrics.h.
#include "observability/metrics.h"

#include <algorithm>
#include <cstdio>
#include <map>

namespace aigw::observability {
namespace {

const char *kNames[] = {"gen_ai_client_token_usage", "gen_ai_server_request_duration_seconds",
                        "gen_ai_server_time_to_first_token_seconds",
                        "gen_ai_server_time_per_output_token_seconds"};
const char *kHelp[] = {"Number of input and output tokens used.",
                       "Generative AI server request duration such as time-to-last byte or last "
                       "output token.",
                       "Time to generate first token for successful responses.",
                       "Time per output token generated after the first token for successful "
                       "responses."};

std::string label_safe(std::string_view s) {
  std::string out;
  for (char c : s) {
    bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    out += ok ? c : '_';
  }
  if (!out.empty() && out[0] >= '0' && out[0] <= '9') out.insert(out.begin(), '_');
  return out;
}

void append_escaped(std::string &o, std::string_view v) {
  for (char c : v) {
    if (c == '\\')
      o += "\\\\";
    else if (c == '"')
      o += "\\\"";
    else if (c == '\n')
      o += "\\n";
    else if ((static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f)
      o += '_'; // the exposition format has no escape for other control characters
    else
      o += c;
  }
}

void append_double(std::string &o, double v) {
  if (v == static_cast<double>(static_cast<int64_t>(v)) && v > -1e15 && v < 1e15) {
    o += std::to_string(static_cast<int64_t>(v));
    return;
  }
  char buf[40];
  int n = std::snprintf(buf, sizeof buf, "%.17g", v);
  for (int p = 1; p <= 17; ++p) { // shortest representation that round-trips
    char small[40];
    int m = std::snprintf(small, sizeof small, "%.*f", p, v);
    if (v < 1e-3 || v >= 1e15) m = std::snprintf(small, sizeof small, "%.*g", p, v);
    if (std::strtod(small, nullptr) == v) {
      o.append(small, static_cast<size_t>(m));
      return;
    }
  }
  o.append(buf, static_cast<size_t>(n));
}

const std::vector<double> &buckets_of(int inst) {
  switch (inst) {
  case 0: return Metrics::token_buckets();
  case 1: return Metrics::duration_buckets();
  case 2: return Metrics::ttft_buckets();
  default: return Metrics::tpot_buckets();
  }
}

} // namespace

const std::vector<double> &Metrics::token_buckets() {
  static const std::vector<double> b{1,     4,     16,     64,      256,     1024,     4096,
                                     16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864};
  return b;
}
const std::vector<double> &Metrics::duration_buckets() {
  static const std::vector<double> b{0.01, 0.02, 0.04, 0.08,  0.16,  0.32,  0.64,
                                     1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92};
  return b;
}
const std::vector<double> &Metrics::ttft_buckets() {
  static const std::vector<double> b{0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08,
                                     0.1,   0.25,  0.5,  0.75, 1.0,  2.5,  5.0,
                                     7.5,   10.0,  15.0, 20.0, 30.0, 45.0, 60.0};
  return b;
}
const std::vector<double> &Metrics::tpot_buckets() {
  static const std::vector<double> b{0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2,
                                     0.3,  0.4,   0.5,  0.75,  1.0, 2.5};
  return b;
}

std::vector<HeaderAttribute> parse_header_attributes(std::string_view spec) {
  std::vector<HeaderAttribute> out;
  while (!spec.empty()) {
    auto comma = spec.find(',');
    std::string_view item = spec.substr(0, comma);
    spec = comma == std::string_view::npos ? std::string_view() : spec.substr(comma + 1);
    while (!item.empty() && item.front() == ' ')
      item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ')
      item.remove_suffix(1);
    if (item.empty()) continue;
    auto colon = item.find(':');
    HeaderAttribute a;
    a.header = std::string(item.substr(0, colon));
    std::transform(a.header.begin(), a.header.end(), a.header.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    a.label = label_safe(colon == std::string_view::npos ? item : item.substr(colon + 1));
    out.push_back(std::move(a));
  }
  return out;
}

Metrics::Metrics(size_t shards, std::vector<HeaderAttribute> header_attributes,
                 size_t max_label_values)
    : header_attributes_(std::move(header_attributes)), max_label_values_(max_label_values) {
  size_t slots = 3 + header_attributes_.size();
  admitted_.resize(slots);
  for (size_t i = 0; i < std::max<size_t>(1, shards); ++i) {
    shards_.push_back(std::make_unique<Shard>());
    shards_.back()->admitted.resize(slots);
  }
}

void Metrics::set_known_models(uint64_t generation, std::vector<std::string> models) {
  std::lock_guard lock(admit_mu_);
  known_models_.clear();
  for (auto &m : models)
    known_models_.insert(std::move(m));
  known_generation_.store(generation, std::memory_order_release);
}

std::string_view Metrics::bounded(Shard &s, size_t slot, std::string_view v) {
  if (v.empty() || slot >= s.admitted.size()) return v;
  auto &local = s.admitted[slot];
  if (local.find(v) != local.end()) return v;
  std::lock_guard lock(admit_mu_);
  bool keep = false;
  if (slot < 3 && known_models_.find(v) != known_models_.end()) {
    keep = true;
  } else if (admitted_[slot].find(v) != admitted_[slot].end()) {
    keep = true;
  } else if (admitted_[slot].size() < max_label_values_) {
    admitted_[slot].emplace(v);
    keep = true;
  }
  if (!keep) {
    health_.label_overflow.fetch_add(1, std::memory_order_relaxed);
    return kOverflowLabel;
  }
  local.emplace(v);
  return v;
}

GenAILabels Metrics::bound_labels(Shard &s, const GenAILabels &l) {
  GenAILabels out;
  out.operation = l.operation;
  out.provider = l.provider;
  out.backend = l.backend; // from the configuration: bounded by it
  out.original_model = bounded(s, 0, l.original_model);
  out.request_model = bounded(s, 1, l.request_model);
  out.response_model = bounded(s, 2, l.response_model);
  if (!l.header_values.empty()) {
    out.header_values.reserve(l.header_values.size());
    for (size_t i = 0; i < l.header_values.size(); ++i)
      out.header_values.push_back(bounded(s, 3 + i, l.header_values[i]));
  }
  return out;
}

std::string Metrics::base_key(const GenAILabels &l) {
  // The series key: label values joined by a byte that cannot appear in them unescaped.
  std::string key;
  key.reserve(128);
  auto add = [&](std::string_view s) {
    key.append(s);
    key += '\x1f';
  };
  add(l.operation);
  add(l.provider);
  add(l.original_model);
  add(l.request_model);
  add(l.response_model.empty() ? "unknown" : l.response_model);
  add(l.backend);
  for (auto h : l.header_values)
    add(h);
  return key;
}

void Metrics::observe_locked(Shard &s, Instrument inst, const GenAILabels &l, std::string &key,
                             size_t base_len, std::string_view extra_name,
                             std::string_view extra_value, double v) {
  key.resize(base_len);
  key.append(extra_value);
  const auto &bounds = buckets_of(inst);
  auto &map = s.series[inst];
  auto it = map.find(key);
  if (it == map.end()) {
    Series series;
    series.counts.assign(bounds.size() + 1, 0);
    std::string_view response_model = l.response_model.empty() ? "unknown" : l.response_model;
    series.labels = {{"gen_ai_backend", std::string(l.backend)},
                     {"gen_ai_operation_name", std::string(l.operation)},
                     {"gen_ai_original_model", std::string(l.original_model)},
                     {"gen_ai_provider_name", std::string(l.provider)},
                     {"gen_ai_request_model", std::string(l.request_model)},
                     {"gen_ai_response_model", std::string(response_model)}};
    if (!extra_name.empty()) series.labels.emplace_back(extra_name, extra_value);
    for (size_t i = 0; i < header_attributes_.size() && i < l.header_values.size(); ++i)
      series.labels.emplace_back(header_attributes_[i].label, l.header_values[i]);
    std::sort(series.labels.begin(), series.labels.end());
    it = map.emplace(key, std::move(series)).first;
  }
  Series &series = it->second;
  size_t b =
      static_cast<size_t>(std::lower_bound(bounds.begin(), bounds.end(), v) - bounds.begin());
  series.counts[b] += 1;
  series.sum += v;
  series.count += 1;
}

void Metrics::observe(size_t shard, Instrument inst, const GenAILabels &unbounded,
                      std::string_view extra_name, std::string_view extra_value, double v) {
  Shard &s = *shards_[shard % shards_.size()];
  std::lock_guard lock(s.mu);
  GenAILabels l = bound_labels(s, unbounded);
  std::string key = base_key(l);
  size_t base_len = key.size();
  observe_locked(s, inst, l, key, base_len, extra_name, extra_value, v);
}

void Metrics::record_completion(size_t shard, const GenAILabels &unbounded, const Completion &c) {
  Shard &s = *shards_[shard % shards_.size()];
  std::lock_guard lock(s.mu);
  GenAILabels l = bound_labels(s, unbounded);
  std::string key = base_key(l);
  size_t base_len = key.size();
  observe_locked(s, kDuration, l, key, base_len, c.failed ? "error_type" : "",
                 c.failed ? "_OTHER" : "", c.seconds);
  if (c.usage) {
    auto rec = [&](std::string_view type, const std::optional<uint64_t> &v) {
      if (v)
        observe_locked(s, kTokens, l, key, base_len, "gen_ai_token_type", type,
                       static_cast<double>(*v));
    };
    rec("input", c.usage->input);
    rec("cached_input", c.usage->cached_input);
    rec("cache_creation_input", c.usage->cache_creation_input);
    rec("output", c.usage->output);
    rec("reasoning", c.usage->reasoning);
  }
  if (c.ttft) observe_locked(s, kTtft, l, key, base_len, "", "", *c.ttft);
  if (c.tpot) observe_locked(s, kTpot, l, key, base_len, "", "", *c.tpot);
}

void Metrics::record_request(size_t shard, const GenAILabels &l, double seconds, bool failed) {
  observe(shard, kDuration, l, failed ? "error_type" : "", failed ? "_OTHER" : "", seconds);
}

void Metrics::record_tokens(size_t shard, const GenAILabels &l, const api::TokenUsage &u) {
  auto rec = [&](std::string_view type, const std::optional<uint64_t> &v) {
    if (v) observe(shard, kTokens, l, "gen_ai_token_type", type, static_cast<double>(*v));
  };
  rec("input", u.input);
  rec("cached_input", u.cached_input);
  rec("cache_creation_input", u.cache_creation_input);
  rec("output", u.output);
  rec("reasoning", u.reasoning);
}

void Metrics::record_time_to_first_token(size_t shard, const GenAILabels &l, double seconds) {
  observe(shard, kTtft, l, "", "", seconds);
}

void Metrics::record_time_per_output_token(size_t shard, const GenAILabels &l, double seconds) {
  observe(shard, kTpot, l, "", "", seconds);
}

namespace {
// The resilience counters: backend ejections, cooldowns, circuit-breaker overflows, and
// aigw_stream_failures_total{reason, outcome} (every pair, zeros included).
// `put(name, help, value)`: render's own single-counter writer.
template <typename Put>
void render_stream_failures(std::string &o, const HealthCounters &h, const Put &put) {
  put("aigw_response_cache_hits_total",
      "Requests answered from the response cache (no provider call, no tokens charged).",
      h.cache_hits.load());
  put("aigw_response_cache_misses_total",
      "Requests to a route with the response cache on that the cache did not hold.",
      h.cache_misses.load());
  put("aigw_response_cache_stores_total", "Answers stored in the response cache.",
      h.cache_stores.load());
  o += "# HELP aigw_usage_ledger_records_total Usage ledger records, by sink (file, redis) and "
       "result (written; dropped: a full queue, a refusal, a shutdown while Redis was down).\n"
       "# TYPE aigw_usage_ledger_records_total counter\n";
  for (size_t i = 0; i < 2; ++i)
    for (bool dropped : {false, true})
      o += std::string("aigw_usage_ledger_records_total{sink=\"") + (i ? "redis" : "file") +
           "\",result=\"" + (dropped ? "dropped" : "written") + "\"} " +
           std::to_string((dropped ? h.ledger_dropped[i] : h.ledger_written[i]).load()) + "\n";
  put("aigw_usage_ledger_redis_errors_total",
      "Failed exchanges with the usage ledger's Redis (connections, replies, refusals).",
      h.ledger_redis_errors.load());
  put("aigw_hedges_total",
      "Second attempts sent alongside a first one slower than aigw.run/hedge-after.",
      h.hedges.load());
  put("aigw_hedges_won_total", "Hedged second attempts that answered first.", h.hedges_won.load());
  put("aigw_backend_ejections_total",
      "Backends ejected by a passive health check (healthCheck.passive).", h.ejections.load());
  put("aigw_backend_cooldowns_total",
      "Backends set aside for the retry-after of a 429 (or of a 503 that sent one).",
      h.cooldowns.load());
  put("aigw_circuit_breaker_overflows_total",
      "Requests answered 503 because every backend was at circuitBreaker.maxParallelRequests.",
      h.circuit_open.load());

  o += "# HELP aigw_stream_failures_total Streamed answers whose provider stream failed, by "
       "reason, and whether the next backend served the request before any content reached the "
       "client (failover) or the stream ended with an in-band error (error_event).\n"
       "# TYPE aigw_stream_failures_total counter\n";
  for (size_t i = 0; i < kStreamFailureReasons.size(); ++i)
    for (size_t k = 0; k < 3; ++k)
      o += "aigw_stream_failures_total{reason=\"" + std::string(kStreamFailureReasons[i]) +
           "\",outcome=\"" +
           (k == 0   ? "failover"
            : k == 1 ? "error_event"
                     : "continued") +
           "\"} " + std::to_string(h.stream_failures[i][k].load()) + "\n";
}
} // namespace

std::string Metrics::render() const {
  std::string o;
  o.reserve(16384);
  for (int inst = 0; inst < kInstruments; ++inst) {
    // Merge the shards: series with the same labels add up.
    std::map<std::vector<std::pair<std::string, std::string>>, Series> merged;
    for (const auto &sp : shards_) {
      // Copied under the lock, merged outside it: a worker recording into this shard waits for
      // one copy, not for the whole exposition.
      std::unordered_map<std::string, Series> copy;
      {
        std::lock_guard lock(sp->mu);
        copy = sp->series[inst];
      }
      for (const auto &[key, s] : copy) {
        auto [it, fresh] = merged.try_emplace(s.labels, s);
        if (fresh) continue;
        for (size_t i = 0; i < s.counts.size(); ++i)
          it->second.counts[i] += s.counts[i];
        it->second.sum += s.sum;
        it->second.count += s.count;
      }
    }
    o += "# HELP ";
    o += kNames[inst];
    o += ' ';
    o += kHelp[inst];
    o += "\n# TYPE ";
    o += kNames[inst];
    o += " histogram\n";
    const auto &bounds = buckets_of(inst);
    for (const auto &[labels, s] : merged) {
      std::string lbl;
      for (const auto &[k, v] : labels) {
        lbl += k;
        lbl += "=\"";
        append_escaped(lbl, v);
        lbl += "\",";
      }
      uint64_t cumulative = 0;
      for (size_t i = 0; i <= bounds.size(); ++i) {
        cumulative += s.counts[i];
        o += kNames[inst];
        o += "_bucket{";
        o += lbl;
        o += "le=\"";
        if (i == bounds.size())
          o += "+Inf";
        else
          append_double(o, bounds[i]);
        o += "\"} ";
        o += std::to_string(cumulative);
        o += '\n';
      }
      std::string plain = lbl.empty() ? "" : "{" + lbl.substr(0, lbl.size() - 1) + "}";
      o += kNames[inst];
      o += "_sum";
      o += plain;
      o += ' ';
      append_double(o, s.sum);
      o += '\n';
      o += kNames[inst];
      o += "_count";
      o += plain;
      o += ' ';
      o += std::to_string(s.count);
      o += '\n';
    }
  }

  auto single = [&](const char *name, const char *type, const char *help, int64_t v) {
    o += "# HELP ";
    o += name;
    o += ' ';
    o += help;
    o += "\n# TYPE ";
    o += name;
    o += ' ';
    o += type;
    o += '\n';
    o += name;
    o += ' ';
    o += std::to_string(v);
    o += '\n';
  };
  auto counter = [&](const char *name, const char *help, uint64_t v) {
    single(name, "counter", help, static_cast<int64_t>(v));
  };
  auto gauge = [&](const char *name, const char *help, int64_t v) {
    single(name, "gauge", help, v);
  };
  const auto &h = health_;
  counter("aigw_requests_total", "Requests received on the listeners.", h.requests.load());
  o += "# HELP aigw_responses_total Responses sent to clients, by status class.\n"
       "# TYPE aigw_responses_total counter\n";
  for (int c = 1; c <= 5; ++c)
    o += "aigw_responses_total{code_class=\"" + std::to_string(c) + "xx\"} " +
         std::to_string(h.responses_by_class[static_cast<size_t>(c)].load()) + "\n";
  counter("aigw_upstream_connect_failures_total",
          "Attempts that could not connect to (or lost) the provider before a response.",
          h.upstream_connect_failures.load());
  counter("aigw_upstream_retries_total",
          "Attempts after the first, to the same or another backend.", h.retries.load());
  counter("aigw_upstream_fallbacks_total", "Retries that went to a different backend.",
          h.fallbacks.load());
  counter("aigw_rate_limited_total", "Requests refused by a token rate limit or quota (429).",
          h.rate_limited.load());
  gauge("aigw_active_connections", "Client connections open now.", h.active_connections.load());
  gauge("aigw_active_streams", "Streamed responses being relayed now.", h.active_streams.load());
  o += "# HELP aigw_config_reloads_total Configuration reloads, by result.\n"
       "# TYPE aigw_config_reloads_total counter\n"
       "aigw_config_reloads_total{result=\"ok\"} " +
       std::to_string(h.config_reloads_ok.load()) +
       "\naigw_config_reloads_total{result=\"rejected\"} " +
       std::to_string(h.config_reloads_rejected.load()) + "\n";
  counter("aigw_redis_errors_total", "Failed exchanges with the Redis budget store.",
          h.redis_errors.load());
  counter("aigw_redis_failed_open_total",
          "Requests admitted without a budget check because Redis was unavailable.",
          h.redis_failed_open.load());
  counter("aigw_metrics_label_overflow_total",
          "Metric records whose client-chosen label value was folded into \"_OTHER\" because the "
          "label had reached its cap of distinct values.",
          h.label_overflow.load());
  counter("aigw_connections_refused_total",
          "Client connections closed at once because --max-connections were open.",
          h.max_connections_refused.load());
  counter("aigw_accept_errors_total",
          "Failed accepts on the listeners (file-descriptor limit and others).",
          h.accept_errors.load());
  render_stream_failures(o, h, counter);
  counter("aigw_tls_handshake_errors_total",
          "Client connections to an HTTPS listener whose TLS handshake failed or timed out.",
          h.tls_handshake_errors.load());
  counter("aigw_client_auth_failures_total",
          "Requests refused (401) by a SecurityPolicy: no credential, or a wrong one.",
          h.auth_failures.load());
  counter("aigw_unmeasured_responses_total",
          "Successful responses whose token usage could not be read (too large or malformed).",
          h.unmeasured_responses.load());
  counter("aigw_drain_cut_requests_total",
          "Requests still in flight when a shutdown drain ran out of time.",
          h.drain_cut_requests.load());
  mcp_.render(o);
  return o;
}

} // namespace aigw::observability
