// `aigw translate` for MCPRoute: the resources upstream's MCPRoute controller creates
// (internal/controller/mcp_route.go, mcp_route_security_policy.go) and the `mcpConfig` section of
// the filter configuration (gateway.go mcpConfig).
//
// Per MCPRoute <route> in namespace <ns>:
//   - HTTPRoute ai-eg-mcp-main-<route>: spec.path (Exact) and spec.headers to the in-pod MCP proxy
//     (the shared Backend, port 9856), x-ai-eg-mcp-route: <ns>/<route> set, 30m timeouts, and with
//     OAuth the three well-known document rules;
//   - HTTPRoute ai-eg-mcp-br-<route>-<backend> per backendRef: x-ai-eg-mcp-backend and
//     x-ai-eg-mcp-route matched, the backend's path as ReplaceFullPath (with the query-parameter
//     key), an inline key as a RequestHeaderModifier;
//   - HTTPRouteFilter ai-eg-mcp-brf-<route>-<backend>: host rewrite, and credentialInjection of
//     Secret ai-eg-mcp-cred-<route>-<backend> (key `credential`) for a secretRef key;
//   - Backend ai-eg-mcp-proxy (one per namespace, 192.0.2.42:9856, managed-by label);
//   - with a client security policy: SecurityPolicy ai-eg-mcp-<route> (JWT provider
//     mcp-jwt-provider, apiKeyAuth, extAuth) on the main HTTPRoute;
//   - with OAuth: BackendTrafficPolicy ai-eg-mcp-<route>-oauth-protected-resource-metadata (the
//     401's WWW-Authenticate) and the direct-response HTTPRouteFilters of the protected-resource
//     and authorization-server documents (the latter fetched from the issuer, else upstream's
//     fallback document).
#pragma once

#include "api/resources.h"
#include "control/translate.h"

#include <yaml-cpp/yaml.h>

#include <string>
#include <vector>

namespace aigw::control::mcp_translate {

struct Doc {
  std::string ns, name, body; // body: one YAML document, without the leading "---"
};

struct Output {
  std::vector<Doc> http_routes, backends, filters, secrets, traffic_policies, security_policies;
};

// The generated resources for every MCPRoute in `docs`. Errors as upstream's reconcile fails:
// a JWKS that cannot be discovered from the issuer, a cross-namespace backend.
Result<Output> resources(const std::vector<YAML::Node> &docs, const api::Resources &res,
                         const HttpGet &get);

// The filter configuration's `mcpConfig:` block (empty without MCPRoutes).
std::string filter_config(const std::vector<YAML::Node> &docs);

// Upstream's fetch of an authorization server's RFC 8414 document: the four well-known
// variants in order, a 4xx moving to the next. The document as upstream re-marshals it
// (its fields in order, empty ones left out), or nullopt.
std::optional<std::string> fetch_server_metadata(const std::string &issuer, const HttpGet &get,
                                                 std::string *jwks_uri, std::string *error);

} // namespace aigw::control::mcp_translate
