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
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <thread>
#include <vector>

using Clock = std::chrono::steady_clock;
using Millis = std::chrono::duration<double, std::milli>;

constexpr int kSeries = 64;
constexpr int kLength = 20'000;

// splitmix64 (Steele, Lea and Flood), as WORKLOADS.md specifies; `state` is the seed.
struct SplitMix64 {
  std::uint64_t state;
  std::uint64_t next() {
    std::uint64_t z = (state += 0x9e3779b97f4a7c15);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9;
    z = (z ^ (z >> 27)) * 0x94d049bb133111eb;
    return z ^ (z >> 31);
  }
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }  // [0, 1)
};

// Series k: v[0] = 100, then v[t] = v[t-1] + u(t) - 0.5 with the k-seeded generator.
std::vector<double> random_walk(int k) {
  SplitMix64 rng{static_cast<std::uint64_t>(k)};
  std::vector<double> v(kLength);
  v[0] = 100.0;
  for (int t = 1; t < kLength; ++t) v[t] = v[t - 1] + rng.uniform() - 0.5;
  return v;
}

// The data every task reads. Empty until build_series() runs: in this process from main(),
// in each worker process from the pool's initializer.
std::vector<std::vector<double>> g_series;

void build_series() {
  g_series.clear();
  for (int k = 0; k < kSeries; ++k) g_series.push_back(random_walk(k));
}

double pearson(const std::vector<double>& x, const std::vector<double>& y) {
  const auto n = static_cast<double>(x.size());
  double mean_x = 0, mean_y = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    mean_x += x[i];
    mean_y += y[i];
  }
  mean_x /= n;
  mean_y /= n;
  double sxy = 0, sxx = 0, syy = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double dx = x[i] - mean_x;
    const double dy = y[i] - mean_y;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  return sxy / std::sqrt(sxx * syy);
}

// The task: two indices in, one number out.
double correlation(int a, int b) { return pearson(g_series[a], g_series[b]); }

// Every ordered pair, a-major, as two parallel lists for a two-input map.
struct Pairs {
  std::vector<int> a, b;
};
Pairs all_pairs() {
  Pairs pairs;
  for (int a = 0; a < kSeries; ++a) {
    for (int b = 0; b < kSeries; ++b) {
      if (a == b) continue;
      pairs.a.push_back(a);
      pairs.b.push_back(b);
    }
  }
  return pairs;
}

// One chunk per row: 64 tasks of ~2 ms, a few per worker for balance, and the per-task cost
// of the process pool (a round trip through a pipe) paid 64 times instead of 4,032.
constexpr std::size_t kChunk = kSeries - 1;

std::vector<double> run_sequential(const Pairs& pairs) {
  std::vector<double> rs;
  for (std::size_t i = 0; i < pairs.a.size(); ++i) {
    rs.push_back(correlation(pairs.a[i], pairs.b[i]));
  }
  return rs;
}

template <class Executor>
std::vector<double> run_pool(Executor& ex, const Pairs& pairs) {
  std::vector<double> rs;
  for (double r : ex.map(correlation, pairs.a, pairs.b, {.chunksize = kChunk})) rs.push_back(r);
  return rs;
}

struct Best {
  int a = -1, b = -1;
  double r = -2;
};
// The largest r; on a tie the first pair in a-major order (hence the strict >).
Best best_pair(const Pairs& pairs, const std::vector<double>& rs) {
  Best best;
  for (std::size_t i = 0; i < rs.size(); ++i) {
    if (rs[i] > best.r) best = {pairs.a[i], pairs.b[i], rs[i]};
  }
  return best;
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

int main() {
  const unsigned cores = std::thread::hardware_concurrency();
  const std::size_t workers = std::max(2u, cores);
  const Pairs pairs = all_pairs();

  const auto build_start = Clock::now();
  build_series();
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
  options.initializer = build_series;  // runs once in every worker process
  std::optional<confut::ProcessPoolExecutor> process_pool;
  const Timing processes = measure([&] {
    if (!process_pool) process_pool.emplace(options);
    return run_pool(*process_pool, pairs);
  });
  process_pool.reset();

  std::printf("pairwise_correlation: W4, %d series x %d points, %zu tasks in chunks of %zu; "
              "%zu workers, hardware_concurrency %u\n",
              kSeries, kLength, pairs.a.size(), kChunk, workers, cores);
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
    const Best best = best_pair(pairs, row.timing.rs);
    char r_text[32];
    std::snprintf(r_text, sizeof r_text, "%.12f", best.r);
    // Every method runs the same function in the same binary: the values must agree bit for
    // bit, not only the winner.
    const bool correct = best.a == 11 && best.b == 49 &&
                         std::string(r_text) == "0.973665288402" &&
                         row.timing.rs == sequential.rs;
    all_correct = all_correct && correct;
    std::printf("%-20s (%2d, %2d)  %15s %-3s %13.2f %13.2f %7.2fx\n", row.name, best.a, best.b,
                r_text, correct ? "ok" : "BAD", row.timing.first.count(),
                row.timing.median.count(), sequential.median / row.timing.median);
    if (!correct) {
      std::fprintf(stderr, "%s: expected (11, 49) with r = 0.973665288402 and the sequential "
                   "values\n", row.name);
    }
  }
  return all_correct ? 0 : 1;
}
