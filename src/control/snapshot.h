// RuntimeSnapshot: the immutable, fully resolved configuration the data plane reads. Compiled
// from Resources in one pass that checks every cross-reference; a request pins one snapshot for
// its whole life (shared_ptr), so a reload never changes a request in flight.
#pragma once

#include "control/backend_state.h"

#include "api/resources.h"
#include "api/schema.h"
#include "auth/aws_sigv4.h"
#include "auth/client_auth.h"
#include "auth/gcp_jwt.h"
#include "auth/jwt.h"
#include "mcp/cel.h"
#include "ratelimit/costs.h"
#include "ratelimit/limiter.h"
#include "ratelimit/virtual_keys.h"

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <vector>

namespace aigw::control {

struct UpstreamEndpoint {
  std::string host;
  uint16_t port = 0;
  bool is_ip = false;
};

struct TlsSettings {
  bool enabled = false;
  std::string sni;    // server name sent and verified
  bool verify = true; // verify against the system CAs
};

// A QuotaPolicy's quota for one model on one backend: its cost and its buckets (Shared mode: a
// request is admitted while any bucket it falls in has quota left).
struct CompiledModelQuota {
  std::string model;
  ratelimit::CostSpec cost; // CEL costExpression under the metadata key "quota_cost"
  std::vector<std::shared_ptr<const ratelimit::CompiledRateLimit>> buckets;
};

// The default header (AWS: header prefix) and metadata key a credentialOverride reads for an auth
// type, as upstream names them; the headers the override strips.
std::string default_override_name(std::string_view auth_type);
std::vector<std::string> override_headers(std::string_view auth_type, std::string_view header);

struct CompiledBackend {
  std::string key;                     // namespace/name of the AIServiceBackend
  std::shared_ptr<BackendState> state; // what traffic taught about it (kept across reloads)
  std::string name;                    // name only
  std::string schema;                  // OpenAI, AzureOpenAI, ...
  std::string path_prefix;             // "/v1" for prefix "v1"; "" for prefix "" or "/"
  std::vector<UpstreamEndpoint> endpoints;
  TlsSettings tls;
  std::string host_header; // what the provider sees in Host
  api::Schema schema_kind = api::Schema::kOpenAI;
  std::string schema_version; // Azure api-version, anthropic_version, Cohere path version
  std::string auth_type;      // "" (none), "APIKey", ...
  // Secret material below: never logged or dumped.
  std::string api_key; // APIKey, AzureAPIKey, AnthropicAPIKey
  // A bearer token a control plane already obtained (extproc configs' azure/gcp accessToken).
  std::string bearer_token;
  // AWSCredentials: static credentials from the Secret, else the environment at request time.
  std::optional<auth::AwsCredentials> aws_credentials;
  std::string aws_region;         // the configured region
  std::string aws_signing_region; // that region corrected from the host, as upstream signs
  // AzureCredentials: client credentials against Entra ID.
  std::string azure_tenant_id, azure_client_id, azure_client_secret;
  // GCPCredentials: a service account key; `gcp_problem` says why it is unusable, if it is.
  std::optional<auth::GcpServiceAccount> gcp_service_account;
  std::string gcp_project, gcp_region, gcp_problem;
  // credentialOverride, resolved: a header (AWS: the prefix of three) or a metadata namespace
  // and key; the headers it reads never reach the provider (they are in header_mutation.remove).
  struct CredentialOverride {
    std::string header;
    std::string metadata_namespace, metadata_key;
    bool fallback = true;
  };
  std::optional<CredentialOverride> credential_override;
  std::vector<api::AIServiceBackend::HeaderValueFilter> header_value_filters; // anthropic-beta
  api::HeaderMutation header_mutation;
  api::BodyMutation body_mutation;
  std::string model_name_override; // extproc configs carry it per backend (per route rule ref)
  bool supported = true;           // schema served by this build
  std::vector<CompiledModelQuota> quotas;

  const CompiledModelQuota *quota_for(std::string_view model) const {
    for (const auto &q : quotas)
      if (q.model == model) return &q;
    return nullptr;
  }
};

struct CompiledHeaderMatch {
  std::string name;
  bool regex = false;
  bool match_all = false; // regex ".*": always true, skip the regex engine
  std::string value;
  std::shared_ptr<const std::regex> re;
};

struct CompiledBackendRef {
  std::shared_ptr<const CompiledBackend> backend;
  std::string model_name_override;
  uint32_t weight = 1;
  uint32_t priority = 0;
  api::HeaderMutation header_mutation; // backend-level merged with route-level (route wins)
  api::BodyMutation body_mutation;     // likewise
  std::string per_rule_name;           // ns/name/route/R/rule/I/ref/J, as upstream
};

struct CompiledRoute {
  std::string key; // namespace/name
  std::string name;
  std::vector<std::string> hostnames;
  std::vector<api::LLMRequestCost> llm_request_costs;
  std::vector<ratelimit::CostSpec> costs;
  // BackendTrafficPolicy rate limit rules targeting this route or its Gateway.
  std::vector<std::shared_ptr<const ratelimit::CompiledRateLimit>> rate_limits;
  // The SecurityPolicy guarding the route (its own, else its Gateway's); null: none.
  std::shared_ptr<const auth::ClientAuth> client_auth;
  // aigw.run/response-cache: how long an answer is kept; nullopt: the route does not cache.
  std::optional<std::chrono::seconds> response_cache_ttl;
};

struct CompiledRule {
  size_t route_index = 0;
  size_t rule_index = 0;
  std::string name;
  std::vector<std::vector<CompiledHeaderMatch>> matches; // ORed groups of ANDed headers
  std::vector<CompiledBackendRef> refs;                  // weight-0 refs left out
  std::chrono::milliseconds request_timeout{60000};
  // rules[].streamIdleTimeout: the longest wait for the next bytes of one attempt (aigw run);
  // before content reaches the client, a stream idle past it fails over to the next attempt.
  std::optional<std::chrono::milliseconds> stream_idle_timeout;
  std::optional<api::RetryPolicy> retry;
  // BackendTrafficPolicy's loadBalancer, healthCheck.passive and circuitBreaker for the route.
  std::optional<api::LoadBalancerPolicy> load_balancer;
  std::optional<api::PassiveHealthCheck> passive_health_check;
  std::optional<api::CircuitBreakerPolicy> circuit_breaker;
  std::optional<std::chrono::milliseconds> hedge_after;
  bool stream_continuation = false;
  std::shared_ptr<std::atomic<uint64_t>> round_robin = std::make_shared<std::atomic<uint64_t>>(0);
  size_t header_count = 0; // for precedence
};

struct ModelEntry {
  std::string id;
  int64_t created = 0;
  std::string owned_by;
  std::vector<std::string> hostnames; // empty: every host
};

// An MCPRoute's backend: an MCP server reached over Streamable HTTP.
struct CompiledMCPSelector {
  std::vector<std::string> include, exclude;
  std::vector<std::regex> include_regex, exclude_regex;
  bool empty = true;
  // Whether `name` is exposed: included (or no include list) and not excluded.
  bool keeps(std::string_view name) const;
};

struct CompiledMCPBackend {
  std::string name;
  CompiledBackend upstream; // how the host connects to it (endpoints, TLS, Host)
  std::string path = "/mcp";
  std::vector<UpstreamEndpoint> endpoints;
  TlsSettings tls;
  std::string host_header;
  CompiledMCPSelector tools, prompts;
  bool prefix_never = false; // prefixMode Never: names exposed bare
  // securityPolicy.apiKey (secret material: never logged or dumped)
  std::string api_key;
  std::string api_key_header; // "authorization": "Bearer <key>"
  std::string api_key_query;  // a query parameter instead
  bool api_key_if_not_present = false;
  std::vector<api::MCPForwardHeader> forward_headers;
};

// toolSelector / promptSelector, regexes compiled (the caller has checked they compile).
CompiledMCPSelector compile_mcp_selector(const api::MCPNameSelector &s);

std::string resource_metadata_url(std::string_view resource);

struct CompiledMCPRoute {
  std::string key; // namespace/name
  std::string name;
  std::string path;
  // Served behind Envoy (`aigw extproc -mcpAddr`, from the filter configuration's mcpConfig):
  // Envoy picks the route by x-ai-eg-mcp-route and has authenticated the client; every backend
  // call goes to its backend listener with x-ai-eg-mcp-backend and x-ai-eg-mcp-route (and the
  // x-ai-eg-mcp-metadata-* headers), where it routes, rewrites the path and injects the key.
  bool behind_envoy = false;
  std::vector<std::pair<std::string, std::string>> header_matches;
  std::vector<std::string> hostnames;
  std::vector<std::shared_ptr<const CompiledMCPBackend>> backends;
  // securityPolicy.oauth: the JWT every request must carry, and the keys of a local JWKS.
  std::shared_ptr<const api::MCPRouteOAuth> oauth;
  std::vector<auth::JwtKey> local_keys;
  std::string resource_metadata_url; // RFC 9728, as upstream builds it from `resource`
  std::shared_ptr<const api::MCPRouteAuthorization> authorization;
  std::vector<std::optional<mcp::cel::Program>> rule_cel; // per authorization rule
  // backendSelector: (program, allow) per rule, and the default.
  std::vector<std::pair<mcp::cel::Program, bool>> backend_selector;
  bool has_backend_selector = false, backend_selector_default_allow = false;
  // securityPolicy.apiKeyAuth: key → client id (secret material), where keys are taken from.
  std::optional<api::MCPRoute::APIKeyAuth> api_key_auth;
  std::map<std::string, std::string, std::less<>> client_keys;

  const CompiledMCPBackend *backend(std::string_view name) const {
    for (const auto &b : backends)
      if (b->name == name) return b.get();
    return nullptr;
  }
};

// What an HTTPS listener port terminates TLS with. Each entry is one Gateway listener: its
// hostname (SNI; empty or "*.domain" match as Gateway API's do) and its certificates (PEM, each
// checked against its key). The first entry is served to a client whose SNI matches none.
struct ListenerTls {
  struct Certificate {
    std::string cert_pem; // the chain, leaf first
    std::string key_pem;
    bool operator==(const Certificate &) const = default;
  };
  struct Entry {
    std::string hostname;
    std::vector<Certificate> certificates;
    std::string where; // "Gateway ns/name spec.listeners[i]"
    bool operator==(const Entry &) const = default;
  };
  uint16_t port = 0;
  std::vector<Entry> entries;
  bool operator==(const ListenerTls &) const = default;
};

struct Snapshot {
  uint64_t generation = 0;
  std::string source; // file path, or "environment"
  std::vector<uint16_t> listener_ports;
  std::vector<ListenerTls> listener_tls; // the ports among listener_ports that terminate TLS
  const ListenerTls *tls_for(uint16_t port) const {
    for (const auto &t : listener_tls)
      if (t.port == port) return &t;
    return nullptr;
  }
  std::vector<CompiledRoute> routes;
  std::vector<CompiledRule> rules; // in match precedence order
  std::vector<ModelEntry> models;
  std::string dump_json;  // the whole snapshot with secrets redacted (admin /config_dump)
  bool any_costs = false; // some route computes costs: streamed usage is always asked for
  // Backend refs by per-route-rule name, for a host whose proxy picks the backend (extproc).
  std::map<std::string, CompiledBackendRef, std::less<>> refs_by_name;
  std::vector<CompiledMCPRoute> mcp_routes;
  // Client authentication (SecurityPolicy): the Gateway's policy, for what no route takes (the
  // model list, unknown models); whether some route has a policy other than it (then requests
  // are authenticated once their route is known); the remote JWKS to keep fetched.
  std::shared_ptr<const auth::ClientAuth> gateway_auth;
  bool route_auth = false;
  struct RemoteJwks {
    std::string uri;
    std::chrono::seconds cache_duration{300};
  };
  std::vector<RemoteJwks> remote_jwks;
  // Query parameters any SecurityPolicy reads a credential from (redacted in what is logged).
  std::vector<std::string> credential_params;
  // VirtualKey, by the client id a SecurityPolicy gives.
  ratelimit::VirtualKeys virtual_keys;
  const ratelimit::CompiledVirtualKey *virtual_key(std::string_view client_id) const {
    if (client_id.empty() || virtual_keys.empty()) return nullptr;
    auto it = virtual_keys.find(std::string(client_id));
    return it == virtual_keys.end() ? nullptr : it->second.get();
  }

  // The route with this key, or null.
  const CompiledRoute *route_named(std::string_view key) const {
    for (const auto &r : routes)
      if (r.key == key) return &r;
    return nullptr;
  }
};

struct CompileOptions {
  int64_t now_unix = 0; // default `created` for /v1/models
  uint64_t generation = 0;
  std::string source;
};

// Resolves references and builds the snapshot. Every problem is reported to `diag` naming the
// resource and field; returns nullptr when any error was reported.
std::shared_ptr<const Snapshot> compile(const api::Resources &res, const CompileOptions &opts,
                                        api::Diagnostics &diag);

} // namespace aigw::control
