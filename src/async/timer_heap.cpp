#include "async/timer_heap.hpp"

namespace tether::detail {

void TimerHeap::add(TimerNode& node) {
  remove(node);
  if (node.at < floor_) node.at = floor_;
  node.seq = seq_++;
  heap_.push_back(&node);
  node.heap_index = heap_.size() - 1;
  sift_up(node.heap_index);
}

void TimerHeap::remove(TimerNode& node) noexcept {
  if (!node.armed()) return;
  std::size_t i = node.heap_index;
  node.heap_index = TimerNode::npos;
  TimerNode* last = heap_.back();
  heap_.pop_back();
  if (last == &node) return;
  place(i, last);
  if (i > 0 && earlier(last, heap_[(i - 1) / 2])) {
    sift_up(i);
  } else {
    sift_down(i);
  }
}

void TimerHeap::sift_up(std::size_t i) noexcept {
  TimerNode* n = heap_[i];
  while (i > 0) {
    std::size_t parent = (i - 1) / 2;
    if (!earlier(n, heap_[parent])) break;
    place(i, heap_[parent]);
    i = parent;
  }
  place(i, n);
}

void TimerHeap::sift_down(std::size_t i) noexcept {
  TimerNode* n = heap_[i];
  const std::size_t count = heap_.size();
  for (;;) {
    std::size_t child = 2 * i + 1;
    if (child >= count) break;
    if (child + 1 < count && earlier(heap_[child + 1], heap_[child])) ++child;
    if (!earlier(heap_[child], n)) break;
    place(i, heap_[child]);
    i = child;
  }
  place(i, n);
}

}  // namespace tether::detail
