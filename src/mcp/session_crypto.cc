// MCP session id encryption; see session_crypto.h.
#include "mcp/session_crypto.h"

#include "core/base64.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <cstring>
#include <memory>

namespace aigw::mcp {
namespace {

constexpr size_t kSaltSize = 16, kNonceSize = 12, kTagSize = 16, kKeySize = 32;
constexpr size_t kMaxCachedKeys = 4096;

using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)>;

} // namespace

SessionCrypto::SessionCrypto(std::string seed, int iterations, std::string fallback_seed,
                             int fallback_iterations)
    : primary_{std::move(seed), iterations} {
  if (!fallback_seed.empty()) fallback_ = Seed{std::move(fallback_seed), fallback_iterations};
}

std::string SessionCrypto::derive(const Seed &s, std::string_view salt) {
  std::string key(kKeySize, '\0');
  PKCS5_PBKDF2_HMAC(s.seed.data(), static_cast<int>(s.seed.size()),
                    reinterpret_cast<const unsigned char *>(salt.data()),
                    static_cast<int>(salt.size()), s.iterations, EVP_sha256(),
                    static_cast<int>(kKeySize), reinterpret_cast<unsigned char *>(key.data()));
  return key;
}

std::optional<std::string> SessionCrypto::cached(const Seed &s, std::string_view salt) {
  std::string cache_key = (&s == &primary_ ? "p" : "f") + std::string(salt);
  std::lock_guard lock(mu_);
  if (&s == &primary_ && salt == own_salt_ && !own_key_.empty()) return own_key_;
  if (auto it = keys_.find(cache_key); it != keys_.end()) return it->second;
  return std::nullopt;
}

void SessionCrypto::remember(const Seed &s, std::string_view salt, const std::string &key) {
  // Only keys that opened an id are kept: salts a client makes up never evict real sessions'.
  std::string cache_key = (&s == &primary_ ? "p" : "f") + std::string(salt);
  std::lock_guard lock(mu_);
  if (keys_.emplace(cache_key, key).second) {
    order_.push_back(cache_key);
    if (order_.size() > kMaxCachedKeys) {
      keys_.erase(order_.front());
      order_.pop_front();
    }
  }
}

std::string SessionCrypto::encrypt(std::string_view plaintext) {
  std::string out(kSaltSize + kNonceSize + plaintext.size() + kTagSize, '\0');
  auto *bytes = reinterpret_cast<unsigned char *>(out.data());
  // One salt per process (its key derived once, PBKDF2 being slow on purpose), a fresh nonce
  // per id: ids stay in upstream's layout and any replica derives the key from the salt in them.
  std::string key;
  {
    std::lock_guard lock(mu_);
    if (own_key_.empty()) {
      own_salt_.assign(kSaltSize, '\0');
      RAND_bytes(reinterpret_cast<unsigned char *>(own_salt_.data()), static_cast<int>(kSaltSize));
      own_key_ = derive(primary_, own_salt_);
    }
    key = own_key_;
    std::memcpy(bytes, own_salt_.data(), kSaltSize);
  }
  RAND_bytes(bytes + kSaltSize, static_cast<int>(kNonceSize));
  CipherCtx ctx(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
  int len = 0;
  EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr,
                     reinterpret_cast<const unsigned char *>(key.data()), bytes + kSaltSize);
  EVP_EncryptUpdate(ctx.get(), bytes + kSaltSize + kNonceSize, &len,
                    reinterpret_cast<const unsigned char *>(plaintext.data()),
                    static_cast<int>(plaintext.size()));
  EVP_EncryptFinal_ex(ctx.get(), bytes + kSaltSize + kNonceSize + len, &len);
  EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTagSize,
                      bytes + kSaltSize + kNonceSize + plaintext.size());
  return base64_encode(out);
}

std::optional<std::string> SessionCrypto::decrypt_with(const Seed &s, std::string_view data) {
  std::string_view salt = data.substr(0, kSaltSize);
  auto hit = cached(s, salt);
  std::string key = hit ? *hit : derive(s, salt);
  const auto *bytes = reinterpret_cast<const unsigned char *>(data.data());
  size_t ct_size = data.size() - kSaltSize - kNonceSize - kTagSize;
  std::string plain(ct_size, '\0');
  CipherCtx ctx(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
  int len = 0;
  EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr,
                     reinterpret_cast<const unsigned char *>(key.data()), bytes + kSaltSize);
  if (EVP_DecryptUpdate(ctx.get(), reinterpret_cast<unsigned char *>(plain.data()), &len,
                        bytes + kSaltSize + kNonceSize, static_cast<int>(ct_size)) != 1)
    return std::nullopt;
  EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTagSize,
                      const_cast<unsigned char *>(bytes + data.size() - kTagSize));
  int final_len = 0;
  if (EVP_DecryptFinal_ex(ctx.get(), reinterpret_cast<unsigned char *>(plain.data()) + len,
                          &final_len) != 1)
    return std::nullopt; // wrong seed, or the id was altered
  if (!hit) remember(s, salt, key);
  return plain;
}

std::optional<std::string> SessionCrypto::decrypt(std::string_view encrypted) {
  auto data = base64_decode(encrypted);
  if (!data || data->size() < kSaltSize + kNonceSize + kTagSize) return std::nullopt;
  if (auto p = decrypt_with(primary_, *data)) return p;
  if (fallback_) return decrypt_with(*fallback_, *data);
  return std::nullopt;
}

} // namespace aigw::mcp
