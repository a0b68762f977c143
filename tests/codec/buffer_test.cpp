#include <tether/buffer.hpp>

#include <gtest/gtest.h>

#include <cstring>
#include <string>

using tether::Buffer;

namespace {

void put(Buffer& b, std::string_view s) {
  auto space = b.prepare(s.size());
  ASSERT_GE(space.size(), s.size());
  std::memcpy(space.data(), s.data(), s.size());
  b.commit(s.size());
}

}  // namespace

TEST(Buffer, buffer_commit_and_consume_move_the_indices_as_drawn) {
  Buffer b(64);
  EXPECT_EQ(b.capacity(), 64u);
  put(b, "hello world");
  EXPECT_EQ(b.read_index(), 0u);
  EXPECT_EQ(b.write_index(), 11u);
  b.consume(6);
  EXPECT_EQ(b.read_index(), 6u);
  EXPECT_EQ(b.view(), "world");
  b.consume(5);
  // Drained: both indices return to the front, nothing reallocated.
  EXPECT_EQ(b.read_index(), 0u);
  EXPECT_EQ(b.write_index(), 0u);
  EXPECT_EQ(b.capacity(), 64u);
}

TEST(Buffer, buffer_prepare_reuses_consumed_space_before_growing) {
  Buffer b(16);
  put(b, "0123456789ab");  // 12 of 16 used
  b.consume(10);           // content "ab" at 10..12
  const auto* before = b.readable().data();
  auto space = b.prepare(12);  // 4 writable at the end, 14 after compaction
  EXPECT_GE(space.size(), 12u);
  EXPECT_EQ(b.capacity(), 16u) << "compaction, not growth";
  EXPECT_EQ(b.read_index(), 0u);
  EXPECT_EQ(b.view(), "ab");
  EXPECT_NE(b.readable().data(), before);
}

TEST(Buffer, buffer_grows_to_at_least_double_and_keeps_content) {
  Buffer b(1024);
  std::string big(1000, 'x');
  put(b, big);
  b.prepare(2000);
  EXPECT_GE(b.capacity(), 2048u);
  EXPECT_EQ(b.view(), big);
}

TEST(Buffer, buffer_append_string_and_bytes) {
  Buffer b;
  EXPECT_EQ(b.capacity(), 0u);
  EXPECT_TRUE(b.empty());
  b.append(std::string_view("abc"));
  const std::byte raw[] = {std::byte{'d'}, std::byte{'e'}};
  b.append(std::span<const std::byte>(raw));
  EXPECT_EQ(b.view(), "abcde");
  EXPECT_EQ(b.size(), 5u);
  b.clear();
  EXPECT_TRUE(b.empty());
  EXPECT_GT(b.capacity(), 0u);
}

TEST(Buffer, buffer_move_leaves_source_empty) {
  Buffer a;
  a.append(std::string_view("payload"));
  Buffer b(std::move(a));
  EXPECT_EQ(b.view(), "payload");
  EXPECT_EQ(a.capacity(), 0u);  // NOLINT(bugprone-use-after-move): checking the moved-from state
  EXPECT_TRUE(a.empty());
  a = std::move(b);
  EXPECT_EQ(a.view(), "payload");
}

TEST(Buffer, buffer_reserve_keeps_content) {
  Buffer b;
  b.append(std::string_view("keep"));
  b.reserve(10'000);
  EXPECT_GE(b.capacity(), 10'000u);
  EXPECT_EQ(b.view(), "keep");
}

TEST(Buffer, buffer_views_survive_consume) {
  Buffer b;
  b.append(std::string_view("first second"));
  std::string_view first = b.view().substr(0, 5);
  b.consume(b.size());
  EXPECT_EQ(first, "first");
}
