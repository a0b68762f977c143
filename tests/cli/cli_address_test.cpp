// Addresses as people type them: HOST:PORT in one argument, dual-stack listen, listen -w, every
// failed attempt of a name with several addresses, Happy Eyeballs, source bind errors, stale Unix
// socket files.
//
// A name with two addresses (::1 and 127.0.0.1) comes from a private /etc/hosts, bind-mounted in a
// mount namespace of the tether process alone (unshare -rm); where the system refuses namespaces
// those tests are skipped, never passed.
#include "async_testing.hpp"
#include "cli_support.hpp"

#include <tether/tcp.hpp>

#include <gtest/gtest.h>

#include <sys/socket.h>
#include <sys/un.h>

#include <cstdlib>
#include <future>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using namespace tether;
using namespace tether::testing::cli;

namespace {

std::string port_of_listener(const TcpListener& l) { return std::to_string(l.local_endpoint()->port()); }

/// Reads what the client sends until its FIN (at most 10 s).
std::string receive_all(TcpListener& l) {
  auto a = l.accept(10s);
  if (!a) return "accept: " + a.error().message();
  std::string got;
  char buf[4096];
  for (;;) {
    auto n = a->stream.read_some(std::span<char>(buf), 10s);
    if (!n || *n == 0) return got;
    got.append(buf, *n);
  }
}

/// A port free on both ::1 and 127.0.0.1 (nothing listens on either) at the time of the call.
std::uint16_t port_closed_on_both() {
  for (int i = 0; i < 20; ++i) {
    auto v6 = TcpListener::bind(Endpoint::ipv6_loopback(0));
    if (!v6) return 0;
    const auto port = v6->local_endpoint()->port();
    if (TcpListener::bind(Endpoint::ipv4_loopback(port))) return port;  // both were free
  }
  return 0;
}

/// "dualhost" resolves to ::1 then 127.0.0.1 for the tether started by run_with_dualhost().
class DualHost {
 public:
  DualHost() {
    write_file(hosts_.str(), "::1 dualhost\n127.0.0.1 dualhost\n");
    usable_ = std::system("unshare -rm true >/dev/null 2>&1") == 0;
  }
  bool usable() const { return usable_; }
  RunResult run(std::vector<std::string> args, std::string_view input = {}) const {
    args.insert(args.begin(), {"unshare", "-rm", "sh", "-c", "mount --bind \"$0\" /etc/hosts && exec \"$@\"",
                               hosts_.str(), tether_path()});
    TempPath in("in");
    write_file(in.str(), input);
    Process p = Process::start_with_input_file(args, in.str());
    RunResult r;
    r.status = p.wait(15s);
    r.out = p.out();
    r.err = p.err();
    return r;
  }

 private:
  TempPath hosts_{"hosts"};
  bool usable_ = false;
};

TEST(CliAddress, host_colon_port_and_bracketed_ipv6_are_one_argument) {
  auto v4 = TcpListener::bind(Endpoint::ipv4_loopback(0));
  ASSERT_TRUE(v4);
  auto got4 = std::async(std::launch::async, [&] { return receive_all(*v4); });
  RunResult r4 = run_tether({"connect", "127.0.0.1:" + port_of_listener(*v4)}, "over v4");
  EXPECT_EQ(r4.status, 0) << r4.err;
  EXPECT_EQ(got4.get(), "over v4");

  auto v6 = TcpListener::bind(Endpoint::ipv6_loopback(0));
  ASSERT_TRUE(v6);
  auto got6 = std::async(std::launch::async, [&] { return receive_all(*v6); });
  RunResult r6 = run_tether({"connect", "[::1]:" + port_of_listener(*v6)}, "over v6");
  EXPECT_EQ(r6.status, 0) << r6.err;
  EXPECT_EQ(got6.get(), "over v6");

  // A name and the HOST PORT form still work.
  auto again = std::async(std::launch::async, [&] { return receive_all(*v4); });
  RunResult rn = run_tether({"connect", "localhost", port_of_listener(*v4)}, "by name");
  EXPECT_EQ(rn.status, 0) << rn.err;
  EXPECT_EQ(again.get(), "by name");
}

TEST(CliAddress, a_missing_or_bad_port_in_one_argument_is_one_usage_line) {
  for (const char* bad : {"[::1]", "::1", "127.0.0.1:", "127.0.0.1:notaservice-tether", "127.0.0.1:70000", ":80"}) {
    RunResult r = run_tether({"connect", bad});
    EXPECT_EQ(r.status, 2) << bad << ": " << r.err;
    EXPECT_EQ(lines_of(r.err).size(), 1u) << r.err;
  }
  RunResult r = run_tether({"connect", "127.0.0.1:notaservice-tether"});
  EXPECT_NE(r.err.find("notaservice-tether"), std::string::npos) << r.err;
}

TEST(CliAddress, listen_without_an_address_serves_ipv4_and_ipv6_clients) {
  for (const Endpoint& client_side : {Endpoint::ipv4_loopback(0), Endpoint::ipv6_loopback(0)}) {
    Process server = Process::start({tether_path(), "listen", "--json", "0"});
    const std::string where = listening_endpoint(server);
    ASSERT_EQ(where.rfind("[::]:", 0), 0u) << where;
    auto c = TcpStream::connect(client_side.with_port(port_of(where)), 5s);
    ASSERT_TRUE(c) << client_side.to_string() << ": " << c.error().message();
    ASSERT_TRUE(c->write_all("hi", 5s));
    ASSERT_TRUE(c->shutdown(Shutdown::write));
    EXPECT_EQ(server.wait(), 0) << server.err();
    auto accepted = find_event(json_events(server.err()), "accepted");
    ASSERT_TRUE(accepted) << server.err();
    // An IPv4 client shows as 127.0.0.1, not as ::ffff:127.0.0.1.
    EXPECT_EQ(accepted->at("peer"), c->local_endpoint()->to_string());
  }
}

TEST(CliAddress, listen_4_and_6_restrict_the_family) {
  Process v4only = Process::start({tether_path(), "listen", "--json", "-4", "0"});
  const std::string w4 = listening_endpoint(v4only);
  ASSERT_EQ(w4.rfind("0.0.0.0:", 0), 0u) << w4;
  auto no6 = TcpStream::connect(Endpoint::ipv6_loopback(port_of(w4)), 5s);
  EXPECT_FALSE(no6) << "-4 accepted an IPv6 client";

  Process v6only = Process::start({tether_path(), "listen", "--json", "-6", "0"});
  const std::string w6 = listening_endpoint(v6only);
  ASSERT_EQ(w6.rfind("[::]:", 0), 0u) << w6;
  auto no4 = TcpStream::connect(Endpoint::ipv4_loopback(port_of(w6)), 5s);
  EXPECT_FALSE(no4) << "-6 accepted an IPv4 client";
}

TEST(CliAddress, listen_w_bounds_the_wait_for_the_first_client) {
  RunResult r = run_tether({"listen", "-w", "0.2", "127.0.0.1", "0"});
  EXPECT_EQ(r.status, 1) << r.err;
  EXPECT_NE(r.err.find("no client within -w 0.2 s"), std::string::npos) << r.err;
  EXPECT_EQ(lines_of(r.err).size(), 1u) << r.err;
  RunResult help = run_tether({"listen", "--help"});
  EXPECT_NE(help.out.find("bounds the wait for the first client"), std::string::npos) << help.out;
}

TEST(CliAddress, a_failed_connect_reports_every_address_tried) {
  DualHost hosts;
  if (!hosts.usable()) GTEST_SKIP() << "no mount namespaces here (unshare -rm)";
  const auto port = std::to_string(port_closed_on_both());
  ASSERT_NE(port, "0");
  RunResult r = hosts.run({"connect", "dualhost", port});
  EXPECT_EQ(r.status, 1) << r.err;
  EXPECT_EQ(lines_of(r.err).size(), 1u) << r.err;
  EXPECT_NE(r.err.find("[::1]:" + port + ": connection refused"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("127.0.0.1:" + port + ": connection refused"), std::string::npos) << r.err;
}

TEST(CliAddress, connect_races_ipv6_and_ipv4_past_a_black_holed_address) {
  DualHost hosts;
  if (!hosts.usable()) GTEST_SKIP() << "no mount namespaces here (unshare -rm)";
  // ::1 drops every SYN (its accept queue is full); 127.0.0.1 on the same port answers. Trying
  // the addresses one after another, without -w, would wait for the kernel's connect timeout
  // (minutes); the race starts 127.0.0.1 after 250 ms.
  auto hole = tether::testing::black_hole(Endpoint::ipv6_loopback(0));
  ASSERT_FALSE(hole.fillers.empty());
  auto good = TcpListener::bind(Endpoint::ipv4_loopback(hole.endpoint.port()));
  ASSERT_TRUE(good) << good.error().message();
  auto got = std::async(std::launch::async, [&] { return receive_all(*good); });
  RunResult r = hosts.run({"connect", "--json", "dualhost:" + std::to_string(hole.endpoint.port())}, "raced");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(got.get(), "raced");
  auto connected = find_event(json_events(r.err), "connected");
  ASSERT_TRUE(connected) << r.err;
  EXPECT_EQ(connected->at("peer"), "127.0.0.1:" + std::to_string(hole.endpoint.port()));
}

TEST(CliAddress, a_source_address_that_cannot_be_bound_is_a_bind_error) {
  auto l = TcpListener::bind(Endpoint::ipv4_loopback(0));
  ASSERT_TRUE(l);
  for (bool udp : {false, true}) {
    std::vector<std::string> args = {"connect", "-s", "192.0.2.1", "127.0.0.1", port_of_listener(*l)};
    if (udp) args.insert(args.begin() + 1, "-u");
    RunResult r = run_tether(args, "x");
    EXPECT_EQ(r.status, 1) << r.err;
    EXPECT_EQ(lines_of(r.err).size(), 1u) << r.err;
    EXPECT_NE(r.err.find("bind to source 192.0.2.1"), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("connect to"), std::string::npos) << r.err;
  }
}

/// A socket file with no server behind it, as a killed server leaves.
void make_stale_socket(const std::string& path) {
  auto l = TcpListener::bind(*Endpoint::unix_path(path));
  ASSERT_TRUE(l) << l.error().message();
}  // closed; the file stays

TEST(CliAddress, a_stale_unix_socket_file_is_explained_and_replaced_on_request) {
  TempPath path("stale-sock");
  make_stale_socket(path.str());
  RunResult r = run_tether({"listen", "--unix", path.str()});
  EXPECT_EQ(r.status, 1) << r.err;
  EXPECT_EQ(lines_of(r.err).size(), 1u) << r.err;
  EXPECT_NE(r.err.find("the path exists and no server answers"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--unix-remove-stale"), std::string::npos) << r.err;

  Process server = Process::start({tether_path(), "listen", "--json", "--unix-remove-stale", "--unix", path.str()});
  EXPECT_EQ(listening_endpoint(server), "unix:" + path.str()) << server.err();
  auto c = TcpStream::connect(*Endpoint::unix_path(path.str()), 5s);
  EXPECT_TRUE(c) << "the new listener does not answer";
}

TEST(CliAddress, a_live_unix_socket_is_never_removed) {
  TempPath path("live-sock");
  auto live = TcpListener::bind(*Endpoint::unix_path(path.str()));
  ASSERT_TRUE(live);
  RunResult r = run_tether({"listen", "--unix-remove-stale", "--unix", path.str()});
  EXPECT_EQ(r.status, 1) << r.err;
  EXPECT_NE(r.err.find("a server answers there"), std::string::npos) << r.err;
  auto c = TcpStream::connect(*Endpoint::unix_path(path.str()), 5s);
  EXPECT_TRUE(c) << "the live server's socket file was removed";

  TempPath file("plain-file");
  write_file(file.str(), "data");
  RunResult f = run_tether({"listen", "--unix-remove-stale", "--unix", file.str()});
  EXPECT_EQ(f.status, 1) << f.err;
  EXPECT_NE(f.err.find("is not a socket"), std::string::npos) << f.err;
  EXPECT_EQ(read_file(file.str()), "data");

  RunResult usage = run_tether({"listen", "--unix-remove-stale", "0"});
  EXPECT_EQ(usage.status, 2) << usage.err;
  EXPECT_EQ(lines_of(usage.err).size(), 1u) << usage.err;
}

}  // namespace

// Issue 8 item 14: a bracketed IPv6 HOST is printed once bracketed ("[::1]:P", never "[[::1]]:P").
TEST(CliAddress, a_bracketed_ipv6_host_is_printed_bracketed_once) {
  const auto port = std::to_string(port_closed_on_both());
  ASSERT_NE(port, "0");
  RunResult r = run_tether({"connect", "[::1]", port});
  EXPECT_EQ(r.status, 1) << r.err;
  EXPECT_NE(r.err.find("[::1]:" + port), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("[["), std::string::npos) << r.err;
}
