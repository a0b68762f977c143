// src/async/task_set.cpp: TaskSet, the child-task scope behind when_all / when_any / with_timeout.
#include "async/loop_impl.hpp"

#include <tether/detail/task_set.hpp>

namespace tether::detail {

std::coroutine_handle<> ChildPromise::Final::await_suspend(
    std::coroutine_handle<ChildPromise> h) noexcept {
  TaskSet& set = *h.promise().set;
  set.finished_.push_back(h.promise().index);
  if (NextAwaiter* w = std::exchange(set.waiter_, nullptr)) {
    w->disarm();
    return w->waiter_;  // the parent resumes; this frame stays suspended until reaped
  }
  return std::noop_coroutine();
}

TaskSet::TaskSet(std::stop_token parent) {
  if (parent.stop_possible()) parent_link_.emplace(std::move(parent), StopLink{&source_});
}

TaskSet::~TaskSet() {
  if (waiter_ != nullptr) waiter_->set_ = nullptr;
  for (auto h : children_) {
    if (h) h.destroy();
  }
}

std::size_t TaskSet::adopt(std::coroutine_handle<ChildPromise> h) {
  ChildPromise& p = h.promise();
  p.set = this;
  p.index = children_.size();
  p.stop_token = source_.get_token();
  p.token_set = true;
  children_.push_back(h);
  ++running_;
  h.resume();
  return p.index;
}

std::size_t TaskSet::reap() noexcept {
  std::size_t index = finished_[finished_head_++];
  if (finished_head_ == finished_.size()) {
    finished_.clear();
    finished_head_ = 0;
  }
  children_[index].destroy();
  children_[index] = nullptr;
  --running_;
  return index;
}

NextAwaiter::NextAwaiter(TaskSet* set, Deadline deadline) noexcept
    : set_(set), deadline_(deadline) {
  fire = &NextAwaiter::on_fire;
}

NextAwaiter::~NextAwaiter() {
  if (set_ != nullptr && set_->waiter_ == this) set_->waiter_ = nullptr;
  disarm();
}

bool NextAwaiter::await_ready() const noexcept {
  return set_->finished_head_ < set_->finished_.size() || set_->running_ == 0;
}

bool NextAwaiter::await_suspend(std::coroutine_handle<> h) noexcept {
  if (!deadline_.is_never()) {
    loop_ = EventLoop::current();
    if (deadline_.expired() || loop_ == nullptr) {
      timed_out_ = true;
      return false;
    }
    at = deadline_.time_point();
    impl_of(*loop_).timers.add(*this);
  }
  waiter_ = h;
  set_->waiter_ = this;
  return true;
}

std::optional<std::size_t> NextAwaiter::await_resume() noexcept {
  disarm();
  if (timed_out_ || set_->finished_head_ == set_->finished_.size()) return std::nullopt;
  return set_->reap();
}

void NextAwaiter::disarm() noexcept {
  if (loop_ != nullptr && armed()) impl_of(*loop_).timers.remove(*this);
}

void NextAwaiter::on_fire(TimerNode& node) noexcept {
  auto& w = static_cast<NextAwaiter&>(node);
  w.timed_out_ = true;
  if (w.set_ != nullptr && w.set_->waiter_ == &w) w.set_->waiter_ = nullptr;
  w.waiter_.resume();
}

}  // namespace tether::detail
