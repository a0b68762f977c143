// relay_netcat.hpp: the netcat habits tether accepts (flags in options.cpp and connect.cpp):
//   -q SECS      after stdin's end, quit SECS later even if the peer has not closed (relay.hpp)
//   -C, --crlf   stdin's LF is sent as CRLF
//   -N           accepted as a no-op: FIN at stdin's end is already the default
//   -z           connect: probe PORT or a range LOW-HIGH without sending data; -v/--json print a
//                "probe" event per port; exit 0 when at least one port is open, else 1
//   -e CMD       listen: as --exec (relay_listen_exec.hpp)
#pragma once

#include "events.hpp"
#include "options.hpp"

#include <string>

namespace tether::cli {

/// connect -z HOST PORT|LOW-HIGH. UsageError for a bad range or -u.
int probe_ports(const std::string& host, const std::string& ports, const CommonOptions& common,
                const EventLog& log);

}  // namespace tether::cli
