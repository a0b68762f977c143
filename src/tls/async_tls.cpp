// src/tls/async_tls.cpp: AsyncTlsStream, the engine driven by AsyncTcpStream operations.
//
// Every operation is a coroutine that holds the shared state (never `this`), so moving the stream
// while an operation waits is safe. Ciphertext goes out through flush(): one flush runs at a time
// and loops until the engine has nothing left, so what a read produces (a KeyUpdate answer) while
// a write is flushing leaves after it, in order; a write returns only once its records are sent.
#include "tls/engine.hpp"

#include <tether/async_tls.hpp>

#include <algorithm>
#include <array>
#include <coroutine>
#include <vector>

namespace tether {

using detail::TlsEngine;

namespace detail {

struct FlushWaiter;

struct AsyncTlsState {
  AsyncTcpStream tcp;
  std::unique_ptr<TlsEngine> engine;
  TlsInfo info;
  std::vector<std::byte> out;  // allocated on the first flush
  std::size_t sent = 0;        // out[sent, size) is taken from the engine and not yet written:
  std::size_t size = 0;        // a flush cut short (deadline, cancel) leaves it for the next
  bool flushing = false;       // a flush is writing `out`
  std::vector<FlushWaiter*> waiters;  // writers waiting for that flush to end
};

/// Awaits the end of the running flush. Removes itself from the list if its frame dies first.
struct FlushWaiter {
  AsyncTlsState* s;
  std::coroutine_handle<> h;
  bool await_ready() const noexcept { return !s->flushing; }
  void await_suspend(std::coroutine_handle<> c) {
    h = c;
    s->waiters.push_back(this);
  }
  void await_resume() const noexcept {}
  ~FlushWaiter() { std::erase(s->waiters, this); }
};

}  // namespace detail

namespace {

using State = std::shared_ptr<detail::AsyncTlsState>;
constexpr std::size_t out_chunk = 80 * 1024;

/// Resumes the writers that waited for a flush, one at a time (a resumed one may destroy others).
void wake_waiters(detail::AsyncTlsState& s) {
  while (!s.flushing && !s.waiters.empty()) {
    detail::FlushWaiter* w = s.waiters.front();
    s.waiters.erase(s.waiters.begin());
    w->h.resume();
  }
}

/// Sends everything the engine has produced. `wait`: a writer, which must know its bytes left,
/// waits for a flush already running and then flushes itself. Not `wait`: the reader, which
/// must never block behind a writer (both peers writing would deadlock), leaves its bytes to the
/// running flush, whose loop takes them.
Task<Status> flush(State s, Deadline deadline, bool wait = true) {
  if (s->flushing && !wait) co_return Status{};
  while (s->flushing) co_await detail::FlushWaiter{s.get(), {}};
  s->flushing = true;
  Status result;
  if (s->out.empty()) s->out.resize(out_chunk);
  for (;;) {
    if (s->sent == s->size) {
      s->sent = 0;
      s->size = s->engine->take_output(s->out);
      if (s->size == 0) break;
    }
    auto w = co_await s->tcp.write_some(
        std::span<const std::byte>(s->out.data() + s->sent, s->size - s->sent), deadline);
    if (!w) {
      result = fail(w.error());
      break;
    }
    s->sent += *w;
  }
  s->flushing = false;
  wake_waiters(*s);
  co_return result;
}

/// Feeds the next ciphertext from the socket; at its end, the error to report (or none).
Task<Result<bool>> feed(State s, Deadline deadline) {
  auto data = co_await s->tcp.read_borrowed(deadline);
  if (!data) co_return fail(data.error());
  if (data->empty()) {
    if (auto ec = s->engine->end_of_input()) co_return fail(ec);
    co_return false;  // clean end after close_notify
  }
  s->engine->feed(*data);
  co_return true;
}

Task<Status> handshake(State s, Deadline deadline) {
  for (;;) {
    auto step = s->engine->handshake();
    if (s->engine->output_pending() > 0) {  // an alert too, before the failure is reported
      auto sent = co_await flush(s, deadline);
      if (!sent && step) co_return fail(sent.error());
    }
    if (!step) co_return fail(step.error());
    if (*step == 0) break;
    auto more = co_await feed(s, deadline);
    if (!more) co_return fail(more.error());
    if (!*more) co_return fail(TlsErrc::handshake_eof);
  }
  s->info = s->engine->info();
  co_return Status{};
}

Task<Result<std::size_t>> read_task(State s, std::span<std::byte> buf, Deadline deadline) {
  if (!s || !s->engine) co_return fail(Errc::closed);
  for (;;) {
    auto r = s->engine->read(buf);
    if (s->engine->output_pending() > 0 || s->sent < s->size) {
      // A failed send does not stop the read: an alert the peer sent first says why it left.
      (void)co_await flush(s, deadline, false);
    }
    if (!r || *r != TlsEngine::need_input) co_return r;
    auto more = co_await feed(s, deadline);
    if (!more) co_return fail(more.error());
    if (!*more) co_return 0;
  }
}

Task<Result<std::size_t>> write_task(State s, std::span<const std::byte> buf, Deadline deadline) {
  if (!s || !s->engine) co_return fail(Errc::closed);
  auto n = s->engine->write(buf);
  if (!n) co_return n;
  auto sent = co_await flush(s, deadline);
  if (!sent) co_return fail(sent.error());
  co_return n;
}

Task<Status> write_all_task(State s, std::span<const std::byte> buf, Deadline deadline) {
  if (!s) co_return fail(Errc::closed);
  while (!buf.empty()) {
    auto n = co_await write_task(s, buf, deadline);
    if (!n) co_return fail(n.error());
    buf = buf.subspan(*n);
  }
  co_return Status{};
}

Task<Status> shutdown_task(State s, Deadline deadline) {
  if (!s || !s->engine) co_return fail(Errc::closed);
  if (s->engine->sent_close_notify() && s->engine->output_pending() == 0 && s->sent == s->size) {
    co_return Status{};
  }
  (void)s->engine->send_close_notify();
  auto sent = co_await flush(s, deadline);
  if (!sent) co_return sent;
  co_return s->tcp.shutdown(Shutdown::write);
}

Task<Status> close_task(State s, Deadline deadline) {
  if (!s || !s->engine || !s->tcp.is_open()) co_return Status{};
  Status result = co_await shutdown_task(s, deadline);
  std::array<std::byte, 4096> sink;
  while (result && !s->engine->received_close_notify()) {
    auto n = co_await read_task(s, sink, deadline);
    if (!n || *n == 0) break;
  }
  s->tcp.close();
  co_return result;
}

}  // namespace

AsyncTlsStream::AsyncTlsStream() noexcept = default;
AsyncTlsStream::AsyncTlsStream(AsyncTlsStream&&) noexcept = default;
AsyncTlsStream& AsyncTlsStream::operator=(AsyncTlsStream&& other) noexcept {
  if (this != &other) {
    if (s_) s_->tcp.close();
    s_ = std::move(other.s_);
  }
  return *this;
}
AsyncTlsStream::~AsyncTlsStream() {
  if (s_) s_->tcp.close();
}

Task<Result<AsyncTlsStream>> AsyncTlsStream::connect(AsyncTcpStream tcp, TlsContext context,
                                                     std::string server_name, Deadline deadline) {
  if (context.is_server()) co_return fail(TlsErrc::internal);
  auto engine = TlsEngine::make(context, server_name);
  if (!engine) co_return fail(engine.error());
  auto s = std::make_shared<detail::AsyncTlsState>();
  s->tcp = std::move(tcp);
  s->engine = std::move(*engine);
  auto done = co_await handshake(s, deadline);
  if (!done) co_return fail(done.error());
  AsyncTlsStream t;
  t.s_ = std::move(s);
  co_return t;
}

Task<Result<AsyncTlsStream>> AsyncTlsStream::accept(AsyncTcpStream tcp, TlsContext context,
                                                    Deadline deadline) {
  if (!context.is_server()) co_return fail(TlsErrc::internal);
  auto engine = TlsEngine::make(context, {});
  if (!engine) co_return fail(engine.error());
  auto s = std::make_shared<detail::AsyncTlsState>();
  s->tcp = std::move(tcp);
  s->engine = std::move(*engine);
  auto done = co_await handshake(s, deadline);
  if (!done) co_return fail(done.error());
  AsyncTlsStream t;
  t.s_ = std::move(s);
  co_return t;
}

Task<Result<std::size_t>> AsyncTlsStream::read_some(std::span<std::byte> buf, Deadline deadline) {
  return read_task(s_, buf, deadline);
}
Task<Result<std::size_t>> AsyncTlsStream::write_some(std::span<const std::byte> buf, Deadline deadline) {
  return write_task(s_, buf, deadline);
}
Task<Status> AsyncTlsStream::write_all(std::span<const std::byte> buf, Deadline deadline) {
  return write_all_task(s_, buf, deadline);
}
Task<Status> AsyncTlsStream::shutdown(Deadline deadline) { return shutdown_task(s_, deadline); }
Task<Status> AsyncTlsStream::close(Deadline deadline) { return close_task(s_, deadline); }

const TlsInfo& AsyncTlsStream::info() const noexcept {
  static const TlsInfo none;
  return s_ ? s_->info : none;
}
AsyncTcpStream& AsyncTlsStream::tcp() noexcept {
  static AsyncTcpStream none;
  return s_ ? s_->tcp : none;
}
bool AsyncTlsStream::is_open() const noexcept { return s_ && s_->tcp.is_open(); }

}  // namespace tether
