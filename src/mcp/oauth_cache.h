// What oauth MCPRoutes need from their authorization server, cached across workers: the JWKS
// keys (five minutes, as Envoy Gateway's remote JWKS cache) and the authorization server's
// metadata document. The host fetches; this only remembers. Thread-safe.
#pragma once

#include "auth/jwt.h"

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace aigw::mcp {

class OAuthCache {
public:
  using Clock = std::chrono::steady_clock;
  using Keys = std::shared_ptr<const std::vector<auth::JwtKey>>;
  static constexpr std::chrono::seconds kTtl{300};
  static constexpr std::chrono::seconds kRetry{5}; // after a failed fetch

  // Cached keys for `uri` (fresh, or failed recently: then an empty set), or nullopt to fetch.
  std::optional<Keys> keys(const std::string &uri, Clock::time_point now) {
    std::lock_guard lock(mu_);
    auto it = keys_.find(uri);
    if (it == keys_.end() || now >= it->second.expires) return std::nullopt;
    return it->second.keys;
  }
  void put_keys(const std::string &uri, Keys keys, Clock::time_point now) {
    std::lock_guard lock(mu_);
    bool ok = keys && !keys->empty();
    keys_[uri] = {ok ? keys : std::make_shared<const std::vector<auth::JwtKey>>(),
                  now + (ok ? Clock::duration(kTtl) : Clock::duration(kRetry))};
  }
  std::optional<std::string> document(const std::string &url, Clock::time_point now) {
    std::lock_guard lock(mu_);
    auto it = docs_.find(url);
    if (it == docs_.end() || now >= it->second.second) return std::nullopt;
    return it->second.first;
  }
  void put_document(const std::string &url, std::string doc, Clock::time_point now) {
    auto ttl = doc.empty() ? Clock::duration(kRetry) : Clock::duration(kTtl);
    std::lock_guard lock(mu_);
    docs_[url] = {std::move(doc), now + ttl};
  }

private:
  struct Entry {
    Keys keys;
    Clock::time_point expires;
  };
  std::mutex mu_;
  std::map<std::string, Entry> keys_;
  std::map<std::string, std::pair<std::string, Clock::time_point>> docs_;
};

} // namespace aigw::mcp
