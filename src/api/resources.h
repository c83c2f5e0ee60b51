// The resource model: one struct per supported kind, decoded from upstream's YAML with the same
// field names (AIGatewayRoute, AIServiceBackend, BackendSecurityPolicy, Backend, BackendTLSPolicy,
// BackendTrafficPolicy, Gateway, GatewayClass, Secret). Decoding checks types and required
// fields; cross-resource references are checked when a snapshot is compiled (control/).
#pragma once

#include "api/mcp_route.h"
#include "api/yaml_node.h"

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace aigw::api {

struct ObjectMeta {
  std::string name;
  std::string namespace_ = "default";
  std::map<std::string, std::string> annotations;
  std::string key() const { return namespace_ + "/" + name; }
};

struct HeaderMatch {
  enum class Type { kExact, kRegularExpression };
  Type type = Type::kExact;
  std::string name; // lower-cased
  std::string value;
};

struct HeaderMutation {
  std::vector<std::pair<std::string, std::string>> set; // names lower-cased
  std::vector<std::string> remove;
};

// HTTPBodyMutation: top-level JSON fields removed, then set (a value that looks like JSON is
// inserted as is, anything else as a JSON string).
using BodyMutation = HeaderMutation; // set: (path, value); remove: paths

struct RouteBackendRef {
  std::string name;
  std::string namespace_; // empty: the route's namespace
  std::string model_name_override;
  uint32_t weight = 1;
  uint32_t priority = 0;
  HeaderMutation header_mutation;
  BodyMutation body_mutation;
};

struct RouteRule {
  std::string name;
  std::vector<std::vector<HeaderMatch>> matches; // ORed; headers within one match ANDed
  std::vector<RouteBackendRef> backend_refs;
  size_t skipped_refs = 0;                          // refs of kinds not served yet (InferencePool)
  std::chrono::milliseconds request_timeout{60000}; // upstream's default when unset
  std::optional<std::string> timeout_text;          // timeouts.request as written
  std::optional<std::chrono::milliseconds> stream_idle_timeout; // streamIdleTimeout; 0s: none
  std::optional<std::string> stream_idle_timeout_text;          // as written
  std::optional<std::string> models_owned_by;                   // default "Envoy AI Gateway"
  std::optional<int64_t> models_created_at; // unix seconds; default: creation time
  std::string models_created_at_text;       // as written
  bool exclude_from_models = false;         // excludeFromModelsEndpoint (v1.2)
};

struct LLMRequestCost {
  std::string metadata_key;
  std::string type; // InputToken, CachedInputToken, ..., CEL
  std::string cel;
};

struct AIGatewayRoute {
  ObjectMeta meta;
  std::vector<std::string> parent_gateways;     // names of parentRefs
  std::vector<std::string> parent_gateway_keys; // the same, as namespace/name
  std::vector<std::string> hostnames;
  std::vector<RouteRule> rules;
  std::vector<LLMRequestCost> llm_request_costs;
  std::string models_owned_by = "Envoy AI Gateway";
  std::optional<int64_t> models_created_at; // unix seconds
  // aigw.run/response-cache: "true" answers repeated requests from the response cache, for
  // aigw.run/response-cache-ttl (default 5m, at most 7 days).
  std::optional<std::chrono::seconds> response_cache_ttl;
};

struct AIServiceBackend {
  ObjectMeta meta;
  std::string schema_name;
  std::string schema_version;
  std::string prefix = "v1";
  std::string backend_name;
  std::string backend_namespace; // empty: same namespace
  // backendRef of kind Service (core group): reached at <name>.<namespace>.svc.cluster.local.
  std::optional<uint16_t> service_port;
  HeaderMutation header_mutation;
  BodyMutation body_mutation;
  // headerValueFilters (v1.2): values taken out of comma-separated request headers.
  struct HeaderValueFilter {
    std::string name; // lower-case
    bool allowlist = false;
    std::vector<std::string> values;
  };
  std::vector<HeaderValueFilter> header_value_filters;
};

struct BackendEndpoint {
  bool is_ip = false;
  std::string host;
  uint16_t port = 0;
};

struct Backend {
  ObjectMeta meta;
  std::vector<BackendEndpoint> endpoints;
  bool tls_from_settings = false; // spec.tls present
};

struct BackendTLSPolicy {
  ObjectMeta meta;
  std::vector<std::string> target_backends;
  std::string hostname; // SNI and the name verified in the certificate
  std::string well_known_ca;
  bool has_ca_refs = false;
};

struct SecretRef {
  std::string name;
  std::string namespace_; // empty: the policy's namespace
};

struct BackendSecurityPolicy {
  ObjectMeta meta;
  std::vector<std::string> target_backends; // AIServiceBackend names
  std::string type;
  std::optional<SecretRef> api_key_secret; // APIKey, AzureAPIKey, AnthropicAPIKey (key apiKey)
  // AWSCredentials
  std::string aws_region;
  std::optional<SecretRef> aws_credentials_secret; // key `credentials` (INI)
  std::string aws_profile = "default";
  // AzureCredentials
  std::string azure_client_id;
  std::string azure_tenant_id;
  std::optional<SecretRef> azure_client_secret; // key `client-secret`
  // GCPCredentials
  std::string gcp_project_name;
  std::string gcp_region;
  std::optional<SecretRef> gcp_credentials_secret; // key `service_account.json`
  // credentialOverride (v1.1+): the credential per request, from a header a trusted filter
  // writes (fromRequestHeaders) or from Envoy dynamic metadata (fromDynamicMetadata).
  struct CredentialOverride {
    bool from_metadata = false;
    std::string header;             // "" : the default for the type
    std::string metadata_namespace; // fromDynamicMetadata
    std::string metadata_key;       // "" : the default for the type
    bool fallback = true;           // fallbackToConfigured
  };
  std::optional<CredentialOverride> credential_override;
};

struct RetryPolicy {
  uint32_t num_retries = 2; // Envoy Gateway's default when `retry` is set without numRetries
  std::optional<uint32_t> num_attempts_per_priority;
  std::vector<std::string> triggers; // connect-failure, retriable-status-codes, reset, 5xx, ...
  std::vector<int> http_status_codes;
  std::optional<std::chrono::milliseconds> per_retry_timeout;
};

// Envoy Gateway's rate limit rule (BackendTrafficPolicy.spec.rateLimit.{global,local}.rules[]).
struct RateLimitHeaderSelector {
  enum class Type { kExact, kDistinct, kRegularExpression };
  Type type = Type::kExact;
  std::string name; // lower-cased
  std::string value;
  bool invert = false;
};

struct RateLimitCost {
  bool from_metadata = false;
  uint64_t number = 1;      // from: Number
  std::string metadata_key; // from: Metadata (namespace io.envoy.ai_gateway)
};

struct RateLimitRule {
  // Every select condition must hold, and every header within one.
  std::vector<std::vector<RateLimitHeaderSelector>> client_selectors;
  uint64_t limit = 0;
  std::string unit;                           // Second, Minute, Hour, Day
  std::optional<RateLimitCost> request_cost;  // unset: each request costs 1 at admission
  std::optional<RateLimitCost> response_cost; // unset: nothing charged at completion
  bool shadow_mode = false;
  // aigw extension, from the policy annotation `ratelimit.aigw.run/mode: reserve-then-settle`:
  // reserve an estimate of the response cost at admission, settle to the real cost at completion.
  bool reserve_then_settle = false;
};

struct PolicyTarget {
  std::string kind; // Gateway, HTTPRoute, AIGatewayRoute
  std::string name;
};

// BackendTrafficPolicy.spec.loadBalancer, how a rule's backendRefs of one priority share its
// requests; PeakEWMA is aigw's (annotation aigw.run/load-balancer).
struct LoadBalancerPolicy {
  enum class Type { kRandom, kRoundRobin, kLeastRequest, kConsistentHash, kPeakEWMA };
  Type type = Type::kRandom;
  enum class Hash { kHeader, kCookie, kSourceIP };
  Hash hash = Hash::kHeader;
  std::string hash_name; // the header (lower-cased) or cookie consistentHash reads
};

// BackendTrafficPolicy.spec.healthCheck.passive (Envoy's outlier detection), Envoy Gateway's
// defaults.
struct PassiveHealthCheck {
  bool split_external_local_origin_errors = false;
  std::chrono::milliseconds interval{3000};
  uint32_t consecutive_local_origin_failures = 5;
  uint32_t consecutive_gateway_errors = 0; // 0: not counted on their own
  uint32_t consecutive_5xx_errors = 5;
  std::chrono::milliseconds base_ejection_time{30000};
  uint32_t max_ejection_percent = 10;
};

// BackendTrafficPolicy.spec.circuitBreaker, Envoy Gateway's defaults.
struct CircuitBreakerPolicy {
  uint32_t max_connections = 1024;
  uint32_t max_pending_requests = 1024;
  uint32_t max_parallel_requests = 1024;
  uint32_t max_parallel_retries = 1024;
};

struct BackendTrafficPolicy {
  ObjectMeta meta;
  std::vector<PolicyTarget> targets;
  std::optional<RetryPolicy> retry;
  std::optional<LoadBalancerPolicy> load_balancer;
  std::optional<PassiveHealthCheck> passive_health_check;
  std::optional<CircuitBreakerPolicy> circuit_breaker;
  // aigw.run/hedge-after: a second attempt after this long without the first's response head
  // (requests that are not streamed).
  std::optional<std::chrono::milliseconds> hedge_after;
  // aigw.run/stream-continuation: "true": a stream broken after content is carried on by the
  // next backend with the partial answer as an assistant prefill (schemas that take one).
  std::optional<bool> stream_continuation;
  std::vector<RateLimitRule> rate_limit_rules;
};

struct Secret {
  ObjectMeta meta;
  std::map<std::string, std::string> data; // decoded values
};

struct Listener {
  std::string name;
  std::string protocol; // HTTP, or HTTPS (TLS terminated with the certificates named)
  uint16_t port = 0;
  std::string hostname;                // spec.listeners[].hostname (SNI), empty: any
  std::vector<SecretRef> certificates; // tls.certificateRefs (kubernetes.io/tls Secrets)
  std::string field;                   // "spec.listeners[i]", for errors
};

struct Gateway {
  ObjectMeta meta;
  std::string class_name;
  std::vector<Listener> listeners;
};

// QuotaPolicy (aigateway.envoyproxy.io/v1alpha1): per-model token quotas on AIServiceBackends.
struct QuotaValue {
  uint64_t limit = 0;
  std::string unit; // Second, Minute, Hour, Day (from duration 1s, 1m, 1h, 1d)
};

struct QuotaBucketRule {
  std::vector<std::vector<RateLimitHeaderSelector>> client_selectors;
  QuotaValue quota;
  bool shadow_mode = false;
};

struct PerModelQuota {
  std::string model_name; // the backendRef's modelNameOverride it applies to
  std::string cost_expression = "total_tokens";
  std::optional<QuotaValue> default_bucket;
  std::vector<QuotaBucketRule> bucket_rules;
};

struct QuotaPolicy {
  ObjectMeta meta;
  std::vector<std::string> target_backends; // AIServiceBackend names
  std::vector<PerModelQuota> per_model_quotas;
};

// GatewayConfig (referenced by a Gateway's aigateway.envoyproxy.io/gateway-config annotation).
struct GatewayConfig {
  ObjectMeta meta;
  std::vector<LLMRequestCost> global_llm_request_costs;
  // spec.extProc.metadataForwardingNamespaces (v1.2): what Envoy forwards to the external
  // processor as metadata_context (read by credentialOverride.fromDynamicMetadata).
  std::vector<std::string> metadata_forwarding_namespaces;
};

// SecurityPolicy (gateway.envoyproxy.io/v1alpha1): client authentication, with Envoy Gateway's
// fields (apiKeyAuth, basicAuth, jwt). Other methods (oidc, extAuth, cors, authorization) are
// warned about and not applied.
struct ClientJwtProvider {
  std::string name, issuer;
  std::vector<std::string> audiences;
  std::string remote_jwks_uri;
  std::optional<std::chrono::milliseconds> cache_duration; // remoteJWKS.cacheDuration
  std::string local_jwks;                                  // localJWKS.inline, or
  std::string local_jwks_config_map;                       // localJWKS.valueRef (key `jwks`)
  std::vector<std::pair<std::string, std::string>> claim_to_headers; // claim → header (lower)
  std::vector<std::pair<std::string, std::string>> extract_headers;  // name (lower), valuePrefix
  std::vector<std::string> extract_params, extract_cookies;
};

struct ClientSecurityPolicy {
  ObjectMeta meta;
  std::vector<PolicyTarget> targets; // Gateway, HTTPRoute or AIGatewayRoute (by name)
  struct ApiKey {
    std::vector<SecretRef> credentials; // each Secret: client id → API key
    std::vector<std::string> headers, params, cookies;
    std::string forward_client_id_header; // lower-case
  };
  std::optional<ApiKey> api_key;
  struct Basic {
    SecretRef users; // key .htpasswd
    std::string forward_username_header;
  };
  std::optional<Basic> basic;
  std::vector<ClientJwtProvider> jwt;
  bool jwt_present = false, jwt_optional = false;
  // Access controls aigw does not perform itself (oidc, extAuth, authorization): "spec.extAuth".
  // Behind Envoy they are Envoy's; `aigw run` refuses every request under such a policy.
  std::vector<std::string> unenforced;
};

// aigw's VirtualKey (aigw.run/v1alpha1): what one client (a SecurityPolicy's client id) may
// ask for and spend. docs/virtual-keys.md.
struct VirtualKeyBudget {
  enum class Kind { kRequests, kTokens, kDollars };
  Kind kind = Kind::kRequests;
  uint64_t limit = 0; // requests, tokens, or micro-dollars
  std::string window; // Minute, Hour, Day, Week, Month
  std::string field;  // "spec.budgets[0]"
};

struct VirtualKey {
  ObjectMeta meta;
  std::string client_id;
  std::vector<std::string> allowed_models; // exact, or a prefix ending in '*'; empty: any
  std::optional<int64_t> expires_at;       // unix seconds
  std::string time_zone = "UTC";
  std::vector<VirtualKeyBudget> budgets;
};

// Every resource of a configuration, in file order per kind.
struct Resources {
  std::vector<Gateway> gateways;
  std::vector<std::string> gateway_classes;
  std::vector<AIGatewayRoute> routes;
  std::vector<AIServiceBackend> ai_backends;
  std::vector<Backend> backends;
  std::vector<BackendTLSPolicy> tls_policies;
  std::vector<BackendSecurityPolicy> security_policies;
  std::vector<ClientSecurityPolicy> client_policies; // SecurityPolicy
  std::vector<VirtualKey> virtual_keys;
  std::vector<BackendTrafficPolicy> traffic_policies;
  std::vector<QuotaPolicy> quota_policies;
  std::vector<GatewayConfig> gateway_configs;
  std::vector<Secret> secrets;
  std::vector<MCPRoute> mcp_routes;
  std::vector<Secret> config_maps; // ConfigMaps (their `data`), for what references them
};

// Decodes one YAML document into `out`. Unknown kinds are warned about and skipped.
void decode_document(const YAML::Node &doc, size_t doc_index, Resources &out, Diagnostics &diag);

// SecurityPolicy's spec (api/security_policy.cc).
void decode_client_security_policy(const Field &doc, const ObjectMeta &meta, Resources &out);
void decode_virtual_key(const Field &doc, const ObjectMeta &meta, Resources &out);

// Whether decode_document reads this kind (rather than warning that it is skipped).
bool is_supported_kind(std::string_view kind);

// Parses a Gateway API duration ("60s", "1m30s", "500ms", "1h"). nullopt if malformed.
std::optional<std::chrono::milliseconds> parse_duration(std::string_view s);

} // namespace aigw::api
