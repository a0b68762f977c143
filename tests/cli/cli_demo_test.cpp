// `make demo` runs scripts/demo.sh: it must succeed, stay under 10 s and leave no process behind.
#include "cli_support.hpp"

#include <gtest/gtest.h>

#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>

namespace {

using namespace tether::testing::cli;

TEST(cli_demo, demo_script_runs_under_10_seconds_and_ends_every_process) {
  // Orphans of the demo would be re-parented to us: then we can tell whether any were left.
  ASSERT_EQ(::prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
  Process demo = Process::start({"bash", std::string(TETHER_SOURCE_DIR) + "/scripts/demo.sh", tether_path()});
  int status = demo.wait(10s);
  EXPECT_EQ(status, 0) << demo.out() << demo.err();
  const std::string out = demo.out();
  for (const char* shown : {"listening proto=tcp", "accepted proto=tcp", "connected proto=tcp", "5-tuple",
                            "(tcp, 127.0.0.1, ", "hello, server", "hello, client", "goodbye",
                            "closed proto=tcp", "proto=udp", "ping", "pong", "Done in"}) {
    EXPECT_NE(out.find(shown), std::string::npos) << "the demo did not show '" << shown << "'\n" << out;
  }
  // The handshake and the close of the demo's own connection (issue 12): --trace on both sides,
  // and the packet ladder where the demo may capture (CAP_NET_RAW), else the reason.
  std::vector<std::string> trace = {"SYN ->", "<- SYN-ACK", "options      MSS", "client's SYN from 127.0.0.1:",
                                    "FIN-WAIT-1", "CLOSE-WAIT", "TIME-WAIT    this side closed first"};
  const int packet = ::socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (packet >= 0) {
    ::close(packet);
    trace.insert(trace.end(), {"handshake 1/3: SYN", "handshake 2/3: SYN-ACK", "handshake 3/3: ACK",
                               "close 1/4", "close 4/4"});
  } else {
    trace.push_back("needs CAP_NET_RAW");
  }
  for (const auto& shown : trace) {
    EXPECT_NE(out.find(shown), std::string::npos) << "the demo did not show '" << shown << "'\n" << out;
  }
  int st = 0;
  pid_t left = ::waitpid(-1, &st, WNOHANG);
  EXPECT_EQ(left, -1) << "a process started by the demo outlived it";
  EXPECT_EQ(errno, ECHILD);
}

}  // namespace
