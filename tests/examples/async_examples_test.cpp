// The coroutine examples, run as a user would run them.
#include "testing.hpp"

#include <tether/tcp.hpp>

#include <gtest/gtest.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <array>
#include <string>
#include <thread>

using namespace std::chrono_literals;
using tether::testing::Child;

namespace {

std::string example(const char* name) { return std::string(TETHER_BINARY_DIR) + "/examples/" + name; }

// Starts a server example; returns the endpoint from its "listening tcp ADDR:PORT" line. The
// pipe of its stdout stays open in `out` (the server prints more later).
tether::Endpoint start(Child& child, const char* name, tether::Socket& out) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return {};
  child = Child::spawn({example(name), "0"}, -1, p[1]);
  ::close(p[1]);
  out = tether::Socket(p[0]);
  std::string line;
  char ch;
  pollfd pfd{p[0], POLLIN, 0};
  while (line.find('\n') == std::string::npos && ::poll(&pfd, 1, 5000) > 0 && ::read(p[0], &ch, 1) == 1) {
    line += ch;
  }
  auto space = line.rfind(' ');
  auto ep = tether::Endpoint::parse(line.substr(space + 1, line.size() - space - 2));
  return ep ? *ep : tether::Endpoint();
}

std::string read_text(tether::TcpStream& s, std::size_t want) {
  std::string out;
  std::array<char, 256> buf;
  while (out.size() < want) {
    auto n = s.read_some(buf, 5s);
    if (!n || *n == 0) break;
    out.append(buf.data(), *n);
  }
  return out;
}

}  // namespace

TEST(AsyncExamples, echo_server_echoes_and_exits_cleanly_on_sigterm) {
  Child server;
  tether::Socket out;
  auto ep = start(server, "echo_server", out);
  ASSERT_EQ(ep.kind(), tether::EndpointKind::ipv4);
  auto a = tether::TcpStream::connect(ep, 5s);
  auto b = tether::TcpStream::connect(ep, 5s);
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(a->write_all("first"));
  ASSERT_TRUE(b->write_all("second"));
  EXPECT_EQ(read_text(*b, 6), "second");
  EXPECT_EQ(read_text(*a, 5), "first");
  ASSERT_EQ(::kill(server.pid(), SIGTERM), 0);
  EXPECT_EQ(server.wait(5s), 0);
}

TEST(AsyncExamples, chat_server_relays_lines_to_the_other_clients) {
  Child server;
  tether::Socket out;
  auto ep = start(server, "chat_server", out);
  ASSERT_EQ(ep.kind(), tether::EndpointKind::ipv4);
  auto a = tether::TcpStream::connect(ep, 5s);
  ASSERT_TRUE(a);
  // Connected is not yet joined: the server's loop registers `a` when it accepts it, and the
  // loops run on their own threads. Give it a moment before `b` announces itself.
  std::this_thread::sleep_for(200ms);
  auto b = tether::TcpStream::connect(ep, 5s);
  ASSERT_TRUE(b);
  const std::string b_name = "<" + b->local_endpoint()->to_string() + "> ";
  EXPECT_EQ(read_text(*a, b_name.size() + 7), b_name + "joined\n");
  const std::string a_name = "<" + a->local_endpoint()->to_string() + "> ";
  ASSERT_TRUE(a->write_all("hi there\n"));
  EXPECT_EQ(read_text(*b, a_name.size() + 9), a_name + "hi there\n");
  a->close();
  EXPECT_EQ(read_text(*b, a_name.size() + 5), a_name + "left\n");
  ASSERT_EQ(::kill(server.pid(), SIGINT), 0);
  b->close();
  EXPECT_EQ(server.wait(10s), 0);
}
