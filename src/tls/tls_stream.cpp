// src/tls/tls_stream.cpp: TlsStream, the engine driven by blocking TcpStream calls.
//
// Locking: `engine` guards the SSL object (held only for in-memory work, never across a system
// call); `send` serializes taking ciphertext out of the engine and writing it, so that records
// leave in the order they were made even when the reading thread has something to send too.
#include "tls/engine.hpp"

#include <tether/tls.hpp>

#include <array>
#include <atomic>
#include <mutex>
#include <vector>

namespace tether {

using detail::TlsEngine;

namespace {
constexpr std::size_t in_chunk = 32 * 1024;
constexpr std::size_t out_chunk = 80 * 1024;  // one 64 KiB write plus its record overhead
}  // namespace

struct TlsStream::Locks {
  std::mutex engine;
  std::mutex send;
  // Ciphertext taken from the engine, [sent, size) not yet written: a write cut short by its
  // deadline keeps the rest here for the next flush (a record must never lose bytes).
  std::vector<std::byte> out;  // guarded by `send`
  std::size_t sent = 0;
  std::size_t size = 0;
  std::atomic<bool> unsent{false};
};

TlsStream::TlsStream() noexcept = default;
TlsStream::TlsStream(TlsStream&&) noexcept = default;
TlsStream& TlsStream::operator=(TlsStream&&) noexcept = default;
TlsStream::~TlsStream() = default;

Result<TlsStream> TlsStream::connect(TcpStream tcp, const TlsContext& context,
                                     std::string_view server_name, Deadline deadline) {
  if (context.is_server()) return fail(TlsErrc::internal);
  auto engine = TlsEngine::make(context, server_name);
  if (!engine) return fail(engine.error());
  return handshake(std::move(tcp), std::move(*engine), deadline);
}

Result<TlsStream> TlsStream::accept(TcpStream tcp, const TlsContext& context, Deadline deadline) {
  if (!context.is_server()) return fail(TlsErrc::internal);
  auto engine = TlsEngine::make(context, {});
  if (!engine) return fail(engine.error());
  return handshake(std::move(tcp), std::move(*engine), deadline);
}

Result<TlsStream> TlsStream::handshake(TcpStream tcp, std::unique_ptr<TlsEngine> engine,
                                       Deadline deadline) {
  TlsStream s;
  s.tcp_ = std::move(tcp);
  s.engine_ = std::move(engine);
  s.locks_ = std::make_unique<Locks>();
  std::array<std::byte, in_chunk> in;
  for (;;) {
    auto step = s.engine_->handshake();
    // Send what the engine produced, an alert included, before reporting a failure.
    if (s.engine_->output_pending() > 0) {
      auto sent = s.flush(deadline);
      if (!sent && step) return fail(sent.error());
    }
    if (!step) return fail(step.error());
    if (*step == 0) break;
    auto n = s.tcp_.read_some(in, deadline);
    if (!n) return fail(n.error());
    if (*n == 0) return fail(s.engine_->end_of_input());
    s.engine_->feed(std::span(in.data(), *n));
  }
  s.info_ = s.engine_->info();
  return s;
}

Status TlsStream::flush(Deadline deadline) {
  std::lock_guard send(locks_->send);
  return flush_locked(deadline);
}

Status TlsStream::flush_locked(Deadline deadline) {
  Locks& l = *locks_;
  if (l.out.empty()) l.out.resize(out_chunk);
  for (;;) {
    if (l.sent == l.size) {
      std::lock_guard lock(l.engine);
      l.sent = 0;
      l.size = engine_->take_output(l.out);
    }
    l.unsent = l.sent < l.size;
    if (!l.unsent) return {};
    auto n = tcp_.write_some(std::span<const std::byte>(l.out.data() + l.sent, l.size - l.sent), deadline);
    if (!n) return fail(n.error());  // what is left stays queued
    l.sent += *n;
  }
}

Result<std::size_t> TlsStream::read_some(std::span<std::byte> buf, Deadline deadline) {
  if (!engine_) return fail(errno_code(EBADF));
  std::array<std::byte, in_chunk> in;
  for (;;) {
    Result<std::size_t> r;
    bool to_send = false;
    {
      std::lock_guard lock(locks_->engine);
      r = engine_->read(buf);
      // A KeyUpdate answer, or records the writing thread has not sent yet.
      to_send = engine_->output_pending() > 0 || locks_->unsent.load();
    }
    if (to_send) {
      // Never wait behind the writing thread (two peers both writing would deadlock): its flush
      // loops until the engine is empty, so it takes these bytes too.
      std::unique_lock send(locks_->send, std::try_to_lock);
      // A failed send does not stop the read: what the peer sent before it left (an alert
      // naming why) is still to be read; the writer meets the error on its next write.
      if (send.owns_lock()) (void)flush_locked(deadline);
    }
    if (!r || *r != TlsEngine::need_input) return r;
    auto n = tcp_.read_some(in, deadline);
    if (!n) return fail(n.error());
    std::lock_guard lock(locks_->engine);
    if (*n == 0) {
      if (auto ec = engine_->end_of_input()) return fail(ec);
      return 0;
    }
    engine_->feed(std::span(in.data(), *n));
  }
}

Result<std::size_t> TlsStream::write_some(std::span<const std::byte> buf, Deadline deadline) {
  if (!engine_) return fail(errno_code(EBADF));
  Result<std::size_t> n;
  {
    std::lock_guard lock(locks_->engine);
    n = engine_->write(buf);
  }
  if (!n) return n;
  if (auto st = flush(deadline); !st) return fail(st.error());
  return n;
}

Status TlsStream::read_exact(std::span<std::byte> buf, Deadline deadline) {
  while (!buf.empty()) {
    auto n = read_some(buf, deadline);
    if (!n) return fail(n.error());
    if (*n == 0) return fail(Errc::end_of_stream);
    buf = buf.subspan(*n);
  }
  return {};
}

Status TlsStream::write_all(std::span<const std::byte> buf, Deadline deadline) {
  while (!buf.empty()) {
    auto n = write_some(buf, deadline);
    if (!n) return fail(n.error());
    buf = buf.subspan(*n);
  }
  return {};
}

bool TlsStream::has_buffered() const noexcept {
  if (!engine_) return false;
  std::lock_guard lock(locks_->engine);
  return engine_->has_buffered();
}

Status TlsStream::shutdown(Deadline deadline) {
  if (!engine_) return fail(errno_code(EBADF));
  {
    std::lock_guard lock(locks_->engine);
    if (engine_->sent_close_notify()) return {};
    (void)engine_->send_close_notify();
  }
  if (auto st = flush(deadline); !st) return st;
  return tcp_.shutdown(Shutdown::write);
}

Status TlsStream::close(Deadline deadline) {
  if (!engine_ || !tcp_.is_open()) return {};
  Status result = shutdown(deadline);
  // Wait for the peer's close_notify (or its end of stream) without ever outliving `deadline`.
  bool peer_done = false;
  {
    std::lock_guard lock(locks_->engine);
    peer_done = engine_->received_close_notify();
  }
  std::array<std::byte, 4096> sink;
  while (result && !peer_done) {
    auto n = read_some(sink, deadline);
    if (!n || *n == 0) break;
  }
  tcp_.close();
  return result;
}

}  // namespace tether
