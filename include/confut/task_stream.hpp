#pragma once
/// @file task_stream.hpp
/// The task stream: what an executor ran, where and when, as recorded while recording is on
/// (`ex.start_recording()` ... `ex.stop_recording()`, or a `performance_report`), and its
/// export as Chrome trace-event JSON, which Perfetto (ui.perfetto.dev) and chrome://tracing
/// open as they are.
///
/// @code
/// confut::ThreadPoolExecutor ex(4);
/// ex.start_recording();
/// ... submit work ...
/// confut::TaskStream stream = ex.stop_recording();
/// stream.write_chrome_trace("trace.json");  // one track per worker, dependencies as arrows
/// @endcode

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <string>
#include <unordered_map>
#include <vector>

#include "detail/report/json.hpp"
#include "errors.hpp"

namespace confut {

/// How a recorded task ended.
enum class TaskOutcome : std::uint8_t { finished, failed, cancelled };

inline const char* to_string(TaskOutcome outcome) noexcept {
  switch (outcome) {
    case TaskOutcome::finished: return "finished";
    case TaskOutcome::failed: return "failed";
    case TaskOutcome::cancelled: return "cancelled";
  }
  return "unknown";
}

/// One task of a task stream. Times are steady-clock instants; a task that never ran
/// (cancelled, or failed because an input failed) has `worker == -1` and
/// `started == ended`, the moment it was dropped.
struct TaskRecord {
  using Clock = std::chrono::steady_clock;

  std::uint64_t id = 0;      // the future's id(), unique across executors
  std::string name;          // the callable's name, or the one given with confut::named()
  std::size_t executor = 0;  // index into TaskStream::executors
  int worker = -1;           // index of the worker that ran it, -1 when it never ran
  Clock::time_point submitted{};
  Clock::time_point started{};
  Clock::time_point ended{};
  TaskOutcome outcome = TaskOutcome::finished;
  /// Ids of the tasks whose futures were arguments of this one (its dependencies).
  std::vector<std::uint64_t> inputs{};
  /// Process pools only: time spent encoding the arguments and the result, and decoding them.
  std::chrono::nanoseconds encode_time{0};
  std::chrono::nanoseconds decode_time{0};

  bool ran() const noexcept { return worker >= 0; }
  std::chrono::nanoseconds duration() const noexcept { return ended - started; }
};

/// An executor that appears in a task stream, with a label for each of its workers.
struct ExecutorTrack {
  std::string name;                  // e.g. "ThreadPoolExecutor 1"
  std::vector<std::string> workers;  // e.g. "confut-0" or "worker 0 (pid 4242)"
};

/// A recording of one or more executors.
struct TaskStream {
  using Clock = std::chrono::steady_clock;

  std::vector<ExecutorTrack> executors;
  std::vector<TaskRecord> tasks;  // in no particular order
  Clock::time_point begin{};      // when recording started
  Clock::time_point end{};        // when it stopped (or the snapshot was taken)

  /// Adds another recording's executors and tasks (executor indices are renumbered).
  void append(TaskStream other) {
    const std::size_t offset = executors.size();
    for (auto& executor : other.executors) executors.push_back(std::move(executor));
    for (auto& task : other.tasks) {
      task.executor += offset;
      tasks.push_back(std::move(task));
    }
    const bool other_earlier = other.begin != Clock::time_point{} && other.begin < begin;
    if (begin == Clock::time_point{} || other_earlier) begin = other.begin;
    end = std::max(end, other.end);
  }

  /// The stream as Chrome trace-event JSON: a process per executor, a thread (track) per
  /// worker, a complete event per task that ran, an instant event on a "not run" track for
  /// each task that did not, and a flow arrow from each input task to its dependent.
  std::string to_chrome_trace() const {
    std::string out;
    out.reserve(128 + tasks.size() * 200);
    out += "{\"displayTimeUnit\":\"ns\",\"traceEvents\":[";
    bool first = true;
    auto next_event = [&] {
      if (!first) out += ",\n";
      first = false;
    };
    const Clock::time_point origin = trace_origin();
    auto micros = [&](Clock::time_point t) {
      detail::append_json_microseconds(
          out, std::chrono::duration_cast<std::chrono::nanoseconds>(t - origin).count());
    };

    for (std::size_t e = 0; e < executors.size(); ++e) {
      const ExecutorTrack& executor = executors[e];
      next_event();
      out += "{\"ph\":\"M\",\"name\":\"process_name\",\"pid\":" + std::to_string(e + 1) +
             ",\"args\":{\"name\":";
      detail::append_json_string(out, executor.name);
      out += "}}";
      next_event();
      out += "{\"ph\":\"M\",\"name\":\"process_sort_index\",\"pid\":" + std::to_string(e + 1) +
             ",\"args\":{\"sort_index\":" + std::to_string(e) + "}}";
      auto name_track = [&](int worker, const std::string& label) {
        next_event();
        out += "{\"ph\":\"M\",\"name\":\"thread_name\",\"pid\":" + std::to_string(e + 1) +
               ",\"tid\":" + std::to_string(track_id(worker)) + ",\"args\":{\"name\":";
        detail::append_json_string(out, label);
        out += "}}";
      };
      for (std::size_t w = 0; w < executor.workers.size(); ++w) {
        name_track(static_cast<int>(w), executor.workers[w]);
      }
      name_track(-1, "not run");
    }

    std::unordered_map<std::uint64_t, const TaskRecord*> by_id;
    by_id.reserve(tasks.size());
    for (const TaskRecord& task : tasks) by_id.emplace(task.id, &task);

    std::uint64_t flow_id = 0;
    for (const TaskRecord& task : tasks) {
      const std::string pid = std::to_string(task.executor + 1);
      const std::string tid = std::to_string(track_id(task.worker));
      next_event();
      out += task.ran() ? "{\"ph\":\"X\",\"cat\":\"task\",\"name\":"
                        : "{\"ph\":\"i\",\"s\":\"t\",\"cat\":\"task\",\"name\":";
      detail::append_json_string(out, task.name.empty() ? std::string("task") : task.name);
      out += ",\"pid\":" + pid + ",\"tid\":" + tid + ",\"ts\":";
      micros(task.started);
      if (task.ran()) {
        out += ",\"dur\":";
        detail::append_json_microseconds(out, task.duration().count());
      }
      out += ",\"args\":{\"id\":" + std::to_string(task.id) + ",\"outcome\":\"" +
             to_string(task.outcome) + "\",\"submitted_us\":";
      micros(task.submitted);
      out += ",\"queued_us\":";
      detail::append_json_microseconds(
          out, std::chrono::duration_cast<std::chrono::nanoseconds>(task.started - task.submitted)
                   .count());
      if (task.encode_time.count() != 0 || task.decode_time.count() != 0) {
        out += ",\"encode_us\":";
        detail::append_json_microseconds(out, task.encode_time.count());
        out += ",\"decode_us\":";
        detail::append_json_microseconds(out, task.decode_time.count());
      }
      if (!task.inputs.empty()) {
        out += ",\"inputs\":[";
        for (std::size_t i = 0; i < task.inputs.size(); ++i) {
          if (i != 0) out += ',';
          out += std::to_string(task.inputs[i]);
        }
        out += ']';
      }
      out += "}}";

      // A flow arrow leaves the input's slice at its end and enters this task's slice.
      if (!task.ran()) continue;
      for (const std::uint64_t input_id : task.inputs) {
        auto found = by_id.find(input_id);
        if (found == by_id.end() || !found->second->ran()) continue;
        const TaskRecord& input = *found->second;
        ++flow_id;
        const auto inside_end =
            input.ended - std::min<Clock::duration>(input.duration() / 2,
                                                    std::chrono::nanoseconds(1));
        next_event();
        out += "{\"ph\":\"s\",\"cat\":\"dependency\",\"name\":\"dependency\",\"id\":" +
               std::to_string(flow_id) + ",\"pid\":" + std::to_string(input.executor + 1) +
               ",\"tid\":" + std::to_string(track_id(input.worker)) + ",\"ts\":";
        micros(inside_end);
        out += "}";
        next_event();
        out += "{\"ph\":\"f\",\"bp\":\"e\",\"cat\":\"dependency\",\"name\":\"dependency\",\"id\":" +
               std::to_string(flow_id) + ",\"pid\":" + pid + ",\"tid\":" + tid + ",\"ts\":";
        micros(task.started);
        out += "}";
      }
    }
    out += "\n]}\n";
    return out;
  }

  /// Writes to_chrome_trace() to `path`; throws confut::Error when the file cannot be written.
  void write_chrome_trace(const std::string& path) const {
    std::ofstream file(path, std::ios::binary | std::ios::trunc);
    if (!file) throw Error("cannot open " + path + " for writing");
    const std::string json = to_chrome_trace();
    file.write(json.data(), static_cast<std::streamsize>(json.size()));
    if (!file.flush()) throw Error("cannot write " + path);
  }

  /// The instant all trace times are measured from: the start of recording, or the first
  /// submit when that was earlier.
  Clock::time_point trace_origin() const {
    Clock::time_point origin = begin;
    for (const TaskRecord& task : tasks) {
      if (origin == Clock::time_point{} || task.submitted < origin) origin = task.submitted;
    }
    return origin;
  }

 private:
  /// Worker w's track is w + 1; track 0 holds the tasks that never ran.
  static int track_id(int worker) noexcept { return worker >= 0 ? worker + 1 : 0; }
};

}  // namespace confut
