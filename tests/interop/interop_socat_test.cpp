// tether with socat, both directions, TCP and UDP.
#include "interop_support.hpp"

namespace {

using namespace tether::testing::interop;

Peer socat() {
  Peer p;
  p.program = "socat";
  p.tcp_receiver_client = [](std::uint16_t port) {
    return Argv{"socat", "-u", "TCP:127.0.0.1:" + std::to_string(port), "STDOUT"};
  };
  p.tcp_sender_client = [](std::uint16_t port) {
    return Argv{"socat", "-u", "STDIN", "TCP:127.0.0.1:" + std::to_string(port)};
  };
  // -d -d makes socat log "listening on AF=2 127.0.0.1:PORT".
  p.tcp_receiver_listener = {"socat", "-d", "-d", "-u", "TCP-LISTEN:0,bind=127.0.0.1", "STDOUT"};
  p.tcp_sender_listener = {"socat", "-d", "-d", "-U", "TCP-LISTEN:0,bind=127.0.0.1", "STDIN"};
  p.udp_listener = {"socat", "-d", "-d", "UDP-LISTEN:0,bind=127.0.0.1", "STDIO"};
  p.udp_client = [](std::uint16_t port) {
    return Argv{"socat", "STDIO", "UDP:127.0.0.1:" + std::to_string(port)};
  };
  p.port_line = "listening on";
  return p;
}

TEST(interop_socat, tether_listen_sends_10mb_to_socat) { tether_listen_sends(socat()); }
TEST(interop_socat, socat_sends_10mb_to_tether_listen) { tether_listen_receives(socat()); }
TEST(interop_socat, tether_connect_sends_10mb_to_socat_listen) { tether_connect_sends(socat()); }
TEST(interop_socat, socat_listen_sends_10mb_to_tether_connect) { tether_connect_receives(socat()); }
TEST(interop_socat, udp_tether_connect_to_socat_and_back) { tether_udp_client(socat()); }
TEST(interop_socat, udp_socat_to_tether_listen_and_back) { tether_udp_server(socat()); }

}  // namespace
