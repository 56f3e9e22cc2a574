// bench_compute: CPU-bound work, and speedup by number of workers (W4, W5, W6).
//
// W4: 64 random walks of 20,000 points; one task per ordered pair computes their Pearson
//     correlation (4,032 tasks); the answer is the best pair, (11, 49), r = 0.973665288402.
// W5: 4 tasks of 10,000,000 Monte Carlo samples: 31,418,298 hits (pi ~ 3.1418298).
// W6: trial division of six 15- and 16-digit numbers: T T T T T F.
//
// Each workload runs first sequentially ("sequential": its median is the baseline of the
// speedups of this run), then on every system with 1, 2, ... up to --workers workers
// (default: the hardware threads). Counters: speedup (sequential median / this time),
// workers, and the answer. std::async has no worker count: it runs once, a thread per task.
//
// confut's process pool: W4 uses map(chunksize = 63).to_vector(), each worker building the
// series once in the pool's initializer (a task carries two ints); W5 and W6 submit one task
// per call.
//
// Usage: bench_compute [--workers=N] [Google Benchmark flags]

#include <confut/confut.hpp>

#include <cstdint>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "harness.hpp"
#include "peers.hpp"
#include "workloads.hpp"

using namespace confut_bench;

namespace {

// ---- the three workloads: each a struct with its id, sequential code, answer check, and
// its code for confut's two executors and for the peers' runners ----

const W4Pairs& pairs() {
  static const W4Pairs all = w4_pairs();
  return all;
}

struct W4 {
  using Result = std::vector<double>;
  static constexpr const char* id = "W4";

  static Result sequential() {
    Result rs;
    rs.reserve(pairs().a.size());
    for (std::size_t i = 0; i < pairs().a.size(); ++i) {
      rs.push_back(correlation(pairs().a[i], pairs().b[i]));
    }
    return rs;
  }
  static std::string check(const Result& rs) {
    const W4Best best = w4_best(pairs(), rs);
    if (rs.size() == pairs().a.size() && w4_correct(best)) return "";
    std::ostringstream text;
    text.precision(12);
    text << std::fixed << "best pair (" << best.a << ", " << best.b << ") r = " << best.r
         << ", expected (11, 49) r = 0.973665288402";
    return text.str();
  }
  /// Threads: one submit per pair; then wait for all of them, as the peers do
  /// (task_group::wait, taskwait), and read the results. (Taking result() one by one in
  /// order costs a kernel wake-up of this thread per task once the workers fill both cores.)
  static Result on_threads(confut::ThreadPoolExecutor& ex) {
    std::vector<confut::Future<double>> futures;
    futures.reserve(pairs().a.size());
    for (std::size_t i = 0; i < pairs().a.size(); ++i) {
      futures.push_back(ex.submit(correlation, pairs().a[i], pairs().b[i]));
    }
    confut::wait(futures);
    Result rs;
    rs.reserve(futures.size());
    for (const auto& future : futures) rs.push_back(future.result());
    return rs;
  }
  /// Processes: one chunk per row of the pair matrix, 64 tasks of 1.5-3 ms instead of 4,032
  /// round trips, as Python's docs advise for ProcessPoolExecutor.map; all results taken
  /// at once, as `list(ex.map(...))` does (to_vector: this thread sleeps once, not per chunk).
  static Result on_processes(confut::ProcessPoolExecutor& ex) {
    return ex.map(correlation, pairs().a, pairs().b, {.chunksize = kW4Series - 1}).to_vector();
  }
  template <class Runner>
  static Result on_runner(Runner& runner) {
    return runner.template run_all<double>(pairs().a.size(), [](std::size_t i) {
      return correlation(pairs().a[i], pairs().b[i]);
    });
  }
};

struct W5 {
  using Result = std::int64_t;
  static constexpr const char* id = "W5";

  static Result sequential() {
    Result hits = 0;
    for (int k = 0; k < kW5Tasks; ++k) {
      hits += count_hits(static_cast<std::uint64_t>(k), kW5Samples);
    }
    return hits;
  }
  static std::string check(const Result& hits) { return expect_equal(hits, kW5Hits); }
  template <class Executor>
  static Result on_executor(Executor& ex) {
    std::vector<confut::Future<std::int64_t>> futures;
    for (int k = 0; k < kW5Tasks; ++k) {
      futures.push_back(ex.submit(count_hits, static_cast<std::uint64_t>(k), kW5Samples));
    }
    Result hits = 0;
    for (const auto& future : futures) hits += future.result();
    return hits;
  }
  static Result on_threads(confut::ThreadPoolExecutor& ex) { return on_executor(ex); }
  static Result on_processes(confut::ProcessPoolExecutor& ex) { return on_executor(ex); }
  template <class Runner>
  static Result on_runner(Runner& runner) {
    Result hits = 0;
    for (std::int64_t h : runner.template run_all<std::int64_t>(kW5Tasks, [](std::size_t k) {
           return count_hits(static_cast<std::uint64_t>(k), kW5Samples);
         })) {
      hits += h;
    }
    return hits;
  }
};

struct W6 {
  using Result = std::vector<bool>;
  static constexpr const char* id = "W6";

  static Result sequential() {
    Result primes;
    for (std::uint64_t n : w6_numbers()) primes.push_back(is_prime(n));
    return primes;
  }
  static std::string check(const Result& primes) {
    if (primes == w6_expected()) return "";
    std::string text = "got ";
    for (bool p : primes) text += p ? 'T' : 'F';
    return text + ", expected TTTTTF";
  }
  template <class Executor>
  static Result on_executor(Executor& ex) {
    std::vector<confut::Future<bool>> futures;
    for (std::uint64_t n : w6_numbers()) futures.push_back(ex.submit(is_prime, n));
    Result primes;
    for (const auto& future : futures) primes.push_back(future.result());
    return primes;
  }
  static Result on_threads(confut::ThreadPoolExecutor& ex) { return on_executor(ex); }
  static Result on_processes(confut::ProcessPoolExecutor& ex) { return on_executor(ex); }
  template <class Runner>
  static Result on_runner(Runner& runner) {
    return runner.template run_all<bool>(w6_numbers().size(),
                                         [](std::size_t i) { return is_prime(w6_numbers()[i]); });
  }
};

// ---- registration ----

/// Iterations per repetition: each run takes 0.1-0.5 s sequentially.
constexpr int kIterations = 2;

/// Registers `W/sequential`: its times are the baseline of the speedups of this run.
template <class W>
void register_sequential() {
  register_timed(std::string(W::id) + "/sequential", [](benchmark::State& state) {
    build_w4_series();
    double total = 0;
    std::int64_t iterations = 0;
    for (auto _ : state) {
      IterationTimer timer(state);
      const typename W::Result result = W::sequential();
      const double seconds = timer.stop();
      Baselines::record(W::id, seconds);
      total += seconds;
      ++iterations;
      const std::string problem = W::check(result);
      if (!problem.empty()) {
        fail_wrong_answer(state, problem);
        return;
      }
    }
    state.counters["workers"] = 1;
    state.counters["speedup"] = 1;
    state.counters["sequential_ms"] = total / static_cast<double>(iterations) * 1e3;
  }, kIterations);
}

/// Registers `W/system[/workers:N]`: `make(workers)` builds the executor or runner (outside
/// the timing), `run(it)` runs the workload on it once. A warm-up run comes first.
template <class W, class Make, class Run>
void register_system(const std::string& system, Side side, std::size_t workers, Make make,
                     Run run) {
  const std::string name = std::string(W::id) + "/" + system +
                           (workers > 0 ? "/workers:" + std::to_string(workers) : "");
  register_timed(name, [=](benchmark::State& state) {
    build_w4_series();
    // DoNotOptimize: a discarded result let the compiler drop W5's whole computation, and
    // the speedup counters of the benchmarks run before "sequential" came out ~10^5x.
    const double baseline =
        Baselines::get(W::id, [] { benchmark::DoNotOptimize(W::sequential()); });
    auto executor = make(workers);
    const double s = measure(state, side, [&] { return run(*executor); }, W::check);
    state.counters["workers"] = static_cast<double>(workers);
    state.counters["sequential_ms"] = baseline * 1e3;
    if (s > 0) state.counters["speedup"] = baseline / s;
  }, kIterations);
}

template <class Runner>
std::unique_ptr<Runner> make_runner(std::size_t workers) {
  return std::make_unique<Runner>(workers);
}

std::unique_ptr<confut::ProcessPoolExecutor> make_process_pool(std::size_t workers) {
  confut::ProcessPoolOptions options;
  options.max_workers = workers;
  options.initializer = build_w4_series;  // W4's data, built once in every worker
  return std::make_unique<confut::ProcessPoolExecutor>(options);
}

template <class W>
void register_workload() {
  register_sequential<W>();
  for (std::size_t workers = 1; workers <= max_workers(); ++workers) {
    register_system<W>("confut_threads", Side::confut, workers,
                       make_runner<confut::ThreadPoolExecutor>, W::on_threads);
    register_system<W>("confut_processes", Side::confut, workers, make_process_pool,
                       W::on_processes);
#if CONFUT_HAVE_TBB
    register_system<W>("tbb_task_group", Side::peer, workers, make_runner<TbbRunner>,
                       W::template on_runner<TbbRunner>);
#endif
#if CONFUT_HAVE_BOOST
    register_system<W>("asio_thread_pool", Side::peer, workers, make_runner<AsioRunner>,
                       W::template on_runner<AsioRunner>);
#endif
#if CONFUT_HAVE_OPENMP
    register_system<W>("openmp_tasks", Side::peer, workers, make_runner<OpenMpRunner>,
                       W::template on_runner<OpenMpRunner>);
#endif
  }
  register_system<W>("std_async", Side::peer, 0, make_runner<StdAsyncRunner>,
                     W::template on_runner<StdAsyncRunner>);
}

void register_all() {
  register_workload<W4>();
  register_workload<W5>();
  register_workload<W6>();
}

}  // namespace

int main(int argc, char** argv) {
  confut::Runtime runtime(argc, argv);  // first: the pool's fork server may start here
  return bench_main(argc, argv, {}, register_all);
}
