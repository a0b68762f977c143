// src/server/connection.cpp: a server connection's output buffering, backpressure and idle timer.
//
// Output: send() first writes straight from the caller's bytes with an operation on the stack;
// whatever the socket does not take is copied into Output::inflight, written by one background
// write_all operation. Bytes sent while that write is in flight go to Output::pending; when it
// completes the two swap. Where writes complete later (io_uring's SEND requests, submitted with
// the loop's next poll: Backend::writes_complete_later) there is no direct write: every send()
// copies into the Output. An Output is taken from a per-thread spare list when needed and given
// back, buffers' capacity included, once everything is written: nothing is allocated per message
// in steady state, and an idle connection carries no output state at all.
//
//   send(): [direct write] --rest--> inflight (being written) + pending (queued behind it)
//   buffered_ = unwritten bytes of inflight + pending
#include "async/loop_impl.hpp"
#include "server/server_loop.hpp"
#include "tls/engine.hpp"

#include <tether/connection.hpp>

#include <cstring>
#include <memory>
#include <utility>

namespace tether {

using detail::impl_of;

namespace {
template <class Out>
std::vector<std::unique_ptr<Out>>& spare_outputs() {
  thread_local std::vector<std::unique_ptr<Out>> spare;
  return spare;
}
}  // namespace

struct Connection::Output {
  struct WriteOp : detail::IoOp {
    Connection* conn = nullptr;
  };
  WriteOp op;
  std::vector<std::byte> inflight;
  std::vector<std::byte> pending;
  detail::FlushOp* flusher = nullptr;
};

namespace {
// Output records (and their buffers' capacity) of connections whose bytes were all written, for
// the next connection that needs one: a busy loop allocates nothing per message, and an idle
// connection holds none. Per thread (a loop's connections live on its thread), at most this many.
constexpr std::size_t max_spare_outputs = 4096;
}  // namespace

void Connection::take_output() {
  auto& spare = spare_outputs<Output>();
  if (spare.capacity() < max_spare_outputs) spare.reserve(max_spare_outputs);  // once per thread
  if (spare.empty()) {
    out_ = std::make_unique<Output>();
  } else {
    out_ = std::move(spare.back());
    spare.pop_back();
  }
  out_->op.conn = this;
  out_->op.kind = detail::OpKind::write_all;
  out_->op.run = &Connection::on_write;
  out_->op.state = detail::OpState::idle;
  out_->flusher = nullptr;
}

void Connection::give_back_output() noexcept {
  auto& spare = spare_outputs<Output>();
  if (spare.size() >= max_spare_outputs) {
    out_.reset();
    return;
  }
  out_->inflight.clear();
  out_->pending.clear();
  spare.push_back(std::move(out_));  // no allocation: reserved by take_output
}

Connection::Connection(detail::ServerLoop& loop, AsyncTcpStream& stream,
                       const detail::PeerAddress& peer, detail::TlsEngine* tls)
    : loop_(&loop), stream_(&stream), peer_(&peer), tls_(tls) {
  idle_.conn = this;
  idle_.fire = &Connection::on_idle;
  link_.conn = this;
  loop.connections.push_back(link_);
  // A fresh reading, not the loop's cached time: one poll can accept a backlog of connections
  // that arrived after that time was taken, and their idle timers must not start in the past.
  last_active_ = EventLoop::clock::now();
  const auto idle = loop.server.options.idle_timeout;
  if (idle.count() > 0) {
    idle_.at = last_active_ + idle;
    impl_of(loop.loop).timers.add(idle_);
  }
}

Connection::~Connection() {
  close();
  auto& l = impl_of(loop_->loop);
  if (out_) {
    if (out_->op.state == detail::OpState::waiting) l.backend->abandon(out_->op);
    out_->op.unlink();
  }
  if (idle_.armed()) l.timers.remove(idle_);
  if (stall_ && stall_->armed()) l.timers.remove(*stall_);
  if (buffered_ > 0) {
    loop_->server.note_buffered(-static_cast<std::ptrdiff_t>(buffered_));
    loop_->buffered -= buffered_;
  }
  link_.unlink();
  delete tls_;
}

std::size_t Connection::loop_index() const noexcept { return loop_->index; }
EventLoop& Connection::loop() const noexcept { return loop_->loop; }

void Connection::touch() noexcept { last_active_ = loop_->loop.now(); }

detail::WaitOp Connection::wait_readable() noexcept {
  return {&loop_->loop, stream_handle(), false, Deadline()};
}

detail::WaitOp Connection::wait_writable() noexcept {
  return {&loop_->loop, stream_handle(), true, Deadline()};
}

void Connection::note_moved(std::size_t in, std::size_t out) noexcept {
  bytes_in_ += in;
  bytes_out_ += out;
  touch();
}

Status Connection::send_bytes(std::span<const std::byte> data) {
  if (error_) return fail(error_);
  if (!stream_->is_open()) return fail(Errc::closed);
  if (data.empty()) return {};
  if (buffered_ + data.size() > loop_->server.options.max_buffered) {
    close(std::make_error_code(std::errc::no_buffer_space));  // a slow consumer
    return fail(error_);
  }
  auto& backend = *impl_of(loop_->loop).backend;
  if (buffered_ == 0) {
    std::size_t done = 0;  // bytes the socket took at once
    // Straight from the caller's bytes; only what the socket does not take is copied. Not where
    // writes complete later (io_uring's SEND requests): the bytes go to the buffer, written by
    // the background operation with the loop's next poll.
    if (!backend.writes_complete_later()) {
      detail::IoOp direct;
      direct.kind = detail::OpKind::write_all;
      direct.handle = stream_handle();
      direct.data = const_cast<std::byte*>(data.data());
      direct.size = data.size();
      if (backend.start(direct)) {
        if (direct.ec) {
          close(direct.ec);
          return fail(error_);
        }
        bytes_out_ += data.size();
        touch();
        return {};
      }
      backend.abandon(direct);  // it must not outlive this call: the rest goes to the buffer
      done = direct.done;
      bytes_out_ += done;
    }
    if (!out_) take_output();
    out_->inflight.assign(data.begin() + static_cast<std::ptrdiff_t>(done), data.end());
    buffered_ = out_->inflight.size();
    loop_->buffered += buffered_;
    loop_->server.note_buffered(static_cast<std::ptrdiff_t>(buffered_));
    note_level();
    start_write();
    return {};
  }
  out_->pending.insert(out_->pending.end(), data.begin(), data.end());
  buffered_ += data.size();
  loop_->buffered += data.size();
  loop_->server.note_buffered(static_cast<std::ptrdiff_t>(data.size()));
  note_level();
  return {};
}

// Starts writing out_->inflight (non-empty); handles inline completions until one has to wait.
void Connection::start_write() noexcept {
  auto& backend = *impl_of(loop_->loop).backend;
  auto& op = out_->op;
  for (;;) {
    op.data = out_->inflight.data();
    op.size = out_->inflight.size();
    op.done = 0;
    op.ec.clear();
    op.handle = stream_handle();
    if (!backend.start(op)) return;  // on_write follows
    if (!write_finished()) return;
    if (out_->inflight.empty()) return;
  }
}

// After the write finished: account, swap in the pending bytes, report errors. False on error.
bool Connection::write_finished() noexcept {
  auto& o = *out_;
  if (o.op.ec) {
    close(o.op.ec);
    return false;
  }
  const std::size_t n = o.inflight.size();
  bytes_out_ += n;
  buffered_ -= n;
  loop_->buffered -= n;
  loop_->server.note_buffered(-static_cast<std::ptrdiff_t>(n));
  o.inflight.clear();
  o.inflight.swap(o.pending);
  touch();
  note_level();
  return true;
}

void Connection::on_write(detail::ReadyNode& node) noexcept {
  auto& op = static_cast<Output::WriteOp&>(static_cast<detail::IoOp&>(node));
  Connection& c = *op.conn;
  op.state = detail::OpState::idle;
  if (c.write_finished() && !c.out_->inflight.empty()) c.start_write();
  c.wake_waiters();
  // All written and nobody waiting for it: the record goes back to the spare list.
  if (c.out_ && c.buffered_ == 0 && c.out_->op.state == detail::OpState::idle &&
      c.out_->flusher == nullptr) {
    c.give_back_output();
  }
}

// Resumes a reader parked by backpressure (once below the low watermark) and a flusher (once
// empty), or both on error; through the ready queue, never inline inside a completion.
void Connection::wake_waiters() noexcept {
  if (parked_ != nullptr && (error_ || buffered_ <= loop_->server.options.low_watermark)) {
    std::exchange(parked_, nullptr)->wake();
  }
  if (out_ && out_->flusher != nullptr && (error_ || buffered_ == 0)) {
    impl_of(loop_->loop).schedule(*std::exchange(out_->flusher, nullptr));
  }
}

void Connection::close(std::error_code why) noexcept {
  if (!error_) error_ = why;
  if (stream_->is_open()) {
    stream_->cancel(why);  // a pending read reports why, not just "closed"
    stream_->close();
  }
  wake_waiters();
  note_level();
}

// Bytes the client has taken so far, including a background write still under way.
std::uint64_t Connection::progress() const noexcept {
  return bytes_out_ + (out_ && out_->op.state == detail::OpState::waiting ? out_->op.done : 0);
}

void Connection::on_idle(detail::TimerNode& node) noexcept {
  Connection& c = *static_cast<IdleTimer&>(node).conn;
  const auto idle = c.loop_->server.options.idle_timeout;
  const auto now = c.loop_->loop.now();
  if (now - c.last_active_ >= idle) {
    ++c.loop_->stats.idle_timeouts;
    c.close(std::make_error_code(std::errc::timed_out));
    return;
  }
  c.idle_.at = c.last_active_ + idle;  // activity since: check again when it would expire
  impl_of(c.loop_->loop).timers.add(c.idle_);
}

namespace detail {

PeerAddress::PeerAddress(const Endpoint& e) noexcept {
  if (e.is_ip() && e.size() <= sizeof addr_) {
    std::memcpy(&addr_, e.data(), e.size());
    len_ = e.size();
  }
}

Endpoint PeerAddress::endpoint() const {
  if (len_ == 0) return {};
  auto e = Endpoint::from_sockaddr(reinterpret_cast<const sockaddr*>(&addr_), len_);
  return e ? *e : Endpoint();
}

ConnReadOp::ConnReadOp(Connection& c) noexcept
    : ReadBorrowedOp(&c.loop_->loop, c.stream_handle(), Deadline()), conn_(&c) {}

ConnReadOp::~ConnReadOp() {
  if (conn_->parked_ == this) conn_->parked_ = nullptr;
}

bool ConnReadOp::begin(std::coroutine_handle<> h, std::stop_token token) noexcept {
  Connection& c = *conn_;
  if (c.error_) preset_error(c.error_);
  if (!c.error_ && c.buffered_ > c.loop_->server.options.high_watermark) {
    parked_ = h;  // backpressure: read again once the client has taken its data
    token_ = std::move(token);
    c.parked_ = this;
    return true;
  }
  return start(h, std::move(token));
}

void ConnReadOp::wake() noexcept {
  if (conn_->error_) preset_error(conn_->error_);
  run = &ConnReadOp::on_wake;  // the IoOp's ready-queue link is free while parked
  impl_of(*loop()).schedule(*this);
}

void ConnReadOp::on_wake(ReadyNode& node) noexcept {
  auto& op = static_cast<ConnReadOp&>(static_cast<IoOp&>(node));
  op.run = &OpBase::on_complete;
  if (!op.start(op.parked_, std::move(op.token_))) op.parked_.resume();
}

Result<std::span<const std::byte>> ConnReadOp::await_resume() noexcept {
  auto r = ReadBorrowedOp::await_resume();
  Connection& c = *conn_;
  if (r) {
    c.bytes_in_ += r->size();
    c.touch();
    return r;
  }
  if (c.error_) return fail(c.error_);  // closed by the server: say why
  // The socket failed (a reset, an error): the connection is over, and its close reason says so
  // whichever call met the error first (the kernel reports a reset to one call only; the next
  // read would see end of stream, the next write EPIPE). A deadline or a cancel is not an end.
  const std::error_code why = r.error();
  if (why != std::errc::timed_out && why != Errc::cancelled && why != Errc::closed) c.close(why);
  return r;
}

FlushOp::FlushOp(Connection& c, Deadline deadline) noexcept : conn_(&c), deadline_(deadline) {
  run = &FlushOp::on_ready;
  fire = &FlushOp::on_fire;
}

FlushOp::~FlushOp() {
  stop_.reset();
  unregister();
  ReadyNode::unlink();
}

void FlushOp::unregister() noexcept {
  if (conn_->out_ && conn_->out_->flusher == this) conn_->out_->flusher = nullptr;
  if (TimerNode::armed()) impl_of(conn_->loop_->loop).timers.remove(*this);
}

bool FlushOp::await_ready() const noexcept { return conn_->buffered_ == 0 || conn_->error_; }

bool FlushOp::suspend(std::coroutine_handle<> h, std::stop_token token) noexcept {
  if (token.stop_requested()) {
    cancelled_ = true;
    return false;
  }
  if (deadline_.expired()) {
    timed_out_ = true;
    return false;
  }
  waiter_ = h;
  conn_->out_->flusher = this;  // buffered_ > 0: the output exists
  if (!deadline_.is_never()) {
    at = deadline_.time_point();
    impl_of(conn_->loop_->loop).timers.add(*this);
  }
  if (token.stop_possible()) stop_.emplace(std::move(token), Stop{this});
  return true;
}

// A stop request (the loop thread: with_timeout, when_any, Server shutdown): end the wait now,
// through the ready queue (never resuming inside request_stop()).
void FlushOp::Stop::operator()() const noexcept {
  if (op->conn_->out_ == nullptr || op->conn_->out_->flusher != op) return;  // already finishing
  op->unregister();
  op->cancelled_ = true;
  impl_of(op->conn_->loop_->loop).schedule(*op);
}

Status FlushOp::await_resume() noexcept {
  stop_.reset();
  if (TimerNode::armed()) impl_of(conn_->loop_->loop).timers.remove(*this);
  if (conn_->error_) return fail(conn_->error_);
  if (cancelled_) return fail(Errc::cancelled);
  if (timed_out_ || conn_->buffered_ > 0) return fail(std::make_error_code(std::errc::timed_out));
  return {};
}

void FlushOp::on_ready(ReadyNode& node) noexcept {
  auto& f = static_cast<FlushOp&>(node);
  if (f.armed()) impl_of(f.conn_->loop_->loop).timers.remove(f);
  f.waiter_.resume();
}

void FlushOp::on_fire(TimerNode& node) noexcept {
  auto& f = static_cast<FlushOp&>(node);
  if (f.conn_->out_ && f.conn_->out_->flusher == &f) f.conn_->out_->flusher = nullptr;
  f.timed_out_ = true;
  f.waiter_.resume();
}

}  // namespace detail
}  // namespace tether
