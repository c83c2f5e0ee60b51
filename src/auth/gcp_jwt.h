// OAuth 2.0 credentials for cloud providers, as pure functions (the HTTP exchange is the caller's):
// Google service-account keys -> an RS256 JWT assertion -> a jwt-bearer token request body, an
// Azure Entra client-credentials request body, and parsing of either token endpoint's answer.
// Thread-safety: every function is safe to call concurrently.
// Secrets (private keys, client secrets, tokens) never appear in error messages.
#pragma once

#include "core/result.h"

#include <cstdint>
#include <string>
#include <string_view>

namespace aigw::auth {

struct GcpServiceAccount {
  std::string client_email;
  std::string private_key_id;  // may be empty: the JWT then has no "kid"
  std::string private_key_pem; // "-----BEGIN PRIVATE KEY-----..." (PKCS#8) or PKCS#1 RSA
  std::string token_uri;       // "https://oauth2.googleapis.com/token" when the key omits it
  std::string project_id;      // may be empty
};

// Parses a service-account key file (the JSON downloaded from the Google Cloud console).
// Requires "type": "service_account", "client_email" and "private_key"; errors (Error::config)
// name the missing or mistyped field and never quote the input.
Result<GcpServiceAccount> parse_service_account_json(std::string_view json);

// The signed JWT for Google's jwt-bearer grant (RFC 7523):
//   header {"alg":"RS256","typ":"JWT","kid":<private_key_id>}
//   claims {"iss":<client_email>,"scope":<scope>,"aud":<token_uri>,"iat":now,"exp":now+3600}
// base64url without padding, signed RSASSA-PKCS1-v1_5 with SHA-256. Errors (Error::config) when
// the PEM is not an unencrypted RSA private key. The PEM is parsed on every call (callers sign once
// per token lifetime, so no key cache is kept).
Result<std::string>
make_jwt_assertion(const GcpServiceAccount &sa, int64_t unix_now,
                   std::string_view scope = "https://www.googleapis.com/auth/cloud-platform");

// application/x-www-form-urlencoded encoding of one value: A-Za-z0-9 and "-._~" kept, space as
// '+', every other byte as %XX (upper-case hex).
std::string form_url_encode(std::string_view s);

// "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=<assertion>", the
// body to POST (Content-Type: application/x-www-form-urlencoded) to the service account's
// token_uri.
std::string jwt_bearer_token_request_body(std::string_view assertion);

// "grant_type=client_credentials&client_id=..&client_secret=..&scope=..", the body to POST to
// https://login.microsoftonline.com/<tenant>/oauth2/v2.0/token.
std::string azure_client_credentials_body(
    std::string_view client_id, std::string_view client_secret,
    std::string_view scope = "https://cognitiveservices.azure.com/.default");

struct OAuthToken {
  std::string access_token;
  int64_t expires_at_unix = 0; // now + expires_in; callers should refresh a little before
};

// Reads a token endpoint's JSON answer (Google or Azure Entra): "access_token" (required) and
// "expires_in" (seconds, a number or a numeric string as Azure's v1 endpoint sends; 3600 when
// absent; clamped to [0, 1 year]). An {"error": ..., "error_description": ...} answer becomes an
// Error carrying both (they hold no secrets): Error::upstream(503, .., retryable) for
// "temporarily_unavailable" and "server_error", Error::config for the rest (invalid_grant,
// invalid_client, ...: the credentials are wrong). Malformed JSON is an Error::upstream(502) that
// does not quote the body.
Result<OAuthToken> parse_oauth_token_response(std::string_view json, int64_t now);

} // namespace aigw::auth
