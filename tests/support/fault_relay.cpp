#include "fault_relay.hpp"

#include <sys/socket.h>

#include <random>

namespace tether::testing {

using namespace std::chrono_literals;

FaultRelay::FaultRelay(Endpoint target, FaultOptions options)
    : target_(std::move(target)), options_(options) {
  auto l = TcpListener::bind(Endpoint::ipv4_loopback(0));
  if (!l) throw std::system_error(l.error(), "fault relay bind");
  listener_ = std::move(*l);
  local_ = *listener_.local_endpoint();
  acceptor_ = std::thread([this] { accept_loop(); });
}

FaultRelay::~FaultRelay() {
  stopping_ = true;
  acceptor_.join();
  {
    std::lock_guard lock(mu_);
    for (auto& s : streams_) (void)s->shutdown(Shutdown::both);  // wakes pumps blocked in read
  }
  for (auto& t : pumps_) t.join();
}

void FaultRelay::accept_loop() {
  unsigned seed = 1;
  while (!stopping_) {
    auto a = listener_.accept(50ms);
    if (!a) continue;  // timed out: check stopping_
    auto upstream = TcpStream::connect(target_, 5s);
    if (!upstream) continue;  // the client sees a close
    ++connections_;
    std::lock_guard lock(mu_);
    TcpStream* c = streams_.emplace_back(std::make_unique<TcpStream>(std::move(a->stream))).get();
    TcpStream* s = streams_.emplace_back(std::make_unique<TcpStream>(std::move(*upstream))).get();
    pumps_.emplace_back([this, c, s, seed] { pump(*c, *s, true, seed); });
    pumps_.emplace_back([this, c, s, seed] { pump(*s, *c, false, seed + 7); });
    seed += 13;
  }
}

void FaultRelay::pump(TcpStream& from, TcpStream& to, bool client_to_server, unsigned seed) {
  std::mt19937 rng(seed);
  std::vector<std::byte> buf(64 * 1024);
  std::size_t forwarded = 0;
  for (;;) {
    auto n = from.read_some(buf, 200ms);
    if (!n) {
      if (n.error() == std::errc::timed_out && !stopping_) continue;
      (void)to.shutdown(Shutdown::both);
      return;
    }
    if (*n == 0) {  // clean end of stream: pass the FIN on
      (void)to.shutdown(Shutdown::write);
      return;
    }
    std::span<const std::byte> data(buf.data(), *n);
    while (!data.empty()) {
      std::size_t piece = data.size();
      if (options_.chunk_max > 0) {
        std::uniform_int_distribution<std::size_t> dist(options_.chunk_min, options_.chunk_max);
        piece = std::min(data.size(), std::max<std::size_t>(1, dist(rng)));
      }
      if (client_to_server && options_.reset_after > 0 && forwarded + piece >= options_.reset_after) {
        // connect(AF_UNSPEC) aborts a TCP connection with a RST and keeps the fd valid, so the
        // other pump (blocked on these sockets) wakes with an error instead of racing a close().
        sockaddr unspec{};
        unspec.sa_family = AF_UNSPEC;
        ::connect(from.socket().fd(), &unspec, sizeof unspec);
        ::connect(to.socket().fd(), &unspec, sizeof unspec);
        return;
      }
      if (options_.delay.count() > 0) std::this_thread::sleep_for(options_.delay);
      if (!to.write_all(data.first(piece), 5s)) {
        (void)from.shutdown(Shutdown::both);
        return;
      }
      forwarded += piece;
      data = data.subspan(piece);
    }
  }
}

}  // namespace tether::testing
