#pragma once
/// @file stats.hpp
/// `ExecutorStats`: what `ex.stats()` returns — task counts by state and each worker's busy
/// time. The counters are always on; reading them is cheap and never blocks the workers.
///
/// @code
/// confut::ThreadPoolExecutor ex(4);
/// ... submit work ...
/// std::cout << ex.stats();  // a small table
/// @endcode

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <ostream>
#include <string>
#include <vector>

namespace confut {

/// One worker (thread or process) of an executor.
struct WorkerStats {
  std::string label;                    // e.g. "confut-0", or "worker 0 (pid 4242)"
  std::uint64_t tasks = 0;              // tasks it ran to the end (finished or failed)
  std::chrono::nanoseconds busy{0};     // time spent running tasks
};

/// A snapshot of an executor's counters. Taken without stopping the workers, so the
/// counts may be a moment apart from each other; each one on its own is exact.
struct ExecutorStats {
  std::string executor;            // e.g. "ThreadPoolExecutor 1"
  std::uint64_t submitted = 0;     // every task accepted by submit() or map()
  std::uint64_t waiting = 0;       // waiting for input futures
  std::uint64_t queued = 0;        // ready, not started
  std::uint64_t running = 0;       // started, not done
  std::uint64_t finished = 0;      // done with a value
  std::uint64_t failed = 0;        // done with an error (its own, or an input's)
  // Cancelled before they ran (or stopped, on processes). A task cancelled while queued (on
  // processes, also while it waits in a worker's queue) is counted here once its executor
  // reaches it in the queue, and as queued until then.
  std::uint64_t cancelled = 0;
  std::chrono::nanoseconds uptime{0};  // since the executor was created
  std::vector<WorkerStats> workers;

  /// Tasks that are done, one way or another.
  std::uint64_t done() const noexcept { return finished + failed + cancelled; }

  /// Sets `queued` to what the other counts leave of `submitted` (executors count every
  /// other state directly; a task in a queue is one that is in none of them).
  void derive_queued() noexcept {
    const std::uint64_t accounted = waiting + running + done();
    queued = submitted > accounted ? submitted - accounted : 0;
  }

  /// Share of the workers' time spent running tasks since the executor started, in [0, 1].
  double utilization() const noexcept {
    if (workers.empty() || uptime.count() <= 0) return 0.0;
    double busy = 0.0;
    for (const WorkerStats& worker : workers) busy += static_cast<double>(worker.busy.count());
    const double share = busy / (static_cast<double>(uptime.count()) *
                                 static_cast<double>(workers.size()));
    return share < 0.0 ? 0.0 : (share > 1.0 ? 1.0 : share);
  }
};

/// Prints a short table:
/// @code
/// ThreadPoolExecutor 1: 1000 submitted, 0 waiting, 0 queued, 0 running, 998 finished,
///   2 failed, 0 cancelled; up 1.200 s, utilization 87.5%        (one line when printed)
///   confut-0                        503 tasks  busy 1.050 s
///   confut-1                        497 tasks  busy 1.049 s
/// @endcode
inline std::ostream& operator<<(std::ostream& out, const ExecutorStats& stats) {
  auto seconds = [](std::chrono::nanoseconds d) {
    char text[32];
    std::snprintf(text, sizeof text, "%.3f s", static_cast<double>(d.count()) / 1e9);
    return std::string(text);
  };
  char utilization[32];
  std::snprintf(utilization, sizeof utilization, "%.1f%%", 100.0 * stats.utilization());
  out << stats.executor << ": " << stats.submitted << " submitted, " << stats.waiting
      << " waiting, " << stats.queued << " queued, " << stats.running << " running, "
      << stats.finished << " finished, " << stats.failed << " failed, " << stats.cancelled
      << " cancelled; up " << seconds(stats.uptime) << ", utilization " << utilization << "\n";
  for (const WorkerStats& worker : stats.workers) {
    char line[160];
    std::snprintf(line, sizeof line, "  %-24s %10llu tasks  busy %s\n", worker.label.c_str(),
                  static_cast<unsigned long long>(worker.tasks), seconds(worker.busy).c_str());
    out << line;
  }
  return out;
}

}  // namespace confut
