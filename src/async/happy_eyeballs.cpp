// src/async/happy_eyeballs.cpp: connecting by name (RFC 8305): resolve off the loop thread, then
// race the addresses, all within one deadline.
#include "async/loop_impl.hpp"

#include <tether/async_tcp.hpp>
#include <tether/when.hpp>

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace tether {

namespace {

// RFC 8305 section 4: the first address's family first, then the families alternate.
std::vector<Endpoint> interleave(std::vector<Endpoint> in) {
  if (in.empty()) return in;
  const int first = in.front().family();
  std::vector<Endpoint> preferred;
  std::vector<Endpoint> other;
  for (auto& e : in) (e.family() == first ? preferred : other).push_back(std::move(e));
  std::vector<Endpoint> out;
  out.reserve(preferred.size() + other.size());
  for (std::size_t i = 0; i < preferred.size() || i < other.size(); ++i) {
    if (i < preferred.size()) out.push_back(std::move(preferred[i]));
    if (i < other.size()) out.push_back(std::move(other[i]));
  }
  return out;
}

Task<Result<AsyncTcpStream>> attempt(EventLoop& loop, Endpoint remote, Deadline deadline) {
  co_return co_await AsyncTcpStream::connect(loop, remote, deadline);
}

// What the resolver thread and the awaiting coroutine share. `abandoned` (under the mutex) says
// the awaiter is gone or done: the thread then drops its result instead of posting it.
struct ResolveShared {
  std::mutex mutex;
  bool abandoned = false;
  EventLoop* loop = nullptr;
  std::coroutine_handle<> waiter;
  Result<std::vector<Endpoint>> result = fail(Errc::no_address);
};

struct ResolveStop {
  class ResolveOp* op;
  void operator()() const noexcept;
};

// Awaitable: getaddrinfo on a helper thread; the deadline and the stop token end the wait.
class ResolveOp : detail::TimerNode, detail::ReadyNode {
 public:
  ResolveOp(EventLoop& loop, std::string host, std::string service, ResolveOptions options,
            Deadline deadline)
      : loop_(&loop), host_(std::move(host)), service_(std::move(service)), options_(options),
        deadline_(deadline), shared_(std::make_shared<ResolveShared>()) {
    fire = &ResolveOp::on_fire;
    run = &ResolveOp::on_ready;
  }
  ResolveOp(const ResolveOp&) = delete;
  ResolveOp& operator=(const ResolveOp&) = delete;
  ~ResolveOp() {
    abandon();
    disarm();
    ReadyNode::unlink();
  }

  bool await_ready() const noexcept { return false; }
  template <class P>
  bool await_suspend(std::coroutine_handle<P> h) {
    return suspend(h, detail::token_of(h));
  }
  Result<std::vector<Endpoint>> await_resume() {
    disarm();
    stop_.reset();
    if (ec_) return fail(ec_);
    std::lock_guard lock(shared_->mutex);
    return std::move(shared_->result);
  }

 private:
  friend struct ResolveStop;

  bool suspend(std::coroutine_handle<> h, std::stop_token token) {
    if (token.stop_requested()) {
      ec_ = make_error_code(Errc::cancelled);
      return false;
    }
    if (deadline_.expired()) {
      ec_ = std::make_error_code(std::errc::timed_out);
      return false;
    }
    waiter_ = h;
    shared_->loop = loop_;
    shared_->waiter = h;
    try {
      std::thread([s = shared_, host = host_, service = service_, options = options_] {
        auto r = resolve(host, service, options);
        std::lock_guard lock(s->mutex);
        if (s->abandoned) return;
        s->result = std::move(r);
        s->loop->post([s] {
          std::unique_lock inner(s->mutex);
          if (s->abandoned) return;
          s->abandoned = true;
          inner.unlock();
          s->waiter.resume();
        });
      }).detach();
    } catch (const std::system_error& e) {
      ec_ = e.code();
      return false;
    }
    if (!deadline_.is_never()) {
      at = deadline_.time_point();
      detail::impl_of(*loop_).timers.add(*this);
    }
    if (token.stop_possible()) stop_.emplace(std::move(token), ResolveStop{this});
    return true;
  }

  // True if this call took the result away from the resolver thread.
  bool abandon() noexcept {
    std::lock_guard lock(shared_->mutex);
    return !std::exchange(shared_->abandoned, true);
  }
  void disarm() noexcept {
    if (TimerNode::armed()) detail::impl_of(*loop_).timers.remove(*this);
  }
  static void on_fire(detail::TimerNode& node) noexcept {
    auto& op = static_cast<ResolveOp&>(node);
    if (!op.abandon()) return;
    op.ec_ = std::make_error_code(std::errc::timed_out);
    op.waiter_.resume();
  }
  static void on_ready(detail::ReadyNode& node) noexcept {
    static_cast<ResolveOp&>(node).waiter_.resume();
  }

  EventLoop* loop_;
  std::string host_;
  std::string service_;
  ResolveOptions options_;
  Deadline deadline_;
  std::shared_ptr<ResolveShared> shared_;
  std::coroutine_handle<> waiter_;
  std::error_code ec_;
  std::optional<std::stop_callback<ResolveStop>> stop_;
};

void ResolveStop::operator()() const noexcept {
  if (!op->abandon()) return;
  op->disarm();
  op->ec_ = make_error_code(Errc::cancelled);
  detail::impl_of(*op->loop_).schedule(*op);
}

}  // namespace

Task<Result<AsyncTcpStream>> AsyncTcpStream::connect(EventLoop& loop,
                                                     std::vector<Endpoint> addresses,
                                                     HappyEyeballsOptions options) {
  if (addresses.empty()) co_return fail(Errc::no_address);
  addresses = interleave(std::move(addresses));
  const std::size_t count = addresses.size();
  std::vector<detail::Outcome<Result<AsyncTcpStream>>> outs(count);
  std::optional<AsyncTcpStream> winner;
  std::error_code last = std::make_error_code(std::errc::timed_out);
  detail::TaskSet set(co_await current_stop_token{});
  std::size_t next = 0;

  set.start(attempt(loop, addresses[next], options.deadline), outs[next]);
  ++next;
  while (set.running() > 0 && !winner) {
    Deadline wake = options.deadline;
    if (next < count) wake = earliest(wake, Deadline(options.attempt_delay));
    auto done = co_await set.next(wake);
    if (!done) {
      if (options.deadline.expired() || set.stop_requested()) break;
      // The previous attempt had its head start: race the next address too.
      set.start(attempt(loop, addresses[next], options.deadline), outs[next]);
      ++next;
      continue;
    }
    auto& out = outs[*done];
    if (out.error) std::rethrow_exception(out.error);
    if (*out.value) {
      winner.emplace(std::move(**out.value));
    } else {
      last = out.value->error();
      if (next < count && !set.stop_requested()) {  // failed: the next one starts at once
        set.start(attempt(loop, addresses[next], options.deadline), outs[next]);
        ++next;
      }
    }
  }
  // Cancel the losers and wait for them: no attempt outlives this call. An attempt that still
  // connected while being stopped is closed (its stream dies with `outs`).
  set.request_stop();
  while (set.running() > 0) (void)co_await set.next();
  if (winner) co_return std::move(*winner);
  if (options.deadline.expired()) co_return fail(std::make_error_code(std::errc::timed_out));
  co_return fail(last);
}

Task<Result<AsyncTcpStream>> AsyncTcpStream::connect(EventLoop& loop, std::string host,
                                                     std::string service,
                                                     HappyEyeballsOptions options) {
  std::vector<Endpoint> addresses;
  if (auto numeric = Endpoint::parse(host, service)) {
    addresses.push_back(std::move(*numeric));
  } else {
    ResolveOptions ro;
    ro.family = options.family;
    auto resolved = co_await ResolveOp(loop, std::move(host), std::move(service), ro,
                                       options.deadline);
    if (!resolved) co_return fail(resolved.error());
    addresses = std::move(*resolved);
  }
  co_return co_await connect(loop, std::move(addresses), options);
}

}  // namespace tether
