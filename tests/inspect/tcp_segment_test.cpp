// parse_tcp_packet on packets built byte by byte, and the SYN a listener saves (TCP_SAVE_SYN) for a
// real loopback connection.
#include <tether/tcp_segment.hpp>
#include <tether/tether.hpp>

#include <gtest/gtest.h>

#include <vector>

namespace {

using namespace std::chrono_literals;
using tether::Endpoint;

std::vector<std::byte> bytes(std::initializer_list<int> values) {
  std::vector<std::byte> out;
  for (int v : values) out.push_back(static_cast<std::byte>(v));
  return out;
}

/// TCP header 40000 -> 5000, seq 1000, SYN, window 65495, options: MSS 65495, SACK-permitted,
/// timestamps, NOP, window scale 7 (40 bytes).
std::vector<std::byte> syn_tcp_header() {
  return bytes({0x9c, 0x40, 0x13, 0x88, 0, 0, 0x03, 0xe8, 0, 0, 0, 0, 0xa0, 0x02, 0xff, 0xd7, 0, 0, 0, 0,
                2, 4, 0xff, 0xd7, 4, 2, 8, 10, 0, 0, 0, 9, 0, 0, 0, 0, 1, 3, 3, 7});
}

TEST(TcpSegment, ipv4_syn_with_options_parses_every_field) {
  auto packet = bytes({0x45, 0, 0, 60, 0, 1, 0x40, 0, 64, 6, 0, 0, 127, 0, 0, 1, 127, 0, 0, 2});
  auto tcp = syn_tcp_header();
  packet.insert(packet.end(), tcp.begin(), tcp.end());
  auto s = tether::parse_tcp_packet(packet);
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_EQ(s->source, Endpoint::ipv4({127, 0, 0, 1}, 40000));
  EXPECT_EQ(s->destination, Endpoint::ipv4({127, 0, 0, 2}, 5000));
  EXPECT_EQ(s->ttl, 64);
  EXPECT_EQ(s->seq, 1000U);
  EXPECT_EQ(s->flags_text(), "SYN");
  EXPECT_EQ(s->window, 65495);
  EXPECT_EQ(s->mss, 65495);
  EXPECT_EQ(s->window_scale, 7);
  EXPECT_TRUE(s->sack_permitted);
  EXPECT_EQ(s->timestamp, 9U);
  EXPECT_EQ(s->payload_size, 0U);
  EXPECT_EQ(s->sequence_length(), 1U);
}

TEST(TcpSegment, ipv6_packet_carries_its_hop_limit_and_ports) {
  auto packet = bytes({0x60, 0, 0, 0, 0, 40, 6, 57});
  for (int i = 0; i < 2; ++i) {
    auto addr = bytes({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1});
    packet.insert(packet.end(), addr.begin(), addr.end());
  }
  auto tcp = syn_tcp_header();
  packet.insert(packet.end(), tcp.begin(), tcp.end());
  auto s = tether::parse_tcp_packet(packet);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->ttl, 57);
  EXPECT_EQ(s->source, Endpoint::ipv6_loopback(40000));
  EXPECT_EQ(s->destination.port(), 5000);
}

TEST(TcpSegment, truncated_or_foreign_packets_are_corrupt_frames) {
  auto packet = bytes({0x45, 0, 0, 60, 0, 1, 0x40, 0, 64, 6, 0, 0, 127, 0, 0, 1, 127, 0, 0, 2});
  auto tcp = syn_tcp_header();
  packet.insert(packet.end(), tcp.begin(), tcp.end());
  const auto corrupt = make_error_code(tether::Errc::corrupt_frame);
  for (std::size_t cut : {0UL, 1UL, 19UL, 30UL, 39UL, 45UL}) {
    auto s = tether::parse_tcp_packet(std::span(packet).first(cut));
    ASSERT_FALSE(s) << "a packet cut to " << cut << " bytes parsed";
    EXPECT_EQ(s.error(), corrupt);
  }
  auto udp = packet;
  udp[9] = std::byte{17};
  EXPECT_FALSE(tether::parse_tcp_packet(udp));
  auto bad_option = packet;
  bad_option[41] = std::byte{60};  // the MSS option claims to run past the header
  EXPECT_FALSE(tether::parse_tcp_packet(bad_option));
}

TEST(TcpSegment, listener_saves_each_clients_syn_once) {
  auto listener = tether::TcpListener::bind(Endpoint::ipv4_loopback(0));
  ASSERT_TRUE(listener);
  ASSERT_TRUE(tether::save_syns(*listener));
  auto client = tether::TcpStream::connect(*listener->local_endpoint(), 2s);
  ASSERT_TRUE(client);
  auto accepted = listener->accept(2s);
  ASSERT_TRUE(accepted);
  auto syn = tether::saved_syn(accepted->stream);
  ASSERT_TRUE(syn) << syn.error().message();
  EXPECT_EQ(syn->source, *client->local_endpoint());
  EXPECT_EQ(syn->destination, *listener->local_endpoint());
  EXPECT_TRUE(syn->has(tether::tcp_syn));
  EXPECT_FALSE(syn->has(tether::tcp_ack));
  EXPECT_GT(syn->ttl, 0);
  EXPECT_TRUE(syn->mss.has_value());
  EXPECT_FALSE(tether::saved_syn(accepted->stream)) << "the kernel hands the SYN out once";
}

}  // namespace
