// src/async/timer_heap.hpp (private): the loop's timers, a binary min-heap of intrusive nodes.
//
// Ordered by (deadline, arming sequence), so timers due at the same instant fire in the order they
// were armed. Each node knows its heap index: removal is O(log n) and never searches. The vector
// grows to the largest number of timers ever armed at once and is reused: arming allocates nothing
// in steady state. Loop-thread only.
#pragma once

#include <tether/detail/io_op.hpp>

#include <chrono>
#include <cstdint>
#include <vector>

namespace tether::detail {

class TimerHeap {
 public:
  /// Arms `node` (node.at must be set). Re-arming an armed node moves it. A deadline before the
  /// floor is raised to it (it is due either way), so a timer re-armed for the past from its own
  /// callback sorts after the timers already due and cannot starve them.
  void add(TimerNode& node);
  /// The loop's current time, set after each poll: the earliest deadline add() keeps.
  void set_floor(std::chrono::steady_clock::time_point now) noexcept { floor_ = now; }
  /// Disarms `node`; nothing happens if it is not armed.
  void remove(TimerNode& node) noexcept;
  /// The earliest node, or nullptr.
  TimerNode* top() const noexcept { return heap_.empty() ? nullptr : heap_.front(); }
  bool empty() const noexcept { return heap_.empty(); }
  std::size_t size() const noexcept { return heap_.size(); }
  /// The sequence number the next add() will use: nodes with a smaller one were armed earlier.
  std::uint64_t next_seq() const noexcept { return seq_; }

 private:
  static bool earlier(const TimerNode* a, const TimerNode* b) noexcept {
    return a->at < b->at || (a->at == b->at && a->seq < b->seq);
  }
  void place(std::size_t i, TimerNode* n) noexcept {
    heap_[i] = n;
    n->heap_index = i;
  }
  void sift_up(std::size_t i) noexcept;
  void sift_down(std::size_t i) noexcept;

  std::vector<TimerNode*> heap_;
  std::uint64_t seq_ = 0;
  std::chrono::steady_clock::time_point floor_{};
};

}  // namespace tether::detail
