// In-memory budget store; see memory_store.h.
#include "ratelimit/memory_store.h"

#include <functional>

namespace aigw::ratelimit {

MemoryStore::Shard &MemoryStore::shard_for(const std::string &key) const {
  return shards_[std::hash<std::string>{}(key) % kShards];
}

uint64_t MemoryStore::used(const std::string &key) const {
  Shard &s = shard_for(key);
  std::lock_guard lock(s.mu);
  auto it = s.entries.find(key);
  return it == s.entries.end() ? 0 : it->second.used;
}

uint64_t MemoryStore::add(const std::string &key, uint64_t amount, int64_t expires_at,
                          int64_t now) {
  Shard &s = shard_for(key);
  std::lock_guard lock(s.mu);
  auto it = s.entries.find(key);
  if (it == s.entries.end()) {
    if (s.entries.size() >= max_keys_per_shard_) {
      std::erase_if(s.entries, [now](const auto &kv) { return kv.second.expires_at <= now; });
      if (s.entries.size() >= max_keys_per_shard_) {
        refused_.fetch_add(1, std::memory_order_relaxed);
        return amount;
      }
    }
    it = s.entries.emplace(key, Entry{0, expires_at}).first;
  }
  it->second.used += amount;
  return it->second.used;
}

void MemoryStore::adjust(const std::string &key, int64_t delta, int64_t expires_at, int64_t now) {
  if (delta >= 0) {
    add(key, static_cast<uint64_t>(delta), expires_at, now);
    return;
  }
  Shard &s = shard_for(key);
  std::lock_guard lock(s.mu);
  auto it = s.entries.find(key);
  if (it == s.entries.end()) return;
  uint64_t refund = static_cast<uint64_t>(-(delta + 1)) + 1;
  it->second.used = it->second.used > refund ? it->second.used - refund : 0;
}

void MemoryStore::sweep(int64_t now) {
  for (auto &s : shards_) {
    std::lock_guard lock(s.mu);
    std::erase_if(s.entries, [now](const auto &kv) { return kv.second.expires_at <= now; });
  }
}

size_t MemoryStore::size() const {
  size_t n = 0;
  for (auto &s : shards_) {
    std::lock_guard lock(s.mu);
    n += s.entries.size();
  }
  return n;
}

} // namespace aigw::ratelimit
