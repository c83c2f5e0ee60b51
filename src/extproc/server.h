// `aigw extproc`: hosts the ext_proc phases (processor.h) on a gRPC server
// (envoy.service.ext_proc.v3.ExternalProcessor and grpc.health.v1.Health), with an admin HTTP
// port (/health, /metrics) and a configuration file watched for changes.
#pragma once

#include "observability/ledger.h"
#include <cstdint>
#include <string>

namespace aigw::extproc {

struct ExtprocOptions {
  std::string config_path;        // -configPath: the filterapi YAML file
  std::string config_bundle_path; // -configBundlePath: a bundle directory (index.yaml + parts)
  std::string address = ":1063";  // -extProcAddr: host:port, :port, or unix:///path
  uint16_t admin_port = 1064;     // -adminPort
  std::string root_prefix = "/";  // -rootPrefix
  std::string
      endpoint_prefixes; // -endpointPrefixes: "openai:/,cohere:/cohere,anthropic:/anthropic"
  int max_recv_msg_size = 512 * 1024 * 1024; // -maxRecvMsgSize
  int reload_interval_ms = 1000;
  observability::LedgerOptions ledger; // -usageLedger*, -priceCatalog
  // The response cache (routes with aigw.run/response-cache): this process's memory.
  size_t response_cache_max_bytes = 256 * 1024 * 1024; // -responseCacheMaxBytes
  size_t response_cache_max_entry = 1024 * 1024;       // -responseCacheMaxEntryBytes
  // -mcpAddr: the MCP proxy behind Envoy (mcpConfig's routes), with upstream's session flags.
  std::string mcp_address;
  std::string mcp_session_seed = "default-insecure-seed";
  int mcp_session_iterations = 100000;
  std::string mcp_fallback_session_seed;
  int mcp_fallback_session_iterations = 100000;
};

// Serves until SIGINT/SIGTERM. Returns the exit code.
int run_extproc(const ExtprocOptions &opts);

} // namespace aigw::extproc
