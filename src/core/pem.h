// Checks on PEM certificates and keys (libcrypto), for configuration that carries them.
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>

namespace aigw {

// Empty when `cert_pem` holds at least one certificate and `key_pem` the private key of the
// first; otherwise what is wrong, in a sentence.
std::string check_key_pair(std::string_view cert_pem, std::string_view key_pem);

} // namespace aigw
