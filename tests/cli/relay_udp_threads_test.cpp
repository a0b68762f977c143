// tether relay udp-listen with --threads: sessions spread over several event loops (one
// tether::EventLoop each; the .uring twin runs them on io_uring) behind ONE listening socket.
#include "relay_support.hpp"

#include <tether/udp.hpp>

#include <gtest/gtest.h>

#include <dirent.h>
#include <signal.h>

#include <array>
#include <map>
#include <set>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using namespace tether;
using namespace tether::testing::cli;

namespace {

std::string udp_at(const std::string& port) { return "udp:127.0.0.1:" + port; }

UdpSocket client_on(const char* ip) {
  auto s = UdpSocket::bind(*Endpoint::parse(std::string(ip) + ":0"));
  EXPECT_TRUE(s) << ip;
  return s ? std::move(*s) : UdpSocket();
}

/// The relay's "summary" event counts `flows` sessions and `rejected` clients.
void expect_summary(const Relay& relay, const char* flows, const char* rejected) {
  auto summary = find_event(json_events(relay.process.err()), "summary");
  ASSERT_TRUE(summary) << relay.process.err();
  EXPECT_EQ(summary->at("flows"), flows);
  EXPECT_EQ(summary->at("rejected"), rejected);
}

/// One datagram back within `wait`, or "" (none came).
std::string reply_of(UdpSocket& s, std::chrono::milliseconds wait, Endpoint* from = nullptr) {
  std::array<char, 65536> buf;
  auto d = s.recv_from(std::as_writable_bytes(std::span(buf)), Deadline(wait));
  if (!d) return {};
  if (from != nullptr) *from = d->from;
  return std::string(buf.data(), d->size);
}

int task_count(pid_t pid) {
  int n = 0;
  if (DIR* d = ::opendir(("/proc/" + std::to_string(pid) + "/task").c_str())) {
    while (dirent* e = ::readdir(d)) n += e->d_name[0] != '.';
    ::closedir(d);
  }
  return n;
}

std::vector<JsonObject> events_named(const std::string& err, const std::string& name) {
  std::vector<JsonObject> out;
  for (auto& e : json_events(err)) {
    if (e.count("event") != 0 && e.at("event") == name) out.push_back(e);
  }
  return out;
}

int stop(Relay& relay) {
  ::kill(relay.process.pid(), SIGTERM);
  return relay.process.wait(10s);
}

class RelayUdpThreads : public ::testing::TestWithParam<int> {};

TEST_P(RelayUdpThreads, HundredClientsGetExactlyTheirOwnReplies) {
  const int loops = GetParam();
  Peer echo = start_peer({"udp-echo"});
  Relay relay = start_relay({"--threads", std::to_string(loops), "udp-listen:127.0.0.1:0", udp_at(echo.port())});
  ASSERT_NE(relay.port(), 0);
  EXPECT_GE(task_count(relay.process.pid()), loops);  // the loops run on threads of their own
  const Endpoint to = Endpoint::ipv4_loopback(relay.port());
  constexpr int clients = 100;
  constexpr int rounds = 3;
  std::vector<UdpSocket> socks;
  std::map<std::string, std::size_t> bytes_of;  // client endpoint -> bytes it sent
  for (int i = 0; i < clients; ++i) socks.push_back(client_on("127.0.0.1"));
  auto payload = [](int i, int k) {
    return "c" + std::to_string(i) + "r" + std::to_string(k) + ":" +
           random_bytes(static_cast<std::size_t>(16 + (i * 37 + k * 101) % 1200), static_cast<unsigned>(i * 10 + k));
  };
  int good = 0;
  for (int k = 0; k < rounds; ++k) {
    for (int i = 0; i < clients; ++i) {
      ASSERT_TRUE(socks[static_cast<std::size_t>(i)].send_to(std::string_view(payload(i, k)), to));
    }
    for (int i = 0; i < clients; ++i) {
      auto& s = socks[static_cast<std::size_t>(i)];
      Endpoint from;
      const std::string back = reply_of(s, 5s, &from);
      if (back == payload(i, k) && from == to) ++good;
      bytes_of[s.local_endpoint()->to_string()] += payload(i, k).size();
    }
  }
  EXPECT_EQ(good, clients * rounds);
  ASSERT_EQ(stop(relay), 0) << relay.process.err();
  const std::string err = relay.process.err();
  auto flows = events_named(err, "flow");
  ASSERT_EQ(flows.size(), static_cast<std::size_t>(clients)) << err;
  std::set<std::string> peers;
  for (const auto& f : flows) {
    const std::string peer = f.at("a_peer");
    peers.insert(peer);
    ASSERT_EQ(bytes_of.count(peer), 1u) << peer;
    EXPECT_EQ(f.at("bytes_a_to_b"), std::to_string(bytes_of[peer])) << peer;
    EXPECT_EQ(f.at("bytes_b_to_a"), std::to_string(bytes_of[peer])) << peer;
  }
  EXPECT_EQ(peers.size(), static_cast<std::size_t>(clients));
  auto summary = find_event(json_events(err), "summary");
  ASSERT_TRUE(summary) << err;
  EXPECT_EQ(summary->at("flows"), std::to_string(clients));
  EXPECT_EQ(summary->at("dropped"), "0");
}

INSTANTIATE_TEST_SUITE_P(Loops, RelayUdpThreads, ::testing::Values(2, 4));

TEST(RelayUdpThreadsTest, SessionsExpireByTtlOnEveryLoop) {
  Peer echo = start_peer({"udp-echo"});
  Relay relay = start_relay({"--threads", "2", "--idle-timeout", "0.2", "udp-listen:127.0.0.1:0", udp_at(echo.port())});
  const Endpoint to = Endpoint::ipv4_loopback(relay.port());
  std::vector<UdpSocket> socks;
  for (int i = 0; i < 4; ++i) {  // round robin: two sessions on each loop
    socks.push_back(client_on("127.0.0.1"));
    ASSERT_TRUE(socks.back().send_to(std::string_view("one"), to));
    EXPECT_EQ(reply_of(socks.back(), 5s), "one");
  }
  // Every session ends idle (a flow event each), then the same clients come back as new sessions.
  auto until = std::chrono::steady_clock::now() + 5s;
  while (events_named(relay.process.err(), "flow").size() < 4 && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(10ms);
  }
  ASSERT_EQ(events_named(relay.process.err(), "flow").size(), 4u) << relay.process.err();
  for (auto& s : socks) {
    ASSERT_TRUE(s.send_to(std::string_view("two"), to));
    EXPECT_EQ(reply_of(s, 5s), "two");
  }
  ASSERT_EQ(stop(relay), 0);
  auto summary = find_event(json_events(relay.process.err()), "summary");
  ASSERT_TRUE(summary);
  EXPECT_EQ(summary->at("flows"), "8");
}

TEST(RelayUdpThreadsTest, MaxConnsCountsSessionsOfAllLoops) {
  Peer echo = start_peer({"udp-echo"});
  Relay relay = start_relay({"--threads", "2", "--max-conns", "3", "udp-listen:127.0.0.1:0", udp_at(echo.port())});
  const Endpoint to = Endpoint::ipv4_loopback(relay.port());
  std::vector<UdpSocket> socks;
  for (int i = 0; i < 5; ++i) {
    socks.push_back(client_on("127.0.0.1"));
    ASSERT_TRUE(socks.back().send_to(std::string_view("hi"), to));
    // The first three get a session; the other two are refused (nothing comes back).
    EXPECT_EQ(reply_of(socks.back(), i < 3 ? 5s : 300ms), i < 3 ? "hi" : "") << i;
  }
  ASSERT_EQ(stop(relay), 0);
  expect_summary(relay, "3", "2");
}

TEST(RelayUdpThreadsTest, DenyIsEnforced) {
  Peer echo = start_peer({"udp-echo"});
  Relay relay = start_relay({"--threads", "2", "--deny", "127.0.0.2/32", "udp-listen:127.0.0.1:0", udp_at(echo.port())});
  const Endpoint to = Endpoint::ipv4_loopback(relay.port());
  UdpSocket denied = client_on("127.0.0.2");
  UdpSocket allowed = client_on("127.0.0.1");
  ASSERT_TRUE(denied.send_to(std::string_view("no"), to));
  ASSERT_TRUE(allowed.send_to(std::string_view("yes"), to));
  EXPECT_EQ(reply_of(allowed, 5s), "yes");
  EXPECT_EQ(reply_of(denied, 300ms), "");
  ASSERT_EQ(stop(relay), 0);
  expect_summary(relay, "1", "1");
}

TEST(RelayUdpThreadsTest, NoSecondSocketCanBindThePort) {
  Peer echo = start_peer({"udp-echo"});
  Relay relay = start_relay({"--threads", "4", "udp-listen:127.0.0.1:0", udp_at(echo.port())});
  const Endpoint at = Endpoint::ipv4_loopback(relay.port());
  UdpBindOptions sharing;
  sharing.reuse_address = true;
  sharing.reuse_port = true;
  EXPECT_FALSE(UdpSocket::bind(at));
  EXPECT_FALSE(UdpSocket::bind(at, sharing));
  auto second = run_tether({"relay", "--threads", "2", "udp-listen:127.0.0.1:" + std::to_string(relay.port()),
                            udp_at(echo.port())});
  EXPECT_EQ(second.status, 1) << second.err;
  // The relay still serves.
  UdpSocket c = client_on("127.0.0.1");
  ASSERT_TRUE(c.send_to(std::string_view("still"), at));
  EXPECT_EQ(reply_of(c, 5s), "still");
  ASSERT_EQ(stop(relay), 0);
}

TEST(RelayUdpThreadsTest, DrainServesOldSessionsUntilIdleAndRefusesNewOnes) {
  Peer echo = start_peer({"udp-echo"});
  Relay relay = start_relay({"--threads", "2", "--drain", "8", "--idle-timeout", "0.5", "udp-listen:127.0.0.1:0",
                             udp_at(echo.port())});
  const Endpoint to = Endpoint::ipv4_loopback(relay.port());
  std::vector<UdpSocket> old;
  for (int i = 0; i < 2; ++i) {  // one session on each loop
    old.push_back(client_on("127.0.0.1"));
    ASSERT_TRUE(old.back().send_to(std::string_view("before"), to));
    ASSERT_EQ(reply_of(old.back(), 5s), "before");
  }
  const auto signalled = std::chrono::steady_clock::now();
  ::kill(relay.process.pid(), SIGTERM);
  // Draining: the sessions go on (the signal is handled within a few iterations: bounded retry).
  for (auto& s : old) {
    std::string back;
    for (int i = 0; i < 20 && back.empty(); ++i) {
      ASSERT_TRUE(s.send_to(std::string_view("after"), to));
      back = reply_of(s, 100ms);
    }
    EXPECT_EQ(back, "after");
  }
  UdpSocket late = client_on("127.0.0.1");
  ASSERT_TRUE(late.send_to(std::string_view("new"), to));
  EXPECT_EQ(reply_of(late, 300ms), "");  // no new session while draining
  // The relay ends when both sessions went idle, well before the 8 s drain time.
  ASSERT_EQ(relay.process.wait(10s), 0) << relay.process.err();
  EXPECT_LT(std::chrono::steady_clock::now() - signalled, 5s);
  expect_summary(relay, "2", "1");
}

TEST(RelayUdpThreadsTest, DrainTimeEndsBusySessions) {
  Peer echo = start_peer({"udp-echo"});
  Relay relay = start_relay({"--threads", "2", "--drain", "0.3", "udp-listen:127.0.0.1:0", udp_at(echo.port())});
  UdpSocket c = client_on("127.0.0.1");
  ASSERT_TRUE(c.send_to(std::string_view("x"), Endpoint::ipv4_loopback(relay.port())));
  ASSERT_EQ(reply_of(c, 5s), "x");
  const auto signalled = std::chrono::steady_clock::now();
  ::kill(relay.process.pid(), SIGTERM);  // the session would stay 60 s (the default TTL)
  ASSERT_EQ(relay.process.wait(10s), 0);
  EXPECT_LT(std::chrono::steady_clock::now() - signalled, 5s);
  EXPECT_TRUE(relay.process.wait_for_err_line("\"flow\"", 1s));
}

TEST(RelayUdpThreadsUsageTest, BadThreadsRefused) {
  auto zero = run_tether({"relay", "--threads", "0", "udp-listen:127.0.0.1:0", "udp:127.0.0.1:9"});
  EXPECT_EQ(zero.status, 2) << zero.err;
  EXPECT_EQ(lines_of(zero.err).size(), 1u) << zero.err;
}

}  // namespace
