// SecurityPolicy compilation; see client_policies.h.
#include "control/client_policies.h"

#include "pipeline/headers.h"

#include <algorithm>
#include <map>

namespace aigw::control {
namespace {

const api::Secret *find_named(const std::vector<api::Secret> &all, const std::string &ns,
                              const std::string &name) {
  for (const auto &s : all)
    if (s.meta.name == name && s.meta.namespace_ == ns) return &s;
  return nullptr;
}

class PolicyCompiler {
public:
  PolicyCompiler(const api::Resources &res, const api::ClientSecurityPolicy &p,
                 api::Diagnostics &diag)
      : res_(res), p_(p), diag_(diag), where_("SecurityPolicy " + p.meta.key()) {}

  std::shared_ptr<const auth::ClientAuth> run() {
    auto a = std::make_shared<auth::ClientAuth>();
    a->key = p_.meta.key();
    if (p_.api_key) api_key(*a);
    if (p_.basic) basic(*a);
    for (size_t i = 0; i < p_.jwt.size(); ++i)
      jwt(*a, p_.jwt[i], "spec.jwt.providers[" + std::to_string(i) + "]");
    a->jwt_optional = p_.jwt_optional;
    a->unenforced = p_.unenforced;
    targets();
    if (!a->api_key && !a->basic && a->jwt.empty() && a->unenforced.empty()) {
      diag_.warning(where_ + ": no apiKeyAuth, basicAuth or jwt: nothing to apply");
      return nullptr;
    }
    return a;
  }

private:
  void error(const std::string &field, const std::string &what) {
    diag_.error(where_ + ": " + field + ": " + what);
  }

  // A header the policy forwards to the provider: never one the gateway owns (framing, Host,
  // credentials, x-ai-eg-*, x-aigw-*), which a forwarded value could otherwise forge.
  void forwarded_header(const std::string &name, const std::string &field) {
    if (name.empty()) return;
    bool owned = pipeline::strip_from_client(name) || !pipeline::mutation_may_set(name) ||
                 name.starts_with("x-aigw-") || name == "te" || name == "x-request-id";
    if (owned)
      error(field, "\"" + name + "\" is a header the gateway owns; forward to another header");
  }

  const api::Secret *secret(const api::SecretRef &ref, const std::string &field) {
    std::string ns = ref.namespace_.empty() ? p_.meta.namespace_ : ref.namespace_;
    const api::Secret *s = find_named(res_.secrets, ns, ref.name);
    if (!s)
      error(field + ".name", "Secret \"" + ref.name + "\" not found in namespace \"" + ns + "\"");
    return s;
  }

  void api_key(auth::ClientAuth &a) {
    auth::ApiKeyAuthConfig c;
    c.headers = p_.api_key->headers;
    c.params = p_.api_key->params;
    c.cookies = p_.api_key->cookies;
    c.forward_client_id_header = p_.api_key->forward_client_id_header;
    forwarded_header(c.forward_client_id_header, "spec.apiKeyAuth.forwardClientIDHeader");
    for (size_t i = 0; i < p_.api_key->credentials.size(); ++i) {
      std::string field = "spec.apiKeyAuth.credentialRefs[" + std::to_string(i) + "]";
      const api::Secret *s = secret(p_.api_key->credentials[i], field);
      if (!s) continue;
      if (s->data.empty()) error(field, "Secret \"" + s->meta.name + "\" holds no keys");
      // Each entry: the client id, then its API key (Envoy Gateway's layout).
      for (const auto &[client, key] : s->data) {
        std::string value = key;
        while (!value.empty() && (value.back() == '\n' || value.back() == '\r'))
          value.pop_back();
        if (value.empty()) {
          error(field,
                "Secret \"" + s->meta.name + "\": client \"" + client + "\" has an empty key");
          continue;
        }
        auto [it, fresh] = c.keys.emplace(value, client);
        if (!fresh && it->second != client)
          error(field, "Secret \"" + s->meta.name + "\": clients \"" + it->second + "\" and \"" +
                           client + "\" share one API key");
      }
    }
    a.api_key = std::move(c);
  }

  void basic(auth::ClientAuth &a) {
    auth::BasicAuthConfig c;
    c.forward_username_header = p_.basic->forward_username_header;
    forwarded_header(c.forward_username_header, "spec.basicAuth.forwardUsernameHeader");
    std::string field = "spec.basicAuth.users";
    if (const api::Secret *s = secret(p_.basic->users, field)) {
      auto it = s->data.find(".htpasswd");
      if (it == s->data.end()) {
        error(field, "Secret \"" + s->meta.name + "\" has no key \".htpasswd\"");
      } else if (auto users = auth::parse_htpasswd(it->second); !users) {
        error(field, "Secret \"" + s->meta.name + "\": .htpasswd " + users.error().message);
      } else {
        c.users = std::move(*users);
      }
    }
    a.basic = std::move(c);
  }

  void jwt(auth::ClientAuth &a, const api::ClientJwtProvider &j, const std::string &field) {
    auth::JwtProviderConfig c;
    c.name = j.name;
    c.issuer = j.issuer;
    c.audiences = j.audiences;
    c.remote_uri = j.remote_jwks_uri;
    if (j.cache_duration)
      c.cache_duration = std::chrono::duration_cast<std::chrono::seconds>(*j.cache_duration);
    c.claim_to_headers = j.claim_to_headers;
    for (size_t i = 0; i < c.claim_to_headers.size(); ++i)
      forwarded_header(c.claim_to_headers[i].second,
                       field + ".claimToHeaders[" + std::to_string(i) + "].header");
    for (const auto &[name, prefix] : j.extract_headers)
      c.headers.push_back({name, prefix});
    c.params = j.extract_params;
    c.cookies = j.extract_cookies;
    for (const auto &other : a.jwt)
      if (other.name == j.name) error(field + ".name", "provider \"" + j.name + "\" appears twice");
    std::string jwks = j.local_jwks, jfield = field + ".localJWKS.inline";
    if (!j.local_jwks_config_map.empty()) {
      jfield = field + ".localJWKS.valueRef";
      const api::Secret *cm =
          find_named(res_.config_maps, p_.meta.namespace_, j.local_jwks_config_map);
      if (!cm)
        error(jfield + ".name", "ConfigMap \"" + j.local_jwks_config_map +
                                    "\" not found in namespace \"" + p_.meta.namespace_ + "\"");
      else if (auto it = cm->data.find("jwks"); it == cm->data.end())
        error(jfield, "ConfigMap \"" + j.local_jwks_config_map + "\" has no key \"jwks\"");
      else
        jwks = it->second;
    }
    if (!jwks.empty()) {
      auto keys = auth::parse_jwks(jwks);
      if (!keys)
        error(jfield, keys.error().message);
      else if (keys->empty())
        error(jfield, "the JWKS holds no key usable for signatures");
      else
        c.local_keys = std::move(*keys);
    }
    a.jwt.push_back(std::move(c));
  }

  // Targets that name nothing in this configuration are reported, as Envoy Gateway reports a
  // policy it could not attach.
  void targets() {
    for (size_t i = 0; i < p_.targets.size(); ++i) {
      const auto &t = p_.targets[i];
      bool found = false;
      if (t.kind == "Gateway") {
        for (const auto &g : res_.gateways)
          found |= g.meta.name == t.name && g.meta.namespace_ == p_.meta.namespace_;
      } else {
        for (const auto &r : res_.routes)
          found |= r.meta.name == t.name && r.meta.namespace_ == p_.meta.namespace_;
      }
      if (!found && !t.name.empty())
        diag_.warning(where_ + ": spec.targetRefs[" + std::to_string(i) + "]: " + t.kind + " \"" +
                      t.name + "\" not found in namespace \"" + p_.meta.namespace_ +
                      "\"; the policy does not apply to it");
    }
  }

  const api::Resources &res_;
  const api::ClientSecurityPolicy &p_;
  api::Diagnostics &diag_;
  std::string where_;
};

} // namespace

std::vector<ClientPolicy> compile_client_policies(const api::Resources &res,
                                                  api::Diagnostics &diag) {
  std::vector<ClientPolicy> out;
  for (const auto &p : res.client_policies)
    if (auto a = PolicyCompiler(res, p, diag).run()) out.push_back({&p, std::move(a)});
  return out;
}

namespace {

bool gateway_exists(const api::Resources &res, const std::string &key) {
  return std::any_of(res.gateways.begin(), res.gateways.end(),
                     [&](const api::Gateway &g) { return g.meta.key() == key; });
}

// The policy's Gateway targets, as namespace/name (a policy targets its own namespace).
std::vector<std::string> gateway_targets(const ClientPolicy &p) {
  std::vector<std::string> out;
  for (const auto &t : p.spec->targets)
    if (t.kind == "Gateway") out.push_back(p.spec->meta.namespace_ + "/" + t.name);
  return out;
}

} // namespace

std::shared_ptr<const auth::ClientAuth>
client_auth_for(const std::vector<ClientPolicy> &policies, const api::AIGatewayRoute &r,
                std::shared_ptr<const auth::ClientAuth> gw) {
  // A policy on the route itself wins over its Gateway's (Envoy Gateway's precedence).
  for (const auto &p : policies) {
    if (p.spec->meta.namespace_ != r.meta.namespace_) continue;
    for (const auto &t : p.spec->targets)
      if ((t.kind == "HTTPRoute" || t.kind == "AIGatewayRoute") && t.name == r.meta.name)
        return p.auth;
  }
  if (r.parent_gateway_keys.empty()) return gw; // attached to every Gateway aigw serves
  for (const auto &p : policies)
    for (const auto &key : gateway_targets(p))
      if (std::find(r.parent_gateway_keys.begin(), r.parent_gateway_keys.end(), key) !=
          r.parent_gateway_keys.end())
        return p.auth;
  return nullptr;
}

std::shared_ptr<const auth::ClientAuth>
gateway_client_auth(const std::vector<ClientPolicy> &policies, const api::Resources &res,
                    api::Diagnostics &diag) {
  // aigw run serves every Gateway on one set of listeners: what reaches it before a route is
  // known (the model lists, a request no route takes) answers to the one Gateway policy.
  const ClientPolicy *chosen = nullptr;
  for (const auto &p : policies)
    for (const auto &key : gateway_targets(p)) {
      if (!gateway_exists(res, key) && !res.gateways.empty()) continue;
      if (chosen && chosen != &p) {
        diag.error("SecurityPolicy " + p.spec->meta.key() + ": spec.targetRefs: Gateway \"" + key +
                   "\" is also under SecurityPolicy " + chosen->spec->meta.key() +
                   "; aigw serves every Gateway on one listener set, so one SecurityPolicy may "
                   "target Gateways");
        return chosen->auth;
      }
      chosen = &p;
    }
  return chosen ? chosen->auth : nullptr;
}

} // namespace aigw::control
