// The wall clock in Unix seconds, for budget windows, signatures and token expiry.
#pragma once

#include <chrono>
#include <cstdint>

namespace aigw {

inline int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

} // namespace aigw
