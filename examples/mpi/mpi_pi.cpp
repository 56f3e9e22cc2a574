// mpi_pi: Monte Carlo pi (workload W5) on the worker ranks of an MPI job, with the speedup
// of 1, 2, ... worker ranks over a sequential run on rank 0.
//
// The same four tasks as examples/pi.cpp (each with its own splitmix64 generator, so the
// answer does not depend on where a task runs), submitted to MPIPoolExecutor instead of a
// local pool: the code that submits them is the same template.
//
// Python equivalent (mpi4py.futures):
//     with MPIPoolExecutor(max_workers=w) as ex:
//         hits = sum(ex.map(count_hits, range(4), [10_000_000] * 4))
//
// Usage: mpirun -np 3 mpi_pi   (as root: --allow-run-as-root; beyond the cores: --oversubscribe)

#include <confut/confut.hpp>
#include <confut/mpi.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <vector>

#include "../../bench/workloads.hpp"

namespace w = confut_bench;
using Clock = std::chrono::steady_clock;
using Millis = std::chrono::duration<double, std::milli>;

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

// The median of three timed runs after an untimed one; false if any run was wrong.
template <class Fn>
bool measure(Fn&& fn, Millis& median, std::int64_t& hits) {
  bool correct = fn() == w::kW5Hits;
  std::vector<Millis> times;
  for (int run = 0; run < 3; ++run) {
    const auto start = Clock::now();
    hits = fn();
    times.push_back(Clock::now() - start);
    correct = correct && hits == w::kW5Hits;
  }
  std::sort(times.begin(), times.end());
  median = times[1];
  return correct;
}

int main(int argc, char** argv) {
  confut::Runtime runtime(argc, argv);  // ranks 1..N-1 serve tasks in here
  int size = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (size < 2) {
    std::fprintf(stderr, "mpi_pi: start it with mpirun -np 2 or more (rank 0 submits, the "
                         "other ranks run the tasks)\n");
    return 2;
  }
  std::printf("mpi_pi: W5, %d tasks x %lld samples, %d worker ranks\n", w::kW5Tasks,
              static_cast<long long>(w::kW5Samples), size - 1);
  Millis sequential{};
  std::int64_t hits = 0;
  bool all_correct = measure(
      [] {
        std::int64_t hits = 0;
        for (int k = 0; k < w::kW5Tasks; ++k) {
          hits += w::count_hits(static_cast<std::uint64_t>(k), w::kW5Samples);
        }
        return hits;
      },
      sequential, hits);
  std::printf("W5 answer: %lld hits, pi ~ %.7f %s (expected %lld)\n",
              static_cast<long long>(hits),
              4.0 * static_cast<double>(hits) / (w::kW5Tasks * static_cast<double>(w::kW5Samples)),
              all_correct ? "ok" : "BAD", static_cast<long long>(w::kW5Hits));
  std::printf("sequential on rank 0: %.1f ms\n\n%12s  %10s %8s  %s\n", sequential.count(),
              "worker ranks", "ms", "speedup", "answers");
  for (int workers = 1; workers < size; ++workers) {
    confut::MPIPoolExecutor ex({.max_workers = static_cast<std::size_t>(workers)});
    Millis median{};
    const bool correct = measure([&] { return run_pool(ex); }, median, hits);
    all_correct = all_correct && correct;
    std::printf("%12d  %10.1f %7.2fx  %s\n", workers, median.count(), sequential / median,
                correct ? "ok" : "BAD");
  }
  return all_correct ? 0 : 1;
}
