// See backend_state.h.
#include "control/backend_state.h"

#include <chrono>
#include <map>
#include <mutex>
#include <string>

namespace aigw::control {

std::shared_ptr<BackendState> backend_state(std::string_view key) {
  static std::mutex mu;
  static std::map<std::string, std::weak_ptr<BackendState>, std::less<>> registry;
  std::lock_guard lock(mu);
  auto it = registry.find(key);
  if (it != registry.end())
    if (auto s = it->second.lock()) return s;
  auto s = std::make_shared<BackendState>();
  registry[std::string(key)] = s;
  return s;
}

int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

} // namespace aigw::control
