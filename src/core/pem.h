// Checks on PEM certificates and keys (libcrypto), for configuration that carries them.
// Thread-safety: pure functions.
#pragma once

#include <openssl/types.h>

#include <string>
#include <string_view>

namespace aigw {

// Empty when `cert_pem` holds at least one certificate and `key_pem` the private key of the
// first; otherwise what is wrong, in a sentence.
std::string check_key_pair(std::string_view cert_pem, std::string_view key_pem);

// Loads the certificate (leaf first, then its chain) and its key into a server context, in the
// slot for the key's type. Empty when done, else OpenSSL's reason.
std::string load_key_pair(SSL_CTX *ctx, std::string_view cert_pem, std::string_view key_pem);

} // namespace aigw
