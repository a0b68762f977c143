// src/async/linger.cpp: the lingering close (tether/linger.hpp).
#include <tether/deadline.hpp>
#include <tether/linger.hpp>

#include <utility>

namespace tether {

Task<Status> linger_close(AsyncTcpStream stream, std::chrono::milliseconds linger) {
  if (!stream.is_open()) co_return fail(Errc::closed);
  // FIN after the bytes already queued. Fails only when the connection is already gone (then
  // there is nothing left to protect).
  if (auto s = stream.shutdown(Shutdown::write); !s) {
    stream.close();
    co_return s;
  }
  const Deadline until(linger);
  Status outcome;
  for (;;) {
    auto r = co_await stream.read_borrowed(until);  // dropped: nobody reads it any more
    if (!r) {
      outcome = fail(r.error());
      break;
    }
    if (r->empty()) break;  // the peer's end: closing now sends no reset
  }
  stream.close();
  co_return outcome;
}

}  // namespace tether
