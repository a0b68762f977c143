// Security of the CLI (issue 5): --allow / --deny and --max-conns of `tether listen --echo`.
// Beyond listen_modes_test: deny wins even over a MORE specific allow; IPv4 clients of a dual-stack
// listener (seen as ::ffff:a.b.c.d) match IPv4 rules, and rules written in mapped form match them
// too; clients over --max-conns are closed at once (not at some timeout), across several loops.
#include "cli_support.hpp"

#include <tether/tcp.hpp>

#include <gtest/gtest.h>

#include <signal.h>

#include <array>
#include <chrono>
#include <optional>
#include <thread>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using namespace tether;
using namespace tether::testing::cli;

namespace {

struct Served {
  Process process;
  std::uint16_t port = 0;
};

Served serve(std::vector<std::string> args, const std::string& address) {
  args.insert(args.begin(), {tether_path(), "listen", "--echo"});
  for (const char* a : {"--json", "--threads", "2"}) args.emplace_back(a);
  args.push_back(address);
  args.push_back("0");
  Served s{Process::start(args), 0};
  s.port = port_of(listening_endpoint(s.process));
  EXPECT_NE(s.port, 0) << s.process.err();
  return s;
}

Result<TcpStream> connect_from(std::uint8_t last_octet, std::uint16_t port) {
  ConnectOptions o;
  o.deadline = 5s;
  o.source = Endpoint::ipv4({127, 0, 0, last_octet}, 0);
  return TcpStream::connect(Endpoint::ipv4({127, 0, 0, 1}, port), o);
}

/// True when an echo round trip works on `s`.
bool served(TcpStream& s) {
  if (!s.write_all("ping", 2s)) return false;
  std::array<char, 4> back{};
  return s.read_exact(std::span(back), 2s) && std::string(back.data(), 4) == "ping";
}

/// How long until the server closed `s` (end of stream or reset); nullopt if not within 5 s.
std::optional<std::chrono::milliseconds> time_to_close(TcpStream& s) {
  const auto t0 = std::chrono::steady_clock::now();
  std::array<char, 64> buf;
  for (;;) {
    auto n = s.read_some(buf, Deadline(5s));
    if ((n && *n == 0) || (!n && n.error() == std::errc::connection_reset)) {
      return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
    }
    if (!n) return std::nullopt;
  }
}

std::vector<JsonObject> stop(Served& s) {
  ::kill(s.process.pid(), SIGTERM);
  EXPECT_EQ(s.process.wait(10s), 0) << s.process.err();
  return json_events(s.process.err());
}

int count_events(const std::vector<JsonObject>& events, const std::string& name,
                 const std::string& reason) {
  int n = 0;
  for (const auto& e : events) {
    if (e.at("event") == name && e.count("reason") != 0 && e.at("reason") == reason) ++n;
  }
  return n;
}

}  // namespace

TEST(cli_access, deny_wins_even_over_a_more_specific_allow) {
  auto s = serve({"--allow", "127.0.0.2", "--allow", "127.0.0.3/32", "--deny", "127.0.0.0/29"}, "127.0.0.1");
  for (std::uint8_t who : {std::uint8_t{2}, std::uint8_t{3}}) {
    auto c = connect_from(who, s.port);
    ASSERT_TRUE(c) << c.error().message();
    auto t = time_to_close(*c);
    EXPECT_TRUE(t.has_value()) << "127.0.0." << int{who} << " was allowed despite --deny";
  }
  auto outside = connect_from(9, s.port);  // matches no allow rule: refused as well
  ASSERT_TRUE(outside);
  EXPECT_TRUE(time_to_close(*outside).has_value());
  auto events = stop(s);
  EXPECT_EQ(count_events(events, "rejected", "denied"), 3);
  int accepted = 0;
  for (const auto& e : events) accepted += e.at("event") == "accepted" ? 1 : 0;
  EXPECT_EQ(accepted, 0);
}

TEST(cli_access, ipv4_mapped_peers_of_a_dual_stack_listener_match_ipv4_rules) {
  auto s = serve({"--allow", "127.0.0.0/8", "--deny", "127.0.0.2", "--deny", "::ffff:127.0.0.4"}, "::");
  auto allowed = connect_from(3, s.port);
  ASSERT_TRUE(allowed) << allowed.error().message();
  EXPECT_TRUE(served(*allowed)) << "an IPv4 peer (seen as ::ffff:127.0.0.3) missed --allow 127.0.0.0/8";
  for (std::uint8_t who : {std::uint8_t{2}, std::uint8_t{4}}) {  // an IPv4 rule, and a rule written in mapped form
    auto c = connect_from(who, s.port);
    ASSERT_TRUE(c) << c.error().message();
    EXPECT_TRUE(time_to_close(*c).has_value()) << "127.0.0." << int{who} << " passed its --deny";
  }
  allowed->close();
  auto events = stop(s);
  EXPECT_EQ(count_events(events, "rejected", "denied"), 2);
  for (const auto& e : events) {
    if (e.at("event") != "rejected") continue;
    const auto& peer = e.at("peer");
    EXPECT_TRUE(peer.find("127.0.0.2") != std::string::npos || peer.find("127.0.0.4") != std::string::npos)
        << peer;
  }
}

TEST(cli_access, clients_over_max_conns_are_closed_at_once_across_loops) {
  constexpr int limit = 5;
  auto s = serve({"--max-conns", std::to_string(limit)}, "127.0.0.1");
  std::vector<TcpStream> admitted;
  for (int i = 0; i < limit; ++i) {
    auto c = TcpStream::connect(Endpoint::ipv4({127, 0, 0, 1}, s.port), 5s);
    ASSERT_TRUE(c);
    ASSERT_TRUE(served(*c)) << "client " << i << " within the limit";
    admitted.push_back(std::move(*c));
  }
  for (int i = 0; i < 5; ++i) {
    auto extra = TcpStream::connect(Endpoint::ipv4({127, 0, 0, 1}, s.port), 5s);
    ASSERT_TRUE(extra);
    auto t = time_to_close(*extra);
    ASSERT_TRUE(t.has_value()) << "extra client " << i << " was kept";
    EXPECT_LT(*t, 500ms) << "extra client " << i << " was not closed at once";
  }
  for (auto& c : admitted) EXPECT_TRUE(served(c)) << "an admitted client lost service";
  admitted.pop_back();  // a slot frees up
  std::this_thread::sleep_for(100ms);
  auto again = TcpStream::connect(Endpoint::ipv4({127, 0, 0, 1}, s.port), 5s);
  ASSERT_TRUE(again);
  EXPECT_TRUE(served(*again));
  again->close();
  admitted.clear();
  auto events = stop(s);
  EXPECT_EQ(count_events(events, "rejected", "max-conns"), 5);
}
