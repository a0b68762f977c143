// tether::ProxyHandshake: the bytes each protocol sends, replies fed in pieces, refusals, and
// never reading past the proxy's reply.
#include <tether/proxy.hpp>

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

using namespace tether;
using State = ProxyHandshake::State;

namespace {

std::span<const std::byte> bytes(std::string_view s) { return std::as_bytes(std::span(s.data(), s.size())); }

/// Sends what the handshake asks, answering with `reply` a byte at a time; returns the bytes
/// sent, and how many reply bytes it consumed in `used`.
std::string run(ProxyHandshake& hs, std::string_view reply, std::size_t& used) {
  std::string sent;
  used = 0;
  for (int guard = 0; guard < 100000; ++guard) {
    if (hs.state() == State::send) {
      sent += hs.output();
      hs.sent();
    } else if (hs.state() == State::receive && used < reply.size()) {
      EXPECT_GE(hs.wanted(), 1u);
      hs.feed(bytes(reply.substr(used, 1)));
      ++used;
    } else {
      break;
    }
  }
  return sent;
}

TEST(ProxyHandshakeTest, Socks5NamedTargetStopsAtTheReply) {
  ProxyHandshake hs({.type = ProxyType::socks5}, "example.org", 443);
  std::size_t used = 0;
  const std::string reply("\x05\x00" "\x05\x00\x00\x03\x03" "abc" "\x01\xbb" "BANNER", 18);
  const std::string sent = run(hs, reply, used);
  EXPECT_EQ(hs.state(), State::done);
  EXPECT_EQ(used, 12u);  // the target's banner stays unread
  EXPECT_EQ(sent, std::string("\x05\x01\x00" "\x05\x01\x00\x03\x0b" "example.org" "\x01\xbb", 3 + 5 + 11 + 2));
}

TEST(ProxyHandshakeTest, Socks5UserPassword) {
  ProxyHandshake hs({.type = ProxyType::socks5, .user = "u", .password = "pw"}, "h", 1,
                    Endpoint::ipv4_loopback(1));
  std::size_t used = 0;
  const std::string sent = run(hs, std::string("\x05\x02\x01\x00\x05\x00\x00\x01\x7f\x00\x00\x01\x00\x01", 14), used);
  EXPECT_EQ(hs.state(), State::done);
  EXPECT_NE(sent.find(std::string("\x01\x01u\x02pw", 6)), std::string::npos);
  EXPECT_NE(sent.find(std::string("\x05\x01\x00\x01\x7f\x00\x00\x01\x00\x01", 10)), std::string::npos);
}

TEST(ProxyHandshakeTest, Socks5RefusalsBecomeErrors) {
  std::size_t used = 0;
  ProxyHandshake refused({.type = ProxyType::socks5}, "h", 1);
  run(refused, std::string("\x05\x00\x05\x05\x00\x01\x00\x00\x00\x00\x00\x00", 12), used);
  EXPECT_EQ(refused.state(), State::failed);
  EXPECT_EQ(refused.error(), std::errc::connection_refused);
  ProxyHandshake auth({.type = ProxyType::socks5, .user = "u", .password = "p"}, "h", 1);
  run(auth, std::string("\x05\x02\x01\x01", 4), used);
  EXPECT_EQ(auth.error(), std::errc::permission_denied);
  ProxyHandshake junk({.type = ProxyType::socks5}, "h", 1);
  run(junk, "HTTP/1.1 400 Bad\r\n\r\n", used);
  EXPECT_EQ(junk.error(), std::errc::protocol_error);
  EXPECT_EQ(used, 2u);
}

TEST(ProxyHandshakeTest, Socks4aAndSocks4) {
  std::size_t used = 0;
  ProxyHandshake named({.type = ProxyType::socks4}, "example.org", 80);
  const std::string sent = run(named, std::string("\x00\x5a\x00\x00\x00\x00\x00\x00", 8), used);
  EXPECT_EQ(named.state(), State::done);
  EXPECT_EQ(sent, std::string("\x04\x01\x00\x50\x00\x00\x00\x01\x00", 9) + "example.org" + std::string(1, '\0'));
  ProxyHandshake v6({.type = ProxyType::socks4}, "::1", 80, Endpoint::ipv6_loopback(80));
  EXPECT_EQ(v6.state(), State::failed);
  ProxyHandshake rejected({.type = ProxyType::socks4}, "h", 80);
  run(rejected, std::string("\x00\x5b\x00\x00\x00\x00\x00\x00", 8), used);
  EXPECT_EQ(rejected.error(), std::errc::connection_refused);
}

TEST(ProxyHandshakeTest, HttpConnect) {
  std::size_t used = 0;
  ProxyHandshake hs({.type = ProxyType::http, .user = "Aladdin", .password = "open sesame"}, "::1", 443);
  const std::string reply = "HTTP/1.1 200 OK\r\nVia: x\r\n\r\nTARGET";
  const std::string sent = run(hs, reply, used);
  EXPECT_EQ(hs.state(), State::done);
  EXPECT_EQ(used, reply.size() - 6);
  EXPECT_EQ(sent, "CONNECT [::1]:443 HTTP/1.1\r\nHost: [::1]:443\r\n"
                  "Proxy-Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==\r\n\r\n");
  ProxyHandshake denied({.type = ProxyType::http}, "h", 1);
  run(denied, "HTTP/1.1 407 Proxy Authentication Required\r\n\r\n", used);
  EXPECT_EQ(denied.error(), std::errc::permission_denied);
  EXPECT_EQ(denied.detail(), "HTTP/1.1 407 Proxy Authentication Required");
  ProxyHandshake endless({.type = ProxyType::http}, "h", 1);
  run(endless, std::string(20000, 'x'), used);
  EXPECT_EQ(endless.error(), std::errc::protocol_error);
}

TEST(ProxyFromEnvTest, AllProxyAndNoProxy) {
  ::setenv("ALL_PROXY", "socks5h://user:pw@127.0.0.1:9050", 1);
  ::setenv("NO_PROXY", "localhost, .internal", 1);
  auto p = proxy_from_env("example.org");
  ASSERT_TRUE(p && *p);
  EXPECT_EQ((*p)->type, ProxyType::socks5);
  EXPECT_TRUE((*p)->remote_dns);
  EXPECT_EQ((*p)->host, "127.0.0.1");
  EXPECT_EQ((*p)->port, "9050");
  EXPECT_EQ((*p)->user, "user");
  EXPECT_EQ((*p)->password, "pw");
  auto direct = proxy_from_env("db.internal");
  ASSERT_TRUE(direct);
  EXPECT_FALSE(*direct);
  ::setenv("ALL_PROXY", "ftp://x", 1);
  EXPECT_FALSE(proxy_from_env("example.org"));
  ::unsetenv("ALL_PROXY");
  ::unsetenv("NO_PROXY");
  auto none = proxy_from_env("example.org");
  ASSERT_TRUE(none);
  EXPECT_FALSE(*none);
}

}  // namespace
