// GET /v1/models, built from the models the configuration declares (exact x-ai-eg-model matches),
// scoped by the request's host as upstream does.
#pragma once

#include "control/snapshot.h"

#include <string>
#include <string_view>

namespace aigw::pipeline {

std::string models_json(const control::Snapshot &snap, std::string_view host);

} // namespace aigw::pipeline
