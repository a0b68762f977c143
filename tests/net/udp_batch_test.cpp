// UdpSocket::recv_batch / send_batch and DatagramBatch (recvmmsg / sendmmsg) on loopback: many
// datagrams per call, in order, each with its sender and size; truncation reported per datagram;
// each payload sent back to its own peer; the deadline honoured when nothing comes.
#include "testing.hpp"

#include <tether/datagram_batch.hpp>

#include <array>
#include <cstring>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using tether::DatagramBatch;
using tether::Endpoint;
using tether::UdpSocket;

namespace {

UdpSocket bound() {
  auto s = UdpSocket::bind(Endpoint::ipv4_loopback(0));
  EXPECT_TRUE(s) << s.error().message();
  return s ? std::move(*s) : UdpSocket{};
}

std::string text(std::span<const std::byte> b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

}  // namespace

TEST(UdpBatch, recv_batch_takes_every_queued_datagram_in_order_with_its_sender) {
  auto server = bound();
  auto a = bound();
  auto b = bound();
  const auto to = *server.local_endpoint();
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE((i % 2 == 0 ? a : b).send_to("message " + std::to_string(i), to));
  }
  DatagramBatch batch(16);
  auto n = server.recv_batch(batch, 2s);
  ASSERT_TRUE(n) << n.error().message();
  ASSERT_EQ(*n, 10u);  // loopback delivers synchronously: all ten are queued
  EXPECT_EQ(batch.count(), 10u);
  for (std::size_t i = 0; i < 10; ++i) {
    EXPECT_EQ(text(batch.payload(i)), "message " + std::to_string(i));
    EXPECT_FALSE(batch.truncated(i));
    EXPECT_EQ(batch.full_size(i), batch.payload(i).size());
    EXPECT_EQ(batch.peer(i), i % 2 == 0 ? *a.local_endpoint() : *b.local_endpoint());
    EXPECT_TRUE(batch.has_peer(i));
  }
}

TEST(UdpBatch, recv_batch_stops_at_capacity_and_the_rest_stays_queued) {
  auto server = bound();
  auto a = bound();
  const auto to = *server.local_endpoint();
  for (int i = 0; i < 7; ++i) ASSERT_TRUE(a.send_to(std::to_string(i), to));
  DatagramBatch batch(4);
  auto first = server.recv_batch(batch, 2s);
  ASSERT_TRUE(first);
  ASSERT_EQ(*first, 4u);
  EXPECT_EQ(text(batch.payload(3)), "3");
  auto second = server.recv_batch(batch, 2s);
  ASSERT_TRUE(second);
  ASSERT_EQ(*second, 3u);
  EXPECT_EQ(text(batch.payload(0)), "4");
  EXPECT_EQ(text(batch.payload(2)), "6");
}

TEST(UdpBatch, truncation_is_reported_per_datagram_with_the_full_size) {
  auto server = bound();
  auto a = bound();
  const auto to = *server.local_endpoint();
  ASSERT_TRUE(a.send_to("short", to));
  ASSERT_TRUE(a.send_to("far too long for the slot", to));
  DatagramBatch batch(8, 8);
  auto n = server.recv_batch(batch, 2s);
  ASSERT_TRUE(n);
  ASSERT_EQ(*n, 2u);
  EXPECT_FALSE(batch.truncated(0));
  EXPECT_EQ(text(batch.payload(0)), "short");
  EXPECT_TRUE(batch.truncated(1));
  EXPECT_EQ(text(batch.payload(1)), "far too ");
  EXPECT_EQ(batch.full_size(1), 25u);
}

TEST(UdpBatch, recv_batch_honours_its_deadline_when_nothing_comes) {
  auto server = bound();
  DatagramBatch batch(4);
  tether::testing::Stopwatch sw;
  auto n = server.recv_batch(batch, 200ms);
  ASSERT_FALSE(n);
  EXPECT_EQ(n.error(), std::errc::timed_out);
  EXPECT_GE(sw.elapsed(), 190ms);
  EXPECT_EQ(batch.count(), 0u);
}

TEST(UdpBatch, send_batch_returns_each_payload_to_its_own_sender) {
  auto server = bound();
  std::vector<UdpSocket> clients;
  for (int i = 0; i < 3; ++i) clients.push_back(bound());
  const auto to = *server.local_endpoint();
  for (int round = 0; round < 2; ++round) {
    for (std::size_t c = 0; c < clients.size(); ++c) {
      ASSERT_TRUE(clients[c].send_to("c" + std::to_string(c) + " r" + std::to_string(round), to));
    }
  }
  DatagramBatch batch(32);
  auto n = server.recv_batch(batch, 2s);
  ASSERT_TRUE(n);
  ASSERT_EQ(*n, 6u);
  auto sent = server.send_batch(batch, 0, *n, 2s);
  ASSERT_TRUE(sent) << sent.error().message();
  EXPECT_EQ(*sent, 6u);
  for (std::size_t c = 0; c < clients.size(); ++c) {
    for (int round = 0; round < 2; ++round) {
      std::array<char, 64> buf;
      auto d = clients[c].recv_from(buf, 2s);
      ASSERT_TRUE(d) << "client " << c << ": " << d.error().message();
      EXPECT_EQ(std::string(buf.data(), d->size), "c" + std::to_string(c) + " r" + std::to_string(round));
      EXPECT_EQ(d->from, to);
    }
  }
}

TEST(UdpBatch, a_batch_built_by_hand_goes_to_the_peers_it_names) {
  auto sender = bound();
  auto x = bound();
  auto y = bound();
  DatagramBatch batch(2, 32);
  const std::string one = "to x", two = "to y, longer";
  std::memcpy(batch.slot(0).data(), one.data(), one.size());
  batch.set_payload_size(0, one.size());
  batch.set_peer(0, *x.local_endpoint());
  std::memcpy(batch.slot(1).data(), two.data(), two.size());
  batch.set_payload_size(1, two.size());
  batch.set_peer(1, *y.local_endpoint());
  batch.set_count(2);
  EXPECT_EQ(batch.count(), 2u);
  auto sent = sender.send_batch(batch, 0, batch.count(), 2s);
  ASSERT_TRUE(sent);
  EXPECT_EQ(*sent, 2u);
  std::array<char, 64> buf;
  auto dx = x.recv_from(buf, 2s);
  ASSERT_TRUE(dx);
  EXPECT_EQ(std::string(buf.data(), dx->size), one);
  auto dy = y.recv_from(buf, 2s);
  ASSERT_TRUE(dy);
  EXPECT_EQ(std::string(buf.data(), dy->size), two);
  // Out-of-range slices send nothing rather than reading past the batch.
  auto none = sender.send_batch(batch, 5, 3, 2s);
  ASSERT_TRUE(none);
  EXPECT_EQ(*none, 0u);
}

TEST(UdpBatch, send_batch_to_a_dead_port_on_a_connected_socket_reports_the_icmp_error) {
  auto dead = bound();
  const auto where = *dead.local_endpoint();
  dead.close();
  auto s = bound();
  ASSERT_TRUE(s.connect(where));
  DatagramBatch batch(2, 16);
  batch.set_payload_size(0, 4);
  batch.set_payload_size(1, 4);
  batch.set_count(2);
  // Slots with no peer go to the connected peer. The first send draws an ICMP port unreachable;
  // a later call reports it as ECONNREFUSED, and the socket stays usable.
  auto first = s.send_batch(batch, 0, 2, 2s);
  ASSERT_TRUE(first) << first.error().message();
  bool refused = false;
  for (int i = 0; i < 20 && !refused; ++i) {
    auto again = s.send_batch(batch, 0, 2, 2s);
    refused = !again && again.error() == std::errc::connection_refused;
  }
  EXPECT_TRUE(refused);
}
