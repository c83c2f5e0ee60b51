// Helpers shared by the parts of `aigw translate` (translate.cc, translate_mcp.cc): reading
// resource documents and writing YAML the way upstream's Go serializer reads back.
#pragma once

#include "api/resources.h"

#include <yaml-cpp/yaml.h>

#include <string>
#include <string_view>

namespace aigw::control::yaml_out {

std::string ns_of(const YAML::Node &doc);   // metadata.namespace, default "default"
std::string name_of(const YAML::Node &doc); // metadata.name
std::string kind_of(const YAML::Node &doc);

// yaml.v2's rule for a plain scalar that would read back as something else (or not at all).
bool needs_quotes(std::string_view s);
// Appends `v` as a scalar (plain, quoted or a literal block) and a newline.
void append_scalar(std::string &o, std::string_view v, int indent);
// One `key: value` line (or block) at `indent` spaces.
void kv(std::string &o, int indent, std::string_view key, std::string_view value);
// `v` as a one-line scalar.
std::string quote(std::string_view v);

// A node as a YAML document (trailing newline). Scalars tagged "!" are written double-quoted.
std::string emit_node(const YAML::Node &n);

const api::Secret *find_secret(const api::Resources &res, const std::string &ns,
                               const std::string &name);

} // namespace aigw::control::yaml_out
