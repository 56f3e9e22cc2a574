#pragma once
/// @file mpi.hpp
/// `MPIPoolExecutor`: the ThreadPoolExecutor API with tasks run on the worker ranks of an MPI
/// job (target `confut::mpi`). One program for every rank, as with `mpi4py.futures`:
///
/// @code
/// #include <confut/mpi.hpp>
///
/// int square(int x) { return x * x; }
///
/// int main(int argc, char** argv) {
///   confut::Runtime runtime(argc, argv);  // under mpirun, ranks 1..N-1 serve tasks in here
///   confut::MPIPoolExecutor ex;           // rank 0 only gets here
///   std::cout << ex.submit(square, 7).result() << "\n";
/// }
/// @endcode
///
/// Run it with `mpirun -np 3 ./app` (or `srun`): rank 0 runs main(), ranks 1 and 2 become
/// workers inside the Runtime constructor and leave the program when rank 0's Runtime is
/// destroyed. Tasks and their arguments follow ProcessPoolExecutor's rules (plain functions
/// or capture-less lambdas, sendable values), since every rank runs the same build and a
/// function travels as its offset inside it.
///
/// The work is done by detail::Dispatcher (detail/remote/dispatcher.hpp) over
/// detail::MpiTransport (detail/mpi/); a worker rank's loop is detail/mpi/rank_worker.hpp
/// around detail::serve_request. docs/distributed.md says how to run it on a cluster.

#include <mpi.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <cstdlib>
#include <exception>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "detail/mpi/mpi_roles.hpp"
#include "detail/mpi/mpi_transport.hpp"
#include "detail/mpi/mpi_world.hpp"
#include "detail/remote/dispatcher.hpp"
#include "errors.hpp"
#include "future.hpp"
#include "map.hpp"
#include "named.hpp"
#include "runtime.hpp"
#include "serialization.hpp"
#include "stats.hpp"
#include "task_stream.hpp"

namespace confut {

/// Where a worker rank runs its tasks.
enum class Isolation : std::uint8_t {
  /// In the rank's own threads (mpi4py's way): fastest; a task that crashes ends the job.
  rank,
  /// In child processes of the rank (a process pool of threads_per_rank workers): a task
  /// that crashes or runs past task_timeout fails only its own future (WorkerDied /
  /// TimeoutError, naming the rank and host) and its child is replaced.
  process,
};

/// Options for MPIPoolExecutor::scatter.
struct ScatterOptions {
  /// Keep the value on every worker rank (else on one).
  bool broadcast = false;
};

/// Options for MPIPoolExecutor, all optional.
struct MPIPoolOptions {
  using Isolation = confut::Isolation;
  /// How many worker ranks to use (ranks 1..max_workers); 0: every rank but rank 0.
  std::size_t max_workers = 0;
  /// Each worker rank runs its tasks on this many threads of its own (mpi4py's semantics,
  /// one, by default). Each thread is a worker in stats() and traces.
  std::size_t threads_per_rank = 1;
  /// Runs once on every worker rank before it takes tasks (a plain function or a
  /// capture-less lambda); with Isolation::process, once in every child process instead.
  /// If it throws on a rank, the executor is broken; in a child, that rank's tasks fail
  /// with BrokenExecutor.
  void (*initializer)() = nullptr;
  Isolation isolation = Isolation::rank;
  /// With Isolation::process: a task running longer than this has its child process killed
  /// (and replaced); its future fails with TimeoutError. std::invalid_argument otherwise.
  std::optional<std::chrono::steady_clock::duration> task_timeout{};
};


/// An executor whose workers are the ranks of an MPI job, with the ThreadPoolExecutor API.
/// Tasks must be plain functions or capture-less lambdas, and their arguments and results
/// sendable (serialization.hpp); anything else is a compile-time error.
///
/// Tasks go to the least loaded worker, several ahead at a time under a backlog; replies
/// come back in batches. A task that throws rethrows on rank 0, as in the process pool. A
/// task sent to a rank runs: cancel() stops only tasks still queued on rank 0. A worker rank
/// that dies ends the MPI job (mpirun stops every rank). Only one MPIPoolExecutor exists at
/// a time, on rank 0; while it does, other threads of rank 0 must not call MPI.
class MPIPoolExecutor final : public detail::MapMethods<MPIPoolExecutor> {
 public:
  MPIPoolExecutor() : MPIPoolExecutor(MPIPoolOptions{}) {}

  /// Under mpirun the workers are ranks 1..max_workers (0: all); in a program run alone it
  /// spawns max_workers worker processes (0: one per hardware thread) with MPI_Comm_spawn.
  /// Throws confut::Error without a confut::Runtime or when another MPIPoolExecutor exists,
  /// and std::invalid_argument when `max_workers` is more than the job's worker ranks or
  /// `threads_per_rank` is not between 1 and 1024. Workers that run another build of the program make
  /// the executor broken (BrokenExecutor naming the rank), before any task is sent.
  explicit MPIPoolExecutor(MPIPoolOptions options)
      : options_(validated(options)),
        group_(options.max_workers),
        dispatcher_("MPIPoolExecutor", group_.ranks.size() * options.threads_per_rank,
                    settings_of(options), transport_config_of(group_, options)) {}

  MPIPoolExecutor(const MPIPoolExecutor&) = delete;
  MPIPoolExecutor& operator=(const MPIPoolExecutor&) = delete;

  /// Shuts down and waits for the tasks; the worker ranks wait for the next executor.
  ~MPIPoolExecutor() = default;

  /// Schedules `fn(args...)` on a worker rank and returns its future at once.
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

  /// Sends `value` to a worker rank (`{.broadcast = true}`: to every worker rank) once, and
  /// returns a future that is done already and holds it. A task given that future as an
  /// argument and sent to a rank that holds the value gets a reference instead of the bytes
  /// (with Isolation::process, whose children do not see the rank's copy, the bytes). When
  /// the last copy of the future goes, the ranks drop theirs. Rank 0 keeps its own copy, so
  /// result() needs no transfer. Throws ExecutorShutdownError after shutdown().
  template <class T>
  Future<std::decay_t<T>> scatter(T&& value, ScatterOptions options = {}) {
    using V = std::decay_t<T>;
    static_assert(Sendable<V>, "confut: scatter() needs a sendable value (serialization.hpp)");
    if (dispatcher_.shut_down()) throw ExecutorShutdownError();
    WireWriter out;
    out.write(static_cast<const V&>(value));
    auto* state = new detail::ScatteredState<V>();
    state->emplace_value(std::forward<T>(value));
    state->ticket = dispatcher_.transport().scatter(std::move(out.buffer()), options.broadcast);
    state->publish(detail::kFinished);
    return Future<V>(detail::StateRef<detail::State<V>>::adopt(state));
  }

  /// Values scattered by this executor whose futures still exist.
  std::size_t scattered_objects() const { return dispatcher_.transport().scattered_objects(); }

  /// Stops accepting tasks. With `wait`, returns when every accepted task has finished;
  /// `cancel_futures` cancels the tasks still queued on rank 0. Idempotent.
  void shutdown(bool wait = true, bool cancel_futures = false) {
    dispatcher_.shutdown(wait, cancel_futures);
  }

  /// The number of worker ranks.
  std::size_t max_workers() const noexcept {
    return dispatcher_.worker_count() / options_.threads_per_rank;
  }

  /// "MPIPoolExecutor 1": this executor's name in statistics, traces and reports.
  const std::string& name() const noexcept { return dispatcher_.name(); }

  /// As ProcessPoolExecutor::stats(); workers are labelled "rank@host" ("rank@host:thread"
  /// with several threads per rank).
  ExecutorStats stats() const { return dispatcher_.stats(); }

  void start_recording() { dispatcher_.start_recording(); }
  TaskStream stop_recording() { return dispatcher_.stop_recording(); }

  /// Bytes of requests (arguments and callables) and of scattered values sent from rank 0
  /// to the worker ranks.
  std::uint64_t bytes_sent() const noexcept { return dispatcher_.transport().bytes_sent(); }

 private:
  static constexpr std::size_t kMaxThreadsPerRank = 1024;

  /// Checks the options (before the executor claims the worker ranks).
  static const MPIPoolOptions& validated(const MPIPoolOptions& options) {
    if (options.task_timeout && options.isolation != Isolation::process) {
      throw std::invalid_argument(
          "confut: MPIPoolExecutor: task_timeout needs isolation = Isolation::process (a "
          "thread of a rank cannot be stopped)");
    }
    if (options.task_timeout && options.task_timeout->count() <= 0) {
      throw std::invalid_argument("confut: MPIPoolExecutor: task_timeout must be positive");
    }
    if (options.threads_per_rank == 0 || options.threads_per_rank > kMaxThreadsPerRank) {
      throw std::invalid_argument("confut: MPIPoolExecutor: threads_per_rank " +
                                  std::to_string(options.threads_per_rank) +
                                  " is not between 1 and 1024");
    }
    return options;
  }

  static detail::DispatcherSettings settings_of(const MPIPoolOptions& options) {
    detail::DispatcherSettings settings;
    settings.has_initializer =
        options.initializer != nullptr && options.isolation == Isolation::rank;
    settings.broken_prefix = "confut: the MPI executor is broken: ";
    return settings;
  }

  static detail::MpiTransportConfig transport_config_of(detail::WorkerGroup& group,
                                                        const MPIPoolOptions& options) {
    detail::MpiTransportConfig config;
    config.comm = group.comm;
    config.ranks = group.ranks;
    config.spawned = group.spawned;
    config.adopted = &group.adopted;
    config.threads_per_rank = static_cast<std::uint32_t>(options.threads_per_rank);
    if (options.initializer != nullptr) {
      const detail::CodeLocation where = detail::locate_function(options.initializer);
      config.open.has_initializer = true;
      config.open.initializer_module = where.module;
      config.open.initializer_offset = where.offset;
    }
    config.open.threads = config.threads_per_rank;
    config.open.process_isolation = options.isolation == Isolation::process;
    if (options.task_timeout) {
      config.open.task_timeout_ns =
          std::chrono::duration_cast<std::chrono::nanoseconds>(*options.task_timeout).count();
    }
    const detail::RankHello& self = group.self;
    for (std::size_t i = 0; i < group.ranks.size(); ++i) {
      const detail::RankHello& hello = group.hellos[i];
      // Spawned workers are numbered from 1 too: rank 0 is this process.
      const int rank = group.spawned ? group.ranks[i] + 1 : group.ranks[i];
      const std::string name = std::to_string(rank) + "@" + hello.host;
      for (std::size_t t = 0; t < options.threads_per_rank; ++t) {
        config.labels.push_back(options.threads_per_rank == 1 ? name
                                                              : name + ":" + std::to_string(t));
      }
      if (config.failure.empty() && hello.build_id != self.build_id) {
        config.failure = "rank " + std::to_string(rank) + " (pid " + std::to_string(hello.pid) +
                         " on " + hello.host + ") runs another build: " + hello.program +
                         " has build-id " + (hello.build_id.empty() ? "(none)" : hello.build_id) +
                         ", rank 0's " + self.program + " has " +
                         (self.build_id.empty() ? "(none)" : self.build_id);
      }
    }
    return config;
  }

  MPIPoolOptions options_;
  detail::OpenExecutorGuard guard_;
  detail::OpenedWorkerGroup group_;
  detail::Dispatcher<detail::MpiTransport> dispatcher_;
};

}  // namespace confut
