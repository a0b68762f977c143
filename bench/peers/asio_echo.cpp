// asio_echo PORT: an Asio (standalone, Debian's libasio-dev) C++20 coroutine TCP echo server on
// 0.0.0.0:PORT, written the way Asio's own examples write one: one io_context on one thread, one
// coroutine per connection doing async_read_some then async_write of what arrived.
// Prints nothing but errors.
#include <asio.hpp>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/use_awaitable.hpp>

#include <cstdio>
#include <cstdlib>

using asio::ip::tcp;

namespace {

asio::awaitable<void> echo(tcp::socket socket) {
  char data[64 * 1024];
  try {
    for (;;) {
      std::size_t n = co_await socket.async_read_some(asio::buffer(data), asio::use_awaitable);
      co_await asio::async_write(socket, asio::buffer(data, n), asio::use_awaitable);
    }
  } catch (const std::system_error& e) {
    if (e.code() != asio::error::eof && e.code() != asio::error::connection_reset &&
        e.code() != asio::error::broken_pipe) {
      std::fprintf(stderr, "asio_echo: %s\n", e.what());
    }
  }
}

asio::awaitable<void> listener(unsigned short port) {
  auto executor = co_await asio::this_coro::executor;
  tcp::acceptor acceptor(executor);
  tcp::endpoint endpoint(tcp::v4(), port);
  acceptor.open(endpoint.protocol());
  acceptor.set_option(tcp::acceptor::reuse_address(true));
  acceptor.bind(endpoint);
  acceptor.listen(4096);
  for (;;) {
    tcp::socket socket = co_await acceptor.async_accept(asio::use_awaitable);
    socket.set_option(tcp::no_delay(true));
    asio::co_spawn(executor, echo(std::move(socket)), asio::detached);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: asio_echo PORT\n");
    return 2;
  }
  try {
    asio::io_context io(1);
    asio::co_spawn(io, listener(static_cast<unsigned short>(std::atoi(argv[1]))), asio::detached);
    io.run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "asio_echo: %s\n", e.what());
    return 1;
  }
}
