// pairwise_correlation: many small tasks over shared read-only data (workload W4).
//
// 64 random walks of 20,000 points; one task per ordered pair (a, b), a != b, computes the
// Pearson correlation of series a and b: 4,032 tasks of ~30 us each. The program runs them one
// after another, on a ThreadPoolExecutor and on a ProcessPoolExecutor, and reports the most
// correlated pair.
//
// Threads share the series. Worker processes do not, and sending both series with every task
// would move 4,032 x 320 KB = 1.3 GB through the pipes for 0.1 s of arithmetic. Sending one
// task per row `a` does not help: the row still needs all 64 series. The series are
// deterministic, so each worker builds its own copy once, in the pool's initializer, and a
// task carries just two ints.
//
// Python equivalent (concurrent.futures):
//     def init(): global SERIES; SERIES = [random_walk(k) for k in range(64)]
//     with ProcessPoolExecutor(initializer=init) as ex:
//         pairs = [(a, b) for a in range(64) for b in range(64) if a != b]
//         rs = list(ex.map(correlation, [a for a, _ in pairs], [b for _, b in pairs],
//                          chunksize=63))

#include <confut/confut.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <optional>
#include <thread>
#include <vector>

// The workload functions (random_walk, pearson, correlation, w4_pairs, w4_best) and the W4
// constants come from bench/workloads.hpp: the one definition shared by the examples, the
// benchmarks and the tour. The task, correlation(a, b), reads the series in w4_series().
#include "../bench/workloads.hpp"

namespace w = confut_bench;
using Clock = std::chrono::steady_clock;
using Millis = std::chrono::duration<double, std::milli>;

// The pool's initializer: each worker builds its own copy of the series, as a freshly
// started process must (a forked worker inherits this process's copy, so it is cleared first).
void build_series_in_worker() {
  w::w4_series().clear();
  w::build_w4_series();
}

// One chunk per row: 64 tasks of ~2 ms, a few per worker for balance, and the per-task cost
// of the process pool (a round trip through a pipe) paid 64 times instead of 4,032.
constexpr std::size_t kChunk = w::kW4Series - 1;

std::vector<double> run_sequential(const w::W4Pairs& pairs) {
  std::vector<double> rs;
  for (std::size_t i = 0; i < pairs.a.size(); ++i) {
    rs.push_back(w::correlation(pairs.a[i], pairs.b[i]));
  }
  return rs;
}

// list(ex.map(...)) in C++: to_vector() takes every result in input order.
template <class Executor>
std::vector<double> run_pool(Executor& ex, const w::W4Pairs& pairs) {
  return ex.map(w::correlation, pairs.a, pairs.b, {.chunksize = kChunk}).to_vector();
}

// What one method produced, and how long it took.
struct Timing {
  std::vector<double> rs;
  Millis first;   // the first run: for a pool, includes starting its workers
  Millis median;  // of the kRuns runs after it
};
constexpr int kRuns = 3;

template <class Fn>
Timing measure(Fn&& fn) {
  Timing timing;
  std::vector<Millis> times;
  for (int run = 0; run <= kRuns; ++run) {
    const auto start = Clock::now();
    timing.rs = fn();
    times.push_back(Clock::now() - start);
  }
  timing.first = times.front();
  std::sort(times.begin() + 1, times.end());
  timing.median = times[1 + kRuns / 2];
  return timing;
}

int main(int argc, char** argv) {
  confut::Runtime runtime(argc, argv);  // first: the pool's fork server may start here
  const unsigned cores = std::thread::hardware_concurrency();
  const std::size_t workers = std::max(2u, cores);
  const w::W4Pairs pairs = w::w4_pairs();

  const auto build_start = Clock::now();
  w::build_w4_series();
  const Millis build = Clock::now() - build_start;

  const Timing sequential = measure([&] { return run_sequential(pairs); });
  // Each pool is created inside its measurement, so the first run counts its start-up.
  std::optional<confut::ThreadPoolExecutor> thread_pool;
  const Timing threads = measure([&] {
    if (!thread_pool) thread_pool.emplace(workers);
    return run_pool(*thread_pool, pairs);
  });
  thread_pool.reset();  // threads gone: the process pool's fork server is forked directly

  confut::ProcessPoolOptions options;
  options.max_workers = workers;
  options.initializer = build_series_in_worker;  // runs once in every worker process
  std::optional<confut::ProcessPoolExecutor> process_pool;
  const Timing processes = measure([&] {
    if (!process_pool) process_pool.emplace(options);
    return run_pool(*process_pool, pairs);
  });
  process_pool.reset();

  std::printf("pairwise_correlation: W4, %d series x %d points, %zu tasks in chunks of %zu; "
              "%zu workers, hardware_concurrency %u\n",
              w::kW4Series, w::kW4Length, pairs.a.size(), kChunk, workers, cores);
  std::printf("building the 64 series takes %.1f ms (once here, once in each worker process); "
              "median of %d runs after a first one\n\n",
              build.count(), kRuns);

  bool all_correct = true;
  std::printf("%-20s %-9s %15s %-3s %13s %13s %8s\n", "method", "best pair", "r", "",
              "first run ms", "median ms", "speedup");
  const struct {
    const char* name;
    const Timing& timing;
  } rows[] = {{"sequential", sequential},
              {"ThreadPoolExecutor", threads},
              {"ProcessPoolExecutor", processes}};
  for (const auto& row : rows) {
    const w::W4Best best = w::w4_best(pairs, row.timing.rs);
    char r_text[32];
    std::snprintf(r_text, sizeof r_text, "%.12f", best.r);
    // Every method runs the same function in the same binary: the values must agree bit for
    // bit, not only the winner.
    const bool correct = w::w4_correct(best) && row.timing.rs == sequential.rs;
    all_correct = all_correct && correct;
    std::printf("%-20s (%2d, %2d)  %15s %-3s %13.2f %13.2f %7.2fx\n", row.name, best.a, best.b,
                r_text, correct ? "ok" : "BAD", row.timing.first.count(),
                row.timing.median.count(), sequential.median / row.timing.median);
    if (!correct) {
      std::fprintf(stderr, "%s: expected (%d, %d) with r = %.12f and the sequential values\n",
                   row.name, w::kW4BestA, w::kW4BestB, w::kW4BestR);
    }
  }
  return all_correct ? 0 : 1;
}
