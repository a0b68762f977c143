// tether connect --tls / listen --tls end to end: verification by default with one line naming the
// reason, -k, pinning the ephemeral certificate, mTLS, every listen mode ("--echo", "--chat",
// "--discard", relay, -k), handshake events, truncation, usage errors.
#include "cli_support.hpp"
#include "tls_pki.hpp"
#include "tls_support.hpp"

#include <tether/tls.hpp>

#include <gtest/gtest.h>

#include <string>
#include <vector>

using namespace std::chrono_literals;
using namespace tether;
using namespace tether::testing::cli;
namespace tt = tether::testing;

namespace {

std::vector<std::string> server_files(const tt::TestPki& pki, const std::string& name) {
  return {"--cert", pki.cert(name), "--key", pki.key(name)};
}

RunResult connect_tls(std::uint16_t port, std::vector<std::string> extra, std::string_view input) {
  std::vector<std::string> args = {"connect", "--tls"};
  args.insert(args.end(), extra.begin(), extra.end());
  args.emplace_back("127.0.0.1");
  args.push_back(std::to_string(port));
  return run_tether(args, input);
}

std::string read_line(TlsStream& s) {
  std::string out;
  char c;
  while (out.size() < 4096) {
    if (!s.read_exact(std::span(&c, 1), 5s)) break;
    out.push_back(c);
    if (c == '\n') break;
  }
  return out;
}

}  // namespace

TEST(TlsCli, connect_refuses_bad_certificates_with_one_line_naming_the_reason_and_k_accepts) {
  tt::TestPki pki;
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"expired", "expired"}, {"wrong-name", "name mismatch"}, {"self-signed", "self-signed"}};
  for (const auto& [cert, reason] : cases) {
    auto l = listen_tls({"--echo", "--cert", pki.cert(cert), "--key", pki.key(cert)});
    auto refused = connect_tls(l.port, {"--ca", pki.cert("ca"), "--sni", "localhost"}, "ping\n");
    EXPECT_EQ(refused.status, 1) << cert;
    EXPECT_EQ(lines_of(refused.err).size(), 1u) << refused.err;
    EXPECT_NE(refused.err.find(reason), std::string::npos) << refused.err;
    EXPECT_EQ(refused.out, "");
    auto insecure = connect_tls(l.port, {"-k"}, "ping\n");
    EXPECT_EQ(insecure.status, 0) << insecure.err;
    EXPECT_EQ(insecure.out, "ping\n");
  }
}

TEST(TlsCli, ephemeral_certificate_fingerprint_pins_and_another_pin_is_refused) {
  auto l = listen_tls({"--echo"});
  const std::string pin = ephemeral_pin(l.process);
  ASSERT_EQ(pin.size(), 7u + 64u) << l.process.err();
  auto ok = connect_tls(l.port, {"--tls-pin", pin}, "pinned\n");
  EXPECT_EQ(ok.status, 0) << ok.err;
  EXPECT_EQ(ok.out, "pinned\n");
  std::string other = pin;
  other.back() = other.back() == '0' ? '1' : '0';
  auto bad = connect_tls(l.port, {"--tls-pin", other}, "x\n");
  EXPECT_EQ(bad.status, 1);
  EXPECT_NE(bad.err.find("pinned"), std::string::npos) << bad.err;
  auto unverified = connect_tls(l.port, {}, "x\n");  // verification is the default
  EXPECT_EQ(unverified.status, 1);
  EXPECT_NE(unverified.err.find("self-signed"), std::string::npos) << unverified.err;
}

TEST(TlsCli, client_ca_accepts_a_known_client_certificate_and_refuses_none) {
  tt::TestPki pki;
  auto args = server_files(pki, "server");
  args.insert(args.end(), {"--echo", "--client-ca", pki.cert("ca")});
  auto l = listen_tls(args);
  auto ok = connect_tls(l.port, {"--ca", pki.cert("ca"), "--sni", "localhost", "--cert", pki.cert("client"),
                                 "--key", pki.key("client")}, "mtls\n");
  EXPECT_EQ(ok.status, 0) << ok.err;
  EXPECT_EQ(ok.out, "mtls\n");
  auto none = connect_tls(l.port, {"--ca", pki.cert("ca"), "--sni", "localhost"}, "x\n");
  EXPECT_EQ(none.status, 1);
  EXPECT_NE(none.err.find("requires a client certificate"), std::string::npos) << none.err;
  auto stranger = connect_tls(l.port, {"--ca", pki.cert("ca"), "--sni", "localhost", "--cert",
                                       pki.cert("stranger"), "--key", pki.key("stranger")}, "x\n");
  EXPECT_EQ(stranger.status, 1);
  EXPECT_NE(stranger.err.find("rejected our certificate"), std::string::npos) << stranger.err;
}

TEST(TlsCli, json_events_carry_the_handshake_on_both_sides) {
  tt::TestPki pki;
  auto args = server_files(pki, "server");
  args.insert(args.end(), {"--echo", "--alpn", "http/1.1,echo"});
  auto l = listen_tls(args);
  auto r = connect_tls(l.port, {"--ca", pki.cert("ca"), "--sni", "localhost", "--alpn", "echo", "--json"}, "e\n");
  ASSERT_EQ(r.status, 0) << r.err;
  auto tls = find_event(json_events(r.err), "tls");
  ASSERT_TRUE(tls) << r.err;
  EXPECT_EQ(tls->at("version"), "TLSv1.3");
  EXPECT_FALSE(tls->at("cipher").empty());
  EXPECT_EQ(tls->at("alpn"), "echo");
  EXPECT_EQ(tls->at("sni"), "localhost");
  EXPECT_EQ(tls->at("peer_subject"), "CN=localhost");
  EXPECT_EQ(tls->at("peer_fingerprint"), "sha256:" + to_hex(*pki.identity("server").fingerprint()));
  EXPECT_GT(std::stod(tls->at("handshake_ms")), 0.0);
  auto line = l.process.wait_for_err_line("\"event\":\"tls\"");
  ASSERT_TRUE(line) << l.process.err();
  auto server_side = parse_json_object(*line);
  ASSERT_TRUE(server_side);
  EXPECT_EQ(server_side->at("sni"), "localhost");
  EXPECT_EQ(server_side->at("alpn"), "echo");
  EXPECT_EQ(server_side->count("peer"), 1u);
}

TEST(TlsCli, echo_mode_returns_ten_megabytes_byte_exact_after_half_close) {
  auto l = listen_tls({"--echo"});
  const std::string pin = ephemeral_pin(l.process);
  tt::TempPath in("tls-in");
  write_file(in.str(), random_bytes(10 * 1000 * 1000, 11));
  Process c = Process::start_with_input_file(
      {tether_path(), "connect", "--tls", "--tls-pin", pin, "127.0.0.1", std::to_string(l.port)}, in.str());
  EXPECT_EQ(c.wait(60s), 0) << c.err();
  EXPECT_EQ(sha256_file(c.out_path()), sha256_file(in.str())) << "received " << file_size(c.out_path());
}

TEST(TlsCli, chat_and_discard_modes_serve_tls_clients) {
  auto chat = listen_tls({"--chat"});
  const std::string pin = ephemeral_pin(chat.process);
  auto a = pinned_client(chat.port, pin);
  auto b = pinned_client(chat.port, pin);
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(chat.process.wait_for_err_line("\"accepted\"").has_value());
  // Both must be accepted before a line is broadcast: wait for the second accept.
  for (int i = 0; i < 200 && json_events(chat.process.err()).size() < 5; ++i) std::this_thread::sleep_for(10ms);
  ASSERT_TRUE(a->write_all("hello over tls\n", 5s));
  EXPECT_NE(read_line(*b).find("hello over tls"), std::string::npos);

  auto discard = listen_tls({"--discard"});
  auto d = pinned_client(discard.port, ephemeral_pin(discard.process));
  ASSERT_TRUE(d);
  ASSERT_TRUE(d->write_all(std::string(100000, 'x'), 5s));
  EXPECT_TRUE(d->close(5s));
  auto closed = discard.process.wait_for_err_line("\"closed\"");
  ASSERT_TRUE(closed) << discard.process.err();
  EXPECT_NE(closed->find("\"bytes_in\":100000"), std::string::npos) << *closed;
}

TEST(TlsCli, relay_mode_and_keep_open_serve_tls_clients_in_turn) {
  auto l = listen_tls({"-k"});  // stdin: /dev/null
  const std::string pin = ephemeral_pin(l.process);
  for (int i = 0; i < 2; ++i) {
    auto r = connect_tls(l.port, {"--tls-pin", pin}, "client " + std::to_string(i) + "\n");
    EXPECT_EQ(r.status, 0) << r.err;
  }
  EXPECT_TRUE(l.process.wait_for_out_size(18));
  EXPECT_EQ(l.process.out(), "client 0\nclient 1\n");

  Pipe in2;
  auto once = listen_tls({}, in2.read_fd);
  in2.close_read();
  ASSERT_TRUE(in2.write("from server\n"));
  in2.close_write();
  auto r = connect_tls(once.port, {"--tls-pin", ephemeral_pin(once.process)}, "from client\n");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "from server\n");
  EXPECT_EQ(once.process.wait(10s), 0) << once.process.err();
  EXPECT_EQ(once.process.out(), "from client\n");
}

TEST(TlsCli, relay_listen_reports_a_client_that_does_not_speak_tls) {
  auto l = listen_tls({});
  auto tcp = TcpStream::connect(Endpoint::ipv4_loopback(l.port), 5s);
  ASSERT_TRUE(tcp);
  ASSERT_TRUE(tcp->write_all("GET / HTTP/1.0\r\n\r\n", 5s));
  EXPECT_EQ(l.process.wait(10s), 1);
  EXPECT_NE(l.process.err().find("does not speak TLS"), std::string::npos) << l.process.err();
}

TEST(TlsCli, peer_closing_without_close_notify_is_reported_as_truncation) {
  ASSERT_TRUE(tt::have_program("python3"));
  tt::TestPki pki;
  // Python's SSLSocket.close() sends no close_notify.
  Process py = Process::start({"python3", "-c", R"(
import socket, ssl, sys
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[1], sys.argv[2])
ls = socket.create_server(('127.0.0.1', 0))
print('port', ls.getsockname()[1], file=sys.stderr, flush=True)
raw, _ = ls.accept()
s = ctx.wrap_socket(raw, server_side=True)
s.sendall(b'partial answer')
s.close()
)", pki.cert("server"), pki.key("server")});
  auto line = py.wait_for_err_line("port");
  ASSERT_TRUE(line) << py.err();
  const auto port = static_cast<std::uint16_t>(std::stoul(line->substr(5)));
  Pipe in;
  Process t = Process::start({tether_path(), "connect", "--tls", "--ca", pki.cert("ca"), "--sni", "localhost",
                              "127.0.0.1", std::to_string(port)}, in.read_fd);
  in.close_read();
  EXPECT_EQ(t.wait(10s), 1);
  EXPECT_EQ(t.out(), "partial answer");
  EXPECT_NE(t.err().find("truncated"), std::string::npos) << t.err();
}

TEST(TlsCli, tls_flags_that_cannot_apply_are_usage_errors) {
  const std::vector<std::vector<std::string>> bad = {
      {"connect", "--ca", "x.pem", "127.0.0.1", "1"},
      {"connect", "-k", "127.0.0.1", "1"},
      {"connect", "--tls", "-u", "127.0.0.1", "1"},
      {"connect", "--tls", "--tls-pin", "sha256:zz", "127.0.0.1", "1"},
      {"connect", "--tls", "--alpn", "a,,b", "127.0.0.1", "1"},
      {"connect", "--tls", "--cert", "c.pem", "127.0.0.1", "1"},
      {"listen", "--tls", "-u", "0"},
      {"listen", "--tls", "--sockperf", "0"},
      {"listen", "--client-ca", "ca.pem", "0"},
  };
  for (const auto& args : bad) {
    auto r = run_tether(args);
    EXPECT_EQ(r.status, 2) << args[1] << " " << args[2] << ": " << r.err;
    EXPECT_EQ(lines_of(r.err).size(), 1u) << r.err;
  }
  auto missing = run_tether({"listen", "--tls", "--cert", "/nonexistent.pem", "--key", "/nonexistent.key", "0"});
  EXPECT_EQ(missing.status, 1);
  EXPECT_NE(missing.err.find("/nonexistent.pem"), std::string::npos) << missing.err;
}
