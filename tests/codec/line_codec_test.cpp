#include <tether/codec_line.hpp>

#include <gtest/gtest.h>

#include "chunking.hpp"

#include <string>
#include <vector>

using tether::Buffer;
using tether::Errc;
using tether::LineCodec;
using tether::testing::feed_chunked;

namespace {
const std::vector<std::string> kExpected = {"alpha", "", "beta gamma", "crlf line", "last"};
const std::string kInput = "alpha\n\nbeta gamma\ncrlf line\r\nlast\n";
}  // namespace

TEST(LineCodec, line_codec_whole_input_yields_each_line) {
  LineCodec codec;
  auto got = feed_chunked(codec, kInput, {kInput.size()});
  EXPECT_FALSE(got.error) << got.error.message();
  EXPECT_EQ(got.frames, kExpected);
}

TEST(LineCodec, line_codec_chunks_of_1_to_7_bytes_yield_the_same_lines) {
  for (std::size_t chunk = 1; chunk <= 7; ++chunk) {
    LineCodec codec;
    auto got = feed_chunked(codec, kInput, {chunk});
    EXPECT_FALSE(got.error) << "chunk " << chunk;
    EXPECT_EQ(got.frames, kExpected) << "chunk " << chunk;
  }
  LineCodec codec;
  auto got = feed_chunked(codec, kInput, {1, 2, 3, 4, 5, 6, 7});
  EXPECT_EQ(got.frames, kExpected);
}

TEST(LineCodec, line_codec_need_more_until_newline_arrives) {
  LineCodec codec;
  Buffer b;
  b.append(std::string_view("partial"));
  auto r = codec.decode(b);
  ASSERT_TRUE(r);
  EXPECT_FALSE(*r);
  EXPECT_EQ(b.size(), 7u) << "need-more consumes nothing";
  b.append(std::string_view(" line\nnext"));
  r = codec.decode(b);
  ASSERT_TRUE(r);
  ASSERT_TRUE(*r);
  EXPECT_EQ(**r, "partial line");
  EXPECT_EQ(b.view(), "next");
}

TEST(LineCodec, line_codec_eof_yields_final_line_without_newline) {
  LineCodec codec;
  auto got = feed_chunked(codec, "one\ntwo", {3});
  EXPECT_FALSE(got.error);
  EXPECT_EQ(got.frames, (std::vector<std::string>{"one", "two"}));
}

TEST(LineCodec, line_codec_eof_on_empty_buffer_yields_nothing) {
  LineCodec codec;
  Buffer b;
  auto r = codec.decode_eof(b);
  ASSERT_TRUE(r);
  EXPECT_FALSE(*r);
}

TEST(LineCodec, line_codec_line_longer_than_max_is_refused_without_waiting_for_newline) {
  LineCodec codec(8);
  Buffer b;
  b.append(std::string_view("0123456789"));  // 10 bytes = max + 2, no newline
  auto r = codec.decode(b);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), Errc::frame_too_large);
}

TEST(LineCodec, line_codec_line_of_exactly_max_is_accepted_with_crlf) {
  LineCodec codec(8);
  auto got = feed_chunked(codec, "01234567\r\n01234567\n", {1});
  EXPECT_FALSE(got.error) << got.error.message();
  EXPECT_EQ(got.frames, (std::vector<std::string>{"01234567", "01234567"}));
}

TEST(LineCodec, line_codec_line_of_max_plus_one_is_refused) {
  LineCodec codec(8);
  auto got = feed_chunked(codec, "012345678\n", {2});
  EXPECT_EQ(got.error, Errc::frame_too_large);
  EXPECT_TRUE(got.frames.empty());
}

TEST(LineCodec, line_codec_long_line_fed_byte_by_byte_is_refused_early) {
  LineCodec codec(100);
  Buffer b;
  int calls = 0;
  for (int i = 0; i < 1000; ++i) {
    b.append(std::string_view("x"));
    ++calls;
    auto r = codec.decode(b);
    if (!r) {
      EXPECT_EQ(r.error(), Errc::frame_too_large);
      break;
    }
  }
  EXPECT_EQ(calls, 102) << "refused as soon as max + 2 bytes hold no newline";
}

TEST(LineCodec, line_codec_encode_appends_newline) {
  LineCodec codec;
  Buffer out;
  ASSERT_TRUE(codec.encode("hello", out));
  ASSERT_TRUE(codec.encode("", out));
  EXPECT_EQ(out.view(), "hello\n\n");
}

TEST(LineCodec, line_codec_encode_refuses_embedded_newline_and_long_lines) {
  LineCodec codec(4);
  Buffer out;
  auto r = codec.encode("a\nb", out);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), Errc::corrupt_frame);
  r = codec.encode("abcde", out);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), Errc::frame_too_large);
  EXPECT_TRUE(out.empty()) << "nothing appended on error";
}

TEST(LineCodec, line_codec_round_trip_through_encoder) {
  LineCodec codec;
  Buffer wire;
  for (const auto& line : kExpected) ASSERT_TRUE(codec.encode(line, wire));
  auto got = feed_chunked(codec, wire.view(), {5});
  EXPECT_EQ(got.frames, kExpected);
}
