// GET /v1/models, built from the models the configuration declares (exact x-ai-eg-model matches),
// scoped by the request's host as upstream does.
#pragma once

#include "control/snapshot.h"

#include <optional>
#include <string>
#include <string_view>

namespace aigw::pipeline {

std::string models_json(const control::Snapshot &snap, std::string_view host);
// GET /anthropic/v1/models: the same catalog as Anthropic's ModelList
// ({data: [{type, id, display_name, created_at}], has_more, first_id, last_id}).
std::string anthropic_models_json(const control::Snapshot &snap, std::string_view host);
// GET /v1/models/{id}: the one model (`id` decoded) in the catalog this host is served, or
// nullopt.
std::optional<std::string> model_json(const control::Snapshot &snap, std::string_view host,
                                      std::string_view id);
// %XX sequences decoded (a path segment as a client's SDK escapes it).
std::string percent_decode(std::string_view s);

} // namespace aigw::pipeline
