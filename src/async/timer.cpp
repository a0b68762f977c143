// src/async/timer.cpp: Timer and SleepOp on the loop's timer heap.
#include "async/loop_impl.hpp"

#include <tether/timer.hpp>

namespace tether {

Timer::Timer(EventLoop& loop) noexcept : loop_(&loop) { fire = &Timer::on_fire; }

Timer::~Timer() {
  cancel();
  if (destroyed_ != nullptr) *destroyed_ = true;
}

void Timer::arm(Deadline when, std::move_only_function<void()> callback) {
  callback_ = std::move(callback);
  arm(when);
}

void Timer::arm(Deadline when) {
  at = when.time_point();
  detail::impl_of(*loop_).timers.add(*this);
}

void Timer::cancel() noexcept { detail::impl_of(*loop_).timers.remove(*this); }

void Timer::on_fire(TimerNode& node) noexcept {
  auto& t = static_cast<Timer&>(node);
  if (!t.callback_) return;
  // The callback may re-arm the timer with a new callback (which would destroy the running one)
  // or destroy the timer: run a moved-out copy and put it back only if still wanted.
  auto callback = std::move(t.callback_);
  EventLoop* loop = t.loop_;
  bool destroyed = false;
  t.destroyed_ = &destroyed;
  try {
    callback();
  } catch (...) {
    detail::impl_of(*loop).keep_exception(std::current_exception());
  }
  if (destroyed) return;
  t.destroyed_ = nullptr;
  if (!t.callback_) t.callback_ = std::move(callback);
}

detail::SleepOp sleep_until(Deadline when) noexcept { return {EventLoop::current(), when}; }

namespace detail {

SleepOp::SleepOp(EventLoop* loop, Deadline until) noexcept : loop_(loop), until_(until) {
  fire = &SleepOp::on_fire;
  run = &SleepOp::on_ready;
}

SleepOp::SleepOp(const SleepOp& other) noexcept
    : TimerNode(), ReadyNode(), loop_(other.loop_), until_(other.until_) {
  fire = &SleepOp::on_fire;
  run = &SleepOp::on_ready;
}

SleepOp::~SleepOp() {
  if (TimerNode::armed()) impl_of(*loop_).timers.remove(*this);
  ReadyNode::unlink();
}

bool SleepOp::suspend(std::coroutine_handle<> h, std::stop_token token) noexcept {
  if (loop_ == nullptr) {
    ec_ = std::make_error_code(std::errc::operation_not_permitted);  // no loop on this thread
    return false;
  }
  if (token.stop_requested()) {
    ec_ = make_error_code(Errc::cancelled);
    return false;
  }
  waiter_ = h;
  at = until_.time_point();
  impl_of(*loop_).timers.add(*this);
  if (token.stop_possible()) stop_.emplace(std::move(token), SleepStop{this});
  return true;
}

Status SleepOp::await_resume() noexcept {
  if (loop_ != nullptr && TimerNode::armed()) impl_of(*loop_).timers.remove(*this);
  stop_.reset();
  if (ec_) return fail(ec_);
  return {};
}

void SleepOp::on_fire(TimerNode& node) noexcept {
  auto& s = static_cast<SleepOp&>(node);
  s.waiter_.resume();
}

void SleepOp::on_ready(ReadyNode& node) noexcept {
  static_cast<SleepOp&>(node).waiter_.resume();
}

void SleepStop::operator()() const noexcept {
  if (!op->TimerNode::armed()) return;  // already fired
  impl_of(*op->loop_).timers.remove(*op);
  op->ec_ = make_error_code(Errc::cancelled);
  impl_of(*op->loop_).schedule(*op);  // resumed from the ready phase, not inside request_stop()
}

}  // namespace detail
}  // namespace tether
