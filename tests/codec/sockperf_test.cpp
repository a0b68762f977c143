#include <tether/sockperf.hpp>

#include <gtest/gtest.h>

#include "chunking.hpp"

#include <string>
#include <vector>

using tether::Buffer;
using tether::Errc;
namespace sp = tether::sockperf;

namespace {

std::string message(std::uint64_t seq, std::uint16_t flags, std::uint32_t length, char fill = 'p') {
  Buffer b;
  sp::append_message({seq, flags, length}, b, static_cast<std::byte>(fill));
  return std::string(b.view());
}

// A header written byte by byte, independent of the encoder under test.
std::string raw_header(std::uint64_t seq, std::uint16_t flags, std::uint32_t length) {
  std::string s;
  for (int i = 7; i >= 0; --i) s.push_back(static_cast<char>(seq >> (8 * i)));
  s.push_back(static_cast<char>(flags >> 8));
  s.push_back(static_cast<char>(flags));
  for (int i = 3; i >= 0; --i) s.push_back(static_cast<char>(length >> (8 * i)));
  return s;
}

std::span<const std::byte> bytes_of(const std::string& s) {
  return std::as_bytes(std::span(s.data(), s.size()));
}

}  // namespace

TEST(Sockperf, sockperf_header_layout_is_14_bytes_network_order) {
  const std::string m = message(0x0102030405060708ull, sp::flag_client | sp::flag_pong_request, 20);
  ASSERT_EQ(m.size(), 20u);
  EXPECT_EQ(m.substr(0, 14), raw_header(0x0102030405060708ull, 3, 20));
  EXPECT_EQ(m.substr(14), std::string(6, 'p'));
  auto h = sp::parse_header(bytes_of(m));
  ASSERT_TRUE(h);
  EXPECT_EQ(h->sequence, 0x0102030405060708ull);
  EXPECT_EQ(h->flags, 3);
  EXPECT_EQ(h->length, 20u);
}

TEST(Sockperf, sockperf_only_client_pong_requests_that_are_not_warmup_want_a_reply) {
  EXPECT_TRUE((sp::Header{1, sp::flag_client | sp::flag_pong_request, 14}.wants_reply()));
  EXPECT_FALSE((sp::Header{1, sp::flag_client, 14}.wants_reply()));
  EXPECT_FALSE((sp::Header{1, sp::flag_pong_request, 14}.wants_reply())) << "a server's message";
  EXPECT_FALSE(
      (sp::Header{1, sp::flag_client | sp::flag_pong_request | sp::flag_warmup, 14}.wants_reply()));
}

TEST(Sockperf, sockperf_reply_clears_only_the_client_flag) {
  const std::string req = message(42, sp::flag_client | sp::flag_pong_request, 64, 'x');
  auto m = sp::first_message(bytes_of(req));
  ASSERT_TRUE(m);
  ASSERT_TRUE(*m);
  Buffer out;
  sp::append_reply(**m, out);
  std::string expected = req;
  expected.replace(0, 14, raw_header(42, sp::flag_pong_request, 64));
  EXPECT_EQ(std::string(out.view()), expected);
}

TEST(Sockperf, sockperf_length_below_header_is_corrupt) {
  const std::string bad = raw_header(1, 3, 13);
  auto m = sp::first_message(bytes_of(bad));
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error(), Errc::corrupt_frame);
}

TEST(Sockperf, sockperf_hostile_lengths_are_refused_from_the_header_alone) {
  for (std::uint32_t hostile : {65508u, 0x7FFFFFFFu, 0xFFFFFFFFu}) {
    sp::MessageDecoder decoder;
    Buffer b(32);
    b.append(raw_header(1, 3, hostile));
    auto r = decoder.decode(b);
    ASSERT_FALSE(r) << hostile;
    EXPECT_EQ(r.error(), Errc::frame_too_large);
    EXPECT_EQ(b.capacity(), 32u);
  }
}

TEST(Sockperf, sockperf_stream_chunks_of_1_to_7_bytes_yield_the_same_messages) {
  std::string stream;
  std::vector<std::string> expected;
  for (std::uint32_t i = 0; i < 20; ++i) {
    expected.push_back(message(i, sp::flag_client | (i % 2 ? sp::flag_pong_request : 0), 14 + i * 7,
                               static_cast<char>('a' + i)));
    stream += expected.back();
  }
  for (std::size_t chunk = 1; chunk <= 7; ++chunk) {
    sp::MessageDecoder decoder;
    auto got = tether::testing::feed_chunked(decoder, stream, {chunk}, [](const sp::Message& m) {
      return tether::testing::frame_text(m.bytes);
    });
    EXPECT_FALSE(got.error) << "chunk " << chunk;
    EXPECT_EQ(got.frames, expected) << "chunk " << chunk;
  }
}

TEST(Sockperf, sockperf_truncated_message_at_eof_is_end_of_stream) {
  sp::MessageDecoder decoder;
  const std::string stream = message(1, 3, 30) + message(2, 3, 30).substr(0, 20);
  auto got = tether::testing::feed_chunked(decoder, stream, {3}, [](const sp::Message& m) {
    return std::to_string(m.header.sequence);
  });
  EXPECT_EQ(got.frames, (std::vector<std::string>{"1"}));
  EXPECT_EQ(got.error, Errc::end_of_stream);
}

TEST(Sockperf, sockperf_datagram_with_two_messages_splits_in_order) {
  const std::string dgram = message(7, 3, 20) + message(8, 1, 16);
  auto bytes = bytes_of(dgram);
  auto first = sp::first_message(bytes);
  ASSERT_TRUE(first && *first);
  EXPECT_EQ((*first)->header.sequence, 7u);
  auto second = sp::first_message(bytes.subspan((*first)->bytes.size()));
  ASSERT_TRUE(second && *second);
  EXPECT_EQ((*second)->header.sequence, 8u);
  EXPECT_FALSE((*second)->header.wants_reply());
}

TEST(Sockperf, sockperf_custom_max_size_is_honoured) {
  const std::string m = message(1, 3, 100);
  EXPECT_TRUE(sp::first_message(bytes_of(m), 100));
  auto r = sp::first_message(bytes_of(m), 99);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), Errc::frame_too_large);
}
