#include "tls_pki.hpp"

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace tether::testing {

namespace {

bool is_ip(const std::string& n) {
  unsigned char b[16];
  return inet_pton(AF_INET, n.c_str(), b) == 1 || inet_pton(AF_INET6, n.c_str(), b) == 1;
}

void add_ext(X509* x, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX v3;
  X509V3_set_ctx_nodb(&v3);
  X509V3_set_ctx(&v3, issuer, x, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &v3, nid, value.c_str());
  ASSERT_NE(ext, nullptr) << value;
  X509_add_ext(x, ext, -1);
  X509_EXTENSION_free(ext);
}

EVP_PKEY* read_key(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "r");
  if (f == nullptr) return nullptr;
  EVP_PKEY* k = PEM_read_PrivateKey(f, nullptr, nullptr, nullptr);
  std::fclose(f);
  return k;
}

X509* read_cert(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "r");
  if (f == nullptr) return nullptr;
  X509* c = PEM_read_X509(f, nullptr, nullptr, nullptr);
  std::fclose(f);
  return c;
}

}  // namespace

std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

TestPki::TestPki() : dir_("tls-pki") {
  std::filesystem::create_directories(dir_.str());
  issue({"ca", {"tether test CA"}, -86400, 3650L * 86400, ""});
  issue({"other-ca", {"other test CA"}, -86400, 3650L * 86400, ""});
  issue({"server", {"localhost", "127.0.0.1", "::1"}});
  issue({"expired", {"localhost", "127.0.0.1"}, -10L * 86400, -86400});
  issue({"not-yet-valid", {"localhost", "127.0.0.1"}, 86400, 10L * 86400});
  issue({"wrong-name", {"other.example"}});
  issue({"client", {"client"}});
  issue({"stranger", {"stranger"}, -3600, 30L * 86400, "other-ca"});
  issue({"self-signed", {"localhost", "127.0.0.1"}, -3600, 30L * 86400, ""});
}

TlsIdentity TestPki::identity(const std::string& name) const {
  return {read_text_file(cert(name)), read_text_file(key(name))};
}

void TestPki::issue(const CertSpec& spec) {
  EVP_PKEY* pkey = EVP_EC_gen("P-256");
  ASSERT_NE(pkey, nullptr);
  X509* x = X509_new();
  X509_set_version(x, 2);
  unsigned char serial[8];
  RAND_bytes(serial, sizeof serial);
  serial[0] &= 0x7f;
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x));
  BN_free(bn);
  X509_gmtime_adj(X509_getm_notBefore(x), spec.not_before_s);
  X509_gmtime_adj(X509_getm_notAfter(x), spec.not_after_s);
  X509_set_pubkey(x, pkey);
  X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(spec.sans.front().c_str()), -1, -1, 0);
  const bool is_ca = spec.name == "ca" || spec.name == "other-ca";
  X509* issuer = x;
  EVP_PKEY* issuer_key = pkey;
  if (!spec.issuer.empty()) {
    issuer = read_cert(cert(spec.issuer));
    issuer_key = read_key(key(spec.issuer));
    ASSERT_TRUE(issuer != nullptr && issuer_key != nullptr);
  }
  X509_set_issuer_name(x, X509_get_subject_name(issuer));
  if (is_ca) {
    add_ext(x, issuer, NID_basic_constraints, "critical,CA:TRUE");
    add_ext(x, issuer, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    std::string san;
    for (const auto& n : spec.sans) san += (san.empty() ? "" : ",") + std::string(is_ip(n) ? "IP:" : "DNS:") + n;
    add_ext(x, issuer, NID_subject_alt_name, san);
    add_ext(x, issuer, NID_basic_constraints, "CA:FALSE");
  }
  add_ext(x, issuer, NID_subject_key_identifier, "hash");
  ASSERT_GT(X509_sign(x, issuer_key, EVP_sha256()), 0);
  std::FILE* cf = std::fopen(cert(spec.name).c_str(), "w");
  std::FILE* kf = std::fopen(key(spec.name).c_str(), "w");
  ASSERT_TRUE(cf != nullptr && kf != nullptr);
  PEM_write_X509(cf, x);
  PEM_write_PrivateKey(kf, pkey, nullptr, nullptr, 0, nullptr, nullptr);
  std::fclose(cf);
  std::fclose(kf);
  if (issuer != x) {
    X509_free(issuer);
    EVP_PKEY_free(issuer_key);
  }
  X509_free(x);
  EVP_PKEY_free(pkey);
}

}  // namespace tether::testing
