#include "observability/board.h"

#include "core/json_scan.h"

#include <algorithm>
#include <charconv>
#include <cmath>

namespace aigw::observability {
namespace {

void add_spend(std::map<std::string, Board::Spend> &m, const std::string &name, uint64_t tokens,
               double usd, size_t cap) {
  auto it = m.find(name);
  if (it == m.end()) it = m.emplace(m.size() < cap ? name : "_OTHER", Board::Spend{}).first;
  it->second.tokens += tokens;
  it->second.usd += usd;
}

void append_double(std::string &o, double v) {
  char buf[40];
  auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed, 9);
  std::string_view s(buf, static_cast<size_t>(r.ptr - buf));
  while (s.size() > 1 && s.back() == '0' && s.find('.') != std::string_view::npos)
    s.remove_suffix(1);
  if (s.back() == '.') s.remove_suffix(1);
  o.append(s);
}

std::optional<double> percentile(std::vector<uint32_t> v, double p) {
  if (v.empty()) return std::nullopt;
  size_t i = static_cast<size_t>(std::ceil(p * static_cast<double>(v.size()))) - 1;
  i = std::min(i, v.size() - 1);
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(i), v.end());
  return v[i];
}

} // namespace

std::string board_key(const ExchangeRecord &r) {
  if (!r.virtual_key.empty()) return r.virtual_key;
  if (!r.client_id.empty()) return r.client_id;
  return "(anonymous)";
}

Board::Step &Board::step_at(int64_t now) {
  int64_t start = now - now % kStepSeconds;
  auto &s = steps_[static_cast<size_t>((start / kStepSeconds) % kSteps)];
  if (s.start != start) s = Step{start, 0, 0, {}, {}, {}};
  return s;
}

void Board::record(const ExchangeRecord &r, std::optional<double> usd, int64_t now) {
  if (r.operation.empty()) return; // not an AI request (an unknown path, a models list)
  auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(ExchangeRecord::Clock::now() - r.start)
          .count();
  bool failed = r.status == 0 || r.status >= 400;
  uint64_t tokens = r.usage.total.value_or(r.usage.input.value_or(0) + r.usage.output.value_or(0));
  double dollars = usd.value_or(0);
  std::string model = r.model.empty() ? std::string("(none)") : r.model.substr(0, 128);
  std::string key = board_key(r).substr(0, 128);
  std::lock_guard lock(mu_);
  auto &s = step_at(now);
  ++s.requests;
  ++requests_;
  if (failed) {
    ++s.errors;
    ++errors_;
  }
  if (r.cache == "hit") ++cache_hits_;
  if (s.latencies_ms.size() < kMaxLatencies)
    s.latencies_ms.push_back(static_cast<uint32_t>(std::clamp<int64_t>(ms, 0, UINT32_MAX)));
  if (tokens == 0 && dollars == 0) return;
  tokens_ += tokens;
  usd_ += dollars;
  add_spend(s.models, model, tokens, dollars, kMaxNames);
  add_spend(s.keys, key, tokens, dollars, kMaxNames);
  add_spend(model_totals_, model, tokens, dollars, 4 * kMaxNames);
  add_spend(key_totals_, key, tokens, dollars, 4 * kMaxNames);
}

std::string Board::json_members(int64_t now) const {
  std::lock_guard lock(mu_);
  int64_t last = now - now % kStepSeconds;
  int64_t first = last - (kSteps - 1) * kStepSeconds;
  std::vector<const Step *> window; // oldest first; null: a step with nothing
  for (int64_t t = first; t <= last; t += kStepSeconds) {
    const auto &s = steps_[static_cast<size_t>((t / kStepSeconds) % kSteps)];
    window.push_back(s.start == t ? &s : nullptr);
  }
  std::string o = "\"step_seconds\":" + std::to_string(kStepSeconds) + ",\"traffic\":{\"t\":[";
  auto list = [&](const char *name, auto value) {
    o += ",\"";
    o += name;
    o += "\":[";
    for (size_t i = 0; i < window.size(); ++i) {
      if (i) o += ',';
      value(window[i]);
    }
    o += ']';
  };
  for (size_t i = 0; i < window.size(); ++i)
    o += (i ? "," : "") + std::to_string(first + static_cast<int64_t>(i) * kStepSeconds);
  o += ']';
  list("requests", [&](const Step *s) { o += std::to_string(s ? s->requests : 0); });
  list("errors", [&](const Step *s) { o += std::to_string(s ? s->errors : 0); });
  for (auto [name, p] : {std::pair{"latency_p50_ms", 0.5}, std::pair{"latency_p95_ms", 0.95}})
    list(name, [&, p = p](const Step *s) {
      auto v = s ? percentile(s->latencies_ms, p) : std::nullopt;
      if (v)
        append_double(o, *v);
      else
        o += "null";
    });
  o += "},\"spend\":{";
  auto series = [&](const char *name, const std::map<std::string, Spend> &totals,
                    std::map<std::string, Spend> Step::*by) {
    o += '"';
    o += name;
    o += "\":[";
    bool first_name = true;
    for (const auto &[n, total] : totals) {
      o += first_name ? "{\"name\":" : ",{\"name\":";
      first_name = false;
      json::append_quoted(o, n);
      auto at = [&](const Step *s) -> const Spend * {
        if (!s) return nullptr;
        auto it = (s->*by).find(n);
        return it == (s->*by).end() ? nullptr : &it->second;
      };
      list("tokens", [&](const Step *s) {
        const Spend *sp = at(s);
        o += std::to_string(sp ? sp->tokens : 0);
      });
      list("usd", [&](const Step *s) {
        const Spend *sp = at(s);
        append_double(o, sp ? sp->usd : 0);
      });
      o += ",\"total_tokens\":" + std::to_string(total.tokens) + ",\"total_usd\":";
      append_double(o, total.usd);
      o += '}';
    }
    o += ']';
  };
  series("by_model", model_totals_, &Step::models);
  o += ',';
  series("by_key", key_totals_, &Step::keys);
  o += "},\"totals\":{\"requests\":" + std::to_string(requests_) +
       ",\"errors\":" + std::to_string(errors_) + ",\"tokens\":" + std::to_string(tokens_) +
       ",\"usd\":";
  append_double(o, usd_);
  o += ",\"cache_hits\":" + std::to_string(cache_hits_) + '}';
  return o;
}

} // namespace aigw::observability
