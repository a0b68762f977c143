// tether/linger.hpp: closing a stream without destroying the reply still in flight.
//
// close() on a TCP socket whose receive queue still holds unread bytes makes the kernel answer
// with a reset instead of a FIN (RFC 2525, 2.17), and the reset throws away everything the peer
// has not read yet. So a server that replies and closes while some of the client's request is
// still unread (a pipelined request, an upload it refused) destroys its own reply, and the client
// sees ECONNRESET instead of the answer and a clean end of stream.
//
// linger_close() is the lingering close of HTTP servers: shutdown(write), so the reply is followed
// by a FIN; then read and drop whatever the peer still sends, until its end of stream, an error, or
// `linger` has passed; then close. The time bound keeps a peer that never stops sending from
// holding the connection: after it the stream is closed as it is (a reset, if input is unread).
//
//   co_await linger_close(std::move(stream), 2s);   // Status: ok once the peer ended cleanly
//
// Result: ok when the peer ended its side (read 0); its error (ECONNRESET...); std::errc::timed_out
// when `linger` passed first. The stream is closed in every case. Threads: the stream's loop thread.
#pragma once

#include <tether/async_tcp.hpp>
#include <tether/error.hpp>
#include <tether/task.hpp>

#include <chrono>

#pragma GCC visibility push(default)  // the public API (the shared library hides the rest)

namespace tether {

Task<Status> linger_close(AsyncTcpStream stream,
                          std::chrono::milliseconds linger = std::chrono::seconds(2));

}  // namespace tether

#pragma GCC visibility pop
