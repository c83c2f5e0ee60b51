// Static credentials; see backend_auth.h.
#include "auth/static_auth.h"

#include "auth/aws_sigv4.h"

namespace aigw::auth {
namespace {

void sign(const control::CompiledBackend &b, std::string_view method, std::string_view path,
          std::string_view body, int64_t unix_now, const AwsCredentials &creds,
          std::string &authorization, std::vector<std::pair<std::string, std::string>> &extra) {
  SigV4Request sr;
  sr.method = method;
  sr.host = b.host_header;
  sr.path = path;
  sr.payload = body;
  sr.region = b.aws_signing_region;
  sr.unix_time = unix_now;
  auto signed_headers = sign_sigv4(sr, creds);
  authorization = std::move(signed_headers.authorization);
  extra.emplace_back("x-amz-date", std::move(signed_headers.amz_date));
  if (!signed_headers.security_token.empty())
    extra.emplace_back("x-amz-security-token", std::move(signed_headers.security_token));
}

} // namespace

Result<AuthOutcome> apply_static_auth(const control::CompiledBackend &b, std::string_view method,
                                      std::string_view path, std::string_view body,
                                      int64_t unix_now, std::string &authorization,
                                      std::vector<std::pair<std::string, std::string>> &extra,
                                      const AwsCredentials *aws) {
  const auto &at = b.auth_type;
  if (aws) {
    sign(b, method, path, body, unix_now, *aws, authorization, extra);
    return AuthOutcome::kDone;
  }
  if (!b.bearer_token.empty()) {
    authorization = "Bearer " + b.bearer_token;
  } else if (at == "APIKey") {
    if (!b.api_key.empty()) authorization = "Bearer " + b.api_key;
  } else if (at == "AzureAPIKey") {
    extra.emplace_back("api-key", b.api_key);
  } else if (at == "AnthropicAPIKey") {
    extra.emplace_back("x-api-key", b.api_key);
  } else if (at == "AWSCredentials") {
    std::optional<auth::AwsCredentials> env_creds;
    const auth::AwsCredentials *creds = b.aws_credentials ? &*b.aws_credentials : nullptr;
    if (!creds) {
      env_creds = auth::aws_credentials_from_env();
      if (env_creds) creds = &*env_creds;
    }
    if (!creds)
      return Error::upstream(500,
                             "backend " + b.key +
                                 ": no AWS credentials (set awsCredentials.credentialsFile or "
                                 "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)",
                             false);
    sign(b, method, path, body, unix_now, *creds, authorization, extra);
  } else if (at == "GCPCredentials" || at == "AzureCredentials") {
    return AuthOutcome::kNeedsToken;
  }
  return AuthOutcome::kDone;
}

} // namespace aigw::auth
