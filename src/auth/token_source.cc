// OAuth token requests and their cache; see token_source.h.
#include "auth/token_source.h"

#include "auth/gcp_jwt.h"

#include <spdlog/spdlog.h>

#include <cstdlib>
#include <functional>

namespace aigw::auth {

std::string azure_authority_host() {
  const char *h = std::getenv("AZURE_AUTHORITY_HOST");
  std::string host = h && *h ? h : "https://login.microsoftonline.com/";
  if (host.back() != '/') host += '/';
  return host;
}

std::string TokenSource::cache_key(const control::CompiledBackend &b) {
  if (b.auth_type == "GCPCredentials") {
    if (!b.gcp_service_account) return {};
    const auto &sa = *b.gcp_service_account;
    return "gcp|" + sa.client_email + "|" + sa.private_key_id + "|" + sa.token_uri;
  }
  return "azure|" + b.azure_tenant_id + "|" + b.azure_client_id + "|" +
         std::to_string(std::hash<std::string>{}(b.azure_client_secret));
}

std::optional<std::string> TokenSource::cached(const control::CompiledBackend &b, int64_t now) {
  auto key = cache_key(b);
  std::lock_guard lock(mu_);
  auto it = tokens_.find(key);
  if (it != tokens_.end() && it->second.expires_at - kRefreshBeforeSeconds > now)
    return it->second.token;
  return std::nullopt;
}

Result<TokenRequest> TokenSource::request_for(const control::CompiledBackend &b,
                                              int64_t now) const {
  TokenRequest r;
  r.cache_key = cache_key(b);
  if (b.auth_type == "GCPCredentials") {
    if (!b.gcp_service_account)
      return Error::upstream(
          500,
          "backend " + b.key + ": " +
              (b.gcp_problem.empty() ? "no GCP service account key" : b.gcp_problem),
          false);
    auto assertion = make_jwt_assertion(*b.gcp_service_account, now);
    if (!assertion)
      return Error::upstream(500, "backend " + b.key + ": " + assertion.error().message, false);
    r.url = b.gcp_service_account->token_uri;
    r.form = jwt_bearer_token_request_body(*assertion);
  } else {
    r.url = azure_authority_host() + b.azure_tenant_id + "/oauth2/v2.0/token";
    r.form = azure_client_credentials_body(b.azure_client_id, b.azure_client_secret);
  }
  return r;
}

Result<std::string> TokenSource::on_response(const control::CompiledBackend &b,
                                             const TokenRequest &request, std::string_view body,
                                             int64_t now) {
  auto token = parse_oauth_token_response(body, now);
  if (!token) {
    spdlog::warn("backend {}: the token endpoint refused: {}", b.key, token.error().message);
    return Error::upstream(
        503, "backend " + b.key + ": the token endpoint refused: " + token.error().message, false);
  }
  spdlog::debug("backend {}: new access token, valid for {} s", b.key,
                token->expires_at_unix - now);
  std::lock_guard lock(mu_);
  tokens_[request.cache_key] = Entry{token->access_token, token->expires_at_unix};
  return token->access_token;
}

} // namespace aigw::auth
