// OAuth access tokens for providers that want one: GCP (a service account's signed JWT
// exchanged at its token_uri) and Azure (Entra ID client credentials). Tokens are cached per
// credential and refreshed five minutes before they expire, as upstream's rotators do.
// Thread-safety: one TokenCache is shared by all workers; the map is guarded by a mutex that is
// never held across a suspension. Two requests that find no token may both fetch one.
#pragma once

#include "control/snapshot.h"
#include "core/result.h"
#include "proxy/upstream.h"

#include <chrono>
#include <mutex>
#include <string>
#include <unordered_map>

namespace aigw::proxy {

class TokenCache {
public:
  // A bearer token for `backend` (GCPCredentials or AzureCredentials). Errors are 5xx-shaped
  // and never carry secret material.
  net::awaitable<Result<std::string>> get(const control::CompiledBackend &backend,
                                          UpstreamPool &pool,
                                          std::chrono::steady_clock::time_point deadline);

  static constexpr int64_t kRefreshBeforeSeconds = 300;

private:
  struct Entry {
    std::string token;
    int64_t expires_at = 0;
  };
  std::mutex mu_;
  std::unordered_map<std::string, Entry> tokens_;
};

// Where Azure's token endpoint lives: AZURE_AUTHORITY_HOST (as the Azure SDKs read it), else
// https://login.microsoftonline.com/.
std::string azure_authority_host();

} // namespace aigw::proxy
