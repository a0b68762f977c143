// tether listen --sockperf: the reflector for sockperf clients, driven by a client written with
// libtether's sockperf codec, and by the real `sockperf` binary when it is installed.
#include "cli_support.hpp"

#include <tether/buffer.hpp>
#include <tether/sockperf.hpp>
#include <tether/tcp.hpp>
#include <tether/udp.hpp>

#include <gtest/gtest.h>

#include <signal.h>

#include <vector>

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

struct Server {
  Process process;
  std::uint16_t port = 0;
};

Server start_server(std::vector<std::string> extra) {
  std::vector<std::string> argv = {tether_path(), "listen", "--sockperf", "--json", "127.0.0.1", "0"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  Server s{Process::start(argv), 0};
  s.port = port_of(listening_endpoint(s.process));
  return s;
}

/// Reads messages until `count` arrived or nothing more comes within `quiet`.
std::vector<sp::Header> read_replies(TcpStream& stream, std::size_t count, std::chrono::milliseconds quiet) {
  std::vector<sp::Header> out;
  Buffer in;
  sp::MessageDecoder decoder;
  while (out.size() < count) {
    auto space = in.prepare(4096);
    auto n = stream.read_some(space, quiet);
    if (!n || *n == 0) break;
    in.commit(*n);
    for (;;) {
      auto m = decoder.decode(in);
      if (!m || !*m) break;
      EXPECT_TRUE(std::all_of((*m)->bytes.begin() + sp::header_size, (*m)->bytes.end(),
                              [](std::byte b) { return b == std::byte{0x5c}; }))
          << "payload changed";
      out.push_back((*m)->header);
    }
  }
  return out;
}

}  // namespace

TEST(SockperfCli, sockperf_tcp_replies_only_to_pong_requests_with_client_flag_cleared) {
  auto server = start_server({"-k"});
  ASSERT_NE(server.port, 0) << server.process.err();
  auto stream = TcpStream::connect(Endpoint::ipv4_loopback(server.port), std::chrono::seconds(5));
  ASSERT_TRUE(stream);
  const std::string batch = message(1, kPong | sp::flag_warmup, 64) + message(2, sp::flag_client, 64) +
                            message(3, sp::flag_pong_request, 64) + message(7, kPong, 100);
  ASSERT_TRUE(stream->write_all(batch));
  auto replies = read_replies(*stream, 2, std::chrono::milliseconds(300));
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0], (sp::Header{7, sp::flag_pong_request, 100}));
}

TEST(SockperfCli, sockperf_tcp_messages_in_1_to_7_byte_pieces_are_all_answered) {
  auto server = start_server({"-k"});
  ASSERT_NE(server.port, 0) << server.process.err();
  auto stream = TcpStream::connect(Endpoint::ipv4_loopback(server.port), std::chrono::seconds(5));
  ASSERT_TRUE(stream);
  ASSERT_TRUE(stream->socket().set_no_delay(true));
  std::string all;
  for (std::uint64_t i = 0; i < 20; ++i) all += message(i, kPong, static_cast<std::uint32_t>(14 + i * 3));
  std::size_t pos = 0;
  for (std::size_t chunk = 1; pos < all.size(); chunk = chunk % 7 + 1) {
    const std::size_t n = std::min(chunk, all.size() - pos);
    ASSERT_TRUE(stream->write_all(std::string_view(all).substr(pos, n)));
    pos += n;
  }
  auto replies = read_replies(*stream, 20, std::chrono::seconds(5));
  ASSERT_EQ(replies.size(), 20u);
  for (std::uint64_t i = 0; i < 20; ++i) {
    EXPECT_EQ(replies[i].sequence, i);
    EXPECT_EQ(replies[i].length, 14 + i * 3);
  }
}

TEST(SockperfCli, sockperf_corrupt_length_closes_only_that_connection) {
  auto server = start_server({"-k"});
  ASSERT_NE(server.port, 0) << server.process.err();
  auto good = TcpStream::connect(Endpoint::ipv4_loopback(server.port), std::chrono::seconds(5));
  auto bad = TcpStream::connect(Endpoint::ipv4_loopback(server.port), std::chrono::seconds(5));
  ASSERT_TRUE(good && bad);
  std::string hostile = message(1, kPong, 14);
  hostile[10] = hostile[11] = hostile[12] = hostile[13] = '\xff';  // length 0xFFFFFFFF
  ASSERT_TRUE(bad->write_all(hostile));
  char byte;
  auto r = bad->read_some(std::span(&byte, 1), std::chrono::seconds(5));
  EXPECT_TRUE(!r || *r == 0) << "the corrupt connection is closed";
  ASSERT_TRUE(good->write_all(message(5, kPong, 32)));
  auto replies = read_replies(*good, 1, std::chrono::seconds(5));
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0].sequence, 5u);
}

TEST(SockperfCli, sockperf_without_k_exits_0_after_its_client_leaves) {
  auto server = start_server({});
  ASSERT_NE(server.port, 0) << server.process.err();
  {
    auto stream = TcpStream::connect(Endpoint::ipv4_loopback(server.port), std::chrono::seconds(5));
    ASSERT_TRUE(stream);
    ASSERT_TRUE(stream->write_all(message(1, kPong, 20)));
    ASSERT_EQ(read_replies(*stream, 1, std::chrono::seconds(5)).size(), 1u);
  }
  EXPECT_EQ(server.process.wait(std::chrono::seconds(5)), 0) << server.process.err();
  auto summary = find_event(json_events(server.process.err()), "summary");
  ASSERT_TRUE(summary);
  EXPECT_EQ(summary->at("replies"), "1");
}

TEST(SockperfCli, sockperf_udp_replies_to_pong_requests_only) {
  auto server = start_server({"-u"});
  ASSERT_NE(server.port, 0) << server.process.err();
  auto sock = UdpSocket::open(Endpoint::ipv4_loopback(server.port));
  ASSERT_TRUE(sock);
  ASSERT_TRUE(sock->connect(Endpoint::ipv4_loopback(server.port)));
  ASSERT_TRUE(sock->send(message(1, sp::flag_client, 64)));
  ASSERT_TRUE(sock->send(message(2, kPong, 64)));
  std::vector<std::byte> buf(70000);
  auto d = sock->recv_from(std::span(buf), std::chrono::seconds(5));
  ASSERT_TRUE(d);
  ASSERT_EQ(d->size, 64u);
  auto h = sp::parse_header(std::span(buf.data(), d->size));
  ASSERT_TRUE(h);
  EXPECT_EQ(*h, (sp::Header{2, sp::flag_pong_request, 64}));
  EXPECT_FALSE(sock->recv_from(std::span(buf), std::chrono::milliseconds(200))) << "no reply to a non-pong";
  ::kill(server.process.pid(), SIGTERM);
  EXPECT_EQ(server.process.wait(std::chrono::seconds(5)), 0);
  EXPECT_TRUE(find_event(json_events(server.process.err()), "summary"));
}

TEST(SockperfCli, sockperf_real_client_ping_pong_over_tcp_and_udp) {
  if (!tether::testing::have_program("sockperf")) GTEST_SKIP() << "sockperf is not installed";
  for (bool udp : {false, true}) {
    auto server = start_server(udp ? std::vector<std::string>{"-u"} : std::vector<std::string>{"-k"});
    ASSERT_NE(server.port, 0) << server.process.err();
    std::vector<std::string> argv = {"sockperf", "ping-pong", "-i", "127.0.0.1", "-p", std::to_string(server.port),
                                     "-t", "1", "-m", "64"};
    if (!udp) argv.insert(argv.begin() + 2, "--tcp");
    Process client = Process::start(argv);
    ASSERT_EQ(client.wait(std::chrono::seconds(20)), 0) << client.out() << client.err();
    const std::string out = client.out() + client.err();
    EXPECT_NE(out.find("Summary: Latency is"), std::string::npos) << out;
    EXPECT_EQ(out.find("ERROR"), std::string::npos) << out;
  }
}

TEST(SockperfCli, sockperf_second_client_is_served_while_the_first_stays_connected) {
  auto server = start_server({"-k"});
  ASSERT_NE(server.port, 0) << server.process.err();
  auto first = TcpStream::connect(Endpoint::ipv4_loopback(server.port), std::chrono::seconds(5));
  ASSERT_TRUE(first);
  ASSERT_TRUE(first->write_all(message(1, kPong, 30)));
  ASSERT_EQ(read_replies(*first, 1, std::chrono::seconds(5)).size(), 1u);  // the server now serves one client
  auto second = TcpStream::connect(Endpoint::ipv4_loopback(server.port), std::chrono::seconds(5));
  ASSERT_TRUE(second);
  ASSERT_TRUE(second->write_all(message(2, kPong, 30)));
  auto r2 = read_replies(*second, 1, std::chrono::seconds(5));
  ASSERT_EQ(r2.size(), 1u);
  EXPECT_EQ(r2[0].sequence, 2u);
  second->close();
  for (std::uint64_t seq = 3; seq < 6; ++seq) {  // back to one client
    ASSERT_TRUE(first->write_all(message(seq, kPong, 30)));
    auto r = read_replies(*first, 1, std::chrono::seconds(5));
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r[0].sequence, seq);
  }
}
