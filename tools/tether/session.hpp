// session.hpp: the events and the exit status around one relayed connection, shared by connect
// and listen (and by later serving modes).
#pragma once

#include "events.hpp"
#include "relay.hpp"

#include <tether/endpoint.hpp>
#include <tether/tcp.hpp>

#include <string>
#include <string_view>

namespace tether::cli {

/// "connected" / "accepted": the 5-tuple (proto, local, peer). An unknown endpoint prints as "",
/// an unnamed Unix peer as "unix:" (Event::endpoint_text).
void emit_endpoints(const EventLog& log, std::string_view event, std::string_view proto,
                    const Result<Endpoint>& local, const Result<Endpoint>& peer);

/// "closed": the 5-tuple (as taken when the connection began), bytes each way, duration, who
/// closed first; for TCP the kernel's rtt and retransmits. `stream` may be null (datagrams, Unix
/// streams have no TCP_INFO).
void emit_closed(const EventLog& log, std::string_view proto, const Result<Endpoint>& local,
                 const Result<Endpoint>& peer, const RelayStats& stats, const TcpStream* stream);

/// The one-line message for a relay that ended on an error, e.g.
/// "connection to 127.0.0.1:80 reset: connection reset by peer".
std::string describe_failure(const RelayStats& stats);

/// Prints the failure (if any) and returns the exit status: 0 for a clean end, else 1.
int finish_relay(const EventLog& log, const RelayStats& stats);

}  // namespace tether::cli
