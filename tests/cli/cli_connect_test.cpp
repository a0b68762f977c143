// tether connect against servers written with libtether in the test: half-close both ways,
// refused, reset, deadlines, events, source binding.
#include "cli_support.hpp"

#include <gtest/gtest.h>

#include <future>
#include <thread>

namespace {

using namespace tether;
using namespace tether::testing::cli;

TcpListener loopback_listener(const Endpoint& where = Endpoint::ipv4_loopback(0)) {
  auto l = TcpListener::bind(where);
  EXPECT_TRUE(l.has_value()) << l.error().message();
  return l ? std::move(*l) : TcpListener{};
}

std::string port_text(const TcpListener& l) { return std::to_string(l.local_endpoint()->port()); }

/// Reads until the peer's FIN (or an error / 10 s); returns what arrived.
std::string read_to_end(TcpStream& s) {
  std::string got;
  char buf[65536];
  for (;;) {
    auto n = s.read_some(std::span<char>(buf), 10s);
    if (!n || *n == 0) return got;
    got.append(buf, *n);
  }
}

TEST(cli_connect, refused_exits_1_with_one_line) {
  std::string port;
  {
    TcpListener l = loopback_listener();
    port = port_text(l);
  }  // closed: nothing listens there now
  RunResult r = run_tether({"connect", "127.0.0.1", port});
  EXPECT_EQ(r.status, 1) << r.err;
  EXPECT_EQ(lines_of(r.err).size(), 1u) << r.err;
  EXPECT_NE(r.err.find("refused"), std::string::npos) << r.err;
  EXPECT_EQ(r.out, "");
}

TEST(cli_connect, stdin_end_sends_fin_and_the_whole_reply_is_still_printed) {
  TcpListener l = loopback_listener();
  const std::string reply = random_bytes(1 << 20) + "END\n";
  auto server = std::async(std::launch::async, [&] {
    auto a = l.accept(10s);
    if (!a) return std::string("accept failed");
    std::string request = read_to_end(a->stream);  // returns only after tether's FIN
    (void)a->stream.write_all(reply, 10s);          // the reply starts after the FIN
    return request;
  });
  RunResult r = run_tether({"connect", "127.0.0.1", port_text(l)}, "the request");
  EXPECT_EQ(server.get(), "the request");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out.size(), reply.size());
  EXPECT_TRUE(r.out == reply) << "the reply arrived altered or cut short";
}

TEST(cli_connect, peer_closing_first_is_a_half_close_and_all_of_stdin_is_still_sent) {
  TcpListener l = loopback_listener();
  const std::string greeting = random_bytes(300000, 1);
  const std::string upload = random_bytes(3 << 20, 2);
  auto server = std::async(std::launch::async, [&] {
    auto a = l.accept(10s);
    if (!a) return std::string("accept failed");
    (void)a->stream.write_all(greeting, 10s);
    (void)a->stream.shutdown(Shutdown::write);  // FIN first, but keep reading
    return read_to_end(a->stream);
  });
  RunResult r = run_tether({"connect", "127.0.0.1", port_text(l)}, upload);
  std::string received = server.get();
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(received.size(), upload.size());
  EXPECT_TRUE(received == upload);
  EXPECT_TRUE(r.out == greeting);
}

TEST(cli_connect, with_a_terminal_on_stdin_the_peers_close_ends_the_session) {
  // Nobody can have queued data on a terminal that tether would drop: an interactive session ends
  // when the server closes, without waiting for the user's end of input.
  int master = ::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  ASSERT_GE(master, 0);
  ASSERT_EQ(::grantpt(master), 0);
  ASSERT_EQ(::unlockpt(master), 0);
  int terminal = ::open(::ptsname(master), O_RDWR | O_NOCTTY | O_CLOEXEC);
  ASSERT_GE(terminal, 0);
  TcpListener l = loopback_listener();
  std::thread server([&] {
    if (auto a = l.accept(10s)) (void)a->stream.write_all("server says bye\n", 10s);
  });
  Process p = Process::start({tether_path(), "connect", "127.0.0.1", port_text(l)}, terminal);
  ::close(terminal);
  server.join();
  EXPECT_EQ(p.wait(10s), 0) << p.err();
  EXPECT_EQ(p.out(), "server says bye\n");
  ::close(master);
}

TEST(cli_connect, stdin_from_a_pipe_arrives_whole_as_from_a_file) {
  // A file on stdin goes by sendfile, a pipe by read + write: both must deliver every byte.
  TcpListener l = loopback_listener();
  const std::string upload = random_bytes(3 << 20, 3);
  auto server = std::async(std::launch::async, [&] {
    auto a = l.accept(10s);
    return a ? read_to_end(a->stream) : std::string("accept failed");
  });
  Pipe in;
  Process p = Process::start({tether_path(), "connect", "127.0.0.1", port_text(l)}, in.read_fd);
  in.close_read();
  std::thread writer([&] {
    in.write(upload);
    in.close_write();
  });
  writer.join();
  std::string received = server.get();
  EXPECT_EQ(p.wait(), 0) << p.err();
  EXPECT_EQ(received.size(), upload.size());
  EXPECT_TRUE(received == upload);
}

TEST(cli_connect, reset_by_peer_exits_1_with_one_line) {
  TcpListener l = loopback_listener();
  std::promise<void> reset_done;
  std::thread server([&] {
    if (auto a = l.accept(10s)) {
      (void)a->stream.socket().set_linger(std::chrono::seconds(0));  // close() sends RST
      a->stream.close();
    }
    reset_done.set_value();
  });
  Pipe in;  // held open: tether must notice the reset, not the end of its stdin
  Process p = Process::start({tether_path(), "connect", "127.0.0.1", port_text(l)}, in.read_fd);
  in.close_read();
  reset_done.get_future().wait();
  server.join();
  EXPECT_EQ(p.wait(), 1) << p.err();
  EXPECT_EQ(lines_of(p.err()).size(), 1u) << p.err();
  EXPECT_NE(p.err().find("reset"), std::string::npos) << p.err();
}

TEST(cli_connect, json_events_carry_the_five_tuple_and_close_statistics) {
  TcpListener l = loopback_listener();
  auto server = std::async(std::launch::async, [&] {
    auto a = l.accept(10s);
    if (!a) return std::string();
    read_to_end(a->stream);
    (void)a->stream.write_all("bye", 10s);
    return a->peer.to_string();
  });
  RunResult r = run_tether({"connect", "--json", "127.0.0.1", port_text(l)}, "12345");
  const std::string client_seen_by_server = server.get();
  ASSERT_EQ(r.status, 0) << r.err;
  auto events = json_events(r.err);
  auto connected = find_event(events, "connected");
  ASSERT_TRUE(connected.has_value()) << r.err;
  EXPECT_EQ(connected->at("proto"), "tcp");
  EXPECT_EQ(connected->at("peer"), l.local_endpoint()->to_string());
  EXPECT_EQ(connected->at("local"), client_seen_by_server);
  auto closed = find_event(events, "closed");
  ASSERT_TRUE(closed.has_value()) << r.err;
  EXPECT_EQ(closed->at("bytes_out"), "5");
  EXPECT_EQ(closed->at("bytes_in"), "3");
  EXPECT_EQ(closed->at("closed_first"), "local");  // our FIN came before the server's
  EXPECT_EQ(closed->count("rtt_us"), 1u);
  EXPECT_EQ(closed->count("retransmits"), 1u);
  EXPECT_EQ(closed->count("duration_s"), 1u);
}

TEST(cli_connect, verbose_events_are_readable_lines) {
  TcpListener l = loopback_listener();
  std::thread server([&] {
    if (auto a = l.accept(10s)) read_to_end(a->stream);
  });
  RunResult r = run_tether({"connect", "-v", "127.0.0.1", port_text(l)}, "x");
  server.join();
  EXPECT_EQ(r.status, 0) << r.err;
  auto connected = std::string("tether: connected proto=tcp local=127.0.0.1:");
  EXPECT_EQ(r.err.compare(0, connected.size(), connected), 0) << r.err;
  EXPECT_NE(r.err.find("peer=" + l.local_endpoint()->to_string()), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("tether: closed proto=tcp local=127.0.0.1:"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(" peer=" + l.local_endpoint()->to_string() + " bytes_in=0 bytes_out=1"), std::string::npos)
      << r.err;
}

TEST(cli_connect, source_address_and_port_are_bound_before_connecting) {
  std::uint16_t free_port = 0;
  {
    TcpListener probe = loopback_listener();
    free_port = probe.local_endpoint()->port();
  }
  TcpListener l = loopback_listener();
  auto server = std::async(std::launch::async, [&] {
    auto a = l.accept(10s);
    if (!a) return Endpoint{};
    read_to_end(a->stream);
    return a->peer;
  });
  RunResult r = run_tether(
      {"connect", "-s", "127.0.0.1", "-p", std::to_string(free_port), "127.0.0.1", port_text(l)}, "hi");
  Endpoint peer = server.get();
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(peer, Endpoint::ipv4_loopback(free_port));
}

TEST(cli_connect, ipv6_loopback_with_6) {
  auto l = TcpListener::bind(Endpoint::ipv6_loopback(0));
  if (!l) GTEST_SKIP() << "no IPv6 loopback here: " << l.error().message();
  auto server = std::async(std::launch::async, [&] {
    auto a = l->accept(10s);
    if (!a) return std::string();
    std::string got = read_to_end(a->stream);
    (void)a->stream.write_all("v6", 10s);
    return got;
  });
  RunResult r = run_tether({"connect", "-6", "--json", "::1", std::to_string(l->local_endpoint()->port())}, "hello");
  EXPECT_EQ(server.get(), "hello");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "v6");
  auto connected = find_event(json_events(r.err), "connected");
  ASSERT_TRUE(connected.has_value());
  EXPECT_EQ(connected->at("peer"), "[::1]:" + std::to_string(l->local_endpoint()->port()));
}

TEST(cli_connect, idle_timeout_ends_a_silent_connection_with_exit_1) {
  TcpListener l = loopback_listener();
  std::promise<void> done;
  auto done_future = done.get_future();
  std::thread server([&] {
    auto a = l.accept(10s);
    done_future.wait_for(10s);  // hold the connection open and silent
  });
  Pipe in;  // stdin stays open and silent too
  Process p = Process::start({tether_path(), "connect", "-w", "0.3", "127.0.0.1", port_text(l)}, in.read_fd);
  in.close_read();
  int status = p.wait(10s);
  done.set_value();
  server.join();
  EXPECT_EQ(status, 1) << p.err();
  EXPECT_EQ(lines_of(p.err()).size(), 1u) << p.err();
  EXPECT_NE(p.err().find("idle"), std::string::npos) << p.err();
}

TEST(cli_connect, timeout_bounds_a_connect_that_gets_no_answer) {
  // A listener whose accept queue is full drops new SYNs: connecting to it can only time out.
  TcpListener l = loopback_listener();
  ASSERT_TRUE(l.is_open());
  ListenOptions tiny;
  tiny.backlog = 1;
  auto full = TcpListener::bind(Endpoint::ipv4_loopback(0), tiny);
  ASSERT_TRUE(full.has_value());
  std::vector<TcpStream> queued;
  bool filled = false;
  for (int i = 0; i < 16 && !filled; ++i) {
    auto s = TcpStream::connect(*full->local_endpoint(), 200ms);
    if (s) queued.push_back(std::move(*s));
    else filled = true;
  }
  ASSERT_TRUE(filled) << "the accept queue never filled";
  auto start = std::chrono::steady_clock::now();
  RunResult r = run_tether({"connect", "-w", "0.5", "127.0.0.1", std::to_string(full->local_endpoint()->port())});
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(r.status, 1) << r.err;
  EXPECT_NE(r.err.find("timed out"), std::string::npos) << r.err;
  EXPECT_LT(took, 5s);  // the deadline, not the kernel's minutes of SYN retries, ended it
}

}  // namespace
