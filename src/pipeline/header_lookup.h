// HeaderLookup: how request headers are read by routing and rate limiting, without tying either
// to the HTTP library.
#pragma once

#include <functional>
#include <optional>
#include <string_view>

namespace aigw::pipeline {

// Returns the value of a request header by lower-case name, or nullopt.
using HeaderLookup = std::function<std::optional<std::string_view>(std::string_view)>;

} // namespace aigw::pipeline
