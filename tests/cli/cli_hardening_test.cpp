// Issue 8 (CLI side) and issue 13 (-k like ncat, errors and help): closed standard fds, closed
// pipes, -w while stdout is stuck, bench udp duplicates and reordering, bench rr measuring
// nothing, bench stream against an echo server, ::/0, concurrent -k, the backend in "listening".
#include "cli_support.hpp"

#include <tether/tcp.hpp>
#include <tether/udp.hpp>

#include <gtest/gtest.h>

#include <signal.h>

#include <array>
#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace tether;
using namespace tether::testing::cli;

std::string read_all(TcpStream& s, std::chrono::milliseconds limit = 10s) {
  std::string got;
  std::array<char, 4096> buf;
  for (;;) {
    auto n = s.read_some(std::span(buf), limit);
    if (!n || *n == 0) return got;
    got.append(buf.data(), *n);
  }
}

std::string quoted(const std::string& s) { return "'" + s + "'"; }

/// Runs `script` with bash (stdin /dev/null); returns the Process.
Process bash(const std::string& script) { return Process::start({"bash", "-c", script}); }

// ---- item 5: a closed fd 0/1/2 at start must not become a socket ----

TEST(cli_hardening, closed_stdout_and_stderr_never_reach_the_peer) {
  auto listener = TcpListener::bind(*Endpoint::parse("127.0.0.1:0"));
  ASSERT_TRUE(listener.has_value());
  const auto port = std::to_string(listener->local_endpoint()->port());
  // -v: events on fd 2; with fd 1 and 2 closed the socket would take fd 1 and the peer's bytes,
  // written to "stdout", would come back to it, and the event lines too.
  Process p = bash("exec " + quoted(tether_path()) + " connect -v 127.0.0.1 " + port + " >&- 2>&- </dev/null");
  auto accepted = listener->accept(10s);
  ASSERT_TRUE(accepted.has_value());
  ASSERT_TRUE(accepted->stream.write_all("from the peer\n", 5s));
  (void)accepted->stream.shutdown(Shutdown::write);
  EXPECT_EQ(read_all(accepted->stream), "") << "stdout or stderr data went to the peer";
  EXPECT_EQ(p.wait(10s), 0);
}

TEST(cli_hardening, closed_stdin_is_end_of_input) {
  auto listener = TcpListener::bind(*Endpoint::parse("127.0.0.1:0"));
  ASSERT_TRUE(listener.has_value());
  const auto port = std::to_string(listener->local_endpoint()->port());
  Process p = bash("exec " + quoted(tether_path()) + " connect 127.0.0.1 " + port + " <&-");
  auto accepted = listener->accept(10s);
  ASSERT_TRUE(accepted.has_value());
  ASSERT_TRUE(accepted->stream.write_all("hello\n", 5s));
  (void)accepted->stream.shutdown(Shutdown::write);
  EXPECT_EQ(read_all(accepted->stream), "");  // stdin (now /dev/null) ended: FIN, nothing else
  EXPECT_EQ(p.wait(10s), 0) << p.err();
  EXPECT_EQ(p.out(), "hello\n");
}

// Item 14: stdin opened write-only (`0>file`) is named as stdin's fault, not as "sending".
TEST(cli_hardening, write_only_stdin_is_reported_as_reading_stdin) {
  auto listener = TcpListener::bind(*Endpoint::parse("127.0.0.1:0"));
  ASSERT_TRUE(listener.has_value());
  const auto port = std::to_string(listener->local_endpoint()->port());
  TempPath file("wo");
  Process p = bash("exec " + quoted(tether_path()) + " connect 127.0.0.1 " + port + " 0>" + quoted(file.str()));
  auto accepted = listener->accept(10s);
  ASSERT_TRUE(accepted.has_value());
  EXPECT_EQ(p.wait(10s), 1) << p.err();
  EXPECT_NE(p.err().find("reading stdin: bad file descriptor"), std::string::npos) << p.err();
  EXPECT_EQ(p.err().find("sending"), std::string::npos) << p.err();
}

// ---- item 6: a closed stderr/stdout pipe is an error, not SIGPIPE ----

TEST(cli_hardening, closed_pipe_ends_the_relay_with_exit_1_and_removes_the_socket_file) {
  TempPath dir("sigpipe");
  std::filesystem::create_directories(dir.str());
  const std::string sock = dir.str() + "/s";
  const std::string first = dir.str() + "/first";
  const std::string rc = dir.str() + "/rc";
  Pipe in;  // stdin stays open: the relay ends on the closed pipe, not on stdin's end
  Process p = Process::start({"bash", "-c",
                              quoted(tether_path()) + " listen -v --unix " + quoted(sock) + " 2>&1 | head -1 > " +
                                  quoted(first) + "; echo ${PIPESTATUS[0]} > " + quoted(rc)},
                             in.read_fd);
  in.close_read();
  ASSERT_TRUE(Process::wait_for_line(first, "listening", 10s).has_value());
  std::this_thread::sleep_for(100ms);  // head has exited once it wrote its line
  auto c = TcpStream::connect(*Endpoint::unix_path(sock), 5s);
  ASSERT_TRUE(c.has_value());
  // The "accepted" event meets the closed pipe (events stop); the data then fails on stdout.
  for (int i = 0; i < 50 && c->write_all("data\n", 1s); ++i) std::this_thread::sleep_for(20ms);
  EXPECT_EQ(read_all(*c, 10s), "") << "the relay should close cleanly";
  ASSERT_EQ(p.wait(10s), 0);
  EXPECT_EQ(read_file(rc), "1\n") << "tether died of a signal (141 = SIGPIPE) or exited 0";
  EXPECT_FALSE(std::filesystem::exists(sock)) << "the Unix socket file was left behind";
}

// ---- item 12: -w fires while tether is blocked writing stdout ----

TEST(cli_hardening, idle_timeout_fires_while_stdout_is_not_read) {
  auto listener = TcpListener::bind(*Endpoint::parse("127.0.0.1:0"));
  ASSERT_TRUE(listener.has_value());
  const auto port = std::to_string(listener->local_endpoint()->port());
  Pipe out;  // nobody reads it: the pipe fills and tether's stdout blocks
  TempPath err("err");
  int err_fd = ::open(err.str().c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  tether::testing::Child child =
      tether::testing::Child::spawn({tether_path(), "connect", "-w", "1", "127.0.0.1", port}, -1, out.write_fd, err_fd);
  ::close(err_fd);
  out.close_write();
  auto accepted = listener->accept(10s);
  ASSERT_TRUE(accepted.has_value());
  std::atomic<bool> stop{false};
  std::thread flood([&] {
    const std::string chunk(64 * 1024, 'x');
    while (!stop && accepted->stream.write_all(chunk, 1s)) {
    }
  });
  const int status = child.wait(15s);
  stop = true;
  accepted->stream.close();
  flood.join();
  EXPECT_EQ(status, 1) << "-w 1 never fired while stdout was stuck";
  EXPECT_NE(read_file(err.str()).find("idle"), std::string::npos) << read_file(err.str());
}

TEST(cli_hardening, udp_idle_timeout_fires_while_stdout_is_not_read) {
  Pipe out;  // nobody reads it
  TempPath err("err");
  int err_fd = ::open(err.str().c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  Pipe in;  // stdin stays open
  tether::testing::Child child = tether::testing::Child::spawn(
      {tether_path(), "listen", "-u", "--json", "-w", "1", "127.0.0.1", "0"}, in.read_fd, out.write_fd, err_fd);
  ::close(err_fd);
  out.close_write();
  in.close_read();
  auto local = Process::wait_for_line(err.str(), "\"listening\"", 5s);
  ASSERT_TRUE(local.has_value());
  const auto where = *Endpoint::parse(parse_json_object(*local)->at("local"));
  auto u = UdpSocket::open(where);
  ASSERT_TRUE(u.has_value());
  const std::string datagram(60000, 'x');
  int status = -1;
  for (int i = 0; i < 300 && status == -1; ++i) {  // fill the pipe, then keep it full
    (void)u->send_to(datagram, where);
    status = child.wait(50ms);
  }
  if (status == -1) status = child.wait(10s);
  EXPECT_EQ(status, 1) << "-w 1 never fired while stdout was stuck: " << read_file(err.str());
}

// ---- item 8: bench udp counts each sequence number once ----

TEST(cli_hardening, bench_udp_reports_duplicates_and_reordering_without_hiding_loss) {
  if (std::system("command -v python3 >/dev/null") != 0) GTEST_SKIP() << "python3 not installed";
  // A UDP echo peer that answers every datagram twice and swaps each pair of datagrams.
  const char* script =
      "import socket,sys\n"
      "s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n"
      "s.bind(('127.0.0.1',0))\n"
      "print(s.getsockname()[1],flush=True)\n"
      "held=None\n"
      "while True:\n"
      "  d,a=s.recvfrom(65536)\n"
      "  if held is None:\n"
      "    held=(d,a)\n"
      "    continue\n"
      "  for x in ((d,a),held,held):\n"
      "    s.sendto(x[0],x[1])\n"
      "  held=None\n";
  Process peer = Process::start({"python3", "-c", script});
  ASSERT_TRUE(peer.wait_for_out_size(2, 10s));
  std::string port;
  for (int i = 0; i < 200 && port.empty(); ++i) {
    auto text = peer.out();
    if (text.find('\n') != std::string::npos) port = text.substr(0, text.find('\n'));
    else std::this_thread::sleep_for(10ms);
  }
  ASSERT_FALSE(port.empty());
  RunResult r = run_tether({"bench", "udp", "--json", "-r", "2000", "-t", "0.5", "-i", "0", "127.0.0.1", port}, {}, 20s);
  auto lines = lines_of(r.out);
  ASSERT_FALSE(lines.empty()) << r.err;
  auto report = parse_json_object(lines.back());
  ASSERT_TRUE(report.has_value()) << r.out;
  const auto sent = std::stoull(report->at("sent"));
  const auto received = std::stoull(report->at("messages"));
  EXPECT_GT(sent, 0u);
  EXPECT_LE(received, sent) << "duplicates counted as received";
  EXPECT_GT(std::stoull(report->at("duplicates")), 0u) << r.out;
  EXPECT_GT(std::stoull(report->at("reordered")), 0u) << r.out;
}

// ---- item 11 and issue 13: a bench that measured nothing says so and exits 1 ----

struct Served {
  Process process;
  std::string port;
};

Served serve(const std::vector<std::string>& args) {
  std::vector<std::string> argv{tether_path(), "listen", "--json"};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.insert(argv.end(), {"127.0.0.1", "0"});
  Served s{Process::start(argv), ""};
  s.port = std::to_string(port_of(listening_endpoint(s.process)));
  return s;
}

TEST(cli_hardening, bench_rr_that_completed_no_message_exits_1) {
  Served s = serve({"--discard"});
  ASSERT_NE(s.port, "0") << s.process.err();
  RunResult r = run_tether({"bench", "rr", "-t", "0.3", "-i", "0", "127.0.0.1", s.port}, {}, 20s);
  EXPECT_EQ(r.status, 1) << r.out << r.err;
  EXPECT_NE(r.err.find("0 messages completed"), std::string::npos) << r.err;
}

TEST(cli_hardening, bench_stream_against_an_echo_server_says_so) {
  Served s = serve({"--echo"});
  ASSERT_NE(s.port, "0") << s.process.err();
  RunResult r = run_tether({"bench", "stream", "-t", "0.5", "-i", "0", "127.0.0.1", s.port}, {}, 20s);
  EXPECT_EQ(r.status, 1) << r.out << r.err;
  EXPECT_NE(r.err.find("echo server"), std::string::npos) << r.err;
}

// ---- item 13: ::/0 means everyone, IPv4 clients of a dual-stack listener included ----

TEST(cli_hardening, deny_all_ipv6_block_refuses_ipv4_clients_of_a_dual_stack_listener) {
  for (std::vector<std::string> mode : {std::vector<std::string>{"--echo"}, std::vector<std::string>{}}) {
    std::vector<std::string> argv{tether_path(), "listen", "--json", "--deny", "::/0"};
    argv.insert(argv.end(), mode.begin(), mode.end());
    argv.insert(argv.end(), {"::", "0"});
    Pipe in;
    Process p = Process::start(argv, in.read_fd);
    in.close_read();
    const auto port = port_of(listening_endpoint(p));
    ASSERT_NE(port, 0) << p.err();
    auto c = TcpStream::connect(Endpoint::ipv4({127, 0, 0, 1}, port), 5s);
    ASSERT_TRUE(c.has_value());
    (void)c->write_all("hi\n", 1s);
    EXPECT_EQ(read_all(*c), "");
    EXPECT_TRUE(p.wait_for_err_line("\"rejected\"", 5s).has_value()) << "IPv4 client passed --deny ::/0: " << p.err();
    EXPECT_EQ(p.out(), "");
  }
}

// ---- issue 13: listen -k like ncat ----

TEST(cli_hardening, keep_open_serves_clients_at_once_and_sends_stdin_to_every_one) {
  Pipe in;
  Process p = Process::start({tether_path(), "listen", "-k", "--json", "127.0.0.1", "0"}, in.read_fd);
  in.close_read();
  const auto where = *Endpoint::parse(listening_endpoint(p));
  auto a = TcpStream::connect(where, 5s);
  auto b = TcpStream::connect(where, 5s);
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(a->write_all("from a\n", 5s) && b->write_all("from b\n", 5s));
  ASSERT_TRUE(Process::wait_for_line(p.out_path(), "from a", 5s).has_value()) << p.out();
  ASSERT_TRUE(Process::wait_for_line(p.out_path(), "from b", 5s).has_value()) << p.out();
  ASSERT_TRUE(in.write("to all\n"));
  for (TcpStream* s : {&*a, &*b}) {
    std::array<char, 7> got{};
    ASSERT_TRUE(s->read_exact(std::span(got), 5s));
    EXPECT_EQ(std::string(got.data(), got.size()), "to all\n");
  }
  // A client that went away holds nothing: a third is served while stdin is still open.
  a->close();
  auto c = TcpStream::connect(where, 5s);
  ASSERT_TRUE(c && c->write_all("from c\n", 5s));
  EXPECT_TRUE(Process::wait_for_line(p.out_path(), "from c", 5s).has_value()) << p.out();
  EXPECT_EQ(p.wait(100ms), -1) << "listen -k must keep running";
}

// ---- issue 13: the listening event names each loop's backend ----

TEST(cli_hardening, listening_event_names_the_backend) {
  Served s = serve({"--echo"});
  auto line = s.process.wait_for_err_line("\"listening\"");
  ASSERT_TRUE(line.has_value());
  auto e = parse_json_object(*line);
  ASSERT_TRUE(e && e->count("backend") == 1) << *line;
  const char* want = std::getenv("TETHER_BACKEND");
  if (want != nullptr && std::string(want) == "io_uring" &&
      s.process.err().find("io_uring unavailable") == std::string::npos) {
    EXPECT_EQ(e->at("backend"), "io_uring");
  } else {
    EXPECT_EQ(e->at("backend"), "epoll");
  }
  Pipe in;
  Process relay = Process::start({tether_path(), "listen", "-v", "127.0.0.1", "0"}, in.read_fd);
  EXPECT_TRUE(relay.wait_for_err_line("backend=poll").has_value()) << relay.err();
}

}  // namespace
