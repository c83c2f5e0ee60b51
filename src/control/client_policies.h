// SecurityPolicy (client authentication) compiled: the Secrets and ConfigMaps it references
// resolved, every problem reported with the resource and field, and which policy guards which
// route (a policy targeting the route wins over one targeting its Gateway, as Envoy Gateway).
#pragma once

#include "api/resources.h"
#include "auth/client_auth.h"

#include <memory>
#include <vector>

namespace aigw::control {

struct ClientPolicy {
  const api::ClientSecurityPolicy *spec = nullptr;
  std::shared_ptr<const auth::ClientAuth> auth;
};

std::vector<ClientPolicy> compile_client_policies(const api::Resources &res,
                                                  api::Diagnostics &diag);

// The policy guarding route `r` (null: none): one targeting the route, else one targeting a
// Gateway among its parentRefs (namespace and name), else `gw` for a route with no parentRefs
// (attached to every Gateway aigw serves).
std::shared_ptr<const auth::ClientAuth> client_auth_for(const std::vector<ClientPolicy> &policies,
                                                        const api::AIGatewayRoute &r,
                                                        std::shared_ptr<const auth::ClientAuth> gw);

// The policy targeting a Gateway of this configuration (namespace and name; any Gateway when
// the configuration declares none), for requests no route takes (null: none). Two policies on
// Gateways are an error: aigw serves every Gateway on one listener set.
std::shared_ptr<const auth::ClientAuth>
gateway_client_auth(const std::vector<ClientPolicy> &policies, const api::Resources &res,
                    api::Diagnostics &diag);

} // namespace aigw::control
