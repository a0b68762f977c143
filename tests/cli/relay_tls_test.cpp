// tether relay with tls: and tls-listen: addresses: 10 MB byte-exact through tls<->tcp against
// socat OPENSSL, concurrent TLS clients, half-close, verification failures, usage errors.
#include "relay_support.hpp"
#include "tls_pki.hpp"
#include "tls_support.hpp"

#include <tether/tls.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <optional>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using namespace tether;
using namespace tether::testing::cli;
namespace tt = tether::testing;

namespace {

constexpr std::size_t ten_mb = 10 * 1000 * 1000;

std::string tcp_at(const std::string& port) { return "tcp:127.0.0.1:" + port; }

/// The port a `socat -d -d ... OPENSSL-LISTEN:0` reports ("listening on AF=2 127.0.0.1:PORT").
std::uint16_t socat_port(const Process& p) {
  auto line = p.wait_for_err_line("listening on", 10s);
  if (!line) return 0;
  auto colon = line->rfind(':');
  return colon == std::string::npos ? 0 : static_cast<std::uint16_t>(std::stoi(line->substr(colon + 1)));
}

/// Everything up to the peer's end of stream; nullopt if the stream failed or timed out first.
std::optional<std::string> read_to_eof(TcpStream& s) {
  std::string out;
  std::array<char, 65536> buf;
  for (;;) {
    auto n = s.read_some(buf, Deadline(10s));
    if (!n) return std::nullopt;
    if (*n == 0) return out;
    out.append(buf.data(), *n);
  }
}

TEST(RelayTlsTest, TlsListenToTcpTenMegabytesFromSocatOpenssl) {
  tt::TestPki pki;
  TempPath out("out");
  Peer sink = start_peer({"sink", out.str()});
  TempPath src("src");
  write_file(src.str(), random_bytes(ten_mb, 21));
  Relay relay = start_relay({"--cert", pki.cert("server"), "--key", pki.key("server"), "tls-listen:127.0.0.1:0",
                             tcp_at(sink.port())});
  ASSERT_EQ(shell("socat -u open:" + src.str() + " OPENSSL:localhost:" + std::to_string(relay.port()) +
                  ",cafile=" + pki.cert("ca") + ",verify=1,pf=ip4"),
            0);
  ASSERT_EQ(sink.process.wait(20s), 0) << sink.process.err();
  EXPECT_EQ(file_size(out.str()), static_cast<long>(ten_mb));
  EXPECT_EQ(sha256_file(out.str()), sha256_file(src.str()));
  auto flow = relay.process.wait_for_err_line("\"flow\"");
  ASSERT_TRUE(flow) << relay.process.err();
  auto obj = parse_json_object(*flow);
  ASSERT_TRUE(obj);
  EXPECT_EQ(obj->at("a_proto"), "tls");
  EXPECT_EQ(obj->at("bytes_a_to_b"), std::to_string(ten_mb));
  EXPECT_EQ(obj->at("closed_first"), "a");
  EXPECT_TRUE(relay.process.wait_for_err_line("\"tls\"")) << relay.process.err();
}

TEST(RelayTlsTest, TcpToTlsTenMegabytesIntoSocatOpensslListen) {
  tt::TestPki pki;
  Process server = Process::start({"socat", "-d", "-d", "-u",
                                   "OPENSSL-LISTEN:0,bind=127.0.0.1,cert=" + pki.cert("server") + ",key=" +
                                       pki.key("server") + ",verify=0",
                                   "STDOUT"});
  const std::uint16_t port = socat_port(server);
  ASSERT_NE(port, 0) << server.err();
  TempPath src("src");
  write_file(src.str(), random_bytes(ten_mb, 22));
  // Verified against the test CA under the name localhost (--sni), though HOST is an IP literal.
  Relay relay = start_relay({"--ca", pki.cert("ca"), "--sni", "localhost", "tcp-listen:127.0.0.1:0",
                             "tls:127.0.0.1:" + std::to_string(port)});
  ASSERT_EQ(shell("socat -u open:" + src.str() + " tcp:127.0.0.1:" + std::to_string(relay.port())), 0);
  ASSERT_EQ(server.wait(30s), 0) << server.err();
  EXPECT_EQ(file_size(server.out_path()), static_cast<long>(ten_mb));
  EXPECT_EQ(sha256_file(server.out_path()), sha256_file(src.str()));
  auto flow = relay.process.wait_for_err_line("\"flow\"");
  ASSERT_TRUE(flow) << relay.process.err();
  auto obj = parse_json_object(*flow);
  ASSERT_TRUE(obj);
  EXPECT_EQ(obj->at("b_proto"), "tls");
  EXPECT_EQ(obj->at("bytes_a_to_b"), std::to_string(ten_mb));
  EXPECT_EQ(obj->count("error"), 0u) << *flow;
}

TEST(RelayTlsTest, TlsListenServesManyClientsAtOnceWithAnEphemeralCertificate) {
  Peer echo = start_peer({"echo"});
  Relay relay = start_relay({"--threads", "2", "tls-listen:127.0.0.1:0", tcp_at(echo.port())});
  const std::string pin = ephemeral_pin(relay.process);
  ASSERT_EQ(pin.size(), 7u + 64u) << relay.process.err();
  constexpr int clients = 16;
  std::vector<Result<TlsStream>> conns;
  // Every client connects (and completes its handshake) before any sends: all are open at once.
  for (int i = 0; i < clients; ++i) {
    conns.push_back(pinned_client(relay.port(), pin));
    ASSERT_TRUE(conns.back()) << conns.back().error().message();
  }
  std::atomic<int> good{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < clients; ++i) {
    threads.emplace_back([&, i] {
      TlsStream& s = *conns[static_cast<std::size_t>(i)];
      const std::string data = random_bytes(200000, static_cast<unsigned>(300 + i));
      std::thread writer([&] {
        (void)s.write_all(data, Deadline(20s));
        (void)s.shutdown(Deadline(5s));
      });
      const std::string back = read_all_tls(s, 20s);
      writer.join();
      if (back == data) ++good;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(good.load(), clients);
}

TEST(RelayTlsTest, HalfCloseCarriedThroughTlsListen) {
  Peer counter = start_peer({"count"});
  Relay relay = start_relay({"tls-listen:127.0.0.1:0", tcp_at(counter.port())});
  auto s = pinned_client(relay.port(), ephemeral_pin(relay.process));
  ASSERT_TRUE(s) << relay.process.err();
  const std::string data = random_bytes(300000, 5);
  ASSERT_TRUE(s->write_all(data, Deadline(10s)));
  ASSERT_TRUE(s->shutdown(Deadline(5s)));
  // The counter answers only once it has seen the FIN the relay made of our close_notify.
  EXPECT_EQ(read_all_tls(*s, 20s), "got 300000\n");
  auto flow = relay.process.wait_for_err_line("\"flow\"");
  ASSERT_TRUE(flow);
  auto obj = parse_json_object(*flow);
  ASSERT_TRUE(obj);
  EXPECT_EQ(obj->at("closed_first"), "a");
  EXPECT_EQ(obj->at("bytes_a_to_b"), "300000");
}

TEST(RelayTlsTest, StdioToTlsRefusesAnUnverifiedServerInOneLineAndKAccepts) {
  tt::TestPki pki;
  Relay server = start_relay({"--cert", pki.cert("self-signed"), "--key", pki.key("self-signed"),
                              "tls-listen:127.0.0.1:0", "exec:cat"});
  const std::string target = "tls:localhost:" + std::to_string(server.port());
  auto refused = run_tether({"relay", "stdio", target}, "hello\n");
  EXPECT_EQ(refused.status, 1) << refused.err;
  EXPECT_EQ(lines_of(refused.err).size(), 1u) << refused.err;
  EXPECT_NE(refused.err.find("self-signed"), std::string::npos) << refused.err;
  EXPECT_EQ(refused.out, "");
  auto insecure = run_tether({"relay", "-k", "stdio", target}, "hello\n");
  EXPECT_EQ(insecure.status, 0) << insecure.err;
  EXPECT_EQ(insecure.out, "hello\n");
  // Two connecting sides on one loop: the same refusal, one line.
  auto two = run_tether({"relay", target, "exec:cat"});
  EXPECT_EQ(two.status, 1) << two.err;
  EXPECT_EQ(lines_of(two.err).size(), 1u) << two.err;
}

TEST(RelayTlsTest, TlsListenWithStdioServesOneClientAgainstOpensslSClient) {
  tt::TestPki pki;
  Pipe in;
  Process relay = Process::start({tether_path(), "relay", "--json", "--cert", pki.cert("server"), "--key",
                                  pki.key("server"), "tls-listen:127.0.0.1:0", "stdio"},
                                 in.read_fd);
  in.close_read();
  const std::uint16_t port = port_of(listening_endpoint(relay));
  ASSERT_NE(port, 0) << relay.err();
  TempPath msg("msg");
  write_file(msg.str(), "from s_client\n");
  Process client = Process::start_with_input_file(
      {"openssl", "s_client", "-connect", "127.0.0.1:" + std::to_string(port), "-servername", "localhost",
       "-verify_hostname", "localhost", "-CAfile", pki.cert("ca"), "-verify_return_error", "-quiet"},
      msg.str());
  ASSERT_TRUE(relay.wait_for_out_size(14, 10s)) << relay.err() << client.err();
  EXPECT_EQ(relay.out(), "from s_client\n");
  ASSERT_TRUE(in.write("to s_client\n"));
  in.close_write();
  EXPECT_EQ(client.wait(10s), 0) << client.err();
  EXPECT_EQ(client.out(), "to s_client\n");
  EXPECT_EQ(relay.wait(10s), 0) << relay.err();
}

TEST(RelayTlsTest, TlsThroughSocks5AndHttpProxiesVerifiesTheFinalHost) {
  tt::TestPki pki;
  Relay server = start_relay({"--cert", pki.cert("server"), "--key", pki.key("server"), "tls-listen:127.0.0.1:0",
                              "exec:cat"});
  for (const std::string type : {"socks5", "http"}) {
    Peer proxy = start_peer({type});
    // The proxy is 127.0.0.1; the TLS name is the final host, localhost, verified against the CA.
    auto r = run_tether({"relay", "--json", "--ca", pki.cert("ca"), "--tls-proxy", "127.0.0.1:" + proxy.port(),
                         "--tls-proxy-type", type, "stdio", "tls:localhost:" + std::to_string(server.port())},
                        "tunnelled " + type + "\n");
    EXPECT_EQ(r.status, 0) << type << ": " << r.err;
    EXPECT_EQ(r.out, "tunnelled " + type + "\n");
    auto tls = find_event(json_events(r.err), "tls");
    ASSERT_TRUE(tls) << r.err;
    EXPECT_EQ(tls->at("sni"), "localhost");
    auto flow = find_event(json_events(r.err), "flow");
    ASSERT_TRUE(flow) << r.err;
    EXPECT_EQ(flow->at("b_peer"), "127.0.0.1:" + proxy.port());  // the tunnel, not a direct connection
    // The same through the async side: a tcp-listen client relayed to tls: over the proxy.
    Relay front = start_relay({"--ca", pki.cert("ca"), "--tls-proxy", "127.0.0.1:" + proxy.port(), "--tls-proxy-type",
                               type, "tcp-listen:127.0.0.1:0", "tls:localhost:" + std::to_string(server.port())});
    auto c = TcpStream::connect(Endpoint::ipv4_loopback(front.port()), Deadline(5s));
    ASSERT_TRUE(c);
    ASSERT_TRUE(c->write_all("async " + type, Deadline(5s)));
    ASSERT_TRUE(c->shutdown(Shutdown::write));
    // cat's end (after the FIN carried as close_notify through the tunnel) comes back as our EOF.
    EXPECT_EQ(read_to_eof(*c), std::optional<std::string>("async " + type)) << front.process.err();
  }
}

TEST(RelayTlsTest, ClientCaOnTlsListenAcceptsAClientCertificateAndRefusesNone) {
  tt::TestPki pki;
  Relay server = start_relay({"--cert", pki.cert("server"), "--key", pki.key("server"), "--client-ca", pki.cert("ca"),
                              "tls-listen:127.0.0.1:0", "exec:cat"});
  const std::string target = "tls:localhost:" + std::to_string(server.port());
  // With only a tls: address, --cert/--key are the client's certificate.
  auto ok = run_tether({"relay", "--ca", pki.cert("ca"), "--cert", pki.cert("client"), "--key", pki.key("client"),
                        "stdio", target},
                       "mtls\n");
  EXPECT_EQ(ok.status, 0) << ok.err;
  EXPECT_EQ(ok.out, "mtls\n");
  auto refused = run_tether({"relay", "--ca", pki.cert("ca"), "stdio", target}, "no certificate\n");
  EXPECT_EQ(refused.status, 1) << refused.err;
  EXPECT_EQ(lines_of(refused.err).size(), 1u) << refused.err;
  EXPECT_EQ(refused.out, "");
  EXPECT_TRUE(server.process.wait_for_err_line("\"handshake_failed\"")) << server.process.err();
}

TEST(RelayTlsTest, ClientCertGivesTlsItsCertificateBesideATlsListenCert) {
  tt::TestPki pki;
  Relay back = start_relay({"--cert", pki.cert("server"), "--key", pki.key("server"), "--client-ca", pki.cert("ca"),
                            "tls-listen:127.0.0.1:0", "exec:cat"});
  const std::string upstream = "tls:localhost:" + std::to_string(back.port());
  // TLS terminated and re-originated: --cert/--key for the clients of tls-listen:, --client-cert
  // and --client-key for the mutual TLS toward `back`.
  Relay front = start_relay({"--cert", pki.cert("server"), "--key", pki.key("server"), "--ca", pki.cert("ca"),
                             "--client-cert", pki.cert("client"), "--client-key", pki.key("client"),
                             "tls-listen:127.0.0.1:0", upstream});
  auto ok = run_tether({"relay", "--ca", pki.cert("ca"), "stdio", "tls:localhost:" + std::to_string(front.port())},
                       "both ends\n");
  EXPECT_EQ(ok.status, 0) << ok.err << front.process.err();
  EXPECT_EQ(ok.out, "both ends\n");
  // Without --client-cert the tls-listen: certificate is not offered upstream: `back` refuses.
  Relay bare = start_relay({"--cert", pki.cert("server"), "--key", pki.key("server"), "--ca", pki.cert("ca"),
                            "tls-listen:127.0.0.1:0", upstream});
  auto refused = run_tether({"relay", "--ca", pki.cert("ca"), "stdio", "tls:localhost:" + std::to_string(bare.port())},
                            "refused\n");
  EXPECT_EQ(refused.out, "");
  EXPECT_TRUE(back.process.wait_for_err_line("\"handshake_failed\"")) << back.process.err();
}

TEST(RelayTlsTest, TlsFlagsWithoutATlsAddressAreUsageErrors) {
  tt::TestPki pki;
  const std::vector<std::vector<std::string>> bad = {
      {"relay", "--ca", pki.cert("ca"), "tcp-listen:0", "tcp:127.0.0.1:1"},
      {"relay", "-k", "stdio", "tcp:127.0.0.1:1"},
      {"relay", "--client-ca", pki.cert("ca"), "stdio", "tls:127.0.0.1:1"},
      {"relay", "--sni", "x", "tls-listen:0", "tcp:127.0.0.1:1"},
      {"relay", "--cert", pki.cert("server"), "tls-listen:0", "tcp:127.0.0.1:1"},
      {"relay", "--tls-pin", "sha256:00", "stdio", "tls:127.0.0.1:1"},
      {"relay", "--alpn", "a,,b", "stdio", "tls:127.0.0.1:1"},
      {"relay", "tls:127.0.0.1", "stdio"},
      {"relay", "tls-listen:0", "udp:127.0.0.1:1"},
      {"relay", "--tls-proxy", "127.0.0.1:1", "stdio", "tcp:127.0.0.1:1"},
      {"relay", "--tls-proxy", "nocolon", "stdio", "tls:127.0.0.1:1"},
      {"relay", "--tls-proxy-type", "http", "stdio", "tls:127.0.0.1:1"},
      {"relay", "--client-cert", pki.cert("client"), "--client-key", pki.key("client"), "tls-listen:0", "tcp:127.0.0.1:1"},
      {"relay", "--client-cert", pki.cert("client"), "stdio", "tls:127.0.0.1:1"},
  };
  for (const auto& args : bad) {
    auto r = run_tether(args);
    EXPECT_EQ(r.status, 2) << args[1] << " " << args[2] << ": " << r.err;
    EXPECT_EQ(lines_of(r.err).size(), 1u) << r.err;
  }
  auto missing = run_tether({"relay", "--ca", "/nonexistent/ca.pem", "stdio", "tls:127.0.0.1:1"});
  EXPECT_EQ(missing.status, 1) << missing.err;
  EXPECT_EQ(lines_of(missing.err).size(), 1u) << missing.err;
}

}  // namespace
