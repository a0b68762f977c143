// splice_relay: the hand-written baseline for `tether relay` in make bench. A thread per direction
// of each connection, moving bytes socket -> pipe -> socket with splice(2) (no copy through user
// space), blocking calls only: about the least CPU per byte a TCP relay can spend.
//   splice_relay LISTEN_PORT TARGET_PORT      (both on 127.0.0.1)
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <thread>

static void pump(int from, int to) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) return;
  fcntl(p[1], F_SETPIPE_SZ, 1 << 20);
  for (;;) {
    ssize_t n = splice(from, nullptr, p[1], nullptr, 1 << 20, SPLICE_F_MOVE);
    if (n <= 0) break;
    while (n > 0) {
      ssize_t m = splice(p[0], nullptr, to, nullptr, static_cast<size_t>(n), SPLICE_F_MOVE);
      if (m <= 0) {
        n = -1;
        break;
      }
      n -= m;
    }
    if (n < 0) break;
  }
  shutdown(to, SHUT_WR);
  close(p[0]);
  close(p[1]);
}

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: splice_relay LISTEN_PORT TARGET_PORT\n");
    return 2;
  }
  sockaddr_in listen_at{};
  listen_at.sin_family = AF_INET;
  listen_at.sin_port = htons(static_cast<uint16_t>(std::atoi(argv[1])));
  listen_at.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sockaddr_in target = listen_at;
  target.sin_port = htons(static_cast<uint16_t>(std::atoi(argv[2])));
  int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(l, reinterpret_cast<sockaddr*>(&listen_at), sizeof listen_at) != 0 || listen(l, 1024) != 0) {
    std::perror("splice_relay: listen");
    return 1;
  }
  for (;;) {
    int c = accept4(l, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) continue;
    std::thread([c, target] {
      int u = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (connect(u, reinterpret_cast<const sockaddr*>(&target), sizeof target) != 0) {
        close(u);
        close(c);
        return;
      }
      std::thread back(pump, u, c);
      pump(c, u);
      back.join();
      close(u);
      close(c);
    }).detach();
  }
}
