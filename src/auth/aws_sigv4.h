// AWS credentials (shared credentials file, environment) and Signature Version 4 request signing
// for Bedrock. Pure functions: no I/O apart from aws_credentials_from_env() reading the process
// environment. Thread-safety: every function is safe to call concurrently (aws_credentials_from_env
// only races with code that calls setenv/putenv at the same time).
#pragma once

#include "core/result.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace aigw::auth {

struct AwsCredentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token; // empty for long-term (IAM user) keys
};

// Reads one profile of an AWS shared credentials file (~/.aws/credentials):
//
//   [default]
//   aws_access_key_id = AKIA...
//   aws_secret_access_key = ...
//   aws_session_token = ...        ; optional (aws_security_token is accepted as an alias)
//
// Keys are case-insensitive and may use ':' instead of '='; whitespace around keys, values and
// section names is ignored; lines starting with '#' or ';' are comments, and so is anything after
// " #" / " ;" (whitespace first, so a value may contain '#'). "[profile x]" is accepted for x (the
// config-file spelling) when there is no "[x]"; sections that repeat are merged, later keys
// winning. Indented lines under a key with an empty value (nested settings) are skipped. CRLF and a
// UTF-8 BOM are tolerated. Errors name the missing profile or key, never a value.
Result<AwsCredentials> parse_aws_credentials_file(std::string_view ini,
                                                  std::string_view profile = "default");

// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and (optional) AWS_SESSION_TOKEN; nullopt unless both
// of the first two are set and non-empty.
std::optional<AwsCredentials> aws_credentials_from_env();

// The region to sign for: the one named in a Bedrock runtime host, else `configured`. A host
// matches when it fits (as Envoy AI Gateway's regex, hand-matched here with the same leftmost-match
// result)
//   (?:^|\.)bedrock-runtime(?:-fips)?\.([a-z0-9-]+)\.(?:vpce\.amazonaws\.com|amazonaws\.com|api\.aws)$
// e.g. bedrock-runtime.us-east-1.amazonaws.com, bedrock-runtime-fips.us-west-2.amazonaws.com,
// vpce-0abc.bedrock-runtime.eu-west-1.vpce.amazonaws.com, bedrock-runtime.us-east-1.api.aws.
// A trailing ":port" is removed first and the host is lower-cased (host names are case-insensitive;
// upstream matches the case-sensitive regex). Spoofed suffixes (...amazonaws.com.evil.com) fall
// back.
std::string bedrock_region_from_host(std::string_view host, std::string_view configured);

// Escapes a model id for use as one URL path segment exactly as Go's url.PathEscape does, which is
// what upstream uses to build "/model/{id}/converse": ASCII letters, digits and "-_.~" are kept,
// and so are ":@&=+$" (RFC 3986 allows them in a segment); "/;,?", '%', space, other ASCII and
// every non-ASCII byte become %XX (upper-case hex). So "anthropic.claude-3-5-sonnet-20240620-v1:0"
// is unchanged and "arn:aws:bedrock:us-east-1:123:inference-profile/x" gets "%2F" for its '/'.
// (AWS SDKs send ":" as "%3A"; Bedrock accepts both, and sign_sigv4 signs whichever path is sent.)
std::string bedrock_path_escape(std::string_view model_id);

struct SigV4Request {
  std::string_view method = {};  // "POST"
  std::string_view host = {};    // exactly the Host header that will be sent (":port" if sent)
  std::string_view path = {};    // the request target as sent on the wire: already
                                 // percent-encoded path, optionally followed by "?query"
  std::string_view payload = {}; // the exact body bytes that will be sent
  std::string_view service = "bedrock";
  std::string_view region = {};
  int64_t unix_time = 0; // signing time, seconds since the epoch (UTC)
};

// Headers to add to the request. Send `authorization` as Authorization, `amz_date` as X-Amz-Date
// and, when non-empty, `security_token` as X-Amz-Security-Token. The signed headers are
// host;x-amz-date[;x-amz-security-token] -- so the request must not gain or change those, and any
// other header (content-type, content-length, transfer-encoding) may change freely.
struct SigV4Headers {
  std::string authorization;
  std::string amz_date;       // "20150830T123600Z"
  std::string security_token; // empty when the credentials have no session token
  // Hex SHA-256 of the payload, as used in the signature. Informational only: it is NOT among the
  // signed headers and need not be sent (Bedrock does not require x-amz-content-sha256; some AWS
  // services reject x-amz-* headers that are not signed, so do not send it).
  std::string content_sha256;
};

// Signs `req` with AWS Signature Version 4 (header form, AWS4-HMAC-SHA256).
//
// Canonical URI: the path as sent, with empty, "." and ".." segments removed (AWS's RFC 3986
// normalization for every service but S3), each segment URI-encoded once more ("double
// encoding"). For example the path "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse"
// has the canonical URI "/model/anthropic.claude-3-5-sonnet-20240620-v1%253A0/converse". This is
// what AWS computes from the received request, and what @smithy/signature-v4 (uriEscapePath:
// true, the default) and botocore compute given the same wire path. The path is always signed as
// absolute ("" and "//" sign as "/"); a trailing '/' is kept.
// Canonical query: '&'-separated pairs, each name and value percent-decoded ('+' read as a space,
// like Go's and botocore's parsers) then re-encoded with only A-Za-z0-9-._~ unescaped, sorted by
// encoded name then value; empty pairs dropped, a name without '=' has an empty value.
// The Host value is signed as given (surrounding whitespace trimmed).
// OpenSSL failures (allocation only) yield an empty `authorization`.
SigV4Headers sign_sigv4(const SigV4Request &req, const AwsCredentials &creds);

// Building blocks, exposed for tests.
namespace sigv4_detail {
// "20150830T123600Z" for 1440938160.
std::string amz_date(int64_t unix_time);
// Percent-encodes every byte except A-Za-z0-9-._~ (and '/' when keep_slash).
std::string uri_encode(std::string_view s, bool keep_slash);
std::string canonical_uri(std::string_view raw_path);
std::string canonical_query(std::string_view raw_query);
std::string canonical_request(const SigV4Request &req, const AwsCredentials &creds,
                              std::string_view amz_date, std::string_view payload_hash);
std::string sha256_hex(std::string_view data);
} // namespace sigv4_detail

} // namespace aigw::auth
