// libuv_echo PORT: a libuv (Debian's libuv1-dev) TCP echo server on 0.0.0.0:PORT, single loop, as
// libuv's own benchmark servers are written, with the usual fast path: echo with uv_try_write()
// from the read buffer, and only when the socket is full copy the rest into a uv_write request
// (reading paused until it completes). Prints nothing but errors.
#include <uv.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

constexpr size_t kBuf = 64 * 1024;
char g_buf[kBuf];  // one loop, one thread: every read lands here and is echoed at once

struct WriteReq {
  uv_write_t req;
  uv_buf_t buf;
};

void on_close(uv_handle_t* handle) { std::free(handle); }

void on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);

void on_write(uv_write_t* req, int status) {
  auto* w = reinterpret_cast<WriteReq*>(req);
  uv_stream_t* stream = req->handle;
  std::free(w->buf.base);
  std::free(w);
  if (status < 0) {
    if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(stream))) uv_close(reinterpret_cast<uv_handle_t*>(stream), on_close);
    return;
  }
  uv_read_start(stream, [](uv_handle_t*, size_t, uv_buf_t* b) { *b = uv_buf_init(g_buf, kBuf); }, on_read);
}

void on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  if (nread < 0) {
    if (nread != UV_EOF && nread != UV_ECONNRESET) std::fprintf(stderr, "libuv_echo: read: %s\n", uv_strerror(static_cast<int>(nread)));
    uv_close(reinterpret_cast<uv_handle_t*>(stream), on_close);
    return;
  }
  if (nread == 0) return;
  uv_buf_t out = uv_buf_init(buf->base, static_cast<unsigned>(nread));
  int n = uv_try_write(stream, &out, 1);
  if (n == nread) return;
  if (n < 0 && n != UV_EAGAIN) {
    uv_close(reinterpret_cast<uv_handle_t*>(stream), on_close);
    return;
  }
  size_t done = n > 0 ? static_cast<size_t>(n) : 0;
  auto* w = static_cast<WriteReq*>(std::malloc(sizeof(WriteReq)));
  size_t rest = static_cast<size_t>(nread) - done;
  w->buf = uv_buf_init(static_cast<char*>(std::malloc(rest)), static_cast<unsigned>(rest));
  std::memcpy(w->buf.base, buf->base + done, rest);
  uv_read_stop(stream);
  uv_write(&w->req, stream, &w->buf, 1, on_write);
}

void on_connection(uv_stream_t* server, int status) {
  if (status < 0) {
    std::fprintf(stderr, "libuv_echo: accept: %s\n", uv_strerror(status));
    return;
  }
  auto* client = static_cast<uv_tcp_t*>(std::malloc(sizeof(uv_tcp_t)));
  uv_tcp_init(server->loop, client);
  if (uv_accept(server, reinterpret_cast<uv_stream_t*>(client)) != 0) {
    uv_close(reinterpret_cast<uv_handle_t*>(client), on_close);
    return;
  }
  uv_tcp_nodelay(client, 1);
  uv_read_start(reinterpret_cast<uv_stream_t*>(client),
                [](uv_handle_t*, size_t, uv_buf_t* b) { *b = uv_buf_init(g_buf, kBuf); }, on_read);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: libuv_echo PORT\n");
    return 2;
  }
  uv_loop_t* loop = uv_default_loop();
  uv_tcp_t server;
  uv_tcp_init(loop, &server);
  sockaddr_in addr{};
  uv_ip4_addr("0.0.0.0", std::atoi(argv[1]), &addr);
  int rc = uv_tcp_bind(&server, reinterpret_cast<const sockaddr*>(&addr), 0);
  if (rc == 0) rc = uv_listen(reinterpret_cast<uv_stream_t*>(&server), 4096, on_connection);
  if (rc != 0) {
    std::fprintf(stderr, "libuv_echo: listen: %s\n", uv_strerror(rc));
    return 1;
  }
  return uv_run(loop, UV_RUN_DEFAULT);
}
