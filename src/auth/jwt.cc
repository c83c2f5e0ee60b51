// JWT verification; see jwt.h.
#include "auth/jwt.h"

#include <cctype>

#include "core/base64.h"
#include "core/strings.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>
#include <simdjson.h>

#include <algorithm>

namespace aigw::auth {
namespace {

namespace dom = simdjson::dom;
constexpr int64_t kClockSkew = 60; // seconds, as Envoy's jwt_authn default

std::string_view str_of(simdjson::simdjson_result<dom::element> e) {
  std::string_view s;
  return e.get_string().get(s) ? std::string_view() : s;
}
std::string_view str_of(dom::element e) {
  return str_of(simdjson::simdjson_result<dom::element>(std::move(e)));
}

} // namespace

std::optional<std::string> base64url_decode(std::string_view in) {
  std::string s(in);
  for (auto &c : s) {
    if (c == '-')
      c = '+';
    else if (c == '_')
      c = '/';
    else if (c == '+' || c == '/' || c == '=')
      return std::nullopt; // not base64url
  }
  while (s.size() % 4)
    s += '=';
  return base64_decode(s);
}

namespace {

struct Bn {
  BIGNUM *p = nullptr;
  ~Bn() { BN_free(p); }
};

std::shared_ptr<EVP_PKEY> from_params(const char *type, OSSL_PARAM_BLD *bld) {
  OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
  EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr);
  EVP_PKEY *pkey = nullptr;
  if (ctx && params && EVP_PKEY_fromdata_init(ctx) == 1)
    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params);
  EVP_PKEY_CTX_free(ctx);
  OSSL_PARAM_free(params);
  if (!pkey) return nullptr;
  return std::shared_ptr<EVP_PKEY>(pkey, EVP_PKEY_free);
}

std::shared_ptr<EVP_PKEY> rsa_key(std::string_view n64, std::string_view e64) {
  auto n = base64url_decode(n64), e = base64url_decode(e64);
  if (!n || !e || n->empty() || e->empty()) return nullptr;
  Bn bn, be;
  bn.p = BN_bin2bn(reinterpret_cast<const unsigned char *>(n->data()), static_cast<int>(n->size()),
                   nullptr);
  be.p = BN_bin2bn(reinterpret_cast<const unsigned char *>(e->data()), static_cast<int>(e->size()),
                   nullptr);
  OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
  OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn.p);
  OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be.p);
  auto key = from_params("RSA", bld);
  OSSL_PARAM_BLD_free(bld);
  return key;
}

std::shared_ptr<EVP_PKEY> ec_key(std::string_view crv, std::string_view x64, std::string_view y64) {
  const char *group = crv == "P-256"   ? "prime256v1"
                      : crv == "P-384" ? "secp384r1"
                      : crv == "P-521" ? "secp521r1"
                                       : nullptr;
  size_t size = crv == "P-256" ? 32 : crv == "P-384" ? 48 : 66;
  auto x = base64url_decode(x64), y = base64url_decode(y64);
  if (!group || !x || !y || x->size() != size || y->size() != size) return nullptr;
  std::string point = "\x04" + *x + *y;
  OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
  OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, group, 0);
  OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size());
  auto key = from_params("EC", bld);
  OSSL_PARAM_BLD_free(bld);
  return key;
}

// The DER form of a JWS ECDSA signature (r || s, each `half` bytes).
std::optional<std::string> ecdsa_der(std::string_view raw, size_t half) {
  if (raw.size() != 2 * half) return std::nullopt;
  ECDSA_SIG *sig = ECDSA_SIG_new();
  BIGNUM *r = BN_bin2bn(reinterpret_cast<const unsigned char *>(raw.data()), static_cast<int>(half),
                        nullptr);
  BIGNUM *s = BN_bin2bn(reinterpret_cast<const unsigned char *>(raw.data() + half),
                        static_cast<int>(half), nullptr);
  ECDSA_SIG_set0(sig, r, s);
  unsigned char *der = nullptr;
  int len = i2d_ECDSA_SIG(sig, &der);
  ECDSA_SIG_free(sig);
  if (len <= 0) return std::nullopt;
  std::string out(reinterpret_cast<char *>(der), static_cast<size_t>(len));
  OPENSSL_free(der);
  return out;
}

bool verify(const JwtKey &k, std::string_view alg, std::string_view data, std::string_view sig) {
  const EVP_MD *md = alg.ends_with("256")   ? EVP_sha256()
                     : alg.ends_with("384") ? EVP_sha384()
                                            : EVP_sha512();
  bool rs = alg.starts_with("RS"), ps = alg.starts_with("PS"), es = alg.starts_with("ES");
  if ((rs || ps) && k.kty != "RSA") return false;
  if (es && k.kty != "EC") return false;
  if (!rs && !ps && !es) return false;
  std::string der;
  if (es) {
    // P-256, P-384, P-521: r and s are 32, 48 and 66 bytes each (RFC 7518 §3.4).
    auto d = ecdsa_der(sig, alg == "ES256" ? 32 : alg == "ES384" ? 48 : 66);
    if (!d) return false;
    der = std::move(*d);
    sig = der;
  }
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  EVP_PKEY_CTX *pctx = nullptr;
  bool ok = EVP_DigestVerifyInit(ctx, &pctx, md, nullptr, k.key.get()) == 1;
  if (ok && ps) {
    ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
         EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) == 1;
  }
  ok = ok &&
       EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char *>(sig.data()), sig.size(),
                        reinterpret_cast<const unsigned char *>(data.data()), data.size()) == 1;
  EVP_MD_CTX_free(ctx);
  return ok;
}

} // namespace

Result<std::vector<JwtKey>> parse_jwks(std::string_view json) {
  dom::parser p;
  dom::element doc;
  dom::array keys;
  if (p.parse(json.data(), json.size()).get(doc) || doc["keys"].get_array().get(keys))
    return Error::config("not a JWKS document (an object with a `keys` array)");
  std::vector<JwtKey> out;
  for (dom::element k : keys) {
    JwtKey key;
    key.kid = std::string(str_of(k["kid"]));
    key.kty = std::string(str_of(k["kty"]));
    key.alg = std::string(str_of(k["alg"]));
    std::string_view use = str_of(k["use"]);
    if (!use.empty() && use != "sig") continue;
    if (key.kty == "RSA")
      key.key = rsa_key(str_of(k["n"]), str_of(k["e"]));
    else if (key.kty == "EC")
      key.key = ec_key(str_of(k["crv"]), str_of(k["x"]), str_of(k["y"]));
    if (key.key) out.push_back(std::move(key));
  }
  if (out.empty()) return Error::config("the JWKS has no usable signing key");
  return out;
}

std::string_view bearer_token(std::string_view authorization) {
  authorization = trim_ows(authorization);
  if (authorization.size() < 7) return {};
  std::string scheme(authorization.substr(0, 7));
  std::transform(scheme.begin(), scheme.end(), scheme.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  if (scheme != "bearer ") return {};
  return trim_ows(authorization.substr(7));
}

Result<VerifiedJwt> verify_jwt(std::string_view token, const std::vector<JwtKey> &keys,
                               std::string_view issuer, const std::vector<std::string> &audiences,
                               int64_t now) {
  auto fail = [](std::string m) { return Error::client(401, std::move(m)); };
  if (token.empty()) return fail("Jwt is missing");
  size_t d1 = token.find('.');
  size_t d2 = d1 == std::string_view::npos ? d1 : token.find('.', d1 + 1);
  if (d2 == std::string_view::npos || token.find('.', d2 + 1) != std::string_view::npos)
    return fail("Jwt is not in the form of Header.Payload.Signature");
  auto header = base64url_decode(token.substr(0, d1));
  auto payload = base64url_decode(token.substr(d1 + 1, d2 - d1 - 1));
  auto signature = base64url_decode(token.substr(d2 + 1));
  if (!header || !payload || !signature)
    return fail("Jwt is not in the form of Header.Payload.Signature");
  dom::parser hp, pp;
  dom::element h, c;
  if (hp.parse(*header).get(h) || !h.is_object()) return fail("Jwt header is an invalid JSON");
  if (pp.parse(*payload).get(c) || !c.is_object()) return fail("Jwt payload is an invalid JSON");
  std::string_view alg = str_of(h["alg"]), kid = str_of(h["kid"]);
  std::string_view signed_part = token.substr(0, d2);
  bool checked = false, found = false;
  for (const auto &k : keys) {
    if (!kid.empty() && !k.kid.empty() && k.kid != kid) continue;
    if (!k.alg.empty() && k.alg != alg) continue;
    found = true;
    if (verify(k, alg, signed_part, *signature)) {
      checked = true;
      break;
    }
  }
  if (!found) return fail("Jwks doesn't have key to match kid or alg from Jwt");
  if (!checked) return fail("Jwt verification fails");
  // The issuer exactly, trailing slash included; a provider without one takes any issuer.
  if (!issuer.empty() && str_of(c["iss"]) != issuer) return fail("Jwt issuer is not configured");
  if (!audiences.empty()) {
    bool match = false;
    dom::array auds;
    auto is_configured = [&](std::string_view a) {
      return std::find(audiences.begin(), audiences.end(), a) != audiences.end();
    };
    if (!c["aud"].get_array().get(auds)) {
      for (dom::element a : auds)
        match |= is_configured(str_of(a));
    } else {
      match = is_configured(str_of(c["aud"]));
    }
    if (!match) return fail("Audiences in Jwt are not allowed");
  }
  auto number = [&](const char *name) -> std::optional<int64_t> {
    dom::element v;
    if (c[name].get(v)) return std::nullopt;
    double d;
    if (!v.get_double().get(d)) return static_cast<int64_t>(d);
    int64_t i;
    if (!v.get_int64().get(i)) return i;
    return std::nullopt;
  };
  if (auto exp = number("exp"); exp && *exp + kClockSkew < now) return fail("Jwt is expired");
  if (auto nbf = number("nbf"); nbf && *nbf - kClockSkew > now) return fail("Jwt not yet valid");
  VerifiedJwt v;
  v.payload = std::string(*payload);
  v.subject = std::string(str_of(c["sub"]));
  v.scopes = jwt_scopes(v.payload);
  return v;
}

std::vector<std::string> jwt_scopes(std::string_view payload) {
  std::vector<std::string> out;
  dom::parser p;
  dom::element c;
  if (p.parse(payload.data(), payload.size()).get(c) || !c.is_object()) return out;
  auto add_words = [&](std::string_view s) {
    size_t i = 0;
    while (i < s.size()) {
      while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i])))
        ++i;
      size_t start = i;
      while (i < s.size() && !std::isspace(static_cast<unsigned char>(s[i])))
        ++i;
      if (i > start) out.emplace_back(s.substr(start, i - start));
    }
  };
  for (const char *claim : {"scope", "scp"}) {
    dom::element v;
    if (c[claim].get(v)) continue;
    std::string_view s;
    if (!v.get_string().get(s)) {
      add_words(s);
    } else if (v.is_array()) {
      for (dom::element e : v.get_array())
        if (!e.get_string().get(s)) add_words(s);
    }
  }
  return out;
}

} // namespace aigw::auth
