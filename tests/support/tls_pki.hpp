// A throwaway PKI for the TLS tests, made in process with OpenSSL: a CA, certificates it signs
// (good, expired, for another name, client), a second CA's client certificate and a self-signed
// one. Each is written as DIR/NAME.pem and DIR/NAME.key for the CLI and the external peers.
#pragma once

#include "testing.hpp"

#include <tether/tls.hpp>

#include <memory>
#include <string>
#include <vector>

namespace tether::testing {

struct CertSpec {
  std::string name;                 ///< file stem
  std::vector<std::string> sans;    ///< DNS names / IP literals; the first is the CN
  long not_before_s = -3600;        ///< validity relative to now, in seconds
  long not_after_s = 30L * 86400;
  std::string issuer = "ca";        ///< "ca", "other-ca" or "" (self-signed)
};

class TestPki {
 public:
  /// ca, other-ca, server (localhost, 127.0.0.1, ::1), expired, wrong-name (other.example),
  /// not-yet-valid, client (CN client), stranger (client signed by other-ca), self-signed.
  TestPki();
  const std::string& dir() const noexcept { return dir_.str(); }
  std::string cert(const std::string& name) const { return dir() + "/" + name + ".pem"; }
  std::string key(const std::string& name) const { return dir() + "/" + name + ".key"; }
  /// The identity (PEM text) of `name`.
  TlsIdentity identity(const std::string& name) const;

 private:
  void issue(const CertSpec& spec);
  TempPath dir_;
};

/// The contents of a file ("" when it cannot be read).
std::string read_text_file(const std::string& path);

}  // namespace tether::testing
