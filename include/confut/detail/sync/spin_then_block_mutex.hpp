#pragma once
// A mutex for critical sections of a few instructions that threads meet on at a high rate
// (the workers taking batches from the pool's shared queue). A contended std::mutex puts
// the waiter to sleep in the kernel at once, and its holder then pays a wake-up system call
// on unlock: a round trip a hundred times longer than the critical section (W1, when
// submitters took this lock too: 100 ns per task with std::mutex, 41 ns with retrying
// first). Retrying for a moment first almost always finds the lock free; only a holder that
// was preempted makes the waiter sleep.
//
// While it retries, a waiter only reads the lock word: a failed compare-and-swap would take
// the cache line away from the holder, who then waits for it again to unlock.

#include <atomic>
#include <cstdint>

#include "cpu_relax.hpp"

namespace confut::detail {

/// Meets Lockable: use it with std::lock_guard.
class SpinThenBlockMutex {
 public:
  void lock() {
    if (try_lock()) return;
    for (int attempt = 0; attempt < kAttemptsBeforeBlocking; ++attempt) {
      cpu_relax();
      if (state_.load(std::memory_order_relaxed) == kUnlocked && try_lock()) return;
    }
    // Sleeping: the state says "locked, someone may sleep", so that unlock() wakes us.
    while (state_.exchange(kLockedWithSleepers, std::memory_order_acquire) != kUnlocked) {
      state_.wait(kLockedWithSleepers, std::memory_order_relaxed);
    }
  }

  bool try_lock() noexcept {
    std::uint32_t expected = kUnlocked;
    return state_.compare_exchange_strong(expected, kLocked, std::memory_order_acquire,
                                          std::memory_order_relaxed);
  }

  void unlock() noexcept {
    if (state_.exchange(kUnlocked, std::memory_order_release) == kLockedWithSleepers) {
      state_.notify_one();
    }
  }

 private:
  static constexpr int kAttemptsBeforeBlocking = 100;
  static constexpr std::uint32_t kUnlocked = 0;
  static constexpr std::uint32_t kLocked = 1;
  static constexpr std::uint32_t kLockedWithSleepers = 2;

  std::atomic<std::uint32_t> state_{kUnlocked};
};

}  // namespace confut::detail
