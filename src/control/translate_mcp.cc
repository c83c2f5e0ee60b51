// `aigw translate` for MCPRoute; see translate_mcp.h. Keys are inserted in the order upstream's
// serializer writes them (sorted), and every value copied from the input is re-sorted the same
// way.
#include "control/translate_mcp.h"

#include "control/snapshot.h"
#include "control/translate_yaml.h"
#include "core/base64.h"
#include "core/json_scan.h"
#include "mcp/exchange.h"

#include <simdjson.h>

#include <algorithm>
#include <map>
#include <set>

namespace aigw::control::mcp_translate {
namespace {

using namespace yaml_out;

constexpr const char *kProxyBackend = "ai-eg-mcp-proxy";
constexpr int kProxyPort = 9856;
constexpr const char *kProxyDummyIP = "192.0.2.42";
constexpr const char *kRouteHeader = "x-ai-eg-mcp-route";
constexpr const char *kBackendHeader = "x-ai-eg-mcp-backend";
constexpr const char *kEG = "gateway.envoyproxy.io";
constexpr const char *kProtectedSuffix = "-oauth-protected-resource-metadata";
constexpr const char *kAuthServerSuffix = "-oauth-authorization-server-metadata";

// A scalar that reads back as a string.
YAML::Node S(const std::string &v) {
  YAML::Node n(v);
  n.SetTag("!");
  return n;
}

// A copy with every map's keys in sorted order, as a JSON round trip leaves them.
YAML::Node sorted(const YAML::Node &n) {
  if (n.IsMap()) {
    std::vector<std::pair<std::string, YAML::Node>> kvs;
    for (const auto &e : n)
      kvs.emplace_back(e.first.Scalar(), e.second);
    std::sort(kvs.begin(), kvs.end(),
              [](const auto &a, const auto &b) { return a.first < b.first; });
    YAML::Node out(YAML::NodeType::Map);
    for (const auto &[k, v] : kvs)
      out[k] = sorted(v);
    return out;
  }
  if (n.IsSequence()) {
    YAML::Node out(YAML::NodeType::Sequence);
    for (const auto &e : n)
      out.push_back(sorted(e));
    return out;
  }
  return YAML::Clone(n);
}

std::string str(const YAML::Node &n, const char *key, const std::string &def = "") {
  return n && n.IsMap() && n[key] && n[key].IsScalar() ? n[key].Scalar() : def;
}

YAML::Node owner(const std::string &route) {
  YAML::Node o;
  o["apiVersion"] = "aigateway.envoyproxy.io/v1beta1";
  o["blockOwnerDeletion"] = true;
  o["controller"] = true;
  o["kind"] = "MCPRoute";
  o["name"] = S(route);
  o["uid"] = S("");
  YAML::Node list;
  list.push_back(o);
  return list;
}

// metadata of a generated resource; `copy_labels`: with the MCPRoute's labels and annotations.
YAML::Node metadata(const std::string &name, const std::string &ns, const YAML::Node &mcp,
                    bool copy_labels) {
  YAML::Node m;
  if (copy_labels && mcp["metadata"]["annotations"] && mcp["metadata"]["annotations"].size())
    m["annotations"] = sorted(mcp["metadata"]["annotations"]);
  if (copy_labels && mcp["metadata"]["labels"] && mcp["metadata"]["labels"].size())
    m["labels"] = sorted(mcp["metadata"]["labels"]);
  m["name"] = S(name);
  m["namespace"] = S(ns);
  m["ownerReferences"] = owner(name_of(mcp));
  return m;
}

YAML::Node resource(const char *api_version, const char *kind, YAML::Node meta, YAML::Node spec,
                    const char *spec_key = "spec") {
  YAML::Node d;
  d["apiVersion"] = api_version;
  if (std::string(spec_key) == "data") d["data"] = spec;
  d["kind"] = kind;
  d["metadata"] = meta;
  if (std::string(spec_key) == "spec") d["spec"] = spec;
  return d;
}

YAML::Node timeouts() {
  YAML::Node t;
  t["backendRequest"] = "30m";
  t["request"] = "30m";
  return t;
}

YAML::Node header(const std::string &name, const std::string &value) {
  YAML::Node h;
  h["name"] = S(name);
  h["value"] = S(value);
  return h;
}

YAML::Node extension_ref(const std::string &filter) {
  YAML::Node f;
  f["extensionRef"]["group"] = kEG;
  f["extensionRef"]["kind"] = "HTTPRouteFilter";
  f["extensionRef"]["name"] = S(filter);
  f["type"] = "ExtensionRef";
  return f;
}

YAML::Node exact_path(const std::string &path) {
  YAML::Node m;
  m["path"]["type"] = "Exact";
  m["path"]["value"] = S(path);
  return m;
}

// Access-Control-* as upstream adds them to the well-known documents and the 401.
void cors(YAML::Node &set) {
  set.push_back(header("Access-Control-Allow-Origin", "*"));
  set.push_back(header("Access-Control-Allow-Methods", "GET"));
  set.push_back(header("Access-Control-Allow-Headers", "mcp-protocol-version"));
}

std::string trim_slash(std::string s) {
  if (!s.empty() && s.back() == '/') s.pop_back();
  return s;
}

void add_parent_and_hosts(YAML::Node &spec, const YAML::Node &mcp_spec) {
  if (mcp_spec["hostnames"]) spec["hostnames"] = sorted(mcp_spec["hostnames"]);
  if (mcp_spec["parentRefs"]) spec["parentRefs"] = sorted(mcp_spec["parentRefs"]);
}

YAML::Node main_route(const YAML::Node &mcp, const std::string &ns) {
  std::string name = name_of(mcp);
  const YAML::Node spec = mcp["spec"];
  std::string path = str(spec, "path", "/mcp");
  YAML::Node out_spec;
  add_parent_and_hosts(out_spec, spec);
  YAML::Node rule;
  YAML::Node ref;
  ref["group"] = kEG;
  ref["kind"] = "Backend";
  ref["name"] = kProxyBackend;
  ref["namespace"] = S(ns);
  ref["port"] = kProxyPort;
  rule["backendRefs"].push_back(ref);
  YAML::Node set_route;
  set_route["requestHeaderModifier"]["set"].push_back(header(kRouteHeader, ns + "/" + name));
  set_route["type"] = "RequestHeaderModifier";
  rule["filters"].push_back(set_route);
  YAML::Node match;
  if (spec["headers"]) match["headers"] = sorted(spec["headers"]);
  match["path"] = exact_path(path)["path"];
  rule["matches"].push_back(match);
  rule["timeouts"] = timeouts();
  out_spec["rules"].push_back(rule);
  if (spec["securityPolicy"] && spec["securityPolicy"]["oauth"]) {
    std::string served = trim_slash(path);
    auto well_known = [&](const char *rule_name, const std::string &p, const std::string &filter) {
      YAML::Node r;
      r["filters"].push_back(extension_ref(filter));
      r["matches"].push_back(exact_path(p));
      r["name"] = rule_name;
      out_spec["rules"].push_back(r);
    };
    std::string auth_filter = "ai-eg-mcp-" + name + kAuthServerSuffix;
    well_known("oauth-protected-resource-metadata",
               "/.well-known/oauth-protected-resource" + served,
               "ai-eg-mcp-" + name + kProtectedSuffix);
    well_known("oauth-authorization-server-metadata",
               "/.well-known/oauth-authorization-server" + served, auth_filter);
    // As upstream: the OIDC rule keeps the path as written (no trailing-slash trim).
    well_known("oauth-authorization-server-metadata-oidc",
               "/.well-known/openid-configuration" + path, auth_filter);
  }
  return resource("gateway.networking.k8s.io/v1", "HTTPRoute",
                  metadata("ai-eg-mcp-main-" + name, ns, mcp, true), out_spec);
}

struct BackendOut {
  YAML::Node route, filter;
  std::optional<YAML::Node> secret;
};

// The key a backendRef's apiKey names: inline, or the Secret's `apiKey`.
Result<std::string> api_key_value(const YAML::Node &key, const api::Resources &res,
                                  const std::string &ns, const std::string &where) {
  // An empty inline key falls back to the Secret, as upstream's readAPIKey does.
  if (key["inline"] && !key["inline"].Scalar().empty()) return key["inline"].Scalar();
  std::string secret = str(key["secretRef"], "name");
  const auto *s = find_secret(res, ns, secret);
  if (!s) return Error::config(where + ".secretRef: Secret " + ns + "/" + secret + " not found");
  auto it = s->data.find("apiKey");
  if (it == s->data.end())
    return Error::config(where + ".secretRef: secret " + ns + "/" + secret +
                         " does not contain 'apiKey' key");
  return it->second;
}

Result<BackendOut> backend_route(const YAML::Node &mcp, const std::string &ns,
                                 const YAML::Node &ref, size_t index, const api::Resources &res) {
  std::string route = name_of(mcp), backend = str(ref, "name");
  std::string where =
      "MCPRoute " + ns + "/" + route + ": spec.backendRefs[" + std::to_string(index) + "]";
  if (ref["namespace"] && ref["namespace"].Scalar() != ns)
    return Error::config(where + ": cross-namespace backend reference is not supported: backend " +
                         ref["namespace"].Scalar() + "/" + backend);
  std::string suffix = route + "-" + backend;
  std::string full_path = str(ref, "path", "/mcp");
  BackendOut out;
  std::optional<YAML::Node> inline_filter;
  YAML::Node injection;
  const YAML::Node key = ref["securityPolicy"] ? ref["securityPolicy"]["apiKey"] : YAML::Node();
  if (key && key.IsMap()) {
    auto value = api_key_value(key, res, ns, where + ".securityPolicy.apiKey");
    if (!value) return value.error();
    std::string header_name = str(key, "header", "Authorization");
    std::string formatted = header_name == "Authorization" ? "Bearer " + *value : *value;
    bool if_not_present = str(key, "injectionPolicy") == "IfNotPresent";
    if (key["queryParam"]) {
      full_path += "?" + key["queryParam"].Scalar() + "=" + *value; // unescaped, as upstream
    } else if (key["inline"] && !key["inline"].Scalar().empty() && !if_not_present) {
      YAML::Node f;
      f["requestHeaderModifier"]["set"].push_back(header(header_name, formatted));
      f["type"] = "RequestHeaderModifier";
      inline_filter = f;
    } else {
      // A managed Secret injected by Envoy Gateway's credentialInjection; IfNotPresent (v1.2)
      // keeps a key the client sent (overwrite: false).
      std::string secret_name = "ai-eg-mcp-cred-" + suffix;
      YAML::Node data;
      data["credential"] = base64_encode(formatted);
      out.secret = resource("v1", "Secret", metadata(secret_name, ns, mcp, false), data, "data");
      injection["credential"]["valueRef"]["name"] = S(secret_name);
      if (key["header"]) injection["header"] = S(header_name);
      injection["overwrite"] = !if_not_present;
    }
  }
  YAML::Node fspec;
  if (injection.IsDefined() && injection.IsMap()) fspec["credentialInjection"] = injection;
  fspec["urlRewrite"]["hostname"]["type"] = "Backend";
  out.filter = resource("gateway.envoyproxy.io/v1alpha1", "HTTPRouteFilter",
                        metadata("ai-eg-mcp-brf-" + suffix, ns, mcp, false), fspec);

  YAML::Node rule;
  YAML::Node bref;
  for (const char *k : {"group", "kind", "name", "namespace", "port"})
    if (ref[k]) bref[k] = YAML::Clone(ref[k]);
  rule["backendRefs"].push_back(bref);
  rule["filters"].push_back(extension_ref("ai-eg-mcp-brf-" + suffix));
  if (inline_filter) rule["filters"].push_back(*inline_filter);
  YAML::Node rewrite;
  rewrite["type"] = "URLRewrite";
  rewrite["urlRewrite"]["path"]["replaceFullPath"] = S(full_path);
  rewrite["urlRewrite"]["path"]["type"] = "ReplaceFullPath";
  rule["filters"].push_back(rewrite);
  YAML::Node match;
  match["headers"].push_back(header(kBackendHeader, backend));
  match["headers"].push_back(header(kRouteHeader, ns + "/" + route));
  match["path"]["type"] = "PathPrefix";
  match["path"]["value"] = S("/");
  rule["matches"].push_back(match);
  rule["timeouts"] = timeouts();
  YAML::Node spec;
  add_parent_and_hosts(spec, mcp["spec"]);
  spec["rules"].push_back(rule);
  out.route = resource("gateway.networking.k8s.io/v1", "HTTPRoute",
                       metadata("ai-eg-mcp-br-" + suffix, ns, mcp, true), spec);
  return out;
}

// The BackendTLSPolicies whose validation hostname is the JWKS URI's host: their targets, so
// Envoy fetches the JWKS over the right TLS settings (upstream's tryGetBackendsForJWKS).
YAML::Node jwks_backend_refs(const std::string &uri, const std::vector<YAML::Node> &docs) {
  std::string host = uri.substr(uri.find("://") + 3);
  host = host.substr(0, host.find_first_of("/?#"));
  if (auto at = host.rfind('@'); at != std::string::npos) host = host.substr(at + 1);
  if (!host.empty() && host.front() == '[') {
    host = host.substr(1, host.find(']') - 1);
  } else if (auto colon = host.find(':'); colon != std::string::npos) {
    host = host.substr(0, colon);
  }
  YAML::Node refs(YAML::NodeType::Sequence);
  for (const auto &d : docs) {
    if (!d.IsMap() || kind_of(d) != "BackendTLSPolicy") continue;
    const YAML::Node spec = d["spec"];
    if (!spec || !spec.IsMap() || !spec["validation"] || !spec["targetRefs"] ||
        !spec["targetRefs"].IsSequence() || str(spec["validation"], "hostname") != host)
      continue;
    for (const auto &t : spec["targetRefs"]) {
      YAML::Node r;
      r["group"] = S(str(t, "group"));
      r["kind"] = S(str(t, "kind"));
      r["name"] = S(str(t, "name"));
      refs.push_back(r);
    }
  }
  return refs;
}

YAML::Node direct_response(const std::string &json_body) {
  YAML::Node d;
  d["body"]["inline"] = S(json_body);
  d["body"]["type"] = "Inline";
  d["contentType"] = "application/json";
  YAML::Node set(YAML::NodeType::Sequence);
  cors(set);
  d["header"]["set"] = set;
  d["statusCode"] = 200;
  YAML::Node spec;
  spec["directResponse"] = d;
  return spec;
}

YAML::Node target_main_route(const std::string &route) {
  YAML::Node t;
  t["group"] = "gateway.networking.k8s.io";
  t["kind"] = "HTTPRoute";
  t["name"] = S("ai-eg-mcp-main-" + route);
  YAML::Node list;
  list.push_back(t);
  return list;
}

// SecurityPolicy ai-eg-mcp-<route>, and with OAuth its BackendTrafficPolicy and the two
// well-known HTTPRouteFilters.
Result<bool> security_resources(const YAML::Node &mcp, const std::string &ns,
                                const std::vector<YAML::Node> &docs, const api::Resources &res,
                                const HttpGet &get, Output &out) {
  std::string route = name_of(mcp);
  const YAML::Node sp = mcp["spec"]["securityPolicy"];
  if (!sp || !(sp["oauth"] || sp["apiKeyAuth"] || sp["extAuth"])) return true;
  YAML::Node spec;
  if (sp["apiKeyAuth"]) spec["apiKeyAuth"] = sorted(sp["apiKeyAuth"]);
  if (sp["extAuth"]) spec["extAuth"] = sorted(sp["extAuth"]);
  const YAML::Node oauth = sp["oauth"];
  if (oauth) {
    YAML::Node p;
    // (empty lists are left out, as Envoy Gateway's omitempty fields are)
    if (oauth["audiences"] && oauth["audiences"].size())
      p["audiences"] = sorted(oauth["audiences"]);
    if (oauth["claimToHeaders"] && oauth["claimToHeaders"].size())
      p["claimToHeaders"] = sorted(oauth["claimToHeaders"]);
    const YAML::Node jwks = oauth["jwks"];
    if (jwks && jwks["localJWKS"]) p["localJWKS"] = sorted(jwks["localJWKS"]);
    p["name"] = "mcp-jwt-provider";
    if (jwks && jwks["remoteJWKS"]) {
      p["remoteJWKS"] = sorted(jwks["remoteJWKS"]);
    } else if (!jwks || !jwks["localJWKS"]) {
      std::string uri, error;
      fetch_server_metadata(str(oauth, "issuer"), get, &uri, &error);
      if (uri.empty())
        return Error::config(
            "MCPRoute " + ns + "/" + route +
            ": spec.securityPolicy.oauth: failed to auto-discover JWKS URI from " +
            str(oauth, "issuer") + ": " +
            (error.empty() ? "jwks_uri not found in authorization server metadata" : error) +
            " (set spec.securityPolicy.oauth.jwks)");
      if (uri.rfind("https://", 0) == 0)
        if (auto refs = jwks_backend_refs(uri, docs); refs.size())
          p["remoteJWKS"]["backendRefs"] = refs;
      p["remoteJWKS"]["uri"] = S(uri);
    }
    spec["jwt"]["providers"].push_back(p);
  }
  spec["targetRefs"] = target_main_route(route);
  out.security_policies.push_back(
      {ns, "ai-eg-mcp-" + route,
       emit_node(resource("gateway.envoyproxy.io/v1alpha1", "SecurityPolicy",
                          metadata("ai-eg-mcp-" + route, ns, mcp, false), spec))});
  if (!oauth) return true;
  // The documents and the 401 header as `aigw run` serves them, from the decoded route.
  const api::MCPRouteOAuth *decoded = nullptr;
  for (const auto &r : res.mcp_routes)
    if (r.namespace_ == ns && r.name == route && r.oauth) decoded = &*r.oauth;
  if (!decoded)
    return Error::config("MCPRoute " + ns + "/" + route +
                         ": spec.securityPolicy.oauth: not decoded");

  std::string protected_name = "ai-eg-mcp-" + route + kProtectedSuffix;
  YAML::Node btp;
  YAML::Node ov;
  YAML::Node code;
  code["type"] = "Value";
  code["value"] = 401;
  ov["match"]["statusCodes"].push_back(code);
  YAML::Node set(YAML::NodeType::Sequence);
  set.push_back(header("WWW-Authenticate", mcp::www_authenticate(*decoded)));
  cors(set);
  ov["response"]["header"]["set"] = set;
  ov["response"]["statusCode"] = 401;
  btp["responseOverride"].push_back(ov);
  btp["targetRefs"] = target_main_route(route);
  out.traffic_policies.push_back(
      {ns, protected_name,
       emit_node(resource("gateway.envoyproxy.io/v1alpha1", "BackendTrafficPolicy",
                          metadata(protected_name, ns, mcp, false), btp))});
  out.filters.push_back(
      {ns, protected_name,
       emit_node(resource("gateway.envoyproxy.io/v1alpha1", "HTTPRouteFilter",
                          metadata(protected_name, ns, mcp, false),
                          direct_response(mcp::protected_resource_metadata(*decoded))))});
  std::string auth_name = "ai-eg-mcp-" + route + kAuthServerSuffix;
  auto fetched = fetch_server_metadata(str(oauth, "issuer"), get, nullptr, nullptr);
  out.filters.push_back(
      {ns, auth_name,
       emit_node(resource(
           "gateway.envoyproxy.io/v1alpha1", "HTTPRouteFilter", metadata(auth_name, ns, mcp, false),
           direct_response(fetched ? *fetched : mcp::fallback_server_metadata(*decoded))))});
  return true;
}

YAML::Node selector(const YAML::Node &sel) {
  YAML::Node out(YAML::NodeType::Map); // an empty selector is {}, as upstream writes it
  for (const char *k : {"exclude", "excludeRegex", "include", "includeRegex"})
    if (sel[k] && sel[k].size()) out[k] = sorted(sel[k]);
  return out;
}

YAML::Node authorization_rules(const YAML::Node &rules, bool with_source_target) {
  YAML::Node out(YAML::NodeType::Sequence);
  for (const auto &rule : rules) {
    YAML::Node r;
    r["action"] = S(str(rule, "action", "Allow"));
    if (rule["cel"]) r["cel"] = S(rule["cel"].Scalar());
    if (with_source_target && rule["source"]) {
      const YAML::Node jwt = rule["source"]["jwt"];
      YAML::Node j(YAML::NodeType::Map);
      if (jwt && jwt["claims"] && jwt["claims"].size()) {
        for (const auto &c : jwt["claims"]) {
          YAML::Node claim;
          claim["name"] = S(str(c, "name"));
          claim["valueType"] = S(str(c, "valueType", "String"));
          if (c["values"] && c["values"].size())
            claim["values"] = sorted(c["values"]);
          else
            claim["values"] = YAML::Node(YAML::NodeType::Null);
          j["claims"].push_back(claim);
        }
      }
      if (jwt && jwt["scopes"] && jwt["scopes"].size()) j["scopes"] = sorted(jwt["scopes"]);
      r["source"]["jwt"] = j;
    }
    if (with_source_target && rule["target"]) {
      YAML::Node tools(YAML::NodeType::Sequence);
      for (const auto &t : rule["target"]["tools"]) {
        YAML::Node tool;
        tool["backend"] = S(str(t, "backend"));
        tool["tool"] = S(str(t, "tool"));
        tools.push_back(tool);
      }
      r["target"]["tools"] = tools;
    }
    out.push_back(r);
  }
  return out;
}

YAML::Node filter_route(const YAML::Node &mcp) {
  const YAML::Node spec = mcp["spec"];
  const YAML::Node sp = spec["securityPolicy"];
  YAML::Node r;
  if (sp && sp["authorization"]) {
    const YAML::Node az = sp["authorization"];
    YAML::Node a;
    a["defaultAction"] = S(str(az, "defaultAction", "Deny"));
    if (sp["oauth"])
      a["resourceMetadataURL"] =
          S(resource_metadata_url(str(sp["oauth"]["protectedResourceMetadata"], "resource")));
    if (az["rules"] && az["rules"].size()) a["rules"] = authorization_rules(az["rules"], true);
    r["authorization"] = a;
  }
  if (spec["backendSelector"]) {
    YAML::Node s;
    s["defaultAction"] = S(str(spec["backendSelector"], "defaultAction", "Deny"));
    if (spec["backendSelector"]["rules"] && spec["backendSelector"]["rules"].size())
      s["rules"] = authorization_rules(spec["backendSelector"]["rules"], false);
    r["backendSelector"] = s;
  }
  bool route_never = str(spec, "prefixMode") == "Never";
  YAML::Node backends(YAML::NodeType::Sequence);
  for (const auto &b : spec["backendRefs"]) {
    YAML::Node e;
    if (b["forwardHeaders"] && b["forwardHeaders"].size()) {
      for (const auto &fh : b["forwardHeaders"]) {
        YAML::Node h;
        if (auto bh = str(fh, "backendHeader"); !bh.empty()) h["backendHeader"] = S(bh);
        h["name"] = S(str(fh, "name"));
        e["forwardHeaders"].push_back(h);
      }
    }
    e["name"] = S(str(b, "name"));
    if (str(b, "prefixMode", route_never ? "Never" : "Always") == "Never")
      e["prefixMode"] = "Never";
    if (b["promptSelector"]) e["promptSelector"] = selector(b["promptSelector"]);
    if (b["toolSelector"]) e["toolSelector"] = selector(b["toolSelector"]);
    backends.push_back(e);
  }
  r["backends"] = backends;
  std::vector<std::string> forward;
  auto add = [&](const std::string &h) {
    if (!h.empty() && std::find(forward.begin(), forward.end(), h) == forward.end())
      forward.push_back(h);
  };
  if (sp && sp["oauth"])
    for (const auto &c : sp["oauth"]["claimToHeaders"])
      add(str(c, "header"));
  if (sp && sp["apiKeyAuth"]) add(str(sp["apiKeyAuth"], "forwardClientIDHeader"));
  for (const auto &h : forward)
    r["forwardHeaders"].push_back(S(h));
  r["name"] = S(ns_of(mcp) + "/" + name_of(mcp));
  return r;
}

std::vector<const YAML::Node *> mcp_routes(const std::vector<YAML::Node> &docs) {
  std::vector<const YAML::Node *> routes;
  for (const auto &d : docs)
    if (d.IsMap() && kind_of(d) == "MCPRoute") routes.push_back(&d);
  std::sort(routes.begin(), routes.end(), [](auto *a, auto *b) {
    return std::pair(ns_of(*a), name_of(*a)) < std::pair(ns_of(*b), name_of(*b));
  });
  return routes;
}

// The metadata document upstream re-marshals from its struct: these fields in this order, the
// first four always, the rest when not empty. Nullopt when a field has the wrong type.
std::optional<std::string> remarshal_server_metadata(std::string_view body, std::string *jwks) {
  static const char *kFields[] = {"issuer",
                                  "authorization_endpoint",
                                  "token_endpoint",
                                  "jwks_uri",
                                  "registration_endpoint",
                                  "scopes_supported",
                                  "response_types_supported",
                                  "response_modes_supported",
                                  "grant_types_supported",
                                  "token_endpoint_auth_methods_supported",
                                  "token_endpoint_auth_signing_alg_values_supported",
                                  "service_documentation",
                                  "ui_locales_supported",
                                  "op_policy_uri",
                                  "op_tos_uri",
                                  "revocation_endpoint",
                                  "revocation_endpoint_auth_methods_supported",
                                  "revocation_endpoint_auth_signing_alg_values_supported",
                                  "introspection_endpoint",
                                  "introspection_endpoint_auth_methods_supported",
                                  "introspection_endpoint_auth_signing_alg_values_supported",
                                  "code_challenge_methods_supported"};
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(body.data(), body.size()).get(doc) || !doc.is_object()) return std::nullopt;
  std::string out = "{";
  for (size_t i = 0; i < std::size(kFields); ++i) {
    simdjson::dom::element v;
    bool present = !doc[kFields[i]].get(v) && !v.is_null();
    std::string text;
    if (present && v.is_string()) {
      std::string_view s = v.get_string().value_unsafe();
      if (!s.empty() || i < 4) text = json::quoted(s);
      if (i == 3 && jwks) *jwks = std::string(s);
    } else if (present && v.is_array()) {
      std::string list = "[";
      for (auto item : v.get_array()) {
        std::string_view s;
        if (item.get_string().get(s)) return std::nullopt;
        list += (list.size() > 1 ? "," : "") + json::quoted(s);
      }
      if (list.size() > 1) text = list + "]";
    } else if (present) {
      return std::nullopt;
    } else if (i < 4) {
      text = "\"\"";
    }
    if (!text.empty()) out += (out.size() > 1 ? "," : "") + json::quoted(kFields[i]) + ":" + text;
  }
  return out + "}";
}

} // namespace

std::optional<std::string> fetch_server_metadata(const std::string &issuer, const HttpGet &get,
                                                 std::string *jwks_uri, std::string *error) {
  std::string server = trim_slash(issuer);
  auto scheme_end = server.find("://");
  if (!get || server.empty() || scheme_end == std::string::npos) {
    if (error) *error = get ? "invalid authorization server URL" : "not fetched";
    return std::nullopt;
  }
  size_t host_end = server.find('/', scheme_end + 3);
  std::string origin = server.substr(0, host_end);
  std::string path = host_end == std::string::npos ? "" : trim_slash(server.substr(host_end));
  const std::string as = "/.well-known/oauth-authorization-server";
  const std::string oidc = "/.well-known/openid-configuration";
  for (const auto &url :
       {origin + as + path, origin + oidc + path, origin + path + as, origin + path + oidc}) {
    auto answer = get(url);
    if (!answer) {
      if (error) *error = answer.error().message;
      return std::nullopt;
    }
    if (answer->first >= 400 && answer->first < 500) continue; // the next variant
    if (answer->first != 200) {
      if (error) *error = url + ": HTTP " + std::to_string(answer->first);
      return std::nullopt;
    }
    auto doc = remarshal_server_metadata(answer->second, jwks_uri);
    if (!doc && error) *error = url + ": not a metadata document";
    return doc;
  }
  if (error) *error = "no metadata at any well-known location";
  return std::nullopt;
}

Result<Output> resources(const std::vector<YAML::Node> &docs, const api::Resources &res,
                         const HttpGet &get) {
  Output out;
  std::set<std::string> proxy_namespaces;
  for (const auto *mcp : mcp_routes(docs)) {
    std::string ns = ns_of(*mcp), route = name_of(*mcp);
    proxy_namespaces.insert(ns);
    out.http_routes.push_back({ns, "ai-eg-mcp-main-" + route, emit_node(main_route(*mcp, ns))});
    const YAML::Node refs = (*mcp)["spec"]["backendRefs"];
    for (size_t i = 0; refs && i < refs.size(); ++i) {
      auto b = backend_route(*mcp, ns, refs[i], i, res);
      if (!b) return b.error();
      std::string suffix = route + "-" + str(refs[i], "name");
      out.http_routes.push_back({ns, "ai-eg-mcp-br-" + suffix, emit_node(b->route)});
      out.filters.push_back({ns, "ai-eg-mcp-brf-" + suffix, emit_node(b->filter)});
      if (b->secret) out.secrets.push_back({ns, "ai-eg-mcp-cred-" + suffix, emit_node(*b->secret)});
    }
    auto sec = security_resources(*mcp, ns, docs, res, get, out);
    if (!sec) return sec.error();
  }
  for (const auto &ns : proxy_namespaces) {
    YAML::Node meta;
    meta["labels"]["app.kubernetes.io/managed-by"] = "envoy-ai-gateway";
    meta["name"] = kProxyBackend;
    meta["namespace"] = S(ns);
    YAML::Node ep;
    ep["ip"]["address"] = kProxyDummyIP;
    ep["ip"]["port"] = kProxyPort;
    YAML::Node spec;
    spec["endpoints"].push_back(ep);
    out.backends.push_back(
        {ns, kProxyBackend,
         emit_node(resource("gateway.envoyproxy.io/v1alpha1", "Backend", meta, spec))});
  }
  return out;
}

std::string filter_config(const std::vector<YAML::Node> &docs) {
  auto routes = mcp_routes(docs);
  if (routes.empty()) return "";
  YAML::Node cfg;
  cfg["backendListenerAddr"] = "http://127.0.0.1:10088";
  for (const auto *r : routes)
    cfg["routes"].push_back(filter_route(*r));
  YAML::Node top;
  top["mcpConfig"] = cfg;
  return emit_node(top);
}

} // namespace aigw::control::mcp_translate
