// tether/detail/list.hpp: an intrusive doubly-linked list, the loop's only container of waiters.
//
// A ListHook is embedded in (usually a base of) the object it links, so linking never allocates.
// A hook is in at most one list at a time; unlink() is O(1) and safe on an unlinked hook. A hook
// must not be copied or moved while linked: the list points at it.
#pragma once

#pragma GCC visibility push(default)  // the public API (the shared library hides the rest)

namespace tether::detail {

struct ListHook {
  ListHook* prev = this;
  ListHook* next = this;

  ListHook() noexcept = default;
  // Copies and moves start unlinked: the list holds the address of the original.
  ListHook(const ListHook&) noexcept {}
  ListHook& operator=(const ListHook&) noexcept { return *this; }
  ~ListHook() { unlink(); }

  bool linked() const noexcept { return next != this; }
  void unlink() noexcept {
    prev->next = next;
    next->prev = prev;
    prev = next = this;
  }
};

/// The head of a circular list of hooks. Not copyable or movable (elements point at the head).
class HookList {
 public:
  HookList() noexcept = default;
  HookList(const HookList&) = delete;
  HookList& operator=(const HookList&) = delete;
  ~HookList() { clear(); }

  bool empty() const noexcept { return head_.next == &head_; }
  ListHook* front() noexcept { return empty() ? nullptr : head_.next; }

  void push_back(ListHook& h) noexcept {
    h.unlink();
    h.prev = head_.prev;
    h.next = &head_;
    head_.prev->next = &h;
    head_.prev = &h;
  }
  ListHook* pop_front() noexcept {
    ListHook* h = front();
    if (h != nullptr) h->unlink();
    return h;
  }
  /// Moves every element to the end of `other`.
  void splice_into(HookList& other) noexcept {
    if (empty()) return;
    ListHook* first = head_.next;
    ListHook* last = head_.prev;
    head_.next = head_.prev = &head_;
    first->prev = other.head_.prev;
    other.head_.prev->next = first;
    last->next = &other.head_;
    other.head_.prev = last;
  }
  /// Calls f(hook) for each element in order; f may unlink the element it is given.
  template <class F>
  void for_each(F&& f) {
    for (ListHook* h = head_.next; h != &head_;) {
      ListHook* next = h->next;
      f(*h);
      h = next;
    }
  }
  /// Unlinks every element (the elements themselves are untouched).
  void clear() noexcept {
    while (pop_front() != nullptr) {
    }
  }

 private:
  ListHook head_;
};

}  // namespace tether::detail

#pragma GCC visibility pop
