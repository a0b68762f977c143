// tether relay's zero-copy path: splice(2) between two sockets, and the copy path it falls back
// to (--no-splice, TETHER_RELAY_SPLICE=0). Each flow event names its path.
#include "relay_support.hpp"

#include <tether/tcp.hpp>

#include <gtest/gtest.h>

#include <string>
#include <thread>

using namespace std::chrono_literals;
using namespace tether;
using namespace tether::testing::cli;

namespace {

constexpr std::size_t ten_mb = 10 * 1000 * 1000;

std::string tcp_at(const std::string& port) { return "tcp:127.0.0.1:" + port; }

std::string hex(std::string_view s) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

/// 10 MB to an echo peer through the relay and back, both ways at once: the client writes all,
/// shuts down its side (the echo peer answers to the end, then closes) and reads everything back.
/// Returns the relay's flow event.
std::optional<JsonObject> ten_mb_both_ways(Process& relay_process, std::uint16_t port, unsigned seed) {
  auto s = TcpStream::connect(Endpoint::ipv4_loopback(port), Deadline(5s));
  EXPECT_TRUE(s);
  if (!s) return std::nullopt;
  const std::string data = random_bytes(ten_mb, seed);
  bool wrote = false;
  std::thread writer([&] {
    wrote = s->write_all(data, Deadline(30s)).has_value() && s->shutdown(Shutdown::write).has_value();
  });
  const std::string back = read_all(*s, Deadline(30s));
  writer.join();
  EXPECT_TRUE(wrote);
  EXPECT_EQ(back.size(), data.size());
  EXPECT_TRUE(back == data) << "the bytes that came back differ";
  auto flow = relay_process.wait_for_err_line("\"flow\"", 10s);
  EXPECT_TRUE(flow) << relay_process.err();
  if (!flow) return std::nullopt;
  return parse_json_object(*flow);
}

void expect_counts(const JsonObject& flow, const std::string& path) {
  EXPECT_EQ(flow.at("bytes_a_to_b"), std::to_string(ten_mb));
  EXPECT_EQ(flow.at("bytes_b_to_a"), std::to_string(ten_mb));
  EXPECT_EQ(flow.at("closed_first"), "a");
  EXPECT_EQ(flow.at("path"), path);
  EXPECT_EQ(flow.count("error"), 0U);
}

TEST(RelaySpliceTest, TcpTenMegabytesBothWaysWithHalfCloseBySplice) {
  Peer echo = start_peer({"echo"});
  Relay relay = start_relay({"tcp-listen:127.0.0.1:0", tcp_at(echo.port())});
  auto flow = ten_mb_both_ways(relay.process, relay.port(), 21);
  ASSERT_TRUE(flow);
  expect_counts(*flow, "splice");
}

TEST(RelaySpliceTest, TcpToUnixTenMegabytesBothWaysBySplice) {
  TempPath sock("echo");
  Peer echo = start_peer({"unix-echo", sock.str()});
  Relay relay = start_relay({"tcp-listen:127.0.0.1:0", "unix:" + sock.str()});
  auto flow = ten_mb_both_ways(relay.process, relay.port(), 22);
  ASSERT_TRUE(flow);
  expect_counts(*flow, "splice");
}

TEST(RelaySpliceTest, NoSpliceFlagCopiesTheSameBytes) {
  Peer echo = start_peer({"echo"});
  Relay relay = start_relay({"--no-splice", "tcp-listen:127.0.0.1:0", tcp_at(echo.port())});
  auto flow = ten_mb_both_ways(relay.process, relay.port(), 23);
  ASSERT_TRUE(flow);
  expect_counts(*flow, "copy");
}

TEST(RelaySpliceTest, EnvironmentTurnsSpliceOff) {
  Peer echo = start_peer({"echo"});
  Process p = Process::start({"env", "TETHER_RELAY_SPLICE=0", tether_path(), "relay", "--json",
                              "tcp-listen:127.0.0.1:0", tcp_at(echo.port())});
  const std::string local = listening_endpoint(p);
  ASSERT_FALSE(local.empty()) << p.err();
  auto flow = ten_mb_both_ways(p, port_of(local), 24);
  ASSERT_TRUE(flow);
  expect_counts(*flow, "copy");
}

TEST(RelaySpliceTest, ProxyHeaderGoesBeforeSplicedBytes) {
  // The head peer prints (hex) what it got up to 1000 bytes or the end: the header, then the body.
  const std::string body = "spliced after the header\n";
  Peer head = start_peer({"head", "1000"});
  Relay relay = start_relay({"--proxy-protocol", "v1", "tcp-listen:127.0.0.1:0", tcp_at(head.port())});
  auto c = TcpStream::connect(Endpoint::ipv4_loopback(relay.port()), Deadline(5s));
  ASSERT_TRUE(c);
  const std::string header = "PROXY TCP4 127.0.0.1 127.0.0.1 " + std::to_string(c->local_endpoint()->port()) +
                             " " + std::to_string(relay.port()) + "\r\n";
  ASSERT_TRUE(c->write_all(body, Deadline(5s)));
  ASSERT_TRUE(c->shutdown(Shutdown::write));
  (void)read_all(*c);
  const auto want = hex(header + body);
  ASSERT_TRUE(head.process.wait_for_out_size(static_cast<long>(head.first_line.size() + 1 + want.size())));
  auto lines = lines_of(head.process.out());
  ASSERT_GE(lines.size(), 2u);
  EXPECT_EQ(lines[1], want);
  auto flow = relay.process.wait_for_err_line("\"flow\"", 10s);
  ASSERT_TRUE(flow);
  auto obj = parse_json_object(*flow);
  ASSERT_TRUE(obj);
  EXPECT_EQ(obj->at("path"), "splice");
  EXPECT_EQ(obj->at("bytes_a_to_b"), std::to_string(body.size()));  // the header is the relay's own
}

TEST(RelaySpliceTest, NoSpliceIsRefusedWhereNothingSplices) {
  auto r = run_tether({"relay", "--no-splice", "stdio", "tcp:127.0.0.1:9"});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("--no-splice"), std::string::npos) << r.err;
  auto u = run_tether({"relay", "--no-splice", "udp-listen:127.0.0.1:0", "udp:127.0.0.1:9"});
  EXPECT_EQ(u.status, 2);
}

}  // namespace
