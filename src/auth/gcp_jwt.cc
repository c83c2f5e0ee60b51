// Service-account JWTs and OAuth token bodies; see gcp_jwt.h.
#include "auth/gcp_jwt.h"

#include "core/base64.h"
#include "core/json_scan.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <simdjson.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <memory>
#include <optional>

namespace aigw::auth {
namespace {

constexpr std::string_view kGoogleTokenUri = "https://oauth2.googleapis.com/token";
constexpr int64_t kJwtLifetimeSeconds = 3600;
constexpr int64_t kDefaultExpiresIn = 3600;
constexpr int64_t kMaxExpiresIn = int64_t{366} * 24 * 3600;
constexpr size_t kMaxErrorText = 512;

Error sa_error(std::string msg) { return Error::config("gcp service account: " + std::move(msg)); }

// The string member `key` of `obj`: nullopt when absent, an Error when not a string.
Result<std::optional<std::string>> string_field(simdjson::dom::object obj, const char *key) {
  simdjson::dom::element v;
  if (obj[key].get(v)) return std::optional<std::string>();
  std::string_view s;
  if (v.get_string().get(s)) return sa_error(std::string("\"") + key + "\" must be a string");
  return std::optional<std::string>(std::string(s));
}

std::string base64url(std::string_view in) {
  std::string s = base64_encode(in);
  while (!s.empty() && s.back() == '=')
    s.pop_back();
  std::replace(s.begin(), s.end(), '+', '-');
  std::replace(s.begin(), s.end(), '/', '_');
  return s;
}

struct BioFree {
  void operator()(BIO *b) const { BIO_free(b); }
};
struct PkeyFree {
  void operator()(EVP_PKEY *k) const { EVP_PKEY_free(k); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX *c) const { EVP_MD_CTX_free(c); }
};

// Never prompt on a terminal for an encrypted key's pass phrase: fail instead.
int no_passphrase(char *, int, int, void *) { return -1; }

Result<std::string> rs256_sign(std::string_view pem, std::string_view data) {
  // Leave no stale entries on this thread's OpenSSL error queue for other users to misread.
  struct ClearErrors {
    ~ClearErrors() { ERR_clear_error(); }
  } clear_errors;
  std::unique_ptr<BIO, BioFree> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return sa_error("out of memory reading private_key");
  // Reads PKCS#8 ("BEGIN PRIVATE KEY") and traditional PKCS#1 ("BEGIN RSA PRIVATE KEY") alike.
  std::unique_ptr<EVP_PKEY, PkeyFree> key(
      PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr));
  if (!key) return sa_error("private_key is not a PEM-encoded unencrypted private key");
  if (EVP_PKEY_base_id(key.get()) != EVP_PKEY_RSA)
    return sa_error("private_key is not an RSA key (RS256 needs one)");
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  size_t sig_len = 0;
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key.get()) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &sig_len,
                     reinterpret_cast<const unsigned char *>(data.data()), data.size()) != 1)
    return sa_error("cannot sign with private_key");
  std::string sig(sig_len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char *>(sig.data()), &sig_len,
                     reinterpret_cast<const unsigned char *>(data.data()), data.size()) != 1)
    return sa_error("cannot sign with private_key");
  sig.resize(sig_len);
  return sig;
}

} // namespace

Result<GcpServiceAccount> parse_service_account_json(std::string_view json) {
  // A local parser, not a thread_local one, so the decoded private key does not outlive the call
  // in a long-lived buffer.
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(json.data(), json.size(), true).get(doc))
    return sa_error("the key file is not valid JSON");
  simdjson::dom::object obj;
  if (doc.get_object().get(obj)) return sa_error("the key file is not a JSON object");

  auto type = string_field(obj, "type");
  if (!type) return type.error();
  if (!type->has_value()) return sa_error("missing \"type\"");
  if (**type != "service_account")
    return sa_error("\"type\" is \"" + (**type).substr(0, 64) + "\", expected \"service_account\"");

  GcpServiceAccount sa;
  struct Field {
    const char *name;
    std::string *out;
    bool required;
  };
  for (const Field &f :
       {Field{"client_email", &sa.client_email, true},
        Field{"private_key", &sa.private_key_pem, true},
        Field{"private_key_id", &sa.private_key_id, false},
        Field{"token_uri", &sa.token_uri, false}, Field{"project_id", &sa.project_id, false}}) {
    auto v = string_field(obj, f.name);
    if (!v) return v.error();
    if (v->has_value()) *f.out = std::move(**v);
    if (f.required && f.out->empty()) return sa_error(std::string("missing \"") + f.name + "\"");
  }
  if (sa.token_uri.empty()) sa.token_uri = kGoogleTokenUri;
  return sa;
}

Result<std::string> make_jwt_assertion(const GcpServiceAccount &sa, int64_t unix_now,
                                       std::string_view scope) {
  std::string header = R"({"alg":"RS256","typ":"JWT")";
  if (!sa.private_key_id.empty()) {
    header += R"(,"kid":)";
    json::append_quoted(header, sa.private_key_id);
  }
  header += '}';
  std::string claims = R"({"iss":)";
  json::append_quoted(claims, sa.client_email);
  claims += R"(,"scope":)";
  json::append_quoted(claims, scope);
  claims += R"(,"aud":)";
  json::append_quoted(claims, sa.token_uri.empty() ? kGoogleTokenUri : sa.token_uri);
  claims += R"(,"iat":)" + std::to_string(unix_now);
  claims += R"(,"exp":)" + std::to_string(unix_now + kJwtLifetimeSeconds) + "}";

  std::string signing_input = base64url(header) + "." + base64url(claims);
  auto sig = rs256_sign(sa.private_key_pem, signing_input);
  if (!sig) return sig.error();
  return signing_input + "." + base64url(*sig);
}

std::string form_url_encode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size() + s.size() / 4);
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    bool keep = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                c == '-' || c == '.' || c == '_' || c == '~';
    if (keep) {
      out += ch;
    } else if (c == ' ') {
      out += '+';
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string jwt_bearer_token_request_body(std::string_view assertion) {
  return "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=" +
         form_url_encode(assertion);
}

std::string azure_client_credentials_body(std::string_view client_id,
                                          std::string_view client_secret, std::string_view scope) {
  return "grant_type=client_credentials&client_id=" + form_url_encode(client_id) +
         "&client_secret=" + form_url_encode(client_secret) + "&scope=" + form_url_encode(scope);
}

namespace {

// "expires_in" as seconds: a number, or a string of digits; nullopt when it is neither.
std::optional<int64_t> read_expires_in(simdjson::dom::element v) {
  double d = 0;
  std::string_view s;
  if (v.is_number()) {
    if (v.get_double().get(d) || std::isnan(d)) return std::nullopt;
  } else if (!v.get_string().get(s)) {
    int64_t n = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
    if (s.empty() || ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
    d = static_cast<double>(n);
  } else {
    return std::nullopt;
  }
  return static_cast<int64_t>(std::clamp(d, 0.0, static_cast<double>(kMaxExpiresIn)));
}

std::string clip(std::string_view s) { return std::string(s.substr(0, kMaxErrorText)); }

} // namespace

Result<OAuthToken> parse_oauth_token_response(std::string_view json, int64_t now) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  simdjson::dom::object obj;
  if (parser.parse(json.data(), json.size(), true).get(doc) || doc.get_object().get(obj))
    return Error::upstream(502, "oauth token response is not a JSON object", false);

  std::string_view error, description;
  if (!obj["error"].get_string().get(error)) {
    if (obj["error_description"].get_string().get(description)) description = {};
    std::string msg = "oauth token endpoint refused: " + clip(error);
    if (!description.empty()) msg += ": " + clip(description);
    if (error == "temporarily_unavailable" || error == "server_error")
      return Error::upstream(503, std::move(msg), true);
    return Error::config(std::move(msg));
  }

  std::string_view token;
  if (obj["access_token"].get_string().get(token) || token.empty())
    return Error::upstream(502, "oauth token response has no \"access_token\" string", false);
  int64_t expires_in = kDefaultExpiresIn;
  simdjson::dom::element v;
  if (!obj["expires_in"].get(v) && !v.is_null()) {
    auto parsed = read_expires_in(v);
    if (!parsed)
      return Error::upstream(502, "oauth token response has a malformed \"expires_in\"", false);
    expires_in = *parsed;
  }
  return OAuthToken{std::string(token), now + expires_in};
}

} // namespace aigw::auth
