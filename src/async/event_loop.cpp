// src/async/event_loop.cpp: EventLoop, whose run_once() is the list of phases in event_loop.hpp.
#include "async/loop_impl.hpp"

#include <tether/event_loop.hpp>

#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <utility>

namespace tether {

namespace {
thread_local EventLoop* current_loop = nullptr;

// Makes `loop` EventLoop::current() for one scope (iterations may nest through run(Task)).
class CurrentScope {
 public:
  explicit CurrentScope(EventLoop* loop) noexcept : prev_(std::exchange(current_loop, loop)) {}
  ~CurrentScope() { current_loop = prev_; }
  CurrentScope(const CurrentScope&) = delete;
  CurrentScope& operator=(const CurrentScope&) = delete;

 private:
  EventLoop* prev_;
};
}  // namespace

namespace detail {

// A signalfd with one read always pending on it.
struct SignalState : IoOp {
  LoopImpl* loop = nullptr;
  int fd = -1;
  FdHandle* fd_handle = nullptr;
  sigset_t set{};
  sigset_t old_mask{};
  signalfd_siginfo info{};
  std::move_only_function<void(int)> handler;

  void arm() noexcept {
    for (;;) {
      kind = OpKind::read_some;
      handle = fd_handle;
      data = reinterpret_cast<std::byte*>(&info);
      size = sizeof info;
      ec.clear();
      if (!loop->backend->start(*this)) return;
      if (!deliver()) return;
    }
  }
  // True when the read succeeded and the handler ran.
  bool deliver() noexcept {
    if (ec || result != sizeof info) return false;
    try {
      handler(static_cast<int>(info.ssi_signo));
    } catch (...) {
      loop->keep_exception(std::current_exception());
    }
    return true;
  }
  static void on_read(ReadyNode& n) noexcept {
    auto& s = static_cast<SignalState&>(static_cast<IoOp&>(n));
    s.state = OpState::idle;
    if (s.deliver()) s.arm();
  }
  void close() noexcept {
    if (fd < 0) return;
    loop->backend->abandon(*this);
    loop->backend->detach(fd_handle, make_error_code(Errc::closed));
    // Consume signals that arrived but were not handled: unblocking them would run their default
    // action (terminate) after we promised to deliver them through the loop.
    while (::read(fd, &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
    }
    ::close(fd);
    fd = -1;
    ::pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  }
};

LoopImpl::LoopImpl(EventLoop& loop)
    : owner(loop), backend(make_backend(*this)), now(EventLoop::clock::now()),
      thread(std::this_thread::get_id()) {
  posted.reserve(16);
  posted_running.reserve(16);
}

LoopImpl::~LoopImpl() { shutdown(); }

void LoopImpl::shutdown() noexcept {
  // Detached tasks first: destroying their frames withdraws their operations and closes their
  // streams while the backend still exists.
  while (ListHook* h = spawned.pop_front()) {
    auto& p = static_cast<PromiseBase&>(static_cast<SpawnLink&>(*h));
    --spawned_count;
    p.detached_in = nullptr;
    p.self.destroy();
  }
  if (signals) signals->close();
  ready.clear();
}

void LoopImpl::run_due_timers() {
  // Only timers armed before this phase began may fire in it: one re-armed from its own callback
  // waits for the next iteration, after a poll.
  const auto limit = timers.next_seq();
  while (TimerNode* t = timers.top()) {
    if (t->at > now || t->seq >= limit) break;
    timers.remove(*t);
    t->fire(*t);
  }
}

void LoopImpl::poll_io(bool may_block) {
  std::chrono::nanoseconds timeout{-1};
  if (!may_block || !ready.empty() || backend->has_deferred() ||
      wake_pending.load(std::memory_order_acquire) || stop.load(std::memory_order_relaxed)) {
    timeout = std::chrono::nanoseconds::zero();
  } else if (TimerNode* t = timers.top()) {
    auto left = t->at - EventLoop::clock::now();
    timeout = left.count() > 0 ? std::chrono::duration_cast<std::chrono::nanoseconds>(left)
                               : std::chrono::nanoseconds::zero();
  }
  backend->poll(timeout);
  now = EventLoop::clock::now();
  timers.set_floor(now);
}

void LoopImpl::dispatch_io() { backend->dispatch(); }

void LoopImpl::run_ready() {
  // Only what was queued before this phase: work queued while it runs waits for the next one.
  HookList batch;
  ready.splice_into(batch);
  while (ListHook* h = batch.pop_front()) {
    auto& node = static_cast<ReadyNode&>(*h);
    node.run(node);
  }
}

void LoopImpl::run_posted() {
  // A poster sets wake_pending after queueing; if it is clear, nothing was queued since the last
  // drain (a poster that is mid-way will also wake the backend, so the next poll returns).
  if (!wake_pending.load(std::memory_order_acquire)) return;
  wake_pending.store(false, std::memory_order_seq_cst);
  {
    std::lock_guard lock(post_mutex);
    posted_running.swap(posted);
  }
  for (auto& fn : posted_running) {
    try {
      fn();
    } catch (...) {
      keep_exception(std::current_exception());
    }
  }
  posted_running.clear();
}

LoopImpl& impl_of(EventLoop& loop) noexcept { return *loop.impl_; }

void PromiseBase::finish_detached(PromiseBase& p) noexcept {
  LoopImpl& l = impl_of(*p.detached_in);
  static_cast<SpawnLink&>(p).unlink();
  --l.spawned_count;
  if (p.exception) l.keep_exception(p.exception);
  p.self.destroy();
}

}  // namespace detail

EventLoop::EventLoop() : impl_(std::make_unique<detail::LoopImpl>(*this)) {}

EventLoop::~EventLoop() {
  CurrentScope scope(this);
  impl_->shutdown();  // while impl_of(*this) still works: frames being destroyed use it
}

bool EventLoop::run_once(bool may_block) {
  detail::LoopImpl& l = *impl_;
  CurrentScope scope(this);
  l.thread.store(std::this_thread::get_id(), std::memory_order_relaxed);
  l.poll_io(may_block);
  l.dispatch_io();
  l.run_due_timers();
  l.run_ready();
  l.run_posted();
  l.release_closed();
  if (l.unhandled) std::rethrow_exception(std::exchange(l.unhandled, nullptr));
  return !l.stop.load(std::memory_order_acquire);
}

void EventLoop::run() {
  while (run_once()) {
  }
  clear_stop();
}

void EventLoop::stop() noexcept {
  impl_->stop.store(true, std::memory_order_release);
  impl_->backend->wake();
}

bool EventLoop::stop_requested() const noexcept {
  return impl_->stop.load(std::memory_order_acquire);
}

void EventLoop::clear_stop() noexcept { impl_->stop.store(false, std::memory_order_release); }

void EventLoop::post(std::move_only_function<void()> fn) {
  detail::LoopImpl& l = *impl_;
  {
    std::lock_guard lock(l.post_mutex);
    l.posted.push_back(std::move(fn));
  }
  if (!l.wake_pending.exchange(true, std::memory_order_seq_cst)) l.backend->wake();
}

void EventLoop::spawn_frame(std::coroutine_handle<> h, detail::PromiseBase& p) {
  detail::LoopImpl& l = *impl_;
  p.self = h;
  p.detached_in = this;
  l.spawned.push_back(static_cast<detail::SpawnLink&>(p));
  ++l.spawned_count;
  start_frame(h, p);
}

void EventLoop::start_frame(std::coroutine_handle<> h, detail::PromiseBase& p) {
  p.self = h;
  p.run = [](detail::ReadyNode& n) noexcept { static_cast<detail::PromiseBase&>(n).self.resume(); };
  impl_->schedule(p);
}

std::size_t EventLoop::spawned_count() const noexcept { return impl_->spawned_count; }

std::string_view EventLoop::backend_name() const noexcept { return impl_->backend->name(); }

EventLoop::clock::time_point EventLoop::now() const noexcept { return impl_->now; }

bool EventLoop::in_loop_thread() const noexcept {
  return impl_->thread.load(std::memory_order_relaxed) == std::this_thread::get_id();
}

EventLoop* EventLoop::current() noexcept { return current_loop; }

Status EventLoop::handle_signals(std::initializer_list<int> signals,
                                 std::move_only_function<void(int)> handler) {
  detail::LoopImpl& l = *impl_;
  if (l.signals) {
    l.signals->close();
    l.signals.reset();
  }
  auto s = std::make_unique<detail::SignalState>();
  s->loop = &l;
  sigemptyset(&s->set);
  for (int sig : signals) sigaddset(&s->set, sig);
  if (int e = ::pthread_sigmask(SIG_BLOCK, &s->set, &s->old_mask); e != 0) {
    return fail(errno_code(e));
  }
  s->fd = ::signalfd(-1, &s->set, SFD_NONBLOCK | SFD_CLOEXEC);
  if (s->fd < 0) {
    int e = errno;
    ::pthread_sigmask(SIG_SETMASK, &s->old_mask, nullptr);
    return fail(errno_code(e));
  }
  auto h = l.backend->attach(s->fd);
  if (!h) {
    ::close(s->fd);
    ::pthread_sigmask(SIG_SETMASK, &s->old_mask, nullptr);
    return fail(h.error());
  }
  s->fd_handle = *h;
  s->handler = std::move(handler);
  s->run = &detail::SignalState::on_read;
  l.signals = std::move(s);
  l.signals->arm();
  return {};
}

}  // namespace tether
