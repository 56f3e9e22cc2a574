// slowadd: hiding latency with a thread pool (workloads W2a and W2b).
//
// Each task sleeps 0.1 s before adding or subtracting, like a call to a slow service. Run
// one after another they take 0.1 s each; submitted to 4 workers, four sleep at once. The
// program runs every workload both ways and reports how close the pool gets to the ideal
// wall time (tasks / workers * 0.1 s).
//
// Python equivalent (concurrent.futures):
//     with ThreadPoolExecutor(4) as ex:
//         futures = [ex.submit(slowadd, i, i, 0.1) for i in range(8)]
//         total = sum(f.result() for f in futures)

#include <confut/confut.hpp>

#include <chrono>
#include <cstdio>
#include <vector>

// The workload functions (slowadd, slowsub) and the W2 calls come from bench/workloads.hpp:
// the one definition shared by the examples, the benchmarks and the tour.
#include "../bench/workloads.hpp"

namespace w = confut_bench;
using Seconds = std::chrono::duration<double>;
using Clock = std::chrono::steady_clock;

struct Workload {
  const char* id;
  std::vector<w::W2Call> calls;
  int expected_checksum;
  Seconds ideal;  // ceil(calls / workers) * delay
};

int run_sequential(const Workload& workload) {
  int checksum = 0;
  for (const w::W2Call& call : workload.calls) checksum += call.run();
  return checksum;
}

int run_parallel(const Workload& workload, confut::ThreadPoolExecutor& ex) {
  std::vector<confut::Future<int>> futures;
  for (const w::W2Call& call : workload.calls) {
    futures.push_back(ex.submit(call.add ? w::slowadd : w::slowsub, call.a, call.b));
  }
  int checksum = 0;
  for (const auto& future : futures) checksum += future.result();
  return checksum;
}

template <class Fn>
Seconds time_it(Fn&& fn) {
  const auto start = Clock::now();
  fn();
  return Clock::now() - start;
}

double ms(Seconds s) { return s.count() * 1e3; }

int main() {
  // One pool for both workloads, as a program would keep one; the workers are started
  // before the clock runs.
  confut::ThreadPoolExecutor ex(w::kW2Workers);

  std::printf("slowadd: sleep-bound tasks, delay %.0f ms each, %zu workers\n\n", ms(w::kW2Delay),
              w::kW2Workers);
  std::printf("%-8s %5s %10s %14s %12s %9s %20s %8s\n", "workload", "tasks", "checksum",
              "sequential ms", "parallel ms", "ideal ms", "overhead vs ideal", "speedup");

  bool all_correct = true;
  // W2a: slowadd(i, i) for i = 0..7. W2b: the 5x5 exercise; i < j adds, i > j subtracts.
  const Workload workloads[] = {
      {"W2a", w::w2a_calls(), w::kW2aChecksum, Seconds{w::kW2aIdealSeconds}},
      {"W2b", w::w2b_calls(), w::kW2bChecksum, Seconds{w::kW2bIdealSeconds}},
  };
  for (const Workload& workload : workloads) {
    int sequential_sum = 0;
    int parallel_sum = 0;
    const Seconds sequential = time_it([&] { sequential_sum = run_sequential(workload); });
    const Seconds parallel = time_it([&] { parallel_sum = run_parallel(workload, ex); });

    const int expected = workload.expected_checksum;
    const bool correct = sequential_sum == expected && parallel_sum == expected;
    all_correct = all_correct && correct;
    const Seconds overhead = parallel - workload.ideal;

    std::printf("%-8s %5zu %6d %-3s %14.1f %12.1f %9.0f %+9.2f ms (%+5.2f%%) %7.2fx\n",
                workload.id, workload.calls.size(), parallel_sum, correct ? "ok" : "BAD",
                ms(sequential), ms(parallel), ms(workload.ideal), ms(overhead),
                100.0 * overhead / workload.ideal, sequential / parallel);
    if (!correct) {
      std::fprintf(stderr, "%s: wrong checksum (sequential %d, parallel %d, expected %d)\n",
                   workload.id, sequential_sum, parallel_sum, expected);
    }
  }
  return all_correct ? 0 : 1;
}
