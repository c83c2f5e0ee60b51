// The external processor's configuration in upstream's filterapi format (reference §8.2): the
// legacy single file (-configPath) or the bundle directory (-configBundlePath: index.yaml plus
// parts, checksum verified). Backends are compiled into the same CompiledBackend the standalone
// gateway uses, so both hosts run one pipeline. Thread-safety: plain values.
#pragma once

#include "control/snapshot.h"
#include "core/result.h"
#include "ratelimit/costs.h"

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace aigw::extproc {

struct RouteCosts {
  std::vector<ratelimit::CostSpec> costs;
};

struct FilterConfig {
  std::string uuid;
  std::string version;
  // By per-route-rule backend name (the upstream host metadata names it).
  std::map<std::string, std::shared_ptr<control::CompiledBackend>, std::less<>> backends;
  std::vector<ratelimit::CostSpec> global_costs;
  std::map<std::string, std::vector<ratelimit::CostSpec>, std::less<>> route_costs; // by route
  std::vector<control::ModelEntry> models;
  std::vector<control::CompiledMCPRoute> mcp_routes; // mcpConfig (served with -mcpAddr)
  std::string raw;                                   // the text it was read from
  // aigw's extension (aigwClients, written by aigw translate): the client policies by their
  // SecurityPolicy key, which guards each route (by route name) and requests before a route,
  // and the VirtualKeys.
  std::map<std::string, std::shared_ptr<const auth::ClientAuth>, std::less<>> client_policies;
  std::map<std::string, std::string, std::less<>> route_policies;
  std::string gateway_policy;
  ratelimit::VirtualKeys virtual_keys;
  // aigwResponseCache: the routes (by name) with aigw.run/response-cache, and their TTLs.
  std::map<std::string, std::chrono::seconds, std::less<>> route_cache_ttls;
};

// Errors name the field (`backends[2].schema.name: unknown schema "X"`).
Result<FilterConfig> parse_filter_config(std::string_view yaml);
// `path` is a file, or a bundle directory with index.yaml.
Result<FilterConfig> load_filter_config(const std::string &path);

// The configuration as the Snapshot pipeline::Exchange reads, so both hosts run one lifecycle:
// backends addressable by their per-route-rule name (Envoy picks them), one route per routeName
// with its costs then the global costs for keys it does not set (as upstream computes them), a
// first route with the global costs alone (a route Envoy names without costs), the models.
// Each call takes the next generation.
std::shared_ptr<const control::Snapshot> to_snapshot(const FilterConfig &cfg);

} // namespace aigw::extproc
