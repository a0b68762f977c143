// src/async/op.cpp: OpBase, the submission, deadline and cancellation logic of every operation.
#include "async/loop_impl.hpp"

#include <tether/detail/op.hpp>

namespace tether::detail {

OpBase::OpBase(EventLoop* loop, FdHandle* handle_, OpKind kind_, Deadline deadline) noexcept
    : loop_(loop) {
  at = deadline.time_point();  // the timer's deadline doubles as the operation's
  kind = kind_;
  handle = handle_;
  run = &OpBase::on_complete;
  fire = &OpBase::on_deadline;
}

OpBase::OpBase(const OpBase& other) noexcept
    : IoOp(other), TimerNode(), loop_(other.loop_) {
  at = other.at;
  // Only an operation that has not started may be moved: nothing is linked yet.
  state = OpState::idle;
  fire = &OpBase::on_deadline;
  run = &OpBase::on_complete;
}

OpBase::~OpBase() {
  if (state == OpState::waiting) impl_of(*loop_).backend->abandon(*this);
  unlink();  // from the ready queue, if the completion was not delivered yet
  if (armed()) impl_of(*loop_).timers.remove(*this);
}

bool OpBase::suspend(std::coroutine_handle<> h, std::stop_token token) noexcept {
  if (ec) return false;  // preset error
  if (handle == nullptr || loop_ == nullptr) {
    ec = make_error_code(Errc::closed);
    return false;
  }
  if (token.stop_requested()) {
    ec = make_error_code(Errc::cancelled);
    return false;
  }
  LoopImpl& l = impl_of(*loop_);
  if (l.backend->start(*this)) return false;  // finished at once
  waiter_ = h;
  if (at != EventLoop::clock::time_point::max()) {
    if (EventLoop::clock::now() >= at) {
      l.backend->cancel(*this, std::make_error_code(std::errc::timed_out));
    } else {
      l.timers.add(*this);
    }
  }
  if (token.stop_possible()) stop_.emplace(std::move(token), OpStop{this});
  return true;
}

void OpBase::finish() noexcept {
  if (armed()) impl_of(*loop_).timers.remove(*this);
  stop_.reset();
}

void OpBase::cancel_with(std::error_code e) noexcept {
  if (state == OpState::waiting) impl_of(*loop_).backend->cancel(*this, e);
}

void OpBase::on_complete(ReadyNode& node) noexcept {
  auto& op = static_cast<OpBase&>(static_cast<IoOp&>(node));
  op.state = OpState::idle;
  op.waiter_.resume();
}

void OpBase::on_deadline(TimerNode& node) noexcept {
  static_cast<OpBase&>(node).cancel_with(std::make_error_code(std::errc::timed_out));
}

void OpStop::operator()() const noexcept { op->cancel_with(make_error_code(Errc::cancelled)); }

}  // namespace tether::detail
