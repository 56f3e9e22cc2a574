#pragma once
// The queue for tasks submitted from threads outside a pool.
//
// Submitters push onto a lock-free stack of tasks (linked through StateBase::queue_next):
// one compare-and-swap on its head, never a wait for a worker's turn. Workers take tasks in
// batches from a ring behind a lock, and refill the ring with the whole stack (one atomic
// instruction) when it runs dry. So the stack's head moves between the submitting thread and
// the workers about once per batch, and the lock is the workers' alone. (When submitters
// and workers shared the lock, perf put two thirds of the submitting thread's time in the
// lock's two instructions, the cache line going back and forth with each batch a worker
// took.)
//
// The head's lowest bit says the queue is closed: a pool that shuts down close()s it, and
// try_push() fails from then on. Push and close change the same word, so a push that got in
// is ordered before the close, and a worker that saw the queue closed also sees that task
// (it does not exit and leave it behind). This spares submits a counter of submits in
// progress.

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <vector>

#include "../core/shared_state.hpp"
#include "../sync/spin_then_block_mutex.hpp"

namespace confut::detail {

class InjectionQueue {
 public:
  /// Queues a new task unless the queue is closed; counts it in accepted().
  bool try_push(StateBase* task) noexcept {
    // Counted first, so that statistics never see a task run that they have not seen
    // submitted; uncounted again if the queue turns out to be closed.
    accepted_.fetch_add(1, std::memory_order_relaxed);
    std::uintptr_t head = head_.load(std::memory_order_relaxed);
    do {
      if ((head & kClosedBit) != 0) {
        accepted_.fetch_sub(1, std::memory_order_relaxed);
        return false;
      }
      task->queue_next = to_task(head);
    } while (!head_.compare_exchange_weak(head, to_word(task), std::memory_order_release,
                                          std::memory_order_relaxed));
    return true;
  }

  /// Queues a task that was accepted before (a task whose inputs just finished), closed or
  /// not.
  void push(StateBase* task) noexcept {
    std::uintptr_t head = head_.load(std::memory_order_relaxed);
    do {
      task->queue_next = to_task(head);
    } while (!head_.compare_exchange_weak(head, to_word(task) | (head & kClosedBit),
                                          std::memory_order_release, std::memory_order_relaxed));
  }

  /// From now on try_push() fails. Idempotent.
  void close() noexcept { head_.fetch_or(kClosedBit, std::memory_order_acq_rel); }

  /// True once close() ran; every task try_push() took before is then visible to the caller.
  bool closed() const noexcept {
    return (head_.load(std::memory_order_acquire) & kClosedBit) != 0;
  }

  /// How many tasks try_push() has taken.
  std::uint64_t accepted() const noexcept { return accepted_.load(std::memory_order_relaxed); }

  /// A hint: may be stale by the time the caller acts on it.
  bool empty() const noexcept {
    return ring_size_hint_.load(std::memory_order_acquire) == 0 &&
           (head_.load(std::memory_order_acquire) & ~kClosedBit) == 0;
  }

  /// Moves the oldest queued tasks into `out`: at most `max`, and at most a `share_among`th
  /// of those queued (rounded up), so that other workers find some too. Returns how many.
  std::size_t pop_batch(StateBase** out, std::size_t max, std::size_t share_among) {
    if (empty()) return 0;
    std::lock_guard lock(mutex_);
    refill_locked();
    const std::size_t taken = std::min({max, size_ / std::max<std::size_t>(share_among, 1) + 1,
                                        size_});
    take_oldest_locked(taken, [&out](StateBase* task) { *out++ = task; });
    return taken;
  }

  /// Takes every queued task, oldest first.
  std::vector<StateBase*> drain() {
    std::vector<StateBase*> tasks;
    std::lock_guard lock(mutex_);
    refill_locked();
    tasks.reserve(size_);
    take_oldest_locked(size_, [&tasks](StateBase* task) { tasks.push_back(task); });
    return tasks;
  }

 private:
  static constexpr std::uintptr_t kClosedBit = 1;  // tasks are at least 8-byte aligned

  static StateBase* to_task(std::uintptr_t word) noexcept {
    return reinterpret_cast<StateBase*>(word & ~kClosedBit);
  }
  static std::uintptr_t to_word(StateBase* task) noexcept {
    return reinterpret_cast<std::uintptr_t>(task);
  }

  /// Removes the `count` oldest tasks from the ring, handing each to `take`.
  template <class Take>
  void take_oldest_locked(std::size_t count, Take&& take) {
    for (std::size_t i = 0; i < count; ++i) {
      take(ring_[head_index_]);
      head_index_ = (head_index_ + 1) & (ring_.size() - 1);
    }
    size_ -= count;
    ring_size_hint_.store(size_, std::memory_order_release);
  }

  /// Moves everything on the stack to the ring, oldest first (the stack is newest first).
  void refill_locked() {
    if ((head_.load(std::memory_order_relaxed) & ~kClosedBit) == 0) return;
    StateBase* newest = to_task(head_.fetch_and(kClosedBit, std::memory_order_acquire));
    std::size_t count = 0;
    for (StateBase* task = newest; task != nullptr; task = task->queue_next) ++count;
    while (size_ + count > ring_.size()) grow();
    std::size_t slot = (head_index_ + size_ + count) & (ring_.size() - 1);
    for (StateBase* task = newest; task != nullptr; task = task->queue_next) {
      slot = (slot - 1) & (ring_.size() - 1);
      ring_[slot] = task;
    }
    size_ += count;
  }

  void grow() {
    std::vector<StateBase*> bigger(std::max<std::size_t>(64, ring_.size() * 2));
    for (std::size_t i = 0; i < size_; ++i) {
      bigger[i] = ring_[(head_index_ + i) & (ring_.size() - 1)];
    }
    ring_ = std::move(bigger);
    head_index_ = 0;
  }

  // The submitters' side and the workers' side on lines of their own.
  alignas(64) std::atomic<std::uintptr_t> head_{0};
  alignas(64) std::atomic<std::uint64_t> accepted_{0};
  alignas(64) SpinThenBlockMutex mutex_;
  std::vector<StateBase*> ring_;
  std::size_t head_index_ = 0;
  std::size_t size_ = 0;
  std::atomic<std::size_t> ring_size_hint_{0};
};

}  // namespace confut::detail
