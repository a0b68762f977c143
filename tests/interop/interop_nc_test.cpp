// tether with OpenBSD netcat (netcat-openbsd), both directions, TCP and UDP.
#include "interop_support.hpp"

namespace {

using namespace tether::testing::interop;

Peer nc() {
  Peer p;
  p.program = "nc";
  p.tcp_receiver_client = [](std::uint16_t port) { return Argv{"nc", "-N", "127.0.0.1", std::to_string(port)}; };
  p.tcp_sender_client = p.tcp_receiver_client;  // -N: FIN after the end of stdin
  p.tcp_receiver_listener = {"nc", "-v", "-N", "-l", "127.0.0.1", "0"};
  p.tcp_sender_listener = p.tcp_receiver_listener;
  p.udp_listener = {"nc", "-v", "-u", "-l", "127.0.0.1", "0"};
  p.udp_client = [](std::uint16_t port) { return Argv{"nc", "-u", "127.0.0.1", std::to_string(port)}; };
  p.port_line = " on ";  // "Listening on localhost 40123" / "Bound on localhost 40123"
  return p;
}

TEST(interop_nc, tether_listen_sends_10mb_to_nc) { tether_listen_sends(nc()); }
TEST(interop_nc, nc_sends_10mb_to_tether_listen) { tether_listen_receives(nc()); }
TEST(interop_nc, tether_connect_sends_10mb_to_nc_listen) { tether_connect_sends(nc()); }
TEST(interop_nc, nc_listen_sends_10mb_to_tether_connect) { tether_connect_receives(nc()); }
TEST(interop_nc, udp_tether_connect_to_nc_and_back) { tether_udp_client(nc()); }
TEST(interop_nc, udp_nc_to_tether_listen_and_back) { tether_udp_server(nc()); }

}  // namespace
