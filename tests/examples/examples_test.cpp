// The examples run as a user would run them: servers print their port, clients talk to them.
#include "testing.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <string>

namespace {

using tether::testing::Child;

std::string example(const char* name) { return std::string(TETHER_BINARY_DIR) + "/examples/" + name; }

/// Runs `argv`, and returns everything it printed on stdout (waits up to 5 s for it to exit).
std::string run_capture(const std::vector<std::string>& argv, int* exit_code) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return {};
  Child c = Child::spawn(argv, -1, p[1]);
  ::close(p[1]);
  std::string out;
  char buf[512];
  pollfd pfd{p[0], POLLIN, 0};
  while (::poll(&pfd, 1, 5000) > 0) {
    ssize_t n = ::read(p[0], buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(p[0]);
  *exit_code = c.wait(std::chrono::seconds(5));
  return out;
}

/// Starts a server example and returns its port from the "listening PROTO ADDR:PORT" line.
std::string start_server(Child& child, const std::vector<std::string>& argv) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return {};
  child = Child::spawn(argv, -1, p[1]);
  ::close(p[1]);
  std::string line;
  char ch;
  pollfd pfd{p[0], POLLIN, 0};
  while (line.find('\n') == std::string::npos && ::poll(&pfd, 1, 5000) > 0 && ::read(p[0], &ch, 1) == 1) line += ch;
  ::close(p[0]);
  auto colon = line.rfind(':');
  return colon == std::string::npos ? "" : line.substr(colon + 1, line.find('\n') - colon - 1);
}

TEST(Examples, sync_echo_client_gets_its_lines_back_from_sync_echo_server) {
  Child server;
  auto port = start_server(server, {example("echo_server_sync"), "0"});
  ASSERT_FALSE(port.empty());
  int code = -1;
  auto out = run_capture({example("echo_client_sync"), "127.0.0.1", port, "hello", "socket world"}, &code);
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find("connected tcp 127.0.0.1:"), std::string::npos) << out;
  EXPECT_NE(out.find("echo: hello\n"), std::string::npos) << out;
  EXPECT_NE(out.find("echo: socket world\n"), std::string::npos) << out;
}

TEST(Examples, sync_echo_client_reports_refused_connection) {
  int code = -1;
  auto out = run_capture({example("echo_client_sync"), "127.0.0.1", "1", "x"}, &code);
  EXPECT_EQ(code, 1);
}

TEST(Examples, udp_echo_client_gets_reply_from_udp_echo_server) {
  Child server;
  auto port = start_server(server, {example("udp_echo"), "server", "0"});
  ASSERT_FALSE(port.empty());
  int code = -1;
  auto out = run_capture({example("udp_echo"), "client", port, "datagram!"}, &code);
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find(": datagram!"), std::string::npos) << out;
}

}  // namespace
