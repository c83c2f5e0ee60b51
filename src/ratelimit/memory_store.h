// The in-memory budget store: fixed-window counters keyed like Envoy's rate limit service
// (descriptor key + window start), sharded with one mutex per shard so workers rarely meet.
// Memory is bounded: expired windows are swept, and a full shard refuses new keys (fail open,
// counted) rather than grow. Thread-safety: all methods may be called from any thread.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

namespace aigw::ratelimit {

class MemoryStore {
public:
  explicit MemoryStore(size_t max_keys_per_shard = 65536)
      : max_keys_per_shard_(max_keys_per_shard) {}

  // What the window `key` has used so far (0 for an unknown key).
  uint64_t used(const std::string &key) const;
  // Adds `amount` to `key`'s window, which ends at `expires_at` (unix seconds); returns the new
  // total. A full shard that cannot take the key returns `amount` and counts a refusal.
  uint64_t add(const std::string &key, uint64_t amount, int64_t expires_at, int64_t now);
  // Adds a signed `delta` (a settlement or a refund); the total never goes below zero.
  void adjust(const std::string &key, int64_t delta, int64_t expires_at, int64_t now);
  // Removes windows that ended before `now`.
  void sweep(int64_t now);

  size_t size() const;
  uint64_t refused() const { return refused_.load(std::memory_order_relaxed); }

private:
  struct Entry {
    uint64_t used = 0;
    int64_t expires_at = 0;
  };
  struct Shard {
    mutable std::mutex mu;
    std::unordered_map<std::string, Entry> entries;
  };
  static constexpr size_t kShards = 64;
  Shard &shard_for(const std::string &key) const;

  size_t max_keys_per_shard_;
  mutable std::array<Shard, kShards> shards_;
  std::atomic<uint64_t> refused_{0};
};

} // namespace aigw::ratelimit
