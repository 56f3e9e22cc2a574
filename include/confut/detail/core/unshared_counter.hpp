#pragma once
// Counters that one thread at a time writes (a worker's own, or one guarded by a lock) while
// any thread may read them, as stats() does.

#include <atomic>
#include <cstdint>

namespace confut::detail {

/// Adds one with a plain load and store: no locked read-modify-write, which would cost a
/// task-sized share of the hot path. Only for counters with a single writer at a time.
inline void increment_unshared(std::atomic<std::uint64_t>& counter) noexcept {
  counter.store(counter.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

}  // namespace confut::detail
