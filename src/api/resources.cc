// YAML decoding of the supported kinds; see resources.h.
#include "api/resources.h"

#include "core/clock.h"

#include "core/base64.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdint>

namespace aigw::api {
namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

ObjectMeta decode_meta(const Field &doc) {
  ObjectMeta m;
  Field meta = doc["metadata"];
  m.name = meta["name"].str_or("");
  m.namespace_ = meta["namespace"].str_or("default");
  if (m.namespace_.empty()) m.namespace_ = "default";
  Field ann = meta["annotations"];
  for (const auto &k : ann.map_keys())
    m.annotations[k] = ann[k.c_str()].str_or("");
  return m;
}

HeaderMutation decode_header_mutation(const Field &f) {
  HeaderMutation hm;
  Field set = f["set"];
  for (size_t i = 0; i < set.size(); ++i) {
    auto name = set.at(i)["name"].required_str();
    auto value = set.at(i)["value"].str_or("");
    if (name) hm.set.emplace_back(lower(*name), value);
  }
  Field remove = f["remove"];
  for (size_t i = 0; i < remove.size(); ++i) {
    if (auto name = remove.at(i).str()) hm.remove.push_back(lower(*name));
  }
  return hm;
}

BodyMutation decode_body_mutation(const Field &f) {
  BodyMutation bm;
  Field set = f["set"];
  for (size_t i = 0; i < set.size(); ++i) {
    auto path = set.at(i)["path"].required_str();
    auto value = set.at(i)["value"].required_str();
    if (path && value) bm.set.emplace_back(*path, *value);
  }
  Field remove = f["remove"];
  for (size_t i = 0; i < remove.size(); ++i)
    if (auto path = remove.at(i).str()) bm.remove.push_back(*path);
  return bm;
}

std::vector<LLMRequestCost> decode_costs(const Field &costs) {
  std::vector<LLMRequestCost> out;
  for (size_t i = 0; i < costs.size(); ++i) {
    Field cf = costs.at(i);
    LLMRequestCost c;
    c.metadata_key = cf["metadataKey"].required_str().value_or("");
    c.type = cf["type"].required_str().value_or("");
    c.cel = cf["cel"].str_or("");
    static const char *kTypes[] = {"OutputToken",
                                   "InputToken",
                                   "CachedInputToken",
                                   "TotalToken",
                                   "ReasoningToken",
                                   "CacheCreationInputToken",
                                   "CEL",
                                   "Cost"};
    if (!c.type.empty() &&
        std::none_of(std::begin(kTypes), std::end(kTypes), [&](auto t) { return c.type == t; }))
      cf["type"].fail("unknown cost type \"" + c.type + "\"");
    if (c.type == "CEL" && c.cel.empty()) cf["cel"].fail("is required when type is CEL");
    out.push_back(std::move(c));
  }
  return out;
}

// RFC 3339 date-time: YYYY-MM-DDTHH:MM:SS(Z|offset); seconds precision is enough here.
std::optional<int64_t> decode_created_at(const Field &f, std::string &text) {
  auto t = f.str();
  if (!t) return std::nullopt;
  text = *t;
  if (auto at = parse_rfc3339(*t)) return at;
  f.fail("must be an RFC 3339 date-time, got \"" + *t + "\"");
  return std::nullopt;
}

// A mapping whose keys are all among `known`; otherwise an error naming the entry or the key.
bool expect_only_keys(const Field &f, std::initializer_list<std::string_view> known) {
  if (!f.is_map()) {
    f.fail("must be a mapping");
    return false;
  }
  bool ok = true;
  for (const auto &k : f.map_keys()) {
    if (std::find(known.begin(), known.end(), k) != known.end()) continue;
    std::string allowed;
    for (auto a : known)
      allowed += std::string(allowed.empty() ? "" : ", ") + std::string(a);
    f[k.c_str()].fail("unknown field (expected " + allowed + ")");
    ok = false;
  }
  return ok;
}

// aigw.run/response-cache and aigw.run/response-cache-ttl on an AIGatewayRoute.
void decode_response_cache(const Field &doc, const ObjectMeta &meta, AIGatewayRoute &r) {
  auto on = meta.annotations.find("aigw.run/response-cache");
  auto ttl = meta.annotations.find("aigw.run/response-cache-ttl");
  Field annotations = doc["metadata"]["annotations"];
  if (on != meta.annotations.end() && on->second != "true" && on->second != "false") {
    annotations.fail("aigw.run/response-cache must be \"true\" or \"false\", got \"" +
                     on->second.substr(0, 64) + "\"");
    return;
  }
  bool enabled = on != meta.annotations.end() && on->second == "true";
  std::chrono::seconds seconds{300};
  if (ttl != meta.annotations.end()) {
    auto d = parse_duration(ttl->second);
    if (!d || *d < std::chrono::seconds(1) || *d > std::chrono::hours(24 * 7)) {
      annotations.fail("aigw.run/response-cache-ttl must be a duration from 1s to 168h, like "
                       "\"10m\", got \"" +
                       ttl->second.substr(0, 64) + "\"");
      return;
    }
    if (!enabled)
      annotations.warn("aigw.run/response-cache-ttl has no effect without "
                       "aigw.run/response-cache: \"true\"");
    seconds = std::chrono::duration_cast<std::chrono::seconds>(*d);
  }
  if (enabled) r.response_cache_ttl = seconds;
}

void decode_route(const Field &doc, const ObjectMeta &meta, Resources &out) {
  AIGatewayRoute r;
  r.meta = meta;
  Field spec = doc["spec"];
  if (!spec.present()) {
    spec.fail("is required");
    return;
  }
  Field parents = spec["parentRefs"];
  for (size_t i = 0; i < parents.size(); ++i) {
    Field p = parents.at(i);
    auto kind = p["kind"].str_or("Gateway");
    if (kind != "Gateway") p["kind"].fail("only Gateway is supported, got \"" + kind + "\"");
    if (auto n = p["name"].required_str()) {
      r.parent_gateways.push_back(*n);
      r.parent_gateway_keys.push_back(p["namespace"].str_or(meta.namespace_) + "/" + *n);
    }
  }
  Field hosts = spec["hostnames"];
  for (size_t i = 0; i < hosts.size(); ++i)
    if (auto h = hosts.at(i).str()) r.hostnames.push_back(lower(*h));
  decode_response_cache(doc, meta, r);

  Field rules = spec["rules"];
  if (!rules.present()) rules.fail("is required");
  size_t nrules = rules.size();
  if (nrules > 15) rules.fail("must have at most 15 items, got " + std::to_string(nrules));
  for (size_t i = 0; i < nrules; ++i) {
    Field rf = rules.at(i);
    RouteRule rule;
    rule.name = rf["name"].str_or("");
    if (rule.name == "route-not-found") rf["name"].fail("\"route-not-found\" is reserved");
    Field matches = rf["matches"];
    for (size_t m = 0; m < matches.size(); ++m) {
      Field match = matches.at(m);
      // A misspelt or misplaced entry must not silently become a match-all rule.
      if (!expect_only_keys(match, {"headers"})) continue;
      Field headers = match["headers"];
      std::vector<HeaderMatch> group;
      for (size_t h = 0; h < headers.size(); ++h) {
        Field hf = headers.at(h);
        if (!expect_only_keys(hf, {"type", "name", "value"})) continue;
        HeaderMatch hm;
        auto type = hf["type"].str_or("Exact");
        if (type == "Exact") {
          hm.type = HeaderMatch::Type::kExact;
        } else if (type == "RegularExpression") {
          hm.type = HeaderMatch::Type::kRegularExpression;
        } else {
          hf["type"].fail("must be Exact or RegularExpression, got \"" + type + "\"");
        }
        auto name = hf["name"].required_str();
        auto value = hf["value"].str();
        if (!value) hf["value"].fail("is required");
        if (name) hm.name = lower(*name);
        hm.value = value.value_or("");
        group.push_back(std::move(hm));
      }
      rule.matches.push_back(std::move(group));
    }
    Field refs = rf["backendRefs"];
    for (size_t b = 0; b < refs.size(); ++b) {
      Field bf = refs.at(b);
      RouteBackendRef ref;
      ref.name = bf["name"].required_str().value_or("");
      ref.namespace_ = bf["namespace"].str_or("");
      if (bf["kind"].present() || bf["group"].present()) {
        bf["kind"].warn("InferencePool backends are not supported yet; this backendRef is skipped");
        ++rule.skipped_refs;
        continue;
      }
      ref.model_name_override = bf["modelNameOverride"].str_or("");
      ref.weight = static_cast<uint32_t>(bf["weight"].integer(0, 1000000).value_or(1));
      ref.priority = static_cast<uint32_t>(bf["priority"].integer(0, 1000000).value_or(0));
      if (bf["headerMutation"].present())
        ref.header_mutation = decode_header_mutation(bf["headerMutation"]);
      if (bf["bodyMutation"].present())
        ref.body_mutation = decode_body_mutation(bf["bodyMutation"]);
      rule.backend_refs.push_back(std::move(ref));
    }
    if (auto t = rf["timeouts"]["request"].str()) {
      rule.timeout_text = *t;
      if (auto d = parse_duration(*t)) {
        rule.request_timeout = *d;
      } else {
        rf["timeouts"]["request"].fail("must be a duration like \"60s\", got \"" + *t + "\"");
      }
    }
    if (auto t = rf["streamIdleTimeout"].str()) {
      rule.stream_idle_timeout_text = *t;
      if (auto d = parse_duration(*t)) {
        if (d->count() > 0) rule.stream_idle_timeout = *d; // as upstream: 0s is none
      } else {
        rf["streamIdleTimeout"].fail("must be a duration like \"30s\", got \"" + *t + "\"");
      }
    }
    rule.models_owned_by = rf["modelsOwnedBy"].str();
    rule.exclude_from_models = rf["excludeFromModelsEndpoint"].boolean().value_or(false);
    if (rf["modelsCreatedAt"].present())
      rule.models_created_at =
          decode_created_at(rf["modelsCreatedAt"], rule.models_created_at_text);
    r.rules.push_back(std::move(rule));
  }

  r.llm_request_costs = decode_costs(spec["llmRequestCosts"]);
  // Accepted at the spec level too (older examples put them there); rules override.
  if (auto o = spec["modelsOwnedBy"].str()) r.models_owned_by = *o;
  if (spec["modelsCreatedAt"].present()) {
    std::string text;
    r.models_created_at = decode_created_at(spec["modelsCreatedAt"], text);
  }
  out.routes.push_back(std::move(r));
}

void decode_ai_backend(const Field &doc, const ObjectMeta &meta, Resources &out) {
  AIServiceBackend b;
  b.meta = meta;
  Field spec = doc["spec"];
  b.schema_name = spec["schema"]["name"].required_str().value_or("");
  static const char *kSchemas[] = {"OpenAI",      "Cohere",       "AWSBedrock", "AzureOpenAI",
                                   "GCPVertexAI", "GCPAnthropic", "Anthropic",  "AWSAnthropic",
                                   "AWSOpenAI",   "TypeSafe"};
  if (!b.schema_name.empty() && std::none_of(std::begin(kSchemas), std::end(kSchemas),
                                             [&](auto s) { return b.schema_name == s; }))
    spec["schema"]["name"].fail("unknown schema \"" + b.schema_name +
                                "\" (one of OpenAI, Cohere, AWSBedrock, AzureOpenAI, "
                                "GCPVertexAI, GCPAnthropic, Anthropic, AWSAnthropic, AWSOpenAI, "
                                "TypeSafe)");
  // As upstream v1.2: Bedrock's OpenAI-compatible API lives under /openai/v1.
  if (b.schema_name == "AWSOpenAI") b.prefix = "openai/v1";
  b.schema_version = spec["schema"]["version"].str_or(b.schema_name == "TypeSafe" ? "v1" : "");
  if (auto p = spec["schema"]["prefix"].str()) b.prefix = *p;
  Field ref = spec["backendRef"];
  if (!ref.present()) ref.fail("is required");
  b.backend_name = ref["name"].required_str().value_or("");
  b.backend_namespace = ref["namespace"].str_or("");
  auto kind = ref["kind"].str_or("Backend");
  auto group = ref["group"].str_or(kind == "Service" ? "" : "gateway.envoyproxy.io");
  if (ref.present() && kind == "Service" && group.empty()) {
    auto port = ref["port"].integer(1, 65535);
    if (!port)
      ref["port"].fail("is required for a Service backendRef");
    else
      b.service_port = static_cast<uint16_t>(*port);
    ref["kind"].warn("a Kubernetes Service is reached by its cluster DNS name " + b.backend_name +
                     "." + (b.backend_namespace.empty() ? b.meta.namespace_ : b.backend_namespace) +
                     ".svc.cluster.local");
  } else if (ref.present() && (kind != "Backend" || group != "gateway.envoyproxy.io")) {
    ref.fail("only kind Backend of group gateway.envoyproxy.io (or a core Service) is supported");
  }
  if (spec["headerMutation"].present())
    b.header_mutation = decode_header_mutation(spec["headerMutation"]);
  if (Field hvf = spec["headerValueFilters"]; hvf.present()) {
    // As upstream's CRD validates them: at most 16, one per header, at most 64 values, and only
    // for the Claude schemas.
    if (b.schema_name != "GCPAnthropic" && b.schema_name != "AWSAnthropic")
      hvf.fail("is supported only for the GCPAnthropic and AWSAnthropic schemas");
    if (hvf.size() > 16) hvf.fail("at most 16 entries, got " + std::to_string(hvf.size()));
    for (size_t i = 0; i < hvf.size(); ++i) {
      Field f = hvf.at(i);
      AIServiceBackend::HeaderValueFilter filter;
      filter.name = f["name"].required_str().value_or("");
      std::transform(filter.name.begin(), filter.name.end(), filter.name.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      for (const auto &other : b.header_value_filters)
        if (other.name == filter.name)
          f["name"].fail("header \"" + filter.name + "\" is filtered twice");
      if (!filter.name.empty() && filter.name != "anthropic-beta")
        f["name"].warn("only anthropic-beta is filtered today (as upstream); \"" + filter.name +
                       "\" is ignored");
      auto mode = f["mode"].str_or("Denylist");
      if (mode != "Denylist" && mode != "Allowlist")
        f["mode"].fail("must be Denylist or Allowlist, got \"" + mode + "\"");
      filter.allowlist = mode == "Allowlist";
      Field values = f["values"];
      if (values.size() > 64)
        values.fail("at most 64 values, got " + std::to_string(values.size()));
      for (size_t j = 0; j < values.size(); ++j)
        if (auto v = values.at(j).required_str()) filter.values.push_back(*v);
      b.header_value_filters.push_back(std::move(filter));
    }
  }
  if (spec["bodyMutation"].present()) b.body_mutation = decode_body_mutation(spec["bodyMutation"]);
  out.ai_backends.push_back(std::move(b));
}

void decode_backend(const Field &doc, const ObjectMeta &meta, Resources &out) {
  Backend b;
  b.meta = meta;
  Field spec = doc["spec"];
  Field eps = spec["endpoints"];
  if (!eps.present()) eps.fail("is required");
  for (size_t i = 0; i < eps.size(); ++i) {
    Field e = eps.at(i);
    BackendEndpoint ep;
    bool is_fqdn = e["fqdn"].present();
    Field addr = is_fqdn ? e["fqdn"] : e["ip"];
    if (is_fqdn) {
      ep.host = addr["hostname"].required_str().value_or("");
    } else if (e["ip"].present()) {
      ep.is_ip = true;
      ep.host = addr["address"].required_str().value_or("");
    } else {
      e.fail("must set fqdn or ip (unix endpoints are not supported)");
      continue;
    }
    auto port = addr["port"].integer(1, 65535);
    if (!port) {
      if (!addr["port"].present()) addr["port"].fail("is required");
      continue;
    }
    ep.port = static_cast<uint16_t>(*port);
    b.endpoints.push_back(std::move(ep));
  }
  b.tls_from_settings = spec["tls"].present();
  out.backends.push_back(std::move(b));
}

void decode_tls_policy(const Field &doc, const ObjectMeta &meta, Resources &out) {
  BackendTLSPolicy p;
  p.meta = meta;
  Field spec = doc["spec"];
  Field targets = spec["targetRefs"];
  for (size_t i = 0; i < targets.size(); ++i) {
    auto kind = targets.at(i)["kind"].str_or("");
    if (auto n = targets.at(i)["name"].required_str()) {
      if (kind == "Backend")
        p.target_backends.push_back(*n);
      else
        targets.at(i)["kind"].warn("only Backend targets are supported; \"" + kind + "\" ignored");
    }
  }
  Field v = spec["validation"];
  p.hostname = v["hostname"].str_or("");
  p.well_known_ca = v["wellKnownCACertificates"].str_or("");
  p.has_ca_refs = v["caCertificateRefs"].present();
  if (p.has_ca_refs)
    v["caCertificateRefs"].warn("custom CA references are not supported yet; system CAs are used");
  out.tls_policies.push_back(std::move(p));
}

void decode_security_policy(const Field &doc, const ObjectMeta &meta, Resources &out) {
  BackendSecurityPolicy p;
  p.meta = meta;
  Field spec = doc["spec"];
  Field targets = spec["targetRefs"];
  for (size_t i = 0; i < targets.size(); ++i) {
    Field t = targets.at(i);
    auto kind = t["kind"].str_or("AIServiceBackend");
    if (kind != "AIServiceBackend") {
      t["kind"].warn("only AIServiceBackend targets are supported; \"" + kind + "\" ignored");
      continue;
    }
    if (auto n = t["name"].required_str()) p.target_backends.push_back(*n);
  }
  p.type = spec["type"].required_str().value_or("");
  if (Field co = spec["credentialOverride"]; co.present()) {
    BackendSecurityPolicy::CredentialOverride o;
    Field h = co["fromRequestHeaders"], m = co["fromDynamicMetadata"];
    if (h.present() == m.present()) {
      co.fail("exactly one of fromRequestHeaders and fromDynamicMetadata must be set");
    } else if (h.present()) {
      o.header = h["header"].str_or("");
      o.fallback = h["fallbackToConfigured"].boolean().value_or(true);
    } else {
      o.from_metadata = true;
      o.metadata_namespace = m["namespace"].required_str().value_or("");
      o.metadata_key = m["key"].str_or("");
      o.fallback = m["fallbackToConfigured"].boolean().value_or(true);
    }
    p.credential_override = o;
  }
  auto secret_ref = [&](Field ref) -> std::optional<SecretRef> {
    if (!ref.present()) {
      ref.fail("is required");
      return std::nullopt;
    }
    SecretRef s;
    s.name = ref["name"].required_str().value_or("");
    s.namespace_ = ref["namespace"].str_or("");
    return s;
  };
  if (p.type == "APIKey") {
    if (!spec["apiKey"].present())
      spec["apiKey"].fail("is required when type is APIKey");
    else
      p.api_key_secret = secret_ref(spec["apiKey"]["secretRef"]);
  } else if (p.type == "AzureAPIKey") {
    if (!spec["azureAPIKey"].present())
      spec["azureAPIKey"].fail("is required when type is AzureAPIKey");
    else
      p.api_key_secret = secret_ref(spec["azureAPIKey"]["secretRef"]);
  } else if (p.type == "AnthropicAPIKey") {
    if (!spec["anthropicAPIKey"].present())
      spec["anthropicAPIKey"].fail("is required when type is AnthropicAPIKey");
    else
      p.api_key_secret = secret_ref(spec["anthropicAPIKey"]["secretRef"]);
  } else if (p.type == "AWSCredentials") {
    Field aws = spec["awsCredentials"];
    if (!aws.present()) {
      aws.fail("is required when type is AWSCredentials");
    } else {
      p.aws_region = aws["region"].required_str().value_or("");
      if (aws["credentialsFile"].present()) {
        p.aws_credentials_secret = secret_ref(aws["credentialsFile"]["secretRef"]);
        p.aws_profile = aws["credentialsFile"]["profile"].str_or("default");
      }
      if (aws["oidcExchangeToken"].present())
        aws["oidcExchangeToken"].warn("OIDC token exchange is not supported yet; the standard "
                                      "AWS environment variables are used");
    }
  } else if (p.type == "AzureCredentials") {
    Field az = spec["azureCredentials"];
    if (!az.present()) {
      az.fail("is required when type is AzureCredentials");
    } else {
      p.azure_client_id = az["clientID"].required_str().value_or("");
      p.azure_tenant_id = az["tenantID"].required_str().value_or("");
      if (az["clientSecretRef"].present())
        p.azure_client_secret = secret_ref(az["clientSecretRef"]);
      else if (az["oidcExchangeToken"].present())
        az["oidcExchangeToken"].fail(
            "OIDC token exchange is not supported yet; use clientSecretRef");
      else
        az["clientSecretRef"].fail("is required (or oidcExchangeToken)");
    }
  } else if (p.type == "GCPCredentials") {
    Field g = spec["gcpCredentials"];
    if (!g.present()) {
      g.fail("is required when type is GCPCredentials");
    } else {
      p.gcp_project_name = g["projectName"].required_str().value_or("");
      p.gcp_region = g["region"].required_str().value_or("");
      if (g["credentialsFile"].present())
        p.gcp_credentials_secret = secret_ref(g["credentialsFile"]["secretRef"]);
      else if (g["workloadIdentityFederationConfig"].present())
        g["workloadIdentityFederationConfig"].fail(
            "workload identity federation is not supported yet; use credentialsFile");
      else
        g["credentialsFile"].fail("is required (application default credentials are not "
                                  "supported yet)");
    }
  } else if (!p.type.empty()) {
    spec["type"].fail("unknown type \"" + p.type +
                      "\" (one of APIKey, AWSCredentials, AzureAPIKey, AzureCredentials, "
                      "GCPCredentials, AnthropicAPIKey)");
  }
  out.security_policies.push_back(std::move(p));
}

std::optional<RateLimitCost> decode_cost(const Field &f) {
  if (!f.present()) return std::nullopt;
  RateLimitCost c;
  auto from = f["from"].str_or("Number");
  if (from == "Number") {
    c.number = static_cast<uint64_t>(f["number"].integer(0, INT64_MAX).value_or(0));
  } else if (from == "Metadata") {
    c.from_metadata = true;
    auto ns = f["metadata"]["namespace"].str_or("");
    if (ns != "io.envoy.ai_gateway")
      f["metadata"]["namespace"].fail(
          "only the io.envoy.ai_gateway namespace is available, got \"" + ns + "\"");
    c.metadata_key = f["metadata"]["key"].required_str().value_or("");
  } else {
    f["from"].fail("must be Number or Metadata, got \"" + from + "\"");
  }
  return c;
}

std::vector<RateLimitHeaderSelector> decode_header_selectors(const Field &headers) {
  std::vector<RateLimitHeaderSelector> group;
  for (size_t h = 0; h < headers.size(); ++h) {
    Field hf = headers.at(h);
    RateLimitHeaderSelector hs;
    hs.name = lower(hf["name"].required_str().value_or(""));
    auto t = hf["type"].str_or("Exact");
    if (t == "Exact")
      hs.type = RateLimitHeaderSelector::Type::kExact;
    else if (t == "Distinct")
      hs.type = RateLimitHeaderSelector::Type::kDistinct;
    else if (t == "RegularExpression")
      hs.type = RateLimitHeaderSelector::Type::kRegularExpression;
    else
      hf["type"].fail("must be Exact, Distinct or RegularExpression, got \"" + t + "\"");
    hs.value = hf["value"].str_or("");
    if (hs.type != RateLimitHeaderSelector::Type::kDistinct && !hf["value"].present())
      hf["value"].fail("is required for " + t + " matches");
    hs.invert = hf["invert"].boolean().value_or(false);
    group.push_back(std::move(hs));
  }
  return group;
}

void decode_rate_limit(const Field &rl, std::vector<RateLimitRule> &out) {
  auto type = rl["type"].str_or("Global");
  if (type != "Global" && type != "Local") {
    rl["type"].fail("must be Global or Local, got \"" + type + "\"");
    return;
  }
  Field rules = type == "Global" ? rl["global"]["rules"] : rl["local"]["rules"];
  for (size_t i = 0; i < rules.size(); ++i) {
    Field rf = rules.at(i);
    RateLimitRule r;
    Field selectors = rf["clientSelectors"];
    for (size_t s = 0; s < selectors.size(); ++s) {
      Field sel = selectors.at(s);
      if (sel["sourceCIDR"].present() || sel["methods"].present() || sel["path"].present())
        sel.warn("only headers selectors are supported; the others are ignored");
      std::vector<RateLimitHeaderSelector> group = decode_header_selectors(sel["headers"]);
      r.client_selectors.push_back(std::move(group));
    }
    Field limit = rf["limit"];
    if (!limit.present()) limit.fail("is required");
    r.limit = static_cast<uint64_t>(limit["requests"].integer(0, INT64_MAX).value_or(0));
    r.unit = limit["unit"].str_or("");
    static const char *kUnits[] = {"Second", "Minute", "Hour", "Day"};
    if (std::none_of(std::begin(kUnits), std::end(kUnits), [&](auto u) { return r.unit == u; }))
      limit["unit"].fail("must be Second, Minute, Hour or Day, got \"" + r.unit + "\"");
    r.request_cost = decode_cost(rf["cost"]["request"]);
    r.response_cost = decode_cost(rf["cost"]["response"]);
    r.shadow_mode = rf["shadowMode"].boolean().value_or(false);
    out.push_back(std::move(r));
  }
}

std::optional<QuotaValue> decode_quota_value(const Field &f) {
  if (!f.present()) return std::nullopt;
  QuotaValue q;
  q.limit = static_cast<uint64_t>(f["limit"].integer(0, INT64_MAX).value_or(0));
  if (!f["limit"].present()) f["limit"].fail("is required");
  auto d = f["duration"].str_or("");
  if (d == "1s")
    q.unit = "Second";
  else if (d == "1m")
    q.unit = "Minute";
  else if (d == "1h")
    q.unit = "Hour";
  else if (d == "1d")
    q.unit = "Day";
  else
    f["duration"].fail("must be one of 1s, 1m, 1h, 1d, got \"" + d + "\"");
  return q;
}

void decode_quota_policy(const Field &doc, const ObjectMeta &meta, Resources &out) {
  QuotaPolicy p;
  p.meta = meta;
  Field spec = doc["spec"];
  Field targets = spec["targetRefs"];
  for (size_t i = 0; i < targets.size(); ++i) {
    auto kind = targets.at(i)["kind"].str_or("AIServiceBackend");
    if (kind != "AIServiceBackend") {
      targets.at(i)["kind"].fail("only AIServiceBackend targets are supported, got \"" + kind +
                                 "\"");
      continue;
    }
    if (auto n = targets.at(i)["name"].required_str()) p.target_backends.push_back(*n);
  }
  if (spec["serviceQuota"].present())
    spec["serviceQuota"].warn("serviceQuota is not enforced (as upstream); perModelQuotas are");
  Field quotas = spec["perModelQuotas"];
  for (size_t i = 0; i < quotas.size(); ++i) {
    Field qf = quotas.at(i);
    PerModelQuota q;
    q.model_name = qf["modelName"].required_str().value_or("");
    Field def = qf["quota"];
    if (auto c = def["costExpression"].str()) q.cost_expression = *c;
    auto mode = def["mode"].str_or("Shared");
    if (mode != "Shared") def["mode"].fail("only Shared is supported, got \"" + mode + "\"");
    q.default_bucket = decode_quota_value(def["defaultBucket"]);
    Field rules = def["bucketRules"];
    for (size_t r = 0; r < rules.size(); ++r) {
      Field rf = rules.at(r);
      QuotaBucketRule rule;
      Field selectors = rf["clientSelectors"];
      for (size_t s = 0; s < selectors.size(); ++s)
        rule.client_selectors.push_back(decode_header_selectors(selectors.at(s)["headers"]));
      if (auto v = decode_quota_value(rf["quota"]))
        rule.quota = *v;
      else
        rf["quota"].fail("is required");
      rule.shadow_mode = rf["shadowMode"].boolean().value_or(false);
      q.bucket_rules.push_back(std::move(rule));
    }
    p.per_model_quotas.push_back(std::move(q));
  }
  out.quota_policies.push_back(std::move(p));
}

std::optional<LoadBalancerPolicy> decode_load_balancer(Field lb, const ObjectMeta &meta) {
  LoadBalancerPolicy p;
  std::string type = lb["type"].str_or("");
  if (auto it = meta.annotations.find("aigw.run/load-balancer"); it != meta.annotations.end()) {
    if (it->second != "PeakEWMA") {
      lb.fail("annotation aigw.run/load-balancer must be PeakEWMA, got \"" + it->second + "\"");
      return std::nullopt;
    }
    p.type = LoadBalancerPolicy::Type::kPeakEWMA;
    return p;
  }
  if (type == "Random") {
    p.type = LoadBalancerPolicy::Type::kRandom;
  } else if (type == "RoundRobin") {
    p.type = LoadBalancerPolicy::Type::kRoundRobin;
  } else if (type == "LeastRequest") {
    p.type = LoadBalancerPolicy::Type::kLeastRequest;
  } else if (type == "ConsistentHash") {
    p.type = LoadBalancerPolicy::Type::kConsistentHash;
    Field ch = lb["consistentHash"];
    std::string ht = ch["type"].str_or("");
    if (ht == "Header") {
      p.hash = LoadBalancerPolicy::Hash::kHeader;
      auto name = ch["header"]["name"].required_str();
      if (!name) return std::nullopt;
      p.hash_name = *name;
      std::transform(p.hash_name.begin(), p.hash_name.end(), p.hash_name.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    } else if (ht == "Cookie") {
      p.hash = LoadBalancerPolicy::Hash::kCookie;
      auto name = ch["cookie"]["name"].required_str();
      if (!name) return std::nullopt;
      p.hash_name = *name;
    } else if (ht == "SourceIP") {
      p.hash = LoadBalancerPolicy::Hash::kSourceIP;
    } else {
      ch["type"].fail("must be Header, Cookie or SourceIP, got \"" + ht + "\"");
      return std::nullopt;
    }
  } else {
    lb["type"].fail("must be Random, RoundRobin, LeastRequest or ConsistentHash, got \"" + type +
                    "\"");
    return std::nullopt;
  }
  return p;
}

std::optional<std::chrono::milliseconds> positive_duration(Field f,
                                                           std::chrono::milliseconds fallback) {
  auto t = f.str();
  if (!t) return fallback;
  auto d = parse_duration(*t);
  if (!d || d->count() <= 0) {
    f.fail("must be a positive duration like \"30s\", got \"" + *t + "\"");
    return std::nullopt;
  }
  return d;
}

std::optional<PassiveHealthCheck> decode_passive(Field ph) {
  PassiveHealthCheck p;
  p.split_external_local_origin_errors =
      ph["splitExternalLocalOriginErrors"].boolean().value_or(false);
  auto count = [&](const char *key, uint32_t &v) {
    if (auto n = ph[key].integer(0, 1000000)) v = static_cast<uint32_t>(*n);
  };
  count("consecutiveLocalOriginFailures", p.consecutive_local_origin_failures);
  count("consecutiveGatewayErrors", p.consecutive_gateway_errors);
  count("consecutive5XxErrors", p.consecutive_5xx_errors);
  if (auto n = ph["maxEjectionPercent"].integer(0, 100))
    p.max_ejection_percent = static_cast<uint32_t>(*n);
  auto interval = positive_duration(ph["interval"], p.interval);
  auto base = positive_duration(ph["baseEjectionTime"], p.base_ejection_time);
  if (!interval || !base) return std::nullopt;
  p.interval = *interval;
  p.base_ejection_time = *base;
  return p;
}

CircuitBreakerPolicy decode_circuit_breaker(Field cb) {
  CircuitBreakerPolicy p;
  auto count = [&](const char *key, uint32_t &v) {
    if (auto n = cb[key].integer(0, 4294967295LL)) v = static_cast<uint32_t>(*n);
  };
  count("maxConnections", p.max_connections);
  count("maxPendingRequests", p.max_pending_requests);
  count("maxParallelRequests", p.max_parallel_requests);
  count("maxParallelRetries", p.max_parallel_retries);
  return p;
}

void decode_traffic_policy(const Field &doc, const ObjectMeta &meta, Resources &out) {
  BackendTrafficPolicy p;
  p.meta = meta;
  Field spec = doc["spec"];
  Field targets = spec["targetRefs"];
  for (size_t i = 0; i < targets.size(); ++i) {
    PolicyTarget t;
    t.kind = targets.at(i)["kind"].str_or("");
    t.name = targets.at(i)["name"].required_str().value_or("");
    p.targets.push_back(std::move(t));
  }
  if (spec["targetRef"].present()) {
    PolicyTarget t;
    t.kind = spec["targetRef"]["kind"].str_or("");
    t.name = spec["targetRef"]["name"].str_or("");
    p.targets.push_back(std::move(t));
  }
  Field retry = spec["retry"];
  if (retry.present()) {
    RetryPolicy r;
    if (auto n = retry["numRetries"].integer(0, 100)) r.num_retries = static_cast<uint32_t>(*n);
    if (auto n = retry["numAttemptsPerPriority"].integer(0, 100))
      r.num_attempts_per_priority = static_cast<uint32_t>(*n);
    Field triggers = retry["retryOn"]["triggers"];
    static const char *kTriggers[] = {"5xx",
                                      "gateway-error",
                                      "reset",
                                      "connect-failure",
                                      "retriable-4xx",
                                      "refused-stream",
                                      "retriable-status-codes",
                                      "cancelled",
                                      "deadline-exceeded",
                                      "internal",
                                      "resource-exhausted",
                                      "unavailable"};
    for (size_t i = 0; i < triggers.size(); ++i) {
      if (auto t = triggers.at(i).str()) {
        if (std::none_of(std::begin(kTriggers), std::end(kTriggers),
                         [&](auto k) { return *t == k; }))
          triggers.at(i).fail("unknown retry trigger \"" + *t + "\"");
        r.triggers.push_back(*t);
      }
    }
    Field codes = retry["retryOn"]["httpStatusCodes"];
    for (size_t i = 0; i < codes.size(); ++i)
      if (auto c = codes.at(i).integer(100, 599))
        r.http_status_codes.push_back(static_cast<int>(*c));
    if (auto t = retry["perRetry"]["timeout"].str()) {
      if (auto d = parse_duration(*t))
        r.per_retry_timeout = *d;
      else
        retry["perRetry"]["timeout"].fail("must be a duration like \"30s\", got \"" + *t + "\"");
    }
    p.retry = std::move(r);
  }
  Field rl = spec["rateLimit"];
  if (rl.present()) decode_rate_limit(rl, p.rate_limit_rules);
  if (spec["loadBalancer"].present() || meta.annotations.count("aigw.run/load-balancer"))
    p.load_balancer = decode_load_balancer(spec["loadBalancer"], meta);
  if (spec["healthCheck"]["passive"].present())
    p.passive_health_check = decode_passive(spec["healthCheck"]["passive"]);
  if (spec["healthCheck"]["active"].present())
    spec["healthCheck"]["active"].warn("active health checks are not run by aigw run; skipped");
  if (spec["circuitBreaker"].present())
    p.circuit_breaker = decode_circuit_breaker(spec["circuitBreaker"]);
  if (auto it = meta.annotations.find("aigw.run/stream-continuation");
      it != meta.annotations.end()) {
    if (it->second == "true" || it->second == "false")
      p.stream_continuation = it->second == "true";
    else
      doc["metadata"]["annotations"].fail("aigw.run/stream-continuation must be \"true\" or "
                                          "\"false\", got \"" +
                                          it->second + "\"");
  }
  if (auto it = meta.annotations.find("aigw.run/hedge-after"); it != meta.annotations.end()) {
    auto d = parse_duration(it->second);
    if (!d || d->count() <= 0)
      doc["metadata"]["annotations"].fail("aigw.run/hedge-after must be a positive duration like "
                                          "\"500ms\", got \"" +
                                          it->second + "\"");
    else
      p.hedge_after = *d;
  }
  if (auto it = meta.annotations.find("ratelimit.aigw.run/mode"); it != meta.annotations.end()) {
    if (it->second == "reserve-then-settle") {
      for (auto &r : p.rate_limit_rules)
        r.reserve_then_settle = true;
    } else if (it->second != "check-then-charge") {
      doc["metadata"]["annotations"].fail("ratelimit.aigw.run/mode must be check-then-charge or "
                                          "reserve-then-settle, got \"" +
                                          it->second + "\"");
    }
  }
  out.traffic_policies.push_back(std::move(p));
}

void decode_secret(const Field &doc, const ObjectMeta &meta, Resources &out) {
  Secret s;
  s.meta = meta;
  Field data = doc["data"];
  for (const auto &k : data.map_keys()) {
    auto v = data[k.c_str()].str_or("");
    auto decoded = base64_decode(v);
    if (!decoded) {
      data[k.c_str()].fail("is not valid base64");
      continue;
    }
    s.data[k] = *decoded;
  }
  Field string_data = doc["stringData"];
  for (const auto &k : string_data.map_keys())
    s.data[k] = string_data[k.c_str()].str_or("");
  out.secrets.push_back(std::move(s));
}

// An HTTPS listener's tls: Terminate with certificateRefs (Secrets of type kubernetes.io/tls).
bool decode_listener_tls(Field lf, Listener &l) {
  Field tls = lf["tls"];
  if (!tls.present()) {
    tls.fail("is required on an HTTPS listener (mode Terminate with certificateRefs)");
    return false;
  }
  std::string mode = tls["mode"].str_or("Terminate");
  if (mode != "Terminate") {
    tls["mode"].fail("only Terminate is supported (\"" + mode + "\")");
    return false;
  }
  Field refs = tls["certificateRefs"];
  if (refs.size() == 0) {
    refs.fail("is required: at least one Secret with tls.crt and tls.key");
    return false;
  }
  for (size_t i = 0; i < refs.size(); ++i) {
    Field r = refs.at(i);
    std::string kind = r["kind"].str_or("Secret");
    std::string group = r["group"].str_or("");
    if (kind != "Secret" || !group.empty()) {
      r["kind"].fail("only core Secrets are supported (kind Secret, group \"\")");
      return false;
    }
    auto name = r["name"].required_str();
    if (!name) return false;
    l.certificates.push_back(SecretRef{*name, r["namespace"].str_or("")});
  }
  return true;
}

void decode_gateway(const Field &doc, const ObjectMeta &meta, Resources &out) {
  Gateway g;
  g.meta = meta;
  Field spec = doc["spec"];
  g.class_name = spec["gatewayClassName"].str_or("");
  Field listeners = spec["listeners"];
  for (size_t i = 0; i < listeners.size(); ++i) {
    Field lf = listeners.at(i);
    Listener l;
    l.name = lf["name"].str_or("");
    l.protocol = lf["protocol"].str_or("HTTP");
    auto port = lf["port"].integer(1, 65535);
    if (!port) {
      if (!lf["port"].present()) lf["port"].fail("is required");
      continue;
    }
    l.port = static_cast<uint16_t>(*port);
    l.hostname = lf["hostname"].str_or("");
    l.field = "spec.listeners[" + std::to_string(i) + "]";
    if (l.protocol != "HTTP" && l.protocol != "HTTPS") {
      lf["protocol"].warn("only HTTP and HTTPS listeners are served; \"" + l.protocol +
                          "\" is skipped");
      continue;
    }
    if (l.protocol == "HTTPS" && !decode_listener_tls(lf, l)) continue;
    g.listeners.push_back(std::move(l));
  }
  out.gateways.push_back(std::move(g));
}

} // namespace

std::optional<std::chrono::milliseconds> parse_duration(std::string_view s) {
  if (s.empty()) return std::nullopt;
  double total_ms = 0;
  size_t i = 0;
  while (i < s.size()) {
    size_t start = i;
    while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.'))
      ++i;
    if (start == i) return std::nullopt;
    double v = 0;
    auto [p, ec] = std::from_chars(s.data() + start, s.data() + i, v);
    if (ec != std::errc() || p != s.data() + i) return std::nullopt;
    size_t ustart = i;
    while (i < s.size() && std::isalpha(static_cast<unsigned char>(s[i])))
      ++i;
    std::string_view unit = s.substr(ustart, i - ustart);
    if (unit == "h")
      total_ms += v * 3600000;
    else if (unit == "m")
      total_ms += v * 60000;
    else if (unit == "s")
      total_ms += v * 1000;
    else if (unit == "ms")
      total_ms += v;
    else
      return std::nullopt;
  }
  return std::chrono::milliseconds(static_cast<int64_t>(total_ms));
}

bool is_supported_kind(std::string_view kind) {
  static constexpr std::string_view kKinds[] = {"AIGatewayRoute",
                                                "AIServiceBackend",
                                                "Backend",
                                                "BackendTLSPolicy",
                                                "BackendSecurityPolicy",
                                                "BackendTrafficPolicy",
                                                "Secret",
                                                "Gateway",
                                                "QuotaPolicy",
                                                "GatewayConfig",
                                                "GatewayClass",
                                                "MCPRoute",
                                                "ConfigMap",
                                                "SecurityPolicy"};
  for (auto k : kKinds)
    if (k == kind) return true;
  return false;
}

void decode_document(const YAML::Node &node, size_t doc_index, Resources &out, Diagnostics &diag) {
  if (!node.IsDefined() || node.IsNull()) return;
  std::string where = "document " + std::to_string(doc_index + 1);
  if (!node.IsMap()) {
    diag.error(where + ": must be a mapping with apiVersion and kind");
    return;
  }
  Field raw(node, where, "", &diag);
  auto kind = raw["kind"].str_or("");
  if (kind.empty()) {
    diag.error(where + ": kind is required");
    return;
  }
  Field name_field(node, kind + " (" + where + ")", "", &diag);
  ObjectMeta meta = decode_meta(name_field);
  if (meta.name.empty()) {
    diag.error(kind + " (" + where + "): metadata.name is required");
    return;
  }
  Field doc(node, kind + " " + meta.key(), "", &diag);
  if (kind == "AIGatewayRoute")
    decode_route(doc, meta, out);
  else if (kind == "AIServiceBackend")
    decode_ai_backend(doc, meta, out);
  else if (kind == "Backend")
    decode_backend(doc, meta, out);
  else if (kind == "BackendTLSPolicy")
    decode_tls_policy(doc, meta, out);
  else if (kind == "BackendSecurityPolicy")
    decode_security_policy(doc, meta, out);
  else if (kind == "BackendTrafficPolicy")
    decode_traffic_policy(doc, meta, out);
  else if (kind == "Secret")
    decode_secret(doc, meta, out);
  else if (kind == "Gateway")
    decode_gateway(doc, meta, out);
  else if (kind == "QuotaPolicy")
    decode_quota_policy(doc, meta, out);
  else if (kind == "SecurityPolicy")
    decode_client_security_policy(doc, meta, out);
  else if (kind == "VirtualKey")
    decode_virtual_key(doc, meta, out);
  else if (kind == "GatewayConfig") {
    GatewayConfig g;
    g.meta = meta;
    g.global_llm_request_costs = decode_costs(doc["spec"]["globalLLMRequestCosts"]);
    Field ns = doc["spec"]["extProc"]["metadataForwardingNamespaces"];
    if (ns.present()) {
      if (ns.size() > 32) ns.fail("at most 32 namespaces, got " + std::to_string(ns.size()));
      for (size_t i = 0; i < ns.size(); ++i)
        if (auto v = ns.at(i).required_str()) g.metadata_forwarding_namespaces.push_back(*v);
    }
    if (doc["spec"]["forwardProxy"].present())
      doc["spec"]["forwardProxy"].warn("does not apply to aigw run");
    out.gateway_configs.push_back(std::move(g));
  } else if (kind == "GatewayClass") {
    out.gateway_classes.push_back(meta.name);
  } else if (kind == "ConfigMap") {
    Secret c;
    c.meta = meta;
    Field data = doc["data"];
    for (const auto &k : data.map_keys())
      c.data[k] = data[k.c_str()].str_or("");
    out.config_maps.push_back(std::move(c));
  } else if (kind == "MCPRoute") {
    MCPRoute r;
    r.name = meta.name;
    r.namespace_ = meta.namespace_;
    if (decode_mcp_route(doc["spec"], r)) out.mcp_routes.push_back(std::move(r));
  } else
    diag.warning(kind + " " + meta.key() + ": kind " + kind + " is not supported yet; skipped");
}

} // namespace aigw::api
