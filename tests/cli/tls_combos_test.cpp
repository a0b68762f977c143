// --tls combined with the other stream behaviours: TLS over a SOCKS5 / HTTP CONNECT proxy (the
// handshake, SNI and verification for the final host), listen --tls -k serving clients at once,
// -C and -q, listen --tls --exec, and -z refused.
#include "relay_support.hpp"
#include "tls_pki.hpp"
#include "tls_support.hpp"

#include <tether/tls.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using namespace tether;
using namespace tether::testing::cli;
namespace tt = tether::testing;

namespace {

/// openssl s_server on a free port, its stdin a pipe kept open; up once it accepted a probe.
struct SServer {
  Pipe in;
  std::uint16_t port = 0;
  std::optional<Process> process;
};

std::unique_ptr<SServer> start_s_server(const tt::TestPki& pki) {
  auto s = std::make_unique<SServer>();
  s->port = free_port();
  s->process = Process::start({"openssl", "s_server", "-accept", "127.0.0.1:" + std::to_string(s->port), "-cert",
                               pki.cert("server"), "-key", pki.key("server"), "-quiet"},
                              s->in.read_fd);
  s->in.close_read();
  (void)wait_listening(s->port);  // s_server logs the probe's failed handshake and goes on
  return s;
}

TEST(TlsCombos, ConnectTlsThroughSocks5AndHttpProxiesVerifiesTheFinalHost) {
  tt::TestPki pki;
  for (const std::string type : {"socks5", "http"}) {
    auto server = start_s_server(pki);
    Peer proxy = start_peer({type});
    // The proxy is 127.0.0.1; the name sent (SNI) and verified is the final host, localhost.
    auto r = run_tether({"connect", "--json", "--tls", "--ca", pki.cert("ca"), "--proxy", "127.0.0.1:" + proxy.port(),
                         "--proxy-type", type, "localhost", std::to_string(server->port)},
                        "through the " + type + " tunnel\n");
    EXPECT_EQ(r.status, 0) << type << ": " << r.err;
    auto tls = find_event(json_events(r.err), "tls");
    ASSERT_TRUE(tls) << r.err;
    EXPECT_EQ(tls->at("sni"), "localhost");
    auto connected = find_event(json_events(r.err), "connected");
    ASSERT_TRUE(connected) << r.err;
    EXPECT_EQ(connected->at("peer"), "127.0.0.1:" + proxy.port());  // the tunnel, not a direct connection
    EXPECT_TRUE(server->process->wait_for_out_size(static_cast<long>(20 + type.size()), 10s)) << server->process->err();
    EXPECT_EQ(server->process->out(), "through the " + type + " tunnel\n");
  }
}

TEST(TlsCombos, ConnectTlsThroughAProxyRefusesAServerWhoseCertificateIsNotForTheHost) {
  tt::TestPki pki;
  TlsListener l = listen_tls({"--echo", "--cert", pki.cert("wrong-name"), "--key", pki.key("wrong-name")});
  Peer proxy = start_peer({"socks5"});
  auto r = run_tether({"connect", "--tls", "--ca", pki.cert("ca"), "--proxy", "127.0.0.1:" + proxy.port(),
                       "--proxy-type", "socks5", "localhost", std::to_string(l.port)},
                      "x\n");
  EXPECT_EQ(r.status, 1) << r.err;
  EXPECT_EQ(lines_of(r.err).size(), 1u) << r.err;
  EXPECT_NE(r.err.find("name mismatch"), std::string::npos) << r.err;
  EXPECT_EQ(r.out, "");
}

TEST(TlsCombos, ListenTlsKeepOpenServesTwoClientsAtOnce) {
  Pipe in;  // stdin stays open: both clients get what is typed
  TlsListener l = listen_tls({"-k"}, in.read_fd);
  in.close_read();
  const std::string pin = ephemeral_pin(l.process);
  auto a = pinned_client(l.port, pin);
  auto b = pinned_client(l.port, pin);
  ASSERT_TRUE(a) << l.process.err();
  ASSERT_TRUE(b) << l.process.err();
  // Both are connected at once: each one's bytes reach stdout while the other is still open.
  ASSERT_TRUE(a->write_all("from a\n", 5s));
  ASSERT_TRUE(l.process.wait_for_out_size(7, 10s)) << l.process.err();
  ASSERT_TRUE(b->write_all("from b\n", 5s));
  ASSERT_TRUE(l.process.wait_for_out_size(14, 10s)) << l.process.err();
  EXPECT_EQ(l.process.out(), "from a\nfrom b\n");
  // stdin goes to both, and its end is close_notify to both.
  ASSERT_TRUE(in.write("to everyone\n"));
  in.close_write();
  for (TlsStream* s : {&*a, &*b}) EXPECT_EQ(read_all_tls(*s, 10s), "to everyone\n");
}

TEST(TlsCombos, ListenTlsKeepOpenHonoursMaxConns) {
  Pipe in;
  TlsListener l = listen_tls({"-k", "--max-conns", "1"}, in.read_fd);
  in.close_read();
  const std::string pin = ephemeral_pin(l.process);
  auto a = pinned_client(l.port, pin);
  ASSERT_TRUE(a) << l.process.err();
  ASSERT_TRUE(a->write_all("first\n", 5s));
  ASSERT_TRUE(l.process.wait_for_out_size(6, 10s)) << l.process.err();
  auto b = pinned_client(l.port, pin);  // over the cap: closed before any handshake
  EXPECT_FALSE(b);
  auto rejected = l.process.wait_for_err_line("\"rejected\"");
  ASSERT_TRUE(rejected) << l.process.err();
  EXPECT_NE(rejected->find("max-conns"), std::string::npos) << *rejected;
}

TEST(TlsCombos, CrlfAndQuitAfterEofWorkOverTls) {
  Pipe in;  // the server never ends its side: only -q ends the client
  TlsListener l = listen_tls({}, in.read_fd);
  in.close_read();
  const std::string pin = ephemeral_pin(l.process);
  auto r = run_tether({"connect", "--tls", "--tls-pin", pin, "-C", "-q", "0.2", "127.0.0.1", std::to_string(l.port)},
                      "one\ntwo\r\n");
  EXPECT_EQ(r.status, 0) << r.err;
  ASSERT_TRUE(l.process.wait_for_out_size(10, 10s)) << l.process.err();
  EXPECT_EQ(l.process.out(), "one\r\ntwo\r\n");
}

TEST(TlsCombos, ListenTlsExecGivesEachClientItsOwnChild) {
  TlsListener l = listen_tls({"-k", "--exec", "cat"});
  const std::string pin = ephemeral_pin(l.process);
  for (int i = 0; i < 2; ++i) {
    auto r = run_tether({"connect", "--tls", "--tls-pin", pin, "127.0.0.1", std::to_string(l.port)},
                        "exec over tls " + std::to_string(i) + "\n");
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out, "exec over tls " + std::to_string(i) + "\n");
  }
}

TEST(TlsCombos, IdleTimeoutFiresWhileStdoutIsNotReadOverTls) {
  auto id = TlsIdentity::ephemeral();
  ASSERT_TRUE(id);
  TlsOptions so;
  so.identity = *id;
  auto ctx = TlsContext::server(so);
  ASSERT_TRUE(ctx);
  auto listener = TcpListener::bind(Endpoint::ipv4_loopback(0));
  ASSERT_TRUE(listener);
  const auto port = std::to_string(listener->local_endpoint()->port());
  Pipe out;  // nobody reads it: the pipe fills and tether's stdout blocks
  TempPath err("err");
  int err_fd = ::open(err.str().c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  Pipe in;  // stdin stays open
  tether::testing::Child child = tether::testing::Child::spawn(
      {tether_path(), "connect", "--tls", "-k", "-w", "1", "127.0.0.1", port}, in.read_fd, out.write_fd, err_fd);
  ::close(err_fd);
  out.close_write();
  in.close_read();
  auto accepted = listener->accept(10s);
  ASSERT_TRUE(accepted);
  auto tls = TlsStream::accept(std::move(accepted->stream), *ctx, 5s);
  ASSERT_TRUE(tls) << read_file(err.str());
  std::atomic<bool> stop{false};
  std::thread flood([&] {
    const std::string chunk(64 * 1024, 'x');
    while (!stop && tls->write_all(chunk, 1s)) {
    }
  });
  const int status = child.wait(15s);
  stop = true;
  flood.join();
  EXPECT_EQ(status, 1) << "-w 1 never fired while stdout was stuck";
  EXPECT_NE(read_file(err.str()).find("idle"), std::string::npos) << read_file(err.str());
}

TEST(TlsCombos, ProbeWithTlsIsAUsageError) {
  auto r = run_tether({"connect", "--tls", "-z", "127.0.0.1", "1"});
  EXPECT_EQ(r.status, 2) << r.err;
  EXPECT_EQ(lines_of(r.err).size(), 1u) << r.err;
}

}  // namespace
