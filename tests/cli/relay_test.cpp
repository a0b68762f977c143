// tether relay A B: address pairs end to end against socat, nc, ncat and Python peers.
#include "relay_support.hpp"

#include <tether/tcp.hpp>
#include <tether/udp.hpp>

#include <gtest/gtest.h>

#include <signal.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using namespace tether;
using namespace tether::testing::cli;

namespace {

constexpr std::size_t ten_mb = 10 * 1000 * 1000;

std::string tcp_at(const std::string& port) { return "tcp:127.0.0.1:" + port; }

/// 10 MB from `client_command` (with SRC and DST filled in) through the relay into a sink.
void check_ten_mb(const std::string& listen_addr, const std::string& target, Peer& sink,
                  const std::string& out_path, const std::string& client_command) {
  TempPath src("src");
  write_file(src.str(), random_bytes(ten_mb, 7));
  Relay relay = start_relay({listen_addr, target});
  std::string cmd = client_command;
  auto put = [&](const std::string& key, const std::string& value) {
    for (auto at = cmd.find(key); at != std::string::npos; at = cmd.find(key)) cmd.replace(at, key.size(), value);
  };
  put("SRC", src.str());
  put("PORT", std::to_string(relay.port()));
  ASSERT_EQ(shell(cmd), 0);
  ASSERT_EQ(sink.process.wait(20s), 0) << sink.process.err();
  EXPECT_EQ(file_size(out_path), static_cast<long>(ten_mb));
  EXPECT_EQ(sha256_file(out_path), sha256_file(src.str()));
  auto flow = relay.process.wait_for_err_line("\"flow\"");
  ASSERT_TRUE(flow) << relay.process.err();
  auto obj = parse_json_object(*flow);
  ASSERT_TRUE(obj);
  EXPECT_EQ(obj->at("bytes_a_to_b"), std::to_string(ten_mb));
  EXPECT_EQ(obj->at("closed_first"), "a");
}

TEST(RelayTest, TcpToTcpTenMegabytesFromSocat) {
  TempPath out("out");
  Peer sink = start_peer({"sink", out.str()});
  check_ten_mb("tcp-listen:127.0.0.1:0", tcp_at(sink.port()), sink, out.str(),
               "socat -u open:SRC tcp:127.0.0.1:PORT");
}

TEST(RelayTest, TcpToUnixTenMegabytesFromNc) {
  TempPath out("out");
  TempPath sock("sock");
  Peer sink = start_peer({"unix-sink", sock.str(), out.str()});
  check_ten_mb("tcp-listen:127.0.0.1:0", "unix:" + sock.str(), sink, out.str(), "nc -N 127.0.0.1 PORT < SRC");
}

TEST(RelayTest, UnixToTcpTenMegabytesFromNcat) {
  TempPath out("out");
  TempPath sock("relay");
  Peer sink = start_peer({"sink", out.str()});
  TempPath src("src");
  write_file(src.str(), random_bytes(ten_mb, 9));
  Relay relay = start_relay({"unix-listen:" + sock.str(), tcp_at(sink.port())});
  ASSERT_EQ(shell("ncat --send-only -U " + sock.str() + " < " + src.str()), 0);
  ASSERT_EQ(sink.process.wait(20s), 0);
  EXPECT_EQ(sha256_file(out.str()), sha256_file(src.str()));
}

TEST(RelayTest, UnixToUnixTenMegabytesFromPython) {
  TempPath out("out");
  TempPath up("up");
  TempPath sock("relay");
  Peer sink = start_peer({"unix-sink", up.str(), out.str()});
  TempPath src("src");
  write_file(src.str(), random_bytes(ten_mb, 11));
  Relay relay = start_relay({"unix-listen:" + sock.str(), "unix:" + up.str()});
  ASSERT_EQ(shell("python3 -c \"import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); "
                  "s.sendall(open(sys.argv[2],'rb').read()); s.close()\" " + sock.str() + " " + src.str()),
            0);
  ASSERT_EQ(sink.process.wait(20s), 0);
  EXPECT_EQ(sha256_file(out.str()), sha256_file(src.str()));
}

TEST(RelayTest, StdioToTcpTenMegabytes) {
  TempPath out("out");
  Peer sink = start_peer({"sink", out.str()});
  const std::string data = random_bytes(ten_mb, 13);
  auto r = run_tether({"relay", "stdio", tcp_at(sink.port())}, data, 30s);
  EXPECT_EQ(r.status, 0) << r.err;
  ASSERT_EQ(sink.process.wait(20s), 0);
  EXPECT_EQ(read_file(out.str()), data);
}

TEST(RelayTest, AbstractUnixListenerWithSocatClient) {
  Peer echo = start_peer({"echo"});
  const std::string name = "tether-relay-test-" + std::to_string(::getpid());
  Relay relay = start_relay({"unix-listen:@" + name, tcp_at(echo.port())});
  Process client = Process::start({"socat", "-", "abstract-connect:" + name}, -1);
  TempPath in("in");
  write_file(in.str(), "abstract hello\n");
  Process c2 = Process::start_with_input_file({"socat", "-", "abstract-connect:" + name}, in.str());
  ASSERT_EQ(c2.wait(10s), 0) << c2.err();
  EXPECT_EQ(c2.out(), "abstract hello\n");
}

TEST(RelayTest, HalfCloseCarriedThrough) {
  Peer counter = start_peer({"count"});
  Relay relay = start_relay({"tcp-listen:127.0.0.1:0", tcp_at(counter.port())});
  auto s = TcpStream::connect(Endpoint::ipv4_loopback(relay.port()), Deadline(5s));
  ASSERT_TRUE(s);
  const std::string data = random_bytes(300000, 3);
  ASSERT_TRUE(s->write_all(data, Deadline(10s)));
  ASSERT_TRUE(s->shutdown(Shutdown::write));
  // The counter answers only once it has seen our FIN: the relay must carry it.
  EXPECT_EQ(read_all(*s), "got 300000\n");
  auto flow = relay.process.wait_for_err_line("\"flow\"");
  ASSERT_TRUE(flow);
  auto obj = parse_json_object(*flow);
  ASSERT_TRUE(obj);
  EXPECT_EQ(obj->at("closed_first"), "a");
  EXPECT_EQ(obj->at("bytes_a_to_b"), "300000");
  EXPECT_EQ(obj->at("bytes_b_to_a"), "11");
}

TEST(RelayTest, ManyClientsAtOnceEachGetTheirOwnBytes) {
  Peer echo = start_peer({"echo"});
  Relay relay = start_relay({"--threads", "2", "tcp-listen:127.0.0.1:0", tcp_at(echo.port())});
  constexpr int clients = 64;
  std::atomic<int> good{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < clients; ++i) {
    threads.emplace_back([&, i] {
      auto s = TcpStream::connect(Endpoint::ipv4_loopback(relay.port()), Deadline(10s));
      if (!s) return;
      const std::string data = random_bytes(200000, static_cast<unsigned>(100 + i));
      std::thread writer([&] {
        (void)s->write_all(data, Deadline(20s));
        (void)s->shutdown(Shutdown::write);
      });
      const std::string back = read_all(*s, Deadline(20s));
      writer.join();
      if (back == data) ++good;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(good.load(), clients);
}

TEST(RelayTest, UdpSessionPerClientWithHundredClients) {
  Peer echo = start_peer({"udp-echo"});
  Relay relay = start_relay({"udp-listen:127.0.0.1:0", "udp:127.0.0.1:" + echo.port()});
  const Endpoint to = Endpoint::ipv4_loopback(relay.port());
  std::vector<UdpSocket> clients;
  for (int i = 0; i < 100; ++i) {
    auto s = UdpSocket::bind(Endpoint::ipv4_loopback(0));
    ASSERT_TRUE(s);
    clients.push_back(std::move(*s));
  }
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(clients[static_cast<std::size_t>(i)].send_to(std::string_view("client " + std::to_string(i)), to));
  }
  int good = 0;
  for (int i = 0; i < 100; ++i) {
    std::array<char, 256> buf;
    auto d = clients[static_cast<std::size_t>(i)].recv_from(std::as_writable_bytes(std::span(buf)), Deadline(5s));
    if (d && std::string(buf.data(), d->size) == "client " + std::to_string(i)) ++good;
  }
  EXPECT_EQ(good, 100);
  ::kill(relay.process.pid(), SIGTERM);
  ASSERT_EQ(relay.process.wait(10s), 0);
  auto summary = find_event(json_events(relay.process.err()), "summary");
  ASSERT_TRUE(summary) << relay.process.err();
  EXPECT_EQ(summary->at("flows"), "100");
}

TEST(RelayTest, UdpSessionEndsAfterIdleTtl) {
  Peer echo = start_peer({"udp-echo"});
  Relay relay = start_relay({"--idle-timeout", "0.2", "udp-listen:127.0.0.1:0", "udp:127.0.0.1:" + echo.port()});
  auto s = UdpSocket::bind(Endpoint::ipv4_loopback(0));
  ASSERT_TRUE(s);
  ASSERT_TRUE(s->send_to(std::string_view("ping"), Endpoint::ipv4_loopback(relay.port())));
  std::array<char, 64> buf;
  auto d = s->recv_from(std::as_writable_bytes(std::span(buf)), Deadline(5s));
  ASSERT_TRUE(d);
  auto flow = relay.process.wait_for_err_line("\"flow\"", 5s);
  ASSERT_TRUE(flow) << relay.process.err();
  EXPECT_NE(flow->find("\"bytes_a_to_b\":4"), std::string::npos) << *flow;
}

TEST(RelayTest, ExecWithTwoHundredConcurrentClientsLeavesNoZombie) {
  Relay relay = start_relay({"tcp-listen:127.0.0.1:0", "exec:cat"});
  constexpr int clients = 200;
  std::atomic<int> good{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < clients; ++i) {
    threads.emplace_back([&, i] {
      auto s = TcpStream::connect(Endpoint::ipv4_loopback(relay.port()), Deadline(10s));
      if (!s) return;
      const std::string msg = "client " + std::to_string(i) + "\n";
      if (!s->write_all(msg, Deadline(10s)) || !s->shutdown(Shutdown::write)) return;
      if (read_all(*s, Deadline(20s)) == msg) ++good;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(good.load(), clients);
  EXPECT_EQ(wait_no_zombies(relay.process.pid()), 0);
}

TEST(RelayTest, ExecChildSeesPeerAndLocalEndpoints) {
  Relay relay = start_relay({"tcp-listen:127.0.0.1:0", "sh:echo $TETHER_PEER_ADDR $TETHER_PEER_PORT $TETHER_LOCAL_PORT"});
  auto s = TcpStream::connect(Endpoint::ipv4_loopback(relay.port()), Deadline(5s));
  ASSERT_TRUE(s);
  const auto local = s->local_endpoint();
  ASSERT_TRUE(local);
  EXPECT_EQ(read_all(*s), "127.0.0.1 " + std::to_string(local->port()) + " " + std::to_string(relay.port()) + "\n");
}

TEST(RelayTest, ExecToTcpWithTwoConnectingSides) {
  TempPath out("out");
  Peer sink = start_peer({"sink", out.str()});
  auto r = run_tether({"relay", "exec:printf two-sided", tcp_at(sink.port())});
  EXPECT_EQ(r.status, 0) << r.err;
  ASSERT_EQ(sink.process.wait(10s), 0);
  EXPECT_EQ(read_file(out.str()), "two-sided");
}

std::string hex(std::string_view s) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

TEST(RelayTest, ProxyProtocolV1AndV2Headers) {
  for (std::string version : {"v1", "v2"}) {
    Peer head = start_peer({"head", "200"});
    Relay relay = start_relay({"--proxy-protocol", version, "tcp-listen:127.0.0.1:0", tcp_at(head.port())});
    auto s = TcpStream::connect(Endpoint::ipv4_loopback(relay.port()), Deadline(5s));
    ASSERT_TRUE(s);
    const auto cport = s->local_endpoint()->port();
    ASSERT_TRUE(s->shutdown(Shutdown::write));
    (void)read_all(*s);
    ASSERT_TRUE(head.process.wait_for_out_size(static_cast<long>(head.first_line.size()) + 3));
    auto lines = lines_of(head.process.out());
    ASSERT_GE(lines.size(), 2u);
    std::string want;
    if (version == "v1") {
      want = hex("PROXY TCP4 127.0.0.1 127.0.0.1 " + std::to_string(cport) + " " + std::to_string(relay.port()) + "\r\n");
    } else {
      std::string h("\r\n\r\n\0\r\nQUIT\n\x21\x11\x00\x0c\x7f\x00\x00\x01\x7f\x00\x00\x01", 24);
      for (std::uint16_t p : {cport, relay.port()}) {
        h += static_cast<char>(p >> 8);
        h += static_cast<char>(p & 0xFF);
      }
      want = hex(h);
    }
    EXPECT_EQ(lines[1], want) << version;
  }
}

TEST(RelayTest, DeniedClientIsRejected) {
  Peer echo = start_peer({"echo"});
  Relay relay = start_relay({"--deny", "127.0.0.0/8", "tcp-listen:127.0.0.1:0", tcp_at(echo.port())});
  auto s = TcpStream::connect(Endpoint::ipv4_loopback(relay.port()), Deadline(5s));
  ASSERT_TRUE(s);
  (void)s->write_all(std::string_view("x"));
  EXPECT_EQ(read_all(*s), "");
  EXPECT_TRUE(relay.process.wait_for_err_line("\"rejected\""));
}

TEST(RelayTest, IdleFlowIsClosed) {
  Peer echo = start_peer({"echo"});
  Relay relay = start_relay({"--idle-timeout", "0.3", "tcp-listen:127.0.0.1:0", tcp_at(echo.port())});
  auto s = TcpStream::connect(Endpoint::ipv4_loopback(relay.port()), Deadline(5s));
  ASSERT_TRUE(s);
  EXPECT_EQ(read_all(*s, Deadline(10s)), "");  // closed by the relay, not by the deadline
  auto flow = relay.process.wait_for_err_line("\"flow\"");
  ASSERT_TRUE(flow);
  EXPECT_NE(flow->find("idle"), std::string::npos) << *flow;
}

TEST(RelayTest, SigusrOnePrintsLiveCounters) {
  Peer echo = start_peer({"echo"});
  Relay relay = start_relay({"tcp-listen:127.0.0.1:0", tcp_at(echo.port())});
  auto s = TcpStream::connect(Endpoint::ipv4_loopback(relay.port()), Deadline(5s));
  ASSERT_TRUE(s);
  ASSERT_TRUE(s->write_all(std::string_view("abc")));
  std::array<char, 8> buf;
  ASSERT_TRUE(s->read_some(buf, Deadline(5s)));
  ::kill(relay.process.pid(), SIGUSR1);
  auto line = relay.process.wait_for_err_line("\"counters\"");
  ASSERT_TRUE(line) << relay.process.err();
  EXPECT_NE(line->find("\"active\":1"), std::string::npos) << *line;
  EXPECT_NE(line->find("\"bytes_a_to_b\":3"), std::string::npos) << *line;
}

TEST(RelayTest, ThroughSocksAndHttpProxies) {
  Peer echo = start_peer({"echo"});
  struct Case {
    std::vector<std::string> peer;
    std::string kind;
    std::vector<std::string> flags;
  };
  const std::vector<Case> cases = {
      {{"socks5"}, "socks5", {}},
      {{"socks5", "u", "p"}, "socks5", {"--proxy-auth", "u:p"}},
      {{"socks4"}, "socks4", {}},
      {{"http"}, "http-proxy", {}},
      {{"http", "u", "p"}, "http-proxy", {"--proxy-auth", "u:p"}},
  };
  for (const auto& c : cases) {
    Peer proxy = start_peer(c.peer);
    std::vector<std::string> args = c.flags;
    args.push_back("tcp-listen:127.0.0.1:0");
    args.push_back(c.kind + ":127.0.0.1:" + proxy.port() + ":localhost:" + echo.port());
    Relay relay = start_relay(args);
    auto s = TcpStream::connect(Endpoint::ipv4_loopback(relay.port()), Deadline(5s));
    ASSERT_TRUE(s);
    ASSERT_TRUE(s->write_all(std::string_view("through the proxy")));
    ASSERT_TRUE(s->shutdown(Shutdown::write));
    EXPECT_EQ(read_all(*s), "through the proxy") << c.kind << " " << relay.process.err();
  }
}

TEST(RelayTest, ProxyRefusingAuthenticationEndsTheFlowWithAnError) {
  Peer echo = start_peer({"echo"});
  Peer proxy = start_peer({"socks5", "u", "p"});
  Relay relay = start_relay({"--proxy-auth", "u:wrong", "tcp-listen:127.0.0.1:0",
                             "socks5:127.0.0.1:" + proxy.port() + ":127.0.0.1:" + echo.port()});
  auto s = TcpStream::connect(Endpoint::ipv4_loopback(relay.port()), Deadline(5s));
  ASSERT_TRUE(s);
  EXPECT_EQ(read_all(*s), "");
  auto flow = relay.process.wait_for_err_line("\"flow\"");
  ASSERT_TRUE(flow);
  EXPECT_NE(flow->find("\"error\""), std::string::npos) << *flow;
}

TEST(RelayUsageTest, RefusesWhatItCannotDo) {
  const std::vector<std::vector<std::string>> bad = {
      {"relay", "--client-ca", "ca.pem", "stdio", "tcp:127.0.0.1:1"},
      {"relay", "tcp-listen:0", "tls-listen:443"},
      {"relay", "tcp-listen:0", "unix-listen:/tmp/x"},
      {"relay", "stdio", "-"},
      {"relay", "bogus:1", "stdio"},
      {"relay", "tcp:host", "stdio"},
      {"relay", "tcp:127.0.0.1:99999", "stdio"},
      {"relay", "--threads", "2", "stdio", "tcp:127.0.0.1:1"},
      {"relay", "--max-conns", "2", "tcp:127.0.0.1:1", "tcp:127.0.0.1:2"},
      {"relay", "--proxy-auth", "u:p", "tcp-listen:0", "tcp:127.0.0.1:1"},
      {"relay", "udp-listen:0", "tcp:127.0.0.1:1"},
      {"relay", "tcp-listen:0"},
  };
  for (const auto& args : bad) {
    auto r = run_tether(args);
    EXPECT_EQ(r.status, 2) << args[1] << " " << r.err;
    EXPECT_EQ(lines_of(r.err).size(), 1u) << r.err;
  }
}

}  // namespace
