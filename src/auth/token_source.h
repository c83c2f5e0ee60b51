// OAuth access tokens for providers that want one: GCP (a service account's signed JWT exchanged
// at its token_uri) and Azure (Entra ID client credentials). Sans-I/O: the source says which form
// to POST where, the host performs the request and hands the answer back; tokens are cached per
// credential and refreshed five minutes before they expire, as upstream's rotators do.
// Thread-safety: one TokenSource is shared by all workers; the map is guarded by a mutex that is
// never held across I/O. Two requests that find no token may both fetch one.
#pragma once

#include "control/snapshot.h"
#include "core/result.h"

#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace aigw::auth {

// One token request to make: POST `form` (application/x-www-form-urlencoded) to `url`.
struct TokenRequest {
  std::string cache_key;
  std::string url;
  std::string form;
};

class TokenSource {
public:
  // A cached token for `backend` still valid past the refresh margin, if any.
  std::optional<std::string> cached(const control::CompiledBackend &backend, int64_t now);
  // The request that obtains a new token. Errors are 500s naming the backend (never a secret).
  Result<TokenRequest> request_for(const control::CompiledBackend &backend, int64_t now) const;
  // The token endpoint's answer (any status): the token, cached; or a 503 naming the backend.
  Result<std::string> on_response(const control::CompiledBackend &backend,
                                  const TokenRequest &request, std::string_view body, int64_t now);

  static constexpr int64_t kRefreshBeforeSeconds = 300;

private:
  static std::string cache_key(const control::CompiledBackend &backend);
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

} // namespace aigw::auth
