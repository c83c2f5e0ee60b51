// Client authentication, as Envoy Gateway's SecurityPolicy configures it and Envoy's api_key_auth,
// basic_auth and jwt_authn filters perform it: who the client is, or the 401 that refuses it, and
// which parts of the request carried the credential (they never reach a provider). No I/O: a
// remote JWKS is read from a JwksStore that the host keeps fetched. Shared by `aigw run` (which
// authenticates) and `aigw extproc` (behind Envoy, which already did: the identity is read back).
#pragma once

#include "auth/jwt.h"
#include "core/header_lookup.h"
#include "core/result.h"

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace aigw::auth {

// A remote JWKS per URI, fetched by the host (aigw run: a refresher on the first worker) and read
// by every request. Rotation: keys are fetched again after their cache duration, and soon after a
// token names a key the set does not have. Thread-safe.
class JwksStore {
public:
  using Clock = std::chrono::steady_clock;
  using Keys = std::shared_ptr<const std::vector<JwtKey>>;
  static constexpr std::chrono::seconds kRetry{5}; // after a failure, or between kid misses

  Keys keys(const std::string &uri) const;
  // A token named a key the set lacks: fetch again (at most every kRetry).
  void request_refresh(const std::string &uri);
  // Whether the refresher should fetch `uri` now.
  bool due(const std::string &uri, std::chrono::seconds cache, Clock::time_point now) const;
  // A fetch of `uri` begins; false when one is already in flight.
  bool start(const std::string &uri, Clock::time_point now);
  // A fetch ended: its keys, or null when it failed (the last good set is kept).
  void put(const std::string &uri, Keys keys, Clock::time_point now);

private:
  struct Entry {
    Keys keys;
    Clock::time_point fetched{}, attempted{};
    bool refresh = false, in_flight = false;
  };
  mutable std::mutex mu_;
  std::map<std::string, Entry, std::less<>> entries_;
};

struct ApiKeyAuthConfig {
  std::unordered_map<std::string, std::string> keys; // API key → client id
  std::vector<std::string> headers;                  // lower-case; a "Bearer " prefix is dropped
  std::vector<std::string> params, cookies;
  std::string forward_client_id_header; // lower-case; "" : none
};

struct BasicAuthConfig {
  std::unordered_map<std::string, std::string> users; // user → SHA-1 of the password (20 bytes)
  std::string forward_username_header;                // lower-case; "" : none
};

struct JwtProviderConfig {
  std::string name, issuer;
  std::vector<std::string> audiences;
  std::vector<JwtKey> local_keys;
  std::string remote_uri; // a remote JWKS ("" : local_keys)
  std::chrono::seconds cache_duration{300};
  std::vector<std::pair<std::string, std::string>> claim_to_headers; // claim (a.b) → header
  struct HeaderSource {
    std::string name, prefix; // lower-case name; the prefix before the token ("Bearer ")
  };
  std::vector<HeaderSource> headers; // none of these three: Authorization Bearer, access_token
  std::vector<std::string> params, cookies;
};

// One SecurityPolicy, compiled. Every method it configures must pass (jwt may be optional).
struct ClientAuth {
  std::string key; // namespace/name of the SecurityPolicy
  std::optional<ApiKeyAuthConfig> api_key;
  std::optional<BasicAuthConfig> basic;
  std::vector<JwtProviderConfig> jwt;
  bool jwt_optional = false;
  // What the policy asks for that only Envoy performs ("spec.extAuth"): aigw run refuses
  // every request under it rather than let one through unchecked.
  std::vector<std::string> unenforced;
};

// Who the client is, and what of the request must not go on.
struct ClientIdentity {
  std::string client_id;   // apiKeyAuth's client id, else the basicAuth user, else the JWT's sub
  std::string_view method; // "api-key", "basic", "jwt", or "" (an optional JWT was absent)
  std::vector<std::pair<std::string, std::string>> set_headers; // forward*Header, claimToHeaders
  std::vector<std::string> remove_headers; // headers that carried a credential, spoofed claims
  std::vector<std::string> remove_params;  // query parameters that carried one
};

struct AuthFailure {
  std::string message;          // Envoy's ("Client authentication failed.", "Jwt is missing")
  std::string www_authenticate; // "" : none
};

struct AuthResult {
  std::optional<ClientIdentity> identity; // nullopt: refused with `failure` (401)
  AuthFailure failure;
};

// Checks the request's credentials (`query`: the target's query, from '?', or empty). `jwks`
// holds remote key sets (null: none are fetched). `now`: unix seconds.
AuthResult authenticate(const ClientAuth &policy, const HeaderLookup &headers,
                        std::string_view query, JwksStore *jwks, int64_t now);

// Behind Envoy, which authenticated the request with the same policy (aigw translate hands the
// SecurityPolicy to Envoy Gateway): the identity as Envoy left it (the forwarded client id or
// user header, the JWT's claims) and the credential to remove. Nothing is verified again.
ClientIdentity identify_verified(const ClientAuth &policy, const HeaderLookup &headers,
                                 std::string_view query);

// `query` (from '?', or empty) without the parameters named; "" when none is left.
std::string strip_query_params(std::string_view query, const std::vector<std::string> &names);

// `query` with the values of the parameters named replaced by "[REDACTED]".
std::string redact_query_params(std::string_view query, const std::vector<std::string> &names);

// The value of query parameter `name` (percent-decoded), or nullopt.
std::optional<std::string> query_param(std::string_view query, std::string_view name);

// The value of cookie `name` in a Cookie header, or nullopt.
std::optional<std::string_view> cookie_value(std::string_view cookie_header, std::string_view name);

// Parses a .htpasswd document of `user:{SHA}base64` lines (the one scheme Envoy's basic_auth
// reads) into user → digest. Errors name the line.
Result<std::unordered_map<std::string, std::string>> parse_htpasswd(std::string_view text);

} // namespace aigw::auth
