#pragma once
/// @file performance_report.hpp
/// `performance_report`: records every executor while it is alive, then writes one
/// self-contained HTML page (no network needed to view it) with the task stream as a
/// timeline, per-worker utilization, a task-duration histogram and the statistics table —
/// as Dask's `performance_report`.
///
/// @code
/// {
///   confut::performance_report report("report.html");
///   confut::ThreadPoolExecutor ex(4);
///   ... work ...
/// }  // report.html is written here (or call report.close())
/// @endcode

#include <fstream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "detail/report/html_report.hpp"
#include "detail/report/recorder.hpp"
#include "error_handler.hpp"
#include "errors.hpp"
#include "stats.hpp"
#include "task_stream.hpp"

namespace confut {

/// Options for performance_report, all optional.
struct PerformanceReportOptions {
  /// Shown at the top of the page.
  std::string title = "confut performance report";
  /// Also writes the task stream as Chrome trace-event JSON here (Perfetto, chrome://tracing).
  std::string trace_path{};
};

/// While alive, every executor of the process records its task stream (executors created
/// meanwhile too); close() or the destructor writes the report. Thread-safe to create
/// several at once; each sees everything that ran while it was open.
class performance_report {
 public:
  [[nodiscard]] explicit performance_report(std::string path,
                                            PerformanceReportOptions options = {})
      : path_(std::move(path)),
        options_(std::move(options)),
        report_(detail::RecordingHub::instance().open_report()) {}

  performance_report(const performance_report&) = delete;
  performance_report& operator=(const performance_report&) = delete;

  /// Writes the report if close() was not called. An error writing it goes to the
  /// unobserved-error handler (a destructor cannot throw).
  ~performance_report() {
    if (closed_) return;
    try {
      close();
    } catch (...) {
      detail::report_unhandled_error(std::current_exception(),
                                     "performance_report could not write " + path_);
    }
  }

  /// Stops recording and writes the page (and the trace, if asked for). Throws confut::Error
  /// when a file cannot be written. Later calls do nothing.
  void close() {
    if (closed_) return;
    closed_ = true;
    auto [stream, stats] = detail::RecordingHub::instance().close_report(report_);
    stream_ = std::move(stream);
    stats_ = std::move(stats);
    const std::string page = detail::render_performance_report(stream_, stats_, options_.title);
    std::ofstream file(path_, std::ios::binary | std::ios::trunc);
    if (!file) throw Error("performance_report: cannot open " + path_ + " for writing");
    file.write(page.data(), static_cast<std::streamsize>(page.size()));
    if (!file.flush()) throw Error("performance_report: cannot write " + path_);
    if (!options_.trace_path.empty()) stream_.write_chrome_trace(options_.trace_path);
  }

  const std::string& path() const noexcept { return path_; }
  /// What the report shows; filled by close().
  const TaskStream& task_stream() const noexcept { return stream_; }
  const std::vector<ExecutorStats>& stats() const noexcept { return stats_; }

 private:
  std::string path_;
  PerformanceReportOptions options_;
  std::shared_ptr<detail::RecordingHub::Report> report_;
  bool closed_ = false;
  TaskStream stream_;
  std::vector<ExecutorStats> stats_;
};

}  // namespace confut
