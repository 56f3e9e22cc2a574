#pragma once
/// @file progress.hpp
/// `progress(futures [, options])`: a progress bar on stderr while futures finish, like
/// tqdm over Python's `as_completed` or Dask's `progress()`; `progress(as_completed(...))`
/// and `progress(ex.map(...))` draw it while the caller iterates the sequence.

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

#include "as_completed.hpp"
#include "errors.hpp"
#include "future.hpp"
#include "map.hpp"

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

/// One status line without the bar: "12/20, 2 errors, 5.1 tasks/s, elapsed 0:02, ETA 0:02",
/// or "12/?, 2 errors, 5.1 tasks/s, elapsed 0:02" when the total is unknown.
inline std::string progress_status(std::size_t done, std::optional<std::size_t> total,
                                   std::size_t errors, double elapsed) {
  const double rate = elapsed > 0.0 ? static_cast<double>(done) / elapsed : 0.0;
  char buffer[128];
  if (!total) {
    std::snprintf(buffer, sizeof buffer, "%zu/?, %zu error%s, %.1f tasks/s, elapsed ", done,
                  errors, errors == 1 ? "" : "s", rate);
    return buffer + format_duration(elapsed);
  }
  const double eta = done >= *total ? 0.0
                     : rate > 0.0   ? static_cast<double>(*total - done) / rate
                                    : -1.0;
  std::snprintf(buffer, sizeof buffer, "%zu/%zu, %zu error%s, %.1f tasks/s, elapsed ", done,
                *total, errors, errors == 1 ? "" : "s", rate);
  return buffer + format_duration(elapsed) + ", ETA " + format_duration(eta);
}

inline std::string progress_bar(std::size_t done, std::size_t total, int width) {
  const auto cells = static_cast<std::size_t>(std::max(width, 0));
  const std::size_t filled = total == 0 ? cells : cells * std::min(done, total) / total;
  std::string bar = "[";
  bar.append(filled, '#');
  bar.append(cells - filled, '.');
  bar += "] ";
  return bar;
}

/// Draws one progress line, for every progress() overload. On a terminal it redraws in place
/// at most ten times a second and erases the line at the end; otherwise it prints a plain line
/// every `plain_interval` and every 10% of a known total, and a final line. Callers say how
/// far they are with show(); it decides whether that is worth a line. Use from one thread.
class ProgressDisplay {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::chrono::milliseconds kRedrawEvery{100};

  explicit ProgressDisplay(const ProgressOptions& options)
      : start_(Clock::now()),
        out_(options.stream != nullptr ? options.stream : stderr),
        terminal_(options.terminal.value_or(progress_stream_is_terminal(out_))),
        prefix_(options.description.empty() ? "" : options.description + ": "),
        width_(options.width),
        plain_interval_(std::max(options.plain_interval, std::chrono::milliseconds(1))),
        next_plain_(start_ + plain_interval_) {}

  ProgressDisplay(const ProgressDisplay&) = delete;
  ProgressDisplay& operator=(const ProgressDisplay&) = delete;

  bool terminal() const noexcept { return terminal_; }

  /// When the next line is due by the clock alone: a waiting caller sleeps until then.
  Clock::time_point next_redraw() const noexcept {
    if (terminal_) return drawn_ ? last_draw_ + kRedrawEvery : start_;
    return next_plain_;
  }

  /// Whether show() would draw now.
  bool due(std::size_t done, std::optional<std::size_t> total) const {
    if (finished_) return false;
    if (Clock::now() >= next_redraw()) return true;
    // Plain mode also prints as each 10% of a known total is passed.
    return !terminal_ && total && *total != 0 && next_step_ <= 10 &&
           done * 10 >= next_step_ * *total;
  }

  /// Draws the line if it is due.
  void show(std::size_t done, std::optional<std::size_t> total, std::size_t errors) {
    if (!due(done, total)) return;
    const double elapsed = seconds();
    if (terminal_) {
      std::string line = "\r\x1b[2K" + prefix_;
      if (total) line += progress_bar(done, *total, width_);
      write(line + progress_status(done, total, errors, elapsed));
      last_draw_ = Clock::now();
    } else {
      write(prefix_ + progress_status(done, total, errors, elapsed) + "\n");
      if (total && *total != 0) {
        while (next_step_ <= 10 && done * 10 >= next_step_ * *total) ++next_step_;
      }
      next_plain_ = Clock::now() + plain_interval_;
    }
    drawn_ = true;
  }

  /// Erases the line (terminal) or prints the final one (plain, unless there was nothing to
  /// count); later calls do nothing.
  void finish(std::size_t done, std::optional<std::size_t> total, std::size_t errors) {
    if (finished_) return;
    finished_ = true;
    finished_at_ = Clock::now();
    if (terminal_) {
      if (drawn_) write("\r\x1b[2K");  // leave the screen as it was
    } else if (done != 0 || total.value_or(0) != 0) {
      write(prefix_ + progress_status(done, total, errors, seconds()) + "\n");
    }
  }

  bool finished() const noexcept { return finished_; }

  /// Seconds since construction, or until finish().
  double seconds() const {
    return std::chrono::duration<double>((finished_ ? finished_at_ : Clock::now()) - start_)
        .count();
  }

 private:
  void write(const std::string& text) {
    std::fputs(text.c_str(), out_);
    std::fflush(out_);
  }

  Clock::time_point start_;
  std::FILE* out_;
  bool terminal_;
  std::string prefix_;
  int width_;
  std::chrono::milliseconds plain_interval_;
  Clock::time_point next_plain_;
  std::size_t next_step_ = 1;  // plain mode: the next tenth of the total that prints a line
  Clock::time_point last_draw_{};
  bool drawn_ = false;
  bool finished_ = false;
  Clock::time_point finished_at_{};
};

template <class T>
inline constexpr bool is_as_completed_v = false;
template <class T>
inline constexpr bool is_as_completed_v<AsCompleted<T>> = true;

template <class T>
inline constexpr bool is_map_results_v = false;
template <class Executor, class F, class... Ranges>
inline constexpr bool is_map_results_v<MapResults<Executor, F, Ranges...>> = true;

/// A sequence that progress() wraps in a ProgressView rather than waiting on.
template <class T>
concept progress_sequence =
    is_as_completed_v<std::remove_cvref_t<T>> || is_map_results_v<std::remove_cvref_t<T>>;

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
/// thread, while this thread consumes them, e.g. with as_completed(). (Passing the
/// as_completed() sequence itself picks the lazy overload below instead.)
///
/// @code
/// std::vector<confut::Future<Image>> futures = ex.map(resize, paths);
/// confut::ProgressSummary s = confut::progress(futures, {.description = "resize"});
/// if (s.errors != 0) std::cerr << s.errors << " of " << s.total << " failed\n";
/// @endcode
template <std::ranges::input_range Range>
  requires is_future_v<std::ranges::range_reference_t<Range>> &&
           (!detail::progress_sequence<Range>)
ProgressSummary progress(Range&& futures, const ProgressOptions& options = {}) {
  detail::ProgressDisplay display(options);
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

  std::size_t done = 0;
  std::size_t errors = 0;
  for (;;) {
    {
      std::unique_lock lock(counters->mutex);
      counters->changed.wait_until(lock, display.next_redraw(), [&] {
        return counters->done == total || display.due(counters->done, total);
      });
      done = counters->done;
      errors = counters->errors;
    }
    if (done == total) break;
    display.show(done, total, errors);
  }
  display.finish(done, total, errors);
  return ProgressSummary{total, done, errors, display.seconds()};
}

/// What progress() returns for an as_completed() or map() sequence: a lazy view that yields
/// what the sequence yields, in the same order, and draws the progress line as the caller
/// takes items. Done counts the items taken; the total is, for as_completed(), those taken
/// plus the sequence's count() (so it grows with add()), and for map() the number of inputs
/// when every input has a size, else unknown (no bar, no ETA). The line is erased (terminal)
/// or a final line printed (plain) when iteration reaches the end or the view is destroyed.
///
/// It holds the sequence (moved in from an rvalue, or referred to for an lvalue, which must
/// then outlive the view); reach it with sequence(), e.g. to add() futures. Iterate it once,
/// from one thread, and do not take items from the sequence past the view. It cannot be
/// copied or moved: keep it where progress() returned it.
template <class Sequence>
class ProgressView {
  using Held = std::remove_cvref_t<Sequence>;
  static constexpr bool kFutures = detail::is_as_completed_v<Held>;

 public:
  /// A Future<T> for as_completed(), the function's result for map().
  using value_type = typename Held::iterator::value_type;

  ProgressView(Sequence&& sequence, const ProgressOptions& options)
      : sequence_(std::forward<Sequence>(sequence)), display_(options) {}
  ProgressView(const ProgressView&) = delete;
  ProgressView& operator=(const ProgressView&) = delete;
  ~ProgressView() {
    try {
      finish();
    } catch (...) {  // a failed write (or count()) must not end the program
    }
  }

  /// The wrapped sequence, e.g. for `view.sequence().add(future)` while iterating.
  Held& sequence() noexcept { return sequence_; }

  /// Counts so far: total is the known total, or `done` when it is unknown.
  ProgressSummary summary() const {
    return ProgressSummary{total().value_or(done_), done_, errors_, display_.seconds()};
  }

  class iterator {
   public:
    using value_type = ProgressView::value_type;
    using difference_type = std::ptrdiff_t;

    iterator() = default;
    explicit iterator(ProgressView* view) : view_(view) {}

    /// The item; for map(), rethrows what its call threw (counted as an error first).
    value_type operator*() const { return view_->take(); }
    iterator& operator++() {
      view_->advance();
      return *this;
    }
    void operator++(int) { ++*this; }
    friend bool operator==(const iterator& it, std::default_sentinel_t) { return it.at_end(); }

   private:
    bool at_end() const { return view_ == nullptr || view_->cursor_ == std::default_sentinel; }
    ProgressView* view_ = nullptr;
  };

  iterator begin() {
    display_.show(done_, total(), errors_);  // the bar shows while the first item is awaited
    cursor_ = sequence_.begin();
    settle();
    return iterator(this);
  }
  std::default_sentinel_t end() const noexcept { return {}; }

 private:
  /// For as_completed(): the yielded future is out of the sequence but not yet counted.
  std::optional<std::size_t> total() const {
    if constexpr (kFutures) {
      const bool pending = started_ && !taken_ && !(cursor_ == std::default_sentinel);
      return done_ + (pending ? 1 : 0) + sequence_.count();
    } else {
      return sequence_.known_size();
    }
  }

  value_type take() {
    const bool first = !taken_;
    taken_ = true;
    if (first) ++done_;
    if constexpr (kFutures) {
      value_type future = *cursor_;
      // status(), not exception(): the caller still owns observing the error.
      const FutureStatus status = future.status();
      if (first && (status == FutureStatus::error || status == FutureStatus::cancelled)) {
        ++errors_;
      }
      if (first) display_.show(done_, total(), errors_);
      return future;
    } else {
      try {
        value_type value = *cursor_;
        if (first) display_.show(done_, total(), errors_);
        return value;
      } catch (...) {
        if (first) {
          ++errors_;
          display_.show(done_, total(), errors_);
        }
        throw;
      }
    }
  }

  void advance() {
    if (!taken_) {  // skipped without a look: it still leaves the sequence
      ++done_;
      if constexpr (kFutures) {
        const FutureStatus status = (*cursor_).status();
        if (status == FutureStatus::error || status == FutureStatus::cancelled) ++errors_;
      }
    }
    ++cursor_;
    settle();
  }

  /// After the cursor moved: finish at the end.
  void settle() {
    started_ = true;
    taken_ = false;
    if (cursor_ == std::default_sentinel) finish();
  }

  void finish() {
    if (!display_.finished()) display_.finish(done_, total(), errors_);
  }

  std::conditional_t<std::is_lvalue_reference_v<Sequence>, Held&, Held> sequence_;
  typename Held::iterator cursor_{};
  detail::ProgressDisplay display_;
  std::size_t done_ = 0;
  std::size_t errors_ = 0;
  bool started_ = false;  // begin() was called
  bool taken_ = false;    // the current item was dereferenced (and counted)
};

/// Wraps an as_completed() sequence: iterate the result as the sequence itself, while a
/// progress line shows how many futures were taken out of how many (taken plus count(), so
/// futures added during iteration join the total) and how many failed or were cancelled
/// (from status(), so errors stay unobserved). Dask's dynamic reduction, with a bar:
///
/// @code
/// auto view = confut::progress(confut::as_completed(futures), {.description = "reduce"});
/// std::optional<confut::Future<int>> carry;
/// for (confut::Future<int> f : view) {
///   if (!carry) { carry = f; continue; }
///   view.sequence().add(ex.submit(add, carry->result(), f.result()));
///   carry.reset();
/// }
/// @endcode
template <class T>
ProgressView<AsCompleted<T>> progress(AsCompleted<T>&& sequence,
                                      const ProgressOptions& options = {}) {
  return ProgressView<AsCompleted<T>>(std::move(sequence), options);
}

/// As above, referring to `sequence` (which must outlive the view) rather than holding it.
///
/// @code
/// auto seq = confut::as_completed(futures);
/// for (confut::Future<int> f : confut::progress(seq)) {
///   if (f.result() > 0) seq.add(ex.submit(step, f.result() - 1));
/// }
/// @endcode
template <class T>
ProgressView<AsCompleted<T>&> progress(AsCompleted<T>& sequence,
                                       const ProgressOptions& options = {}) {
  return ProgressView<AsCompleted<T>&>(sequence, options);
}

/// Wraps the lazy range of `executor.map(...)`: iterate the result as the range itself (same
/// values, same order, same exceptions), while a progress line shows how many results were
/// taken out of the number of inputs (when every input has a size; otherwise there is no
/// bar and no ETA). A result whose call threw counts as an error, then the exception
/// propagates as without progress().
///
/// @code
/// for (Image image : confut::progress(ex.map(resize, paths), {.description = "resize"})) {
///   save(image);
/// }
/// @endcode
template <class Executor, class F, class... Ranges>
ProgressView<detail::MapResults<Executor, F, Ranges...>> progress(
    detail::MapResults<Executor, F, Ranges...>&& results, const ProgressOptions& options = {}) {
  return ProgressView<detail::MapResults<Executor, F, Ranges...>>(std::move(results), options);
}

/// As above, referring to `results` (which must outlive the view) rather than holding it.
///
/// @code
/// auto results = ex.map(resize, paths);
/// for (Image image : confut::progress(results)) save(image);
/// @endcode
template <class Executor, class F, class... Ranges>
ProgressView<detail::MapResults<Executor, F, Ranges...>&> progress(
    detail::MapResults<Executor, F, Ranges...>& results, const ProgressOptions& options = {}) {
  return ProgressView<detail::MapResults<Executor, F, Ranges...>&>(results, options);
}

}  // namespace confut
