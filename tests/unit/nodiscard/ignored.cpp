// Compiled by the nodiscard.* tests (tests/unit/CMakeLists.txt), never linked: every fallible call
// below drops its Result/Status, which [[nodiscard]] turns into a diagnostic. With
// -DTETHER_CHECKED each result is used, and the file compiles cleanly.
#include <tether/tether.hpp>

#ifdef TETHER_CHECKED
#define DROP (void)
#else
#define DROP
#endif

void drops(tether::TcpStream& stream, tether::UdpSocket& udp, tether::Connection& conn) {
  DROP stream.socket().set_no_delay(true);
  DROP stream.shutdown(tether::Shutdown::write);
  DROP tether::TcpStream::connect(tether::Endpoint::ipv4_loopback(80));
  DROP tether::Endpoint::parse("127.0.0.1:80");
  DROP udp.send("x");
  DROP conn.send("x");
}
