// tether/port_group.hpp: one port served by several event loops, and by nobody else.
//
//   auto listeners = listen_shared(Endpoint::ipv4_any(7000), 4);  // 4 handles on ONE socket
//   for (i...) loops[i] gets AsyncTcpListener::adopt(loop_i, std::move((*listeners)[i]))
//
// Each handle is a dup() of one listening (or bound UDP) socket made WITHOUT SO_REUSEPORT, so the
// bind fails with EADDRINUSE ("address already in use") when anything already holds the port: a
// second tether, or any process, even one with SO_REUSEPORT set; and, once bound, no other socket
// can join the port (SO_REUSEPORT groups need every member to ask for it). Every loop waits on
// the same socket: the kernel hands each connection (or datagram) to one of them, whichever is
// free. UDP sockets never get SO_REUSEADDR (for UDP it would let a stranger bind the port too).
// Closing: the socket stays open until every handle is closed.
// Threads: plain functions; each handle then belongs to the loop it is adopted by.
#pragma once

#include <tether/endpoint.hpp>
#include <tether/error.hpp>
#include <tether/tcp.hpp>
#include <tether/udp.hpp>

#include <cstddef>
#include <vector>

#pragma GCC visibility push(default)  // the public API (the shared library hides the rest)

namespace tether {

/// `count` (>= 1) handles on one listening socket bound to `local`; options.reuse_port is ignored
/// (never set). Unix stream paths work too.
Result<std::vector<TcpListener>> listen_shared(const Endpoint& local, std::size_t count,
                                               ListenOptions options = {});

/// `count` (>= 1) handles on one UDP (or Unix datagram) socket bound to `local`; reuse_port and
/// reuse_address in `options` are ignored (never set).
Result<std::vector<UdpSocket>> bind_shared(const Endpoint& local, std::size_t count,
                                           UdpBindOptions options = {});

}  // namespace tether

#pragma GCC visibility pop
