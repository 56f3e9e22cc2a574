// tour: a guided run of the classic concurrent.futures and Dask futures tutorials, in C++.
//
// Each step runs one reference workload of WORKLOADS.md (W2 to W7) on confut, prints what it
// shows with the figures measured on this machine, and checks the answer. The whole run is
// recorded: at the end the tour writes an HTML performance report (task stream, worker
// utilization, task durations, statistics) and a Chrome trace (open it in ui.perfetto.dev or
// chrome://tracing) and prints their paths.
//
//   tour [OUTPUT_DIR]     (default: the current directory)

#include <confut/confut.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdint>
#include <filesystem>
#include <future>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "../bench/workloads.hpp"

namespace w = confut_bench;
using Clock = std::chrono::steady_clock;
using Millis = std::chrono::duration<double, std::milli>;

namespace {

bool g_all_correct = true;

void heading(int step, const char* title) { std::printf("\n%d. %s\n", step, title); }

/// Prints "ok" or the mismatch, and remembers a wrong answer for the exit code.
void verdict(bool correct, const std::string& what) {
  std::printf("   %s %s\n", correct ? "ok:" : "WRONG:", what.c_str());
  g_all_correct = g_all_correct && correct;
}

template <class Fn>
Millis time_it(Fn&& fn) {
  const auto start = Clock::now();
  fn();
  return Clock::now() - start;
}

// ---- 1. slowadd (W2): latency hiding -------------------------------------------------------

void slowadd_step() {
  heading(1, "slowadd: tasks that wait (sleep, I/O) overlap on a pool (W2)");
  int sequential_sum = 0;
  const Millis sequential = time_it([&] {
    for (int i = 0; i < 8; ++i) sequential_sum += w::slowadd(i, i);
  });
  confut::ThreadPoolExecutor ex(w::kW2Workers);
  int parallel_sum = 0;
  const Millis parallel = time_it([&] {
    std::vector<confut::Future<int>> futures;
    for (int i = 0; i < 8; ++i) futures.push_back(ex.submit(w::slowadd, i, i));
    for (auto& future : futures) parallel_sum += future.result();
  });
  std::printf("   8 x slowadd(i, i), 100 ms each: sequential %.0f ms, on 4 workers %.0f ms "
              "(%.1fx; ideal 200 ms)\n",
              sequential.count(), parallel.count(), sequential / parallel);
  verdict(sequential_sum == w::kW2aChecksum && parallel_sum == w::kW2aChecksum,
          "sum " + std::to_string(parallel_sum) + " (expected 56)");

  int grid_sum = 0;
  const Millis grid = time_it([&] {
    std::vector<confut::Future<int>> futures;
    for (int i = 0; i < 5; ++i) {
      for (int j = 0; j < 5; ++j) {
        if (i < j) futures.push_back(ex.submit(w::slowadd, i, j));
        if (i > j) futures.push_back(ex.submit(w::slowsub, i, j));
      }
    }
    for (auto& future : futures) grid_sum += future.result();
  });
  std::printf("   the 5x5 exercise (20 tasks): %.0f ms on 4 workers (ideal 500 ms)\n",
              grid.count());
  verdict(grid_sum == w::kW2bChecksum, "checksum " + std::to_string(grid_sum) + " (expected 60)");
}

// ---- 2. tree sum (W3, W3d): futures as arguments -------------------------------------------

int tree_sum(confut::ThreadPoolExecutor& ex) {
  std::vector<confut::Future<int>> level;
  for (int i = 0; i < w::kW3Leaves; ++i) {
    auto x = ex.submit(w::inc, i);
    auto y = ex.submit(w::dbl, x);      // a future as an argument: runs once x is done
    level.push_back(ex.submit(w::add, x, y));
  }
  while (level.size() > 1) {
    std::vector<confut::Future<int>> next;
    for (std::size_t i = 0; i + 1 < level.size(); i += 2) {
      next.push_back(ex.submit(w::add, level[i], level[i + 1]));
    }
    if (level.size() % 2 == 1) next.push_back(level.back());
    level = std::move(next);
  }
  return level.front().result();
}

int tree_sum_dynamic(confut::ThreadPoolExecutor& ex) {
  std::vector<confut::Future<int>> zs2;
  for (int i = 0; i < w::kW3Leaves; ++i) {
    auto x = ex.submit(w::inc, i);
    auto z = ex.submit(w::add, x, ex.submit(w::dbl, x));
    zs2.push_back(ex.submit(w::inc, z));
  }
  // Dask's pattern: take finished futures two by two, add them, put the sum back in the same
  // as_completed; progress() draws a bar as the loop consumes it (511 futures in all).
  auto sums = confut::progress(confut::as_completed(zs2), {.description = "   W3d"});
  std::optional<confut::Future<int>> held;
  for (confut::Future<int> future : sums) {
    if (held) {
      sums.sequence().add(ex.submit(w::add, *held, future));
      held.reset();
    } else {
      held = future;
    }
  }
  return held->result();  // the last one left
}

void tree_sum_step(confut::ThreadPoolExecutor& ex) {
  heading(2, "submit many, chain futures: the tree sum (W3, W3d)");
  int answer = tree_sum(ex);  // once to warm up
  const Millis graph = time_it([&] { answer = tree_sum(ex); });
  std::printf("   1,023 tasks, each waiting for its inputs on no thread: %.3f ms for the graph "
              "(%.1f M tasks/s)\n",
              graph.count(), w::kW3Tasks / (graph.count() / 1e3) / 1e6);
  verdict(answer == w::kW3Answer, "answer " + std::to_string(answer) + " (expected 98,688)");

  int dynamic = 0;
  const Millis dynamic_time = time_it([&] { dynamic = tree_sum_dynamic(ex); });
  std::printf("   W3d, adding in completion order with as_completed + add(): %.3f ms\n",
              dynamic_time.count());
  verdict(dynamic == w::kW3dAnswer, "answer " + std::to_string(dynamic) + " (expected 98,944)");
}

// ---- 3. pairwise correlation (W4): threads vs processes -------------------------------------

w::W4Best correlate(auto& ex, const w::W4Pairs& pairs, const char* label) {
  std::vector<confut::Future<double>> futures;
  futures.reserve(pairs.a.size());
  for (std::size_t i = 0; i < pairs.a.size(); ++i) {
    futures.push_back(ex.submit(w::correlation, pairs.a[i], pairs.b[i]));
  }
  confut::progress(futures, {.description = label});
  std::vector<double> rs;
  rs.reserve(futures.size());
  for (auto& future : futures) rs.push_back(future.result());
  return w::w4_best(pairs, rs);
}

void correlation_step(std::size_t workers) {
  heading(3, "pairwise correlation: 4,032 small tasks over shared data (W4)");
  w::build_w4_series();
  const w::W4Pairs pairs = w::w4_pairs();
  std::vector<double> rs;
  const Millis sequential = time_it([&] {
    for (std::size_t i = 0; i < pairs.a.size(); ++i) {
      rs.push_back(w::correlation(pairs.a[i], pairs.b[i]));
    }
  });
  const w::W4Best expected = w::w4_best(pairs, rs);

  w::W4Best by_threads;
  Millis threads{};
  {
    confut::ThreadPoolExecutor ex(workers);
    threads = time_it([&] { by_threads = correlate(ex, pairs, "   threads"); });
  }
  w::W4Best by_processes;
  Millis processes{};
  {
    // Worker processes build their own copy of the series once (the initializer) instead of
    // receiving 320 KB with every task.
    confut::ProcessPoolExecutor ex({.max_workers = workers, .initializer = w::build_w4_series});
    ex.submit(w::correlation, 0, 1).result();  // start the workers before timing
    processes = time_it([&] { by_processes = correlate(ex, pairs, "   processes"); });
  }
  std::printf("   sequential %.0f ms; %zu threads %.0f ms (%.2fx); %zu processes %.0f ms (%.2fx)\n",
              sequential.count(), workers, threads.count(), sequential / threads, workers,
              processes.count(), sequential / processes);
  char best[96];
  std::snprintf(best, sizeof best,
                "best pair (%d, %d), r = %.12f (expected (11, 49), 0.973665288402)",
                by_processes.a, by_processes.b, by_processes.r);
  verdict(w::w4_correct(expected) && w::w4_correct(by_threads) && w::w4_correct(by_processes),
          best);
}

// ---- 4. Monte Carlo pi (W5): speedup by workers ----------------------------------------------

void pi_step(std::size_t max_workers) {
  heading(4, "Monte Carlo pi: CPU-bound tasks, speedup by number of workers (W5)");
  auto run = [](auto& ex) {
    std::vector<confut::Future<std::int64_t>> futures;
    for (int k = 0; k < w::kW5Tasks; ++k) {
      futures.push_back(ex.submit(w::count_hits, static_cast<std::uint64_t>(k), w::kW5Samples));
    }
    std::int64_t hits = 0;
    for (auto& future : futures) hits += future.result();
    return hits;
  };
  std::int64_t hits = 0;
  const Millis sequential = time_it([&] {
    for (int k = 0; k < w::kW5Tasks; ++k) {
      hits += w::count_hits(static_cast<std::uint64_t>(k), w::kW5Samples);
    }
  });
  std::printf("   %-8s %12s %9s %12s %9s\n", "workers", "threads ms", "speedup", "processes ms",
              "speedup");
  std::printf("   %-8s %12.0f %9s %12s %9s\n", "1 (seq)", sequential.count(), "1.00x", "", "");
  bool correct = hits == w::kW5Hits;
  for (std::size_t workers = 1; workers <= max_workers; ++workers) {
    std::int64_t thread_hits = 0;
    std::int64_t process_hits = 0;
    confut::ThreadPoolExecutor threads(workers);
    const Millis t = time_it([&] { thread_hits = run(threads); });
    confut::ProcessPoolExecutor processes(workers);
    processes.submit(w::ident, 0).result();  // start the workers before timing
    const Millis p = time_it([&] { process_hits = run(processes); });
    std::printf("   %-8zu %12.0f %8.2fx %12.0f %8.2fx\n", workers, t.count(), sequential / t,
                p.count(), sequential / p);
    correct = correct && thread_hits == w::kW5Hits && process_hits == w::kW5Hits;
  }
  char text[96];
  std::snprintf(text, sizeof text, "%lld hits, pi ~ %.7f (expected 31,418,298)",
                static_cast<long long>(hits),
                4.0 * static_cast<double>(hits) /
                    (w::kW5Tasks * static_cast<double>(w::kW5Samples)));
  verdict(correct, text);
}

// ---- 5. primes (W6) on a process pool --------------------------------------------------------

void primes_step(confut::ProcessPoolExecutor& ex) {
  heading(5, "primes on a process pool: map over worker processes (W6)");
  std::vector<bool> primes;
  const Millis parallel = time_it([&] {
    for (bool prime : ex.map(w::is_prime, w::w6_numbers())) primes.push_back(prime);
  });
  std::string letters;
  for (bool prime : primes) letters += prime ? 'T' : 'F';
  std::printf("   6 numbers by trial division on %zu worker processes: %.0f ms\n", ex.max_workers(),
              parallel.count());
  verdict(primes == w::w6_expected(), "prime? " + letters + " (expected TTTTTF)");
}

// ---- 6. deadlocks (W7) -----------------------------------------------------------------------

void deadlock_step() {
  heading(6, "the two deadlock patterns of the tutorials (W7)");
  {
    confut::ThreadPoolExecutor ex(1);
    auto outer = ex.submit([&ex] { return ex.submit(w::inc, 41).result(); });
    const int value = outer.result();
    std::printf("   W7a, a task waits for a task it submitted, 1 worker: it returns %d "
                "(Python hangs)\n", value);
    verdict(value == 42, "the waiting worker ran the inner task itself");
  }
  {
    confut::ThreadPoolExecutor ex(2);
    std::promise<confut::Future<int>> a_promise;
    std::promise<confut::Future<int>> b_promise;
    auto future_a = a_promise.get_future().share();
    auto future_b = b_promise.get_future().share();
    auto a = ex.submit([future_b] { return future_b.get().result() + 1; });
    auto b = ex.submit([future_a] { return future_a.get().result() + 1; });
    a_promise.set_value(a);
    b_promise.set_value(b);
    bool detected = false;
    try {
      (void)a.result();
    } catch (const confut::DeadlockError& error) {
      detected = true;
      std::printf("   W7b, two tasks wait for each other: DeadlockError (Python hangs):\n"
                  "      %s\n", error.what());
    }
    try {
      (void)b.result();
    } catch (const confut::DeadlockError&) {
    }
    verdict(detected, "the cycle was reported, nothing hung");
  }
}

// ---- 7. a crash, contained ---------------------------------------------------------------------

}  // namespace

// Outside the anonymous namespace: an exported symbol, so messages can name it.
int dereference_null(int x) {
  int* volatile pointer = nullptr;
  return *pointer + x;
}

namespace {

void crash_step(confut::ProcessPoolExecutor& ex) {
  heading(7, "a crash, contained: a task dereferences a null pointer");
  auto crash = ex.submit(dereference_null, 1);
  std::vector<confut::Future<int>> others;
  for (int i = 0; i < 20; ++i) others.push_back(ex.submit(w::inc, i));
  std::string message = "(no error)";
  try {
    (void)crash.result();
  } catch (const confut::WorkerDied& error) {
    message = error.what();
  }
  int sum = 0;
  for (auto& future : others) sum += future.result();
  std::printf("   the crashing task's future: WorkerDied: %s\n", message.c_str());
  std::printf("   the 20 other tasks: all done, sum %d; the pool replaced the worker and "
              "carries on\n", sum);
  verdict(message.find("SIGSEGV") != std::string::npos && sum == 210,
          "only the crashing task failed");
}

}  // namespace

int main(int argc, char** argv) {
  confut::Runtime runtime(argc, argv);  // first: the pool's fork server may start here
  const std::filesystem::path out_dir = argc > 1 ? argv[1] : ".";
  std::filesystem::create_directories(out_dir);
  const std::string report_path = std::filesystem::absolute(out_dir / "confut-tour-report.html");
  const std::string trace_path = std::filesystem::absolute(out_dir / "confut-tour-trace.json");
  const std::size_t workers = std::max(2u, std::thread::hardware_concurrency());
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // keep the story in order with the progress bars

  std::printf("confut tour: the concurrent.futures and Dask tutorials in C++ (%u hardware "
              "threads)\n", std::thread::hardware_concurrency());
  confut::performance_report report(report_path,
                                    {.title = "confut tour", .trace_path = trace_path});
  confut::ThreadPoolExecutor threads(workers);
  confut::ProcessPoolExecutor processes(workers);

  slowadd_step();
  tree_sum_step(threads);
  correlation_step(workers);
  pi_step(workers);
  primes_step(processes);
  deadlock_step();
  crash_step(processes);

  heading(8, "seeing the work: statistics, task stream, report");
  std::printf("%s", [&] {
    std::ostringstream text;
    text << threads.stats() << processes.stats();
    return text.str();
  }().c_str());
  report.close();
  std::printf("   performance report: %s\n", report_path.c_str());
  std::printf("   Chrome trace:       %s  (open in ui.perfetto.dev or chrome://tracing)\n",
              trace_path.c_str());
  std::printf("   %zu tasks recorded on %zu executors\n", report.task_stream().tasks.size(),
              report.task_stream().executors.size());

  std::printf("\ntour: %s\n", g_all_correct ? "every answer correct" : "SOME ANSWERS WRONG");
  return g_all_correct ? 0 : 1;
}
