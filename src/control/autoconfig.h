// Configuration from the environment when no file is given, as upstream `aigw run` does:
// OPENAI_API_KEY with OPENAI_BASE_URL (its path is honoured as the schema prefix, which upstream
// loses), OPENAI_ORG_ID and OPENAI_PROJECT_ID, listening on 1975.
#pragma once

#include "control/env_expand.h"
#include "core/result.h"

#include <string>

namespace aigw::control {

// Returns the YAML text of the generated configuration, or an error saying what to set.
Result<std::string> autoconfig_yaml(const EnvLookup &env);

} // namespace aigw::control
