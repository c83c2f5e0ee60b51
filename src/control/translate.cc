// Translation to Envoy Gateway resources; see translate.h.
#include "control/translate.h"
#include "control/translate_mcp.h"
#include "control/translate_yaml.h"

#include "api/resources.h"
#include "auth/aws_sigv4.h"
#include "control/client_policies.h"
#include "control/loader.h"
#include "control/snapshot.h"
#include "core/base64.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <map>
#include <set>

namespace aigw::control {
namespace yaml_out {

std::string ns_of(const YAML::Node &doc) {
  if (doc["metadata"] && doc["metadata"]["namespace"])
    return doc["metadata"]["namespace"].as<std::string>("default");
  return "default";
}
std::string name_of(const YAML::Node &doc) {
  return doc["metadata"] && doc["metadata"]["name"] ? doc["metadata"]["name"].as<std::string>("")
                                                    : "";
}
std::string kind_of(const YAML::Node &doc) {
  return doc["kind"] ? doc["kind"].as<std::string>("") : "";
}

// yaml.v2's rule for a plain scalar that would read back as something else (or not at all).
bool needs_quotes(std::string_view s) {
  if (s.empty()) return true;
  static const std::set<std::string> kWords = {
      "y",    "Y",    "yes",   "Yes",   "YES",   "n",    "N",    "no",    "No",   "NO",   "true",
      "True", "TRUE", "false", "False", "FALSE", "on",   "On",   "ON",    "off",  "Off",  "OFF",
      "null", "Null", "NULL",  "~",     ".inf",  ".Inf", ".INF", "-.inf", ".nan", ".NaN", ".NAN"};
  if (kWords.count(std::string(s))) return true;
  if (std::string_view("-?:,[]{}#&*!|>'\"%@`").find(s.front()) != std::string_view::npos)
    return true;
  if (s.front() == ' ' || s.back() == ' ') return true;
  if (s.find(": ") != std::string_view::npos || s.find(" #") != std::string_view::npos ||
      s.back() == ':')
    return true;
  // Numbers and timestamps.
  bool digits_and_signs = true;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || c == '.' || c == '-' || c == '+' || c == 'e' || c == 'E' ||
          c == '_' || c == ':' || c == 'T' || c == 'Z' || c == 't' || c == 'z' || c == 'x' ||
          c == 'o' || c == 'b'))
      digits_and_signs = false;
  if (digits_and_signs && s.front() >= '0' && s.front() <= '9') return true;
  return false;
}

void append_scalar(std::string &o, std::string_view v, int indent) {
  if (v.find('\n') != std::string_view::npos) {
    o += v.back() == '\n' ? "|\n" : "|-\n";
    std::string_view rest = v;
    while (!rest.empty()) {
      auto nl = rest.find('\n');
      std::string_view line = rest.substr(0, nl);
      if (!line.empty()) o.append(static_cast<size_t>(indent), ' ').append(line);
      o += '\n';
      if (nl == std::string_view::npos) break;
      rest.remove_prefix(nl + 1);
    }
    return;
  }
  if (needs_quotes(v)) {
    o += '"';
    for (char c : v) {
      if (c == '"' || c == '\\') o += '\\';
      o += c;
    }
    o += "\"\n";
  } else {
    o.append(v).append("\n");
  }
}

// One `key: value` line (or block) at `indent` spaces.
void kv(std::string &o, int indent, std::string_view key, std::string_view value) {
  o.append(static_cast<size_t>(indent), ' ').append(key).append(": ");
  append_scalar(o, value, indent + 2);
}

// Scalars that were quoted in the input (or must read back as strings) stay quoted: yaml-cpp
// marks them with the non-specific tag "!".
void emit(YAML::Emitter &e, const YAML::Node &n) {
  switch (n.Type()) {
  case YAML::NodeType::Map:
    e << YAML::BeginMap;
    for (const auto &kv : n) {
      e << YAML::Key;
      emit(e, kv.first);
      e << YAML::Value;
      emit(e, kv.second);
    }
    e << YAML::EndMap;
    break;
  case YAML::NodeType::Sequence:
    e << YAML::BeginSeq;
    for (const auto &x : n)
      emit(e, x);
    e << YAML::EndSeq;
    break;
  case YAML::NodeType::Scalar: {
    const std::string &v = n.Scalar();
    if (n.Tag() == "!" || (n.Tag() == "?" && v.empty()))
      e << YAML::DoubleQuoted << v;
    else
      e << v;
    break;
  }
  default: e << YAML::Null;
  }
}

std::string emit_node(const YAML::Node &n) {
  YAML::Emitter e;
  emit(e, n);
  return std::string(e.c_str()) + "\n";
}

std::string quote(std::string_view v) {
  std::string o;
  append_scalar(o, v, 0);
  o.pop_back();
  return o;
}

const api::Secret *find_secret(const api::Resources &res, const std::string &ns,
                               const std::string &name) {
  for (const auto &s : res.secrets)
    if (s.meta.name == name && s.meta.namespace_ == ns) return &s;
  return nullptr;
}

} // namespace yaml_out

namespace {

using namespace yaml_out;

constexpr std::string_view kNotFoundBody =
    "No matching route found. It is likely because the model specified in your request is not "
    "configured in the Gateway.";

struct ConfigInputs {
  api::Resources res;
  std::vector<YAML::Node> docs;
};

Result<ConfigInputs> decode(std::string_view text, const EnvLookup &env) {
  // The same checks as `aigw run`: a configuration that would not load is not translated.
  auto loaded = load_text(text, "input", env, 1);
  if (!loaded.snapshot) {
    std::string msg;
    for (const auto &e : loaded.diag.errors())
      msg += (msg.empty() ? "" : "\n") + e;
    return Error::config(msg);
  }
  ConfigInputs in;
  api::Diagnostics diag;
  std::string expanded = expand_env(text, env, nullptr);
  in.docs = YAML::LoadAll(expanded);
  for (size_t i = 0; i < in.docs.size(); ++i)
    api::decode_document(in.docs[i], i, in.res, diag);
  substitute_secrets(in.res, env, diag); // the keys `aigw run` would use
  return in;
}

// The auth: block of a filterapi backend, from its BackendSecurityPolicy (secrets inlined, as
// upstream's controller writes them).
void append_auth(std::string &e, const api::Resources &res, const api::BackendSecurityPolicy &bsp) {
  auto secret_value = [&](const std::optional<api::SecretRef> &ref,
                          const std::string &key) -> std::string {
    if (!ref) return "";
    const auto *s = find_secret(res, bsp.meta.namespace_, ref->name);
    if (!s) return "";
    auto it = s->data.find(key);
    return it == s->data.end() ? "" : it->second;
  };
  e += "  auth:\n";
  if (bsp.type == "APIKey" || bsp.type == "AzureAPIKey" || bsp.type == "AnthropicAPIKey") {
    std::string field = bsp.type == "APIKey"        ? "apiKey"
                        : bsp.type == "AzureAPIKey" ? "azureAPIKey"
                                                    : "anthropicAPIKey";
    e += "    " + field + ":\n";
    kv(e, 6, "key", secret_value(bsp.api_key_secret, "apiKey"));
  } else if (bsp.type == "AWSCredentials") {
    e += "    aws:\n";
    if (bsp.aws_credentials_secret)
      kv(e, 6, "credentialFileLiteral", secret_value(bsp.aws_credentials_secret, "credentials"));
    kv(e, 6, "region", bsp.aws_region);
  } else if (bsp.type == "AzureCredentials") {
    e += "    azure:\n";
    kv(e, 6, "accessToken", "");
  } else if (bsp.type == "GCPCredentials") {
    e += "    gcp:\n";
    kv(e, 6, "accessToken", "");
    kv(e, 6, "projectName", bsp.gcp_project_name);
    kv(e, 6, "region", bsp.gcp_region);
  }
  if (const auto &o = bsp.credential_override) {
    // As upstream's controller resolves it: the default names, the headers to strip.
    e += "    credentialOverride:\n";
    if (o->from_metadata) {
      kv(e, 6, "dynamicMetadataKey",
         !o->metadata_key.empty()       ? o->metadata_key
         : bsp.type == "AWSCredentials" ? std::string("x-aigw-aws-credentials")
                                        : control::default_override_name(bsp.type));
      kv(e, 6, "dynamicMetadataNamespace", o->metadata_namespace);
      e += std::string("      fallbackToConfigured: ") + (o->fallback ? "true" : "false") + "\n";
    } else {
      e += std::string("      fallbackToConfigured: ") + (o->fallback ? "true" : "false") + "\n";
      std::string header = o->header.empty() ? control::default_override_name(bsp.type) : o->header;
      kv(e, 6, "headerName", header);
      e += "      inputHeadersToRemove:\n";
      for (const auto &h : control::override_headers(bsp.type, header)) {
        e += "      - ";
        append_scalar(e, h, 8);
      }
    }
  }
}

// httpBodyMutation / httpHeaderMutation: backend-level merged with route-level (route wins),
// removals then sets, keys sorted as upstream writes them.
template <typename Mutation>
void append_mutation(std::string &e, const char *block, const char *key_field,
                     const Mutation &backend, const Mutation &route) {
  std::map<std::string, std::string> set;
  std::set<std::string> remove;
  for (const auto *m : {&backend, &route}) {
    for (const auto &[k, v] : m->set)
      set[k] = v;
    for (const auto &k : m->remove)
      remove.insert(k);
  }
  if (set.empty() && remove.empty()) return;
  e += std::string("  ") + block + ":\n";
  if (!remove.empty()) {
    e += "    remove:\n";
    for (const auto &k : remove) {
      e += "    - ";
      append_scalar(e, k, 6);
    }
  }
  if (!set.empty()) {
    e += "    set:\n";
    for (const auto &[k, v] : set) {
      e += std::string("    - ") + key_field + ": ";
      append_scalar(e, k, 8);
      kv(e, 6, "value", v);
    }
  }
}

// One filterapi backend entry: rule `i`, backendRef `j` of route `r` (empty when the
// AIServiceBackend does not exist).
std::string backend_entry(const api::Resources &res, const api::AIGatewayRoute &r, size_t i,
                          size_t j) {
  const auto &ref = r.rules[i].backend_refs[j];
  std::string bns = ref.namespace_.empty() ? r.meta.namespace_ : ref.namespace_;
  const api::AIServiceBackend *ab = nullptr;
  for (const auto &b : res.ai_backends)
    if (b.meta.name == ref.name && b.meta.namespace_ == bns) ab = &b;
  if (!ab) return {};
  std::string e;
  const api::BackendSecurityPolicy *bsp = nullptr;
  for (const auto &p : res.security_policies)
    if (p.meta.namespace_ == bns && std::find(p.target_backends.begin(), p.target_backends.end(),
                                              ab->meta.name) != p.target_backends.end())
      bsp = &p;
  if (bsp) append_auth(e, res, *bsp);
  append_mutation(e, "httpBodyMutation", "path", ab->body_mutation, ref.body_mutation);
  api::HeaderMutation backend_headers = ab->header_mutation;
  if (bsp && bsp->credential_override && !bsp->credential_override->from_metadata)
    for (auto &h :
         control::override_headers(bsp->type, bsp->credential_override->header.empty()
                                                  ? control::default_override_name(bsp->type)
                                                  : bsp->credential_override->header))
      backend_headers.remove.push_back(std::move(h));
  append_mutation(e, "httpHeaderMutation", "name", backend_headers, ref.header_mutation);
  if (!ab->header_value_filters.empty()) {
    e += "  headerValueFilters:\n";
    for (const auto &f : ab->header_value_filters) {
      e += "  - mode: " + std::string(f.allowlist ? "Allowlist" : "Denylist") + "\n";
      kv(e, 4, "name", f.name);
      e += "    values:\n";
      for (const auto &v : f.values) {
        e += "    - ";
        append_scalar(e, v, 6);
      }
    }
  }
  kv(e, 2, "modelNameOverride", ref.model_name_override);
  kv(e, 2, "name",
     bns + "/" + ref.name + "/route/" + r.meta.name + "/rule/" + std::to_string(i) + "/ref/" +
         std::to_string(j));
  e += "  schema:\n";
  kv(e, 4, "name", ab->schema_name);
  if (ab->schema_name == "OpenAI" || ab->schema_name == "Anthropic" ||
      ab->schema_name == "AWSOpenAI") {
    std::string prefix = ab->prefix.empty() ? "v1" : ab->prefix;
    kv(e, 4, "prefix", prefix);
  } else if (!ab->schema_version.empty()) {
    kv(e, 4, "version", ab->schema_version);
  }
  e[0] = '-'; // the first line of the entry carries the dash
  return e;
}

// aigw's extension of the filter configuration (upstream's processor ignores the key): the client
// policies and VirtualKeys, with the Secrets and ConfigMaps the policies read, and which policy
// guards which route, so `aigw extproc` reads identities back as `aigw run` checks them.
std::string client_section(const api::Resources &res, const std::vector<YAML::Node> &docs) {
  if (res.client_policies.empty() && res.virtual_keys.empty()) return {};
  std::set<std::string> secrets, config_maps; // namespace/name the policies read
  for (const auto &p : res.client_policies) {
    auto at = [&](const std::string &ns) { return ns.empty() ? p.meta.namespace_ : ns; };
    if (p.api_key)
      for (const auto &c : p.api_key->credentials)
        secrets.insert(at(c.namespace_) + "/" + c.name);
    if (p.basic) secrets.insert(at(p.basic->users.namespace_) + "/" + p.basic->users.name);
    for (const auto &j : p.jwt)
      if (!j.local_jwks_config_map.empty())
        config_maps.insert(p.meta.namespace_ + "/" + j.local_jwks_config_map);
  }
  std::string text;
  for (const auto &d : docs)
    if (d.IsMap() && (kind_of(d) == "SecurityPolicy" || kind_of(d) == "VirtualKey"))
      text += "---\n" + emit_node(d);
  auto data_doc = [&](const char *kind, const api::Secret &s) {
    YAML::Node n;
    n["apiVersion"] = "v1";
    n["kind"] = kind;
    n["metadata"]["name"] = s.meta.name;
    n["metadata"]["namespace"] = s.meta.namespace_;
    for (const auto &[k, v] : s.data)
      n[std::string(kind) == "Secret" ? "stringData" : "data"][k] = v;
    text += "---\n" + emit_node(n);
  };
  for (const auto &s : res.secrets)
    if (secrets.count(s.meta.key())) data_doc("Secret", s);
  for (const auto &c : res.config_maps)
    if (config_maps.count(c.meta.key())) data_doc("ConfigMap", c);
  api::Diagnostics diag;
  auto policies = compile_client_policies(res, diag);
  auto gateway = gateway_client_auth(policies, res, diag);
  std::string o = "aigwClients:\n";
  if (gateway) kv(o, 2, "gatewayPolicy", gateway->key);
  kv(o, 2, "resources", text);
  std::string routes;
  for (const auto &r : res.routes)
    if (auto a = client_auth_for(policies, r, gateway)) {
      std::string e;
      kv(e, 4, "name", r.meta.key());
      kv(e, 4, "policy", a->key);
      e[2] = '-';
      routes += e;
    }
  if (!routes.empty()) o += "  routes:\n" + routes;
  return o;
}

std::string build_filter_config(const api::Resources &res, const std::vector<YAML::Node> &docs) {
  std::string o;
  // Routes in (namespace, name) order, then rules, then refs.
  std::vector<const api::AIGatewayRoute *> routes;
  for (const auto &r : res.routes)
    routes.push_back(&r);
  std::sort(routes.begin(), routes.end(),
            [](auto *a, auto *b) { return a->meta.key() < b->meta.key(); });
  std::string backends, costs, models;
  for (const auto *r : routes) {
    bool any_backend = false;
    for (size_t i = 0; i < r->rules.size(); ++i) {
      const auto &rule = r->rules[i];
      for (size_t j = 0; j < rule.backend_refs.size(); ++j) {
        std::string e = backend_entry(res, *r, i, j);
        if (e.empty()) continue;
        any_backend = true;
        backends += e;
      }
      for (const auto &group : rule.matches)
        for (const auto &hm : group) {
          if (hm.name != "x-ai-eg-model" || hm.type != api::HeaderMatch::Type::kExact ||
              rule.exclude_from_models)
            continue;
          std::string m;
          kv(m, 2, "CreatedAt",
             rule.models_created_at_text.empty() ? "0001-01-01T00:00:00Z"
                                                 : rule.models_created_at_text);
          kv(m, 2, "Name", hm.value);
          kv(m, 2, "OwnedBy", rule.models_owned_by.value_or("Envoy AI Gateway"));
          m[0] = '-';
          models += m;
        }
    }
    if (any_backend) {
      std::map<std::string, const api::LLMRequestCost *> by_key; // last one wins
      for (const auto &c : r->llm_request_costs)
        by_key[c.metadata_key] = &c;
      for (const auto &[key, c] : by_key) {
        std::string e;
        if (!c->cel.empty()) kv(e, 2, "cel", c->cel);
        kv(e, 2, "metadataKey", key);
        kv(e, 2, "routeName", r->meta.key());
        kv(e, 2, "type", c->type);
        e[0] = '-';
        costs += e;
      }
    }
  }
  if (!backends.empty()) o += "backends:\n" + backends;
  if (!costs.empty()) o += "llmRequestCosts:\n" + costs;
  o += client_section(res, docs);
  std::string cached;
  for (const auto *r : routes)
    if (r->response_cache_ttl) {
      std::string e;
      kv(e, 2, "name", r->meta.key());
      e += "  ttlSeconds: " + std::to_string(r->response_cache_ttl->count()) + "\n";
      e[0] = '-';
      cached += e;
    }
  if (!cached.empty()) o += "aigwResponseCache:\n" + cached;
  o += mcp_translate::filter_config(docs);
  if (!models.empty()) o += "models:\n" + models;
  o += "uuid: aigw-translate\nversion: dev\n";
  return o;
}

std::string owner_refs(const std::string &route) {
  return "  ownerReferences:\n"
         "    - apiVersion: aigateway.envoyproxy.io/v1beta1\n"
         "      blockOwnerDeletion: true\n"
         "      controller: true\n"
         "      kind: AIGatewayRoute\n"
         "      name: " +
         quote(route) +
         "\n"
         "      uid: \"\"\n";
}

// The HTTPRoute for one AIGatewayRoute, from its YAML (parentRefs, hostnames and header matches
// are copied as written).
std::string http_route(const YAML::Node &route, const std::vector<YAML::Node> &docs) {
  std::string name = name_of(route), ns = ns_of(route);
  YAML::Node spec = route["spec"];
  // backend-ref-priority: rule index, backendRef name, priority.
  std::string priority;
  YAML::Node rules = spec["rules"];
  for (size_t i = 0; rules && i < rules.size(); ++i) {
    YAML::Node refs = rules[i]["backendRefs"];
    for (size_t j = 0; refs && j < refs.size(); ++j) {
      if (!priority.empty()) priority += ',';
      priority += std::to_string(i) + ":" + refs[j]["name"].as<std::string>("") + ":" +
                  (refs[j]["priority"] ? refs[j]["priority"].as<std::string>("0") : "0");
    }
  }
  YAML::Node out;
  out["apiVersion"] = "gateway.networking.k8s.io/v1";
  out["kind"] = "HTTPRoute";
  out["metadata"]["name"] = name;
  out["metadata"]["namespace"] = ns;
  if (route["metadata"]["labels"]) out["metadata"]["labels"] = route["metadata"]["labels"];
  if (route["metadata"]["annotations"])
    for (const auto &a : route["metadata"]["annotations"])
      out["metadata"]["annotations"][a.first] = a.second;
  auto str = [](const std::string &v) { // a scalar that must read back as a string
    YAML::Node n(v);
    n.SetTag("!");
    return n;
  };
  out["metadata"]["annotations"]["gateway.envoyproxy.io/backend-ref-priority"] = str(priority);
  out["metadata"]["annotations"]["gateway.envoyproxy.io/ai-gateway-generated"] = str("true");
  YAML::Node owner;
  owner["apiVersion"] = "aigateway.envoyproxy.io/v1beta1";
  owner["blockOwnerDeletion"] = true;
  owner["controller"] = true;
  owner["kind"] = "AIGatewayRoute";
  owner["name"] = name;
  owner["uid"] = str("");
  out["metadata"]["ownerReferences"].push_back(owner);
  if (spec["parentRefs"]) out["spec"]["parentRefs"] = spec["parentRefs"];
  if (spec["hostnames"]) out["spec"]["hostnames"] = spec["hostnames"];
  YAML::Node filter;
  filter["type"] = "ExtensionRef";
  filter["extensionRef"]["group"] = "gateway.envoyproxy.io";
  filter["extensionRef"]["kind"] = "HTTPRouteFilter";
  filter["extensionRef"]["name"] = "ai-eg-host-rewrite-" + name;
  for (size_t i = 0; rules && i < rules.size(); ++i) {
    YAML::Node rule = rules[i];
    YAML::Node r;
    if (rule["name"]) r["name"] = rule["name"];
    YAML::Node refs = rule["backendRefs"];
    for (size_t j = 0; refs && j < refs.size(); ++j) {
      std::string bname = refs[j]["name"].as<std::string>("");
      std::string bns = refs[j]["namespace"] ? refs[j]["namespace"].as<std::string>("") : ns;
      for (const auto &d : docs) {
        if (kind_of(d) != "AIServiceBackend" || name_of(d) != bname || ns_of(d) != bns) continue;
        YAML::Node br = YAML::Clone(d["spec"]["backendRef"]);
        if (bns != ns && !br["namespace"]) br["namespace"] = bns;
        if (refs[j]["weight"]) br["weight"] = refs[j]["weight"];
        r["backendRefs"].push_back(br);
      }
    }
    r["filters"].push_back(YAML::Clone(filter));
    YAML::Node matches = rule["matches"];
    for (size_t m = 0; matches && m < matches.size(); ++m) {
      YAML::Node match;
      if (matches[m]["headers"]) match["headers"] = matches[m]["headers"];
      match["path"]["value"] = str("/");
      r["matches"].push_back(match);
    }
    YAML::Node timeouts = rule["timeouts"] ? YAML::Clone(rule["timeouts"]) : YAML::Node();
    if (!timeouts["request"]) timeouts["request"] = "60s";
    r["timeouts"] = timeouts;
    out["spec"]["rules"].push_back(r);
  }
  YAML::Node nf;
  nf["name"] = "route-not-found";
  YAML::Node m;
  m["path"]["value"] = "/";
  nf["matches"].push_back(m);
  YAML::Node nff;
  nff["type"] = "ExtensionRef";
  nff["extensionRef"]["group"] = "gateway.envoyproxy.io";
  nff["extensionRef"]["kind"] = "HTTPRouteFilter";
  nff["extensionRef"]["name"] = "ai-eg-route-not-found-response-" + name;
  nf["filters"].push_back(nff);
  out["spec"]["rules"].push_back(nf);
  return emit_node(out);
}

std::string route_filters(const std::string &name, const std::string &ns) {
  std::string owner = owner_refs(name);
  return "apiVersion: gateway.envoyproxy.io/v1alpha1\nkind: HTTPRouteFilter\nmetadata:\n  name: " +
         quote("ai-eg-host-rewrite-" + name) + "\n  namespace: " + quote(ns) + "\n" + owner +
         "spec:\n  urlRewrite:\n    hostname:\n      type: Backend\n---\n"
         "apiVersion: gateway.envoyproxy.io/v1alpha1\nkind: HTTPRouteFilter\nmetadata:\n  name: " +
         quote("ai-eg-route-not-found-response-" + name) + "\n  namespace: " + quote(ns) + "\n" +
         owner + "spec:\n  directResponse:\n    body:\n      inline: " + quote(kNotFoundBody) +
         "\n      type: null\n    statusCode: 404\n";
}

std::string indent_block(std::string_view text, int n) {
  std::string o;
  std::string pad(static_cast<size_t>(n), ' ');
  size_t start = 0;
  while (start < text.size()) {
    size_t nl = text.find('\n', start);
    std::string_view line =
        text.substr(start, nl == std::string_view::npos ? text.size() - start : nl - start);
    if (!line.empty()) o += pad;
    o.append(line);
    o += '\n';
    if (nl == std::string_view::npos) break;
    start = nl + 1;
  }
  return o;
}

// The filter-config Secrets of one Gateway: legacy, bundle index, bundle part.
std::string config_secrets(const std::string &gw, const std::string &ns, const std::string &cfg) {
  std::string base = gw + "-" + ns;
  std::string hash = auth::sigv4_detail::sha256_hex(ns + "/" + gw).substr(0, 12);
  std::string index_name = base + "-" + hash;
  std::string part_name = index_name + "-part-000";
  std::string index = "checksum: " + auth::sigv4_detail::sha256_hex(cfg) +
                      "\nparts:\n- name: " + part_name + "\n  path: parts/000\n" +
                      (cfg.empty() ? "" : "  sizeBytes: " + std::to_string(cfg.size()) + "\n") +
                      "uuid: aigw-translate\nversion: dev\n";
  return "apiVersion: v1\nkind: Secret\nmetadata:\n  name: " + quote(base) +
         "\nstringData:\n  filter-config.yaml: |\n" + indent_block(cfg, 4) +
         "---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: " + quote(index_name) +
         "\nstringData:\n  index.yaml: |\n" + indent_block(index, 4) +
         "---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: " + quote(part_name) +
         "\ndata:\n  chunk: " + base64_encode(cfg) + "\n";
}

} // namespace

Result<std::string> filter_config_yaml(std::string_view text, const EnvLookup &env) {
  auto in = decode(text, env);
  if (!in) return in.error();
  return build_filter_config(in->res, in->docs);
}

Result<std::string> translate_config(std::string_view text, const EnvLookup &env,
                                     const HttpGet &get) {
  Result<ConfigInputs> decoded = Error::config("");
  try {
    decoded = decode(text, env);
  } catch (const YAML::Exception &e) {
    return Error::config(std::string("invalid YAML: ") + e.what());
  }
  if (!decoded) return decoded.error();
  const auto &docs = decoded->docs;
  Result<mcp_translate::Output> mcp = Error::config("");
  try {
    mcp = mcp_translate::resources(docs, decoded->res, get);
  } catch (const YAML::Exception &e) {
    return Error::config(std::string("MCPRoute: ") + e.what());
  }
  if (!mcp) return mcp.error();
  std::string out;
  auto doc = [&](const std::string &body) { out += "---\n" + body; };
  // Generated documents of one kind, in (namespace, name) order.
  auto docs_of = [&](std::vector<mcp_translate::Doc> list) {
    std::stable_sort(list.begin(), list.end(), [](const auto &a, const auto &b) {
      return std::pair(a.ns, a.name) < std::pair(b.ns, b.name);
    });
    for (const auto &d : list)
      doc(d.body);
  };
  static const std::set<std::string>
      kConsumed = {"AIGatewayRoute", "AIServiceBackend", "BackendSecurityPolicy",
                   "MCPRoute",       "Secret",           "Gateway",
                   "VirtualKey"}; // aigw's own: in the filter configuration, not for Envoy Gateway
  for (const auto &d : docs)
    if (d.IsMap() && !kConsumed.count(kind_of(d))) doc(emit_node(d));
  std::vector<mcp_translate::Doc> routes = mcp->http_routes, filters;
  for (const auto &d : docs)
    if (d.IsMap() && kind_of(d) == "AIGatewayRoute")
      routes.push_back({ns_of(d), name_of(d), http_route(d, docs)});
  docs_of(routes);
  docs_of(mcp->backends);
  for (const auto &d : docs)
    if (d.IsMap() && kind_of(d) == "AIGatewayRoute")
      filters.push_back({ns_of(d), name_of(d), route_filters(name_of(d), ns_of(d))});
  for (auto &f : mcp->filters)
    filters.push_back(std::move(f));
  docs_of(filters);
  std::string cfg = build_filter_config(decoded->res, docs);
  for (const auto &d : docs)
    if (d.IsMap() && kind_of(d) == "Gateway") doc(config_secrets(name_of(d), ns_of(d), cfg));
  docs_of(mcp->secrets);
  for (const auto &d : docs)
    if (d.IsMap() && kind_of(d) == "Secret") doc(emit_node(d));
  for (const auto &d : docs)
    if (d.IsMap() && kind_of(d) == "Gateway") doc(emit_node(d));
  docs_of(mcp->traffic_policies);
  docs_of(mcp->security_policies);
  return out;
}

} // namespace aigw::control
