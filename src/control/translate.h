// `aigw translate`: what upstream's controller would apply to Envoy Gateway for these resources —
// the HTTPRoute per AIGatewayRoute (x-ai-eg-model matches, host rewrite, the route-not-found
// rule), the two HTTPRouteFilters, the external processor's filter configuration (filterapi
// format, as the legacy Secret and the bundle index + part Secrets), and every other resource
// passed through. Thread-safety: a pure function.
#pragma once

#include "control/env_expand.h"
#include "core/result.h"

#include <string>
#include <string_view>

namespace aigw::control {

// Returns the multi-document YAML, or the configuration's errors.
Result<std::string> translate_config(std::string_view text, const EnvLookup &env);

// The filterapi configuration text (YAML, upstream's key order and scalar style) for the routes
// of all Gateways, as the filter-config.yaml key of the generated Secret.
Result<std::string> filter_config_yaml(std::string_view text, const EnvLookup &env);

} // namespace aigw::control
