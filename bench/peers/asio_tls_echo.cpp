// asio_tls_echo PORT CERT KEY: an Asio (standalone, Debian's libasio-dev) SSL echo server on
// 127.0.0.1:PORT over OpenSSL, written the way Asio's own examples write one: one io_context on
// one thread, one C++20 coroutine per connection: async_handshake, then async_read_some and
// async_write of what arrived, then async_shutdown (close_notify) when the client sends its own.
// TLS 1.2 minimum as tether's server; the client chooses the cipher (the bench forces TLS 1.3,
// TLS_AES_128_GCM_SHA256). Prints nothing but unexpected errors.
#include <asio.hpp>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/ssl.hpp>
#include <asio/use_awaitable.hpp>

#include <cstdio>
#include <cstdlib>

using asio::ip::tcp;

namespace {

bool expected(const std::error_code& ec) {
  return ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
         ec == asio::error::operation_aborted || ec == asio::ssl::error::stream_truncated;
}

asio::awaitable<void> echo(asio::ssl::stream<tcp::socket> stream) {
  char data[16 * 1024];
  try {
    co_await stream.async_handshake(asio::ssl::stream_base::server, asio::use_awaitable);
    for (;;) {
      std::size_t n = co_await stream.async_read_some(asio::buffer(data), asio::use_awaitable);
      co_await asio::async_write(stream, asio::buffer(data, n), asio::use_awaitable);
    }
  } catch (const std::system_error& e) {
    if (e.code() != asio::error::eof) {
      if (!expected(e.code())) std::fprintf(stderr, "asio_tls_echo: %s\n", e.what());
      co_return;
    }
  }
  // The client's close_notify (eof): answer with ours.
  std::error_code ec;
  co_await stream.async_shutdown(asio::redirect_error(asio::use_awaitable, ec));
}

asio::awaitable<void> listener(unsigned short port, asio::ssl::context& ctx) {
  auto executor = co_await asio::this_coro::executor;
  tcp::acceptor acceptor(executor);
  tcp::endpoint endpoint(asio::ip::make_address_v4("127.0.0.1"), port);
  acceptor.open(endpoint.protocol());
  acceptor.set_option(tcp::acceptor::reuse_address(true));
  acceptor.bind(endpoint);
  acceptor.listen(4096);
  for (;;) {
    tcp::socket socket = co_await acceptor.async_accept(asio::use_awaitable);
    socket.set_option(tcp::no_delay(true));
    asio::co_spawn(executor, echo(asio::ssl::stream<tcp::socket>(std::move(socket), ctx)), asio::detached);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: asio_tls_echo PORT CERT KEY\n");
    return 2;
  }
  try {
    asio::ssl::context ctx(asio::ssl::context::tls_server);
    ctx.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                    asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                    asio::ssl::context::no_tlsv1_1);
    ctx.use_certificate_chain_file(argv[2]);
    ctx.use_private_key_file(argv[3], asio::ssl::context::pem);
    asio::io_context io(1);
    asio::co_spawn(io, listener(static_cast<unsigned short>(std::atoi(argv[1])), ctx), asio::detached);
    io.run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "asio_tls_echo: %s\n", e.what());
    return 1;
  }
}
