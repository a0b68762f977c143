// Endpoint: parsing (good and bad text), formatting round-trips, comparison, hashing and the
// address predicates. No I/O except if_nametoindex("lo") for scope ids.
#include "testing.hpp"

#include <arpa/inet.h>
#include <net/if.h>

#include <cstring>
#include <set>
#include <string>
#include <unordered_set>

using tether::Endpoint;
using tether::EndpointKind;
using tether::Errc;

namespace {

Endpoint must_parse(std::string_view text) {
  auto ep = Endpoint::parse(text);
  EXPECT_TRUE(ep.has_value()) << "'" << text << "': " << ep.error().message();
  return ep.value_or(Endpoint{});
}

std::error_code parse_error(std::string_view text) {
  auto ep = Endpoint::parse(text);
  EXPECT_FALSE(ep.has_value()) << "'" << text << "' parsed as " << ep->to_string();
  return ep.has_value() ? std::error_code{} : ep.error();
}

}  // namespace

TEST(Endpoint, default_endpoint_is_none_and_formats_empty) {
  Endpoint e;
  EXPECT_EQ(e.kind(), EndpointKind::none);
  EXPECT_EQ(e.family(), AF_UNSPEC);
  EXPECT_FALSE(e.is_ip());
  EXPECT_FALSE(e.is_unix());
  EXPECT_EQ(e.to_string(), "");
  EXPECT_EQ(e.port(), 0);
}

TEST(Endpoint, parse_ipv4_with_port) {
  auto e = must_parse("127.0.0.1:80");
  EXPECT_EQ(e.kind(), EndpointKind::ipv4);
  EXPECT_EQ(e.family(), AF_INET);
  EXPECT_EQ(e.port(), 80);
  EXPECT_EQ(e.address_string(), "127.0.0.1");
  EXPECT_EQ(e.to_string(), "127.0.0.1:80");
  ASSERT_EQ(e.size(), sizeof(sockaddr_in));
  const auto* sin = reinterpret_cast<const sockaddr_in*>(e.data());
  EXPECT_EQ(sin->sin_family, AF_INET);
  EXPECT_EQ(ntohs(sin->sin_port), 80);
  EXPECT_EQ(ntohl(sin->sin_addr.s_addr), 0x7f000001u);
}

TEST(Endpoint, parse_ipv4_port_bounds) {
  EXPECT_EQ(must_parse("10.1.2.3:0").port(), 0);
  EXPECT_EQ(must_parse("10.1.2.3:65535").port(), 65535);
}

TEST(Endpoint, parse_ipv6_in_brackets) {
  auto e = must_parse("[::1]:443");
  EXPECT_EQ(e.kind(), EndpointKind::ipv6);
  EXPECT_EQ(e.family(), AF_INET6);
  EXPECT_EQ(e.port(), 443);
  EXPECT_EQ(e.scope_id(), 0u);
  EXPECT_EQ(e.address_string(), "::1");
  EXPECT_EQ(e.to_string(), "[::1]:443");
  ASSERT_EQ(e.size(), sizeof(sockaddr_in6));
  const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(e.data());
  EXPECT_EQ(sin6->sin6_family, AF_INET6);
  EXPECT_EQ(ntohs(sin6->sin6_port), 443);
  EXPECT_TRUE(IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr));
}

TEST(Endpoint, parse_ipv6_formats_in_canonical_compressed_form) {
  EXPECT_EQ(must_parse("[2001:0db8:0000:0000:0000:0000:0000:0001]:80").to_string(),
            "[2001:db8::1]:80");
}

TEST(Endpoint, parse_ipv6_scope_id_by_interface_name) {
  unsigned lo = if_nametoindex("lo");
  ASSERT_NE(lo, 0u) << "the loopback interface 'lo' is missing";
  auto e = must_parse("[fe80::1%lo]:22");
  EXPECT_EQ(e.kind(), EndpointKind::ipv6);
  EXPECT_EQ(e.scope_id(), lo);
  EXPECT_EQ(e.port(), 22);
  EXPECT_EQ(e.address_string(), "fe80::1%lo");
  EXPECT_EQ(e.to_string(), "[fe80::1%lo]:22");
  EXPECT_EQ(reinterpret_cast<const sockaddr_in6*>(e.data())->sin6_scope_id, lo);
}

TEST(Endpoint, parse_ipv6_unknown_scope_reports_bad_scope) {
  EXPECT_EQ(parse_error("[fe80::1%no-such-if0]:22"), Errc::bad_scope);
}

TEST(Endpoint, parse_unix_path) {
  auto e = must_parse("unix:/run/app.sock");
  EXPECT_EQ(e.kind(), EndpointKind::unix_path);
  EXPECT_EQ(e.family(), AF_UNIX);
  EXPECT_TRUE(e.is_unix());
  EXPECT_FALSE(e.is_ip());
  EXPECT_EQ(e.port(), 0);
  EXPECT_EQ(e.unix_name(), "/run/app.sock");
  EXPECT_EQ(e.address_string(), "/run/app.sock");
  EXPECT_EQ(e.to_string(), "unix:/run/app.sock");
  const auto* sun = reinterpret_cast<const sockaddr_un*>(e.data());
  EXPECT_EQ(sun->sun_family, AF_UNIX);
  EXPECT_STREQ(sun->sun_path, "/run/app.sock");
}

TEST(Endpoint, parse_unix_abstract_name) {
  auto e = must_parse("unix:@tether-name");
  EXPECT_EQ(e.kind(), EndpointKind::unix_abstract);
  EXPECT_EQ(e.family(), AF_UNIX);
  EXPECT_EQ(e.unix_name(), "tether-name");
  EXPECT_EQ(e.address_string(), "@tether-name");
  EXPECT_EQ(e.to_string(), "unix:@tether-name");
  // The kernel address: a leading NUL, the name, and no trailing padding in the length.
  const auto* sun = reinterpret_cast<const sockaddr_un*>(e.data());
  EXPECT_EQ(sun->sun_path[0], '\0');
  EXPECT_EQ(std::string(sun->sun_path + 1, 11), "tether-name");
  EXPECT_EQ(e.size(), offsetof(sockaddr_un, sun_path) + 1 + 11);
}

TEST(Endpoint, unix_factories_match_parsed_text) {
  auto p = Endpoint::unix_path("/tmp/x.sock");
  ASSERT_TRUE(p) << p.error().message();
  EXPECT_EQ(*p, must_parse("unix:/tmp/x.sock"));
  auto a = Endpoint::unix_abstract("name");
  ASSERT_TRUE(a) << a.error().message();
  EXPECT_EQ(*a, must_parse("unix:@name"));
  EXPECT_NE(*p, *a);
}

TEST(Endpoint, unix_path_of_107_bytes_fits_and_108_is_too_long) {
  std::string ok = "/" + std::string(106, 'a');  // 107 bytes + NUL fill sun_path[108]
  auto e = Endpoint::unix_path(ok);
  ASSERT_TRUE(e) << e.error().message();
  EXPECT_EQ(e->unix_name(), ok);
  auto too_long = Endpoint::unix_path(ok + "a");
  ASSERT_FALSE(too_long);
  EXPECT_EQ(too_long.error(), Errc::path_too_long);
  EXPECT_EQ(parse_error("unix:" + ok + "a"), Errc::path_too_long);
  EXPECT_EQ(parse_error("unix:/" + std::string(300, 'x')), Errc::path_too_long);
}

TEST(Endpoint, unix_abstract_name_too_long_reports_path_too_long) {
  auto e = Endpoint::unix_abstract(std::string(200, 'n'));
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error(), Errc::path_too_long);
  EXPECT_EQ(parse_error("unix:@" + std::string(200, 'n')), Errc::path_too_long);
}

TEST(Endpoint, empty_unix_name_reports_empty_input) {
  EXPECT_EQ(parse_error("unix:"), Errc::empty_input);
  EXPECT_EQ(parse_error("unix:@"), Errc::empty_input);
  EXPECT_EQ(Endpoint::unix_path("").error(), Errc::empty_input);
  EXPECT_EQ(Endpoint::unix_abstract("").error(), Errc::empty_input);
}

TEST(Endpoint, service_names_resolve_through_services_database) {
  EXPECT_EQ(must_parse("127.0.0.1:http").port(), 80);
  EXPECT_EQ(must_parse("127.0.0.1:ssh").port(), 22);
  EXPECT_EQ(must_parse("[::1]:https").port(), 443);
  EXPECT_EQ(must_parse("127.0.0.1:ftp").port(), 21);
  EXPECT_EQ(must_parse("127.0.0.1:http").to_string(), "127.0.0.1:80");
}

TEST(Endpoint, port_above_65535_reports_bad_port) {
  EXPECT_EQ(parse_error("127.0.0.1:65536"), Errc::bad_port);
  EXPECT_EQ(parse_error("[::1]:70000"), Errc::bad_port);
  EXPECT_EQ(parse_error("127.0.0.1:99999999999999999999999"), Errc::bad_port);
}

TEST(Endpoint, negative_port_reports_bad_port) {
  EXPECT_EQ(parse_error("127.0.0.1:-1"), Errc::bad_port);
}

TEST(Endpoint, unknown_service_name_reports_unknown_service) {
  EXPECT_EQ(parse_error("127.0.0.1:abc"), Errc::unknown_service);
  EXPECT_EQ(parse_error("[::1]:no-such-service-xyz"), Errc::unknown_service);
}

TEST(Endpoint, missing_port_reports_missing_port) {
  EXPECT_EQ(parse_error("127.0.0.1"), Errc::missing_port);
  EXPECT_EQ(parse_error("[::1]"), Errc::missing_port);
  EXPECT_EQ(parse_error("127.0.0.1:"), Errc::missing_port);
}

TEST(Endpoint, bad_ipv6_literal_reports_bad_address) {
  EXPECT_EQ(parse_error("[::g]:80"), Errc::bad_address);
  EXPECT_EQ(parse_error("[1:2:3:4:5:6:7:8:9]:80"), Errc::bad_address);
  EXPECT_EQ(parse_error("[]:80"), Errc::bad_address);
  EXPECT_EQ(parse_error("[::1:80"), Errc::bad_address);
}

TEST(Endpoint, bad_ipv4_and_empty_host_report_bad_address) {
  EXPECT_EQ(parse_error("1.2.3.256:80"), Errc::bad_address);
  EXPECT_EQ(parse_error("999.1.1.1:80"), Errc::bad_address);
  EXPECT_EQ(parse_error("1.2.3:80"), Errc::bad_address);
  EXPECT_EQ(parse_error("bad host!:80"), Errc::bad_address);
  EXPECT_EQ(parse_error(":80"), Errc::bad_address);
}

TEST(Endpoint, empty_text_reports_empty_input) {
  EXPECT_EQ(parse_error(""), Errc::empty_input);
}

TEST(Endpoint, host_name_reports_needs_resolution) {
  EXPECT_EQ(parse_error("localhost:80"), Errc::needs_resolution);
  EXPECT_EQ(parse_error("localhost:http"), Errc::needs_resolution);
  EXPECT_EQ(parse_error("example.org:443"), Errc::needs_resolution);
}

TEST(Endpoint, garbage_text_is_an_error_never_a_crash) {
  const char* inputs[] = {":",       "::",        ":::",       "[",          "]",
                          "[]",      "[:]:1",     "unix:",     "unix:@",     "1.2.3.4:80:90",
                          "\x01\xff", "[::1]x:80", "[::1]:8a", "127.0.0.1:8 ", " 127.0.0.1:80",
                          "%",       "[%]:1",     "[::1%]:1"};
  for (const char* text : inputs) {
    auto e = Endpoint::parse(text);
    EXPECT_FALSE(e.has_value()) << "'" << text << "' parsed as " << e->to_string();
    if (!e) {
      EXPECT_EQ(&e.error().category(), &tether::error_category()) << text;
      EXPECT_FALSE(e.error().message().empty());
    }
  }
}

TEST(Endpoint, parse_host_and_service_separately) {
  auto v4 = Endpoint::parse("127.0.0.1", "http");
  ASSERT_TRUE(v4) << v4.error().message();
  EXPECT_EQ(v4->to_string(), "127.0.0.1:80");
  auto v6 = Endpoint::parse("::1", "443");
  ASSERT_TRUE(v6) << v6.error().message();
  EXPECT_EQ(v6->to_string(), "[::1]:443");
  auto bad_port = Endpoint::parse("::1", "65536");
  ASSERT_FALSE(bad_port);
  EXPECT_EQ(bad_port.error(), Errc::bad_port);
  auto name = Endpoint::parse("localhost", "80");
  ASSERT_FALSE(name);
  EXPECT_EQ(name.error(), Errc::needs_resolution);
}

TEST(Endpoint, formatting_round_trips_through_parse) {
  const char* texts[] = {"127.0.0.1:80",   "0.0.0.0:0",          "255.255.255.255:65535",
                         "[::1]:443",      "[::]:0",             "[2001:db8::42]:8080",
                         "[fe80::1%lo]:22", "[::ffff:10.0.0.1]:5", "unix:/tmp/tether.sock",
                         "unix:@abstract"};
  for (const char* text : texts) {
    auto e = must_parse(text);
    EXPECT_EQ(e.to_string(), text);
    EXPECT_EQ(must_parse(e.to_string()), e) << text;
  }
}

TEST(Endpoint, factories_build_the_expected_endpoints) {
  EXPECT_EQ(Endpoint::ipv4({10, 0, 0, 1}, 8080).to_string(), "10.0.0.1:8080");
  EXPECT_EQ(Endpoint::ipv4_loopback(7).to_string(), "127.0.0.1:7");
  EXPECT_EQ(Endpoint::ipv4_any(9).to_string(), "0.0.0.0:9");
  EXPECT_EQ(Endpoint::ipv6_loopback(7).to_string(), "[::1]:7");
  EXPECT_EQ(Endpoint::ipv6_any(9).to_string(), "[::]:9");
  std::array<std::uint8_t, 16> a{0x20, 0x01, 0x0d, 0xb8};
  a[15] = 1;
  EXPECT_EQ(Endpoint::ipv6(a, 80).to_string(), "[2001:db8::1]:80");
  EXPECT_EQ(Endpoint::ipv4_loopback(1).with_port(2).to_string(), "127.0.0.1:2");
  EXPECT_EQ(must_parse("[fe80::1%lo]:22").with_port(23).to_string(), "[fe80::1%lo]:23");
}

TEST(Endpoint, from_sockaddr_round_trips_and_ignores_padding) {
  sockaddr_in sin{};
  std::memset(&sin, 0xAB, sizeof sin);  // garbage in sin_zero must not matter
  sin.sin_family = AF_INET;
  sin.sin_port = htons(4242);
  sin.sin_addr.s_addr = htonl(0x7f000001);
  auto e = Endpoint::from_sockaddr(reinterpret_cast<const sockaddr*>(&sin), sizeof sin);
  ASSERT_TRUE(e) << e.error().message();
  EXPECT_EQ(e->to_string(), "127.0.0.1:4242");
  EXPECT_EQ(*e, Endpoint::ipv4_loopback(4242));
  EXPECT_EQ(e->hash(), Endpoint::ipv4_loopback(4242).hash());

  auto again = Endpoint::from_sockaddr(e->data(), e->size());
  ASSERT_TRUE(again);
  EXPECT_EQ(*again, *e);
}

TEST(Endpoint, from_sockaddr_of_unsupported_family_reports_address_family) {
  sockaddr sa{};
  sa.sa_family = AF_APPLETALK;
  auto e = Endpoint::from_sockaddr(&sa, sizeof sa);
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error(), Errc::address_family);
}

TEST(Endpoint, comparison_is_by_value) {
  EXPECT_EQ(must_parse("127.0.0.1:80"), Endpoint::ipv4_loopback(80));
  EXPECT_NE(must_parse("127.0.0.1:80"), must_parse("127.0.0.1:81"));
  EXPECT_NE(must_parse("127.0.0.1:80"), must_parse("127.0.0.2:80"));
  EXPECT_NE(must_parse("127.0.0.1:80"), must_parse("[::ffff:127.0.0.1]:80"));
  EXPECT_NE(must_parse("[fe80::1%lo]:22"), must_parse("[fe80::1]:22"));
  EXPECT_NE(must_parse("unix:/a"), must_parse("unix:@a"));
  EXPECT_NE(Endpoint{}, Endpoint::ipv4_any(0));
  EXPECT_EQ(Endpoint{}, Endpoint{});
}

TEST(Endpoint, ordering_is_a_strict_total_order) {
  std::vector<Endpoint> all = {must_parse("127.0.0.1:80"), must_parse("127.0.0.1:81"),
                               must_parse("10.0.0.1:80"),  must_parse("[::1]:80"),
                               must_parse("unix:/a"),      must_parse("unix:@a"),
                               Endpoint{}};
  for (const auto& a : all) {
    for (const auto& b : all) {
      auto ab = a <=> b;
      auto ba = b <=> a;
      if (a == b) {
        EXPECT_TRUE(ab == 0) << a.to_string() << " vs " << b.to_string();
      } else {
        EXPECT_TRUE(ab != 0) << a.to_string() << " vs " << b.to_string();
        EXPECT_EQ(ab < 0, ba > 0) << a.to_string() << " vs " << b.to_string();
      }
    }
  }
  std::set<Endpoint> ordered(all.begin(), all.end());
  EXPECT_EQ(ordered.size(), all.size());
  // Ports order numerically within one address (not by network byte order).
  EXPECT_LT(must_parse("127.0.0.1:255"), must_parse("127.0.0.1:256"));
}

TEST(Endpoint, hashing_puts_equal_endpoints_together) {
  std::unordered_set<Endpoint> set;
  set.insert(must_parse("127.0.0.1:80"));
  set.insert(Endpoint::ipv4_loopback(80));
  set.insert(must_parse("127.0.0.1:http"));
  set.insert(must_parse("127.0.0.1:81"));
  set.insert(must_parse("[::1]:80"));
  set.insert(Endpoint::ipv6_loopback(80));
  set.insert(must_parse("unix:/a"));
  set.insert(must_parse("unix:@a"));
  set.insert(*Endpoint::unix_abstract("a"));
  EXPECT_EQ(set.size(), 5u);
  EXPECT_EQ(set.count(must_parse("[::1]:80")), 1u);
  EXPECT_EQ(std::hash<Endpoint>{}(must_parse("unix:/a")), must_parse("unix:/a").hash());
}

TEST(Endpoint, v4_mapped_unmaps_to_ipv4) {
  auto mapped = must_parse("[::ffff:127.0.0.1]:80");
  EXPECT_TRUE(mapped.is_v4_mapped());
  auto plain = mapped.unmapped();
  EXPECT_EQ(plain.kind(), EndpointKind::ipv4);
  EXPECT_EQ(plain, must_parse("127.0.0.1:80"));
  EXPECT_TRUE(plain.is_loopback());

  auto v6 = must_parse("[::1]:80");
  EXPECT_FALSE(v6.is_v4_mapped());
  EXPECT_EQ(v6.unmapped(), v6);
  auto v4 = must_parse("10.0.0.1:1");
  EXPECT_FALSE(v4.is_v4_mapped());
  EXPECT_EQ(v4.unmapped(), v4);
}

TEST(Endpoint, predicates_loopback_unspecified_multicast) {
  EXPECT_TRUE(must_parse("127.0.0.1:1").is_loopback());
  EXPECT_TRUE(must_parse("127.1.2.3:1").is_loopback());
  EXPECT_TRUE(must_parse("[::1]:1").is_loopback());
  EXPECT_FALSE(must_parse("10.0.0.1:1").is_loopback());
  EXPECT_FALSE(must_parse("128.0.0.1:1").is_loopback());
  EXPECT_FALSE(must_parse("[::2]:1").is_loopback());
  EXPECT_FALSE(must_parse("unix:/a").is_loopback());
  EXPECT_FALSE(Endpoint{}.is_loopback());

  EXPECT_TRUE(must_parse("0.0.0.0:1").is_unspecified());
  EXPECT_TRUE(must_parse("[::]:1").is_unspecified());
  EXPECT_FALSE(must_parse("127.0.0.1:1").is_unspecified());

  EXPECT_TRUE(must_parse("224.0.0.1:1").is_multicast());
  EXPECT_TRUE(must_parse("239.255.255.250:1900").is_multicast());
  EXPECT_TRUE(must_parse("[ff02::1]:1").is_multicast());
  EXPECT_FALSE(must_parse("223.255.255.255:1").is_multicast());
  EXPECT_FALSE(must_parse("[fe80::1]:1").is_multicast());
}
