// What the gateway has learned about each backend from the traffic it carried, shared by every
// request and worker, and kept across configuration reloads (by the AIServiceBackend's key):
// requests in flight, consecutive failures and ejection (passive health checks), the latency
// the latency-aware balancer weighs, and what the provider's rate-limit headers said.
// Thread-safety: every field is an atomic; the registry's lookup takes a lock (at compile time
// only, never per request).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string_view>

namespace aigw::control {

struct BackendState {
  std::atomic<int64_t> in_flight{0};
  // Passive health checks: failures in a row, and the ejection they caused.
  std::atomic<uint32_t> consecutive_5xx{0};
  std::atomic<uint32_t> consecutive_gateway{0};
  std::atomic<uint32_t> consecutive_local{0};
  std::atomic<int64_t> ejected_until_ms{0}; // steady clock, ms
  std::atomic<uint32_t> ejections{0};       // times ejected (the ejection time grows with it)
  // A 429 with retry-after: not picked before then while another backend can serve.
  std::atomic<int64_t> cooldown_until_ms{0};
  // The provider's rate-limit headers: the lower of its remaining tokens and requests, in
  // thousandths of its limit, valid until their reset.
  std::atomic<int32_t> remaining_permille{1000};
  std::atomic<int64_t> remaining_until_ms{0};
  // Peak EWMA of the time to the response head, microseconds, and when it was last updated.
  std::atomic<int64_t> ewma_us{0};
  std::atomic<int64_t> ewma_at_ms{0};
};

// The state of the backend named `key`: the same object for the same key across reloads.
std::shared_ptr<BackendState> backend_state(std::string_view key);

// Milliseconds on the steady clock (what the *_ms fields hold).
int64_t steady_ms();

} // namespace aigw::control
