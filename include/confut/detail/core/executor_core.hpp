#pragma once
// What every executor keeps the same way: its worker count, its name and task-stream
// recorder (registered with the hub that performance_report uses), the broken state with its
// reason, how a new task is accepted (id, references, submit time), and the frame of stats().
// Each executor owns one ExecutorCore and adds only what differs: its queues and workers.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>

#include "../../stats.hpp"
#include "../../task_stream.hpp"
#include "../report/recorder.hpp"
#include "shared_state.hpp"

namespace confut::detail {

class ExecutorCore {
 public:
  using Clock = std::chrono::steady_clock;

  /// The most workers an executor may have; a larger count is a mistake, such as -1.
  static constexpr std::size_t kMaxWorkers = std::size_t{1} << 16;

  /// `kind` names the executor ("ThreadPoolExecutor") in its name and in errors;
  /// `requested_workers` 0 means one per hardware thread. Throws std::invalid_argument when
  /// the count is above kMaxWorkers (a negative count converted to std::size_t is).
  ExecutorCore(const char* kind, std::size_t requested_workers)
      : worker_count_(checked_worker_count(kind, requested_workers)),
        recorder_(next_executor_name(kind), worker_count_) {}

  ExecutorCore(const ExecutorCore&) = delete;
  ExecutorCore& operator=(const ExecutorCore&) = delete;
  ~ExecutorCore() { leave_hub(); }

  std::size_t worker_count() const noexcept { return worker_count_; }

  /// "ProcessPoolExecutor 2": the name in statistics, traces and reports.
  const std::string& name() const noexcept { return recorder_.executor_name(); }

  TaskRecorder& recorder() noexcept { return recorder_; }
  const TaskRecorder& recorder() const noexcept { return recorder_; }
  bool recording() const noexcept { return recorder_.on(); }

  void start_recording() { recorder_.start_recording(); }
  TaskStream stop_recording() { return recorder_.stop_recording(); }

  /// Makes the executor visible to performance_report: called once its stats() can run.
  void join_hub(std::function<ExecutorStats()> stats_source) {
    recorder_.stats_source = std::move(stats_source);
    RecordingHub::instance().add_executor(recorder_);
    in_hub_ = true;
  }
  /// Called by the owner's destructor while its stats() can still run (idempotent).
  void leave_hub() {
    if (std::exchange(in_hub_, false)) RecordingHub::instance().remove_executor(recorder_);
  }

  /// A new task's owner, id, submit time (while recording) and references: the future's,
  /// and the executor's until it lets the task go.
  void accept(StateBase& task, const void* owner) noexcept {
    task.owner = owner;
    task.id_ = next_task_id();
    if (recorder_.on()) [[unlikely]] task.submitted_ns = steady_nanoseconds(Clock::now());
    task.set_initial_refs(2);
  }

  // ---- the broken state: set once, by whoever sees the cause first ----

  bool broken() const noexcept { return broken_.load(std::memory_order_acquire); }

  /// Records why the executor is broken (the first reason stays) and marks it broken.
  void set_broken(std::string reason) {
    {
      std::lock_guard lock(broken_mutex_);
      if (broken_reason_.empty()) broken_reason_ = std::move(reason);
    }
    broken_.store(true, std::memory_order_seq_cst);
  }

  std::string broken_reason() const {
    std::lock_guard lock(broken_mutex_);
    return broken_reason_;
  }

  /// stats() starts from this: the executor's name and uptime; the executor fills in counts.
  ExecutorStats stats_frame() const {
    ExecutorStats stats;
    stats.executor = name();
    stats.uptime = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - created_);
    return stats;
  }

 private:
  static std::size_t checked_worker_count(const char* kind, std::size_t requested) {
    if (requested > kMaxWorkers) {
      throw std::invalid_argument(
          std::string("confut::") + kind + ": max_workers = " + std::to_string(requested) +
          " is not a worker count (at most " + std::to_string(kMaxWorkers) +
          "; a negative count converts to a huge one)");
    }
    return requested != 0 ? requested : std::max(1u, std::thread::hardware_concurrency());
  }

  const std::size_t worker_count_;
  TaskRecorder recorder_;
  const Clock::time_point created_ = Clock::now();
  bool in_hub_ = false;
  std::atomic<bool> broken_{false};
  mutable std::mutex broken_mutex_;
  std::string broken_reason_;
};

}  // namespace confut::detail
