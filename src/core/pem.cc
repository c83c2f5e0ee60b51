// PEM checks; see pem.h.
#include "core/pem.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <memory>

namespace aigw {
namespace {

struct BioFree {
  void operator()(BIO *b) const { BIO_free(b); }
};
struct X509Free {
  void operator()(X509 *x) const { X509_free(x); }
};
struct KeyFree {
  void operator()(EVP_PKEY *k) const { EVP_PKEY_free(k); }
};

std::unique_ptr<BIO, BioFree> memory_bio(std::string_view s) {
  return std::unique_ptr<BIO, BioFree>(BIO_new_mem_buf(s.data(), static_cast<int>(s.size())));
}

} // namespace

std::string load_key_pair(SSL_CTX *ctx, std::string_view cert_pem, std::string_view key_pem) {
  auto cb = memory_bio(cert_pem);
  std::unique_ptr<X509, X509Free> leaf(PEM_read_bio_X509(cb.get(), nullptr, nullptr, nullptr));
  bool ok = leaf && SSL_CTX_use_certificate(ctx, leaf.get()) == 1;
  while (ok) {
    X509 *extra = PEM_read_bio_X509(cb.get(), nullptr, nullptr, nullptr);
    if (!extra) break;
    ok = SSL_CTX_add0_chain_cert(ctx, extra) == 1; // takes it
    if (!ok) X509_free(extra);
  }
  if (ok) {
    ERR_clear_error(); // the end of the chain reads as an error
    auto kb = memory_bio(key_pem);
    std::unique_ptr<EVP_PKEY, KeyFree> key(
        PEM_read_bio_PrivateKey(kb.get(), nullptr, nullptr, nullptr));
    ok = key && SSL_CTX_use_PrivateKey(ctx, key.get()) == 1 && SSL_CTX_check_private_key(ctx) == 1;
  }
  if (ok) return {};
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  const char *why = ERR_reason_error_string(e);
  return why ? why : "unknown reason";
}

std::string check_key_pair(std::string_view cert_pem, std::string_view key_pem) {
  auto cb = memory_bio(cert_pem);
  std::unique_ptr<X509, X509Free> cert(PEM_read_bio_X509(cb.get(), nullptr, nullptr, nullptr));
  if (!cert) {
    ERR_clear_error();
    return "tls.crt holds no PEM certificate";
  }
  auto kb = memory_bio(key_pem);
  std::unique_ptr<EVP_PKEY, KeyFree> key(
      PEM_read_bio_PrivateKey(kb.get(), nullptr, nullptr, nullptr));
  if (!key) {
    ERR_clear_error();
    return "tls.key holds no PEM private key (an encrypted key is not supported)";
  }
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    ERR_clear_error();
    return "tls.key is not the private key of the certificate in tls.crt";
  }
  // What a server context accepts (OpenSSL's security level refuses short keys and weak
  // signatures), so a certificate that parses but cannot be served is refused here, not later.
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_server_method()),
                                                        SSL_CTX_free);
  if (!ctx) return "OpenSSL could not make a server context";
  auto refused = load_key_pair(ctx.get(), cert_pem, key_pem);
  if (!refused.empty()) return "OpenSSL refuses it for a TLS server: " + refused;
  return {};
}

} // namespace aigw
