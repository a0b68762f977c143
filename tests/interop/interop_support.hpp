// interop_support.hpp: the same scenarios run against each real peer (nc, socat, Python).
//
// TCP: 10 MB of random data, compared by SHA-256, in four set-ups: tether listening or connecting,
// tether sending or receiving. UDP: a datagram each way, with tether on either side.
// A Peer says how to start the other program in each role; every process is a Process (cli_support),
// killed when the test ends, pass or fail.
#pragma once

#include "../cli/cli_support.hpp"

#include <gtest/gtest.h>

#include <functional>

namespace tether::testing::interop {

using namespace tether::testing::cli;

using Argv = std::vector<std::string>;

struct Peer {
  std::string program;  ///< must be installed (scripts/install-deps.sh)
  // TCP clients, given tether's port: one that receives into stdout, one that sends its stdin.
  std::function<Argv(std::uint16_t)> tcp_receiver_client;
  std::function<Argv(std::uint16_t)> tcp_sender_client;
  // TCP listeners on 127.0.0.1 port 0 that say their port on stderr in a line holding port_line.
  Argv tcp_receiver_listener;
  Argv tcp_sender_listener;
  // UDP: a server that prints what it gets and answers with its stdin; a client that sends its
  // stdin to the port and prints replies.
  Argv udp_listener;
  std::function<Argv(std::uint16_t)> udp_client;
  std::string port_line;
};

/// 10 MB of random data in a file, and its SHA-256.
struct BigFile {
  TempPath path{"big"};
  std::string sha;
  BigFile() {
    write_file(path.str(), random_bytes(10 * 1000 * 1000, 7));
    sha = sha256_file(path.str());
  }
};

/// The port a peer printed on stderr (the last number on the line holding `needle`).
inline std::uint16_t peer_port(const Process& p, const std::string& needle) {
  auto line = p.wait_for_err_line(needle, 5s);
  if (!line) return 0;
  auto end = line->find_last_of("0123456789");
  if (end == std::string::npos) return 0;
  auto start = line->find_last_not_of("0123456789", end);
  start = start == std::string::npos ? 0 : start + 1;
  return static_cast<std::uint16_t>(std::stoul(line->substr(start, end - start + 1)));
}

inline void require_peer(const Peer& peer) {
  ASSERT_TRUE(have_program(peer.program)) << peer.program << " is missing: run scripts/install-deps.sh";
}

inline void tether_listen_sends(const Peer& peer) {
  require_peer(peer);
  BigFile big;
  Process t = Process::start_with_input_file({tether_path(), "listen", "--json", "127.0.0.1", "0"}, big.path.str());
  std::uint16_t port = port_of(listening_endpoint(t));
  ASSERT_NE(port, 0) << t.err();
  Process p = Process::start(peer.tcp_receiver_client(port));
  EXPECT_EQ(p.wait(60s), 0) << p.err();
  EXPECT_EQ(t.wait(10s), 0) << t.err();
  EXPECT_EQ(sha256_file(p.out_path()), big.sha) << "received " << file_size(p.out_path()) << " bytes";
}

inline void tether_listen_receives(const Peer& peer) {
  require_peer(peer);
  BigFile big;
  Process t = Process::start({tether_path(), "listen", "--json", "127.0.0.1", "0"});
  std::uint16_t port = port_of(listening_endpoint(t));
  ASSERT_NE(port, 0) << t.err();
  Process p = Process::start_with_input_file(peer.tcp_sender_client(port), big.path.str());
  EXPECT_EQ(t.wait(60s), 0) << t.err();
  EXPECT_EQ(p.wait(10s), 0) << p.err();
  EXPECT_EQ(sha256_file(t.out_path()), big.sha) << "received " << file_size(t.out_path()) << " bytes";
}

inline void tether_connect_sends(const Peer& peer) {
  require_peer(peer);
  BigFile big;
  Process p = Process::start(peer.tcp_receiver_listener);
  std::uint16_t port = peer_port(p, peer.port_line);
  ASSERT_NE(port, 0) << p.err();
  Process t = Process::start_with_input_file({tether_path(), "connect", "127.0.0.1", std::to_string(port)},
                                             big.path.str());
  EXPECT_EQ(t.wait(60s), 0) << t.err();
  EXPECT_EQ(p.wait(10s), 0) << p.err();
  EXPECT_EQ(sha256_file(p.out_path()), big.sha) << "received " << file_size(p.out_path()) << " bytes";
}

inline void tether_connect_receives(const Peer& peer) {
  require_peer(peer);
  BigFile big;
  Process p = Process::start_with_input_file(peer.tcp_sender_listener, big.path.str());
  std::uint16_t port = peer_port(p, peer.port_line);
  ASSERT_NE(port, 0) << p.err();
  // tether's stdin stays open until everything arrived: some peers (nc -l) stop sending as soon as
  // they see our FIN, which is their choice, not a half-close bug on our side.
  Pipe in;
  Process t = Process::start({tether_path(), "connect", "127.0.0.1", std::to_string(port)}, in.read_fd);
  in.close_read();
  EXPECT_TRUE(t.wait_for_out_size(10 * 1000 * 1000, 60s)) << "received " << file_size(t.out_path());
  in.close_write();
  EXPECT_EQ(t.wait(10s), 0) << t.err();
  EXPECT_EQ(p.wait(10s), 0) << p.err();
  EXPECT_EQ(sha256_file(t.out_path()), big.sha) << "received " << file_size(t.out_path()) << " bytes";
}

/// tether connect -u -> the peer's UDP server, and its answer back.
inline void tether_udp_client(const Peer& peer) {
  require_peer(peer);
  Pipe peer_in;
  Process p = Process::start(peer.udp_listener, peer_in.read_fd);
  peer_in.close_read();
  std::uint16_t port = peer_port(p, peer.port_line);
  ASSERT_NE(port, 0) << p.err();
  Pipe in;
  Process t = Process::start({tether_path(), "connect", "-u", "-w", "5", "127.0.0.1", std::to_string(port)},
                             in.read_fd);
  in.close_read();
  ASSERT_TRUE(in.write("ping from tether\n"));
  EXPECT_TRUE(Process::wait_for_line(p.out_path(), "ping from tether", 5s).has_value()) << p.err();
  ASSERT_TRUE(peer_in.write("pong from " + peer.program + "\n"));
  EXPECT_TRUE(Process::wait_for_line(t.out_path(), "pong from " + peer.program, 5s).has_value()) << t.err();
}

/// The peer's UDP client -> tether listen -u, and tether's answer back to it.
inline void tether_udp_server(const Peer& peer) {
  require_peer(peer);
  Pipe in;
  Process t = Process::start({tether_path(), "listen", "-u", "--json", "127.0.0.1", "0"}, in.read_fd);
  in.close_read();
  std::uint16_t port = port_of(listening_endpoint(t));
  ASSERT_NE(port, 0) << t.err();
  Pipe peer_in;
  Process p = Process::start(peer.udp_client(port), peer_in.read_fd);
  peer_in.close_read();
  ASSERT_TRUE(peer_in.write("ping from " + peer.program + "\n"));
  EXPECT_TRUE(Process::wait_for_line(t.out_path(), "ping from " + peer.program, 5s).has_value()) << t.err();
  ASSERT_TRUE(in.write("pong from tether\n"));
  EXPECT_TRUE(Process::wait_for_line(p.out_path(), "pong from tether", 5s).has_value()) << p.err();
}

}  // namespace tether::testing::interop
