#pragma once
// How long a waiting thread should spin before it sleeps, learned from its own recent waits.
//
// Spinning wins when the wait is short: a hand-off between two running threads costs well
// under a microsecond, a sleep and kernel wake-up 10-20 us on a VM. When the waits are long
// (tasks of milliseconds), every spin is lost: on a machine whose cores are all busy with
// tasks, the spinning thread takes CPU from them (on 2 cores, 20 us per millisecond task is
// 2% of the run). So the spin limit halves after each wait that a full spin would not have
// caught, down to kShortest, and goes back to the longest spin as soon as a wait was short.

#include <algorithm>
#include <chrono>

namespace confut::detail {

class AdaptiveSpin {
 public:
  static constexpr std::chrono::nanoseconds kShortest{500};

  explicit constexpr AdaptiveSpin(std::chrono::nanoseconds longest) noexcept
      : longest_(longest), limit_(longest) {}

  /// How long to spin in the next wait.
  constexpr std::chrono::nanoseconds limit() const noexcept { return limit_; }

  /// After a wait: `waited` is how long it took from its start until the thread went on.
  constexpr void record(std::chrono::nanoseconds waited) noexcept {
    // Twice the longest spin: a wait that ended a little after a spin gave up still argues
    // for spinning (the sleep and wake-up added their own time to it).
    if (waited <= 2 * longest_) {
      limit_ = longest_;
    } else {
      limit_ = std::max(limit_ / 2, std::min(kShortest, longest_));
    }
  }

 private:
  std::chrono::nanoseconds longest_;
  std::chrono::nanoseconds limit_;
};

}  // namespace confut::detail
