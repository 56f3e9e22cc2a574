#pragma once
// The task-stream recorder each executor owns, and the hub that lets a performance_report
// switch recording on in every executor at once (including executors created later).

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "../../stats.hpp"
#include "../../task_stream.hpp"
#include "../core/identity.hpp"
#include "../core/shared_state.hpp"

namespace confut::detail {

/// Nanoseconds on the steady clock, the form a task keeps its submit time in.
inline std::int64_t steady_nanoseconds(std::chrono::steady_clock::time_point t) noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}
inline std::chrono::steady_clock::time_point steady_time_point(std::int64_t nanoseconds) noexcept {
  return std::chrono::steady_clock::time_point(
      std::chrono::duration_cast<std::chrono::steady_clock::duration>(
          std::chrono::nanoseconds(nanoseconds)));
}

/// A done state's code as a recorded outcome.
inline TaskOutcome outcome_of(std::uint8_t code) noexcept {
  return code == kFinished ? TaskOutcome::finished
         : code == kFailed ? TaskOutcome::failed
                           : TaskOutcome::cancelled;
}

/// Records finished tasks while at least one recording session is open. Off, it costs one
/// relaxed load per task. Each worker appends to its own buffer (its own lock, so workers
/// never contend with each other; only a snapshot does).
class TaskRecorder {
 public:
  using Clock = std::chrono::steady_clock;

  TaskRecorder(std::string executor_name, std::size_t workers)
      : executor_name_(std::move(executor_name)), buffers_(workers + 1) {
    labels_.resize(workers);
    for (std::size_t i = 0; i < workers; ++i) labels_[i] = "worker " + std::to_string(i);
  }

  bool on() const noexcept { return sessions_.load(std::memory_order_relaxed) != 0; }

  void begin_session() {
    std::lock_guard lock(sessions_mutex_);
    sessions_.fetch_add(1, std::memory_order_relaxed);
  }

  /// Ends one session; the last one to end drops what was recorded.
  void end_session() {
    std::lock_guard lock(sessions_mutex_);
    if (sessions_.load(std::memory_order_relaxed) == 0) return;
    if (sessions_.fetch_sub(1, std::memory_order_relaxed) == 1) {
      for (auto& buffer : buffers_) {
        std::lock_guard buffer_lock(buffer.mutex);
        buffer.records.clear();
        buffer.records.shrink_to_fit();
      }
    }
  }

  /// The executor's own start_recording() / stop_recording(): one session of its own, which
  /// a second start restarts.
  void start_recording() {
    std::lock_guard lock(own_session_mutex_);
    if (!own_session_) begin_session();
    own_session_ = true;
    own_session_since_ = Clock::now();
  }
  TaskStream stop_recording() {
    std::lock_guard lock(own_session_mutex_);
    if (!own_session_) return {};
    TaskStream stream = collect(own_session_since_);
    own_session_ = false;
    end_session();
    return stream;
  }

  /// A record of what `task` itself knows: id, name (`given`, else the callable's), inputs
  /// and submit time; the executor adds worker, times and outcome, then add()s it.
  TaskRecord record_of(const StateBase& task, int worker, std::string given = {}) {
    TaskRecord record;
    record.id = task.id_;
    record.worker = worker;
    record.name = !given.empty() ? std::move(given)
                                 : name_for(worker, task.name_key(),
                                            [&] { return task.task_name(); });
    record.inputs = task.input_ids();
    if (task.submitted_ns != 0) record.submitted = steady_time_point(task.submitted_ns);
    return record;
  }

  /// Appends a record to its worker's buffer (worker -1: a task that never ran). A task
  /// submitted before recording started counts as submitted when it started.
  void add(TaskRecord record) {
    if (record.submitted == Clock::time_point{}) record.submitted = record.started;
    Buffer& buffer = buffers_[static_cast<std::size_t>(record.worker + 1)];
    std::lock_guard lock(buffer.mutex);
    buffer.records.push_back(std::move(record));
  }

  /// The callable's name, looked up once per callable (`key`) and worker; a null key (a name
  /// given at submit) asks every time.
  template <class NameOf>
  std::string name_for(int worker, const void* key, NameOf&& name_of) {
    if (key == nullptr) return name_of();
    Buffer& buffer = buffers_[static_cast<std::size_t>(worker + 1)];
    {
      std::lock_guard lock(buffer.mutex);
      auto found = buffer.names.find(key);
      if (found != buffer.names.end()) return found->second;
    }
    std::string name = name_of();
    std::lock_guard lock(buffer.mutex);
    buffer.names.emplace(key, name);
    return name;
  }

  void set_worker_label(std::size_t worker, std::string label) {
    std::lock_guard lock(labels_mutex_);
    if (worker < labels_.size()) labels_[worker] = std::move(label);
  }

  const std::string& executor_name() const noexcept { return executor_name_; }

  /// What was recorded of tasks that ended at or after `since`, as a one-executor stream.
  TaskStream collect(Clock::time_point since) const {
    TaskStream stream;
    stream.begin = since;
    stream.end = Clock::now();
    {
      std::lock_guard lock(labels_mutex_);
      stream.executors.push_back(ExecutorTrack{executor_name_, labels_});
    }
    for (const auto& buffer : buffers_) {
      std::lock_guard lock(buffer.mutex);
      for (const TaskRecord& record : buffer.records) {
        if (record.ended >= since) stream.tasks.push_back(record);
      }
    }
    return stream;
  }

  /// Set by the executor: a snapshot of its statistics, for the reports.
  std::function<ExecutorStats()> stats_source;

 private:
  struct Buffer {
    mutable std::mutex mutex;
    std::vector<TaskRecord> records;
    std::unordered_map<const void*, std::string> names;
  };

  const std::string executor_name_;
  std::vector<Buffer> buffers_;  // [0]: tasks that never ran; [w + 1]: worker w
  mutable std::mutex labels_mutex_;
  std::vector<std::string> labels_;
  std::mutex sessions_mutex_;
  std::atomic<std::uint32_t> sessions_{0};
  std::mutex own_session_mutex_;
  bool own_session_ = false;
  Clock::time_point own_session_since_{};
};

/// Every live executor's recorder, and the reports that are open. A report records every
/// executor alive while it is open; an executor destroyed meanwhile hands over what it
/// recorded (and its final statistics) before it goes.
class RecordingHub {
 public:
  using Clock = std::chrono::steady_clock;

  static RecordingHub& instance() {
    static RecordingHub hub;
    return hub;
  }

  /// A report's view: the recordings of executors that went away while it was open.
  struct Report {
    Clock::time_point begin;
    TaskStream departed;
    std::vector<ExecutorStats> departed_stats;
  };

  void add_executor(TaskRecorder& recorder) {
    std::lock_guard lock(mutex_);
    executors_.push_back(&recorder);
    for (std::size_t i = 0; i < reports_.size(); ++i) recorder.begin_session();
  }

  void remove_executor(TaskRecorder& recorder) {
    std::lock_guard lock(mutex_);
    executors_.erase(std::remove(executors_.begin(), executors_.end(), &recorder),
                     executors_.end());
    for (const auto& report : reports_) {
      report->departed.append(recorder.collect(report->begin));
      if (recorder.stats_source) report->departed_stats.push_back(recorder.stats_source());
      recorder.end_session();
    }
  }

  std::shared_ptr<Report> open_report() {
    auto report = std::make_shared<Report>();
    report->begin = Clock::now();
    std::lock_guard lock(mutex_);
    reports_.push_back(report);
    for (TaskRecorder* recorder : executors_) recorder->begin_session();
    return report;
  }

  /// Closes a report: everything it saw, and the statistics of every executor it saw.
  std::pair<TaskStream, std::vector<ExecutorStats>> close_report(
      const std::shared_ptr<Report>& report) {
    std::lock_guard lock(mutex_);
    auto found = std::find(reports_.begin(), reports_.end(), report);
    if (found == reports_.end()) return {};
    reports_.erase(found);
    TaskStream stream;
    stream.begin = report->begin;
    std::vector<ExecutorStats> stats;
    for (TaskRecorder* recorder : executors_) {
      stream.append(recorder->collect(report->begin));
      if (recorder->stats_source) stats.push_back(recorder->stats_source());
      recorder->end_session();
    }
    stream.append(std::move(report->departed));
    for (auto& departed : report->departed_stats) stats.push_back(std::move(departed));
    stream.begin = report->begin;
    stream.end = Clock::now();
    return {std::move(stream), std::move(stats)};
  }

 private:
  std::mutex mutex_;
  std::vector<TaskRecorder*> executors_;
  std::vector<std::shared_ptr<Report>> reports_;
};

}  // namespace confut::detail
