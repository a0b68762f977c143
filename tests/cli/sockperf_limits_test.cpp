// Issue 8 items 3, 4 and 9 for `tether listen --sockperf`: the server flags are enforced over TCP
// (--allow/--deny, --max-conns, --idle-timeout, --drain) and refused where they mean nothing
// (--threads; -u: everything but --allow/--deny); out of file descriptors it sheds and backs off
// instead of spinning; over UDP each datagram gets at most one reply datagram, never larger.
#include "cli_support.hpp"

#include <tether/buffer.hpp>
#include <tether/sockperf.hpp>
#include <tether/tcp.hpp>

#include <gtest/gtest.h>

#include <signal.h>

#include <array>
#include <iterator>
#include <sstream>
#include <fstream>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using namespace tether;
using namespace tether::testing::cli;
namespace sp = tether::sockperf;

namespace {

constexpr std::uint16_t kPong = sp::flag_client | sp::flag_pong_request;

std::string message(std::uint64_t seq, std::uint16_t flags, std::uint32_t length) {
  Buffer b;
  sp::append_message({seq, flags, length}, b, std::byte{0x5c});
  return std::string(b.view());
}

struct Served {
  Process process;
  std::uint16_t port = 0;
};

Served start(std::vector<std::string> extra, std::vector<std::string> prefix = {}) {
  std::vector<std::string> argv = prefix;
  for (const auto& a : std::vector<std::string>{tether_path(), "listen", "--sockperf", "--json"}) argv.push_back(a);
  argv.insert(argv.end(), extra.begin(), extra.end());
  argv.emplace_back("127.0.0.1");
  argv.emplace_back("0");
  Served s{Process::start(argv), 0};
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

// One ping-pong round trip of a 64-byte message.
bool pong(TcpStream& s, std::uint64_t seq) {
  if (!s.write_all(message(seq, kPong, 64), 2s)) return false;
  std::array<char, 64> back{};
  if (!s.read_exact(std::span(back), 2s)) return false;
  auto h = sp::parse_header(std::as_bytes(std::span(back)));
  return h && h->sequence == seq && h->flags == sp::flag_pong_request;
}

// True once the server ended `s` (end of stream or reset) within 5 s.
bool closed_by_server(TcpStream& s) {
  std::array<char, 64> buf;
  for (;;) {
    auto n = s.read_some(buf, Deadline(5s));
    if (!n) return n.error() == std::errc::connection_reset;
    if (*n == 0) return true;
  }
}

std::vector<JsonObject> stop(Served& s) {
  ::kill(s.process.pid(), SIGTERM);
  EXPECT_EQ(s.process.wait(10s), 0) << s.process.err();
  return json_events(s.process.err());
}

int count(const std::vector<JsonObject>& events, const std::string& name, const std::string& reason) {
  int n = 0;
  for (const auto& e : events) {
    if (e.at("event") == name && e.count("reason") != 0 && e.at("reason") == reason) ++n;
  }
  return n;
}

// CPU seconds (user + system) the process has used so far.
double cpu_seconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::istringstream rest(text.substr(text.rfind(')') + 2));
  std::vector<std::string> fields;
  for (std::string f; rest >> f;) fields.push_back(f);
  if (fields.size() < 13) return -1;
  return (std::stod(fields[11]) + std::stod(fields[12])) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

// python3 sends each hex-encoded datagram from one socket and prints, per datagram, the sizes of
// the replies that came back within 300 ms.
std::vector<std::string> python_datagrams(std::uint16_t port, const std::vector<std::string>& datagrams) {
  std::vector<std::string> argv{"python3", "-c",
                                "import socket, sys\n"
                                "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
                                "s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)\n"
                                "s.settimeout(0.3)\n"
                                "for h in sys.argv[2:]:\n"
                                "    s.sendto(bytes.fromhex(h), ('127.0.0.1', int(sys.argv[1])))\n"
                                "    got = []\n"
                                "    try:\n"
                                "        while True: got.append(len(s.recv(70000)))\n"
                                "    except socket.timeout: pass\n"
                                "    print(' '.join(map(str, got)) or '-', flush=True)\n",
                                std::to_string(port)};
  for (const auto& d : datagrams) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string hex;
    for (unsigned char c : d) {
      hex += digits[c >> 4];
      hex += digits[c & 15];
    }
    argv.push_back(hex);
  }
  auto p = Process::start(argv);
  EXPECT_EQ(p.wait(30s), 0) << p.err();
  return lines_of(p.out());
}

}  // namespace

TEST(sockperf_limits, udp_gets_one_reply_datagram_per_datagram_never_larger) {
  auto s = start({"-u"});
  std::string packed;  // 4679 14-byte pong requests: one full datagram
  for (std::uint64_t i = 0; i < 4679; ++i) packed += message(i, kPong, 14);
  const std::string mixed = message(1, kPong, 100) + message(2, sp::flag_client, 100) +
                            message(3, kPong | sp::flag_warmup, 100) + message(4, kPong, 50) + "junk";
  const std::string single = message(9, kPong, 64);  // what the sockperf client sends
  const std::string none = message(5, sp::flag_client, 64);
  auto replies = python_datagrams(s.port, {packed, mixed, single, none});
  ASSERT_EQ(replies.size(), 4u);
  EXPECT_EQ(replies[0], "65506");  // one datagram, the size of the request
  EXPECT_EQ(replies[1], "150");    // the two pong requests, back to back
  EXPECT_EQ(replies[2], "64");
  EXPECT_EQ(replies[3], "-");
  auto summary = find_event(stop(s), "summary");
  ASSERT_TRUE(summary);
  EXPECT_EQ(summary->at("datagrams_out"), "3");
  EXPECT_EQ(summary->at("replies"), std::to_string(4679 + 2 + 1));
}

TEST(sockperf_limits, tcp_allow_deny_and_max_conns_close_refused_clients_at_once) {
  auto s = start({"-k", "--deny", "127.0.0.2", "--max-conns", "2"});
  auto denied = connect_from(2, s.port);
  ASSERT_TRUE(denied);
  EXPECT_TRUE(closed_by_server(*denied));
  auto a = connect_from(3, s.port);
  auto b = connect_from(4, s.port);
  ASSERT_TRUE(a && b);
  EXPECT_TRUE(pong(*a, 1));
  EXPECT_TRUE(pong(*b, 2));
  auto extra = connect_from(5, s.port);
  ASSERT_TRUE(extra);
  EXPECT_TRUE(closed_by_server(*extra));
  EXPECT_TRUE(pong(*a, 3));
  a->close();
  b->close();
  auto events = stop(s);
  EXPECT_EQ(count(events, "rejected", "denied"), 1);
  EXPECT_EQ(count(events, "rejected", "max-conns"), 1);
}

TEST(sockperf_limits, tcp_idle_timeout_closes_a_silent_client_and_spares_a_busy_one) {
  auto s = start({"-k", "--idle-timeout", "0.3"});
  auto silent = connect_from(1, s.port);
  auto busy = connect_from(1, s.port);
  ASSERT_TRUE(silent && busy);
  EXPECT_TRUE(pong(*silent, 1));
  for (int i = 0; i < 20; ++i) {  // 1 s of traffic, a message every 50 ms
    ASSERT_TRUE(pong(*busy, static_cast<std::uint64_t>(i))) << i;
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_TRUE(closed_by_server(*silent));
  EXPECT_TRUE(pong(*busy, 99));
  busy->close();
  stop(s);
}

TEST(sockperf_limits, tcp_drain_lets_a_client_finish_after_sigterm_and_refuses_new_ones) {
  auto s = start({"-k", "--drain", "30"});
  auto c = connect_from(1, s.port);
  ASSERT_TRUE(c);
  EXPECT_TRUE(pong(*c, 1));
  ::kill(s.process.pid(), SIGTERM);
  ASSERT_TRUE(s.process.wait_for_err_line("\"accepted\""));
  std::this_thread::sleep_for(200ms);  // the signal is handled
  EXPECT_TRUE(pong(*c, 2)) << "the client was cut at SIGTERM";
  auto late = connect_from(1, s.port);
  EXPECT_FALSE(late && pong(*late, 3)) << "a new client was served while draining";
  c->close();
  EXPECT_EQ(s.process.wait(10s), 0) << s.process.err();
  EXPECT_TRUE(find_event(json_events(s.process.err()), "summary"));
}

TEST(sockperf_limits, flags_that_cannot_apply_are_refused_with_exit_2) {
  const std::vector<std::vector<std::string>> refused = {
      {"--sockperf", "--threads", "2"},        {"--sockperf", "--accept-mode", "single"},
      {"--sockperf", "-u", "--max-conns", "3"}, {"--sockperf", "-u", "--idle-timeout", "1"},
      {"--sockperf", "-u", "--drain", "1"},     {"--sockperf", "-u", "-w", "1"},
      {"--sockperf", "-u", "--threads", "2"},   {"--echo", "-u", "-w", "1"},
      {"--echo", "-u", "--max-conns", "3"},     {"--discard", "-u", "--idle-timeout", "1"},
      {"--discard", "-u", "--drain", "1"},
  };
  for (auto args : refused) {
    std::string shown;
    for (const auto& a : args) shown += a + " ";
    args.insert(args.begin(), "listen");
    args.emplace_back("127.0.0.1");
    args.emplace_back("0");
    auto r = run_tether(args);
    EXPECT_EQ(r.status, 2) << shown << r.err;
    EXPECT_NE(r.err.find("does not apply"), std::string::npos) << shown << r.err;
    EXPECT_EQ(lines_of(r.err).size(), 1u) << shown << r.err;
  }
}

TEST(sockperf_limits, out_of_fds_it_sheds_and_backs_off_instead_of_spinning) {
  ASSERT_TRUE(tether::testing::have_program("prlimit"));
  // 0-2, the listener, epoll, signalfd and the reserve: room for a client or two.
  auto s = start({"-k"}, {"prlimit", "--nofile=10:10"});
  std::vector<TcpStream> clients;
  for (int i = 0; i < 20; ++i) {
    auto c = connect_from(1, s.port);
    ASSERT_TRUE(c);
    clients.push_back(std::move(*c));
  }
  const double cpu0 = cpu_seconds(s.process.pid());
  std::this_thread::sleep_for(1s);
  const double cpu1 = cpu_seconds(s.process.pid());
  EXPECT_LT(cpu1 - cpu0, 0.5) << "spinning while out of file descriptors";
  int served = 0;
  int closed = 0;
  for (auto& c : clients) {
    if (pong(c, 1)) ++served;
    else if (closed_by_server(c)) ++closed;
  }
  EXPECT_GE(served, 1);
  EXPECT_EQ(served + closed, 20) << "clients left hanging";
  EXPECT_LT(lines_of(s.process.err()).size(), 60u) << "stderr flooded";
  clients.clear();
  std::this_thread::sleep_for(200ms);
  auto late = connect_from(1, s.port);
  ASSERT_TRUE(late);
  EXPECT_TRUE(pong(*late, 7)) << "accepting did not resume";
  late->close();
  stop(s);
}
