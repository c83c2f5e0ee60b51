// `aigw translate`: what upstream's controller would apply to Envoy Gateway for these resources —
// the HTTPRoute per AIGatewayRoute (x-ai-eg-model matches, host rewrite, the route-not-found
// rule), the two HTTPRouteFilters, the external processor's filter configuration (filterapi
// format, as the legacy Secret and the bundle index + part Secrets), and every other resource
// passed through. Thread-safety: a pure function.
#pragma once

#include "control/env_expand.h"
#include "core/result.h"

#include <functional>
#include <string>
#include <string_view>
#include <utility>

namespace aigw::control {

// A blocking HTTP GET: the status and the body. Used where upstream's controller reads the
// network (an MCPRoute issuer's authorization-server metadata).
using HttpGet = std::function<Result<std::pair<int, std::string>>(const std::string &url)>;

// Returns the multi-document YAML, or the configuration's errors. Without `get`, nothing is
// fetched: an OAuth issuer's metadata falls back as upstream's does when it cannot be read.
Result<std::string> translate_config(std::string_view text, const EnvLookup &env,
                                     const HttpGet &get = {});

// The filterapi configuration text (YAML, upstream's key order and scalar style) for the routes
// of all Gateways, as the filter-config.yaml key of the generated Secret.
Result<std::string> filter_config_yaml(std::string_view text, const EnvLookup &env);

} // namespace aigw::control
