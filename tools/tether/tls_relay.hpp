// tls_relay.hpp: relay_stream() (relay.hpp) for a TlsStream: the same contract (both directions
// at once, stdin's end sends close_notify and FIN and the relay reads on until the peer's
// close_notify, idle timeout), with TLS's own ends: the peer's close_notify is its clean end, a
// close without one is TlsErrc::tls_truncated.
#pragma once

#include "relay.hpp"

#include <tether/tls.hpp>

namespace tether::cli {

RelayStats relay_tls(TlsStream& stream, const StreamRelayOptions& options);

}  // namespace tether::cli
