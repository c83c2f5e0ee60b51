// Standard base64 (RFC 4648) encoding and strict decoding.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace aigw {

std::string base64_encode(std::string_view in);
// Returns nullopt on any character outside the alphabet or bad padding. Whitespace is ignored.
std::optional<std::string> base64_decode(std::string_view in);

} // namespace aigw
