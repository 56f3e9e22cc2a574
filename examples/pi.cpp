// pi: Monte Carlo estimate of pi, and speedup by number of workers (workload W5).
//
// Four independent tasks each throw 10 million points at the unit square and count those
// inside the quarter circle. Each task has its own generator (splitmix64 seeded with the
// task's index), so the answer is the same however the tasks are spread over workers. The
// program runs the four tasks one after another, then on thread pools and process pools of
// 1, 2, ... workers, and prints the speedup of each over the sequential run.
//
// Python equivalent (concurrent.futures):
//     with ProcessPoolExecutor(max_workers=w) as ex:
//         hits = sum(ex.map(count_hits, range(4), [10_000_000] * 4))
//     print(4 * hits / 40_000_000)
//
// Usage: pi [--workers N]   (the table goes up to N workers; default max(4, hardware threads))

#include <confut/confut.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

// The workload function (count_hits, with its generator) and the W5 constants come from
// bench/workloads.hpp: the one definition shared by the examples, the benchmarks and the tour.
#include "../bench/workloads.hpp"

namespace w = confut_bench;
using Clock = std::chrono::steady_clock;
using Millis = std::chrono::duration<double, std::milli>;

// The task is w::count_hits(seed, n): how many of n random points (x, then y, from splitmix64
// seeded with `seed`) fall in the quarter circle. W5 runs kW5Tasks of kW5Samples points each.
std::int64_t run_sequential() {
  std::int64_t hits = 0;
  for (int k = 0; k < w::kW5Tasks; ++k) {
    hits += w::count_hits(static_cast<std::uint64_t>(k), w::kW5Samples);
  }
  return hits;
}

// The same code for both kinds of pool: whatever satisfies confut::Executor.
template <confut::Executor Executor>
std::int64_t run_pool(Executor& ex) {
  std::vector<confut::Future<std::int64_t>> futures;
  for (int k = 0; k < w::kW5Tasks; ++k) {
    futures.push_back(ex.submit(w::count_hits, static_cast<std::uint64_t>(k), w::kW5Samples));
  }
  std::int64_t hits = 0;
  for (const auto& future : futures) hits += future.result();
  return hits;
}

constexpr int kRuns = 3;

struct Timing {
  std::int64_t hits = 0;
  Millis median{};
  bool correct = true;  // every run found w::kW5Hits
};

// One untimed run first (it starts a pool's workers), then the median of kRuns.
template <class Fn>
Timing measure(Fn&& fn) {
  Timing timing;
  timing.correct = fn() == w::kW5Hits;
  std::vector<Millis> times;
  for (int run = 0; run < kRuns; ++run) {
    const auto start = Clock::now();
    timing.hits = fn();
    times.push_back(Clock::now() - start);
    timing.correct = timing.correct && timing.hits == w::kW5Hits;
  }
  std::sort(times.begin(), times.end());
  timing.median = times[kRuns / 2];
  return timing;
}

int main(int argc, char** argv) {
  confut::Runtime runtime(argc, argv);  // first: the pool's fork server may start here
  const unsigned cores = std::thread::hardware_concurrency();
  std::size_t max_workers = std::max(4u, cores);
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--workers") == 0 && i + 1 < argc && std::atoi(argv[i + 1]) > 0) {
      max_workers = static_cast<std::size_t>(std::atoi(argv[++i]));
    } else {
      std::fprintf(stderr, "usage: %s [--workers N]\n", argv[0]);
      return 2;
    }
  }

  std::printf("pi: W5, %d tasks x %lld samples; hardware_concurrency %u; "
              "median of %d runs after an untimed one\n",
              w::kW5Tasks, static_cast<long long>(w::kW5Samples), cores, kRuns);
  const Timing sequential = measure(run_sequential);
  const std::int64_t samples = w::kW5Tasks * w::kW5Samples;
  std::printf("W5 answer: %lld hits of %lld, pi ~ %.7f %s (expected %lld)\n",
              static_cast<long long>(sequential.hits), static_cast<long long>(samples),
              4.0 * static_cast<double>(sequential.hits) / static_cast<double>(samples),
              sequential.correct ? "ok" : "BAD", static_cast<long long>(w::kW5Hits));
  std::printf("sequential: %.1f ms\n\n", sequential.median.count());

  std::printf("%7s  %12s %8s  %14s %8s  %s\n", "workers", "threads ms", "speedup",
              "processes ms", "speedup", "answers");
  bool all_correct = sequential.correct;
  for (std::size_t workers = 1; workers <= max_workers; ++workers) {
    // A fresh pool of each size; the thread pool is gone before the process pool forks.
    Timing threads;
    {
      confut::ThreadPoolExecutor ex(workers);
      threads = measure([&] { return run_pool(ex); });
    }
    Timing processes;
    {
      confut::ProcessPoolExecutor ex(workers);
      processes = measure([&] { return run_pool(ex); });
    }
    const bool correct = threads.correct && processes.correct;
    all_correct = all_correct && correct;
    std::printf("%7zu  %12.1f %7.2fx  %14.1f %7.2fx  %s\n", workers, threads.median.count(),
                sequential.median / threads.median, processes.median.count(),
                sequential.median / processes.median, correct ? "ok" : "BAD");
  }
  std::printf("\n(%d equal tasks: more workers than cores only add switching, and 3 workers "
              "take two rounds, like 2)\n",
              w::kW5Tasks);
  if (!all_correct) std::fprintf(stderr, "pi: a run did not find %lld hits\n",
                                 static_cast<long long>(w::kW5Hits));
  return all_correct ? 0 : 1;
}
