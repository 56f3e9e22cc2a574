#pragma once
// A thread-pool worker's counters for stats(). Only the worker writes them (with
// increment_unshared: no read-modify-write); stats() reads them from any thread.

#include <atomic>
#include <cstdint>

namespace confut::detail {

struct WorkerThreadCounters {
  std::atomic<std::uint64_t> submitted{0};  // by tasks running on this worker
  std::atomic<std::uint64_t> started{0};
  std::atomic<std::uint64_t> finished{0};
  std::atomic<std::uint64_t> failed{0};
  // Busy time is the worker's lifetime minus its idle spans, so that the clock is read
  // only when a worker goes idle or wakes, never around each task.
  std::atomic<std::int64_t> alive_since_ns{0};
  std::atomic<std::int64_t> exited_at_ns{0};
  std::atomic<std::int64_t> idle_ns{0};
  std::atomic<std::int64_t> idle_since_ns{0};  // 0 while busy

  void begin_idle(std::int64_t now_ns) noexcept {
    if (idle_since_ns.load(std::memory_order_relaxed) == 0) {
      idle_since_ns.store(now_ns, std::memory_order_relaxed);
    }
  }

  void end_idle(std::int64_t last_seen_ns) noexcept {
    const std::int64_t since = idle_since_ns.load(std::memory_order_relaxed);
    if (since == 0) return;
    const std::int64_t span = last_seen_ns > since ? last_seen_ns - since : 0;
    idle_ns.store(idle_ns.load(std::memory_order_relaxed) + span, std::memory_order_relaxed);
    idle_since_ns.store(0, std::memory_order_relaxed);
  }

  std::int64_t busy_until(std::int64_t now_ns) const noexcept {
    const std::int64_t alive = alive_since_ns.load(std::memory_order_relaxed);
    if (alive == 0) return 0;
    const std::int64_t exited = exited_at_ns.load(std::memory_order_relaxed);
    const std::int64_t end = exited != 0 ? exited : now_ns;
    const std::int64_t since = idle_since_ns.load(std::memory_order_relaxed);
    const std::int64_t idle = idle_ns.load(std::memory_order_relaxed) +
                              (since != 0 && exited == 0 && now_ns > since ? now_ns - since : 0);
    const std::int64_t busy = end - alive - idle;
    return busy > 0 ? busy : 0;
  }
};

}  // namespace confut::detail
