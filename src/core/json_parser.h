// The DOM parser a thread reuses for JSON documents, and what it keeps after a large one.
// Thread-safety: each thread has its own parsers; a guard runs on the parsing thread.
#pragma once

#include <simdjson.h>

#include <chrono>
#include <cstddef>

namespace aigw::core {

// A parser grows to the largest document it has parsed and keeps that memory (several times
// the document). Declared before a parse of `size` bytes of the thread's parser `p`: once no
// document over 1 MiB has come for five seconds, the next parse of a small one gives the
// memory back when its scope ends (after every view into it is gone). A burst of large bodies
// keeps it, so that each does not pay for fresh memory.
class ReleaseAfterLarge {
public:
  static constexpr size_t kLarge = size_t{1} << 20;
  ReleaseAfterLarge(simdjson::dom::parser &p, size_t size) : p_(p), large_(size > kLarge) {}
  ~ReleaseAfterLarge() {
    thread_local std::chrono::steady_clock::time_point last_large{};
    auto now = std::chrono::steady_clock::now();
    if (large_) {
      last_large = now;
    } else if (last_large != std::chrono::steady_clock::time_point{} &&
               now - last_large > std::chrono::seconds(5) && p_.capacity() > kLarge) {
      auto failed = p_.allocate(64 * 1024); // (a failure leaves the larger buffers: harmless)
      (void)failed;
    }
  }
  ReleaseAfterLarge(const ReleaseAfterLarge &) = delete;
  ReleaseAfterLarge &operator=(const ReleaseAfterLarge &) = delete;

private:
  simdjson::dom::parser &p_;
  bool large_;
};

} // namespace aigw::core
