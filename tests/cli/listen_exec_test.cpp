// tether listen --exec / --sh-exec / -e: a child per client, reaped, with its endpoints.
#include "relay_support.hpp"

#include <tether/tcp.hpp>

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

struct Listening {
  Process process;
  std::uint16_t port = 0;
};

Listening listen_exec(std::vector<std::string> args) {
  args.insert(args.begin(), {tether_path(), "listen", "--json"});
  args.push_back("127.0.0.1");
  args.push_back("0");
  Listening l{Process::start(args), 0};
  auto text = listening_endpoint(l.process);
  EXPECT_FALSE(text.empty()) << l.process.err();
  l.port = port_of(text);
  return l;
}

std::string exchange(std::uint16_t port, const std::string& msg) {
  auto s = TcpStream::connect(Endpoint::ipv4_loopback(port), Deadline(10s));
  if (!s) return "connect failed";
  if (!s->write_all(msg, Deadline(10s)) || !s->shutdown(Shutdown::write)) return "write failed";
  return read_all(*s, Deadline(20s));
}

TEST(ListenExecTest, TwoHundredConcurrentClientsAndNoZombie) {
  Listening l = listen_exec({"-k", "--exec", "cat"});
  constexpr int clients = 200;
  std::atomic<int> good{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < clients; ++i) {
    threads.emplace_back([&, i] {
      const std::string msg = "client " + std::to_string(i) + "\n";
      if (exchange(l.port, msg) == msg) ++good;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(good.load(), clients);
  EXPECT_EQ(wait_no_zombies(l.process.pid()), 0);
  ::kill(l.process.pid(), SIGTERM);
  EXPECT_EQ(l.process.wait(10s), 0);
}

TEST(ListenExecTest, ChildExitEndsTheConnection) {
  // The child answers and exits without reading: the client's side stays open, yet it ends.
  Listening l = listen_exec({"-k", "--sh-exec", "echo bye"});
  auto s = TcpStream::connect(Endpoint::ipv4_loopback(l.port), Deadline(5s));
  ASSERT_TRUE(s);
  EXPECT_EQ(read_all(*s, Deadline(10s)), "bye\n");
}

TEST(ListenExecTest, EnvironmentNamesBothEnds) {
  Listening l = listen_exec({"-k", "--sh-exec",
                             "echo $TETHER_PEER_ADDR $TETHER_PEER_PORT $TETHER_LOCAL_ADDR $TETHER_LOCAL_PORT $NCAT_REMOTE_PORT"});
  auto s = TcpStream::connect(Endpoint::ipv4_loopback(l.port), Deadline(5s));
  ASSERT_TRUE(s);
  const auto me = std::to_string(s->local_endpoint()->port());
  EXPECT_EQ(read_all(*s), "127.0.0.1 " + me + " 127.0.0.1 " + std::to_string(l.port) + " " + me + "\n");
}

TEST(ListenExecTest, WithoutKeepOpenServesOneClientThenExits) {
  Listening l = listen_exec({"-e", "tr a-z A-Z"});
  EXPECT_EQ(exchange(l.port, "hello\n"), "HELLO\n");
  EXPECT_EQ(l.process.wait(10s), 0) << l.process.err();
}

TEST(ListenExecTest, AccessFlagsApply) {
  Listening l = listen_exec({"-k", "--deny", "127.0.0.1", "--sh-exec", "echo served"});
  auto s = TcpStream::connect(Endpoint::ipv4_loopback(l.port), Deadline(5s));
  ASSERT_TRUE(s);
  EXPECT_EQ(read_all(*s), "");  // closed (or reset) at once: no child ran for it
  EXPECT_TRUE(l.process.wait_for_err_line("\"rejected\""));
}

TEST(ListenExecTest, NcClientAgainstExec) {
  Listening l = listen_exec({"-k", "--exec", "tr a-z A-Z"});
  TempPath in("in");
  write_file(in.str(), "from nc\n");
  Process nc = Process::start_with_input_file({"nc", "-N", "127.0.0.1", std::to_string(l.port)}, in.str());
  ASSERT_EQ(nc.wait(10s), 0);
  EXPECT_EQ(nc.out(), "FROM NC\n");
}

TEST(ListenExecTest, RefusedWhereItCannotApply) {
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"listen", "-u", "--exec", "cat", "0"},
           {"listen", "--echo", "--exec", "cat", "0"},
           {"listen", "--exec", "cat", "--sh-exec", "cat", "0"},
       }) {
    auto r = run_tether(args);
    EXPECT_EQ(r.status, 2) << r.err;
    EXPECT_EQ(lines_of(r.err).size(), 1u) << r.err;
  }
}

}  // namespace
