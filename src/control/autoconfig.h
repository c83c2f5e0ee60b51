// Configuration from the environment when no file is given, as upstream `aigw run` does:
// OPENAI_API_KEY with OPENAI_BASE_URL (its path is honoured as the schema prefix, which upstream
// loses), OPENAI_ORG_ID and OPENAI_PROJECT_ID, listening on 1975.
#pragma once

#include "control/env_expand.h"
#include "core/result.h"

#include <string>

namespace aigw::control {

// Returns the YAML text of the generated configuration, or an error saying what to set.
// `mcp_servers`: upstream's `--mcp-config` / `--mcp-json`, an MCP clients' `{"mcpServers": {...}}`
// document; its Streamable HTTP servers become the backends of an MCPRoute on /mcp. With it, no
// provider key is needed.
Result<std::string> autoconfig_yaml(const EnvLookup &env, std::string_view mcp_servers = {});

// The MCPRoute, Backends and keys of an `{"mcpServers": {...}}` document, as upstream's
// autoconfig writes them (servers sorted by name; `Authorization: Bearer` as the backend's API
// key, one other header as an API key under that header; `includeTools` as the tool selector).
Result<std::string> mcp_servers_yaml(std::string_view json);

} // namespace aigw::control
