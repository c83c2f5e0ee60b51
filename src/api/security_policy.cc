// SecurityPolicy decoding (Envoy Gateway's client authentication); see resources.h.
#include "api/resources.h"

#include <algorithm>
#include <cctype>

namespace aigw::api {
namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// A header name a request head may carry: an RFC 9110 token.
bool is_header_name(std::string_view s) {
  if (s.empty() || s.size() > 256) return false;
  return std::all_of(s.begin(), s.end(), [](unsigned char c) {
    return std::isalnum(c) ||
           std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
  });
}

std::optional<std::string> header_name(const Field &f) {
  auto v = f.required_str();
  if (!v) return std::nullopt;
  if (!is_header_name(*v)) {
    f.fail("\"" + *v + "\" is not a valid header name");
    return std::nullopt;
  }
  return lower(*v);
}

std::vector<std::string> names(const Field &f, bool headers) {
  std::vector<std::string> out;
  if (!f.present()) return out;
  if (!f.is_sequence()) {
    f.fail("must be a list of strings");
    return out;
  }
  if (f.size() > 16) f.fail("at most 16 entries, got " + std::to_string(f.size()));
  for (size_t i = 0; i < f.size(); ++i) {
    auto v = headers ? header_name(f.at(i)) : f.at(i).required_str();
    if (v) out.push_back(*v);
  }
  return out;
}

void decode_api_key(const Field &f, ClientSecurityPolicy &p) {
  ClientSecurityPolicy::ApiKey a;
  Field refs = f["credentialRefs"];
  if (!refs.present() || refs.size() == 0) refs.fail("is required (at least one Secret)");
  for (size_t i = 0; i < refs.size(); ++i) {
    Field r = refs.at(i);
    if (auto kind = r["kind"].str_or("Secret"); kind != "Secret") r["kind"].fail("must be Secret");
    SecretRef s;
    s.name = r["name"].required_str().value_or("");
    s.namespace_ = r["namespace"].str_or("");
    a.credentials.push_back(std::move(s));
  }
  Field from = f["extractFrom"];
  if (!from.present() || from.size() == 0)
    from.fail("is required (where the key is: headers, params or cookies)");
  for (size_t i = 0; i < from.size(); ++i) {
    Field e = from.at(i);
    auto add = [](std::vector<std::string> &to, std::vector<std::string> v) {
      to.insert(to.end(), v.begin(), v.end());
    };
    add(a.headers, names(e["headers"], true));
    add(a.params, names(e["params"], false));
    add(a.cookies, names(e["cookies"], false));
    if (!e["headers"].present() && !e["params"].present() && !e["cookies"].present())
      e.fail("needs headers, params or cookies");
  }
  if (f["forwardClientIDHeader"].present())
    a.forward_client_id_header = header_name(f["forwardClientIDHeader"]).value_or("");
  (void)f["sanitize"].boolean(); // the key is always taken out of what a provider receives
  p.api_key = std::move(a);
}

void decode_basic(const Field &f, ClientSecurityPolicy &p) {
  ClientSecurityPolicy::Basic b;
  Field users = f["users"];
  if (!users.present()) users.fail("is required (a Secret with key .htpasswd)");
  if (auto kind = users["kind"].str_or("Secret"); kind != "Secret")
    users["kind"].fail("must be Secret");
  b.users.name = users["name"].required_str().value_or("");
  b.users.namespace_ = users["namespace"].str_or("");
  if (f["forwardUsernameHeader"].present())
    b.forward_username_header = header_name(f["forwardUsernameHeader"]).value_or("");
  p.basic = std::move(b);
}

ClientJwtProvider decode_provider(const Field &f) {
  ClientJwtProvider j;
  j.name = f["name"].required_str().value_or("");
  j.issuer = f["issuer"].str_or("");
  if (Field aud = f["audiences"]; aud.present())
    for (size_t i = 0; i < aud.size(); ++i)
      if (auto v = aud.at(i).required_str()) j.audiences.push_back(*v);
  Field remote = f["remoteJWKS"], local = f["localJWKS"];
  if (remote.present() == local.present())
    f.fail("exactly one of remoteJWKS or localJWKS is required");
  if (remote.present()) {
    auto uri = remote["uri"].required_str();
    if (uri && !uri->starts_with("http://") && !uri->starts_with("https://"))
      remote["uri"].fail("must be an http(s) URL");
    else if (uri)
      j.remote_jwks_uri = *uri;
    if (Field cd = remote["cacheDuration"]; cd.present()) {
      auto d = parse_duration(cd.str_or(""));
      if (!d || d->count() < 1000)
        cd.fail("must be a duration of at least 1s (e.g. 300s, 10m)");
      else
        j.cache_duration = *d;
    }
  }
  if (local.present()) {
    std::string type = local["type"].str_or("Inline");
    if (type == "ValueRef") {
      Field ref = local["valueRef"];
      if (ref["kind"].str_or("ConfigMap") != "ConfigMap") ref["kind"].fail("must be ConfigMap");
      j.local_jwks_config_map = ref["name"].required_str().value_or("");
    } else if (type == "Inline") {
      j.local_jwks = local["inline"].required_str().value_or("");
    } else {
      local["type"].fail("must be Inline or ValueRef");
    }
  }
  Field claims = f["claimToHeaders"];
  for (size_t i = 0; i < claims.size(); ++i) {
    auto claim = claims.at(i)["claim"].required_str();
    auto header = header_name(claims.at(i)["header"]);
    if (claim && header) j.claim_to_headers.emplace_back(*claim, *header);
  }
  Field from = f["extractFrom"];
  if (from.present()) {
    Field hs = from["headers"];
    for (size_t i = 0; i < hs.size(); ++i)
      if (auto n = header_name(hs.at(i)["name"]))
        j.extract_headers.emplace_back(*n, hs.at(i)["valuePrefix"].str_or(""));
    j.extract_params = names(from["params"], false);
    j.extract_cookies = names(from["cookies"], false);
  }
  if (f["recomputeRoute"].present()) (void)f["recomputeRoute"].boolean();
  return j;
}

} // namespace

void decode_client_security_policy(const Field &doc, const ObjectMeta &meta, Resources &out) {
  ClientSecurityPolicy p;
  p.meta = meta;
  Field spec = doc["spec"];
  auto target = [&](const Field &t) {
    PolicyTarget pt;
    pt.kind = t["kind"].str_or("");
    pt.name = t["name"].required_str().value_or("");
    if (pt.kind != "Gateway" && pt.kind != "HTTPRoute" && pt.kind != "AIGatewayRoute")
      t["kind"].fail("must be Gateway, HTTPRoute or AIGatewayRoute, got \"" + pt.kind + "\"");
    p.targets.push_back(std::move(pt));
  };
  Field targets = spec["targetRefs"];
  for (size_t i = 0; i < targets.size(); ++i)
    target(targets.at(i));
  if (spec["targetRef"].present()) target(spec["targetRef"]);
  // A policy must say what it protects in a way aigw reads: one it could not attach would
  // leave those routes open.
  if (spec["targetSelectors"].present())
    spec["targetSelectors"].fail("label selectors are not supported; name the targets in "
                                 "targetRefs");
  else if (p.targets.empty())
    spec["targetRefs"].fail("is required (a Gateway, HTTPRoute or AIGatewayRoute)");
  for (const char *unsupported : {"oidc", "extAuth", "authorization"})
    if (spec[unsupported].present()) {
      spec[unsupported].warn("is enforced by Envoy only: aigw run refuses every request under "
                             "this policy (403)");
      p.unenforced.push_back(std::string("spec.") + unsupported);
    }
  if (spec["cors"].present()) spec["cors"].warn("is not supported by aigw run and is not applied");
  if (spec["apiKeyAuth"].present()) decode_api_key(spec["apiKeyAuth"], p);
  if (spec["basicAuth"].present()) decode_basic(spec["basicAuth"], p);
  if (Field jwt = spec["jwt"]; jwt.present()) {
    p.jwt_present = true;
    p.jwt_optional = jwt["optional"].boolean().value_or(false);
    Field providers = jwt["providers"];
    if (!providers.present() || providers.size() == 0) providers.fail("is required");
    if (providers.size() > 4)
      providers.fail("at most 4 providers, got " + std::to_string(providers.size()));
    for (size_t i = 0; i < providers.size(); ++i)
      p.jwt.push_back(decode_provider(providers.at(i)));
  }
  out.client_policies.push_back(std::move(p));
}

} // namespace aigw::api
