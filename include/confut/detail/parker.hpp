#pragma once
// A one-token park/unpark primitive for putting one thread to sleep until another wakes it.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>

namespace confut::detail {

/// Lets its owning thread sleep until another thread calls unpark(). An unpark that comes
/// first is remembered (one token), so the wake-up cannot be lost. park() may also return
/// spuriously: callers re-check their condition in a loop.
class Parker {
 public:
  void park() {
    if (try_consume_token()) return;
    std::unique_lock lock(mutex_);
    std::uint32_t expected = kEmpty;
    if (!state_.compare_exchange_strong(expected, kParked, std::memory_order_acq_rel)) {
      state_.store(kEmpty, std::memory_order_release);  // a token arrived meanwhile
      return;
    }
    do {
      wakeup_.wait(lock);
    } while (!try_consume_token());
  }

  /// Returns false when the deadline passed with no unpark.
  template <class Clock, class Duration>
  bool park_until(std::chrono::time_point<Clock, Duration> deadline) {
    if (try_consume_token()) return true;
    std::unique_lock lock(mutex_);
    std::uint32_t expected = kEmpty;
    if (!state_.compare_exchange_strong(expected, kParked, std::memory_order_acq_rel)) {
      state_.store(kEmpty, std::memory_order_release);
      return true;
    }
    while (true) {
      if (wakeup_.wait_until(lock, deadline) == std::cv_status::timeout) {
        // Leave the parked state; a token that raced with the timeout still counts.
        return state_.exchange(kEmpty, std::memory_order_acq_rel) == kNotified;
      }
      if (try_consume_token()) return true;
    }
  }

  void unpark() {
    if (state_.exchange(kNotified, std::memory_order_acq_rel) != kParked) return;
    // Taking the lock orders this notify after the parker's wait() has released it.
    { std::lock_guard lock(mutex_); }
    wakeup_.notify_one();
  }

 private:
  bool try_consume_token() {
    std::uint32_t expected = kNotified;
    return state_.compare_exchange_strong(expected, kEmpty, std::memory_order_acquire);
  }

  static constexpr std::uint32_t kEmpty = 0;
  static constexpr std::uint32_t kParked = 1;
  static constexpr std::uint32_t kNotified = 2;

  std::atomic<std::uint32_t> state_{kEmpty};
  std::mutex mutex_;
  std::condition_variable wakeup_;
};

}  // namespace confut::detail
