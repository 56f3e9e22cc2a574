#pragma once
// The queue for tasks submitted from threads outside a pool. Workers take them in batches,
// so the lock is taken about once per batch on their side.

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <mutex>
#include <vector>

namespace confut::detail {

template <class T>
class InjectionQueue {
 public:
  void push(T item) {
    std::lock_guard lock(mutex_);
    if (size_ == ring_.size()) grow();
    ring_[(head_ + size_) & (ring_.size() - 1)] = item;
    ++size_;
    approximate_size_.store(size_, std::memory_order_release);
  }

  /// Moves up to `max` items into `out`; returns how many.
  std::size_t pop_batch(T* out, std::size_t max) {
    if (approximate_size_.load(std::memory_order_acquire) == 0) return 0;
    std::lock_guard lock(mutex_);
    const std::size_t taken = std::min(max, size_);
    for (std::size_t i = 0; i < taken; ++i) {
      out[i] = ring_[head_];
      head_ = (head_ + 1) & (ring_.size() - 1);
    }
    size_ -= taken;
    approximate_size_.store(size_, std::memory_order_release);
    return taken;
  }

  std::vector<T> drain() {
    std::vector<T> items;
    std::lock_guard lock(mutex_);
    items.reserve(size_);
    for (; size_ > 0; --size_) {
      items.push_back(ring_[head_]);
      head_ = (head_ + 1) & (ring_.size() - 1);
    }
    approximate_size_.store(0, std::memory_order_release);
    return items;
  }

  /// A hint: may be stale by the time the caller acts on it.
  std::size_t approximate_size() const noexcept {
    return approximate_size_.load(std::memory_order_acquire);
  }

 private:
  void grow() {
    std::vector<T> bigger(std::max<std::size_t>(64, ring_.size() * 2));
    for (std::size_t i = 0; i < size_; ++i) bigger[i] = ring_[(head_ + i) & (ring_.size() - 1)];
    ring_ = std::move(bigger);
    head_ = 0;
  }

  std::mutex mutex_;
  std::vector<T> ring_;
  std::size_t head_ = 0;
  std::size_t size_ = 0;
  std::atomic<std::size_t> approximate_size_{0};
};

}  // namespace confut::detail
