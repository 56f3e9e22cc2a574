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
#include <thread>
#include <vector>

using Seconds = std::chrono::duration<double>;
using Clock = std::chrono::steady_clock;

int slowadd(int a, int b, Seconds delay) {
  std::this_thread::sleep_for(delay);
  return a + b;
}

int slowsub(int a, int b, Seconds delay) {
  std::this_thread::sleep_for(delay);
  return a - b;
}

// One call of a workload: which function, with which arguments.
struct Call {
  int (*fn)(int, int, Seconds);
  int a;
  int b;
};

struct Workload {
  const char* id;
  std::vector<Call> calls;
  int expected_checksum;
  Seconds ideal;  // ceil(calls / workers) * delay
};

constexpr Seconds kDelay{0.1};
constexpr int kWorkers = 4;

// W2a: slowadd(i, i) for i = 0..7.
Workload w2a() {
  Workload w{"W2a", {}, 56, Seconds{0.2}};
  for (int i = 0; i < 8; ++i) w.calls.push_back({slowadd, i, i});
  return w;
}

// W2b: the 5x5 exercise; i < j adds, i > j subtracts, the diagonal is skipped.
Workload w2b() {
  Workload w{"W2b", {}, 60, Seconds{0.5}};
  for (int i = 0; i < 5; ++i) {
    for (int j = 0; j < 5; ++j) {
      if (i < j) w.calls.push_back({slowadd, i, j});
      if (i > j) w.calls.push_back({slowsub, i, j});
    }
  }
  return w;
}

int run_sequential(const Workload& w) {
  int checksum = 0;
  for (const Call& call : w.calls) checksum += call.fn(call.a, call.b, kDelay);
  return checksum;
}

int run_parallel(const Workload& w, confut::ThreadPoolExecutor& ex) {
  std::vector<confut::Future<int>> futures;
  for (const Call& call : w.calls) futures.push_back(ex.submit(call.fn, call.a, call.b, kDelay));
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
  confut::ThreadPoolExecutor ex(kWorkers);

  std::printf("slowadd: sleep-bound tasks, delay %.0f ms each, %d workers\n\n", ms(kDelay),
              kWorkers);
  std::printf("%-8s %5s %10s %14s %12s %9s %20s %8s\n", "workload", "tasks", "checksum",
              "sequential ms", "parallel ms", "ideal ms", "overhead vs ideal", "speedup");

  bool all_correct = true;
  for (const Workload& w : {w2a(), w2b()}) {
    int sequential_sum = 0;
    int parallel_sum = 0;
    const Seconds sequential = time_it([&] { sequential_sum = run_sequential(w); });
    const Seconds parallel = time_it([&] { parallel_sum = run_parallel(w, ex); });

    const bool correct =
        sequential_sum == w.expected_checksum && parallel_sum == w.expected_checksum;
    all_correct = all_correct && correct;
    const Seconds overhead = parallel - w.ideal;

    std::printf("%-8s %5zu %6d %-3s %14.1f %12.1f %9.0f %+9.2f ms (%+5.2f%%) %7.2fx\n", w.id,
                w.calls.size(), parallel_sum, correct ? "ok" : "BAD", ms(sequential),
                ms(parallel), ms(w.ideal), ms(overhead), 100.0 * overhead / w.ideal,
                sequential / parallel);
    if (!correct) {
      std::fprintf(stderr, "%s: wrong checksum (sequential %d, parallel %d, expected %d)\n", w.id,
                   sequential_sum, parallel_sum, w.expected_checksum);
    }
  }
  return all_correct ? 0 : 1;
}
