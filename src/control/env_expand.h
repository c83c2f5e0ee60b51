// `${VAR}` expansion of a configuration file before it is parsed, as upstream `aigw run` does
// (envsubst): `${VAR}` and `${VAR:-default}`; an unset variable becomes empty and is reported.
// A bare `$` (as in a regular expression `^gpt-.*$`) is left alone, and so are YAML comments
// (`#` at the start of a line or after whitespace, outside quotes and block scalars), so that a
// commented-out line neither changes nor warns.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace aigw::control {

using EnvLookup = std::function<std::optional<std::string>(const std::string &)>;

EnvLookup process_env();

// `unset` receives the names of variables that were referenced but not set (no default) and,
// when given, `unset_at` the offset in `text` of each of those references.
std::string expand_env(std::string_view text, const EnvLookup &env, std::vector<std::string> *unset,
                       std::vector<size_t> *unset_at = nullptr);

} // namespace aigw::control
