// filterapi configuration; see filter_config.h.
#include "extproc/filter_config.h"

#include "auth/aws_sigv4.h"
#include "control/client_policies.h"
#include "control/loader.h"
#include "core/json_scan.h"
#include "extproc/mcp_config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace aigw::extproc {
namespace {

std::string str(const YAML::Node &n, const char *k) {
  return n[k] && n[k].IsScalar() ? n[k].as<std::string>() : std::string();
}

std::string normalize_prefix(std::string p) {
  if (p.empty() || p == "/") return "";
  if (p.front() != '/') p.insert(p.begin(), '/');
  while (p.size() > 1 && p.back() == '/')
    p.pop_back();
  return p;
}

Result<std::vector<ratelimit::CostSpec>>
costs(const YAML::Node &list, const std::string &where,
      std::map<std::string, std::vector<ratelimit::CostSpec>, std::less<>> *by_route) {
  std::vector<ratelimit::CostSpec> out;
  for (size_t i = 0; list && i < list.size(); ++i) {
    const auto &c = list[i];
    api::LLMRequestCost lc{str(c, "metadataKey"), str(c, "type"), str(c, "cel")};
    auto spec = ratelimit::compile_cost(lc);
    if (!spec) return Error::config(where + "[" + std::to_string(i) + "]: " + spec.error().message);
    if (by_route)
      (*by_route)[str(c, "routeName")].push_back(*spec);
    else
      out.push_back(*spec);
  }
  return out;
}

std::string read_file(const std::filesystem::path &p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

} // namespace

// aigwClients: the SecurityPolicies, their Secrets and ConfigMaps and the VirtualKeys as
// resources, compiled as aigw run compiles them.
Result<bool> parse_clients(const YAML::Node &c, FilterConfig &cfg) {
  if (!c) return true;
  if (!c.IsMap()) return Error::config("aigwClients: must be a mapping");
  api::Resources res;
  api::Diagnostics diag;
  try {
    auto docs = YAML::LoadAll(str(c, "resources"));
    for (size_t i = 0; i < docs.size(); ++i)
      api::decode_document(docs[i], i, res, diag);
  } catch (const YAML::Exception &e) {
    return Error::config("aigwClients.resources: invalid YAML: " + e.msg);
  }
  for (auto &p : control::compile_client_policies(res, diag))
    cfg.client_policies.emplace(p.auth->key, p.auth);
  cfg.virtual_keys = ratelimit::compile_virtual_keys(res.virtual_keys, diag);
  if (!diag.ok()) return Error::config("aigwClients: " + diag.errors().front());
  auto known = [&](const std::string &key, const std::string &field) -> Result<bool> {
    if (!key.empty() && !cfg.client_policies.count(key))
      return Error::config(field + ": no SecurityPolicy \"" + key + "\" in aigwClients.resources");
    return true;
  };
  cfg.gateway_policy = str(c, "gatewayPolicy");
  if (auto k = known(cfg.gateway_policy, "aigwClients.gatewayPolicy"); !k) return k;
  const auto &routes = c["routes"];
  for (size_t i = 0; routes && i < routes.size(); ++i) {
    std::string policy = str(routes[i], "policy");
    if (auto k = known(policy, "aigwClients.routes[" + std::to_string(i) + "].policy"); !k)
      return k;
    cfg.route_policies[str(routes[i], "name")] = policy;
  }
  return true;
}

// aigwResponseCache: [{name: ROUTE, ttlSeconds: N}], the routes that cache answers.
Result<bool> parse_response_cache(const YAML::Node &c, FilterConfig &cfg) {
  if (!c) return true;
  if (!c.IsSequence()) return Error::config("aigwResponseCache: must be a list");
  for (size_t i = 0; i < c.size(); ++i) {
    std::string where = "aigwResponseCache[" + std::to_string(i) + "]";
    std::string name = c[i].IsMap() ? str(c[i], "name") : "";
    if (name.empty()) return Error::config(where + ".name: is required");
    int64_t ttl = 0;
    try {
      ttl = c[i]["ttlSeconds"].as<int64_t>();
    } catch (const YAML::Exception &) {
      ttl = 0;
    }
    if (ttl < 1 || ttl > 7 * 86400)
      return Error::config(where + ".ttlSeconds: must be a whole number of seconds from 1 to " +
                           "604800");
    cfg.route_cache_ttls[name] = std::chrono::seconds(ttl);
  }
  return true;
}

Result<FilterConfig> parse_filter_config(std::string_view text) {
  YAML::Node doc;
  try {
    doc = YAML::Load(std::string(text));
  } catch (const YAML::Exception &e) {
    return Error::config("invalid YAML at line " + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
  FilterConfig cfg;
  cfg.raw = std::string(text);
  if (doc.IsNull()) return cfg;
  if (!doc.IsMap()) return Error::config("the configuration must be a mapping");
  cfg.uuid = str(doc, "uuid");
  cfg.version = str(doc, "version");
  const auto &backends = doc["backends"];
  for (size_t i = 0; backends && i < backends.size(); ++i) {
    const auto &b = backends[i];
    std::string where = "backends[" + std::to_string(i) + "]";
    auto cb = std::make_shared<control::CompiledBackend>();
    cb->key = str(b, "name");
    cb->name = cb->key;
    if (cb->key.empty()) return Error::config(where + ".name: is required");
    const auto &schema = b["schema"];
    cb->schema = str(schema, "name");
    cb->schema_kind = api::schema_from_name(cb->schema);
    if (cb->schema_kind == api::Schema::kUnknown)
      return Error::config(where + ".schema.name: unknown schema \"" + cb->schema + "\"");
    cb->schema_version = str(schema, "version");
    cb->path_prefix = normalize_prefix(schema["prefix"] ? str(schema, "prefix")
                                       : cb->schema_kind == api::Schema::kAWSOpenAI ? "openai/v1"
                                                                                    : "v1");
    if (cb->schema_kind == api::Schema::kTypeSafe && cb->schema_version.empty())
      cb->schema_version = "v1";
    const auto &auth = b["auth"];
    if (auth) {
      if (auth["apiKey"]) {
        cb->auth_type = "APIKey";
        cb->api_key = str(auth["apiKey"], "key");
      } else if (auth["azureAPIKey"]) {
        cb->auth_type = "AzureAPIKey";
        cb->api_key = str(auth["azureAPIKey"], "key");
      } else if (auth["anthropicAPIKey"]) {
        cb->auth_type = "AnthropicAPIKey";
        cb->api_key = str(auth["anthropicAPIKey"], "key");
      } else if (auth["aws"]) {
        cb->auth_type = "AWSCredentials";
        cb->aws_region = str(auth["aws"], "region");
        cb->aws_signing_region = cb->aws_region;
        // Upstream signs for this host unless Envoy names the endpoint (x-ai-eg-upstream-host).
        cb->host_header = "bedrock-runtime." + cb->aws_region + ".amazonaws.com";
        std::string ini = str(auth["aws"], "credentialFileLiteral");
        if (!ini.empty()) {
          auto creds = auth::parse_aws_credentials_file(ini);
          if (!creds)
            return Error::config(where +
                                 ".auth.aws.credentialFileLiteral: " + creds.error().message);
          cb->aws_credentials = *creds;
        }
      } else if (auth["azure"]) {
        cb->auth_type = "AzureToken";
        cb->bearer_token = str(auth["azure"], "accessToken");
      } else if (auth["gcp"]) {
        cb->auth_type = "GCPToken";
        cb->bearer_token = str(auth["gcp"], "accessToken");
        cb->gcp_project = str(auth["gcp"], "projectName");
        cb->gcp_region = str(auth["gcp"], "region");
      }
    }
    if (auth && auth["credentialOverride"]) {
      const auto &co = auth["credentialOverride"];
      control::CompiledBackend::CredentialOverride o;
      o.header = str(co, "headerName");
      o.metadata_namespace = str(co, "dynamicMetadataNamespace");
      o.metadata_key = str(co, "dynamicMetadataKey");
      o.fallback = co["fallbackToConfigured"] && co["fallbackToConfigured"].as<bool>();
      if (o.header.empty() == o.metadata_namespace.empty())
        return Error::config(where + ".auth.credentialOverride: exactly one of headerName and "
                                     "dynamicMetadataNamespace must be set");
      for (size_t j = 0; co["inputHeadersToRemove"] && j < co["inputHeadersToRemove"].size(); ++j)
        cb->header_mutation.remove.push_back(co["inputHeadersToRemove"][j].as<std::string>());
      cb->credential_override = std::move(o);
    }
    const auto &hvf = b["headerValueFilters"];
    for (size_t j = 0; hvf && j < hvf.size(); ++j) {
      api::AIServiceBackend::HeaderValueFilter f;
      f.name = str(hvf[j], "name");
      std::transform(f.name.begin(), f.name.end(), f.name.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      f.allowlist = str(hvf[j], "mode") == "Allowlist";
      for (size_t k = 0; hvf[j]["values"] && k < hvf[j]["values"].size(); ++k)
        f.values.push_back(hvf[j]["values"][k].as<std::string>());
      if (f.name == "anthropic-beta") cb->header_value_filters.push_back(std::move(f));
    }
    const auto &hm = b["httpHeaderMutation"];
    for (size_t j = 0; hm && hm["set"] && j < hm["set"].size(); ++j)
      cb->header_mutation.set.emplace_back(str(hm["set"][j], "name"), str(hm["set"][j], "value"));
    for (size_t j = 0; hm && hm["remove"] && j < hm["remove"].size(); ++j)
      cb->header_mutation.remove.push_back(hm["remove"][j].as<std::string>());
    const auto &bm = b["httpBodyMutation"];
    for (size_t j = 0; bm && bm["set"] && j < bm["set"].size(); ++j)
      cb->body_mutation.set.emplace_back(str(bm["set"][j], "path"), str(bm["set"][j], "value"));
    for (size_t j = 0; bm && bm["remove"] && j < bm["remove"].size(); ++j)
      cb->body_mutation.remove.push_back(bm["remove"][j].as<std::string>());
    cb->model_name_override = str(b, "modelNameOverride");
    cfg.backends[cb->key] = cb;
  }
  auto global = costs(doc["globalLLMRequestCosts"], "globalLLMRequestCosts", nullptr);
  if (!global) return global.error();
  cfg.global_costs = *global;
  auto routed = costs(doc["llmRequestCosts"], "llmRequestCosts", &cfg.route_costs);
  if (!routed) return routed.error();
  if (auto clients = parse_clients(doc["aigwClients"], cfg); !clients) return clients.error();
  if (auto cache = parse_response_cache(doc["aigwResponseCache"], cfg); !cache)
    return cache.error();
  auto mcp = parse_mcp_config(doc["mcpConfig"]);
  if (!mcp) return mcp.error();
  cfg.mcp_routes = std::move(*mcp);
  const auto &models = doc["models"];
  for (size_t i = 0; models && i < models.size(); ++i) {
    control::ModelEntry m;
    m.id = str(models[i], "Name");
    m.owned_by = str(models[i], "OwnedBy");
    std::string created = str(models[i], "CreatedAt"); // RFC 3339, as Go marshals a time
    std::tm tm{};
    if (std::sscanf(created.c_str(), "%d-%d-%dT%d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                    &tm.tm_hour, &tm.tm_min, &tm.tm_sec) == 6) {
      tm.tm_year -= 1900;
      tm.tm_mon -= 1;
      m.created = static_cast<int64_t>(timegm(&tm));
    }
    cfg.models.push_back(std::move(m));
  }
  return cfg;
}

Result<FilterConfig> load_filter_config(const std::string &path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(path, ec)) {
    if (!fs::exists(path, ec)) return Error::config(path + ": no such file");
    return parse_filter_config(read_file(path));
  }
  // A bundle: index.yaml names the parts; their concatenation must match the checksum.
  auto index_text = read_file(fs::path(path) / "index.yaml");
  YAML::Node index;
  try {
    index = YAML::Load(index_text);
  } catch (const YAML::Exception &e) {
    return Error::config(path + "/index.yaml: invalid YAML: " + e.msg);
  }
  std::string all;
  for (size_t i = 0; index["parts"] && i < index["parts"].size(); ++i) {
    std::string part = str(index["parts"][i], "path");
    if (part.empty() || part.find("..") != std::string::npos)
      return Error::config(path + "/index.yaml: parts[" + std::to_string(i) + "].path: invalid");
    all += read_file(fs::path(path) / part);
  }
  std::string checksum = str(index, "checksum");
  if (!checksum.empty() && auth::sigv4_detail::sha256_hex(all) != checksum)
    return Error::config(path + ": the parts do not match the index checksum");
  return parse_filter_config(all);
}

std::shared_ptr<const control::Snapshot> to_snapshot(const FilterConfig &cfg) {
  static std::atomic<uint64_t> generations{0};
  auto snap = std::make_shared<control::Snapshot>();
  snap->generation = ++generations;
  snap->source = cfg.uuid;
  auto merged = [&](std::vector<ratelimit::CostSpec> specs) {
    for (const auto &g : cfg.global_costs)
      if (std::none_of(specs.begin(), specs.end(),
                       [&](const auto &s) { return s.metadata_key == g.metadata_key; }))
        specs.push_back(g);
    return specs;
  };
  control::CompiledRoute global;
  global.costs = cfg.global_costs;
  snap->routes.push_back(std::move(global));
  for (const auto &[name, specs] : cfg.route_costs) {
    control::CompiledRoute r;
    r.key = name;
    r.name = name;
    r.costs = merged(specs);
    snap->routes.push_back(std::move(r));
  }
  // Every route a client policy guards or the response cache covers is named in the snapshot,
  // with the global costs when it has none of its own.
  auto each_named = [&](const std::string &name, const auto &set) {
    if (!snap->route_named(name)) {
      control::CompiledRoute r;
      r.key = name;
      r.name = name;
      r.costs = cfg.global_costs;
      snap->routes.push_back(std::move(r));
    }
    for (auto &r : snap->routes)
      if (r.key == name) set(r);
  };
  for (const auto &named : cfg.route_policies)
    each_named(named.first, [&](control::CompiledRoute &r) {
      r.client_auth = cfg.client_policies.at(named.second);
    });
  for (const auto &named : cfg.route_cache_ttls)
    each_named(named.first,
               [&](control::CompiledRoute &r) { r.response_cache_ttl = named.second; });
  if (!cfg.gateway_policy.empty()) snap->gateway_auth = cfg.client_policies.at(cfg.gateway_policy);
  snap->virtual_keys = cfg.virtual_keys;
  snap->any_costs = !cfg.global_costs.empty() || !cfg.route_costs.empty();
  std::string dump = "{\"uuid\":";
  json::append_quoted(dump, cfg.uuid);
  dump += ",\"backends\":[";
  for (const auto &[name, b] : cfg.backends) {
    control::CompiledBackendRef ref;
    ref.backend = b;
    ref.model_name_override = b->model_name_override;
    ref.header_mutation = b->header_mutation;
    ref.body_mutation = b->body_mutation;
    ref.per_rule_name = name;
    snap->refs_by_name.emplace(name, std::move(ref));
    if (dump.back() != '[') dump += ',';
    dump += "{\"name\":";
    json::append_quoted(dump, name);
    dump += ",\"schema\":";
    json::append_quoted(dump, b->schema);
    dump += ",\"auth\":";
    json::append_quoted(dump, b->auth_type.empty() ? "none" : "[REDACTED]");
    dump += '}';
  }
  dump += "],\"models\":[";
  for (const auto &m : cfg.models) {
    if (dump.back() != '[') dump += ',';
    json::append_quoted(dump, m.id);
  }
  dump += "]}";
  snap->dump_json = std::move(dump);
  snap->models = cfg.models;
  snap->mcp_routes = cfg.mcp_routes;
  return snap;
}

} // namespace aigw::extproc
