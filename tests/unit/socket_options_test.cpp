// Socket: typed options round-trip on real sockets (checked against raw getsockopt), RAII and
// move semantics, and CLOEXEC + NONBLOCK on every fd tether creates.
#include "testing.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

using namespace std::chrono_literals;
using tether::Endpoint;
using tether::Socket;
using tether::SocketType;
using tether::testing::is_cloexec;
using tether::testing::is_nonblocking;

namespace {

Socket open_socket(int family, SocketType type) {
  auto s = Socket::open(family, type);
  EXPECT_TRUE(s) << s.error().message();
  return s ? std::move(*s) : Socket{};
}

int raw_int(const Socket& s, int level, int name) {
  int v = -1;
  socklen_t len = sizeof v;
  EXPECT_EQ(::getsockopt(s.fd(), level, name, &v, &len), 0) << std::strerror(errno);
  return v;
}

}  // namespace

TEST(SocketOptions, open_sets_cloexec_and_nonblock_for_every_family_and_type) {
  for (int family : {AF_INET, AF_INET6, AF_UNIX}) {
    for (auto type : {SocketType::stream, SocketType::datagram}) {
      auto s = open_socket(family, type);
      ASSERT_TRUE(s.is_open());
      EXPECT_TRUE(is_cloexec(s.fd())) << family;
      EXPECT_TRUE(is_nonblocking(s.fd())) << family;
      auto t = s.type();
      ASSERT_TRUE(t) << t.error().message();
      EXPECT_EQ(*t, type == SocketType::stream ? SOCK_STREAM : SOCK_DGRAM);
    }
  }
}

TEST(SocketOptions, reuse_address_round_trips) {
  auto s = open_socket(AF_INET, SocketType::stream);
  ASSERT_TRUE(s.set_reuse_address(true));
  EXPECT_EQ(s.reuse_address().value_or(false), true);
  EXPECT_EQ(raw_int(s, SOL_SOCKET, SO_REUSEADDR), 1);
  ASSERT_TRUE(s.set_reuse_address(false));
  EXPECT_EQ(s.reuse_address().value_or(true), false);
  EXPECT_EQ(raw_int(s, SOL_SOCKET, SO_REUSEADDR), 0);
}

TEST(SocketOptions, reuse_port_round_trips) {
  auto s = open_socket(AF_INET, SocketType::stream);
  ASSERT_TRUE(s.set_reuse_port(true));
  EXPECT_EQ(s.reuse_port().value_or(false), true);
  EXPECT_EQ(raw_int(s, SOL_SOCKET, SO_REUSEPORT), 1);
  ASSERT_TRUE(s.set_reuse_port(false));
  EXPECT_EQ(s.reuse_port().value_or(true), false);
}

TEST(SocketOptions, no_delay_round_trips) {
  auto s = open_socket(AF_INET, SocketType::stream);
  ASSERT_TRUE(s.set_no_delay(true));
  EXPECT_EQ(s.no_delay().value_or(false), true);
  EXPECT_NE(raw_int(s, IPPROTO_TCP, TCP_NODELAY), 0);
  ASSERT_TRUE(s.set_no_delay(false));
  EXPECT_EQ(s.no_delay().value_or(true), false);
  EXPECT_EQ(raw_int(s, IPPROTO_TCP, TCP_NODELAY), 0);
}

TEST(SocketOptions, keep_alive_round_trips) {
  auto s = open_socket(AF_INET, SocketType::stream);
  ASSERT_TRUE(s.set_keep_alive(true));
  EXPECT_EQ(s.keep_alive().value_or(false), true);
  EXPECT_EQ(raw_int(s, SOL_SOCKET, SO_KEEPALIVE), 1);
  ASSERT_TRUE(s.set_keep_alive(false));
  EXPECT_EQ(s.keep_alive().value_or(true), false);
  EXPECT_EQ(raw_int(s, SOL_SOCKET, SO_KEEPALIVE), 0);
}

TEST(SocketOptions, keep_alive_parameters_reach_the_kernel) {
  auto s = open_socket(AF_INET6, SocketType::stream);
  tether::KeepAlive ka;
  ka.idle = 37s;
  ka.interval = 7s;
  ka.count = 4;
  ASSERT_TRUE(s.set_keep_alive(ka));
  EXPECT_EQ(s.keep_alive().value_or(false), true);
  EXPECT_EQ(raw_int(s, SOL_SOCKET, SO_KEEPALIVE), 1);
  EXPECT_EQ(raw_int(s, IPPROTO_TCP, TCP_KEEPIDLE), 37);
  EXPECT_EQ(raw_int(s, IPPROTO_TCP, TCP_KEEPINTVL), 7);
  EXPECT_EQ(raw_int(s, IPPROTO_TCP, TCP_KEEPCNT), 4);
}

TEST(SocketOptions, keep_alive_out_of_range_is_an_error) {
  auto s = open_socket(AF_INET, SocketType::stream);
  tether::KeepAlive ka;
  ka.count = 0;  // the kernel accepts 1..127 probes
  auto r = s.set_keep_alive(ka);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), std::errc::invalid_argument) << r.error().message();
}

TEST(SocketOptions, linger_round_trips) {
  auto s = open_socket(AF_INET, SocketType::stream);
  auto initial = s.linger();
  ASSERT_TRUE(initial) << initial.error().message();
  EXPECT_FALSE(initial->has_value());

  ASSERT_TRUE(s.set_linger(0s));
  auto zero = s.linger();
  ASSERT_TRUE(zero && zero->has_value());
  EXPECT_EQ(**zero, 0s);

  ASSERT_TRUE(s.set_linger(5s));
  ::linger raw{};
  socklen_t len = sizeof raw;
  ASSERT_EQ(::getsockopt(s.fd(), SOL_SOCKET, SO_LINGER, &raw, &len), 0);
  EXPECT_EQ(raw.l_onoff, 1);
  EXPECT_EQ(raw.l_linger, 5);
  EXPECT_EQ(s.linger().value_or(std::nullopt), std::optional(5s));

  ASSERT_TRUE(s.set_linger(std::nullopt));
  auto off = s.linger();
  ASSERT_TRUE(off);
  EXPECT_FALSE(off->has_value());
}

TEST(SocketOptions, buffer_sizes_round_trip_as_the_kernel_reports_them) {
  auto s = open_socket(AF_INET, SocketType::stream);
  ASSERT_TRUE(s.set_send_buffer_size(64 * 1024));
  auto snd = s.send_buffer_size();
  ASSERT_TRUE(snd) << snd.error().message();
  EXPECT_GE(*snd, 64 * 1024);  // Linux doubles the request
  EXPECT_EQ(*snd, raw_int(s, SOL_SOCKET, SO_SNDBUF));

  ASSERT_TRUE(s.set_receive_buffer_size(32 * 1024));
  auto rcv = s.receive_buffer_size();
  ASSERT_TRUE(rcv) << rcv.error().message();
  EXPECT_GE(*rcv, 32 * 1024);
  EXPECT_EQ(*rcv, raw_int(s, SOL_SOCKET, SO_RCVBUF));

  // A different request gives a different size: the setter is not a no-op.
  ASSERT_TRUE(s.set_send_buffer_size(16 * 1024));
  EXPECT_LT(s.send_buffer_size().value_or(0), *snd);
}

TEST(SocketOptions, v6_only_round_trips) {
  auto s = open_socket(AF_INET6, SocketType::stream);
  ASSERT_TRUE(s.set_v6_only(true));
  EXPECT_EQ(s.v6_only().value_or(false), true);
  EXPECT_EQ(raw_int(s, IPPROTO_IPV6, IPV6_V6ONLY), 1);
  ASSERT_TRUE(s.set_v6_only(false));
  EXPECT_EQ(s.v6_only().value_or(true), false);
  EXPECT_EQ(raw_int(s, IPPROTO_IPV6, IPV6_V6ONLY), 0);
}

TEST(SocketOptions, v6_only_on_ipv4_socket_is_an_error) {
  auto s = open_socket(AF_INET, SocketType::stream);
  auto r = s.set_v6_only(true);
  ASSERT_FALSE(r);
  EXPECT_EQ(&r.error().category(), &std::system_category());
}

TEST(SocketOptions, broadcast_round_trips) {
  auto s = open_socket(AF_INET, SocketType::datagram);
  ASSERT_TRUE(s.set_broadcast(true));
  EXPECT_EQ(s.broadcast().value_or(false), true);
  EXPECT_EQ(raw_int(s, SOL_SOCKET, SO_BROADCAST), 1);
  ASSERT_TRUE(s.set_broadcast(false));
  EXPECT_EQ(s.broadcast().value_or(true), false);
}

TEST(SocketOptions, receive_and_send_timeouts_round_trip_and_reach_the_kernel) {
  auto s = open_socket(AF_INET, SocketType::stream);
  EXPECT_EQ(s.receive_timeout(), 0ms);
  EXPECT_EQ(s.send_timeout(), 0ms);
  ASSERT_TRUE(s.set_receive_timeout(1250ms));
  ASSERT_TRUE(s.set_send_timeout(300ms));
  EXPECT_EQ(s.receive_timeout(), 1250ms);
  EXPECT_EQ(s.send_timeout(), 300ms);

  // The kernel keeps these in jiffies: the value read back may be rounded up by one tick.
  auto kernel_ms = [&](int name) {
    timeval tv{};
    socklen_t len = sizeof tv;
    EXPECT_EQ(::getsockopt(s.fd(), SOL_SOCKET, name, &tv, &len), 0);
    return std::chrono::milliseconds(tv.tv_sec * 1000 + tv.tv_usec / 1000);
  };
  EXPECT_GE(kernel_ms(SO_RCVTIMEO), 1250ms);
  EXPECT_LE(kernel_ms(SO_RCVTIMEO), 1260ms);
  EXPECT_GE(kernel_ms(SO_SNDTIMEO), 300ms);
  EXPECT_LE(kernel_ms(SO_SNDTIMEO), 310ms);

  // The socket's timeout becomes the default deadline; an explicit deadline wins.
  auto before = tether::Deadline::clock::now();
  auto d = s.receive_deadline(tether::Deadline::never());
  EXPECT_FALSE(d.is_never());
  EXPECT_GE(d.time_point(), before + 1250ms);
  EXPECT_LE(d.time_point(), tether::Deadline::clock::now() + 1250ms);
  tether::Deadline mine = 5s;
  EXPECT_EQ(s.receive_deadline(mine).time_point(), mine.time_point());
  EXPECT_FALSE(s.send_deadline(tether::Deadline::never()).is_never());

  ASSERT_TRUE(s.set_receive_timeout(0ms));
  EXPECT_TRUE(s.receive_deadline(tether::Deadline::never()).is_never());
  EXPECT_EQ(kernel_ms(SO_RCVTIMEO), 0ms);
}

TEST(SocketOptions, generic_int_option_and_take_error) {
  auto s = open_socket(AF_INET, SocketType::datagram);
  ASSERT_TRUE(s.set_int_option(IPPROTO_IP, IP_TTL, 17));
  EXPECT_EQ(s.int_option(IPPROTO_IP, IP_TTL).value_or(0), 17);
  EXPECT_EQ(raw_int(s, IPPROTO_IP, IP_TTL), 17);
  EXPECT_EQ(s.take_error().value_or(-1), 0);
  auto bad = s.set_int_option(SOL_SOCKET, 0x7fff, 1);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error(), std::errc::no_protocol_option);
}

TEST(SocketOptions, udp_ttl_and_multicast_options_reach_the_kernel) {
  auto v4 = tether::UdpSocket::open(Endpoint::ipv4_loopback(0));
  ASSERT_TRUE(v4) << v4.error().message();
  ASSERT_TRUE(v4->set_ttl(9));
  ASSERT_TRUE(v4->set_multicast_ttl(3));
  ASSERT_TRUE(v4->set_multicast_loop(false));
  EXPECT_EQ(raw_int(v4->socket(), IPPROTO_IP, IP_TTL), 9);
  EXPECT_EQ(raw_int(v4->socket(), IPPROTO_IP, IP_MULTICAST_TTL), 3);
  EXPECT_EQ(raw_int(v4->socket(), IPPROTO_IP, IP_MULTICAST_LOOP), 0);

  auto v6 = tether::UdpSocket::open(Endpoint::ipv6_loopback(0));
  ASSERT_TRUE(v6) << v6.error().message();
  ASSERT_TRUE(v6->set_ttl(11));
  ASSERT_TRUE(v6->set_multicast_ttl(4));
  ASSERT_TRUE(v6->set_multicast_loop(false));
  EXPECT_EQ(raw_int(v6->socket(), IPPROTO_IPV6, IPV6_UNICAST_HOPS), 11);
  EXPECT_EQ(raw_int(v6->socket(), IPPROTO_IPV6, IPV6_MULTICAST_HOPS), 4);
  EXPECT_EQ(raw_int(v6->socket(), IPPROTO_IPV6, IPV6_MULTICAST_LOOP), 0);
}

TEST(SocketOptions, socket_closes_on_destruction_and_move) {
  int before = tether::testing::open_fd_count();
  {
    auto a = open_socket(AF_INET, SocketType::stream);
    EXPECT_EQ(tether::testing::open_fd_count(), before + 1);
    Socket b = std::move(a);
    EXPECT_FALSE(a.is_open());  // NOLINT(bugprone-use-after-move): moved-from is empty
    EXPECT_TRUE(b.is_open());
    auto c = open_socket(AF_INET, SocketType::stream);
    EXPECT_EQ(tether::testing::open_fd_count(), before + 2);
    b = std::move(c);  // closes b's old fd
    EXPECT_EQ(tether::testing::open_fd_count(), before + 1);
    b.close();
    b.close();  // idempotent
    EXPECT_FALSE(b.is_open());
    EXPECT_EQ(tether::testing::open_fd_count(), before);
  }
  EXPECT_EQ(tether::testing::open_fd_count(), before);
}

TEST(SocketOptions, release_hands_the_fd_over) {
  int fd = -1;
  {
    auto s = open_socket(AF_UNIX, SocketType::stream);
    fd = s.release();
    EXPECT_FALSE(s.is_open());
  }
  ASSERT_GE(fd, 0);
  EXPECT_TRUE(is_cloexec(fd));  // still open after the Socket died
  EXPECT_EQ(::close(fd), 0);
}

TEST(SocketOptions, every_fd_tether_creates_is_cloexec_and_nonblocking) {
  auto listener = tether::TcpListener::bind(Endpoint::ipv4_loopback(0));
  ASSERT_TRUE(listener) << listener.error().message();
  auto where = listener->local_endpoint();
  ASSERT_TRUE(where);
  auto client = tether::TcpStream::connect(*where, 5s);
  ASSERT_TRUE(client) << client.error().message();
  auto accepted = listener->accept(5s);
  ASSERT_TRUE(accepted) << accepted.error().message();
  auto udp_open = tether::UdpSocket::open(Endpoint::ipv6_loopback(0));
  ASSERT_TRUE(udp_open) << udp_open.error().message();
  auto udp_bound = tether::UdpSocket::bind(Endpoint::ipv4_loopback(0));
  ASSERT_TRUE(udp_bound) << udp_bound.error().message();

  tether::testing::TempPath path("opts-unix");
  auto unix_ep = Endpoint::unix_path(path.str());
  ASSERT_TRUE(unix_ep);
  auto unix_listener = tether::UnixListener::bind(*unix_ep);
  ASSERT_TRUE(unix_listener) << unix_listener.error().message();
  auto unix_client = tether::UnixStream::connect(*unix_ep, 5s);
  ASSERT_TRUE(unix_client) << unix_client.error().message();
  auto unix_accepted = unix_listener->accept(5s);
  ASSERT_TRUE(unix_accepted) << unix_accepted.error().message();

  struct Named {
    const char* what;
    int fd;
  };
  for (auto [what, fd] : {Named{"listener", listener->socket().fd()},
                          Named{"connected stream", client->socket().fd()},
                          Named{"accepted stream", accepted->stream.socket().fd()},
                          Named{"udp open", udp_open->socket().fd()},
                          Named{"udp bind", udp_bound->socket().fd()},
                          Named{"unix listener", unix_listener->socket().fd()},
                          Named{"unix stream", unix_client->socket().fd()},
                          Named{"unix accepted", unix_accepted->stream.socket().fd()}}) {
    EXPECT_TRUE(is_cloexec(fd)) << what;
    EXPECT_TRUE(is_nonblocking(fd)) << what;
  }
}
