// The encryption of MCP session ids, compatible with upstream's: PBKDF2-SHA256 over the seed with
// a random 16-byte salt (32-byte key), AES-256-GCM with a random 12-byte nonce; the id is
// base64(salt || nonce || ciphertext || tag). A gateway restarted with the same seed, or another
// replica, reads the ids this one wrote; a fallback seed keeps old ids readable during rotation.
#pragma once

#include <cstdint>
#include <list>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace aigw::mcp {

class SessionCrypto {
public:
  static constexpr const char *kDefaultSeed = "default-insecure-seed"; // upstream's default
  static constexpr int kDefaultIterations = 100000;

  SessionCrypto(std::string seed, int iterations, std::string fallback_seed = {},
                int fallback_iterations = kDefaultIterations);

  std::string encrypt(std::string_view plaintext);
  // nullopt when the id was not written with either seed (or was altered).
  std::optional<std::string> decrypt(std::string_view encrypted);

private:
  struct Seed {
    std::string seed;
    int iterations;
  };
  std::optional<std::string> decrypt_with(const Seed &s, std::string_view data);
  // PBKDF2 is slow on purpose: keys of salts that opened an id are cached, boundedly.
  static std::string derive(const Seed &s, std::string_view salt);
  std::optional<std::string> cached(const Seed &s, std::string_view salt);
  void remember(const Seed &s, std::string_view salt, const std::string &key);

  Seed primary_;
  std::optional<Seed> fallback_;
  std::mutex mu_;
  std::map<std::string, std::string> keys_; // seed index + salt -> key
  std::list<std::string> order_;            // oldest first, for eviction
  std::string own_salt_, own_key_;          // what this process encrypts with
};

} // namespace aigw::mcp
