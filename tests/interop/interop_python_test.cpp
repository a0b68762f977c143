// tether with Python's socket module (python3 -c), both directions, TCP and UDP.
#include "interop_support.hpp"

namespace {

using namespace tether::testing::interop;

// Each script takes the port (0 for listeners) as argv[1]; listeners print "port N" on stderr.
constexpr const char* prelude =
    "import socket, sys\n"
    "def drain(s):\n"
    "    while True:\n"
    "        b = s.recv(65536)\n"
    "        if not b: return\n"
    "        sys.stdout.buffer.write(b)\n"
    "def listen(kind):\n"
    "    s = socket.socket(socket.AF_INET, kind)\n"
    "    s.bind(('127.0.0.1', 0))\n"
    "    if kind == socket.SOCK_STREAM: s.listen(1)\n"
    "    print('port', s.getsockname()[1], file=sys.stderr, flush=True)\n"
    "    return s\n";

Argv python(const std::string& body, std::uint16_t port = 0) {
  return Argv{"python3", "-c", std::string(prelude) + body, std::to_string(port)};
}

// Receives until FIN; sends nothing but its own FIN when stdin (empty) ends.
const std::string receiver_client =
    "s = socket.create_connection(('127.0.0.1', int(sys.argv[1])))\n"
    "s.shutdown(socket.SHUT_WR)\n"
    "drain(s)\n";
// Sends stdin, FIN, then reads until the peer's FIN.
const std::string sender_client =
    "s = socket.create_connection(('127.0.0.1', int(sys.argv[1])))\n"
    "s.sendall(sys.stdin.buffer.read())\n"
    "s.shutdown(socket.SHUT_WR)\n"
    "drain(s)\n";
const std::string receiver_listener =
    "c, _ = listen(socket.SOCK_STREAM).accept()\n"
    "drain(c)\n";
const std::string sender_listener =
    "c, _ = listen(socket.SOCK_STREAM).accept()\n"
    "c.sendall(sys.stdin.buffer.read())\n"
    "c.shutdown(socket.SHUT_WR)\n"
    "drain(c)\n";
// Prints one datagram, answers it with one line of stdin.
const std::string udp_listener =
    "s = listen(socket.SOCK_DGRAM)\n"
    "data, peer = s.recvfrom(65536)\n"
    "sys.stdout.buffer.write(data); sys.stdout.flush()\n"
    "s.sendto(sys.stdin.buffer.readline(), peer)\n";
// Sends one line of stdin, prints the answer.
const std::string udp_client =
    "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
    "s.settimeout(10)\n"
    "s.sendto(sys.stdin.buffer.readline(), ('127.0.0.1', int(sys.argv[1])))\n"
    "sys.stdout.buffer.write(s.recv(65536)); sys.stdout.flush()\n";

Peer py() {
  Peer p;
  p.program = "python3";
  p.tcp_receiver_client = [](std::uint16_t port) { return python(receiver_client, port); };
  p.tcp_sender_client = [](std::uint16_t port) { return python(sender_client, port); };
  p.tcp_receiver_listener = python(receiver_listener);
  p.tcp_sender_listener = python(sender_listener);
  p.udp_listener = python(udp_listener);
  p.udp_client = [](std::uint16_t port) { return python(udp_client, port); };
  p.port_line = "port ";
  return p;
}

TEST(interop_python, tether_listen_sends_10mb_to_python) { tether_listen_sends(py()); }
TEST(interop_python, python_sends_10mb_to_tether_listen) { tether_listen_receives(py()); }
TEST(interop_python, tether_connect_sends_10mb_to_python_listen) { tether_connect_sends(py()); }
TEST(interop_python, python_listen_sends_10mb_to_tether_connect) { tether_connect_receives(py()); }
TEST(interop_python, udp_tether_connect_to_python_and_back) { tether_udp_client(py()); }
TEST(interop_python, udp_python_to_tether_listen_and_back) { tether_udp_server(py()); }

}  // namespace
