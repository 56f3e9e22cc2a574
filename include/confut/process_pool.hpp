#pragma once
/// @file process_pool.hpp
/// `ProcessPoolExecutor`: the same API as ThreadPoolExecutor, with every task run in a worker
/// process. A worker that crashes fails only its own task; it is replaced and the pool goes on.
///
/// The work is done by detail::Dispatcher (detail/remote/dispatcher.hpp: queues, sending
/// ahead, take-back, replies, deaths, timeouts) over detail::ProcessTransport
/// (detail/process/: fork server, shared-memory rings, sockets); the worker's loop is
/// detail/process/worker_main.hpp around detail::serve_request (detail/remote/serve.hpp).

#include <chrono>
#include <cstddef>
#include <exception>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "detail/process/process_transport.hpp"
#include "detail/remote/dispatcher.hpp"
#include "errors.hpp"
#include "future.hpp"
#include "map.hpp"
#include "named.hpp"
#include "serialization.hpp"
#include "stats.hpp"
#include "task_stream.hpp"

namespace confut {

/// Options for ProcessPoolExecutor, all optional.
struct ProcessPoolOptions {
  /// Number of worker processes; 0 means one per hardware thread.
  std::size_t max_workers = 0;
  /// Runs once in every worker process before it takes tasks (a plain function or a
  /// capture-less lambda). If it throws or crashes, the pool is broken.
  void (*initializer)() = nullptr;
  /// Replace a worker after it has run this many tasks (0: never), as in Python.
  std::size_t max_tasks_per_child = 0;
  /// A task running longer than this has its worker killed (and replaced); its future fails
  /// with TimeoutError.
  std::optional<std::chrono::steady_clock::duration> task_timeout{};
};

/// A pool of worker processes with the ThreadPoolExecutor API. Tasks must be plain functions
/// or capture-less lambdas, and their arguments and results sendable (see
/// serialization.hpp); anything else is a compile-time error.
///
/// Workers are forked by a single-threaded fork server started with the pool, so a pool can
/// be created while threads run. A worker that dies fails only the task it was running
/// (WorkerDied, naming the pid and the signal or exit code) and is replaced; tasks queued
/// behind it go to other workers. Workers die with the parent and ignore SIGINT.
class ProcessPoolExecutor final : public detail::MapMethods<ProcessPoolExecutor> {
 public:
  explicit ProcessPoolExecutor(std::size_t max_workers = 0)
      : ProcessPoolExecutor(make_options(max_workers)) {}

  /// Throws std::invalid_argument when `max_workers` is above 65,536 (a negative count
  /// converted to std::size_t is), and confut::Error when the fork server cannot start.
  explicit ProcessPoolExecutor(ProcessPoolOptions options)
      : options_(options),
        dispatcher_("ProcessPoolExecutor", options.max_workers, settings_of(options),
                    worker_config_of(options), options.task_timeout.has_value()) {}

  ProcessPoolExecutor(const ProcessPoolExecutor&) = delete;
  ProcessPoolExecutor& operator=(const ProcessPoolExecutor&) = delete;

  /// Shuts down, waits for the tasks, and leaves no worker process behind.
  ~ProcessPoolExecutor() = default;

  /// Schedules `fn(args...)` in a worker process and returns its future at once.
  template <class F, class... Args>
    requires std::invocable<std::decay_t<F>&, detail::remote_value_t<std::decay_t<Args>>...>
  Future<detail::task_result_t<F, Args...>> submit(F&& fn, Args&&... args) {
    return dispatcher_.submit(std::forward<F>(fn), std::forward<Args>(args)...);
  }

  /// Used by map() for chunks of several elements (not meant to be called directly).
  template <class V, class F, class Arguments>
  Future<std::vector<std::variant<V, std::exception_ptr>>> submit_map_chunk(
      F fn, std::vector<Arguments> chunk) {
    return dispatcher_.template submit_chunk<V>(std::move(fn), std::move(chunk));
  }

  /// Stops a task: a queued one is cancelled; a running one has its worker killed (and
  /// replaced) and its future reports cancellation. False when it already finished.
  template <class T>
  bool terminate(const Future<T>& future) {
    return dispatcher_.terminate(future);
  }

  /// Stops accepting tasks. With `wait`, returns when every accepted task has finished and
  /// every worker process has exited and been reaped; `cancel_futures` cancels tasks not yet
  /// started. Idempotent.
  void shutdown(bool wait = true, bool cancel_futures = false) {
    dispatcher_.shutdown(wait, cancel_futures);
  }

  std::size_t max_workers() const noexcept { return dispatcher_.worker_count(); }

  /// "ProcessPoolExecutor 2": this executor's name in statistics, traces and reports.
  const std::string& name() const noexcept { return dispatcher_.name(); }

  /// Task counts by state and each worker's busy time, read without stopping anyone. A
  /// task counts as running while a worker runs it; tasks sent ahead to a worker, behind
  /// the one it runs, count as queued. Busy time is measured in this process, from the
  /// moment a task is at the head of a worker's queue to its reply.
  ExecutorStats stats() const { return dispatcher_.stats(); }

  /// Starts recording the task stream (see ThreadPoolExecutor::start_recording). Workers then
  /// time each task, and the pool the encoding and decoding of arguments and results.
  void start_recording() { dispatcher_.start_recording(); }

  /// Stops recording and returns what was recorded since start_recording() (tasks that
  /// ended since then). Without a recording, returns an empty stream.
  TaskStream stop_recording() { return dispatcher_.stop_recording(); }

  /// The process ids of the current workers (for diagnostics and tests).
  std::vector<int> worker_pids() const { return dispatcher_.transport().pids(); }

 private:
  static ProcessPoolOptions make_options(std::size_t max_workers) {
    ProcessPoolOptions options;
    options.max_workers = max_workers;
    return options;
  }

  static detail::DispatcherSettings settings_of(const ProcessPoolOptions& options) {
    detail::DispatcherSettings settings;
    settings.max_tasks_per_child = options.max_tasks_per_child;
    settings.task_timeout = options.task_timeout;
    settings.has_initializer = options.initializer != nullptr;
    settings.broken_prefix = "confut: the process pool is broken: ";
    return settings;
  }

  static detail::WorkerConfig worker_config_of(const ProcessPoolOptions& options) {
    detail::WorkerConfig config;
    if (options.initializer != nullptr) {
      config.has_initializer = true;
      config.initializer = detail::locate_function(options.initializer);
    }
    config.max_tasks = options.max_tasks_per_child;
    return config;
  }

  ProcessPoolOptions options_;
  detail::Dispatcher<detail::ProcessTransport> dispatcher_;
};

}  // namespace confut
