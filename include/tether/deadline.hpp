// tether/deadline.hpp: one point in time after which a blocking call gives up with
// std::errc::timed_out.
//
// A default Deadline is "never". A duration converts implicitly, so `s.read_some(buf, 2s)` reads
// with a two-second deadline. A Deadline is a value: pass one to several calls to bound them all
// together (connect tries every resolved address within ONE deadline).
#pragma once

#include <chrono>
#include <climits>

#pragma GCC visibility push(default)  // the public API (the shared library hides the rest)

namespace tether {

class Deadline {
 public:
  using clock = std::chrono::steady_clock;

  constexpr Deadline() noexcept = default;

  template <class Rep, class Period>
  Deadline(std::chrono::duration<Rep, Period> timeout) noexcept  // NOLINT: implicit by design
      : at_(clock::now() + std::chrono::ceil<clock::duration>(timeout)), never_(false) {}

  static constexpr Deadline never() noexcept { return {}; }
  static Deadline at(clock::time_point tp) noexcept {
    Deadline d;
    d.at_ = tp;
    d.never_ = false;
    return d;
  }

  bool is_never() const noexcept { return never_; }
  bool expired() const noexcept { return !never_ && clock::now() >= at_; }
  clock::time_point time_point() const noexcept { return never_ ? clock::time_point::max() : at_; }

  /// Time left, zero when expired; clock::duration::max() for never.
  clock::duration remaining() const noexcept {
    if (never_) return clock::duration::max();
    auto left = at_ - clock::now();
    return left > clock::duration::zero() ? left : clock::duration::zero();
  }

  /// Milliseconds for poll()/epoll_wait(): -1 for never, rounded up so a wait never ends early.
  int timeout_ms() const noexcept {
    if (never_) return -1;
    auto ms = std::chrono::ceil<std::chrono::milliseconds>(remaining()).count();
    return ms > INT_MAX ? INT_MAX : static_cast<int>(ms);
  }

  /// The earlier of two deadlines.
  friend Deadline earliest(const Deadline& a, const Deadline& b) noexcept {
    if (a.never_) return b;
    if (b.never_) return a;
    return a.at_ <= b.at_ ? a : b;
  }

 private:
  clock::time_point at_{};
  bool never_ = true;
};

}  // namespace tether

#pragma GCC visibility pop
