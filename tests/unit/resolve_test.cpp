// HostPort::parse, parse_port and resolve(): splitting text, service names from the services
// database, family filters, numeric hosts. Only names answered from /etc/hosts and the empty host
// are used (no DNS).
#include "testing.hpp"

#include <algorithm>

using tether::Endpoint;
using tether::Errc;
using tether::HostPort;
using tether::IpFamily;
using tether::ResolveOptions;

TEST(HostPort, parse_name_and_service) {
  auto hp = HostPort::parse("example.org:http");
  ASSERT_TRUE(hp) << hp.error().message();
  EXPECT_EQ(hp->host, "example.org");
  EXPECT_EQ(hp->service, "http");
}

TEST(HostPort, parse_ipv6_strips_brackets) {
  auto hp = HostPort::parse("[::1]:80");
  ASSERT_TRUE(hp) << hp.error().message();
  EXPECT_EQ(hp->host, "::1");
  EXPECT_EQ(hp->service, "80");
  auto scoped = HostPort::parse("[fe80::1%lo]:ssh");
  ASSERT_TRUE(scoped) << scoped.error().message();
  EXPECT_EQ(scoped->host, "fe80::1%lo");
  EXPECT_EQ(scoped->service, "ssh");
}

TEST(HostPort, parse_ipv4_and_empty_host) {
  auto hp = HostPort::parse("10.0.0.1:22");
  ASSERT_TRUE(hp) << hp.error().message();
  EXPECT_EQ(hp->host, "10.0.0.1");
  EXPECT_EQ(hp->service, "22");
  auto empty_host = HostPort::parse(":8080");
  ASSERT_TRUE(empty_host) << empty_host.error().message();
  EXPECT_EQ(empty_host->host, "");
  EXPECT_EQ(empty_host->service, "8080");
}

TEST(HostPort, parse_bad_text_reports_the_bad_part) {
  auto empty = HostPort::parse("");
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error(), Errc::empty_input);
  auto no_port = HostPort::parse("example.org");
  ASSERT_FALSE(no_port);
  EXPECT_EQ(no_port.error(), Errc::missing_port);
  auto no_port6 = HostPort::parse("[::1]");
  ASSERT_FALSE(no_port6);
  EXPECT_EQ(no_port6.error(), Errc::missing_port);
  auto open_bracket = HostPort::parse("[::1:80");
  ASSERT_FALSE(open_bracket);
  EXPECT_EQ(open_bracket.error(), Errc::bad_address);
}

TEST(ParsePort, numbers_and_service_names) {
  EXPECT_EQ(tether::parse_port("0").value_or(1), 0);
  EXPECT_EQ(tether::parse_port("80").value_or(0), 80);
  EXPECT_EQ(tether::parse_port("65535").value_or(0), 65535);
  EXPECT_EQ(tether::parse_port("http").value_or(0), 80);
  EXPECT_EQ(tether::parse_port("https").value_or(0), 443);
  EXPECT_EQ(tether::parse_port("ssh").value_or(0), 22);
  EXPECT_EQ(tether::parse_port("domain").value_or(0), 53);
}

TEST(ParsePort, out_of_range_reports_bad_port) {
  for (const char* text : {"65536", "-1", "100000", "99999999999999999999999"}) {
    auto p = tether::parse_port(text);
    ASSERT_FALSE(p) << text << " gave " << *p;
    EXPECT_EQ(p.error(), Errc::bad_port) << text << ": " << p.error().message();
  }
}

TEST(ParsePort, unknown_name_reports_unknown_service) {
  auto p = tether::parse_port("abc");
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error(), Errc::unknown_service);
}

TEST(ParsePort, empty_reports_an_error) {
  auto p = tether::parse_port("");
  ASSERT_FALSE(p);
  EXPECT_EQ(&p.error().category(), &tether::error_category());
}

TEST(Resolve, localhost_http_gives_loopback_port_80) {
  auto r = tether::resolve("localhost", "http");
  ASSERT_TRUE(r) << r.error().message();
  ASSERT_FALSE(r->empty());
  for (const auto& e : *r) {
    EXPECT_TRUE(e.is_loopback()) << e.to_string();
    EXPECT_EQ(e.port(), 80) << e.to_string();
  }
}

TEST(Resolve, results_have_no_duplicates) {
  auto r = tether::resolve("localhost", "ssh");
  ASSERT_TRUE(r) << r.error().message();
  auto sorted = *r;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(std::adjacent_find(sorted.begin(), sorted.end()), sorted.end());
}

TEST(Resolve, family_ipv4_gives_only_ipv4) {
  ResolveOptions o;
  o.family = IpFamily::ipv4;
  auto r = tether::resolve("localhost", "22", o);
  ASSERT_TRUE(r) << r.error().message();
  ASSERT_FALSE(r->empty());
  for (const auto& e : *r) {
    EXPECT_EQ(e.kind(), tether::EndpointKind::ipv4) << e.to_string();
    EXPECT_EQ(e.port(), 22);
  }
}

TEST(Resolve, empty_host_gives_both_loopbacks_and_family_filters_them) {
  auto both = tether::resolve("", "8080");
  ASSERT_TRUE(both) << both.error().message();
  EXPECT_NE(std::find(both->begin(), both->end(), Endpoint::ipv4_loopback(8080)), both->end());
  EXPECT_NE(std::find(both->begin(), both->end(), Endpoint::ipv6_loopback(8080)), both->end());

  ResolveOptions v6;
  v6.family = IpFamily::ipv6;
  auto only6 = tether::resolve("", "8080", v6);
  ASSERT_TRUE(only6) << only6.error().message();
  ASSERT_EQ(only6->size(), 1u);
  EXPECT_EQ(only6->front(), Endpoint::ipv6_loopback(8080));

  ResolveOptions v4;
  v4.family = IpFamily::ipv4;
  auto only4 = tether::resolve("", "8080", v4);
  ASSERT_TRUE(only4) << only4.error().message();
  ASSERT_EQ(only4->size(), 1u);
  EXPECT_EQ(only4->front(), Endpoint::ipv4_loopback(8080));
}

TEST(Resolve, passive_empty_host_gives_wildcard) {
  ResolveOptions o;
  o.passive = true;
  o.family = IpFamily::ipv4;
  auto r = tether::resolve("", "9000", o);
  ASSERT_TRUE(r) << r.error().message();
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ(r->front(), Endpoint::ipv4_any(9000));
}

TEST(Resolve, numeric_hosts_answer_without_lookup) {
  auto v4 = tether::resolve("192.0.2.7", "https");
  ASSERT_TRUE(v4) << v4.error().message();
  ASSERT_EQ(v4->size(), 1u);
  EXPECT_EQ(v4->front().to_string(), "192.0.2.7:443");

  ResolveOptions o6;
  o6.family = IpFamily::ipv6;
  auto v6 = tether::resolve("2001:db8::7", "80", o6);
  ASSERT_TRUE(v6) << v6.error().message();
  ASSERT_EQ(v6->size(), 1u);
  EXPECT_EQ(v6->front().to_string(), "[2001:db8::7]:80");
}

TEST(Resolve, numeric_host_of_the_wrong_family_reports_no_address) {
  ResolveOptions o6;
  o6.family = IpFamily::ipv6;
  auto r = tether::resolve("127.0.0.1", "80", o6);
  ASSERT_FALSE(r) << "gave " << r->front().to_string();
  EXPECT_EQ(r.error(), Errc::no_address) << r.error().message();
}

TEST(Resolve, bad_service_reports_an_error) {
  auto unknown = tether::resolve("localhost", "no-such-service-xyz");
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error(), Errc::unknown_service) << unknown.error().message();
  auto too_big = tether::resolve("127.0.0.1", "65536");
  ASSERT_FALSE(too_big);
  EXPECT_EQ(too_big.error(), Errc::bad_port);
}

TEST(Resolve, host_port_text_form) {
  auto named = tether::resolve("localhost:ssh");
  ASSERT_TRUE(named) << named.error().message();
  ASSERT_FALSE(named->empty());
  for (const auto& e : *named) {
    EXPECT_TRUE(e.is_loopback());
    EXPECT_EQ(e.port(), 22);
  }
  auto numeric = tether::resolve("[::1]:443");
  ASSERT_TRUE(numeric) << numeric.error().message();
  ASSERT_EQ(numeric->size(), 1u);
  EXPECT_EQ(numeric->front(), Endpoint::ipv6_loopback(443));
  auto unix_path = tether::resolve("unix:/tmp/tether-resolve.sock");
  ASSERT_TRUE(unix_path) << unix_path.error().message();
  ASSERT_EQ(unix_path->size(), 1u);
  EXPECT_EQ(unix_path->front().to_string(), "unix:/tmp/tether-resolve.sock");
  auto missing = tether::resolve("localhost");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error(), Errc::missing_port);
}
