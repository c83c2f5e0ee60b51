#include "auth/gcp_jwt.h"

#include "core/base64.h"
#include "core/json_scan.h"

#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <simdjson.h>

#include <memory>

namespace aigw::auth {
namespace {

using PkeyPtr = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;

PkeyPtr generate(int type, int rsa_bits = 0) {
  EVP_PKEY *key = nullptr;
  std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)> ctx(
      EVP_PKEY_CTX_new_id(type, nullptr), EVP_PKEY_CTX_free);
  if (ctx && EVP_PKEY_keygen_init(ctx.get()) == 1 &&
      (rsa_bits == 0 || EVP_PKEY_CTX_set_rsa_keygen_bits(ctx.get(), rsa_bits) == 1))
    EVP_PKEY_keygen(ctx.get(), &key);
  return PkeyPtr(key, EVP_PKEY_free);
}

enum class Pem { kPkcs8, kPkcs1, kEncrypted };

std::string to_pem(EVP_PKEY *key, Pem form) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
  int ok = 0;
  char pass[] = "pass phrase";
  switch (form) {
  case Pem::kPkcs8:
    ok = PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr);
    break;
  case Pem::kPkcs1:
    ok =
        PEM_write_bio_PrivateKey_traditional(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr);
    break;
  case Pem::kEncrypted:
    ok = PEM_write_bio_PKCS8PrivateKey(bio.get(), key, EVP_aes_256_cbc(), pass, sizeof pass - 1,
                                       nullptr, nullptr);
    break;
  }
  if (ok != 1) return {};
  char *data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

// One RSA key for the whole file: generating is the slow part.
EVP_PKEY *rsa_key() {
  static PkeyPtr key = generate(EVP_PKEY_RSA, 2048);
  return key.get();
}

bool verify_rs256(EVP_PKEY *key, std::string_view data, std::string_view sig) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  return EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key) == 1 &&
         EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char *>(sig.data()),
                          sig.size(), reinterpret_cast<const unsigned char *>(data.data()),
                          data.size()) == 1;
}

std::string b64url_decode(std::string_view s) {
  EXPECT_EQ(s.find_first_of("+/="), std::string_view::npos) << "not unpadded base64url: " << s;
  auto d = base64_decode(s);
  EXPECT_TRUE(d.has_value());
  return d.value_or("");
}

std::string service_account_json(std::string_view pem, std::string_view extra = "") {
  std::string j = R"({"type":"service_account","project_id":"proj-1","private_key_id":"kid-123",)";
  j += R"("private_key":)" + json::quoted(pem);
  j += R"(,"client_email":"svc@proj-1.iam.gserviceaccount.com","client_id":"1",)";
  j += R"("token_uri":"https://oauth2.googleapis.com/token")";
  j += extra;
  j += "}";
  return j;
}

TEST(ServiceAccount, ParsesAKeyFile) {
  auto sa = parse_service_account_json(service_account_json("PEM\nDATA\n"));
  ASSERT_TRUE(sa) << sa.error().message;
  EXPECT_EQ(sa->client_email, "svc@proj-1.iam.gserviceaccount.com");
  EXPECT_EQ(sa->private_key_id, "kid-123");
  EXPECT_EQ(sa->private_key_pem, "PEM\nDATA\n"); // "\n" escapes decoded
  EXPECT_EQ(sa->token_uri, "https://oauth2.googleapis.com/token");
  EXPECT_EQ(sa->project_id, "proj-1");
}

TEST(ServiceAccount, DefaultsTheTokenUri) {
  auto sa = parse_service_account_json(
      R"({"type":"service_account","client_email":"a@b","private_key":"k"})");
  ASSERT_TRUE(sa) << sa.error().message;
  EXPECT_EQ(sa->token_uri, "https://oauth2.googleapis.com/token");
  EXPECT_EQ(sa->private_key_id, "");
}

TEST(ServiceAccount, NamesTheMissingOrWrongField) {
  auto expect_error = [](std::string_view json, std::string_view needle) {
    auto sa = parse_service_account_json(json);
    ASSERT_FALSE(sa) << json;
    EXPECT_EQ(sa.error().source, ErrorSource::kConfig);
    EXPECT_NE(sa.error().message.find(needle), std::string::npos) << sa.error().message;
    EXPECT_EQ(sa.error().message.find("SECRETKEY"), std::string::npos) << sa.error().message;
  };
  expect_error(R"({"client_email":"a@b","private_key":"SECRETKEY"})", "\"type\"");
  expect_error(R"({"type":"authorized_user","private_key":"SECRETKEY"})", "authorized_user");
  expect_error(R"({"type":"service_account","private_key":"SECRETKEY"})", "client_email");
  expect_error(R"({"type":"service_account","client_email":"a@b"})", "private_key");
  expect_error(R"({"type":"service_account","client_email":"a@b","private_key":""})",
               "private_key");
  expect_error(R"({"type":"service_account","client_email":7,"private_key":"SECRETKEY"})",
               "client_email");
  expect_error(R"({"type":"service_account", "private_key":"SECRETKEY")", "not valid JSON");
  expect_error(R"(["SECRETKEY"])", "not a JSON object");
}

struct DecodedJwt {
  std::string header, claims, signing_input, signature;
};

DecodedJwt split_jwt(std::string_view jwt) {
  size_t a = jwt.find('.'), b = jwt.rfind('.');
  EXPECT_NE(a, b);
  return {b64url_decode(jwt.substr(0, a)), b64url_decode(jwt.substr(a + 1, b - a - 1)),
          std::string(jwt.substr(0, b)), b64url_decode(jwt.substr(b + 1))};
}

void check_jwt(const GcpServiceAccount &sa, std::string_view pem_kind) {
  SCOPED_TRACE(pem_kind);
  auto jwt = make_jwt_assertion(sa, 1700000000, "https://www.googleapis.com/auth/cloud-platform");
  ASSERT_TRUE(jwt) << jwt.error().message;
  DecodedJwt d = split_jwt(*jwt);
  EXPECT_EQ(d.header, R"({"alg":"RS256","typ":"JWT","kid":"kid-123"})");
  EXPECT_TRUE(verify_rs256(rsa_key(), d.signing_input, d.signature));
  EXPECT_EQ(d.signature.size(), 256u);

  simdjson::dom::parser parser;
  simdjson::dom::element claims;
  ASSERT_FALSE(parser.parse(d.claims).get(claims)) << d.claims;
  EXPECT_EQ(std::string_view(claims["iss"]), "svc@proj-1.iam.gserviceaccount.com");
  EXPECT_EQ(std::string_view(claims["scope"]), "https://www.googleapis.com/auth/cloud-platform");
  EXPECT_EQ(std::string_view(claims["aud"]), "https://oauth2.googleapis.com/token");
  EXPECT_EQ(int64_t(claims["iat"]), 1700000000);
  EXPECT_EQ(int64_t(claims["exp"]), 1700003600);

  // A changed claim no longer verifies.
  std::string tampered = d.signing_input;
  tampered[tampered.size() - 2] ^= 1;
  EXPECT_FALSE(verify_rs256(rsa_key(), tampered, d.signature));
}

TEST(JwtAssertion, SignsWithAPkcs8AndAPkcs1Key) {
  ASSERT_NE(rsa_key(), nullptr);
  for (Pem form : {Pem::kPkcs8, Pem::kPkcs1}) {
    std::string pem = to_pem(rsa_key(), form);
    ASSERT_NE(pem.find(form == Pem::kPkcs8 ? "BEGIN PRIVATE KEY" : "BEGIN RSA PRIVATE KEY"),
              std::string::npos);
    auto sa = parse_service_account_json(service_account_json(pem));
    ASSERT_TRUE(sa) << sa.error().message;
    check_jwt(*sa, form == Pem::kPkcs8 ? "pkcs8" : "pkcs1");
  }
}

TEST(JwtAssertion, EscapesClaimStringsAndOmitsAnEmptyKid) {
  GcpServiceAccount sa{"we\"ird\\@x", "", to_pem(rsa_key(), Pem::kPkcs8), "", ""};
  auto jwt = make_jwt_assertion(sa, 5, "a b\n\"c\"");
  ASSERT_TRUE(jwt) << jwt.error().message;
  DecodedJwt d = split_jwt(*jwt);
  EXPECT_EQ(d.header, R"({"alg":"RS256","typ":"JWT"})");
  EXPECT_EQ(d.claims, R"({"iss":"we\"ird\\@x","scope":"a b\n\"c\"",)"
                      R"("aud":"https://oauth2.googleapis.com/token","iat":5,"exp":3605})");
  EXPECT_TRUE(verify_rs256(rsa_key(), d.signing_input, d.signature));
}

TEST(JwtAssertion, RejectsUnusableKeysWithoutLeakingThem) {
  auto expect_error = [](const std::string &pem, std::string_view needle) {
    GcpServiceAccount sa{"a@b", "k", pem, "https://oauth2.googleapis.com/token", ""};
    auto jwt = make_jwt_assertion(sa, 0);
    ASSERT_FALSE(jwt);
    EXPECT_EQ(jwt.error().source, ErrorSource::kConfig);
    EXPECT_NE(jwt.error().message.find(needle), std::string::npos) << jwt.error().message;
    EXPECT_EQ(jwt.error().message.find("BEGIN"), std::string::npos);
  };
  expect_error("not a pem", "not a PEM");
  expect_error("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "not a PEM");
  // Encrypted: must fail, not prompt on the terminal for a pass phrase.
  expect_error(to_pem(rsa_key(), Pem::kEncrypted), "not a PEM");
  PkeyPtr ed = generate(EVP_PKEY_ED25519);
  ASSERT_NE(ed, nullptr);
  expect_error(to_pem(ed.get(), Pem::kPkcs8), "not an RSA key");
}

TEST(FormUrlEncode, EncodesLikeAForm) {
  EXPECT_EQ(form_url_encode("aZ09-._~"), "aZ09-._~");
  EXPECT_EQ(form_url_encode("a b+c&d=e/f:g%"), "a+b%2Bc%26d%3De%2Ff%3Ag%25");
  EXPECT_EQ(form_url_encode("\xC3\xA9"), "%C3%A9");
  EXPECT_EQ(form_url_encode(""), "");
}

TEST(TokenRequestBodies, BuildTheJwtBearerAndClientCredentialsForms) {
  EXPECT_EQ(jwt_bearer_token_request_body("aaa.bbb-_.ccc"),
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=aaa.bbb-_."
            "ccc");
  EXPECT_EQ(azure_client_credentials_body("11111111-2222", "s3cr=t&x~"),
            "grant_type=client_credentials&client_id=11111111-2222&client_secret=s3cr%3Dt%26x~"
            "&scope=https%3A%2F%2Fcognitiveservices.azure.com%2F.default");
  EXPECT_EQ(azure_client_credentials_body("id", "sec", "api://x/.default"),
            "grant_type=client_credentials&client_id=id&client_secret=sec"
            "&scope=api%3A%2F%2Fx%2F.default");
}

TEST(OAuthTokenResponse, ReadsGoogleAndAzureAnswers) {
  auto google = parse_oauth_token_response(
      R"({"access_token":"ya29.abc","expires_in":3599,"token_type":"Bearer"})", 1000);
  ASSERT_TRUE(google) << google.error().message;
  EXPECT_EQ(google->access_token, "ya29.abc");
  EXPECT_EQ(google->expires_at_unix, 4599);

  auto azure_v2 = parse_oauth_token_response(
      R"({"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,"access_token":"eyJ0"})",
      10);
  ASSERT_TRUE(azure_v2);
  EXPECT_EQ(azure_v2->expires_at_unix, 3609);

  auto azure_v1 = parse_oauth_token_response(
      R"({"token_type":"Bearer","expires_in":"3599","expires_on":"1700003599","access_token":"x"})",
      0);
  ASSERT_TRUE(azure_v1) << azure_v1.error().message;
  EXPECT_EQ(azure_v1->expires_at_unix, 3599);

  EXPECT_EQ(parse_oauth_token_response(R"({"access_token":"t"})", 7)->expires_at_unix, 3607);
  EXPECT_EQ(
      parse_oauth_token_response(R"({"access_token":"t","expires_in":null})", 7)->expires_at_unix,
      3607);
  EXPECT_EQ(
      parse_oauth_token_response(R"({"access_token":"t","expires_in":59.9})", 0)->expires_at_unix,
      59);
  EXPECT_EQ(
      parse_oauth_token_response(R"({"access_token":"t","expires_in":-5})", 100)->expires_at_unix,
      100);
  EXPECT_EQ(
      parse_oauth_token_response(R"({"access_token":"t","expires_in":1e300})", 0)->expires_at_unix,
      366 * 24 * 3600);
}

TEST(OAuthTokenResponse, TurnsAnErrorAnswerIntoAnError) {
  auto bad_grant = parse_oauth_token_response(
      R"({"error":"invalid_grant","error_description":"Invalid JWT Signature."})", 0);
  ASSERT_FALSE(bad_grant);
  EXPECT_EQ(bad_grant.error().source, ErrorSource::kConfig);
  EXPECT_NE(bad_grant.error().message.find("invalid_grant: Invalid JWT Signature."),
            std::string::npos)
      << bad_grant.error().message;

  auto azure = parse_oauth_token_response(
      R"({"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.","error_codes":[7000215]})",
      0);
  ASSERT_FALSE(azure);
  EXPECT_NE(azure.error().message.find("AADSTS7000215"), std::string::npos);

  auto busy = parse_oauth_token_response(R"({"error":"temporarily_unavailable"})", 0);
  ASSERT_FALSE(busy);
  EXPECT_EQ(busy.error().source, ErrorSource::kUpstream);
  EXPECT_TRUE(busy.error().retryable);
}

TEST(OAuthTokenResponse, RejectsMalformedAnswersWithoutQuotingThem) {
  for (std::string_view body :
       {R"({"access_token":"SECRETTOKEN")", R"(["SECRETTOKEN"])", R"({"token":"SECRETTOKEN"})",
        R"({"access_token":""})", R"({"access_token":7})",
        R"({"access_token":"SECRETTOKEN","expires_in":"soon"})",
        R"({"access_token":"SECRETTOKEN","expires_in":"99999999999999999999999"})",
        R"({"access_token":"SECRETTOKEN","expires_in":{}})", ""}) {
    auto r = parse_oauth_token_response(body, 0);
    ASSERT_FALSE(r) << body;
    EXPECT_EQ(r.error().message.find("SECRETTOKEN"), std::string::npos) << r.error().message;
  }
}

} // namespace
} // namespace aigw::auth
