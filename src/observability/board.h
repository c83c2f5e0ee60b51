// The admin dashboard's numbers (docs/dashboard.md): over the last 15 minutes in 10-second steps,
// the requests, errors and latency percentiles, and the tokens and dollars spent by model and by
// client key; and totals since start. Fed by every finished exchange (observe_exchange), read by
// the admin loop as JSON. Names come from clients (models, client ids): each step keeps at most
// kMaxNames of each, the rest folded into "_OTHER". Thread-safety: one mutex, held for a few
// additions per request.
#pragma once

#include "observability/exchange_record.h"

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace aigw::observability {

class Board {
public:
  static constexpr int kSteps = 90;
  static constexpr int64_t kStepSeconds = 10;
  static constexpr size_t kMaxNames = 32;
  static constexpr size_t kMaxLatencies = 2048; // samples a step keeps for its percentiles

  // A finished request at unix time `now`; `usd`: what it cost, when its model is priced.
  void record(const ExchangeRecord &r, std::optional<double> usd, int64_t now);
  // "step_seconds", "traffic", "spend" and "totals", as members of an object (no braces).
  std::string json_members(int64_t now) const;

  struct Spend {
    uint64_t tokens = 0;
    double usd = 0;
  };

private:
  struct Step {
    int64_t start = -1;
    uint64_t requests = 0, errors = 0;
    std::vector<uint32_t> latencies_ms;
    std::map<std::string, Spend> models, keys;
  };
  Step &step_at(int64_t now);

  mutable std::mutex mu_;
  std::array<Step, kSteps> steps_;
  uint64_t requests_ = 0, errors_ = 0, tokens_ = 0, cache_hits_ = 0;
  double usd_ = 0;
  std::map<std::string, Spend> model_totals_, key_totals_;
};

// The name a request's spend is counted under: its VirtualKey, else its client id, else
// "(anonymous)".
std::string board_key(const ExchangeRecord &r);

} // namespace aigw::observability
