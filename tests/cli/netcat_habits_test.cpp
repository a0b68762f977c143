// Netcat habits: -q, -C/--crlf, -z (with -v, port ranges), -N, listen -e.
#include "relay_support.hpp"

#include <tether/tcp.hpp>

#include <gtest/gtest.h>

#include <string>
#include <vector>

using namespace std::chrono_literals;
using namespace tether;
using namespace tether::testing::cli;

namespace {

TEST(NetcatHabitsTest, QuitAfterStdinEndEvenIfThePeerStaysOpen) {
  // The hold peer keeps its side open after our FIN: only -q ends the relay (well before 30 s).
  Peer hold = start_peer({"hold"});
  auto r = run_tether({"connect", "-q", "0.2", "127.0.0.1", hold.port()}, "short\n", 15s);
  EXPECT_EQ(r.status, 0) << r.err;
}

TEST(NetcatHabitsTest, CrlfTurnsLineEndsIntoCrLf) {
  Peer head = start_peer({"head", "9"});
  auto r = run_tether({"connect", "-C", "127.0.0.1", head.port()}, "a\nb\r\nc\n", 10s);
  EXPECT_EQ(r.status, 0) << r.err;
  ASSERT_TRUE(head.process.wait_for_out_size(static_cast<long>(head.first_line.size()) + 10));
  EXPECT_EQ(lines_of(head.process.out()).at(1), "610d0a620d0a630d0a");  // "a\r\nb\r\nc\r\n"
}

TEST(NetcatHabitsTest, NoOpDashNIsAccepted) {
  Peer count = start_peer({"count"});
  auto r = run_tether({"connect", "-N", "127.0.0.1", count.port()}, "12345");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "got 5\n");
}

TEST(NetcatHabitsTest, PortProbeOverARange) {
  Peer echo = start_peer({"echo"});
  const int open = std::stoi(echo.port());
  // A range around the open port; the others are (almost surely) closed on loopback.
  const std::string range = std::to_string(open - 1) + "-" + std::to_string(open + 1);
  auto r = run_tether({"connect", "-z", "--json", "127.0.0.1", range});
  EXPECT_EQ(r.status, 0) << r.err;
  auto events = json_events(r.err);
  int probes = 0;
  for (const auto& e : events) {
    if (e.at("event") != "probe") continue;
    ++probes;
    if (e.at("port") == echo.port()) {
      EXPECT_EQ(e.at("state"), "open");
    }
  }
  EXPECT_EQ(probes, 3);
  auto text = run_tether({"connect", "-z", "-v", "127.0.0.1", echo.port()});
  EXPECT_EQ(text.status, 0);
  EXPECT_NE(text.err.find("state=open"), std::string::npos) << text.err;
}

TEST(NetcatHabitsTest, ProbeOfAClosedPortFails) {
  // Bind then close: the port is free and nothing listens on it.
  std::uint16_t port = 0;
  {
    auto l = TcpListener::bind(Endpoint::ipv4_loopback(0));
    ASSERT_TRUE(l);
    port = l->local_endpoint()->port();
  }
  auto r = run_tether({"connect", "-z", "127.0.0.1", std::to_string(port)});
  EXPECT_EQ(r.status, 1) << r.err;
}

TEST(NetcatHabitsTest, ListenDashEIsExec) {
  Process p = Process::start({tether_path(), "listen", "--json", "-e", "tr a-z A-Z", "127.0.0.1", "0"});
  const auto port = port_of(listening_endpoint(p));
  ASSERT_NE(port, 0);
  auto s = TcpStream::connect(Endpoint::ipv4_loopback(port), Deadline(5s));
  ASSERT_TRUE(s);
  ASSERT_TRUE(s->write_all(std::string_view("shout\n")));
  ASSERT_TRUE(s->shutdown(Shutdown::write));
  EXPECT_EQ(read_all(*s), "SHOUT\n");
}

TEST(NetcatHabitsTest, HelpListsTheHabits) {
  auto c = run_tether({"connect", "--help"});
  for (const char* flag : {"-q", "-C,", "--crlf", "-N", "-z", "--proxy"}) {
    EXPECT_NE(c.out.find(flag), std::string::npos) << flag;
  }
  auto l = run_tether({"listen", "--help"});
  for (const char* flag : {"-e,", "--exec", "--sh-exec", "-q"}) EXPECT_NE(l.out.find(flag), std::string::npos) << flag;
}

TEST(NetcatHabitsTest, UsageErrors) {
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"connect", "-z", "127.0.0.1", "25-20"},
           {"connect", "-z", "-u", "127.0.0.1", "20"},
           {"connect", "-z", "127.0.0.1", "x-y"},
           {"connect", "-q", "-1", "127.0.0.1", "1"},
           {"listen", "--echo", "-C", "0"},
       }) {
    auto r = run_tether(args);
    EXPECT_EQ(r.status, 2) << args[1] << " " << r.err;
    EXPECT_EQ(lines_of(r.err).size(), 1u) << r.err;
  }
}

}  // namespace
