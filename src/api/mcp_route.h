// MCPRoute (aigateway.envoyproxy.io/v1beta1): an MCP endpoint on a Gateway listener that
// aggregates the tools, prompts and resources of several MCP servers. Field names as upstream's
// api/v1beta1/mcp_route.go, with v1.2's prefixMode, promptSelector and apiKey.injectionPolicy.
#pragma once

#include "api/yaml_node.h"

#include <optional>
#include <string>
#include <vector>

namespace aigw::api {

struct ObjectMeta;
struct HeaderMatch;
struct SecretRef;

// toolSelector / promptSelector: a name is kept when it is included (by name or regex; no
// include list keeps everything) and not excluded; exclusion wins.
struct MCPNameSelector {
  std::vector<std::string> include, include_regex, exclude, exclude_regex;
  bool empty() const {
    return include.empty() && include_regex.empty() && exclude.empty() && exclude_regex.empty();
  }
};

struct MCPBackendAPIKey {
  std::string secret_name;      // secretRef (key `apiKey`), or
  std::string secret_namespace; // empty: the route's
  std::optional<std::string> inline_key;
  std::string header;          // default Authorization (then the value is "Bearer <key>")
  std::string query_param;     // instead of a header
  bool if_not_present = false; // injectionPolicy: IfNotPresent
};

struct MCPForwardHeader {
  std::string name;           // lower-cased, the client's header
  std::string backend_header; // lower-cased; empty: the same name
};

struct MCPRouteBackendRef {
  std::string name; // an Envoy Gateway Backend (or a Service)
  std::string kind = "Backend";
  uint16_t service_port = 0; // kind Service
  std::string path = "/mcp";
  MCPNameSelector tool_selector;
  MCPNameSelector prompt_selector;
  std::optional<bool> prefix_never; // prefixMode; unset: the route's
  std::optional<MCPBackendAPIKey> api_key;
  std::vector<MCPForwardHeader> forward_headers;
};

// securityPolicy.oauth: clients present a JWT the issuer signed (RFC 9728 protected resource).
struct MCPRouteOAuth {
  std::string issuer;
  std::vector<std::string> audiences;
  std::string remote_jwks_uri;       // jwks.remoteJWKS.uri; both empty: discovered from the issuer
  std::string local_jwks;            // jwks.localJWKS.inline (a JWKS document), or
  std::string local_jwks_config_map; // jwks.localJWKS.valueRef: a ConfigMap's key `jwks`
  struct ProtectedResourceMetadata {
    std::string resource;
    std::string resource_name;
    std::vector<std::string> scopes_supported;
    std::vector<std::string> signing_algs;
    std::string documentation, policy_uri;
  } metadata;
  std::vector<std::pair<std::string, std::string>> claim_to_headers; // claim, header (lower)
  std::string authorization_server_metadata_url;
};

// securityPolicy.authorization: who may call which tool. Rules in order, the first that matches
// decides; none: defaultAction (Deny unless set).
struct MCPAuthorizationRule {
  std::vector<std::string> scopes; // source.jwt.scopes: all required
  struct Claim {
    std::string name;                // may be dotted (a nested claim)
    bool array = false;              // valueType StringArray
    std::vector<std::string> values; // any of them matches
  };
  std::vector<Claim> claims;                              // source.jwt.claims: all must match
  std::vector<std::pair<std::string, std::string>> tools; // target.tools: (backend, tool)
  bool has_source = false;
  bool allow = true; // action
  std::string cel;   // a CEL condition over the request (see mcp/cel.h)
};

struct MCPRouteAuthorization {
  bool default_allow = false;
  std::vector<MCPAuthorizationRule> rules;
};

struct MCPRoute {
  std::string name, namespace_;
  std::vector<std::string> parent_gateways;
  std::string path = "/mcp";
  std::vector<std::pair<std::string, std::string>> header_matches; // Exact, lower-cased names
  std::vector<std::string> hostnames;
  std::vector<MCPRouteBackendRef> backend_refs;
  bool prefix_never = false; // prefixMode: Never
  std::optional<MCPRouteOAuth> oauth;
  std::optional<MCPRouteAuthorization> authorization;
  // backendSelector: which backends a session gets, decided at initialize by CEL rules with
  // request.mcp.backend bound (first match wins; none: defaultAction, Deny unless set).
  struct BackendSelector {
    bool default_allow = false;
    std::vector<std::pair<std::string, bool>> rules; // cel, allow
  };
  std::optional<BackendSelector> backend_selector;
  // securityPolicy.apiKeyAuth (Envoy Gateway's APIKeyAuth): clients present a key from the
  // Secrets (client id → key), in a header or a query parameter.
  struct APIKeyAuth {
    std::vector<std::string> secrets; // credentialRefs, in the route's namespace
    std::vector<std::string> headers, params;
    std::string forward_client_id_header; // lower-case
    bool sanitize = false;
  };
  std::optional<APIKeyAuth> api_key_auth;
  std::string key() const { return namespace_ + "/" + name; }
};

// Decodes spec into `out`; problems are reported on `spec` with their field paths. Returns false
// when the route cannot be served (it is then left out).
bool decode_mcp_route(const Field &spec, MCPRoute &out);

} // namespace aigw::api
