// SignalStorm: SIGALRM every millisecond for its scope, with a handler installed WITHOUT
// SA_RESTART, so that every blocking system call in the process sees EINTR (fault scenario 2).
// signals() counts the deliveries. One storm at a time per process.
#pragma once

#include <signal.h>
#include <sys/time.h>

#include <atomic>

namespace tether::testing {

class SignalStorm {
 public:
  SignalStorm() {
    struct sigaction sa{};
    sa.sa_handler = on_alarm;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART
    sigaction(SIGALRM, &sa, &old_);
    itimerval it{};
    it.it_interval.tv_usec = 1000;
    it.it_value.tv_usec = 1000;
    setitimer(ITIMER_REAL, &it, nullptr);
  }
  ~SignalStorm() {
    itimerval off{};
    setitimer(ITIMER_REAL, &off, nullptr);
    sigaction(SIGALRM, &old_, nullptr);
  }
  SignalStorm(const SignalStorm&) = delete;
  SignalStorm& operator=(const SignalStorm&) = delete;

  /// Signals delivered so far, by every storm of the process.
  static long signals() noexcept { return count().load(std::memory_order_relaxed); }

 private:
  static std::atomic<long>& count() noexcept {
    static std::atomic<long> n{0};
    return n;
  }
  static void on_alarm(int) { count().fetch_add(1, std::memory_order_relaxed); }

  struct sigaction old_{};
};

}  // namespace tether::testing
