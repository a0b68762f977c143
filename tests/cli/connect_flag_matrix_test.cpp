// The flag matrix of `tether connect` (issue 8 item 3): each transport (TCP, UDP, Unix stream,
// Unix datagram) with each shared flag. A cell either shows the flag's effect at a real peer the
// test owns, or exits 2 with one line naming the flag: no flag is accepted and ignored.
// (listen's matrix is flag_matrix_test.cpp.)
#include "cli_support.hpp"

#include <tether/tcp.hpp>
#include <tether/udp.hpp>

#include <gtest/gtest.h>

#include <array>
#include <filesystem>
#include <string>
#include <vector>

namespace {

using namespace tether;
using namespace tether::testing::cli;

enum class Transport { tcp, udp, unix_stream, unix_dgram };

/// What the peer saw of one `tether connect` run.
struct Seen {
  RunResult run;
  std::optional<Endpoint> source;  // the client's address as the peer saw it (IP transports)
  std::string data;                // what the peer received
};

/// A peer on 127.0.0.1 (or a Unix path) that records the client's address and what it sent, and
/// answers "ok\n" unless `silent`. Runs `tether connect ARGS TARGET` with "hi\n" on stdin.
Seen run_against_peer(Transport t, const std::vector<std::string>& flags, bool silent = false,
                      const std::string& host = "127.0.0.1") {
  TempPath dir("cmatrix");
  std::filesystem::create_directories(dir.str());
  const std::string path = dir.str() + "/s";
  std::vector<std::string> args{"connect"};
  if (t == Transport::udp || t == Transport::unix_dgram) args.push_back("-u");
  args.insert(args.end(), flags.begin(), flags.end());
  Seen seen;
  TempPath in("in");
  write_file(in.str(), "hi\n");
  auto start = [&](std::vector<std::string> target) {
    args.insert(args.end(), target.begin(), target.end());
    args.insert(args.begin(), tether_path());
    return Process::start_with_input_file(args, in.str());
  };
  auto finish = [&](Process& p) {
    seen.run.status = p.wait(15s);
    seen.run.out = p.out();
    seen.run.err = p.err();
  };
  if (t == Transport::tcp || t == Transport::unix_stream) {
    auto where = t == Transport::tcp ? *Endpoint::parse("127.0.0.1:0") : *Endpoint::unix_path(path);
    auto listener = TcpListener::bind(where);
    EXPECT_TRUE(listener.has_value());
    if (!listener) return seen;
    Process p = t == Transport::tcp
                    ? start({host, std::to_string(listener->local_endpoint()->port())})
                    : start({"--unix", path});
    auto accepted = listener->accept(3s);
    if (accepted) {
      if (t == Transport::tcp) seen.source = accepted->peer;
      std::array<char, 256> buf;
      for (;;) {
        auto n = accepted->stream.read_some(std::span(buf), 5s);
        if (!n || *n == 0) break;
        seen.data.append(buf.data(), *n);
      }
      if (!silent) {
        (void)accepted->stream.write_all("ok\n", 5s);
        accepted->stream.close();
      }
    }
    finish(p);
    return seen;
  }
  auto where = t == Transport::udp ? *Endpoint::parse("127.0.0.1:0") : *Endpoint::unix_path(path);
  auto socket = UdpSocket::bind(where);
  EXPECT_TRUE(socket.has_value());
  if (!socket) return seen;
  Process p = t == Transport::udp ? start({host, std::to_string(socket->local_endpoint()->port())})
                                  : start({"--unix", path});
  std::array<char, 256> buf;
  auto d = socket->recv_from(std::span(buf), 3s);
  if (d) {
    if (t == Transport::udp) seen.source = d->from;
    seen.data.assign(buf.data(), d->size);
    if (!silent && d->from.kind() != EndpointKind::none) (void)socket->send_to("ok\n", d->from);
  }
  finish(p);
  return seen;
}

struct Cell {
  std::string name;
  Transport transport;
  std::string flag;  // the flag under test; the cell's arguments depend on it
};

void PrintTo(const Cell& c, std::ostream* os) { *os << c.name; }

bool ip(Transport t) { return t == Transport::tcp || t == Transport::udp; }

class ConnectFlagMatrix : public ::testing::TestWithParam<Cell> {};

TEST_P(ConnectFlagMatrix, flag_is_enforced_or_refused_with_exit_2) {
  const Cell& c = GetParam();
  const Transport t = c.transport;
  auto refused = [&](std::vector<std::string> flags) {
    Seen s = run_against_peer(t, flags);
    EXPECT_EQ(s.run.status, 2) << s.run.err;
    EXPECT_EQ(lines_of(s.run.err).size(), 1u) << s.run.err;
    EXPECT_NE(s.run.err.find(c.flag), std::string::npos) << s.run.err;
    EXPECT_EQ(s.data, "");
  };
  if (c.flag == "-s") {
    if (!ip(t)) return refused({"-s", "127.0.0.1"});
    Seen s = run_against_peer(t, {"-s", "127.0.0.2"});
    ASSERT_TRUE(s.source.has_value()) << s.run.err;
    EXPECT_EQ(s.source->address_string(), "127.0.0.2");
  } else if (c.flag == "-p") {
    if (!ip(t)) return refused({"-p", "4000"});
    const auto port = tether::testing::free_port();
    Seen s = run_against_peer(t, {"-p", std::to_string(port)});
    ASSERT_TRUE(s.source.has_value()) << s.run.err;
    EXPECT_EQ(s.source->port(), port);
  } else if (c.flag == "-4" || c.flag == "-6") {
    if (!ip(t)) return refused({c.flag});
    // The peer is on 127.0.0.1 only: "localhost" with -4 reaches it, with -6 it cannot.
    Seen s = run_against_peer(t, {c.flag}, false, "localhost");
    if (c.flag == "-4") {
      EXPECT_EQ(s.data, "hi\n") << s.run.err;
      EXPECT_EQ(s.run.status, 0) << s.run.err;
    } else {
      EXPECT_EQ(s.data, "");
      if (t == Transport::tcp) {
        EXPECT_EQ(s.run.status, 1) << s.run.err;
      }
    }
  } else if (c.flag == "-w") {
    if (t == Transport::udp || t == Transport::unix_dgram) {
      // -w is how long replies are awaited after stdin's end: a reply inside it is printed.
      Seen s = run_against_peer(t, {"-w", "5"});
      EXPECT_EQ(s.run.status, 0) << s.run.err;
      if (t == Transport::udp) {
        EXPECT_EQ(s.run.out, "ok\n");
      }
      return;
    }
    Seen s = run_against_peer(t, {"-w", "0.5"}, true);  // a silent peer that never closes
    EXPECT_EQ(s.run.status, 1) << s.run.err;
    EXPECT_NE(s.run.err.find("idle"), std::string::npos) << s.run.err;
  } else if (c.flag == "-v") {
    Seen s = run_against_peer(t, {"-v"});
    EXPECT_NE(s.run.err.find("tether: connected"), std::string::npos) << s.run.err;
  } else if (c.flag == "--json") {
    Seen s = run_against_peer(t, {"--json"});
    EXPECT_TRUE(find_event(json_events(s.run.err), "connected").has_value()) << s.run.err;
  } else if (c.flag == "--trace") {
    if (t != Transport::tcp) return refused({"--trace"});
    Seen s = run_against_peer(t, {"--trace"});
    EXPECT_EQ(s.run.status, 0) << s.run.err;
    EXPECT_NE(s.run.err.find("SYN ->"), std::string::npos) << s.run.err;
  }
}

std::vector<Cell> cells() {
  std::vector<Cell> all;
  const std::pair<const char*, Transport> transports[] = {{"tcp", Transport::tcp},
                                                          {"udp", Transport::udp},
                                                          {"unix", Transport::unix_stream},
                                                          {"unix_dgram", Transport::unix_dgram}};
  const std::pair<const char*, const char*> flags[] = {{"source", "-s"}, {"source_port", "-p"}, {"ipv4", "-4"},
                                                       {"ipv6", "-6"},   {"timeout", "-w"},     {"verbose", "-v"},
                                                       {"json", "--json"}, {"trace", "--trace"}};
  for (const auto& [tname, t] : transports) {
    for (const auto& [fname, flag] : flags) all.push_back({std::string(tname) + "_" + fname, t, flag});
  }
  return all;
}

INSTANTIATE_TEST_SUITE_P(cli, ConnectFlagMatrix, ::testing::ValuesIn(cells()),
                         [](const ::testing::TestParamInfo<Cell>& p) { return p.param.name; });

}  // namespace
