#pragma once
// The queue for tasks submitted from threads outside a pool. Workers take them in batches,
// so the lock is taken about once per batch on their side; a submitter takes it once per
// task, and the two meet often: the lock spins a moment before it sleeps.
//
// The queue also decides, under its lock, whether a new task is still accepted: a pool that
// shuts down close()s it, and try_push() fails from then on. A submit that got in is thus
// ordered before the close, and a worker that saw the queue closed also sees that task (it
// does not exit and leave it behind). This spares submits a counter of submits in progress.

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <vector>

#include "spin_then_block_mutex.hpp"
#include "unshared_counter.hpp"

namespace confut::detail {

template <class T>
class InjectionQueue {
 public:
  /// Queues a new item unless the queue is closed; counts it in accepted().
  bool try_push(T item) {
    std::lock_guard lock(mutex_);
    if (closed_.load(std::memory_order_relaxed)) return false;
    push_locked(item);
    increment_unshared(accepted_);  // the lock makes this the only writer
    return true;
  }

  /// Queues an item that was accepted before (a task whose inputs just finished), closed or
  /// not.
  void push(T item) {
    std::lock_guard lock(mutex_);
    push_locked(item);
  }

  /// From now on try_push() fails. Idempotent.
  void close() {
    std::lock_guard lock(mutex_);
    closed_.store(true, std::memory_order_release);
  }

  /// True once close() ran; every item try_push() took before is then visible to the caller.
  bool closed() const noexcept { return closed_.load(std::memory_order_acquire); }

  /// How many items try_push() has taken.
  std::uint64_t accepted() const noexcept { return accepted_.load(std::memory_order_relaxed); }

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
  void push_locked(T item) {
    if (size_ == ring_.size()) grow();
    ring_[(head_ + size_) & (ring_.size() - 1)] = item;
    ++size_;
    approximate_size_.store(size_, std::memory_order_release);
  }

  void grow() {
    std::vector<T> bigger(std::max<std::size_t>(64, ring_.size() * 2));
    for (std::size_t i = 0; i < size_; ++i) bigger[i] = ring_[(head_ + i) & (ring_.size() - 1)];
    ring_ = std::move(bigger);
    head_ = 0;
  }

  SpinThenBlockMutex mutex_;
  std::vector<T> ring_;
  std::size_t head_ = 0;
  std::size_t size_ = 0;
  std::atomic<std::size_t> approximate_size_{0};
  std::atomic<bool> closed_{false};
  std::atomic<std::uint64_t> accepted_{0};
};

}  // namespace confut::detail
