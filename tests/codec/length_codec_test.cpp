#include <tether/codec_length.hpp>

#include <gtest/gtest.h>

#include "chunking.hpp"

#include <string>
#include <vector>

using tether::Buffer;
using tether::Errc;
using tether::LengthCodec;
using tether::LengthCodecOptions;
using tether::testing::feed_chunked;

namespace {

std::string frame(std::string_view payload) {
  const auto n = static_cast<std::uint32_t>(payload.size());
  std::string s;
  s.push_back(static_cast<char>(n >> 24));
  s.push_back(static_cast<char>(n >> 16));
  s.push_back(static_cast<char>(n >> 8));
  s.push_back(static_cast<char>(n));
  s.append(payload);
  return s;
}

std::string header(std::uint32_t n) {
  return {static_cast<char>(n >> 24), static_cast<char>(n >> 16), static_cast<char>(n >> 8),
          static_cast<char>(n)};
}

const std::vector<std::string> kPayloads = {"a", "hello", std::string(300, 'z'), std::string("bin\0ary\n", 8)};

std::string wire() {
  std::string s;
  for (const auto& p : kPayloads) s += frame(p);
  return s;
}

}  // namespace

TEST(LengthCodec, length_codec_chunks_of_1_to_7_bytes_yield_the_same_frames) {
  const std::string input = wire();
  for (std::size_t chunk = 1; chunk <= 7; ++chunk) {
    LengthCodec codec;
    auto got = feed_chunked(codec, input, {chunk});
    EXPECT_FALSE(got.error) << "chunk " << chunk << ": " << got.error.message();
    EXPECT_EQ(got.frames, kPayloads) << "chunk " << chunk;
  }
  LengthCodec codec;
  auto got = feed_chunked(codec, input, {7, 1, 6, 2, 5, 3, 4});
  EXPECT_EQ(got.frames, kPayloads);
}

TEST(LengthCodec, length_codec_header_is_big_endian) {
  LengthCodec codec;
  Buffer b;
  b.append(header(0x00000102));
  b.append(std::string(0x102, 'q'));
  auto r = codec.decode(b);
  ASSERT_TRUE(r);
  ASSERT_TRUE(*r);
  EXPECT_EQ((*r)->size(), 0x102u);
  EXPECT_TRUE(b.empty());
}

TEST(LengthCodec, length_codec_hostile_lengths_are_refused_before_any_allocation) {
  for (std::uint32_t hostile : {0x7FFFFFFFu, 0xFFFFFFFFu, 0x00800001u}) {
    LengthCodec codec;  // default maximum: 8 MiB
    Buffer b(16);
    b.append(header(hostile));
    auto r = codec.decode(b);
    ASSERT_FALSE(r) << std::hex << hostile;
    EXPECT_EQ(r.error(), Errc::frame_too_large);
    EXPECT_EQ(b.capacity(), 16u) << "nothing reserved for the declared length";
    EXPECT_EQ(codec.missing(b), 0u) << "no reservation hint for a refused header";
  }
}

TEST(LengthCodec, length_codec_zero_length_is_corrupt_unless_allowed) {
  LengthCodec strict;
  Buffer b;
  b.append(header(0));
  auto r = strict.decode(b);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), Errc::corrupt_frame);

  LengthCodec lenient(LengthCodecOptions{.max_frame_size = 16, .allow_empty = true});
  Buffer c;
  c.append(header(0));
  auto e = lenient.decode(c);
  ASSERT_TRUE(e);
  ASSERT_TRUE(*e);
  EXPECT_TRUE((*e)->empty());
}

TEST(LengthCodec, length_codec_max_frame_size_is_inclusive) {
  LengthCodec codec(LengthCodecOptions{.max_frame_size = 10});
  auto ok = feed_chunked(codec, frame("0123456789"), {3});
  EXPECT_FALSE(ok.error);
  EXPECT_EQ(ok.frames, (std::vector<std::string>{"0123456789"}));
  LengthCodec codec2(LengthCodecOptions{.max_frame_size = 10});
  auto bad = feed_chunked(codec2, frame("0123456789A"), {3});
  EXPECT_EQ(bad.error, Errc::frame_too_large);
}

TEST(LengthCodec, length_codec_leftover_header_at_eof_is_end_of_stream) {
  LengthCodec codec;
  auto got = feed_chunked(codec, frame("ok") + header(5).substr(0, 2), {1});
  EXPECT_EQ(got.frames, (std::vector<std::string>{"ok"}));
  EXPECT_EQ(got.error, Errc::end_of_stream);
}

TEST(LengthCodec, length_codec_truncated_payload_at_eof_is_end_of_stream) {
  LengthCodec codec;
  auto got = feed_chunked(codec, frame("ok") + frame("truncated").substr(0, 8), {4});
  EXPECT_EQ(got.frames, (std::vector<std::string>{"ok"}));
  EXPECT_EQ(got.error, Errc::end_of_stream);
}

TEST(LengthCodec, length_codec_clean_eof_yields_nothing_more) {
  LengthCodec codec;
  auto got = feed_chunked(codec, frame("x") + frame("y"), {2});
  EXPECT_FALSE(got.error);
  EXPECT_EQ(got.frames, (std::vector<std::string>{"x", "y"}));
}

TEST(LengthCodec, length_codec_missing_reports_the_rest_of_the_frame) {
  LengthCodec codec;
  Buffer b;
  EXPECT_EQ(codec.missing(b), 4u);
  b.append(header(100));
  EXPECT_EQ(codec.missing(b), 100u);
  b.append(std::string(40, 'x'));
  EXPECT_EQ(codec.missing(b), 60u);
}

TEST(LengthCodec, length_codec_encode_round_trips_and_refuses_oversize) {
  LengthCodec codec(LengthCodecOptions{.max_frame_size = 300});
  Buffer out;
  for (const auto& p : kPayloads) ASSERT_TRUE(codec.encode(p, out));
  EXPECT_EQ(std::string(out.view()), wire());
  const std::size_t before = out.size();
  auto r = codec.encode(std::string(301, 'x'), out);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), Errc::frame_too_large);
  r = codec.encode(std::string_view(), out);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), Errc::corrupt_frame);
  EXPECT_EQ(out.size(), before);
}
