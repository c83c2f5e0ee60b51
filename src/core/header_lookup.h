// HeaderLookup: how request headers are read by routing, rate limiting and the request
// lifecycle, without tying any of them to an HTTP library or to a host.
#pragma once

#include <functional>
#include <optional>
#include <string_view>

namespace aigw {

// Returns the value of a request header by lower-case name, or nullopt.
using HeaderLookup = std::function<std::optional<std::string_view>(std::string_view)>;

namespace pipeline {
using aigw::HeaderLookup;
} // namespace pipeline

} // namespace aigw
