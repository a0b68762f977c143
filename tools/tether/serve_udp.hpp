// serve_udp.hpp: tether listen --echo -u / --discard -u: datagram servers on --threads loops, all
// reading one socket bound without SO_REUSEPORT (tether/port_group.hpp; Unix datagram: one loop). --allow/--deny filter the
// senders. SIGINT/SIGTERM end it with a summary event (-v/--json) and status 0.
#pragma once

#include "listen.hpp"

namespace tether::cli {

enum class UdpMode { echo, discard };

int serve_udp(const ListenSettings& settings, UdpMode mode);

}  // namespace tether::cli
