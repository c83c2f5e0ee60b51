// Compilation of Resources into a Snapshot; see snapshot.h.
#include "control/snapshot.h"

#include "control/client_policies.h"

#include "core/json_scan.h"
#include "core/pem.h"

#include <algorithm>
#include <deque>
#include <map>
#include <set>

namespace aigw::control {

namespace {
// A secret value without the trailing newline files and `kubectl create secret` leave.
std::string trimmed(std::string v) {
  while (!v.empty() && (v.back() == '\n' || v.back() == '\r' || v.back() == ' '))
    v.pop_back();
  return v;
}
} // namespace

// The RFC 9728 metadata URL of a protected resource, as upstream builds it: the resource's origin,
// /.well-known/oauth-protected-resource, then its path.
std::string resource_metadata_url(std::string_view resource) {
  while (resource.ends_with('/'))
    resource.remove_suffix(1);
  size_t scheme = resource.starts_with("https://") ? 8 : resource.starts_with("http://") ? 7 : 0;
  size_t slash = resource.find('/', scheme);
  std::string_view base = resource.substr(0, slash);
  std::string_view path =
      slash == std::string_view::npos ? std::string_view() : resource.substr(slash);
  return std::string(base) + "/.well-known/oauth-protected-resource" + std::string(path);
}

CompiledMCPSelector compile_mcp_selector(const api::MCPNameSelector &s) {
  CompiledMCPSelector c;
  c.empty = s.empty();
  c.include = s.include;
  c.exclude = s.exclude;
  for (const auto &r : s.include_regex)
    c.include_regex.emplace_back(r, std::regex::ECMAScript);
  for (const auto &r : s.exclude_regex)
    c.exclude_regex.emplace_back(r, std::regex::ECMAScript);
  return c;
}

bool CompiledMCPSelector::keeps(std::string_view name) const {
  if (empty) return true;
  // std::regex recurses per character: a name far past any real one is never matched against
  // a pattern (MCP names are short); it is not exposed.
  if (name.size() > 256) return false;
  auto matches = [&](const std::vector<std::string> &names, const std::vector<std::regex> &res) {
    if (std::find(names.begin(), names.end(), name) != names.end()) return true;
    for (const auto &re : res)
      if (std::regex_match(name.begin(), name.end(), re)) return true;
    return false;
  };
  if (matches(exclude, exclude_regex)) return false;
  if (include.empty() && include_regex.empty()) return true;
  return matches(include, include_regex);
}

std::string default_override_name(std::string_view t) {
  if (t == "APIKey") return "x-aigw-api-key";
  if (t == "AnthropicAPIKey") return "x-aigw-anthropic-api-key";
  if (t == "AzureAPIKey") return "x-aigw-azure-api-key";
  if (t == "AzureCredentials") return "x-aigw-azure-access-token";
  if (t == "GCPCredentials") return "x-aigw-gcp-access-token";
  if (t == "AWSCredentials") return "x-aigw-aws-";
  return "";
}

std::vector<std::string> override_headers(std::string_view t, std::string_view h) {
  if (h.empty()) return {};
  std::string p(h);
  if (t == "AWSCredentials")
    return {p + "access-key-id", p + "secret-access-key", p + "session-token"};
  return {p};
}

namespace {

using api::Diagnostics;

std::string ns_or(const std::string &ns, const std::string &fallback) {
  return ns.empty() ? fallback : ns;
}

std::string normalize_prefix(std::string p) {
  while (!p.empty() && p.back() == '/')
    p.pop_back();
  if (!p.empty() && p.front() != '/') p.insert(p.begin(), '/');
  return p;
}

api::HeaderMutation merge_mutations(const api::HeaderMutation &backend,
                                    const api::HeaderMutation &route) {
  api::HeaderMutation out = route;
  for (const auto &[name, value] : backend.set) {
    bool overridden = std::any_of(route.set.begin(), route.set.end(),
                                  [&](const auto &kv) { return kv.first == name; });
    if (!overridden) out.set.emplace_back(name, value);
  }
  for (const auto &name : backend.remove)
    if (std::find(out.remove.begin(), out.remove.end(), name) == out.remove.end())
      out.remove.push_back(name);
  return out;
}

void dump_mutation(std::string &o, const api::HeaderMutation &m) {
  o += "{\"set\":[";
  for (size_t i = 0; i < m.set.size(); ++i) {
    if (i) o += ',';
    o += "{\"name\":";
    json::append_quoted(o, m.set[i].first);
    o += ",\"value\":";
    json::append_quoted(o, m.set[i].second);
    o += '}';
  }
  o += "],\"remove\":[";
  for (size_t i = 0; i < m.remove.size(); ++i) {
    if (i) o += ',';
    json::append_quoted(o, m.remove[i]);
  }
  o += "]}";
}

std::string dump(const Snapshot &s, const std::vector<std::shared_ptr<const CompiledBackend>> &bs) {
  std::string o = "{\"generation\":" + std::to_string(s.generation) + ",\"source\":";
  json::append_quoted(o, s.source);
  o += ",\"listeners\":[";
  for (size_t i = 0; i < s.listener_ports.size(); ++i) {
    if (i) o += ',';
    o += std::to_string(s.listener_ports[i]);
  }
  o += "],\"tls_listeners\":[";
  for (size_t i = 0; i < s.listener_tls.size(); ++i) {
    if (i) o += ',';
    o += "{\"port\":" + std::to_string(s.listener_tls[i].port) + ",\"hostnames\":[";
    for (size_t j = 0; j < s.listener_tls[i].entries.size(); ++j) {
      if (j) o += ',';
      json::append_quoted(o, s.listener_tls[i].entries[j].hostname);
    }
    o += "]}"; // (the certificates and keys are not dumped)
  }
  o += "],\"backends\":[";
  for (size_t i = 0; i < bs.size(); ++i) {
    const auto &b = *bs[i];
    if (i) o += ',';
    o += "{\"name\":";
    json::append_quoted(o, b.key);
    o += ",\"schema\":";
    json::append_quoted(o, b.schema);
    o += ",\"pathPrefix\":";
    json::append_quoted(o, b.path_prefix);
    o += ",\"endpoints\":[";
    for (size_t e = 0; e < b.endpoints.size(); ++e) {
      if (e) o += ',';
      json::append_quoted(o, b.endpoints[e].host + ":" + std::to_string(b.endpoints[e].port));
    }
    o += "],\"tls\":";
    o += b.tls.enabled ? "true" : "false";
    o += ",\"sni\":";
    json::append_quoted(o, b.tls.sni);
    o += ",\"auth\":{\"type\":";
    json::append_quoted(o, b.auth_type);
    if (!b.api_key.empty()) o += ",\"apiKey\":\"[REDACTED]\"";
    if (!b.aws_region.empty() || b.aws_credentials) {
      o += ",\"awsRegion\":";
      json::append_quoted(o, b.aws_region);
      o += b.aws_credentials ? ",\"awsCredentials\":\"[REDACTED]\""
                             : ",\"awsCredentials\":\"environment\"";
    }
    if (!b.azure_tenant_id.empty()) {
      o += ",\"azureTenantID\":";
      json::append_quoted(o, b.azure_tenant_id);
      o += ",\"azureClientID\":";
      json::append_quoted(o, b.azure_client_id);
      o += ",\"azureClientSecret\":\"[REDACTED]\"";
    }
    if (!b.gcp_project.empty()) {
      o += ",\"gcpProjectName\":";
      json::append_quoted(o, b.gcp_project);
      o += ",\"gcpRegion\":";
      json::append_quoted(o, b.gcp_region);
      if (b.gcp_service_account) {
        o += ",\"gcpClientEmail\":";
        json::append_quoted(o, b.gcp_service_account->client_email);
        o += ",\"gcpServiceAccountKey\":\"[REDACTED]\"";
      }
    }
    o += "},\"schemaVersion\":";
    json::append_quoted(o, b.schema_version);
    o += ",\"headerMutation\":";
    dump_mutation(o, b.header_mutation);
    o += '}';
  }
  o += "],\"rules\":[";
  for (size_t i = 0; i < s.rules.size(); ++i) {
    const auto &r = s.rules[i];
    if (i) o += ',';
    o += "{\"route\":";
    json::append_quoted(o, s.routes[r.route_index].key);
    o += ",\"rule\":" + std::to_string(r.rule_index) +
         ",\"timeoutMs\":" + std::to_string(r.request_timeout.count()) + ",\"matches\":[";
    for (size_t m = 0; m < r.matches.size(); ++m) {
      if (m) o += ',';
      o += '[';
      for (size_t h = 0; h < r.matches[m].size(); ++h) {
        const auto &hm = r.matches[m][h];
        if (h) o += ',';
        o += "{\"name\":";
        json::append_quoted(o, hm.name);
        o += ",\"type\":";
        o += hm.regex ? "\"RegularExpression\"" : "\"Exact\"";
        o += ",\"value\":";
        json::append_quoted(o, hm.value);
        o += '}';
      }
      o += ']';
    }
    o += "],\"backendRefs\":[";
    for (size_t b = 0; b < r.refs.size(); ++b) {
      const auto &ref = r.refs[b];
      if (b) o += ',';
      o += "{\"backend\":";
      json::append_quoted(o, ref.backend->key);
      o += ",\"weight\":" + std::to_string(ref.weight) +
           ",\"priority\":" + std::to_string(ref.priority) + ",\"modelNameOverride\":";
      json::append_quoted(o, ref.model_name_override);
      o += '}';
    }
    o += "],\"retry\":";
    if (r.retry) {
      o += "{\"numRetries\":" + std::to_string(r.retry->num_retries) + ",\"triggers\":[";
      for (size_t t = 0; t < r.retry->triggers.size(); ++t) {
        if (t) o += ',';
        json::append_quoted(o, r.retry->triggers[t]);
      }
      o += "]}";
    } else {
      o += "null";
    }
    o += '}';
  }
  o += "],\"models\":[";
  for (size_t i = 0; i < s.models.size(); ++i) {
    if (i) o += ',';
    o += "{\"id\":";
    json::append_quoted(o, s.models[i].id);
    o += '}';
  }
  o += "]}";
  return o;
}

// The compile pass, one step per resource kind, in dependency order.
class Compiler {
public:
  Compiler(const api::Resources &res, const CompileOptions &opts, Diagnostics &diag)
      : res_(res), opts_(opts), diag_(diag), snap_(std::make_shared<Snapshot>()) {
    snap_->generation = opts.generation;
    snap_->source = opts.source;
    for (const auto &s : res.secrets)
      secrets_[s.meta.key()] = &s;
    for (const auto &b : res.backends)
      backends_[b.meta.key()] = &b;
    for (const auto &p : res.tls_policies)
      for (const auto &t : p.target_backends)
        tls_by_backend_[p.meta.namespace_ + "/" + t] = &p;
  }

  std::shared_ptr<const Snapshot> run() {
    listeners();
    service_backends();
    for (const auto &p : res_.security_policies)
      security_policy(p);
    quota_policies();
    rate_limits();
    client_policies_ = compile_client_policies(res_, diag_);
    snap_->gateway_auth = gateway_client_auth(client_policies_, res_, diag_);
    auto &params = snap_->credential_params;
    auto note_param = [&](const std::string &p) {
      if (std::find(params.begin(), params.end(), p) == params.end()) params.push_back(p);
    };
    for (const auto &p : client_policies_) {
      if (p.auth->api_key)
        for (const auto &q : p.auth->api_key->params)
          note_param(q);
      for (const auto &j : p.auth->jwt) {
        if (!j.remote_uri.empty()) snap_->remote_jwks.push_back({j.remote_uri, j.cache_duration});
        for (const auto &q : j.params)
          note_param(q);
        if (j.headers.empty() && j.params.empty() && j.cookies.empty()) note_param("access_token");
      }
    }
    snap_->virtual_keys = ratelimit::compile_virtual_keys(res_.virtual_keys, diag_);
    if (!snap_->virtual_keys.empty() && client_policies_.empty())
      diag_.warning("VirtualKey: no SecurityPolicy names clients (apiKeyAuth, basicAuth or jwt), "
                    "so no request is under a virtual key");
    for (const auto &r : res_.routes)
      route(r);
    mcp_routes();
    // Gateway API precedence among rules sharing a path: more header matches first, then order.
    std::stable_sort(rules_.begin(), rules_.end(),
                     [](const CompiledRule &a, const CompiledRule &b) {
                       return a.header_count > b.header_count;
                     });
    snap_->rules = std::move(rules_);
    if (!diag_.ok()) return nullptr;
    snap_->dump_json = dump(*snap_, backend_list_);
    return snap_;
  }

private:
  void listeners() {
    std::set<uint16_t> ports;
    std::map<uint16_t, std::string> plain; // port → the first HTTP listener on it
    for (const auto &g : res_.gateways)
      for (const auto &l : g.listeners) {
        ports.insert(l.port);
        std::string gw = "Gateway " + g.meta.key();
        std::string where = gw + ": " + l.field;
        if (l.protocol == "HTTPS")
          https_listener(l, g.meta.namespace_, gw);
        else
          plain.emplace(l.port, where);
      }
    for (const auto &t : snap_->listener_tls)
      if (auto it = plain.find(t.port); it != plain.end())
        diag_.error(it->second + ".port: " + std::to_string(t.port) + " is also an HTTPS port (" +
                    t.entries.front().where + "); one port is either HTTP or HTTPS");
    snap_->listener_ports.assign(ports.begin(), ports.end());
    if (snap_->listener_ports.empty()) snap_->listener_ports.push_back(1975);
  }

  // An HTTPS listener: its certificates from kubernetes.io/tls Secrets (tls.crt, tls.key),
  // each checked to parse and to match its key, so a reload with a bad one is refused.
  void https_listener(const api::Listener &l, const std::string &ns, const std::string &gw) {
    std::string where = gw + ": " + l.field;
    ListenerTls::Entry e{l.hostname, {}, where};
    for (size_t i = 0; i < l.certificates.size(); ++i) {
      std::string field = l.field + ".tls.certificateRefs[" + std::to_string(i) + "]";
      auto crt = secret_value(gw, ns, l.certificates[i], field, "tls.crt");
      auto key = crt ? secret_value(gw, ns, l.certificates[i], field, "tls.key") : std::nullopt;
      if (!crt || !key) continue;
      if (auto bad = check_key_pair(*crt, *key); !bad.empty()) {
        diag_.error(gw + ": " + field + ": Secret \"" + l.certificates[i].name + "\": " + bad);
        continue;
      }
      e.certificates.push_back({std::move(*crt), std::move(*key)});
    }
    if (e.certificates.empty()) return;
    for (auto &t : snap_->listener_tls)
      if (t.port == l.port) {
        for (const auto &other : t.entries)
          if (other.hostname == e.hostname)
            diag_.error(where + ".hostname: \"" + e.hostname + "\" is already served on port " +
                        std::to_string(l.port) + " by " + other.where);
        t.entries.push_back(std::move(e));
        return;
      }
    snap_->listener_tls.push_back(ListenerTls{l.port, {std::move(e)}});
  }

  // AIServiceBackends, with the endpoints and TLS of the Backend each names.
  void service_backends() {
    for (const auto &ab : res_.ai_backends) {
      std::string where = "AIServiceBackend " + ab.meta.key();
      auto cb = std::make_shared<CompiledBackend>();
      cb->key = ab.meta.key();
      cb->state = backend_state(cb->key);
      cb->name = ab.meta.name;
      cb->schema = ab.schema_name;
      cb->schema_kind = api::schema_from_name(ab.schema_name);
      cb->schema_version = ab.schema_version;
      cb->path_prefix = normalize_prefix(ab.prefix);
      cb->header_mutation = ab.header_mutation;
      cb->body_mutation = ab.body_mutation;
      for (const auto &f : ab.header_value_filters)
        if (f.name == "anthropic-beta") cb->header_value_filters.push_back(f);
      if (cb->schema_kind == api::Schema::kUnknown) cb->supported = false;
      std::string bkey = ns_or(ab.backend_namespace, ab.meta.namespace_) + "/" + ab.backend_name;
      auto bit = backends_.find(bkey);
      if (ab.service_port) {
        auto &service_backend = service_backends_.emplace_back();
        service_backend.meta.name = ab.backend_name;
        service_backend.endpoints.push_back({false,
                                             ab.backend_name + "." +
                                                 ns_or(ab.backend_namespace, ab.meta.namespace_) +
                                                 ".svc.cluster.local",
                                             *ab.service_port});
        backends_[bkey] = &service_backend;
        bit = backends_.find(bkey);
      }
      if (bit == backends_.end()) {
        if (!ab.backend_name.empty())
          diag_.error(where + ": spec.backendRef.name: Backend \"" + ab.backend_name +
                      "\" not found in namespace \"" +
                      ns_or(ab.backend_namespace, ab.meta.namespace_) + "\"");
      } else {
        resolve_endpoints(*bit->second, bkey, cb->endpoints, cb->tls, cb->host_header);
      }
      ai_backends_[cb->key] = cb;
      backend_list_.push_back(cb);
    }
  }

  // The endpoints of a Backend, with its TLS (port 443, spec.tls or a BackendTLSPolicy) and the
  // Host header its server expects.
  void resolve_endpoints(const api::Backend &b, const std::string &bkey,
                         std::vector<UpstreamEndpoint> &endpoints, TlsSettings &tls,
                         std::string &host_header) {
    for (const auto &ep : b.endpoints)
      endpoints.push_back({ep.host, ep.port, ep.is_ip});
    if (b.endpoints.empty()) return;
    const auto &first = b.endpoints.front();
    auto tit = tls_by_backend_.find(bkey);
    tls.enabled = first.port == 443 || b.tls_from_settings || tit != tls_by_backend_.end();
    if (tit != tls_by_backend_.end() && !tit->second->hostname.empty())
      tls.sni = tit->second->hostname;
    else if (!first.is_ip)
      tls.sni = first.host;
    bool default_port = (tls.enabled && first.port == 443) || (!tls.enabled && first.port == 80);
    std::string host = tls.sni.empty() ? first.host : tls.sni;
    host_header = default_port ? host : host + ":" + std::to_string(first.port);
  }

  static CompiledMCPSelector mcp_selector(const api::MCPNameSelector &s) {
    return compile_mcp_selector(s);
  }

  // MCPRoutes: each backendRef resolved to its Backend (or Service) and its API key.
  void mcp_routes() {
    for (const auto &r : res_.mcp_routes) {
      std::string where = "MCPRoute " + r.key();
      CompiledMCPRoute cr;
      cr.key = r.key();
      cr.name = r.name;
      cr.path = r.path;
      cr.header_matches = r.header_matches;
      cr.hostnames = r.hostnames;
      if (r.api_key_auth) {
        cr.api_key_auth = r.api_key_auth;
        for (size_t i = 0; i < r.api_key_auth->secrets.size(); ++i) {
          const std::string &name = r.api_key_auth->secrets[i];
          auto sit = secrets_.find(r.namespace_ + "/" + name);
          if (sit == secrets_.end()) {
            diag_.error(where + ": spec.securityPolicy.apiKeyAuth.credentialRefs[" +
                        std::to_string(i) + "].name: Secret \"" + name +
                        "\" not found in namespace \"" + r.namespace_ + "\"");
            continue;
          }
          for (const auto &[client, key] : sit->second->data)
            if (!key.empty()) cr.client_keys[trimmed(key)] = client;
        }
      }
      if (r.backend_selector) {
        cr.has_backend_selector = true;
        cr.backend_selector_default_allow = r.backend_selector->default_allow;
        for (size_t i = 0; i < r.backend_selector->rules.size(); ++i) {
          auto program = mcp::cel::Program::compile(r.backend_selector->rules[i].first);
          if (!program)
            diag_.error(where + ": spec.backendSelector.rules[" + std::to_string(i) +
                        "].cel: " + program.error().message);
          else
            cr.backend_selector.emplace_back(std::move(*program),
                                             r.backend_selector->rules[i].second);
        }
      }
      if (r.authorization) {
        cr.authorization = std::make_shared<api::MCPRouteAuthorization>(*r.authorization);
        for (size_t i = 0; i < r.authorization->rules.size(); ++i) {
          const auto &cel = r.authorization->rules[i].cel;
          if (cel.empty()) {
            cr.rule_cel.emplace_back();
            continue;
          }
          auto program = mcp::cel::Program::compile(cel);
          if (!program)
            diag_.error(where + ": spec.securityPolicy.authorization.rules[" + std::to_string(i) +
                        "].cel: " + program.error().message);
          cr.rule_cel.push_back(program ? std::optional(std::move(*program)) : std::nullopt);
        }
      }
      if (r.oauth) {
        cr.oauth = std::make_shared<api::MCPRouteOAuth>(*r.oauth);
        std::string field = "spec.securityPolicy.oauth.jwks.localJWKS";
        std::string jwks = r.oauth->local_jwks;
        if (!r.oauth->local_jwks_config_map.empty()) {
          field += ".valueRef";
          const std::string &name = r.oauth->local_jwks_config_map;
          const api::Secret *cm = nullptr;
          for (const auto &c : res_.config_maps)
            if (c.meta.name == name && c.meta.namespace_ == r.namespace_) cm = &c;
          if (!cm)
            diag_.error(where + ": " + field + ".name: ConfigMap \"" + name +
                        "\" not found in namespace \"" + r.namespace_ + "\"");
          else if (auto it = cm->data.find("jwks"); it == cm->data.end())
            diag_.error(where + ": " + field + ": ConfigMap \"" + name + "\" has no key \"jwks\"");
          else
            jwks = it->second;
        } else {
          field += ".inline";
        }
        if (!jwks.empty()) {
          auto keys = auth::parse_jwks(jwks);
          if (!keys)
            diag_.error(where + ": " + field + ": " + keys.error().message);
          else
            cr.local_keys = std::move(*keys);
        }
        cr.resource_metadata_url = resource_metadata_url(r.oauth->metadata.resource);
      }
      for (size_t i = 0; i < r.backend_refs.size(); ++i) {
        const auto &ref = r.backend_refs[i];
        std::string field = "spec.backendRefs[" + std::to_string(i) + "]";
        auto b = std::make_shared<CompiledMCPBackend>();
        b->name = ref.name;
        b->path = ref.path;
        b->tools = mcp_selector(ref.tool_selector);
        b->prompts = mcp_selector(ref.prompt_selector);
        b->prefix_never = ref.prefix_never.value_or(r.prefix_never);
        b->forward_headers = ref.forward_headers;
        std::string bkey = r.namespace_ + "/" + ref.name;
        if (ref.kind == "Service") {
          std::string host = ref.name + "." + r.namespace_ + ".svc.cluster.local";
          b->endpoints.push_back({host, ref.service_port, false});
          b->host_header = host + ":" + std::to_string(ref.service_port);
        } else if (auto bit = backends_.find(bkey); bit != backends_.end()) {
          resolve_endpoints(*bit->second, bkey, b->endpoints, b->tls, b->host_header);
        } else {
          diag_.error(where + ": " + field + ".name: Backend \"" + ref.name +
                      "\" not found in namespace \"" + r.namespace_ + "\"");
          continue;
        }
        if (const auto &k = ref.api_key) {
          if (k->inline_key) {
            b->api_key = trimmed(*k->inline_key);
          } else {
            api::SecretRef sref{k->secret_name, k->secret_namespace};
            auto v = secret_value(where, r.namespace_, sref,
                                  field + ".securityPolicy.apiKey.secretRef", "apiKey");
            if (!v) continue;
            b->api_key = trimmed(*v);
          }
          b->api_key_header = k->header;
          b->api_key_query = k->query_param;
          b->api_key_if_not_present = k->if_not_present;
        }
        b->upstream.key = "mcp/" + cr.key + "/" + b->name;
        b->upstream.name = b->name;
        b->upstream.endpoints = b->endpoints;
        b->upstream.tls = b->tls;
        b->upstream.host_header = b->host_header;
        cr.backends.push_back(std::move(b));
      }
      snap_->mcp_routes.push_back(std::move(cr));
    }
  }

  // A Secret's value under `key`, or nullopt with an error naming the field.
  std::optional<std::string> secret_value(const std::string &where, const std::string &ns,
                                          const api::SecretRef &ref, const std::string &field,
                                          const std::string &key) {
    std::string skey = ns_or(ref.namespace_, ns) + "/" + ref.name;
    auto sit = secrets_.find(skey);
    if (sit == secrets_.end()) {
      diag_.error(where + ": " + field + ".name: Secret \"" + ref.name +
                  "\" not found in namespace \"" + ns_or(ref.namespace_, ns) + "\"");
      return std::nullopt;
    }
    auto kit = sit->second->data.find(key);
    if (kit == sit->second->data.end()) {
      diag_.error(where + ": " + field + ": Secret \"" + ref.name + "\" has no key \"" + key +
                  "\"");
      return std::nullopt;
    }
    return kit->second;
  }

  void security_policy(const api::BackendSecurityPolicy &p) {
    std::string where = "BackendSecurityPolicy " + p.meta.key();
    for (const auto &t : p.target_backends) {
      auto it = ai_backends_.find(p.meta.namespace_ + "/" + t);
      if (it == ai_backends_.end()) {
        diag_.warning(where + ": spec.targetRefs: AIServiceBackend \"" + t +
                      "\" not found; policy not applied to it");
        continue;
      }
      if (!secured_.insert(it->first).second) {
        diag_.error(where + ": spec.targetRefs: AIServiceBackend \"" + t +
                    "\" already has a BackendSecurityPolicy; only one is allowed per backend");
        continue;
      }
      apply_policy(p, where, *it->second);
    }
  }

  void apply_policy(const api::BackendSecurityPolicy &p, const std::string &where,
                    CompiledBackend &cb) {
    cb.auth_type = p.type;
    if (const auto &o = p.credential_override) {
      CompiledBackend::CredentialOverride co;
      co.fallback = o->fallback;
      if (o->from_metadata) {
        co.metadata_namespace = o->metadata_namespace;
        co.metadata_key = o->metadata_key.empty()
                              ? (p.type == "AWSCredentials" ? "x-aigw-aws-credentials"
                                                            : default_override_name(p.type))
                              : o->metadata_key;
      } else {
        co.header = o->header.empty() ? default_override_name(p.type) : o->header;
        for (auto &h : override_headers(p.type, co.header))
          cb.header_mutation.remove.push_back(std::move(h));
      }
      if (co.header.empty() && co.metadata_key.empty())
        diag_.error(where + ": spec.credentialOverride: not supported for type \"" + p.type + "\"");
      cb.credential_override = std::move(co);
    }
    auto secret_value = [&](const api::SecretRef &ref, const std::string &field,
                            const std::string &key) {
      return this->secret_value(where, p.meta.namespace_, ref, field, key);
    };
    if (p.api_key_secret) {
      std::string field = p.type == "APIKey"        ? "spec.apiKey.secretRef"
                          : p.type == "AzureAPIKey" ? "spec.azureAPIKey.secretRef"
                                                    : "spec.anthropicAPIKey.secretRef";
      if (auto v = secret_value(*p.api_key_secret, field, "apiKey")) cb.api_key = trimmed(*v);
    }
    if (p.type == "AWSCredentials") {
      cb.aws_region = p.aws_region;
      std::string_view host = cb.host_header;
      if (!host.empty() && host.front() != '[')
        host = host.substr(0, host.rfind(':') == std::string_view::npos ? host.size()
                                                                        : host.rfind(':'));
      cb.aws_signing_region = auth::bedrock_region_from_host(host, p.aws_region);
      if (p.aws_credentials_secret) {
        std::string field = "spec.awsCredentials.credentialsFile.secretRef";
        if (auto v = secret_value(*p.aws_credentials_secret, field, "credentials")) {
          auto creds = auth::parse_aws_credentials_file(*v, p.aws_profile);
          if (!creds)
            diag_.error(where + ": " + field + ": " + creds.error().message);
          else
            cb.aws_credentials = *creds;
        }
      }
    } else if (p.type == "AzureCredentials") {
      cb.azure_tenant_id = p.azure_tenant_id;
      cb.azure_client_id = p.azure_client_id;
      if (p.azure_client_secret)
        if (auto v = secret_value(*p.azure_client_secret, "spec.azureCredentials.clientSecretRef",
                                  "client-secret"))
          cb.azure_client_secret = trimmed(*v);
    } else if (p.type == "GCPCredentials") {
      cb.gcp_project = p.gcp_project_name;
      cb.gcp_region = p.gcp_region;
      if (p.gcp_credentials_secret) {
        std::string field = "spec.gcpCredentials.credentialsFile.secretRef";
        if (auto v = secret_value(*p.gcp_credentials_secret, field, "service_account.json")) {
          auto sa = auth::parse_service_account_json(*v);
          if (!sa) {
            // Upstream's examples ship a placeholder key: load, but refuse the requests.
            cb.gcp_problem = "the service account key in Secret \"" +
                             p.gcp_credentials_secret->name +
                             "\" is not usable: " + sa.error().message;
            if (warned_gcp_.insert(p.meta.key()).second)
              diag_.warning(where + ": " + field + ": " + cb.gcp_problem);
          } else {
            cb.gcp_service_account = std::move(*sa);
          }
        }
      }
    }
  }

  // QuotaPolicies: the alphabetically first policy wins a (backend, model), as upstream.
  void quota_policies() {
    std::vector<const api::QuotaPolicy *> policies;
    for (const auto &q : res_.quota_policies)
      policies.push_back(&q);
    std::sort(policies.begin(), policies.end(),
              [](const auto *a, const auto *b) { return a->meta.key() < b->meta.key(); });
    for (const auto *qp : policies) {
      std::string where = "QuotaPolicy " + qp->meta.key();
      for (const auto &t : qp->target_backends) {
        auto it = ai_backends_.find(qp->meta.namespace_ + "/" + t);
        if (it == ai_backends_.end()) {
          diag_.warning(where + ": spec.targetRefs: AIServiceBackend \"" + t + "\" not found");
          continue;
        }
        quota_policy(qp, where, it);
      }
    }
  }

  void quota_policy(const api::QuotaPolicy *qp, const std::string &where,
                    std::map<std::string, std::shared_ptr<CompiledBackend>>::iterator it) {
    for (size_t i = 0; i < qp->per_model_quotas.size(); ++i) {
      const auto &pm = qp->per_model_quotas[i];
      if (it->second->quota_for(pm.model_name)) continue; // an earlier policy has it
      std::string path = "spec.perModelQuotas[" + std::to_string(i) + "]";
      CompiledModelQuota cq;
      cq.model = pm.model_name;
      auto cost = ratelimit::compile_cost({"quota_cost", "CEL", pm.cost_expression});
      if (!cost) {
        diag_.error(where + ": " + path + ".quota.costExpression: " + cost.error().message);
        continue;
      }
      cq.cost = std::move(cost).value();
      std::string id = "quota/" + it->first + "/" + pm.model_name;
      auto add_bucket = [&](const api::QuotaValue &q, const auto &selectors, bool shadow,
                            const std::string &suffix) {
        api::RateLimitRule r;
        r.client_selectors = selectors;
        r.limit = q.limit;
        r.unit = q.unit;
        r.request_cost = api::RateLimitCost{false, 0, ""};
        r.response_cost = api::RateLimitCost{true, 0, "quota_cost"};
        r.shadow_mode = shadow;
        auto c = ratelimit::compile_rate_limit(r, id + "/" + suffix);
        if (!c)
          diag_.error(where + ": " + path + ": " + c.error().message);
        else
          cq.buckets.push_back(*c);
      };
      for (size_t r = 0; r < pm.bucket_rules.size(); ++r)
        add_bucket(pm.bucket_rules[r].quota, pm.bucket_rules[r].client_selectors,
                   pm.bucket_rules[r].shadow_mode, "rule-" + std::to_string(r));
      if (pm.default_bucket)
        add_bucket(*pm.default_bucket, std::vector<std::vector<api::RateLimitHeaderSelector>>{},
                   false, "default");
      it->second->quotas.push_back(std::move(cq));
    }
  }

  // The BackendTrafficPolicy that sets `field` for a route: one targeting the route itself,
  // else one targeting a Gateway it is attached to.
  template <typename T>
  std::optional<T> policy_for(const api::AIGatewayRoute &r,
                              std::optional<T> api::BackendTrafficPolicy::*field) const {
    const api::BackendTrafficPolicy *gw = nullptr;
    for (const auto &p : res_.traffic_policies) {
      if (p.meta.namespace_ != r.meta.namespace_ || !(p.*field)) continue;
      for (const auto &t : p.targets) {
        if ((t.kind == "HTTPRoute" || t.kind == "AIGatewayRoute") && t.name == r.meta.name)
          return p.*field;
        if (t.kind == "Gateway" && std::find(r.parent_gateways.begin(), r.parent_gateways.end(),
                                             t.name) != r.parent_gateways.end())
          gw = &p;
      }
    }
    if (gw) return gw->*field;
    return std::nullopt;
  }
  std::optional<api::RetryPolicy> retry_for(const api::AIGatewayRoute &r) const {
    return policy_for(r, &api::BackendTrafficPolicy::retry);
  }

  // Rate limit rules, compiled once per policy.
  void rate_limits() {
    for (const auto &p : res_.traffic_policies) {
      if (p.rate_limit_rules.empty()) continue;
      PolicyLimits pl{&p, {}};
      for (size_t i = 0; i < p.rate_limit_rules.size(); ++i) {
        auto c = ratelimit::compile_rate_limit(p.rate_limit_rules[i],
                                               p.meta.key() + "/rule/" + std::to_string(i));
        if (!c) {
          diag_.error("BackendTrafficPolicy " + p.meta.key() + ": spec.rateLimit.rules[" +
                      std::to_string(i) + "].clientSelectors: " + c.error().message);
          continue;
        }
        pl.limits.push_back(*c);
      }
      policy_limits_.push_back(std::move(pl));
    }
  }

  std::vector<std::shared_ptr<const ratelimit::CompiledRateLimit>>
  limits_for(const api::AIGatewayRoute &r) const {
    std::vector<std::shared_ptr<const ratelimit::CompiledRateLimit>> out;
    for (const auto &pl : policy_limits_) {
      if (pl.policy->meta.namespace_ != r.meta.namespace_) continue;
      for (const auto &t : pl.policy->targets) {
        bool hit =
            ((t.kind == "HTTPRoute" || t.kind == "AIGatewayRoute") && t.name == r.meta.name) ||
            (t.kind == "Gateway" && std::find(r.parent_gateways.begin(), r.parent_gateways.end(),
                                              t.name) != r.parent_gateways.end());
        if (hit) {
          out.insert(out.end(), pl.limits.begin(), pl.limits.end());
          break;
        }
      }
    }
    return out;
  }

  // GatewayConfig globalLLMRequestCosts of the route's Gateways, for keys the route leaves unset.
  void add_global_costs(const api::AIGatewayRoute &r, CompiledRoute &cr) {
    for (const auto &g : res_.gateways) {
      if (g.meta.namespace_ != r.meta.namespace_ ||
          std::find(r.parent_gateways.begin(), r.parent_gateways.end(), g.meta.name) ==
              r.parent_gateways.end())
        continue;
      auto ann = g.meta.annotations.find("aigateway.envoyproxy.io/gateway-config");
      if (ann == g.meta.annotations.end()) continue;
      const api::GatewayConfig *gc = nullptr;
      for (const auto &c : res_.gateway_configs)
        if (c.meta.namespace_ == g.meta.namespace_ && c.meta.name == ann->second) gc = &c;
      if (!gc) {
        diag_.warning(
            "Gateway " + g.meta.key() + ": GatewayConfig \"" + ann->second +
            "\" (metadata.annotations[aigateway.envoyproxy.io/gateway-config]) not found");
        continue;
      }
      for (const auto &cost : gc->global_llm_request_costs) {
        bool set = std::any_of(cr.llm_request_costs.begin(), cr.llm_request_costs.end(),
                               [&](const auto &c) { return c.metadata_key == cost.metadata_key; });
        if (!set) cr.llm_request_costs.push_back(cost);
      }
    }
  }

  void route(const api::AIGatewayRoute &r) {
    std::string where = "AIGatewayRoute " + r.meta.key();
    CompiledRoute cr;
    cr.key = r.meta.key();
    cr.name = r.meta.name;
    cr.hostnames = r.hostnames;
    cr.llm_request_costs = r.llm_request_costs;
    cr.response_cache_ttl = r.response_cache_ttl;
    add_global_costs(r, cr);
    for (size_t i = 0; i < cr.llm_request_costs.size(); ++i) {
      auto c = ratelimit::compile_cost(cr.llm_request_costs[i]);
      if (!c) {
        diag_.error(where + ": spec.llmRequestCosts[" + std::to_string(i) +
                    "].cel: " + c.error().message);
        continue;
      }
      cr.costs.push_back(std::move(c).value());
    }
    cr.rate_limits = limits_for(r);
    cr.client_auth = client_auth_for(client_policies_, r, snap_->gateway_auth);
    if (cr.client_auth != snap_->gateway_auth) snap_->route_auth = true;
    if (!cr.costs.empty()) snap_->any_costs = true;
    snap_->routes.push_back(cr);
    auto retry = retry_for(r);
    std::set<std::string> rule_names;
    for (size_t i = 0; i < r.rules.size(); ++i)
      rule(r, i, retry, where, rule_names);
  }

  void rule(const api::AIGatewayRoute &r, size_t i, const std::optional<api::RetryPolicy> &retry,
            const std::string &where, std::set<std::string> &rule_names) {
    const auto &rule = r.rules[i];
    std::string rpath = "spec.rules[" + std::to_string(i) + "]";
    if (!rule.name.empty() && !rule_names.insert(rule.name).second)
      diag_.error(where + ": " + rpath + ".name: duplicate rule name \"" + rule.name + "\"");
    CompiledRule c;
    c.route_index = snap_->routes.size() - 1;
    c.load_balancer = policy_for(r, &api::BackendTrafficPolicy::load_balancer);
    c.passive_health_check = policy_for(r, &api::BackendTrafficPolicy::passive_health_check);
    c.circuit_breaker = policy_for(r, &api::BackendTrafficPolicy::circuit_breaker);
    c.hedge_after = policy_for(r, &api::BackendTrafficPolicy::hedge_after);
    c.stream_continuation =
        policy_for(r, &api::BackendTrafficPolicy::stream_continuation).value_or(false);
    c.rule_index = i;
    c.name = rule.name;
    c.request_timeout = rule.request_timeout;
    c.stream_idle_timeout = rule.stream_idle_timeout;
    c.retry = retry;
    for (size_t m = 0; m < rule.matches.size(); ++m) {
      std::vector<CompiledHeaderMatch> group;
      for (size_t h = 0; h < rule.matches[m].size(); ++h) {
        group.push_back(header_match(r, rule, rule.matches[m][h],
                                     where + ": " + rpath + ".matches[" + std::to_string(m) +
                                         "].headers[" + std::to_string(h) + "]"));
      }
      c.header_count = std::max(c.header_count, group.size());
      c.matches.push_back(std::move(group));
    }
    for (size_t b = 0; b < rule.backend_refs.size(); ++b)
      backend_ref(r, i, b, where, rpath, c);
    if (rule.backend_refs.empty() && rule.skipped_refs == 0)
      diag_.error(where + ": " + rpath + ".backendRefs: at least one backendRef is required");
    rules_.push_back(std::move(c));
  }

  CompiledHeaderMatch header_match(const api::AIGatewayRoute &r, const api::RouteRule &rule,
                                   const api::HeaderMatch &hm, const std::string &where_match) {
    CompiledHeaderMatch chm;
    chm.name = hm.name;
    chm.value = hm.value;
    chm.regex = hm.type == api::HeaderMatch::Type::kRegularExpression;
    if (chm.regex) {
      chm.match_all = hm.value == ".*";
      try {
        chm.re = std::make_shared<const std::regex>(hm.value,
                                                    std::regex::ECMAScript | std::regex::optimize);
      } catch (const std::regex_error &e) {
        diag_.error(where_match + ".value: invalid regular expression \"" + hm.value +
                    "\": " + e.what());
      }
    } else if (hm.name == "x-ai-eg-model" && !rule.exclude_from_models) {
      std::string hosts;
      for (const auto &hn : r.hostnames)
        hosts += hn + ",";
      if (seen_models_.insert({hm.value, hosts}).second)
        snap_->models.push_back(
            {hm.value,
             rule.models_created_at.value_or(r.models_created_at.value_or(opts_.now_unix)),
             rule.models_owned_by.value_or(r.models_owned_by), r.hostnames});
    }
    return chm;
  }

  void backend_ref(const api::AIGatewayRoute &r, size_t i, size_t b, const std::string &where,
                   const std::string &rpath, CompiledRule &c) {
    const auto &rule = r.rules[i];
    const auto &ref = rule.backend_refs[b];
    std::string ns = ns_or(ref.namespace_, r.meta.namespace_);
    auto it = ai_backends_.find(ns + "/" + ref.name);
    if (it == ai_backends_.end()) {
      diag_.error(where + ": " + rpath + ".backendRefs[" + std::to_string(b) +
                  "].name: AIServiceBackend \"" + ref.name + "\" not found in namespace \"" + ns +
                  "\"");
      return;
    }
    if (ref.weight == 0) return;
    CompiledBackendRef cref;
    cref.backend = it->second;
    cref.model_name_override = ref.model_name_override;
    cref.weight = ref.weight;
    cref.priority = ref.priority;
    cref.header_mutation = merge_mutations(it->second->header_mutation, ref.header_mutation);
    cref.body_mutation = merge_mutations(it->second->body_mutation, ref.body_mutation);
    cref.per_rule_name = ns + "/" + ref.name + "/route/" + r.meta.name + "/rule/" +
                         std::to_string(i) + "/ref/" + std::to_string(b);
    snap_->refs_by_name.emplace(cref.per_rule_name, cref);
    c.refs.push_back(std::move(cref));
  }

  const api::Resources &res_;
  const CompileOptions &opts_;
  Diagnostics &diag_;
  std::shared_ptr<Snapshot> snap_;
  std::map<std::string, const api::Secret *> secrets_;
  std::map<std::string, const api::Backend *> backends_;
  std::map<std::string, const api::BackendTLSPolicy *> tls_by_backend_;
  std::deque<api::Backend> service_backends_; // Service backendRefs, alive for the whole compile
  std::map<std::string, std::shared_ptr<CompiledBackend>> ai_backends_;
  std::vector<std::shared_ptr<const CompiledBackend>> backend_list_;
  std::set<std::string> secured_;
  std::set<std::string> warned_gcp_; // one warning per policy, not per target
  struct PolicyLimits {
    const api::BackendTrafficPolicy *policy;
    std::vector<std::shared_ptr<const ratelimit::CompiledRateLimit>> limits;
  };
  std::vector<PolicyLimits> policy_limits_;
  std::vector<ClientPolicy> client_policies_;
  std::vector<CompiledRule> rules_;
  std::set<std::pair<std::string, std::string>> seen_models_;
};

} // namespace

std::shared_ptr<const Snapshot> compile(const api::Resources &res, const CompileOptions &opts,
                                        Diagnostics &diag) {
  return Compiler(res, opts, diag).run();
}

} // namespace aigw::control
