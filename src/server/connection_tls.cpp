// src/server/connection_tls.cpp: a Connection over TLS (ServerOptions::tls), on the event loop.
//
// The server does the handshake (tls_accept, below), then hands the connection's engine
// (tls/engine.hpp: one SSL object between memory BIOs) to its Connection, which stays a plain
// socket underneath: read() takes the ciphertext the loop lends, feeds it to the engine and
// returns the plaintext it decrypts, in a per-thread buffer with the lent buffer's lifetime (valid
// until the reader next suspends); when a read ends inside a record it reads again before
// resuming the handler. send() encrypts into records that go through the connection's usual
// output path (direct write, then buffering and backpressure), so nothing crosses an extra socket
// and, in steady state, nothing is allocated per message. The handler's return sends close_notify
// (server.cpp); the client's close_notify is the end of stream; a TCP end without it is
// TlsErrc::tls_truncated.
#include "async/loop_impl.hpp"
#include "server/server_loop.hpp"
#include "tls/engine.hpp"

#include <tether/connection.hpp>

#include <vector>

namespace tether {

using detail::impl_of;
using detail::TlsEngine;

namespace {

/// Decrypted bytes handed to a reader: one per thread, as the loop's lent buffer.
std::vector<std::byte>& plaintext_buffer() {
  thread_local std::vector<std::byte> buf(64 * 1024);
  return buf;
}

/// Records on their way to the socket (copied by the output path when they cannot go at once).
std::vector<std::byte>& ciphertext_buffer() {
  thread_local std::vector<std::byte> buf(80 * 1024);
  return buf;
}

}  // namespace

bool Connection::is_tls() const noexcept { return tls_ != nullptr; }

Status Connection::send(std::span<const std::byte> data) {
  if (!tls_) return send_bytes(data);
  if (error_) return fail(error_);
  if (!stream_->is_open()) return fail(Errc::closed);
  while (!data.empty()) {
    auto n = tls_->write(data);  // at most 64 KiB into records
    if (!n) {
      close(n.error());
      return fail(error_);
    }
    tls_out_ += *n;
    data = data.subspan(*n);
    if (auto sent = send_tls_output(); !sent) return sent;
  }
  return {};
}

Status Connection::send_tls_output() {
  auto& cipher = ciphertext_buffer();
  while (const std::size_t n = tls_->take_output(cipher)) {
    if (auto sent = send_bytes(std::span<const std::byte>(cipher.data(), n)); !sent) return sent;
  }
  return {};
}

Status Connection::close_notify() {
  if (!tls_) return {};
  if (error_) return fail(error_);
  if (!stream_->is_open()) return fail(Errc::closed);
  (void)tls_->send_close_notify();
  return send_tls_output();
}

namespace detail {

bool ConnReadOp::start(std::coroutine_handle<> h, std::stop_token token) noexcept {
  if (!conn_->tls_) return suspend(h, std::move(token));
  // Plaintext the engine can give without reading (a record that came with the previous one).
  if (!ec && tls_step(false)) return false;
  run = &ConnReadOp::on_tls;
  for (;;) {
    if (suspend(h, token)) return true;  // on_tls follows
    if (tls_step(true)) break;           // finished at once: plaintext, an error or the end
  }
  run = &OpBase::on_complete;
  return false;
}

void ConnReadOp::on_tls(ReadyNode& node) noexcept {
  auto& op = static_cast<ConnReadOp&>(static_cast<IoOp&>(node));
  op.state = OpState::idle;
  auto& backend = *impl_of(*op.loop()).backend;
  // Inside a record: read on (the waiter, its stop registration and deadline stay as they are).
  while (!op.tls_step(true)) {
    if (!backend.start(op)) return;  // waits again: on_tls follows
  }
  op.run = &OpBase::on_complete;
  OpBase::on_complete(node);
}

bool ConnReadOp::tls_step(bool completed) noexcept {
  Connection& c = *conn_;
  TlsEngine& engine = *c.tls_;
  if (completed) {
    if (ec) return true;
    if (result == 0) {  // the TCP stream ended: cleanly only after the client's close_notify
      if (const auto cut = engine.end_of_input()) {
        c.close(cut);  // tls_truncated: the reason the connection ended
        ec = cut;
      }
      return true;
    }
    engine.feed(std::span<const std::byte>(data, result));
    result = 0;
  } else if (!engine.input_pending()) {  // nothing to decrypt: read (a cheap test, no SSL_read)
    return engine.received_close_notify();  // the end already came: result 0 again
  }
  auto& plain = plaintext_buffer();
  std::size_t got = 0;
  std::error_code why;
  bool ended = false;
  while (got < plain.size()) {
    auto r = engine.read(std::span<std::byte>(plain).subspan(got));
    if (!r) {
      why = r.error();
      break;
    }
    if (*r == TlsEngine::need_input) break;
    if (*r == 0) {
      ended = true;  // close_notify
      break;
    }
    got += *r;
    if (!engine.input_pending()) break;  // what a further SSL_read would say, without its cost
  }
  if (engine.output_pending() > 0) (void)c.send_tls_output();  // a KeyUpdate's answer, an alert
  // A bad record, an alert: the session is over (no close_notify follows); the plaintext before
  // it is still delivered, the next read fails with `why`.
  if (why) c.close(why);
  if (got > 0) {  // the end after it shows at the next read (received_close_notify)
    data = plain.data();
    result = got;
    return true;
  }
  if (why) {
    ec = why;
    return true;
  }
  return ended;  // result 0: the end of the stream
}

/// The server side of the handshake, on the client's loop, within `deadline`: the engine that
/// then serves the Connection.
Task<Result<std::unique_ptr<TlsEngine>>> tls_accept(AsyncTcpStream& tcp, const TlsContext& context,
                                                    Deadline deadline) {
  auto made = TlsEngine::make(context, {});
  if (!made) co_return fail(made.error());
  std::unique_ptr<TlsEngine> engine = std::move(*made);
  std::vector<std::byte> out;
  for (;;) {
    auto step = engine->handshake();
    while (engine->output_pending() > 0) {  // an alert too, before the failure is reported
      out.resize(engine->output_pending());
      const std::size_t n = engine->take_output(out);
      auto sent = co_await tcp.write_all(std::span<const std::byte>(out.data(), n), deadline);
      if (!sent) {
        if (step) co_return fail(sent.error());
        break;
      }
    }
    if (!step) co_return fail(step.error());
    if (*step == 0) break;
    auto data = co_await tcp.read_borrowed(deadline);
    if (!data) co_return fail(data.error());
    if (data->empty()) co_return fail(TlsErrc::handshake_eof);
    engine->feed(*data);
  }
  co_return engine;
}

}  // namespace detail

}  // namespace tether
