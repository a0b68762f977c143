// tether connect --proxy against the Python SOCKS5, SOCKS4 and HTTP CONNECT proxies of
// relay_peers.py.
#include "relay_support.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using namespace tether::testing::cli;

namespace {

TEST(ProxyConnectTest, EachProxyTypeCarriesTheConnection) {
  Peer echo = start_peer({"echo"});
  struct Case {
    std::vector<std::string> peer;
    std::vector<std::string> flags;
  };
  const std::vector<Case> cases = {
      {{"socks5"}, {"--proxy-type", "socks5"}},
      {{"socks5"}, {"--proxy-type", "socks5", "--proxy-dns", "local"}},
      {{"socks5", "me", "pw"}, {"--proxy-type", "socks5", "--proxy-auth", "me:pw"}},
      {{"socks4"}, {"--proxy-type", "socks4"}},
      {{"socks4"}, {"--proxy-type", "socks4", "--proxy-dns", "local"}},
      {{"http"}, {}},
      {{"http", "me", "pw"}, {"--proxy-type", "http", "--proxy-auth", "me:pw"}},
  };
  for (const auto& c : cases) {
    Peer proxy = start_peer(c.peer);
    std::vector<std::string> args = {"connect", "--proxy", "127.0.0.1:" + proxy.port()};
    args.insert(args.end(), c.flags.begin(), c.flags.end());
    args.push_back("localhost");
    args.push_back(echo.port());
    auto r = run_tether(args, "via the proxy\n");
    EXPECT_EQ(r.status, 0) << c.peer[0] << ": " << r.err;
    EXPECT_EQ(r.out, "via the proxy\n") << c.peer[0];
  }
}

TEST(ProxyConnectTest, RefusedAuthenticationIsANetworkError) {
  Peer echo = start_peer({"echo"});
  Peer proxy = start_peer({"http", "me", "pw"});
  auto r = run_tether({"connect", "--proxy", "127.0.0.1:" + proxy.port(), "--proxy-auth", "me:nope", "127.0.0.1",
                       echo.port()},
                      "x");
  EXPECT_EQ(r.status, 1) << r.err;
  EXPECT_EQ(lines_of(r.err).size(), 1u) << r.err;
}

TEST(ProxyConnectTest, ProxyFromEnvironmentUnlessNoProxy) {
  Peer echo = start_peer({"echo"});
  Peer proxy = start_peer({"socks5"});
  ::setenv("ALL_PROXY", ("socks5h://127.0.0.1:" + proxy.port()).c_str(), 1);
  ::setenv("NO_PROXY", "", 1);
  auto r = run_tether({"connect", "--json", "--proxy", "env", "localhost", echo.port()}, "env\n");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "env\n");
  EXPECT_NE(r.err.find("\"proxy\""), std::string::npos) << r.err;
  ::setenv("NO_PROXY", "localhost", 1);
  auto direct = run_tether({"connect", "--json", "--proxy", "env", "localhost", echo.port()}, "direct\n");
  EXPECT_EQ(direct.status, 0) << direct.err;
  EXPECT_EQ(direct.out, "direct\n");
  EXPECT_EQ(direct.err.find("\"proxy\""), std::string::npos) << direct.err;
  ::unsetenv("ALL_PROXY");
  ::unsetenv("NO_PROXY");
}

TEST(ProxyConnectTest, UsageErrors) {
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"connect", "--proxy-type", "socks5", "h", "1"},
           {"connect", "--proxy", "nohostport", "h", "1"},
           {"connect", "--proxy", "127.0.0.1:1", "--proxy-type", "ftp", "h", "1"},
           {"connect", "--proxy", "127.0.0.1:1", "-u", "h", "1"},
           {"connect", "--proxy", "127.0.0.1:1", "--proxy-auth", "nocolon", "h", "1"},
       }) {
    auto r = run_tether(args);
    EXPECT_EQ(r.status, 2) << args[1] << " " << r.err;
    EXPECT_EQ(lines_of(r.err).size(), 1u) << r.err;
  }
}

}  // namespace
