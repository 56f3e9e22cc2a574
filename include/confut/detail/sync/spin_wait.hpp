#pragma once
// Spin-waiting: looking at a condition in a tight loop for a bounded time before a thread
// goes to sleep, because a hand-off between two running threads costs far less than a
// kernel wake-up. Used by threads that wait outside a pool, by the process pool's
// dispatcher and by the shared-memory rings.

#include <chrono>

#include <sched.h>

#include "cpu_relax.hpp"

namespace confut::detail {

/// Whether a spin-wait gives the CPU up now and then. With more busy threads than cores (a
/// process pool on a small machine), the thread being waited for may need this one's core;
/// with a core to spare, a yield returns at once.
enum class SpinYield { never, every_32_looks };

/// Spins until `ready()` or until `spin_end`; returns ready().
template <class Ready>
bool spin_until(Ready&& ready, std::chrono::steady_clock::time_point spin_end, SpinYield yield) {
  for (unsigned look = 1;; ++look) {
    if (ready()) return true;
    cpu_relax();
    if (look % 16 != 0) continue;
    if (std::chrono::steady_clock::now() >= spin_end) return ready();
    if (yield == SpinYield::every_32_looks && look % 32 == 0) ::sched_yield();
  }
}

}  // namespace confut::detail
