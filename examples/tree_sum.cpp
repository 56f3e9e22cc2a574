// tree_sum: task graphs built from futures (workloads W1, W3 and W3d; W3s with --delay-ms 1).
//
// As in Dask, a Future can be passed to submit() in place of a value: the task waits until
// that future is done and receives its value. A whole graph is submitted at once, without
// waiting anywhere, and the pool runs each task as soon as its inputs are ready.
//
// Python equivalent (Dask futures):
//     zs = []
//     for i in range(256):
//         x = client.submit(inc, i); y = client.submit(dbl, x); zs.append(client.submit(add, x, y))
//     while len(zs) > 1:
//         zs = [client.submit(add, zs[i], zs[i + 1]) for i in range(0, len(zs), 2)]
//
// Usage: tree_sum [--delay-ms N]   (every inc, dbl and add first sleeps N ms; default 0)

#include <confut/confut.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

// The workload functions (ident, inc, dbl, add) and the W1/W3 constants come from
// bench/workloads.hpp: the one definition shared by the examples, the benchmarks and the tour.
#include "../bench/workloads.hpp"

namespace w = confut_bench;
using Clock = std::chrono::steady_clock;
using Millis = std::chrono::duration<double, std::milli>;

// Set once from the command line, before the pool starts.
std::chrono::milliseconds g_delay{0};

void simulate_work() {
  if (g_delay.count() > 0) std::this_thread::sleep_for(g_delay);
}

// The W3 tasks: the shared inc, dbl and add, each after the optional delay (W3s: 1 ms).
int inc(int x) { simulate_work(); return w::inc(x); }
int dbl(int x) { simulate_work(); return w::dbl(x); }
int add(int x, int y) { simulate_work(); return w::add(x, y); }

// What one run of a workload produced.
struct Outcome {
  std::int64_t answer;
  std::size_t tasks;
};

// W3: 256 small chains inc -> dbl -> add, then a pairwise sum, level by level.
Outcome w3(confut::ThreadPoolExecutor& ex) {
  std::vector<confut::Future<int>> level;
  for (int i = 0; i < w::kW3Leaves; ++i) {
    auto x = ex.submit(inc, i);
    auto y = ex.submit(dbl, x);           // the future x, not its value
    level.push_back(ex.submit(add, x, y));
  }
  std::size_t tasks = 3 * level.size();
  while (level.size() > 1) {
    std::vector<confut::Future<int>> next;
    for (std::size_t i = 0; i + 1 < level.size(); i += 2) {
      next.push_back(ex.submit(add, level[i], level[i + 1]));
    }
    if (level.size() % 2 == 1) next.push_back(level.back());
    tasks += level.size() / 2;
    level = std::move(next);
  }
  return {level.front().result(), tasks};
}

// W3d: the same chains, then inc on each z, then a reduction in completion order: the two
// sums that finish first are added first, and the new future joins the same as_completed.
Outcome w3d(confut::ThreadPoolExecutor& ex) {
  std::vector<confut::Future<int>> zs2;
  for (int i = 0; i < w::kW3Leaves; ++i) {
    auto x = ex.submit(inc, i);
    auto y = ex.submit(dbl, x);
    auto z = ex.submit(add, x, y);
    zs2.push_back(ex.submit(inc, z));  // Dask's client.map(inc, zs): futures, not values
  }
  std::size_t tasks = 4 * zs2.size();
  auto seq = confut::as_completed(zs2);
  while (seq.count() > 1) {
    auto a = seq.next();
    auto b = seq.next();
    seq.add(ex.submit(add, a, b));
    ++tasks;
  }
  return {seq.next().result(), tasks};
}

// W1: the cost of one task: submit N empty tasks, then collect them in submission order.
Outcome w1(confut::ThreadPoolExecutor& ex) {
  constexpr int kN = w::kW1ThreadTasks;
  std::vector<confut::Future<int>> futures;
  futures.reserve(kN);
  for (int i = 0; i < kN; ++i) futures.push_back(ex.submit(w::ident, i));
  std::int64_t sum = 0;
  for (const auto& future : futures) sum += future.result();
  return {sum, kN};
}

struct Workload {
  std::string id;
  Outcome (*run)(confut::ThreadPoolExecutor&);
  std::int64_t expected;
};

constexpr int kRepetitions = 5;

// Runs a workload kRepetitions times; prints one table row; false on a wrong answer.
bool report(const Workload& workload, confut::ThreadPoolExecutor& ex) {
  std::vector<Millis> times;
  Outcome outcome{};
  bool correct = true;
  for (int rep = 0; rep < kRepetitions; ++rep) {
    const auto start = Clock::now();
    outcome = workload.run(ex);
    times.push_back(Clock::now() - start);
    correct = correct && outcome.answer == workload.expected;
  }
  std::sort(times.begin(), times.end());
  const Millis median = times[times.size() / 2];
  const Millis best = times.front();
  const double tasks = static_cast<double>(outcome.tasks);
  std::printf("%-9s %12lld %-3s %7zu %10.2f %9.2f %14.0f %9.0f\n", workload.id.c_str(),
              static_cast<long long>(outcome.answer), correct ? "ok" : "BAD", outcome.tasks,
              median.count(), best.count(), tasks / (median.count() / 1e3),
              median.count() * 1e6 / tasks);
  if (!correct) {
    std::fprintf(stderr, "%s: wrong answer %lld, expected %lld\n", workload.id.c_str(),
                 static_cast<long long>(outcome.answer), static_cast<long long>(workload.expected));
  }
  return correct;
}

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--delay-ms") == 0 && i + 1 < argc) {
      g_delay = std::chrono::milliseconds(std::atoi(argv[++i]));
    } else {
      std::fprintf(stderr, "usage: %s [--delay-ms N]\n", argv[0]);
      return 2;
    }
  }

  confut::ThreadPoolExecutor ex;  // one worker per hardware thread
  // W3 with a 1 ms delay is W3s; other delays are named by their value.
  const std::string delay = "@" + std::to_string(g_delay.count()) + "ms";
  const Workload workloads[] = {
      {"W1", w1, w::w1_checksum(w::kW1ThreadTasks)},
      {g_delay.count() == 0 ? "W3" : g_delay.count() == 1 ? "W3s" : "W3" + delay, w3,
       w::kW3Answer},
      {g_delay.count() == 0 ? "W3d" : "W3d" + delay, w3d, w::kW3dAnswer},
  };

  std::printf("tree_sum: %zu workers, task delay %lld ms (W1 never sleeps), %d runs each\n\n",
              ex.max_workers(), static_cast<long long>(g_delay.count()), kRepetitions);
  std::printf("%-9s %16s %7s %10s %9s %14s %9s\n", "workload", "answer", "tasks", "median ms",
              "best ms", "tasks/s (med)", "ns/task");
  bool all_correct = true;
  for (const Workload& workload : workloads) all_correct = report(workload, ex) && all_correct;
  return all_correct ? 0 : 1;
}
