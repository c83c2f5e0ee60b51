#include "auth/aws_sigv4.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <optional>

namespace aigw::auth {
namespace {

// The AWS SigV4 test suite's fixed inputs (service "service", us-east-1, 2015-08-30T12:36:00Z).
constexpr int64_t kSuiteTime = 1440938160;
const AwsCredentials kSuiteCreds{"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", ""};

std::string suite_signature(std::string_view method, std::string_view target,
                            const AwsCredentials &creds = kSuiteCreds) {
  SigV4Request req{method, "example.amazonaws.com", target, "", "service", "us-east-1", kSuiteTime};
  std::string auth = sign_sigv4(req, creds).authorization;
  size_t at = auth.find("Signature=");
  return at == std::string::npos ? auth : auth.substr(at + 10);
}

TEST(AwsSigV4, MatchesGetVanillaFromTheAwsSuite) {
  SigV4Request req{"GET", "example.amazonaws.com", "/", "", "service", "us-east-1", kSuiteTime};
  SigV4Headers h = sign_sigv4(req, kSuiteCreds);
  EXPECT_EQ(h.amz_date, "20150830T123600Z");
  EXPECT_EQ(h.security_token, "");
  EXPECT_EQ(h.content_sha256, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(h.authorization,
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
            "SignedHeaders=host;x-amz-date, "
            "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
}

// Expected signatures are the AWS SigV4 test suite's published ones (as vendored in
// awslabs/aws-c-auth tests/aws-signing-test-suite/v4/<case>/header-signed-request.txt), and were
// also reproduced independently with a python3 hmac/hashlib script.
TEST(AwsSigV4, MatchesTheAwsSuiteCasesItCanExpress) {
  EXPECT_EQ(suite_signature("POST", "/"),
            "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"); // post-vanilla
  EXPECT_EQ(suite_signature("GET", "/?Param2=value2&Param1=value1"),
            "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500");
  EXPECT_EQ(suite_signature("POST", "/?Param1=value1"),
            "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11");
  EXPECT_EQ(suite_signature("GET", "/?-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstu"
                                   "vwxyz=-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopq"
                                   "rstuvwxyz"),
            "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197");
  EXPECT_EQ(suite_signature("GET", "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuv"
                                   "wxyz"),
            "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f"); // get-unreserved
  EXPECT_EQ(suite_signature("GET", "/\xE1\x88\xB4"), // get-utf8: the raw bytes of U+1234
            "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85");
  EXPECT_EQ(suite_signature("GET", "/?\xE1\x88\xB4=bar"), // get-vanilla-utf8-query
            "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04");
  // The suite's *-normalized path cases.
  EXPECT_EQ(suite_signature("GET", "//example//"),
            "9a624bd73a37c9a373b5312afbebe7a714a789de108f0bdfe846570885f57e84");
  EXPECT_EQ(suite_signature("GET", "/./example"),
            "ef75d96142cf21edca26f06005da7988e4f8dc83a165a80865db7089db637ec5");
  EXPECT_EQ(suite_signature("GET", "/example1/example2/../.."),
            "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
  EXPECT_EQ(suite_signature("GET", "/example space/"),
            "652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741");
  // get-vanilla-query-order-encoded: an escaped name is decoded, re-encoded and sorted encoded.
  EXPECT_EQ(suite_signature("GET", "/?Param-3=Value3&Param=Value2&%E1%88%B4=Value1"),
            "371d3713e185cc334048618a97f809c9ffe339c62934c032af5a0e595648fcac");
}

TEST(AwsSigV4, SignsTheSessionTokenAsTheSuiteDoes) {
  AwsCredentials creds = kSuiteCreds;
  creds.session_token = "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267";
  SigV4Request req{"GET", "example.amazonaws.com", "/", "", "service", "us-east-1", kSuiteTime};
  SigV4Headers h = sign_sigv4(req, creds);
  EXPECT_EQ(h.security_token, creds.session_token);
  // get-vanilla-with-session-token
  EXPECT_EQ(h.authorization,
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
            "SignedHeaders=host;x-amz-date;x-amz-security-token, "
            "Signature=07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8");
}

// Bedrock vectors: computed independently with python3 (hmac/hashlib) and with botocore's
// SigV4Auth (service "bedrock", time frozen at 2024-07-01T00:00:00Z); both agree.
constexpr std::string_view kConverseBody =
    R"({"messages":[{"role":"user","content":[{"text":"Hello"}]}]})";
constexpr int64_t kJuly2024 = 1719792000;

TEST(AwsSigV4, DoubleEncodesTheWirePathForBedrock) {
  SigV4Request req{"POST",
                   "bedrock-runtime.us-east-1.amazonaws.com",
                   "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse",
                   kConverseBody,
                   "bedrock",
                   "us-east-1",
                   kJuly2024};
  std::string creq = sigv4_detail::canonical_request(req, kSuiteCreds, "20240701T000000Z",
                                                     sigv4_detail::sha256_hex(kConverseBody));
  EXPECT_EQ(creq, "POST\n"
                  "/model/anthropic.claude-3-5-sonnet-20240620-v1%253A0/converse\n"
                  "\n"
                  "host:bedrock-runtime.us-east-1.amazonaws.com\n"
                  "x-amz-date:20240701T000000Z\n"
                  "\n"
                  "host;x-amz-date\n"
                  "7421da8d1a0949a481724fee62d5886aacde03836bf58248adb73e8b61ac0d54");
  SigV4Headers h = sign_sigv4(req, kSuiteCreds);
  EXPECT_EQ(h.amz_date, "20240701T000000Z");
  EXPECT_EQ(h.content_sha256, "7421da8d1a0949a481724fee62d5886aacde03836bf58248adb73e8b61ac0d54");
  EXPECT_EQ(h.authorization,
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240701/us-east-1/bedrock/aws4_request, "
            "SignedHeaders=host;x-amz-date, "
            "Signature=629ce93206a1f97378c2235119e9217dec497b0d8efd3f18d3a4e4ea5e42b94e");

  // The same model id sent with a raw ':' (what Go's url.PathEscape produces) signs differently,
  // because the canonical URI follows the wire path.
  req.path = "/model/anthropic.claude-3-5-sonnet-20240620-v1:0/converse";
  EXPECT_NE(sign_sigv4(req, kSuiteCreds)
                .authorization.find(
                    "Signature=e492ff4b193b32d9c06f5da0363ee8103969377e68d0323e2ac62854606bfd9f"),
            std::string::npos);
}

TEST(AwsSigV4, SignsABedrockStreamWithASessionToken) {
  AwsCredentials creds = kSuiteCreds;
  creds.session_token = "FwoGZXIvYXdzEXAMPLETOKEN==";
  SigV4Request req{"POST",
                   "bedrock-runtime.us-west-2.amazonaws.com",
                   "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse-stream",
                   kConverseBody,
                   "bedrock",
                   "us-west-2",
                   kJuly2024};
  SigV4Headers h = sign_sigv4(req, creds);
  EXPECT_EQ(h.security_token, "FwoGZXIvYXdzEXAMPLETOKEN==");
  EXPECT_EQ(h.authorization,
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240701/us-west-2/bedrock/aws4_request, "
            "SignedHeaders=host;x-amz-date;x-amz-security-token, "
            "Signature=8c9144319fb4ec5ed29cbd42f22f9870c75ffce7918e472b87114cac2fd26ee4");
}

TEST(AwsSigV4, DefaultsToTheBedrockService) {
  SigV4Request req{.method = "POST", .host = "h", .path = "/", .region = "eu-west-1"};
  EXPECT_NE(sign_sigv4(req, kSuiteCreds).authorization.find("/19700101/eu-west-1/bedrock/"),
            std::string::npos);
}

TEST(AwsSigV4Detail, FormatsAmzDates) {
  using sigv4_detail::amz_date;
  EXPECT_EQ(amz_date(0), "19700101T000000Z");
  EXPECT_EQ(amz_date(kSuiteTime), "20150830T123600Z");
  EXPECT_EQ(amz_date(951782400), "20000229T000000Z"); // leap day of a 400-year leap year
  EXPECT_EQ(amz_date(4102444799), "20991231T235959Z");
  EXPECT_EQ(amz_date(-1), "19691231T235959Z");
}

TEST(AwsSigV4Detail, CanonicalizesPathsAndQueries) {
  using namespace sigv4_detail;
  EXPECT_EQ(canonical_uri(""), "/");
  EXPECT_EQ(canonical_uri("/"), "/");
  EXPECT_EQ(canonical_uri("//"), "/");
  EXPECT_EQ(canonical_uri("/a b/%2F/~x"), "/a%20b/%252F/~x");
  EXPECT_EQ(canonical_uri("/a/./b/../../c//d/"), "/c/d/");
  EXPECT_EQ(canonical_uri("/../a/%2E%2E/b"), "/a/%252E%252E/b"); // only literal dots are dots
  EXPECT_EQ(canonical_query(""), "");
  EXPECT_EQ(canonical_query("b=2&a=3&a=1&&c"), "a=1&a=3&b=2&c=");
  EXPECT_EQ(canonical_query("q=a+b%20c&x=%7e&bad=%zz"), "bad=%25zz&q=a%20b%20c&x=~");
  EXPECT_EQ(canonical_query("k=v=w&%41=1"), "A=1&k=v%3Dw");
  EXPECT_EQ(uri_encode("a/b:c", false), "a%2Fb%3Ac");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(BedrockPathEscape, MatchesGoPathEscape) {
  // Go: url.PathEscape keeps unreserved and ":@&=+$", escapes "/;,?" and everything else.
  EXPECT_EQ(bedrock_path_escape("anthropic.claude-3-5-sonnet-20240620-v1:0"),
            "anthropic.claude-3-5-sonnet-20240620-v1:0");
  EXPECT_EQ(bedrock_path_escape("arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.x"),
            "arn:aws:bedrock:us-east-1:123456789012:inference-profile%2Fus.x");
  EXPECT_EQ(bedrock_path_escape("a b;c,d?e%f#g"), "a%20b%3Bc%2Cd%3Fe%25f%23g");
  EXPECT_EQ(bedrock_path_escape("@&=+$~_.-"), "@&=+$~_.-");
  EXPECT_EQ(bedrock_path_escape("!*'()[]\"<>\\^`{|}"),
            "%21%2A%27%28%29%5B%5D%22%3C%3E%5C%5E%60%7B%7C%7D");
  EXPECT_EQ(bedrock_path_escape("\xE1\x88\xB4\x7F"), "%E1%88%B4%7F");
  EXPECT_EQ(bedrock_path_escape(""), "");
}

TEST(BedrockRegion, ReadsTheRegionFromBedrockHosts) {
  EXPECT_EQ(bedrock_region_from_host("bedrock-runtime.us-east-1.amazonaws.com", "x"), "us-east-1");
  EXPECT_EQ(bedrock_region_from_host("bedrock-runtime-fips.us-west-2.amazonaws.com", "x"),
            "us-west-2");
  EXPECT_EQ(bedrock_region_from_host(
                "vpce-0123abcd-xyz.bedrock-runtime.eu-west-1.vpce.amazonaws.com", "x"),
            "eu-west-1");
  EXPECT_EQ(bedrock_region_from_host("bedrock-runtime.ap-south-1.api.aws", "x"), "ap-south-1");
  EXPECT_EQ(bedrock_region_from_host("bedrock-runtime.us-east-1.amazonaws.com:443", "x"),
            "us-east-1");
  EXPECT_EQ(bedrock_region_from_host("Bedrock-Runtime.US-EAST-2.amazonaws.com", "x"), "us-east-2");
}

TEST(BedrockRegion, FallsBackToTheConfiguredRegion) {
  for (const char *host :
       {"bedrock.corp.internal", "bedrock-runtime.us-east-1.amazonaws.com.evil.com",
        "xbedrock-runtime.us-east-1.amazonaws.com", "bedrock-runtime.amazonaws.com",
        "bedrock-runtime..amazonaws.com", "bedrock-runtime.us_east.amazonaws.com",
        "bedrock.us-east-1.amazonaws.com", "", ":443", "[::1]:8080", "amazonaws.com",
        "bedrock-runtime.us-east-1.amazonaws.com:https"})
    EXPECT_EQ(bedrock_region_from_host(host, "eu-central-1"), "eu-central-1") << host;
}

// A literal, backtracking transcription of upstream's regex
//   (?:^|\.)bedrock-runtime(?:-fips)?\.([a-z0-9-]+)\.(?:vpce\.amazonaws\.com|amazonaws\.com|api\.aws)$
// with leftmost-first semantics (RE2's and Go's), used as the oracle below. (std::regex would do,
// but GCC 12 at -O2 with sanitizers warns inside <regex>, and -Werror makes that fatal.)
std::optional<std::string> regex_oracle(std::string_view h) {
  auto region_at = [&](size_t p) -> std::optional<std::string> {
    if (h.substr(p).starts_with("bedrock-runtime"))
      p += 15;
    else
      return std::nullopt;
    for (std::string_view fips : {"-fips", ""}) { // greedy '?' tries the longer branch first
      size_t q = p;
      if (!h.substr(q).starts_with(fips)) continue;
      q += fips.size();
      if (q >= h.size() || h[q] != '.') continue;
      size_t r = ++q;
      while (q < h.size() &&
             ((h[q] >= 'a' && h[q] <= 'z') || (h[q] >= '0' && h[q] <= '9') || h[q] == '-'))
        ++q; // the class has no '.', and a '.' must follow, so only the maximal run can match
      if (q == r || q >= h.size() || h[q] != '.') continue;
      for (std::string_view suffix : {"vpce.amazonaws.com", "amazonaws.com", "api.aws"})
        if (h.substr(q + 1) == suffix) return std::string(h.substr(r, q - r));
    }
    return std::nullopt;
  };
  for (size_t start = 0; start <= h.size(); ++start) {
    if (start == 0)
      if (auto m = region_at(0)) return m;
    if (start < h.size() && h[start] == '.')
      if (auto m = region_at(start + 1)) return m;
  }
  return std::nullopt;
}

// The hand-written matcher must agree with the regex over hosts built from the pieces that matter.
TEST(BedrockRegion, AgreesWithTheRegexOnGeneratedHosts) {
  EXPECT_EQ(regex_oracle("bedrock-runtime.us-east-1.amazonaws.com"), "us-east-1");
  EXPECT_EQ(regex_oracle("bedrock-runtime-fips.us-east-1.vpce.amazonaws.com"), "us-east-1");
  EXPECT_EQ(regex_oracle("bedrock-runtime.bedrock-runtime.vpce.amazonaws.com"), "bedrock-runtime");
  EXPECT_EQ(regex_oracle("a.bedrock-runtime.us-east-1.amazonaws.com.evil"), std::nullopt);
  const std::vector<std::string> parts = {"bedrock-runtime",
                                          "bedrock-runtime-fips",
                                          "us-east-1",
                                          "vpce",
                                          "amazonaws",
                                          "com",
                                          "api",
                                          "aws",
                                          "x",
                                          "bedrock-runtimex",
                                          ""};
  size_t n = parts.size();
  int checked = 0, matched = 0;
  for (size_t a = 0; a < n; ++a)
    for (size_t b = 0; b < n; ++b)
      for (size_t c = 0; c < n; ++c)
        for (size_t d = 0; d < n; ++d)
          for (size_t e = 0; e < n; ++e) {
            std::string host =
                parts[a] + "." + parts[b] + "." + parts[c] + "." + parts[d] + "." + parts[e];
            for (const std::string &h : {host, host.substr(host.find('.') + 1)}) {
              std::string want = regex_oracle(h).value_or("fallback");
              ASSERT_EQ(bedrock_region_from_host(h, "fallback"), want) << h;
              ++checked;
              matched += want != "fallback";
            }
          }
  EXPECT_GT(checked, 100000);
  EXPECT_GT(matched, 100);
}

TEST(AwsCredentialsFile, ReadsTheDefaultProfile) {
  auto creds = parse_aws_credentials_file("[default]\n"
                                          "aws_access_key_id = AKIDEXAMPLE\n"
                                          "aws_secret_access_key = wJalr/K7MDENG+bPx==\n");
  ASSERT_TRUE(creds) << creds.error().message;
  EXPECT_EQ(creds->access_key_id, "AKIDEXAMPLE");
  EXPECT_EQ(creds->secret_access_key, "wJalr/K7MDENG+bPx==");
  EXPECT_EQ(creds->session_token, "");
}

TEST(AwsCredentialsFile, ToleratesCommentsCaseWhitespaceAndCrlf) {
  std::string ini = "\xEF\xBB\xBF# a comment\r\n"
                    "; another\r\n"
                    "[other]\r\n"
                    "aws_access_key_id=WRONG\r\n"
                    "  [ work ]  \r\n"
                    "AWS_Access_Key_ID:AKID2   # inline comment\r\n"
                    "\taws_secret_access_key   =   sec#ret   \r\n"
                    "aws_session_token = tok=en==\r\n"
                    "s3 =\r\n"
                    "    max_concurrent_requests = 20\r\n"
                    "region = us-east-1\r\n";
  auto creds = parse_aws_credentials_file(ini, "work");
  ASSERT_TRUE(creds) << creds.error().message;
  EXPECT_EQ(creds->access_key_id, "AKID2");
  EXPECT_EQ(creds->secret_access_key, "sec#ret");
  EXPECT_EQ(creds->session_token, "tok=en==");
}

TEST(AwsCredentialsFile, AcceptsProfilePrefixAndMergesRepeatedSections) {
  std::string ini = "[profile dev]\naws_access_key_id = A1\naws_secret_access_key = S1\n"
                    "[profile dev]\naws_secret_access_key = S2\naws_security_token = T\n";
  auto creds = parse_aws_credentials_file(ini, "dev");
  ASSERT_TRUE(creds) << creds.error().message;
  EXPECT_EQ(creds->access_key_id, "A1");
  EXPECT_EQ(creds->secret_access_key, "S2");
  EXPECT_EQ(creds->session_token, "T");
  // An exact [dev] wins over [profile dev].
  auto exact = parse_aws_credentials_file(ini + "[dev]\naws_access_key_id=A3\n"
                                                "aws_secret_access_key=S3\n",
                                          "dev");
  ASSERT_TRUE(exact);
  EXPECT_EQ(exact->access_key_id, "A3");
}

TEST(AwsCredentialsFile, NamesWhatIsMissingButNeverAValue) {
  auto no_profile = parse_aws_credentials_file("[default]\naws_access_key_id=A\n", "prod");
  ASSERT_FALSE(no_profile);
  EXPECT_EQ(no_profile.error().source, ErrorSource::kConfig);
  EXPECT_NE(no_profile.error().message.find("\"prod\""), std::string::npos);

  auto no_secret = parse_aws_credentials_file("[default]\naws_access_key_id=AKIDSECRETISH\n");
  ASSERT_FALSE(no_secret);
  EXPECT_NE(no_secret.error().message.find("aws_secret_access_key"), std::string::npos);
  EXPECT_EQ(no_secret.error().message.find("AKIDSECRETISH"), std::string::npos);

  auto no_id = parse_aws_credentials_file("[default]\naws_secret_access_key=TOPSECRET\n"
                                          "aws_access_key_id=\n");
  ASSERT_FALSE(no_id);
  EXPECT_NE(no_id.error().message.find("aws_access_key_id"), std::string::npos);
  EXPECT_EQ(no_id.error().message.find("TOPSECRET"), std::string::npos);

  EXPECT_FALSE(parse_aws_credentials_file(""));
  EXPECT_FALSE(parse_aws_credentials_file("[default"));
}

TEST(AwsCredentialsEnv, ReadsTheStandardVariables) {
  ::unsetenv("AWS_ACCESS_KEY_ID");
  ::unsetenv("AWS_SECRET_ACCESS_KEY");
  ::unsetenv("AWS_SESSION_TOKEN");
  EXPECT_FALSE(aws_credentials_from_env());
  ::setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
  EXPECT_FALSE(aws_credentials_from_env());
  ::setenv("AWS_SECRET_ACCESS_KEY", "secretenv", 1);
  auto creds = aws_credentials_from_env();
  ASSERT_TRUE(creds);
  EXPECT_EQ(creds->access_key_id, "AKIDENV");
  EXPECT_EQ(creds->secret_access_key, "secretenv");
  EXPECT_EQ(creds->session_token, "");
  ::setenv("AWS_SESSION_TOKEN", "tokenenv", 1);
  EXPECT_EQ(aws_credentials_from_env()->session_token, "tokenenv");
  ::unsetenv("AWS_ACCESS_KEY_ID");
  ::unsetenv("AWS_SECRET_ACCESS_KEY");
  ::unsetenv("AWS_SESSION_TOKEN");
}

} // namespace
} // namespace aigw::auth
