// tls_support.hpp: helpers for the tests that drive `tether` with TLS (tests/cli/tls_*,
// tests/cli/relay_tls_test.cpp, tests/interop/interop_tls_test.cpp): a `listen --tls` and its
// port, the fingerprint an ephemeral certificate printed, a client pinned to it, reading to the
// end. free_port and wait_listening (for openssl s_server -quiet) come from testing.hpp.
#pragma once

#include "cli_support.hpp"

#include <tether/endpoint.hpp>
#include <tether/tcp.hpp>
#include <tether/tls.hpp>

#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace tether::testing::cli {

using tether::testing::free_port;       // testing.hpp
using tether::testing::wait_listening;

/// `tether listen --tls ARGS --json 127.0.0.1 0` and its port once it listens.
struct TlsListener {
  Process process;
  std::uint16_t port = 0;
};

inline TlsListener listen_tls(std::vector<std::string> args, int stdin_fd = -1) {
  args.insert(args.begin(), {tether_path(), "listen", "--tls"});
  for (const char* a : {"--json", "127.0.0.1", "0"}) args.emplace_back(a);
  TlsListener l{Process::start(args, stdin_fd), 0};
  l.port = port_of(listening_endpoint(l.process));
  EXPECT_NE(l.port, 0) << l.process.err();
  return l;
}

/// The fingerprint an ephemeral listener (listen --tls, relay tls-listen:) printed ("sha256:HEX").
inline std::string ephemeral_pin(const Process& p) {
  auto line = p.wait_for_err_line("\"tls_certificate\"");
  if (!line) return {};
  auto obj = parse_json_object(*line);
  return obj ? obj->at("fingerprint") : std::string();
}

/// A blocking TLS client on 127.0.0.1:port that trusts only the certificate `pin` names.
inline Result<TlsStream> pinned_client(std::uint16_t port, const std::string& pin) {
  TlsOptions o;
  o.pin = *parse_pin(pin);
  auto ctx = TlsContext::client(o);
  auto tcp = TcpStream::connect(Endpoint::ipv4_loopback(port), 5s);
  if (!ctx || !tcp) return fail(make_error_code(Errc::closed));
  return TlsStream::connect(std::move(*tcp), *ctx, "localhost", 5s);
}

/// Everything until the peer's end (close_notify) or an error; each read waits up to `per_read`.
inline std::string read_all_tls(TlsStream& s, std::chrono::milliseconds per_read) {
  std::string out;
  std::array<char, 65536> buf;
  for (;;) {
    auto n = s.read_some(buf, Deadline(per_read));
    if (!n || *n == 0) break;
    out.append(buf.data(), *n);
  }
  return out;
}

}  // namespace tether::testing::cli
