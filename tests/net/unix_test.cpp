// Unix sockets through the same types: stream over a path and an abstract name, datagrams with
// truncation, endpoints as the kernel sees them, no SIGPIPE.
#include "testing.hpp"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <string>

using namespace std::chrono_literals;
using tether::Endpoint;
using tether::EndpointKind;
using tether::UnixDatagram;
using tether::UnixListener;
using tether::UnixStream;
using tether::testing::TempPath;

namespace {

Endpoint path_endpoint(const TempPath& p) {
  auto e = Endpoint::unix_path(p.str());
  EXPECT_TRUE(e) << e.error().message();
  return e.value_or(Endpoint{});
}

Endpoint unique_abstract(std::string_view stem) {
  static int n = 0;
  auto e = Endpoint::unix_abstract("tether-test-" + std::string(stem) + "-" +
                                   std::to_string(getpid()) + "-" + std::to_string(n++));
  EXPECT_TRUE(e) << e.error().message();
  return e.value_or(Endpoint{});
}

void exchange(UnixStream& a, UnixStream& b) {
  ASSERT_TRUE(a.write_all("ping"));
  char buf[4];
  ASSERT_TRUE(b.read_exact(std::span(buf), 5s));
  EXPECT_EQ(std::string_view(buf, 4), "ping");
  ASSERT_TRUE(b.write_all("pong"));
  ASSERT_TRUE(a.read_exact(std::span(buf), 5s));
  EXPECT_EQ(std::string_view(buf, 4), "pong");
}

}  // namespace

TEST(Unix, unix_stream_over_path) {
  TempPath path("unix-stream");
  auto where = path_endpoint(path);
  auto l = UnixListener::bind(where);
  ASSERT_TRUE(l) << l.error().message();
  struct stat st {};
  ASSERT_EQ(::stat(path.str().c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(l->local_endpoint().value_or(Endpoint{}), where);

  auto c = UnixStream::connect(where, 5s);
  ASSERT_TRUE(c) << c.error().message();
  auto a = l->accept(5s);
  ASSERT_TRUE(a) << a.error().message();
  exchange(*c, a->stream);
  EXPECT_EQ(c->peer_endpoint().value_or(Endpoint{}), where);
  EXPECT_EQ(a->stream.local_endpoint().value_or(Endpoint{}), where);
  // The client never bound a name: the server sees an unnamed peer, which is not an error.
  EXPECT_FALSE(a->peer.is_ip());
  EXPECT_EQ(a->peer.unix_name(), "");
}

TEST(Unix, unix_stream_over_abstract_name) {
  auto where = unique_abstract("stream");
  auto l = UnixListener::bind(where);
  ASSERT_TRUE(l) << l.error().message();
  // The kernel sees exactly "@name" (no trailing NULs in the address length).
  EXPECT_EQ(l->local_endpoint().value_or(Endpoint{}), where);
  std::ifstream proc("/proc/net/unix");
  std::string line;
  bool listed = false;
  std::string wanted = " @" + std::string(where.unix_name());
  while (std::getline(proc, line)) {
    if (line.size() >= wanted.size() && line.ends_with(wanted)) listed = true;
  }
  EXPECT_TRUE(listed) << "/proc/net/unix has no line ending in '" << wanted << "'";

  auto c = UnixStream::connect(where, 5s);
  ASSERT_TRUE(c) << c.error().message();
  auto a = l->accept(5s);
  ASSERT_TRUE(a) << a.error().message();
  exchange(*c, a->stream);
  EXPECT_EQ(c->peer_endpoint().value_or(Endpoint{}), where);
  EXPECT_EQ(c->peer_endpoint().value_or(Endpoint{}).to_string(), where.to_string());
}

TEST(Unix, unix_listener_does_not_remove_an_existing_path) {
  TempPath path("unix-exists");
  auto where = path_endpoint(path);
  auto first = UnixListener::bind(where);
  ASSERT_TRUE(first) << first.error().message();
  auto second = UnixListener::bind(where);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error(), std::errc::address_in_use) << second.error().message();
}

TEST(Unix, unix_connect_to_missing_path_reports_enoent) {
  TempPath path("unix-missing");
  auto c = UnixStream::connect(path_endpoint(path), 1s);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error(), std::errc::no_such_file_or_directory) << c.error().message();
}

TEST(Unix, unix_connect_to_path_without_listener_reports_econnrefused) {
  TempPath path("unix-stale");
  auto where = path_endpoint(path);
  {
    auto l = UnixListener::bind(where);
    ASSERT_TRUE(l) << l.error().message();
  }  // closed; the file stays
  auto c = UnixStream::connect(where, 1s);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error(), std::errc::connection_refused) << c.error().message();
}

TEST(Unix, unix_stream_half_close_and_eof) {
  auto p = tether::testing::connected_pair(unique_abstract("half"));
  ASSERT_TRUE(p.client.write_all("question"));
  ASSERT_TRUE(p.client.shutdown(tether::Shutdown::write));
  char buf[16];
  ASSERT_TRUE(p.server.read_exact(std::span(buf, 8), 5s));
  auto eof = p.server.read_some(std::span(buf), 5s);
  ASSERT_TRUE(eof) << eof.error().message();
  EXPECT_EQ(*eof, 0u);
  ASSERT_TRUE(p.server.write_all("answer"));
  p.server.close();
  ASSERT_TRUE(p.client.read_exact(std::span(buf, 6), 5s));
  EXPECT_EQ(std::string_view(buf, 6), "answer");
  auto r = p.client.read_exact(std::span(buf, 1), 5s);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), tether::Errc::end_of_stream);
}

TEST(Unix, unix_stream_write_after_peer_close_reports_epipe_without_sigpipe) {
  struct sigaction before {};
  ASSERT_EQ(sigaction(SIGPIPE, nullptr, &before), 0);
  if (before.sa_handler != SIG_DFL) signal(SIGPIPE, SIG_DFL);
  auto p = tether::testing::connected_pair(unique_abstract("pipe"));
  p.server.close();
  auto w = p.client.write_all("into the void", 1s);
  ASSERT_FALSE(w);
  EXPECT_EQ(w.error(), std::errc::broken_pipe) << w.error().message();
  struct sigaction after {};
  ASSERT_EQ(sigaction(SIGPIPE, nullptr, &after), 0);
  EXPECT_EQ(after.sa_handler, SIG_DFL);
}

TEST(Unix, unix_datagram_over_paths_reports_sender_and_truncation) {
  TempPath pa("unix-dgram-a");
  TempPath pb("unix-dgram-b");
  auto a = UnixDatagram::bind(path_endpoint(pa));
  auto b = UnixDatagram::bind(path_endpoint(pb));
  ASSERT_TRUE(a) << a.error().message();
  ASSERT_TRUE(b) << b.error().message();
  ASSERT_TRUE(a->send_to("hello unix", path_endpoint(pb), 1s));
  char buf[64];
  auto d = b->recv_from(std::span(buf), 5s);
  ASSERT_TRUE(d) << d.error().message();
  EXPECT_EQ(std::string_view(buf, d->size), "hello unix");
  EXPECT_EQ(d->from, path_endpoint(pa));
  EXPECT_FALSE(d->truncated);

  ASSERT_TRUE(a->send_to(std::string(300, 'q'), path_endpoint(pb), 1s));
  auto t = b->recv_from(std::span(buf), 5s);
  ASSERT_TRUE(t) << t.error().message();
  EXPECT_TRUE(t->truncated);
  EXPECT_EQ(t->size, sizeof buf);
  EXPECT_EQ(t->full_size, 300u);
}

TEST(Unix, unix_datagram_over_abstract_names_and_connect) {
  auto a_at = unique_abstract("dgram-a");
  auto b_at = unique_abstract("dgram-b");
  auto a = UnixDatagram::bind(a_at);
  auto b = UnixDatagram::bind(b_at);
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(a->connect(b_at));
  EXPECT_EQ(a->peer_endpoint().value_or(Endpoint{}), b_at);
  ASSERT_TRUE(a->send("connected", 1s));
  char buf[16];
  auto d = b->recv_from(std::span(buf), 5s);
  ASSERT_TRUE(d) << d.error().message();
  EXPECT_EQ(std::string_view(buf, d->size), "connected");
  EXPECT_EQ(d->from, a_at);
  EXPECT_EQ(d->from.kind(), EndpointKind::unix_abstract);
}

TEST(Unix, unix_datagram_from_unnamed_sender_has_empty_from) {
  TempPath pb("unix-dgram-unnamed");
  auto b = UnixDatagram::bind(path_endpoint(pb));
  ASSERT_TRUE(b) << b.error().message();
  auto a = UnixDatagram::open(path_endpoint(pb));
  ASSERT_TRUE(a) << a.error().message();
  ASSERT_TRUE(a->send_to("anon", path_endpoint(pb), 1s));
  char buf[8];
  auto d = b->recv_from(std::span(buf), 5s);
  ASSERT_TRUE(d) << d.error().message();
  EXPECT_EQ(std::string_view(buf, d->size), "anon");
  EXPECT_FALSE(d->from.is_ip());
  EXPECT_EQ(d->from.unix_name(), "");
}

TEST(Unix, unix_datagram_to_missing_path_reports_enoent) {
  TempPath pb("unix-dgram-missing");
  auto a = UnixDatagram::open(path_endpoint(pb));
  ASSERT_TRUE(a) << a.error().message();
  auto s = a->send_to("x", path_endpoint(pb), 1s);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error(), std::errc::no_such_file_or_directory) << s.error().message();
}
