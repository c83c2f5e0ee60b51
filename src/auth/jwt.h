// JSON Web Tokens checked against a JSON Web Key Set, as Envoy's jwt_authn checks them for an
// Envoy Gateway SecurityPolicy: the signature (RS256/384/512, PS256/384/512, ES256/384), the
// issuer exactly, an audience among the configured ones (when some are), the expiry and not-before
// times with a 60 s clock skew. No I/O: the key set is fetched by the host.
#pragma once

#include "core/result.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

typedef struct evp_pkey_st EVP_PKEY;

namespace aigw::auth {

struct JwtKey {
  std::string kid;
  std::string kty; // RSA or EC
  std::string alg; // may be empty
  std::shared_ptr<EVP_PKEY> key;
};

// The keys of a JWKS document usable for signatures (others are skipped).
Result<std::vector<JwtKey>> parse_jwks(std::string_view json);

struct VerifiedJwt {
  std::string payload; // the claims, as JSON
  std::string subject;
  std::vector<std::string> scopes; // `scope` (space-separated) or `scp`
};

// base64url without padding (JWT segments, JWK fields); nullopt when it is not that.
std::optional<std::string> base64url_decode(std::string_view in);

// The bearer token of an Authorization header value, or "" when there is none.
std::string_view bearer_token(std::string_view authorization);

// Errors carry Envoy's messages ("Jwt is expired", "Jwt verification fails", ...).
Result<VerifiedJwt> verify_jwt(std::string_view token, const std::vector<JwtKey> &keys,
                               std::string_view issuer, const std::vector<std::string> &audiences,
                               int64_t now);

// The scopes of a JWT's claims (JSON), as upstream reads them: `scope` and `scp`, each a
// space-separated string or an array of them.
std::vector<std::string> jwt_scopes(std::string_view payload);

} // namespace aigw::auth
