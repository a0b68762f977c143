// tether/tether.hpp: the whole public API of libtether in one include.
//
//   synchronous sockets   endpoint, resolve, socket, tcp, udp, datagram_batch, deadline, error
//   async (event loops)   event_loop, task, when (when_all/when_any/with_timeout), timer,
//                         async_tcp (Happy Eyeballs connect), async_udp, linger
//   servers               server, connection, cidr (access lists), port_group, accept_guard
//   codecs and buffers    buffer, codec, codec_line, codec_length, sockperf
//   inspection            sock_diag, tcp_segment
// Each header also compiles on its own, for code that wants less.
#pragma once

#include <tether/accept_guard.hpp>
#include <tether/async_tcp.hpp>
#include <tether/async_tls.hpp>
#include <tether/async_udp.hpp>
#include <tether/buffer.hpp>
#include <tether/cidr.hpp>
#include <tether/codec.hpp>
#include <tether/codec_length.hpp>
#include <tether/codec_line.hpp>
#include <tether/connection.hpp>
#include <tether/datagram_batch.hpp>
#include <tether/deadline.hpp>
#include <tether/endpoint.hpp>
#include <tether/error.hpp>
#include <tether/event_loop.hpp>
#include <tether/linger.hpp>
#include <tether/port_group.hpp>
#include <tether/proxy.hpp>
#include <tether/resolve.hpp>
#include <tether/server.hpp>
#include <tether/sock_diag.hpp>
#include <tether/socket.hpp>
#include <tether/sockperf.hpp>
#include <tether/task.hpp>
#include <tether/tcp.hpp>
#include <tether/tcp_segment.hpp>
#include <tether/tls.hpp>
#include <tether/timer.hpp>
#include <tether/udp.hpp>
#include <tether/version.hpp>
#include <tether/when.hpp>

#pragma GCC visibility push(default)  // the public API (the shared library hides the rest)

#pragma GCC visibility pop
