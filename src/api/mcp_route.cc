// MCPRoute decoding and validation; see mcp_route.h.
#include "api/mcp_route.h"

#include <algorithm>
#include <cctype>
#include <regex>
#include <set>

namespace aigw::api {
namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// A list of strings of at most `max` entries; regexes are compiled to check them.
std::vector<std::string> strings(const Field &f, size_t max, bool regex, bool &ok) {
  std::vector<std::string> out;
  if (!f.present()) return out;
  if (!f.is_sequence()) {
    f.fail("must be a list of strings");
    ok = false;
    return out;
  }
  if (f.size() > max) {
    f.fail("at most " + std::to_string(max) + " entries, got " + std::to_string(f.size()));
    ok = false;
  }
  for (size_t i = 0; i < f.size(); ++i) {
    auto v = f.at(i).required_str();
    if (!v) {
      ok = false;
      continue;
    }
    if (regex) {
      try {
        std::regex(*v, std::regex::ECMAScript);
      } catch (const std::regex_error &e) {
        f.at(i).fail("is not a valid regular expression: " + std::string(e.what()));
        ok = false;
        continue;
      }
    }
    out.push_back(std::move(*v));
  }
  return out;
}

MCPNameSelector decode_selector(const Field &f, bool &ok) {
  MCPNameSelector s;
  if (!f.present()) return s;
  s.include = strings(f["include"], 32, false, ok);
  s.include_regex = strings(f["includeRegex"], 32, true, ok);
  s.exclude = strings(f["exclude"], 32, false, ok);
  s.exclude_regex = strings(f["excludeRegex"], 32, true, ok);
  if (!s.include.empty() && !s.include_regex.empty()) {
    f.fail("include and includeRegex cannot both be set");
    ok = false;
  }
  if (!s.exclude.empty() && !s.exclude_regex.empty()) {
    f.fail("exclude and excludeRegex cannot both be set");
    ok = false;
  }
  if (s.empty()) {
    f.fail("at least one of include, includeRegex, exclude or excludeRegex is required");
    ok = false;
  }
  return s;
}

std::optional<bool> decode_prefix_mode(const Field &f, bool &ok) {
  if (!f.present()) return std::nullopt;
  auto v = f.str();
  if (v && *v == "Always") return false;
  if (v && *v == "Never") return true;
  f.fail("must be Always or Never");
  ok = false;
  return std::nullopt;
}

std::optional<MCPBackendAPIKey> decode_api_key(const Field &f, bool &ok) {
  if (!f.present()) return std::nullopt;
  MCPBackendAPIKey k;
  Field secret = f["secretRef"];
  if (secret.present()) {
    if (auto n = secret["name"].required_str()) k.secret_name = *n;
    k.secret_namespace = secret["namespace"].str_or("");
  }
  if (f["inline"].present()) k.inline_key = f["inline"].str_or("");
  if (secret.present() == k.inline_key.has_value()) {
    f.fail("exactly one of secretRef or inline is required");
    ok = false;
  }
  k.header = f["header"].str_or("");
  k.query_param = f["queryParam"].str_or("");
  if (!k.header.empty() && !k.query_param.empty()) {
    f.fail("header and queryParam cannot both be set");
    ok = false;
  }
  if (k.header.empty() && k.query_param.empty()) k.header = "authorization";
  k.header = lower(k.header);
  if (auto p = f["injectionPolicy"].str()) {
    if (*p == "IfNotPresent") {
      k.if_not_present = true;
      if (!k.query_param.empty()) {
        f["injectionPolicy"].fail("IfNotPresent cannot be combined with queryParam");
        ok = false;
      }
    } else if (*p != "Always") {
      f["injectionPolicy"].fail("must be Always or IfNotPresent");
      ok = false;
    }
  }
  return k;
}

bool is_url(std::string_view s) { return s.starts_with("https://") || s.starts_with("http://"); }

MCPRouteOAuth decode_oauth(const Field &f, bool &ok) {
  MCPRouteOAuth o;
  auto issuer = f["issuer"].required_str();
  if (!issuer)
    ok = false;
  else if (!is_url(*issuer)) {
    f["issuer"].fail("must be an http(s) URL");
    ok = false;
  } else {
    o.issuer = *issuer;
  }
  o.audiences = strings(f["audiences"], 32, false, ok);
  Field jwks = f["jwks"];
  if (jwks.present()) {
    Field remote = jwks["remoteJWKS"], local = jwks["localJWKS"];
    if (remote.present() == local.present()) {
      jwks.fail("exactly one of remoteJWKS or localJWKS is required");
      ok = false;
    }
    if (remote.present()) {
      auto uri = remote["uri"].required_str();
      if (uri && !is_url(*uri)) {
        remote["uri"].fail("must be an http(s) URL");
        ok = false;
      } else if (uri) {
        o.remote_jwks_uri = *uri;
      } else {
        ok = false;
      }
    }
    if (local.present()) {
      std::string type = local["type"].str_or("Inline");
      if (type == "ValueRef") {
        Field ref = local["valueRef"];
        if (ref["kind"].str_or("ConfigMap") != "ConfigMap") {
          ref["kind"].fail("must be ConfigMap");
          ok = false;
        } else if (auto n = ref["name"].required_str()) {
          o.local_jwks_config_map = *n;
        } else {
          ok = false;
        }
      } else if (type != "Inline") {
        local["type"].fail("must be Inline or ValueRef");
        ok = false;
      } else if (auto v = local["inline"].required_str()) {
        o.local_jwks = *v;
      } else {
        ok = false;
      }
    }
  }
  Field prm = f["protectedResourceMetadata"];
  auto resource = prm["resource"].required_str();
  if (!resource)
    ok = false;
  else if (!is_url(*resource)) {
    prm["resource"].fail("must be an http(s) URL");
    ok = false;
  } else {
    o.metadata.resource = *resource;
  }
  o.metadata.resource_name = prm["resourceName"].str_or("");
  o.metadata.scopes_supported = strings(prm["scopesSupported"], 32, false, ok);
  o.metadata.signing_algs = strings(prm["resourceSigningAlgValuesSupported"], 16, false, ok);
  o.metadata.documentation = prm["resourceDocumentation"].str_or("");
  o.metadata.policy_uri = prm["resourcePolicyUri"].str_or("");
  Field claims = f["claimToHeaders"];
  for (size_t i = 0; i < claims.size(); ++i) {
    auto claim = claims.at(i)["claim"].required_str();
    auto header = claims.at(i)["header"].required_str();
    if (claim && header)
      o.claim_to_headers.emplace_back(*claim, lower(*header));
    else
      ok = false;
  }
  o.authorization_server_metadata_url = f["authorizationServerMetadataUrl"].str_or("");
  return o;
}

std::optional<bool> decode_action(const Field &f, bool &ok) {
  if (!f.present()) return std::nullopt;
  auto v = f.str_or("");
  if (v == "Allow") return true;
  if (v == "Deny") return false;
  f.fail("must be Allow or Deny");
  ok = false;
  return std::nullopt;
}

MCPRouteAuthorization decode_authorization(const Field &f, bool has_oauth, bool &ok) {
  MCPRouteAuthorization a;
  a.default_allow = decode_action(f["defaultAction"], ok).value_or(false);
  Field rules = f["rules"];
  if (rules.size() > 32) {
    rules.fail("at most 32 rules");
    ok = false;
  }
  for (size_t i = 0; i < rules.size(); ++i) {
    Field rf = rules.at(i);
    MCPAuthorizationRule r;
    r.allow = decode_action(rf["action"], ok).value_or(true);
    r.cel = rf["cel"].str_or("");
    if (r.cel.size() > 4096) {
      rf["cel"].fail("at most 4096 characters");
      ok = false;
    }
    if (!has_oauth && r.cel.find("request.auth.jwt") != std::string::npos) {
      rf["cel"].fail("reads request.auth.jwt, which requires spec.securityPolicy.oauth");
      ok = false;
    }
    Field jwt = rf["source"]["jwt"];
    if (rf["source"].present()) {
      r.has_source = true;
      if (!has_oauth) {
        rf["source"]["jwt"].fail("requires spec.securityPolicy.oauth (claims come only from "
                                 "verified tokens)");
        ok = false;
      }
      r.scopes = strings(jwt["scopes"], 16, false, ok);
      Field claims = jwt["claims"];
      for (size_t j = 0; j < claims.size(); ++j) {
        Field cf = claims.at(j);
        MCPAuthorizationRule::Claim c;
        if (auto n = cf["name"].required_str())
          c.name = *n;
        else
          ok = false;
        if (c.name == "scope") {
          cf["name"].fail("\"scope\" is reserved: use scopes");
          ok = false;
        }
        std::string type = cf["valueType"].str_or("String");
        if (type != "String" && type != "StringArray") {
          cf["valueType"].fail("must be String or StringArray");
          ok = false;
        }
        c.array = type == "StringArray";
        c.values = strings(cf["values"], 16, false, ok);
        r.claims.push_back(std::move(c));
      }
    }
    Field tools = rf["target"]["tools"];
    for (size_t j = 0; j < tools.size(); ++j) {
      auto b = tools.at(j)["backend"].required_str();
      auto t = tools.at(j)["tool"].required_str();
      if (b && t)
        r.tools.emplace_back(*b, *t);
      else
        ok = false;
    }
    a.rules.push_back(std::move(r));
  }
  return a;
}

bool decode_backend_ref(const Field &bf, MCPRouteBackendRef &b) {
  bool ok = true;
  auto name = bf["name"].required_str();
  if (!name) return false;
  b.name = *name;
  b.kind = bf["kind"].str_or("Backend");
  if (b.kind == "Service") {
    auto port = bf["port"].integer(1, 65535);
    if (!port) {
      if (!bf["port"].present()) bf["port"].fail("is required for a Service");
      ok = false;
    } else {
      b.service_port = static_cast<uint16_t>(*port);
    }
  } else if (b.kind != "Backend") {
    bf["kind"].fail("must be Backend (gateway.envoyproxy.io) or Service");
    ok = false;
  }
  if (auto ns = bf["namespace"].str(); ns && !ns->empty()) {
    bf["namespace"].fail("must be the route's namespace (cross-namespace references are not "
                         "allowed)");
    ok = false;
  }
  b.path = bf["path"].str_or("/mcp");
  if (b.path.empty() || b.path.front() != '/') {
    bf["path"].fail("must start with /");
    ok = false;
  }
  b.tool_selector = decode_selector(bf["toolSelector"], ok);
  b.prompt_selector = decode_selector(bf["promptSelector"], ok);
  b.prefix_never = decode_prefix_mode(bf["prefixMode"], ok);
  b.api_key = decode_api_key(bf["securityPolicy"]["apiKey"], ok);
  Field fwd = bf["forwardHeaders"];
  if (fwd.present()) {
    if (fwd.size() > 32) {
      fwd.fail("at most 32 entries");
      ok = false;
    }
    for (size_t i = 0; i < fwd.size(); ++i) {
      auto n = fwd.at(i)["name"].required_str();
      if (!n) {
        ok = false;
        continue;
      }
      b.forward_headers.push_back({lower(*n), lower(fwd.at(i)["backendHeader"].str_or(""))});
    }
  }
  return ok;
}

} // namespace

bool decode_mcp_route(const Field &spec, MCPRoute &out) {
  bool ok = true;
  Field parents = spec["parentRefs"];
  if (!parents.present() || parents.size() == 0) {
    parents.fail("is required (1 to 16 Gateways)");
    ok = false;
  }
  for (size_t i = 0; i < parents.size(); ++i)
    if (auto n = parents.at(i)["name"].required_str()) out.parent_gateways.push_back(*n);
  out.path = spec["path"].str_or("/mcp");
  if (out.path.empty() || out.path.front() != '/' || out.path.size() > 1024) {
    spec["path"].fail("must start with / and be at most 1024 characters");
    ok = false;
  }
  Field headers = spec["headers"];
  for (size_t i = 0; i < headers.size(); ++i) {
    Field h = headers.at(i);
    if (h["type"].str_or("Exact") != "Exact") {
      h["type"].fail("only Exact header matches are served");
      ok = false;
    }
    auto n = h["name"].required_str();
    if (n) out.header_matches.emplace_back(lower(*n), h["value"].str_or(""));
  }
  Field hosts = spec["hostnames"];
  for (size_t i = 0; i < hosts.size(); ++i)
    if (auto h = hosts.at(i).str()) out.hostnames.push_back(lower(*h));
  out.prefix_never = decode_prefix_mode(spec["prefixMode"], ok).value_or(false);

  Field refs = spec["backendRefs"];
  if (!refs.present() || refs.size() == 0 || refs.size() > 256) {
    refs.fail("1 to 256 backendRefs are required");
    ok = false;
  }
  std::set<std::string> names;
  std::vector<size_t> index; // of each decoded ref in spec.backendRefs
  for (size_t i = 0; i < refs.size(); ++i) {
    MCPRouteBackendRef b;
    if (!decode_backend_ref(refs.at(i), b)) {
      ok = false;
      continue;
    }
    if (!names.insert(b.name).second) {
      refs.at(i)["name"].fail("\"" + b.name + "\" is listed twice");
      ok = false;
      continue;
    }
    if (b.name.find("__") != std::string::npos) {
      // the separator of prefixed names: a backend named with it could not be told apart
      refs.at(i)["name"].fail("must not contain \"__\"");
      ok = false;
    }
    out.backend_refs.push_back(std::move(b));
    index.push_back(i);
  }
  // prefixMode Never: the backend's tools are exposed bare, so they must be named, and two such
  // backends must not expose the same name.
  std::set<std::string> bare;
  for (size_t i = 0; i < out.backend_refs.size(); ++i) {
    const auto &b = out.backend_refs[i];
    if (!b.prefix_never.value_or(out.prefix_never)) continue;
    Field sel = refs.at(index[i])["toolSelector"]["include"];
    if (b.tool_selector.include.empty()) {
      sel.fail("is required when prefixMode is Never (the tools exposed without a prefix)");
      ok = false;
    }
    for (const auto &t : b.tool_selector.include)
      if (!bare.insert(t).second) {
        sel.fail("tool \"" + t + "\" is exposed without a prefix by two backends");
        ok = false;
      }
  }
  Field security = spec["securityPolicy"];
  if (security["oauth"].present()) out.oauth = decode_oauth(security["oauth"], ok);
  if (security["authorization"].present())
    out.authorization = decode_authorization(security["authorization"], out.oauth.has_value(), ok);
  if (Field ak = security["apiKeyAuth"]; ak.present()) {
    MCPRoute::APIKeyAuth a;
    Field refs = ak["credentialRefs"];
    if (!refs.present() || refs.size() == 0) {
      refs.fail("is required (the Secrets that hold the keys)");
      ok = false;
    }
    for (size_t i = 0; i < refs.size(); ++i)
      if (auto n = refs.at(i)["name"].required_str())
        a.secrets.push_back(*n);
      else
        ok = false;
    Field from = ak["extractFrom"];
    for (size_t i = 0; i < from.size(); ++i) {
      for (auto &h : strings(from.at(i)["headers"], 16, false, ok))
        a.headers.push_back(lower(h));
      for (auto &p : strings(from.at(i)["params"], 16, false, ok))
        a.params.push_back(p);
      if (from.at(i)["cookies"].present()) {
        from.at(i)["cookies"].fail("is not served by aigw run yet; use headers or params");
        ok = false;
      }
    }
    if (a.headers.empty() && a.params.empty()) {
      from.fail("is required: the headers or query parameters the key is taken from");
      ok = false;
    }
    a.forward_client_id_header = lower(ak["forwardClientIDHeader"].str_or(""));
    a.sanitize = ak["sanitize"].boolean().value_or(false);
    out.api_key_auth = std::move(a);
  }
  for (const char *k : {"extAuth"})
    if (security[k].present()) {
      // Never accepted and left unenforced: the route is refused instead.
      security[k].fail("is not served by aigw run yet; the route is not served");
      ok = false;
    }
  if (Field bs = spec["backendSelector"]; bs.present()) {
    MCPRoute::BackendSelector sel;
    sel.default_allow = decode_action(bs["defaultAction"], ok).value_or(false);
    Field rules = bs["rules"];
    for (size_t i = 0; i < rules.size(); ++i) {
      auto cel = rules.at(i)["cel"].required_str();
      if (!cel) {
        ok = false;
        continue;
      }
      if (!out.oauth && cel->find("request.auth.jwt") != std::string::npos) {
        rules.at(i)["cel"].fail("reads request.auth.jwt, which requires spec.securityPolicy.oauth");
        ok = false;
      }
      sel.rules.emplace_back(*cel, decode_action(rules.at(i)["action"], ok).value_or(true));
    }
    out.backend_selector = std::move(sel);
  }
  return ok;
}

} // namespace aigw::api
