// src/tls/identity.cpp: the TLS error category, pins and fingerprints, certificate files and
// ephemeral self-signed certificates.
#include <tether/tls.hpp>

#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/bn.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>

#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>

namespace tether {

namespace {

class TlsCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "tls"; }
  std::string message(int value) const override {
    switch (static_cast<TlsErrc>(value)) {
      case TlsErrc::handshake_failed: return "TLS handshake failed";
      case TlsErrc::cert_expired: return "certificate verify failed: certificate has expired";
      case TlsErrc::cert_not_yet_valid: return "certificate verify failed: certificate is not yet valid";
      case TlsErrc::unknown_ca: return "certificate verify failed: unknown CA (unable to get issuer certificate)";
      case TlsErrc::self_signed: return "certificate verify failed: self-signed certificate";
      case TlsErrc::name_mismatch: return "certificate verify failed: name mismatch (certificate is not for this host)";
      case TlsErrc::bad_certificate: return "certificate verify failed";
      case TlsErrc::pin_mismatch: return "certificate does not match the pinned SHA-256 fingerprint";
      case TlsErrc::no_peer_certificate: return "peer did not send a certificate (one is required)";
      case TlsErrc::peer_rejected_certificate: return "peer rejected our certificate";
      case TlsErrc::peer_requires_certificate: return "peer requires a client certificate";
      case TlsErrc::no_common_protocol: return "no TLS version or cipher in common with the peer";
      case TlsErrc::not_tls: return "peer does not speak TLS";
      case TlsErrc::handshake_eof: return "connection closed during the TLS handshake";
      case TlsErrc::tls_truncated: return "TLS connection truncated (closed without close_notify)";
      case TlsErrc::protocol_error: return "TLS protocol error (bad record)";
      case TlsErrc::already_shut_down: return "TLS write after shutdown";
      case TlsErrc::bad_cert_file: return "cannot read the certificate (PEM)";
      case TlsErrc::bad_key_file: return "cannot read the private key (PEM)";
      case TlsErrc::key_mismatch: return "the private key does not match the certificate";
      case TlsErrc::bad_ca_file: return "cannot read the CA certificates";
      case TlsErrc::bad_pin: return "bad pin (expected sha256: and 64 hex digits)";
      case TlsErrc::bad_alpn: return "bad ALPN protocol name";
      case TlsErrc::internal: return "TLS library failure";
    }
    return "unknown TLS error";
  }
};

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

Result<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail(errno_code(errno != 0 ? errno : ENOENT));
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

template <class T, void (*Free)(T*)>
struct Deleter {
  void operator()(T* p) const noexcept { Free(p); }
};
using X509Ptr = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using BioPtr = std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>>;

std::string bio_text(BIO* bio) {
  char* data = nullptr;
  const long len = BIO_ctrl(bio, BIO_CTRL_INFO, 0, &data);
  return len > 0 ? std::string(data, static_cast<std::size_t>(len)) : std::string();
}

bool is_ip(const std::string& name) {
  unsigned char buf[16];
  return ::inet_pton(AF_INET, name.c_str(), buf) == 1 || ::inet_pton(AF_INET6, name.c_str(), buf) == 1;
}

}  // namespace

const std::error_category& tls_category() noexcept {
  static const TlsCategory category;
  return category;
}

std::error_code make_error_code(TlsErrc e) noexcept { return {static_cast<int>(e), tls_category()}; }

Result<Sha256> parse_pin(std::string_view text) {
  constexpr std::string_view prefix = "sha256:";
  if (text.size() < prefix.size() || text.substr(0, prefix.size()) != prefix) return fail(TlsErrc::bad_pin);
  text.remove_prefix(prefix.size());
  Sha256 d{};
  std::size_t nibbles = 0;
  for (char c : text) {
    if (c == ':') continue;
    const int v = hex_value(c);
    if (v < 0 || nibbles >= 64) return fail(TlsErrc::bad_pin);
    d[nibbles / 2] = static_cast<std::uint8_t>(d[nibbles / 2] | (nibbles % 2 == 0 ? v << 4 : v));
    ++nibbles;
  }
  if (nibbles != 64) return fail(TlsErrc::bad_pin);
  return d;
}

std::string to_hex(const Sha256& digest) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string s;
  s.reserve(64);
  for (std::uint8_t b : digest) {
    s.push_back(digits[b >> 4]);
    s.push_back(digits[b & 15]);
  }
  return s;
}

Result<TlsIdentity> TlsIdentity::load(const std::string& cert_file, const std::string& key_file) {
  auto cert = read_file(cert_file);
  if (!cert) return fail(TlsErrc::bad_cert_file);
  auto key = read_file(key_file);
  if (!key) return fail(TlsErrc::bad_key_file);
  return TlsIdentity{std::move(*cert), std::move(*key)};
}

Result<Sha256> TlsIdentity::fingerprint() const {
  BioPtr bio(BIO_new_mem_buf(cert_pem.data(), static_cast<int>(cert_pem.size())));
  X509Ptr cert(bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  ERR_clear_error();
  if (!cert) return fail(TlsErrc::bad_cert_file);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (X509_digest(cert.get(), EVP_sha256(), md, &len) != 1 || len != 32) return fail(TlsErrc::internal);
  Sha256 d;
  std::memcpy(d.data(), md, 32);
  return d;
}

Result<TlsIdentity> TlsIdentity::ephemeral(const std::vector<std::string>& names) {
  PkeyPtr key(EVP_EC_gen("P-256"));
  X509Ptr cert(X509_new());
  if (!key || !cert) return fail(TlsErrc::internal);
  X509* x = cert.get();
  bool ok = X509_set_version(x, 2) == 1;
  unsigned char serial[16];
  if (RAND_bytes(serial, sizeof serial) == 1) {
    serial[0] &= 0x7f;  // positive
    BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
    ok = ok && bn != nullptr && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != nullptr;
    BN_free(bn);
  } else {
    ok = false;
  }
  ok = ok && X509_gmtime_adj(X509_getm_notBefore(x), -3600) != nullptr &&
       X509_gmtime_adj(X509_getm_notAfter(x), 30L * 24 * 3600) != nullptr &&
       X509_set_pubkey(x, key.get()) == 1;
  X509_NAME* subject = X509_get_subject_name(x);
  const std::string cn = names.empty() ? std::string("tether ephemeral") : names.front();
  ok = ok && X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_UTF8,
                                        reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0) == 1 &&
       X509_set_issuer_name(x, subject) == 1;
  if (ok && !names.empty()) {
    std::string san;
    for (const auto& n : names) {
      if (!san.empty()) san += ',';
      san += (is_ip(n) ? "IP:" : "DNS:") + n;
    }
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, x, x, nullptr, nullptr, 0);
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &v3, NID_subject_alt_name, san.c_str());
    ok = ext != nullptr && X509_add_ext(x, ext, -1) == 1;
    X509_EXTENSION_free(ext);
  }
  ok = ok && X509_sign(x, key.get(), EVP_sha256()) > 0;
  BioPtr cert_bio(BIO_new(BIO_s_mem()));
  BioPtr key_bio(BIO_new(BIO_s_mem()));
  ok = ok && cert_bio && key_bio && PEM_write_bio_X509(cert_bio.get(), x) == 1 &&
       PEM_write_bio_PrivateKey(key_bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) == 1;
  ERR_clear_error();
  if (!ok) return fail(TlsErrc::internal);
  return TlsIdentity{bio_text(cert_bio.get()), bio_text(key_bio.get())};
}

}  // namespace tether
