// src/backend/pool.hpp (private): the backends' record slab. A chunked free list: records never
// move while in use (the kernel and the ready queue hold pointers to them), and a freed record is
// reused before a new chunk is allocated. T needs a `T* next_free` member. Loop-thread only.
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

namespace tether::detail {

template <class T>
class Pool {
 public:
  static constexpr std::size_t per_chunk = 256;
  T* get() {
    if (free_ == nullptr) {
      chunks_.push_back(std::make_unique<T[]>(per_chunk));
      for (std::size_t i = 0; i < per_chunk; ++i) put(&chunks_.back()[i]);
    }
    T* t = free_;
    free_ = t->next_free;
    t->next_free = nullptr;
    return t;
  }
  void put(T* t) noexcept {
    t->next_free = free_;
    free_ = t;
  }
  template <class F>
  void for_each(F&& f) {
    for (auto& c : chunks_) {
      for (std::size_t i = 0; i < per_chunk; ++i) f(c[i]);
    }
  }

 private:
  std::vector<std::unique_ptr<T[]>> chunks_;
  T* free_ = nullptr;
};

}  // namespace tether::detail
