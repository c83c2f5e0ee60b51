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

// The policy guarding route `r` (null: none).
std::shared_ptr<const auth::ClientAuth> client_auth_for(const std::vector<ClientPolicy> &policies,
                                                        const api::AIGatewayRoute &r);

// The policy targeting a Gateway (the first), for requests no route takes (null: none).
std::shared_ptr<const auth::ClientAuth>
gateway_client_auth(const std::vector<ClientPolicy> &policies);

} // namespace aigw::control
