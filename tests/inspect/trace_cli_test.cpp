// tether trace PORT (a packet capture: needs CAP_NET_RAW, which CI has as root) and --trace on
// connect/listen (TCP_INFO and the saved SYN: no privilege). A capture test without the capability
// is reported as SKIPPED with the reason, never as passed.
#include "../cli/cli_support.hpp"

#include <gtest/gtest.h>

#include <sys/socket.h>
#include <linux/if_ether.h>

namespace {

using namespace std::chrono_literals;
using namespace tether::testing::cli;
using tether::Endpoint;

bool can_capture() {
  int fd = ::socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  ::close(fd);
  return true;
}

/// Index of the first line at or after `from` containing `needle`; npos if none.
std::size_t line_with(const std::vector<std::string>& lines, const std::string& needle, std::size_t from = 0) {
  for (std::size_t i = from; i < lines.size(); ++i) {
    if (lines[i].find(needle) != std::string::npos) return i;
  }
  return std::string::npos;
}

/// Asserts that the needles appear on lines in this order.
void expect_in_order(const std::string& text, const std::vector<std::string>& needles) {
  const auto lines = lines_of(text);
  std::size_t at = 0;
  for (const auto& n : needles) {
    const std::size_t found = line_with(lines, n, at);
    ASSERT_NE(found, std::string::npos) << "'" << n << "' missing (or out of order) in:\n" << text;
    at = found + 1;
  }
}

TEST(TraceCli, capture_of_a_loopback_connection_shows_syn_synack_ack_fin_in_order) {
  if (!can_capture()) GTEST_SKIP() << "needs CAP_NET_RAW for AF_PACKET (CI runs as root)";
  auto listener = tether::TcpListener::bind(Endpoint::ipv4_loopback(0));
  ASSERT_TRUE(listener);
  const auto where = *listener->local_endpoint();
  Process trace = Process::start({tether_path(), "trace", std::to_string(where.port()), "-c", "1", "-w", "20"});
  ASSERT_TRUE(trace.wait_for_err_line("capturing TCP port", 10s)) << trace.err();

  auto client = tether::TcpStream::connect(where, 5s);
  ASSERT_TRUE(client);
  auto server = listener->accept(5s);
  ASSERT_TRUE(server);
  ASSERT_TRUE(client->write_all("hello", 5s));
  char buf[16];
  ASSERT_EQ(server->stream.read_some(std::span(buf), 5s).value_or(0), 5U);
  client->close();  // FIN from the client first
  ASSERT_EQ(server->stream.read_some(std::span(buf), 5s).value_or(9), 0U);
  server->stream.close();

  ASSERT_EQ(trace.wait(20s), 0) << trace.err();
  const std::string out = trace.out();
  expect_in_order(out, {"client 127.0.0.1:", "SYN seq=0 (ISN", "SYN-ACK seq=0 ack=1 (ISN", "handshake 3/3",
                        "PSH-ACK seq=1 ack=1 len=5", "FIN-ACK seq=6 ack=1", "FIN-ACK seq=1 ack=7",
                        "ACK seq=7 ack=2"});
  EXPECT_NE(out.find("close 1/4: the client sends FIN"), std::string::npos) << out;
  EXPECT_NE(out.find("close 4/4"), std::string::npos) << out;
}

TEST(TraceCli, capture_over_ipv6_on_any_interface_shows_a_server_first_close) {
  if (!can_capture()) GTEST_SKIP() << "needs CAP_NET_RAW for AF_PACKET (CI runs as root)";
  auto listener = tether::TcpListener::bind(Endpoint::ipv6_loopback(0));
  if (!listener) GTEST_SKIP() << "no IPv6 loopback here: " << listener.error().message();
  const auto where = *listener->local_endpoint();
  Process trace = Process::start({tether_path(), "trace", std::to_string(where.port()), "-i", "any", "-c", "1", "-w", "20"});
  ASSERT_TRUE(trace.wait_for_err_line("capturing TCP port", 10s)) << trace.err();
  auto client = tether::TcpStream::connect(where, 5s);
  ASSERT_TRUE(client);
  auto server = listener->accept(5s);
  ASSERT_TRUE(server);
  server->stream.close();  // FIN from the server first
  char buf[8];
  ASSERT_EQ(client->read_some(std::span(buf), 5s).value_or(9), 0U);
  client->close();
  ASSERT_EQ(trace.wait(20s), 0) << trace.err();
  const std::string out = trace.out();
  // Each segment once, though "any" sees loopback packets both ways out and in.
  expect_in_order(out, {"client [::1]:", "SYN seq=0 (ISN", "SYN-ACK seq=0 ack=1", "handshake 3/3",
                        "close 1/4: the server sends FIN", "close 4/4: the server acknowledges"});
  EXPECT_EQ(lines_of(out).size(), 7U) << "header + SYN, SYN-ACK, ACK, FIN, FIN-ACK, ACK:\n" << out;
}

/// Closes `stream` with SO_LINGER 0: the kernel sends RST instead of FIN.
void reset(tether::TcpStream& stream) {
  const linger abort{1, 0};
  ASSERT_EQ(::setsockopt(stream.socket().fd(), SOL_SOCKET, SO_LINGER, &abort, sizeof abort), 0);
  stream.close();
}

TEST(TraceCli, capture_of_a_reset_connection_shows_the_rst_and_ends_it) {
  if (!can_capture()) GTEST_SKIP() << "needs CAP_NET_RAW for AF_PACKET (CI runs as root)";
  auto listener = tether::TcpListener::bind(Endpoint::ipv4_loopback(0));
  ASSERT_TRUE(listener);
  const auto where = *listener->local_endpoint();
  Process trace = Process::start({tether_path(), "trace", std::to_string(where.port()), "-c", "1", "-w", "20"});
  ASSERT_TRUE(trace.wait_for_err_line("capturing TCP port", 10s)) << trace.err();
  auto client = tether::TcpStream::connect(where, 5s);
  ASSERT_TRUE(client);
  auto server = listener->accept(5s);
  ASSERT_TRUE(server);
  reset(server->stream);  // the server aborts: RST, no FIN
  ASSERT_EQ(trace.wait(20s), 0) << "one reset connection is one connection done: " << trace.err();
  const std::string out = trace.out();
  expect_in_order(out, {"SYN seq=0 (ISN", "SYN-ACK seq=0 ack=1", "handshake 3/3", "RST"});
  EXPECT_NE(out.find("reset: the server aborts the connection"), std::string::npos) << out;
  EXPECT_EQ(out.find("FIN"), std::string::npos) << out;
}

TEST(TraceCli, capture_json_has_flags_and_both_sequence_numbers) {
  if (!can_capture()) GTEST_SKIP() << "needs CAP_NET_RAW for AF_PACKET (CI runs as root)";
  auto listener = tether::TcpListener::bind(Endpoint::ipv4_loopback(0));
  ASSERT_TRUE(listener);
  const auto where = *listener->local_endpoint();
  Process trace = Process::start({tether_path(), "trace", std::to_string(where.port()), "-c", "1", "-w", "20", "--json"});
  ASSERT_TRUE(trace.wait_for_err_line("capturing TCP port", 10s)) << trace.err();
  auto client = tether::TcpStream::connect(where, 5s);
  ASSERT_TRUE(client);
  auto server = listener->accept(5s);
  ASSERT_TRUE(server);
  reset(*client);
  ASSERT_EQ(trace.wait(20s), 0) << trace.err();
  const auto events = json_events(trace.out());
  ASSERT_EQ(events.size(), 4U) << trace.out();  // SYN, SYN-ACK, ACK, RST
  const std::vector<std::string> flags = {"SYN", "SYN-ACK", "ACK", "RST"};
  for (std::size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i].at("event"), "segment");
    EXPECT_EQ(events[i].at("flags").rfind(flags[i], 0), 0U) << trace.out();
  }
  // Relative numbers start at 0 on each side's SYN; the absolute ones are the ISNs.
  const auto abs = [](const std::string& v) { return std::stoull(v); };
  EXPECT_EQ(events[0].at("seq"), "0");
  EXPECT_EQ(events[1].at("seq"), "0");
  EXPECT_EQ(events[1].at("ack"), "1");
  EXPECT_EQ(abs(events[1].at("ack_abs")), (abs(events[0].at("seq_abs")) + 1) % (1ULL << 32));
  EXPECT_EQ(abs(events[2].at("ack_abs")), (abs(events[1].at("seq_abs")) + 1) % (1ULL << 32));
  EXPECT_EQ(events[1].at("from"), where.to_string());
}

TEST(TraceCli, capture_without_cap_net_raw_says_what_it_needs) {
  std::vector<std::string> argv = {tether_path(), "trace", "9", "-w", "1"};
  if (can_capture()) {
    // Drop the capability for the child: setpriv takes it out of the bounding set before exec.
    if (::geteuid() != 0 || !tether::testing::have_program("setpriv")) {
      GTEST_SKIP() << "has CAP_NET_RAW and cannot drop it (needs root and setpriv)";
    }
    argv.insert(argv.begin(), {"setpriv", "--bounding-set=-net_raw", "--inh-caps=-net_raw", "--"});
  }
  Process p = Process::start(argv);
  EXPECT_EQ(p.wait(10s), 1);
  EXPECT_NE(p.err().find("needs CAP_NET_RAW"), std::string::npos) << p.err();
  EXPECT_NE(p.err().find("connect --trace"), std::string::npos) << p.err();
  EXPECT_EQ(lines_of(p.err()).size(), 1U) << p.err();
  EXPECT_EQ(p.err().find("\\x0a"), std::string::npos) << "no escaped newline: " << p.err();
}

TEST(TraceCli, connect_and_listen_trace_show_handshake_options_and_close_without_privilege) {
  Pipe server_in;
  Process server = Process::start({tether_path(), "listen", "--trace", "-v", "127.0.0.1", "0"}, server_in.read_fd);
  server_in.close_read();
  auto line = server.wait_for_err_line("tether: listening");
  ASSERT_TRUE(line) << server.err();
  const std::string local = line->substr(line->find("local=") + 6);
  const std::string address = local.substr(0, local.find(' '));  // the line ends with " ts=..."
  const std::string port = address.substr(address.rfind(':') + 1);

  tether::testing::TempPath input("in");
  write_file(input.str(), "hello\n");
  Process client = Process::start_with_input_file({tether_path(), "connect", "--trace", "127.0.0.1", port}, input.str());
  // The client's stdin ends first: its FIN goes first; the server closes when its own input ends.
  ASSERT_TRUE(server.wait_for_out_size(6)) << server.err() << client.err();
  ASSERT_TRUE(client.wait_for_err_line("FIN-WAIT", 5s)) << client.err();
  server_in.close_write();
  EXPECT_EQ(server.wait(10s), 0) << server.err();
  EXPECT_EQ(client.wait(10s), 0) << client.err();
  expect_in_order(client.err(), {"resolve", "SYN ->", "<- SYN-ACK", "options      MSS", "data ->", "FIN-WAIT", "CLOSED", "closed ",
                               "TIME-WAIT    this side closed first"});
  expect_in_order(server.err(), {"listen       listening; the kernel saves each client's SYN", "<- SYN",
                                 "accepted", "options", "<- data", "closed "});
  EXPECT_NE(server.err().find("TTL 64"), std::string::npos) << server.err();
  EXPECT_NE(server.err().find("MSS 65495"), std::string::npos) << server.err();
}

TEST(TraceCli, trace_of_both_sides_needs_no_privilege) {
  if (::geteuid() != 0 || !tether::testing::have_program("setpriv")) {
    GTEST_SKIP() << "needs root and setpriv to run tether as an unprivileged user (CI runs as root)";
  }
  // nobody, no groups, no capability at all.
  const std::vector<std::string> nobody = {"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                                           "--inh-caps=-all", "--bounding-set=-all", "--"};
  auto as_nobody = [&](std::vector<std::string> argv) {
    argv.insert(argv.begin(), nobody.begin(), nobody.end());
    return argv;
  };
  Pipe server_in;
  Process server = Process::start(as_nobody({tether_path(), "listen", "--trace", "-v", "127.0.0.1", "0"}),
                                  server_in.read_fd);
  server_in.close_read();
  auto line = server.wait_for_err_line("tether: listening");
  ASSERT_TRUE(line) << server.err();
  const std::string local = line->substr(line->find("local=") + 6);
  const std::string address = local.substr(0, local.find(' '));
  tether::testing::TempPath input("in");
  write_file(input.str(), "hi\n");
  Process client = Process::start_with_input_file(
      as_nobody({tether_path(), "connect", "--trace", "127.0.0.1", address.substr(address.rfind(':') + 1)}),
      input.str());
  ASSERT_TRUE(server.wait_for_out_size(3)) << server.err() << client.err();
  server_in.close_write();
  EXPECT_EQ(server.wait(10s), 0) << server.err();
  EXPECT_EQ(client.wait(10s), 0) << client.err();
  EXPECT_NE(server.err().find("the kernel saves each client's SYN (TCP_SAVE_SYN)"), std::string::npos) << server.err();
  EXPECT_NE(server.err().find("<- SYN       client's SYN from 127.0.0.1:"), std::string::npos) << server.err();
  EXPECT_NE(server.err().find("TTL 64"), std::string::npos) << server.err();
  expect_in_order(client.err(), {"<- SYN-ACK", "options      MSS", "FIN-WAIT", "closed "});
}

TEST(TraceCli, connect_trace_of_a_reset_shows_the_rst_not_a_close) {
  auto listener = tether::TcpListener::bind(Endpoint::ipv4_loopback(0));
  ASSERT_TRUE(listener);
  Pipe input;  // held open: the client never ends its side
  Process client = Process::start({tether_path(), "connect", "--trace", "127.0.0.1",
                                   std::to_string(listener->local_endpoint()->port())}, input.read_fd);
  input.close_read();
  auto accepted = listener->accept(5s);
  ASSERT_TRUE(accepted);
  ASSERT_TRUE(client.wait_for_err_line("options", 5s)) << client.err();
  reset(accepted->stream);
  EXPECT_EQ(client.wait(10s), 1) << client.err();
  expect_in_order(client.err(), {"<- SYN-ACK", "options", "<- RST       the peer reset the connection in ESTAB",
                                 "closed "});
  EXPECT_EQ(client.err().find("FIN"), std::string::npos) << "a reset is no 4-way close:\n" << client.err();
}

TEST(TraceCli, connect_trace_with_json_prints_trace_events) {
  auto listener = tether::TcpListener::bind(Endpoint::ipv4_loopback(0));
  ASSERT_TRUE(listener);
  Process client = Process::start({tether_path(), "connect", "--trace", "--json", "127.0.0.1",
                                   std::to_string(listener->local_endpoint()->port())});
  auto accepted = listener->accept(5s);
  ASSERT_TRUE(accepted);
  accepted->stream.close();
  EXPECT_EQ(client.wait(10s), 0) << client.err();
  auto events = json_events(client.err());
  int traces = 0;
  for (const auto& e : events) {
    if (e.at("event") == "trace") {
      ++traces;
      EXPECT_TRUE(e.count("t_ms") && e.count("step") && e.count("detail"));
    }
  }
  EXPECT_GE(traces, 4) << client.err();
}

TEST(TraceCli, trace_where_there_is_no_tcp_connection_is_a_usage_error) {
  // Spelled in two parts: the literal flag would register this file for a second, io_uring run
  // (tests/CMakeLists.txt), which means nothing here: no event loop runs.
  const std::string echo_flag = std::string("--") + "echo";
  for (const auto& args : std::vector<std::vector<std::string>>{{"connect", "--trace", "-u", "127.0.0.1", "9"},
                                                                 {"listen", "--trace", echo_flag, "127.0.0.1", "0"},
                                                                 {"listen", "--trace", "--unix", "@x"},
                                                                 {"trace"},
                                                                 {"trace", "99999"},
                                                                 {"trace", "0"},
                                                                 {"trace", "80", "-i", "no-such-if0"},
                                                                 {"trace", "80", "-c", "0"},
                                                                 {"trace", "80", "81"},
                                                                 {"trace", "80", "--json", "-S"}}) {
    auto r = run_tether(args);
    EXPECT_EQ(r.status, 2) << args[0] << " " << args[1] << ": " << r.err;
    EXPECT_EQ(lines_of(r.err).size(), 1U) << r.err;
  }
}

}  // namespace
