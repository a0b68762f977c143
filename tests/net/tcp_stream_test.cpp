// TcpStream and TcpListener on loopback: deadlines on accept and read, partial writes with a tiny
// send buffer, EINTR, end of stream, half-close, resets, the 5-tuple, TCP_INFO and SO_REUSEADDR.
#include "testing.hpp"

#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <cstring>
#include <thread>

using namespace std::chrono_literals;
using tether::Endpoint;
using tether::Errc;
using tether::TcpListener;
using tether::TcpStream;
using tether::testing::connected_pair;
using tether::testing::pattern_bytes;
using tether::testing::Stopwatch;

namespace {

/// Reads until end of stream (or error/deadline); returns everything read.
std::string read_to_end(TcpStream& s, tether::Deadline d = 5s) {
  std::string out;
  char buf[4096];
  for (int i = 0; i < 100000; ++i) {
    auto n = s.read_some(std::span(buf), d);
    if (!n) {
      ADD_FAILURE() << "read: " << n.error().message();
      break;
    }
    if (*n == 0) break;
    out.append(buf, *n);
  }
  return out;
}

}  // namespace

TEST(TcpStream, tcp_accept_deadline_times_out) {
  auto l = TcpListener::bind(Endpoint::ipv4_loopback(0));
  ASSERT_TRUE(l) << l.error().message();
  Stopwatch sw;
  auto a = l->accept(300ms);
  auto took = sw.elapsed();
  ASSERT_FALSE(a);
  EXPECT_EQ(a.error(), std::errc::timed_out) << a.error().message();
  EXPECT_GE(took, 290ms);
  EXPECT_LE(took, 1300ms);
}

TEST(TcpStream, tcp_accept_gives_the_peer_endpoint) {
  auto l = TcpListener::bind(Endpoint::ipv4_loopback(0));
  ASSERT_TRUE(l);
  auto c = TcpStream::connect(l->local_endpoint().value(), 5s);
  ASSERT_TRUE(c) << c.error().message();
  auto a = l->accept(5s);
  ASSERT_TRUE(a) << a.error().message();
  EXPECT_EQ(a->peer, c->local_endpoint().value());
}

TEST(TcpStream, tcp_read_deadline_times_out_without_data) {
  auto p = connected_pair();
  char buf[16];
  Stopwatch sw;
  auto n = p.client.read_some(std::span(buf), 300ms);
  auto took = sw.elapsed();
  ASSERT_FALSE(n) << "read " << *n << " bytes from a silent peer";
  EXPECT_EQ(n.error(), std::errc::timed_out) << n.error().message();
  EXPECT_GE(took, 290ms);
  EXPECT_LE(took, 1300ms);
  // The stream still works after a timeout.
  ASSERT_TRUE(p.server.write_all("late"));
  auto m = p.client.read_some(std::span(buf), 5s);
  ASSERT_TRUE(m) << m.error().message();
  EXPECT_EQ(std::string_view(buf, *m), "late");
}

TEST(TcpStream, tcp_receive_timeout_is_the_default_read_deadline) {
  auto p = connected_pair();
  ASSERT_TRUE(p.client.socket().set_receive_timeout(200ms));
  char buf[16];
  Stopwatch sw;
  auto n = p.client.read_some(std::span(buf));
  ASSERT_FALSE(n);
  EXPECT_EQ(n.error(), std::errc::timed_out) << n.error().message();
  EXPECT_GE(sw.elapsed(), 190ms);
  EXPECT_LE(sw.elapsed(), 1200ms);
}

TEST(TcpStream, tcp_read_exact_deadline_after_partial_data) {
  auto p = connected_pair();
  ASSERT_TRUE(p.server.write_all("abc"));
  char buf[10];
  auto r = p.client.read_exact(std::span(buf), 300ms);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), std::errc::timed_out) << r.error().message();
}

TEST(TcpStream, tcp_write_all_survives_partial_writes_with_tiny_sndbuf_and_slow_reader) {
  auto p = connected_pair();
  // Only the sender's buffer is shrunk: a tiny receive buffer on loopback makes the kernel's own
  // window handling stall (zero-window probes with backoff), which is not what this test is about.
  ASSERT_TRUE(p.client.socket().set_send_buffer_size(4096));
  const auto data = pattern_bytes(4 * 1024 * 1024, 7);

  // One write_some cannot take it all: the kernel accepts a part.
  auto first = p.client.write_some(data, 5s);
  ASSERT_TRUE(first) << first.error().message();
  ASSERT_GT(*first, 0u);
  ASSERT_LT(*first, data.size()) << "no partial write: the scenario did not happen";

  std::vector<std::byte> received;
  received.reserve(data.size());
  std::thread reader([&] {
    std::vector<std::byte> chunk(1500);
    for (int i = 0; i < 1000000 && received.size() < data.size(); ++i) {
      auto n = p.server.read_some(chunk, 10s);
      if (!n || *n == 0) break;
      received.insert(received.end(), chunk.begin(), chunk.begin() + static_cast<long>(*n));
      if (i % 64 == 0) std::this_thread::sleep_for(1ms);  // a slow reader
    }
  });
  auto rest = std::span(data).subspan(*first);
  auto w = p.client.write_all(rest, 20s);
  reader.join();
  ASSERT_TRUE(w) << w.error().message();
  ASSERT_EQ(received.size(), data.size());
  EXPECT_TRUE(std::equal(received.begin(), received.end(), data.begin())) << "bytes differ";
}

namespace {
void on_sigusr1(int) {}
}  // namespace

TEST(TcpStream, tcp_transfer_survives_signal_interruptions) {
  // A handler without SA_RESTART makes every blocking call in the target thread see EINTR.
  struct sigaction sa {};
  sa.sa_handler = on_sigusr1;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;
  struct sigaction old {};
  ASSERT_EQ(sigaction(SIGUSR1, &sa, &old), 0);

  auto p = connected_pair();
  ASSERT_TRUE(p.client.socket().set_send_buffer_size(4096));
  const auto data = pattern_bytes(2 * 1024 * 1024, 11);
  std::vector<std::byte> received(data.size());
  std::atomic<bool> done{false};
  std::atomic<bool> pester_stopped{false};
  std::atomic<bool> started{false};
  tether::Status read_result;
  pthread_t reader_thread{};
  std::thread reader([&] {
    reader_thread = pthread_self();
    started = true;
    read_result = p.server.read_exact(std::span(received), 20s);
    done = true;
    while (!pester_stopped) std::this_thread::yield();  // stay alive while signals may come
  });
  while (!started) std::this_thread::yield();
  pthread_t writer_thread = pthread_self();
  std::thread pester([&] {
    for (int i = 0; i < 20000 && !done; ++i) {
      pthread_kill(reader_thread, SIGUSR1);
      pthread_kill(writer_thread, SIGUSR1);
      std::this_thread::sleep_for(200us);
    }
    pester_stopped = true;
  });
  auto w = p.client.write_all(data, 20s);
  if (!w) done = true;
  pester.join();
  reader.join();
  sigaction(SIGUSR1, &old, nullptr);
  ASSERT_TRUE(w) << w.error().message();
  ASSERT_TRUE(read_result) << read_result.error().message();
  EXPECT_EQ(received, data);
}

TEST(TcpStream, tcp_read_exact_reports_end_of_stream) {
  auto p = connected_pair();
  ASSERT_TRUE(p.server.write_all("abc"));
  p.server.close();
  char buf[10];
  auto r = p.client.read_exact(std::span(buf), 5s);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), Errc::end_of_stream) << r.error().message();
}

TEST(TcpStream, tcp_read_exact_gets_every_byte_across_segments) {
  auto p = connected_pair();
  std::thread writer([&] {
    for (char c : std::string_view("hello, world")) {
      ASSERT_TRUE(p.server.write_all(std::string_view(&c, 1)));
      std::this_thread::sleep_for(2ms);
    }
  });
  char buf[12];
  auto r = p.client.read_exact(std::span(buf), 5s);
  writer.join();
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(std::string_view(buf, 12), "hello, world");
}

TEST(TcpStream, tcp_half_close_peer_still_sends_the_reply) {
  auto p = connected_pair();
  ASSERT_TRUE(p.client.write_all("request"));
  ASSERT_TRUE(p.client.shutdown(tether::Shutdown::write));
  // The server sees the request, then end of stream, and can still answer.
  EXPECT_EQ(read_to_end(p.server), "request");
  ASSERT_TRUE(p.server.write_all("reply after FIN"));
  p.server.close();
  EXPECT_EQ(read_to_end(p.client), "reply after FIN");
  // After the peer's close another read is 0 again, not an error.
  char buf[4];
  auto again = p.client.read_some(std::span(buf), 1s);
  ASSERT_TRUE(again) << again.error().message();
  EXPECT_EQ(*again, 0u);
}

TEST(TcpStream, tcp_write_after_shutdown_write_reports_epipe) {
  auto p = connected_pair();
  ASSERT_TRUE(p.client.shutdown(tether::Shutdown::write));
  auto w = p.client.write_all("x");
  ASSERT_FALSE(w);
  EXPECT_EQ(w.error(), std::errc::broken_pipe) << w.error().message();
}

TEST(TcpStream, tcp_no_sigpipe_after_peer_reset) {
  // The default SIGPIPE disposition stays: if tether raised SIGPIPE, this process would die.
  struct sigaction before {};
  ASSERT_EQ(sigaction(SIGPIPE, nullptr, &before), 0);
  if (before.sa_handler != SIG_DFL) signal(SIGPIPE, SIG_DFL);  // make the check meaningful
  sigset_t mask;
  pthread_sigmask(SIG_SETMASK, nullptr, &mask);
  ASSERT_FALSE(sigismember(&mask, SIGPIPE)) << "SIGPIPE is blocked: the test would prove nothing";

  auto p = connected_pair();
  ASSERT_TRUE(p.server.socket().set_linger(0s));
  p.server.close();  // RST
  std::this_thread::sleep_for(20ms);
  const auto chunk = pattern_bytes(64 * 1024);
  tether::Status w;
  for (int i = 0; i < 200 && w; ++i) w = p.client.write_all(chunk, 2s);
  ASSERT_FALSE(w) << "writes to a reset peer kept succeeding";
  EXPECT_TRUE(w.error() == std::errc::broken_pipe || w.error() == std::errc::connection_reset)
      << w.error().message();
  // Once more, now surely after the reset was seen: EPIPE, still no signal.
  auto again = p.client.write_some(chunk, 1s);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error(), std::errc::broken_pipe) << again.error().message();

  struct sigaction after {};
  ASSERT_EQ(sigaction(SIGPIPE, nullptr, &after), 0);
  EXPECT_EQ(after.sa_handler, SIG_DFL) << "tether changed the process-wide SIGPIPE disposition";
}

TEST(TcpStream, tcp_reset_is_econnreset_distinct_from_clean_eof) {
  {
    auto p = connected_pair();
    ASSERT_TRUE(p.server.socket().set_linger(0s));
    p.server.close();  // RST
    char buf[8];
    auto n = p.client.read_some(std::span(buf), 5s);
    ASSERT_FALSE(n) << "a reset read as " << *n << " bytes";
    EXPECT_EQ(n.error(), std::errc::connection_reset) << n.error().message();
  }
  {
    auto p = connected_pair();
    p.server.close();  // FIN
    char buf[8];
    auto n = p.client.read_some(std::span(buf), 5s);
    ASSERT_TRUE(n) << n.error().message();
    EXPECT_EQ(*n, 0u);
  }
}

TEST(TcpStream, tcp_local_and_peer_endpoints_match_on_both_ends) {
  auto l = TcpListener::bind(Endpoint::ipv4_loopback(0));
  ASSERT_TRUE(l);
  auto where = l->local_endpoint();
  ASSERT_TRUE(where);
  EXPECT_NE(where->port(), 0) << "port 0 was not replaced by the real port";
  auto c = TcpStream::connect(*where, 5s);
  ASSERT_TRUE(c) << c.error().message();
  auto a = l->accept(5s);
  ASSERT_TRUE(a) << a.error().message();

  auto c_local = c->local_endpoint();
  auto c_peer = c->peer_endpoint();
  auto s_local = a->stream.local_endpoint();
  auto s_peer = a->stream.peer_endpoint();
  ASSERT_TRUE(c_local && c_peer && s_local && s_peer);
  EXPECT_EQ(*c_peer, *where);
  EXPECT_EQ(*s_local, *where);
  EXPECT_EQ(*c_local, *s_peer);
  EXPECT_EQ(*c_local, a->peer);
  EXPECT_TRUE(c_local->is_loopback());
  EXPECT_NE(c_local->port(), 0);
}

TEST(TcpStream, tcp_peer_endpoint_of_unconnected_socket_is_enotconn) {
  auto s = tether::Socket::open(AF_INET, tether::SocketType::stream);
  ASSERT_TRUE(s);
  auto peer = s->peer_endpoint();
  ASSERT_FALSE(peer);
  EXPECT_EQ(peer.error(), std::errc::not_connected);
}

TEST(TcpStream, tcp_info_gives_plausible_rtt_on_established_connection) {
  auto p = connected_pair();
  char buf[4];
  for (int i = 0; i < 10; ++i) {  // a few round trips give the kernel RTT samples
    ASSERT_TRUE(p.client.write_all("ping"));
    ASSERT_TRUE(p.server.read_exact(std::span(buf), 5s));
    ASSERT_TRUE(p.server.write_all("pong"));
    ASSERT_TRUE(p.client.read_exact(std::span(buf), 5s));
  }
  auto info = p.client.tcp_info();
  ASSERT_TRUE(info) << info.error().message();
  EXPECT_EQ(info->state, TCP_ESTABLISHED);
  EXPECT_GT(info->rtt.count(), 0);
  EXPECT_LT(info->rtt, 1s);
  EXPECT_GT(info->send_mss, 0u);
  EXPECT_GT(info->send_cwnd, 0u);
  EXPECT_EQ(info->retransmits, 0u);
  EXPECT_GE(info->bytes_acked, 40u);
  EXPECT_GE(info->bytes_received, 40u);
}

TEST(TcpStream, tcp_info_on_unix_stream_is_an_error) {
  tether::testing::TempPath path("tcpinfo-unix");
  auto p = connected_pair(Endpoint::unix_path(path.str()).value());
  auto info = p.client.tcp_info();
  EXPECT_FALSE(info);
}

TEST(TcpStream, tcp_reuse_address_rebinds_while_connection_in_time_wait) {
  auto l = TcpListener::bind(Endpoint::ipv4_loopback(0));
  ASSERT_TRUE(l);
  auto where = l->local_endpoint().value();
  {
    auto c = TcpStream::connect(where, 5s);
    ASSERT_TRUE(c) << c.error().message();
    auto a = l->accept(5s);
    ASSERT_TRUE(a) << a.error().message();
    a->stream.close();  // the server closes first: its side goes to TIME_WAIT
    char buf[4];
    auto n = c->read_some(std::span(buf), 5s);
    ASSERT_TRUE(n && *n == 0);
    c->close();
  }
  l->close();
  std::this_thread::sleep_for(20ms);  // let the last ACK land

  tether::ListenOptions no_reuse;
  no_reuse.reuse_address = false;
  auto blocked = TcpListener::bind(where, no_reuse);
  ASSERT_FALSE(blocked) << "no TIME_WAIT connection: the scenario did not happen";
  EXPECT_EQ(blocked.error(), std::errc::address_in_use) << blocked.error().message();

  auto rebound = TcpListener::bind(where);  // SO_REUSEADDR by default
  ASSERT_TRUE(rebound) << rebound.error().message();
  EXPECT_EQ(rebound->socket().reuse_address().value_or(false), true);
}

TEST(TcpStream, tcp_moved_stream_keeps_working) {
  auto p = connected_pair();
  TcpStream moved = std::move(p.client);
  EXPECT_FALSE(p.client.is_open());  // NOLINT(bugprone-use-after-move)
  ASSERT_TRUE(moved.write_all("moved"));
  char buf[5];
  ASSERT_TRUE(p.server.read_exact(std::span(buf), 5s));
  EXPECT_EQ(std::string_view(buf, 5), "moved");
}

TEST(TcpStream, tcp_read_and_write_on_closed_stream_are_errors_not_crashes) {
  TcpStream s;
  char buf[4];
  EXPECT_FALSE(s.read_some(std::span(buf), 100ms));
  EXPECT_FALSE(s.write_all("x", 100ms));
  EXPECT_FALSE(s.tcp_info());
  TcpListener l;
  EXPECT_FALSE(l.accept(100ms));
}

TEST(TcpStream, tcp_write_some_of_empty_buffer_is_zero_and_read_of_empty_buffer_is_zero) {
  auto p = connected_pair();
  auto w = p.client.write_all(std::span<const std::byte>{});
  EXPECT_TRUE(w) << w.error().message();
  std::span<std::byte> none;
  auto r = p.client.read_exact(none, 100ms);
  EXPECT_TRUE(r) << r.error().message();
}
