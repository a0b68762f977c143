// Cidr and AccessList: parsing, matching, deny wins, IPv4-mapped peers.
#include <tether/cidr.hpp>

#include <gtest/gtest.h>

using tether::AccessList;
using tether::Cidr;
using tether::Endpoint;

namespace {
Endpoint ep(const char* text) { return *Endpoint::parse(text); }
}  // namespace

TEST(Cidr, parses_blocks_and_single_addresses) {
  EXPECT_EQ(Cidr::parse("10.1.2.3/8")->to_string(), "10.0.0.0/8");
  EXPECT_EQ(Cidr::parse("192.168.1.7")->to_string(), "192.168.1.7/32");
  EXPECT_EQ(Cidr::parse("2001:db8::1/32")->to_string(), "2001:db8::/32");
  EXPECT_EQ(Cidr::parse("::1")->to_string(), "::1/128");
  EXPECT_EQ(Cidr::parse("0.0.0.0/0")->to_string(), "0.0.0.0/0");
}

TEST(Cidr, rejects_bad_text_with_the_part_that_is_wrong) {
  EXPECT_EQ(Cidr::parse("").error(), tether::Errc::empty_input);
  EXPECT_EQ(Cidr::parse("10.0.0.300/8").error(), tether::Errc::bad_address);
  EXPECT_EQ(Cidr::parse("example.org/8").error(), tether::Errc::bad_address);
  EXPECT_EQ(Cidr::parse("10.0.0.0/33").error(), tether::Errc::bad_port);
  EXPECT_EQ(Cidr::parse("::/129").error(), tether::Errc::bad_port);
  EXPECT_EQ(Cidr::parse("10.0.0.0/").error(), tether::Errc::bad_port);
  EXPECT_EQ(Cidr::parse("10.0.0.0/8x").error(), tether::Errc::bad_port);
}

TEST(Cidr, matches_by_prefix_including_odd_lengths) {
  auto c = *Cidr::parse("172.16.0.0/12");
  EXPECT_TRUE(c.contains(ep("172.16.0.1:1")));
  EXPECT_TRUE(c.contains(ep("172.31.255.255:1")));
  EXPECT_FALSE(c.contains(ep("172.32.0.0:1")));
  EXPECT_FALSE(c.contains(ep("[::1]:1")));
  auto v6 = *Cidr::parse("fe80::/10");
  EXPECT_TRUE(v6.contains(ep("[fe80::1]:1")));
  EXPECT_TRUE(v6.contains(ep("[febf::1]:1")));
  EXPECT_FALSE(v6.contains(ep("[fec0::1]:1")));
}

TEST(Cidr, ipv4_mapped_peers_match_ipv4_rules_and_mapped_rules_are_ipv4) {
  auto v4 = *Cidr::parse("127.0.0.0/8");
  EXPECT_TRUE(v4.contains(ep("[::ffff:127.0.0.1]:5")));
  auto mapped = *Cidr::parse("::ffff:10.0.0.0/104");
  EXPECT_TRUE(mapped.is_ipv4());
  EXPECT_EQ(mapped.to_string(), "10.0.0.0/8");
  EXPECT_TRUE(mapped.contains(ep("10.9.9.9:5")));
}

TEST(AccessList, deny_wins_over_allow) {
  AccessList acl;
  ASSERT_TRUE(acl.allow("127.0.0.0/8"));
  ASSERT_TRUE(acl.deny("127.0.0.2"));
  EXPECT_TRUE(acl.permits(ep("127.0.0.1:9")));
  EXPECT_FALSE(acl.permits(ep("127.0.0.2:9")));
  EXPECT_FALSE(acl.permits(ep("[::ffff:127.0.0.2]:9")));
  EXPECT_FALSE(acl.permits(ep("10.0.0.1:9")));  // allow rules exist and none matches
}

TEST(AccessList, no_rules_allows_everyone_and_deny_only_allows_the_rest) {
  AccessList open;
  EXPECT_TRUE(open.permits(ep("8.8.8.8:53")));
  AccessList deny_only;
  ASSERT_TRUE(deny_only.deny("::1"));
  EXPECT_FALSE(deny_only.permits(ep("[::1]:1")));
  EXPECT_TRUE(deny_only.permits(ep("127.0.0.1:1")));
  EXPECT_TRUE(deny_only.permits(*Endpoint::unix_path("/tmp/x")));
}

// Issue 8 item 13: an IPv6 block shorter than /96 holds IPv4 peers as an IPv6 socket sees them
// (::ffff:a.b.c.d): ::/0 is everyone, and a block that does not cover ::ffff:0:0/96 holds none.
TEST(Cidr, short_ipv6_blocks_hold_ipv4_peers_as_mapped_addresses) {
  auto all = *Cidr::parse("::/0");
  EXPECT_TRUE(all.contains(ep("[::ffff:127.0.0.1]:9")));
  EXPECT_TRUE(all.contains(ep("10.1.2.3:9")));
  EXPECT_TRUE(all.contains(ep("[2001:db8::1]:9")));
  EXPECT_TRUE(Cidr::parse("::/80")->contains(ep("[::ffff:192.0.2.1]:9")));
  EXPECT_TRUE(Cidr::parse("::ffff:0:0/95")->contains(ep("192.0.2.1:9")));
  EXPECT_FALSE(Cidr::parse("2001:db8::/32")->contains(ep("[::ffff:192.0.2.1]:9")));
  EXPECT_FALSE(Cidr::parse("::/96")->contains(ep("192.0.2.1:9")));  // ::a.b.c.d (compatible), not mapped
  AccessList deny_all;
  ASSERT_TRUE(deny_all.deny("::/0"));
  EXPECT_FALSE(deny_all.permits(ep("[::ffff:127.0.0.1]:9")));
  EXPECT_FALSE(deny_all.permits(ep("127.0.0.1:9")));
}
