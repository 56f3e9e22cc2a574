#pragma once
/// @file progress.hpp
/// `progress(futures [, options])`: a progress bar on stderr while futures finish, like
/// tqdm over Python's `as_completed` or Dask's `progress()`.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdio>
#include <memory>
#include <mutex>
#include <optional>
#include <ranges>
#include <string>
#include <type_traits>

#if defined(_WIN32)
#include <io.h>
#else
#include <unistd.h>
#endif

#include "errors.hpp"
#include "future.hpp"

namespace confut {

/// Options for progress(), all optional:
/// @code
/// confut::progress(futures, {.description = "resize", .plain_interval = 5s});
/// @endcode
struct ProgressOptions {
  /// Printed in front of the bar, e.g. "download".
  std::string description{};
  /// Where to draw; nullptr means stderr.
  std::FILE* stream = nullptr;
  /// Redraw in place (true) or print plain lines (false); unset asks isatty() on `stream`.
  std::optional<bool> terminal{};
  /// In plain mode, the longest gap between two lines (a line is also printed every 10%).
  std::chrono::milliseconds plain_interval{1000};
  /// Characters inside the bar's brackets (terminal mode).
  int width = 30;
};

/// What progress() saw: how many futures, how many finished, how many of those failed or
/// were cancelled, and how long it waited.
struct ProgressSummary {
  std::size_t total = 0;
  std::size_t done = 0;
  std::size_t errors = 0;
  double seconds = 0.0;
};

namespace detail {

/// Shared with the done-callbacks, which may still be unwinding when progress() returns.
struct ProgressCounters {
  std::mutex mutex;
  std::condition_variable changed;
  std::size_t done = 0;
  std::size_t errors = 0;
};

inline bool progress_stream_is_terminal(std::FILE* stream) noexcept {
#if defined(_WIN32)
  return _isatty(_fileno(stream)) != 0;
#else
  return isatty(fileno(stream)) != 0;
#endif
}

/// "1:05" or "2:03:07"; "?" when unknown.
inline std::string format_duration(double seconds) {
  if (!(seconds >= 0.0) || seconds > 1e8) return "?";
  const auto whole = static_cast<long long>(seconds + 0.5);
  char buffer[32];
  if (whole >= 3600) {
    std::snprintf(buffer, sizeof buffer, "%lld:%02lld:%02lld", whole / 3600, whole / 60 % 60,
                  whole % 60);
  } else {
    std::snprintf(buffer, sizeof buffer, "%lld:%02lld", whole / 60, whole % 60);
  }
  return buffer;
}

/// One status line without the bar: "12/20, 2 errors, 5.1 tasks/s, elapsed 0:02, ETA 0:02".
inline std::string progress_status(std::size_t done, std::size_t total, std::size_t errors,
                                   double elapsed) {
  const double rate = elapsed > 0.0 ? static_cast<double>(done) / elapsed : 0.0;
  const double eta = done == total ? 0.0
                     : rate > 0.0  ? static_cast<double>(total - done) / rate
                                   : -1.0;
  char buffer[128];
  std::snprintf(buffer, sizeof buffer, "%zu/%zu, %zu error%s, %.1f tasks/s, elapsed ", done,
                total, errors, errors == 1 ? "" : "s", rate);
  return buffer + format_duration(elapsed) + ", ETA " + format_duration(eta);
}

inline std::string progress_bar(std::size_t done, std::size_t total, int width) {
  const auto cells = static_cast<std::size_t>(std::max(width, 0));
  const std::size_t filled = total == 0 ? cells : cells * done / total;
  std::string bar = "[";
  bar.append(filled, '#');
  bar.append(cells - filled, '.');
  bar += "] ";
  return bar;
}

}  // namespace detail

/// Shows a progress bar for `futures` (from any executors) on stderr and blocks until every
/// one is done. On a terminal the bar is redrawn in place at most ten times a second and
/// erased at the end, leaving nothing on screen; otherwise (a log file, a pipe) a plain line
/// is printed every `plain_interval` and every 10%, plus a final line. Returns the counts.
///
/// A failed or cancelled future only counts as an error: progress() never throws for it and
/// never marks its error as observed, so `result()` and the unobserved-error handler still
/// see it. It throws InvalidStateError for an empty Future. It waits on a condition
/// variable, so call it from a thread that is not a pool worker.
///
/// progress() holds its own references, so it can run on a copy of the futures, on another
/// thread, while this thread consumes them, e.g. with as_completed().
///
/// @code
/// std::vector<confut::Future<Image>> futures = ex.map(resize, paths);
/// confut::ProgressSummary s = confut::progress(futures, {.description = "resize"});
/// if (s.errors != 0) std::cerr << s.errors << " of " << s.total << " failed\n";
/// @endcode
template <std::ranges::input_range Range>
  requires is_future_v<std::ranges::range_reference_t<Range>>
ProgressSummary progress(Range&& futures, const ProgressOptions& options = {}) {
  using Clock = std::chrono::steady_clock;
  const Clock::time_point start = Clock::now();
  std::FILE* const out = options.stream != nullptr ? options.stream : stderr;
  const bool terminal = options.terminal.value_or(detail::progress_stream_is_terminal(out));
  const std::string prefix = options.description.empty() ? "" : options.description + ": ";

  auto counters = std::make_shared<detail::ProgressCounters>();
  std::size_t total = 0;
  for (auto&& future : futures) {
    if (!future.valid()) throw InvalidStateError("progress: an empty Future was given");
    ++total;
    auto copy = future;  // add_done_callback is not const
    copy.add_done_callback([counters](const auto& finished) {
      const FutureStatus status = finished.status();  // not exception(): that observes it
      std::lock_guard lock(counters->mutex);
      ++counters->done;
      if (status == FutureStatus::error || status == FutureStatus::cancelled) ++counters->errors;
      counters->changed.notify_all();
    });
  }

  const auto seconds_since_start = [start] {
    return std::chrono::duration<double>(Clock::now() - start).count();
  };
  const auto write = [out](const std::string& text) {
    std::fputs(text.c_str(), out);
    std::fflush(out);
  };

  constexpr auto kRedrawEvery = std::chrono::milliseconds(100);
  const auto plain_interval = std::max(options.plain_interval, std::chrono::milliseconds(1));
  Clock::time_point next_plain = start + plain_interval;
  std::size_t next_step = 1;  // plain mode: print when done reaches next_step tenths of total
  std::size_t done = 0;
  std::size_t errors = 0;
  for (bool first = true;; first = false) {
    {
      std::unique_lock lock(counters->mutex);
      const auto finished_or_step = [&] {
        return counters->done == total ||
               (!terminal && counters->done * 10 >= next_step * total);
      };
      if (!first) {
        counters->changed.wait_until(lock, terminal ? Clock::now() + kRedrawEvery : next_plain,
                                     finished_or_step);
      }
      done = counters->done;
      errors = counters->errors;
    }
    if (done == total) break;
    const double elapsed = seconds_since_start();
    if (terminal) {
      write("\r\x1b[2K" + prefix + detail::progress_bar(done, total, options.width) +
            detail::progress_status(done, total, errors, elapsed));
    } else if (!first) {
      write(prefix + detail::progress_status(done, total, errors, elapsed) + "\n");
      while (next_step <= 10 && done * 10 >= next_step * total) ++next_step;
      next_plain = Clock::now() + plain_interval;
    }
  }

  const ProgressSummary summary{total, done, errors, seconds_since_start()};
  if (terminal) {
    write("\r\x1b[2K");  // leave the screen as it was
  } else if (total != 0) {
    write(prefix + detail::progress_status(done, total, errors, summary.seconds) + "\n");
  }
  return summary;
}

}  // namespace confut
