// Issue 8 item 1: a serving mode of `tether listen` holds its port alone, whatever its loop count.
// A second tether on the port fails with "address already in use" (exit 1); so does a tether
// started on a port a stranger already holds with SO_REUSEPORT (a python3 socket); and a stranger
// with SO_REUSEPORT cannot bind the port tether holds. TCP and UDP, with --threads 2.
#include "cli_support.hpp"

#include <tether/endpoint.hpp>
#include <tether/port_group.hpp>
#include <tether/tcp.hpp>

#include <gtest/gtest.h>

#include <signal.h>

#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using namespace tether;
using namespace tether::testing::cli;

namespace {

struct Mode {
  std::vector<std::string> args;
  bool udp;
};

const std::vector<Mode>& modes() {
  static const std::vector<Mode> m = {
      {{"--echo", "--threads", "2"}, false},       {{"--chat", "--threads", "2"}, false},
      {{"--discard", "--threads", "2"}, false},    {{"--echo", "-u", "--threads", "2"}, true},
      {{"--discard", "-u", "--threads", "2"}, true}, {{"--sockperf", "-k"}, false},
      {{"--sockperf", "-u"}, true},
  };
  return m;
}

std::string joined(const std::vector<std::string>& args) {
  std::string s;
  for (const auto& a : args) s += a + " ";
  return s;
}

Process start_tether(const Mode& m, const std::string& port) {
  std::vector<std::string> argv{tether_path(), "listen"};
  argv.insert(argv.end(), m.args.begin(), m.args.end());
  for (const char* a : {"--json", "127.0.0.1"}) argv.emplace_back(a);
  argv.push_back(port);
  return Process::start(argv);
}

// python3: binds 127.0.0.1:PORT with SO_REUSEPORT (listening for TCP); prints "bound PORT" or
// "refused ERRNO", then holds the socket until killed.
Process python_reuseport(bool udp, std::uint16_t port) {
  const std::string script = std::string(
      "import socket, sys, time\n"
      "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM if sys.argv[1] == 'udp' else socket.SOCK_STREAM)\n"
      "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)\n"
      "try:\n"
      "    s.bind(('127.0.0.1', int(sys.argv[2])))\n"
      "    if sys.argv[1] != 'udp': s.listen(16)\n"
      "    print('bound', s.getsockname()[1], flush=True)\n"
      "except OSError as e:\n"
      "    print('refused', e.errno, flush=True)\n"
      "    sys.exit(0)\n"
      "time.sleep(30)\n");
  return Process::start({"python3", "-c", script, udp ? "udp" : "tcp", std::to_string(port)});
}

}  // namespace

TEST(port_exclusive, a_second_tether_on_the_port_fails_with_address_in_use) {
  for (const auto& first : modes()) {
    auto p = start_tether(first, "0");
    const auto port = port_of(listening_endpoint(p));
    ASSERT_NE(port, 0) << joined(first.args) << p.err();
    for (const auto& second : modes()) {
      if (second.udp != first.udp) continue;
      auto q = start_tether(second, std::to_string(port));
      EXPECT_EQ(q.wait(10s), 1) << joined(second.args) << "started on the port of " << joined(first.args);
      EXPECT_NE(q.err().find("address already in use"), std::string::npos) << q.err();
    }
    ::kill(p.pid(), SIGTERM);
    EXPECT_EQ(p.wait(10s), 0) << p.err();
  }
}

TEST(port_exclusive, a_stranger_with_so_reuseport_cannot_join_the_port) {
  ASSERT_TRUE(tether::testing::have_program("python3"));
  for (const auto& m : modes()) {
    auto p = start_tether(m, "0");
    const auto port = port_of(listening_endpoint(p));
    ASSERT_NE(port, 0) << joined(m.args) << p.err();
    auto py = python_reuseport(m.udp, port);
    ASSERT_EQ(py.wait(10s), 0) << py.err();
    EXPECT_EQ(py.out().rfind("refused 98", 0), 0u) << joined(m.args) << ": " << py.out();
    ::kill(p.pid(), SIGTERM);
    EXPECT_EQ(p.wait(10s), 0) << p.err();
  }
}

TEST(port_exclusive, tether_fails_on_a_port_a_stranger_holds_with_so_reuseport) {
  ASSERT_TRUE(tether::testing::have_program("python3"));
  for (bool udp : {false, true}) {
    auto py = python_reuseport(udp, 0);
    std::string out;
    for (int i = 0; i < 500 && out.find('\n') == std::string::npos; ++i) {  // a whole line
      std::this_thread::sleep_for(10ms);
      out = py.out();
    }
    ASSERT_EQ(out.rfind("bound ", 0), 0u) << out << py.err();
    const std::string port = out.substr(6, out.find('\n') - 6);
    for (const auto& m : modes()) {
      if (m.udp != udp) continue;
      auto q = start_tether(m, port);
      EXPECT_EQ(q.wait(10s), 1) << joined(m.args) << "joined a stranger's port";
      EXPECT_NE(q.err().find("address already in use"), std::string::npos) << q.err();
    }
  }
}

TEST(port_exclusive, listen_shared_hands_out_handles_on_one_socket) {
  auto group = listen_shared(Endpoint::ipv4({127, 0, 0, 1}, 0), 3);
  ASSERT_TRUE(group) << group.error().message();
  ASSERT_EQ(group->size(), 3u);
  auto where = (*group)[0].local_endpoint();
  ASSERT_TRUE(where);
  for (auto& l : *group) EXPECT_EQ(l.local_endpoint()->port(), where->port());
  ListenOptions o;
  o.reuse_port = true;  // even a listener that asks for SO_REUSEPORT cannot join
  EXPECT_FALSE(TcpListener::bind(*where, o));
  EXPECT_FALSE(listen_shared(*where, 2));
  auto udp = bind_shared(Endpoint::ipv4({127, 0, 0, 1}, 0), 2);
  ASSERT_TRUE(udp);
  UdpBindOptions uo;
  uo.reuse_port = true;
  uo.reuse_address = true;
  EXPECT_FALSE(UdpSocket::bind(*(*udp)[0].local_endpoint(), uo));
}
