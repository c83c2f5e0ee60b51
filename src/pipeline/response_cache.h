// The exact response cache (docs/response-cache.md): a route with the aigw.run/response-cache
// annotation answers a request it has answered before — the same endpoint, the same canonical
// body (object members sorted, no whitespace), the same caller — from what it stored, streamed
// answers replayed chunk by chunk as they first went out. Entries live in a process's memory
// (ResponseCache) or in Redis (shared by replicas); both hold the encoded CachedAnswer.
// Thread-safety: ResponseCache locks per shard; the free functions are pure.
#pragma once

#include "api/token_usage.h"

#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace aigw::pipeline {

// `body` as canonical JSON: every object's members sorted by key, recursively, no whitespace,
// strings re-escaped, numbers as written. nullopt when it is not JSON.
std::optional<std::string> canonical_json(std::string_view body);

// What an entry is stored under: a hex SHA-256 over every part that shapes the answer.
std::string response_cache_key(std::initializer_list<std::string_view> parts);

struct CachedAnswer {
  std::string content_type;
  bool stream = false;
  std::vector<std::string> chunks; // a streamed answer's writes, in order; else one
  api::TokenUsage usage;           // what computing it cost (reported, never charged again)
  std::string model;               // the model that answered
  int64_t stored_at = 0;           // unix seconds
  size_t size() const;             // the bytes of its body
};

std::string encode_cached(const CachedAnswer &a);
// nullopt when `data` is not an entry this version wrote.
std::optional<CachedAnswer> decode_cached(std::string_view data);

// The in-memory store: least recently used entries go first once `max_bytes` are held; an
// expired entry is a miss.
class ResponseCache {
public:
  explicit ResponseCache(size_t max_bytes);
  ResponseCache(const ResponseCache &) = delete;
  ResponseCache &operator=(const ResponseCache &) = delete;
  std::optional<std::string> get(std::string_view key, int64_t now);
  void put(const std::string &key, std::string value, int64_t expires_at);
  size_t bytes() const;
  size_t entries() const;

private:
  struct Entry {
    std::string key, value;
    int64_t expires_at = 0;
  };
  struct Shard {
    mutable std::mutex mu;
    std::list<Entry> lru; // most recent first
    std::unordered_map<std::string_view, std::list<Entry>::iterator> index;
    size_t bytes = 0;
  };
  static constexpr size_t kShards = 16;
  Shard &shard(std::string_view key);
  void evict(Shard &s, size_t budget);
  size_t shard_bytes_;
  std::unique_ptr<Shard[]> shards_;
};

} // namespace aigw::pipeline
