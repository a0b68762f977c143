// src/server/broadcast.cpp: Connection::broadcast and its backpressure (connection.hpp).
//
// A receiver is "congested" from the moment its buffer passes the high watermark until it is back
// at the low one (or closed); the server counts them, and counts the bytes of broadcasts posted to
// other loops but not yet delivered. A sender in broadcast_room() parks on its loop while either
// count says "no room"; whoever eases the congestion (any loop) posts a wake to every loop. A
// congested receiver whose output makes no progress for stall_timeout is closed (slow-consumer).
// Nothing here runs for a server that never broadcasts.
#include "async/loop_impl.hpp"
#include "server/server_loop.hpp"

#include <tether/connection.hpp>

#include <memory>
#include <utility>
#include <vector>

namespace tether {

using detail::impl_of;

void Connection::broadcast(std::span<const std::byte> data) {
  auto& server = loop_->server;
  if (!server.broadcasting.load(std::memory_order_relaxed)) server.broadcasting = true;
  auto& loops = server.loops;
  if (loops.size() > 1 && !data.empty()) {
    auto copy = std::make_shared<const std::vector<std::byte>>(data.begin(), data.end());
    for (auto& l : loops) {
      if (l.get() == loop_) continue;
      detail::ServerLoop* target = l.get();
      server.in_transit += copy->size();
      target->loop.post([target, copy] {
        target->deliver(*copy, nullptr);
        target->server.in_transit -= copy->size();
        target->server.release_room();
      });
    }
  }
  loop_->deliver(data, this);
}

void Connection::note_level() noexcept {
  auto& server = loop_->server;
  const auto& o = server.options;
  const bool broken = error_ || !stream_->is_open();
  if (broken && room_ != nullptr) std::exchange(room_, nullptr)->wake();  // its sender ends too
  if (!congested_) {
    if (broken || buffered_ <= o.high_watermark || !server.broadcasting.load(std::memory_order_relaxed)) return;
    congested_ = true;
    ++server.congested;
    if (o.stall_timeout.count() > 0) {
      stall_.progress = progress();
      stall_.at = loop_->loop.now() + o.stall_timeout;
      impl_of(loop_->loop).timers.add(stall_);
    }
    return;
  }
  if (!broken && buffered_ > o.low_watermark) return;
  congested_ = false;
  if (stall_.armed()) impl_of(loop_->loop).timers.remove(stall_);
  --server.congested;
  server.release_room();
}

void Connection::on_stall(detail::TimerNode& node) noexcept {
  auto& t = static_cast<StallTimer&>(node);
  Connection& c = *t.conn;
  const auto now = c.progress();
  if (now != t.progress) {  // slow, not stuck: look again later
    t.progress = now;
    t.at = c.loop_->loop.now() + c.loop_->server.options.stall_timeout;
    impl_of(c.loop_->loop).timers.add(t);
    return;
  }
  c.close(std::make_error_code(std::errc::no_buffer_space));  // slow-consumer
}

namespace detail {

void ServerImpl::release_room() noexcept {
  if (room_waiting.load() == 0 || !has_room()) return;
  for (auto& l : loops) {
    ServerLoop* target = l.get();
    target->loop.post([target] { target->wake_room_waiters(); });
  }
}

void ServerLoop::wake_room_waiters() noexcept {
  while (!room_waiters.empty() && server.has_room()) {
    auto* node = static_cast<ReadyNode*>(room_waiters.front());
    static_cast<BroadcastRoomOp*>(node)->wake();
  }
}

BroadcastRoomOp::BroadcastRoomOp(Connection& c) noexcept : conn_(&c) { run = &BroadcastRoomOp::on_ready; }

BroadcastRoomOp::~BroadcastRoomOp() {
  if (parked_) --conn_->loop_->server.room_waiting;
  if (conn_->room_ == this) conn_->room_ = nullptr;
  ReadyNode::unlink();
}

bool BroadcastRoomOp::await_ready() const noexcept {
  const auto& server = conn_->loop_->server;
  return conn_->error_ || !server.broadcasting.load(std::memory_order_relaxed) || server.has_room();
}

bool BroadcastRoomOp::await_suspend(std::coroutine_handle<> h) noexcept {
  auto& server = conn_->loop_->server;
  ++server.room_waiting;  // first: a release from another thread then sees us, or we see its room
  if (server.has_room()) {
    --server.room_waiting;
    return false;
  }
  waiter_ = h;
  parked_ = true;
  conn_->room_ = this;
  conn_->loop_->room_waiters.push_back(*this);
  return true;
}

void BroadcastRoomOp::wake() noexcept {
  if (!parked_) return;
  parked_ = false;
  --conn_->loop_->server.room_waiting;
  if (conn_->room_ == this) conn_->room_ = nullptr;
  impl_of(conn_->loop_->loop).schedule(*this);  // leaves room_waiters for the ready queue
}

void BroadcastRoomOp::on_ready(ReadyNode& node) noexcept {
  static_cast<BroadcastRoomOp&>(node).waiter_.resume();
}

Status BroadcastRoomOp::await_resume() noexcept {
  if (conn_->error_) return fail(conn_->error_);
  return {};
}

}  // namespace detail
}  // namespace tether
