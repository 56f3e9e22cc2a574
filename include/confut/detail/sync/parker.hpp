#pragma once
// A one-token park/unpark primitive for putting one thread to sleep until another wakes it.

#include <atomic>
#include <chrono>
#include <cstdint>

#include "futex.hpp"

namespace confut::detail {

/// Lets its owning thread sleep until another thread calls unpark(). An unpark that comes
/// first is remembered (one token), so the wake-up cannot be lost. park() may also return
/// spuriously: callers re-check their condition in a loop.
///
/// The sleep is a private futex on the state word itself: a wake-up costs the unparker one
/// system call and the parked thread none beyond its wait. (A mutex and condition variable
/// cost each side one or two more, and on a VM each costs microseconds.) The atomic state
/// carries the ordering: what the unparker wrote before unpark() is visible after park().
class Parker {
 public:
  void park() {
    if (!enter_parked()) return;
    do {
      futex_wait(state_, kParked, std::chrono::nanoseconds::max(), FutexScope::this_process);
    } while (!try_consume_token());
  }

  /// Returns false when the deadline passed with no unpark.
  template <class Clock, class Duration>
  bool park_until(std::chrono::time_point<Clock, Duration> deadline) {
    if (!enter_parked()) return true;
    while (true) {
      const auto left = deadline - Clock::now();
      if (left <= decltype(left)::zero()) {
        // Leave the parked state; a token that raced with the timeout still counts.
        return state_.exchange(kEmpty, std::memory_order_acq_rel) == kNotified;
      }
      futex_wait(state_, kParked, std::chrono::duration_cast<std::chrono::nanoseconds>(left),
                 FutexScope::this_process);
      if (try_consume_token()) return true;
    }
  }

  void unpark() {
    if (state_.exchange(kNotified, std::memory_order_acq_rel) == kParked) {
      futex_wake(state_, FutexScope::this_process);
    }
  }

 private:
  /// Empty -> parked; false (and the token taken) when an unpark came first.
  bool enter_parked() {
    std::uint32_t expected = kEmpty;
    if (state_.compare_exchange_strong(expected, kParked, std::memory_order_acq_rel)) {
      return true;
    }
    state_.store(kEmpty, std::memory_order_release);  // it was notified (read with acquire)
    return false;
  }

  bool try_consume_token() {
    std::uint32_t expected = kNotified;
    return state_.compare_exchange_strong(expected, kEmpty, std::memory_order_acquire);
  }

  static constexpr std::uint32_t kEmpty = 0;
  static constexpr std::uint32_t kParked = 1;
  static constexpr std::uint32_t kNotified = 2;

  std::atomic<std::uint32_t> state_{kEmpty};
};

}  // namespace confut::detail
