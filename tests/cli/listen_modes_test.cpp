// tether listen --echo / --chat / --discard: the server modes end to end, as a user runs them.
#include "cli_support.hpp"
#include "server_testing.hpp"

#include <tether/tcp.hpp>
#include <tether/udp.hpp>

#include <gtest/gtest.h>

#include <signal.h>

#include <array>
#include <cstdlib>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using namespace tether;
using namespace tether::testing::cli;
namespace tt = tether::testing;

namespace {

struct Served {
  Process process;
  Endpoint endpoint;
};

Served serve(std::vector<std::string> args) {
  args.insert(args.begin(), {tether_path(), "listen"});
  args.push_back("--json");
  args.push_back("127.0.0.1");
  args.push_back("0");
  Served s{Process::start(args), Endpoint()};
  auto text = listening_endpoint(s.process);
  EXPECT_FALSE(text.empty()) << s.process.err();
  if (auto ep = Endpoint::parse(text)) s.endpoint = *ep;
  return s;
}

std::string read_text(TcpStream& s, std::size_t want, Deadline d = Deadline(5s)) {
  std::string out;
  std::array<char, 4096> buf;
  while (out.size() < want) {
    auto n = s.read_some(buf, d);
    if (!n || *n == 0) break;
    out.append(buf.data(), *n);
  }
  return out;
}

bool closed_by_server(TcpStream& s) {
  std::array<char, 64> buf;
  for (;;) {
    auto n = s.read_some(buf, Deadline(5s));
    if (!n) return n.error() == std::errc::connection_reset;
    if (*n == 0) return true;
  }
}

// SIGTERM, then the exit status and the summary event.
std::pair<int, std::optional<JsonObject>> stop(Served& s) {
  ::kill(s.process.pid(), SIGTERM);
  int status = s.process.wait(10s);
  return {status, find_event(json_events(s.process.err()), "summary")};
}

}  // namespace

TEST(ListenModes, echo_with_one_thread_serves_1000_concurrent_connections_without_an_error) {
  tt::raise_fd_limit();
  auto s = serve({"--echo", "--threads", "1"});
  EXPECT_EQ(tt::run_echo_clients(s.endpoint, 1000, 4096), 1000u);
  auto [status, summary] = stop(s);
  EXPECT_EQ(status, 0);
  ASSERT_TRUE(summary) << s.process.err();
  EXPECT_EQ(summary->at("connections"), "1000");
  EXPECT_EQ(summary->at("errors"), "0");
  EXPECT_EQ(summary->at("bytes_in"), std::to_string(1000 * 4096));
  EXPECT_EQ(summary->at("bytes_out"), std::to_string(1000 * 4096));
}

TEST(ListenModes, chat_sends_each_line_to_all_clients_but_the_sender) {
  auto s = serve({"--chat", "--threads", "2"});
  std::vector<TcpStream> c;
  for (int i = 0; i < 3; ++i) c.push_back(*TcpStream::connect(s.endpoint, 5s));
  std::this_thread::sleep_for(100ms);
  ASSERT_TRUE(c[1].write_all("hi all\n"));
  const std::string expected = "<" + c[1].local_endpoint()->to_string() + "> hi all\n";
  EXPECT_EQ(read_text(c[0], expected.size()), expected);
  EXPECT_EQ(read_text(c[2], expected.size()), expected);
  std::array<char, 16> buf;
  auto n = c[1].read_some(buf, 200ms);
  ASSERT_FALSE(n.has_value());
  EXPECT_EQ(n.error(), std::errc::timed_out);
  c.clear();
  EXPECT_EQ(stop(s).first, 0);
}

TEST(ListenModes, discard_reads_everything_and_answers_nothing) {
  auto s = serve({"--discard"});
  auto c = TcpStream::connect(s.endpoint, 5s);
  ASSERT_TRUE(c);
  std::string mb(1 << 20, 'z');
  ASSERT_TRUE(c->write_all(mb));
  ASSERT_TRUE(c->shutdown(Shutdown::write));
  EXPECT_TRUE(closed_by_server(*c));  // end of stream, without a byte back
  c->close();
  auto [status, summary] = stop(s);
  EXPECT_EQ(status, 0);
  ASSERT_TRUE(summary);
  EXPECT_EQ(summary->at("bytes_in"), std::to_string(1 << 20));
  EXPECT_EQ(summary->at("bytes_out"), "0");
}

TEST(ListenModes, deny_wins_over_allow_and_rejections_are_reported) {
  auto s = serve({"--echo", "--allow", "127.0.0.0/8", "--deny", "127.0.0.2"});
  ConnectOptions o;
  o.deadline = 5s;
  o.source = Endpoint::ipv4({127, 0, 0, 2}, 0);
  auto denied = TcpStream::connect(s.endpoint, o);
  ASSERT_TRUE(denied);
  EXPECT_TRUE(closed_by_server(*denied));
  auto ok = TcpStream::connect(s.endpoint, 5s);
  ASSERT_TRUE(ok);
  ASSERT_TRUE(ok->write_all("x"));
  EXPECT_EQ(read_text(*ok, 1), "x");
  ok->close();
  auto [status, summary] = stop(s);
  EXPECT_EQ(status, 0);
  auto rejected = find_event(json_events(s.process.err()), "rejected");
  ASSERT_TRUE(rejected);
  EXPECT_EQ(rejected->at("reason"), "denied");
  EXPECT_NE(rejected->at("peer").find("127.0.0.2:"), std::string::npos);
}

TEST(ListenModes, max_conns_and_idle_timeout_apply_per_client) {
  auto s = serve({"--echo", "--max-conns", "2", "--idle-timeout", "0.3"});
  auto a = TcpStream::connect(s.endpoint, 5s);
  auto b = TcpStream::connect(s.endpoint, 5s);
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(a->write_all("a"));
  ASSERT_EQ(read_text(*a, 1), "a");
  ASSERT_TRUE(b->write_all("b"));
  ASSERT_EQ(read_text(*b, 1), "b");
  auto c = TcpStream::connect(s.endpoint, 5s);
  ASSERT_TRUE(c);
  EXPECT_TRUE(closed_by_server(*c));  // over --max-conns
  EXPECT_TRUE(closed_by_server(*a));  // silent past --idle-timeout
  EXPECT_TRUE(closed_by_server(*b));
  auto [status, summary] = stop(s);
  EXPECT_EQ(status, 0);
  ASSERT_TRUE(summary);
  EXPECT_EQ(summary->at("idle_timeouts"), "2");
  EXPECT_EQ(summary->at("rejected"), "1");
}

TEST(ListenModes, sigterm_drains_a_connected_client_then_exits_zero) {
  auto s = serve({"--echo", "--drain", "10"});
  auto c = TcpStream::connect(s.endpoint, 5s);
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->write_all("one"));
  ASSERT_EQ(read_text(*c, 3), "one");
  ::kill(s.process.pid(), SIGTERM);
  ASSERT_TRUE(s.process.wait_for_err_line("\"draining\""));
  ASSERT_TRUE(c->write_all("two"));  // still served while draining
  EXPECT_EQ(read_text(*c, 3), "two");
  EXPECT_FALSE(TcpStream::connect(s.endpoint, 1s).has_value());  // no longer accepting
  c->close();
  EXPECT_EQ(s.process.wait(5s), 0);  // the last client left: well before the 10 s drain
  EXPECT_TRUE(find_event(json_events(s.process.err()), "summary"));
}

TEST(ListenModes, udp_echo_returns_each_datagram_to_its_sender) {
  auto s = serve({"--echo", "-u", "--threads", "2"});
  auto u = UdpSocket::bind(Endpoint::ipv4_loopback(0));
  ASSERT_TRUE(u);
  for (int i = 0; i < 5; ++i) {
    const std::string msg = "datagram " + std::to_string(i);
    ASSERT_TRUE(u->send_to(msg, s.endpoint));
    std::array<char, 64> buf;
    auto d = u->recv_from(buf, 5s);
    ASSERT_TRUE(d);
    EXPECT_EQ(std::string(buf.data(), d->size), msg);
  }
  auto [status, summary] = stop(s);
  EXPECT_EQ(status, 0);
  ASSERT_TRUE(summary);
  EXPECT_EQ(summary->at("datagrams_out"), "5");
}

// Bursts: the server drains its socket in batches (recvmmsg / sendmmsg). Every datagram must
// still go back to its own sender, intact and in order, and a denied sender in the middle of a
// batch must split it without losing or misdirecting the others.
TEST(ListenModes, udp_echo_of_bursts_from_many_senders_returns_each_to_its_sender_in_order) {
  auto s = serve({"--echo", "-u", "--threads", "1", "--deny", "127.0.0.9/32"});
  std::vector<UdpSocket> senders;
  for (int c = 0; c < 4; ++c) {
    auto u = UdpSocket::bind(Endpoint::parse(c == 2 ? "127.0.0.9:0" : "127.0.0.1:0").value());
    ASSERT_TRUE(u) << u.error().message();
    ASSERT_TRUE(u->socket().set_receive_buffer_size(1 << 20));
    senders.push_back(std::move(*u));
  }
  constexpr int bursts = 20, per_burst = 24;
  int echoed = 0;
  for (int b = 0; b < bursts; ++b) {
    // Interleaved: each burst queues 4 x 24 datagrams before the server wakes up, mostly.
    for (int i = 0; i < per_burst; ++i) {
      for (int c = 0; c < 4; ++c) {
        const std::string msg = "s" + std::to_string(c) + " b" + std::to_string(b) + " i" + std::to_string(i) +
                                std::string(static_cast<std::size_t>(i * 37 % 200), 'x');
        ASSERT_TRUE(senders[static_cast<std::size_t>(c)].send_to(msg, s.endpoint));
      }
    }
    for (int c = 0; c < 4; ++c) {
      if (c == 2) continue;  // denied: nothing comes back (checked below)
      for (int i = 0; i < per_burst; ++i) {
        const std::string want = "s" + std::to_string(c) + " b" + std::to_string(b) + " i" + std::to_string(i) +
                                 std::string(static_cast<std::size_t>(i * 37 % 200), 'x');
        std::array<char, 512> buf;
        auto d = senders[static_cast<std::size_t>(c)].recv_from(buf, 5s);
        ASSERT_TRUE(d) << "sender " << c << " burst " << b << " datagram " << i << ": " << d.error().message();
        ASSERT_EQ(std::string(buf.data(), d->size), want);
        ++echoed;
      }
    }
  }
  std::array<char, 512> buf;
  auto stray = senders[2].recv_from(buf, 200ms);
  EXPECT_FALSE(stray) << "the denied sender got an echo";
  auto [status, summary] = stop(s);
  EXPECT_EQ(status, 0);
  ASSERT_TRUE(summary);
  EXPECT_EQ(summary->at("datagrams_out"), std::to_string(echoed));
  EXPECT_EQ(summary->at("rejected"), std::to_string(bursts * per_burst));
}

TEST(ListenModes, a_bad_cidr_is_a_usage_error_on_one_line) {
  auto r = run_tether({"listen", "--echo", "--allow", "10.0.0.0/40", "0"});
  EXPECT_EQ(r.status, 2);
  EXPECT_EQ(lines_of(r.err).size(), 1u) << r.err;
  EXPECT_NE(r.err.find("--allow"), std::string::npos) << r.err;
  auto chat_udp = run_tether({"listen", "--chat", "-u", "0"});
  EXPECT_EQ(chat_udp.status, 2);
}

// --backend picks the loops' mechanism over TETHER_BACKEND; TETHER_URING_STATS=1 makes an io_uring
// ring report its counters when it goes away, which shows which mechanism served.
TEST(ListenModes, backend_flag_chooses_the_mechanism_over_the_environment) {
  const char* old = std::getenv("TETHER_BACKEND");
  const std::string saved = old == nullptr ? "" : old;
  ::setenv("TETHER_URING_STATS", "1", 1);
  for (const std::string want : {"io_uring", "epoll"}) {
    ::setenv("TETHER_BACKEND", want == "io_uring" ? "epoll" : "io_uring", 1);
    auto s = serve({"--echo", "--threads", "1", "--backend", want});
    auto c = TcpStream::connect(s.endpoint, 5s);
    ASSERT_TRUE(c);
    ASSERT_TRUE(c->write_all("ping"));
    EXPECT_EQ(read_text(*c, 4), "ping");
    c->close();
    ::kill(s.process.pid(), SIGTERM);
    EXPECT_EQ(s.process.wait(10s), 0);
    const bool uring = s.process.err().find("io_uring stats") != std::string::npos;
    EXPECT_EQ(uring, want == "io_uring") << want << ": " << s.process.err();
  }
  ::unsetenv("TETHER_URING_STATS");
  if (old == nullptr) {
    ::unsetenv("TETHER_BACKEND");
  } else {
    ::setenv("TETHER_BACKEND", saved.c_str(), 1);
  }
}

TEST(ListenModes, backend_flag_outside_a_serving_mode_or_unknown_is_a_usage_error) {
  auto relay = run_tether({"listen", "--backend", "io_uring", "0"});
  EXPECT_EQ(relay.status, 2);
  EXPECT_EQ(lines_of(relay.err).size(), 1u) << relay.err;
  EXPECT_NE(relay.err.find("--backend"), std::string::npos) << relay.err;
  auto unknown = run_tether({"listen", "--echo", "--backend", "kqueue", "0"});
  EXPECT_EQ(unknown.status, 2);
  EXPECT_EQ(lines_of(unknown.err).size(), 1u) << unknown.err;
}
