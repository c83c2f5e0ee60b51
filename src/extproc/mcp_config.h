// The filter configuration's `mcpConfig` (upstream's filterapi MCPConfig): the MCP routes the
// in-pod MCP proxy (`aigw extproc -mcpAddr`) serves behind Envoy. Envoy picks the route (the
// x-ai-eg-mcp-route header its HTTPRoute sets), authenticates the client, and routes each backend
// call that reaches its backend listener (backendListenerAddr) by the x-ai-eg-mcp-backend header,
// rewriting the path and injecting the backend's key. Thread-safety: plain values.
#pragma once

#include "control/snapshot.h"
#include "core/result.h"

#include <yaml-cpp/yaml.h>

#include <vector>

namespace aigw::extproc {

// Errors name the field (`mcpConfig.routes[0].backends[1].toolSelector.includeRegex[0]: ...`).
Result<std::vector<control::CompiledMCPRoute>> parse_mcp_config(const YAML::Node &mcp_config);

} // namespace aigw::extproc
