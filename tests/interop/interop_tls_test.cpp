// tether --tls with real TLS peers: openssl s_client / s_server, socat OPENSSL and Python's ssl
// module, 10 MB each way compared by SHA-256, certificates verified against a test CA.
#include "interop_support.hpp"
#include "tls_pki.hpp"
#include "../cli/tls_support.hpp"

namespace {

using namespace tether::testing::interop;
using tether::testing::TestPki;
using tether::testing::have_program;

/// `tether listen --tls` with the test CA's server certificate, sending `file` to its client.
Process tether_listen_tls(const TestPki& pki, const std::string& file) {
  return Process::start_with_input_file({tether_path(), "listen", "--tls", "--cert", pki.cert("server"), "--key",
                                         pki.key("server"), "--json", "127.0.0.1", "0"},
                                        file);
}

/// `tether connect --tls` to 127.0.0.1:port, verifying the server against the test CA as localhost.
Argv tether_connect_tls(const TestPki& pki, std::uint16_t port) {
  return {tether_path(), "connect", "--tls", "--ca", pki.cert("ca"), "--sni", "localhost", "127.0.0.1",
          std::to_string(port)};
}

constexpr const char* py_prelude = R"(
import hashlib, socket, ssl, sys
)";

// Python TLS client: verifies against the CA, receives until close_notify, prints the SHA-256.
constexpr const char* py_receiver = R"(
ctx = ssl.create_default_context(cafile=sys.argv[2])
with socket.create_connection(('127.0.0.1', int(sys.argv[1]))) as raw:
    s = ctx.wrap_socket(raw, server_hostname='localhost')
    h = hashlib.sha256()
    while True:
        b = s.recv(65536)
        if not b: break
        h.update(b)
    s.unwrap()
    print(h.hexdigest())
)";

// Python TLS server: sends the file, then close_notify (unwrap) and waits for the peer's.
constexpr const char* py_sender = R"(
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[2], sys.argv[3])
ls = socket.create_server(('127.0.0.1', 0))
print('port', ls.getsockname()[1], file=sys.stderr, flush=True)
raw, _ = ls.accept()
s = ctx.wrap_socket(raw, server_side=True)
with open(sys.argv[1], 'rb') as f:
    s.sendall(f.read())
s.unwrap()
s.close()
)";

TEST(interop_tls, tether_listen_tls_sends_10mb_to_openssl_s_client) {
  ASSERT_TRUE(have_program("openssl"));
  TestPki pki;
  BigFile big;
  Process t = tether_listen_tls(pki, big.path.str());
  const std::uint16_t port = port_of(listening_endpoint(t));
  ASSERT_NE(port, 0) << t.err();
  Process p = Process::start({"openssl", "s_client", "-connect", "127.0.0.1:" + std::to_string(port),
                              "-servername", "localhost", "-verify_hostname", "localhost", "-CAfile",
                              pki.cert("ca"), "-verify_return_error", "-quiet"});
  EXPECT_EQ(p.wait(60s), 0) << p.err();
  EXPECT_EQ(t.wait(10s), 0) << t.err();
  EXPECT_EQ(sha256_file(p.out_path()), big.sha) << "received " << file_size(p.out_path());
}

TEST(interop_tls, tether_connect_tls_sends_10mb_to_openssl_s_server) {
  ASSERT_TRUE(have_program("openssl"));
  TestPki pki;
  BigFile big;
  const std::uint16_t port = free_port();
  Pipe in;  // s_server's stdin stays open: its end would end the session early
  Process p = Process::start({"openssl", "s_server", "-accept", "127.0.0.1:" + std::to_string(port), "-cert",
                              pki.cert("server"), "-key", pki.key("server"), "-quiet"},
                             in.read_fd);
  in.close_read();
  ASSERT_TRUE(wait_listening(port)) << p.err();  // s_server logs the probe's failed handshake and goes on
  Process t = Process::start_with_input_file(tether_connect_tls(pki, port), big.path.str());
  EXPECT_EQ(t.wait(60s), 0) << t.err();
  EXPECT_EQ(sha256_file(p.out_path()), big.sha) << "received " << file_size(p.out_path());
}

TEST(interop_tls, socat_openssl_receives_10mb_from_tether_listen_tls) {
  ASSERT_TRUE(have_program("socat"));
  TestPki pki;
  BigFile big;
  Process t = tether_listen_tls(pki, big.path.str());
  const std::uint16_t port = port_of(listening_endpoint(t));
  ASSERT_NE(port, 0) << t.err();
  Process p = Process::start({"socat", "-u", "OPENSSL:localhost:" + std::to_string(port) + ",cafile=" + pki.cert("ca") +
                                                 ",verify=1,pf=ip4",
                              "STDOUT"});
  EXPECT_EQ(p.wait(60s), 0) << p.err();
  EXPECT_EQ(sha256_file(p.out_path()), big.sha) << "received " << file_size(p.out_path());
  EXPECT_NE(t.wait(10s), -1) << t.err();
}

TEST(interop_tls, tether_connect_tls_sends_10mb_to_socat_openssl_listen) {
  ASSERT_TRUE(have_program("socat"));
  TestPki pki;
  BigFile big;
  Process p = Process::start({"socat", "-d", "-d", "-u",
                              "OPENSSL-LISTEN:0,bind=127.0.0.1,cert=" + pki.cert("server") + ",key=" + pki.key("server") +
                                  ",verify=0",
                              "STDOUT"});
  const std::uint16_t port = peer_port(p, "listening on");
  ASSERT_NE(port, 0) << p.err();
  Process t = Process::start_with_input_file(tether_connect_tls(pki, port), big.path.str());
  EXPECT_EQ(p.wait(60s), 0) << p.err();
  EXPECT_EQ(sha256_file(p.out_path()), big.sha) << "received " << file_size(p.out_path());
  EXPECT_NE(t.wait(10s), -1) << t.err();
}

TEST(interop_tls, python_ssl_client_receives_10mb_from_tether_listen_tls) {
  ASSERT_TRUE(have_program("python3"));
  TestPki pki;
  BigFile big;
  Process t = tether_listen_tls(pki, big.path.str());
  const std::uint16_t port = port_of(listening_endpoint(t));
  ASSERT_NE(port, 0) << t.err();
  Process p = Process::start({"python3", "-c", std::string(py_prelude) + py_receiver, std::to_string(port), pki.cert("ca")});
  EXPECT_EQ(p.wait(60s), 0) << p.err();
  EXPECT_EQ(p.out(), big.sha + "\n");
  EXPECT_EQ(t.wait(10s), 0) << t.err();
}

TEST(interop_tls, tether_connect_tls_receives_10mb_from_python_ssl_server) {
  ASSERT_TRUE(have_program("python3"));
  TestPki pki;
  BigFile big;
  Process p = Process::start({"python3", "-c", std::string(py_prelude) + py_sender, big.path.str(), pki.cert("server"),
                              pki.key("server")});
  const std::uint16_t port = peer_port(p, "port");
  ASSERT_NE(port, 0) << p.err();
  Pipe in;
  Process t = Process::start(tether_connect_tls(pki, port), in.read_fd);
  in.close_read();
  EXPECT_TRUE(t.wait_for_out_size(10 * 1000 * 1000, 60s)) << "received " << file_size(t.out_path());
  in.close_write();
  EXPECT_EQ(t.wait(10s), 0) << t.err();
  EXPECT_EQ(p.wait(10s), 0) << p.err();
  EXPECT_EQ(sha256_file(t.out_path()), big.sha);
}

}  // namespace
