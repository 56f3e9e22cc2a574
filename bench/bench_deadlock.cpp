// bench_deadlock: what happens when tasks wait for futures (W7), on confut and its peers.
// A correctness check rather than a timing: each case runs in a fresh process, killed if it
// has not finished after 3 s, and is reported as `completed`, `deadlock_error` (a
// DeadlockError raised) or `hang` (counters of the same names, and the label).
//
// W7a: a task on a 1-worker pool submits another task to the same pool and waits for its
//      result. confut must complete (the waiting worker runs the inner task): 42.
// W7b: two tasks on a 2-worker pool each wait for the other's future, a true cycle.
//      confut must raise DeadlockError in both futures, not hang.
// A confut case that does otherwise fails the run; a peer's outcome is only reported.
// OpenMP cannot express W7b (a task cannot wait for a sibling it did not create), so it
// has no W7b row.
//
// Usage: bench_deadlock [Google Benchmark flags]

#include <confut/confut.hpp>

#include <chrono>
#include <cstdio>
#include <future>
#include <string>

#include "harness.hpp"
#include "peers.hpp"
#include "workloads.hpp"

using namespace confut_bench;

namespace {

constexpr auto kHangTimeout = std::chrono::seconds(3);

/// Probe output for a case that returned `value` after `start`.
int completed(int value, Clock::time_point start) {
  std::printf("outcome=completed\nvalue=%d\nms=%.3f\n", value,
              std::chrono::duration<double, std::milli>(Clock::now() - start).count());
  return 0;
}

// ---- W7a: a nested wait on a 1-worker pool ----

int w7a_confut() {
  confut::ThreadPoolExecutor ex(1);
  const auto start = Clock::now();
  auto outer = ex.submit([&ex] { return ex.submit(inc, 41).result(); });
  return completed(outer.result(), start);
}

int w7a_std_async() {
  const auto start = Clock::now();
  auto outer = std::async(std::launch::async,
                          [] { return std::async(std::launch::async, inc, 41).get(); });
  return completed(outer.get(), start);
}

#if CONFUT_HAVE_TBB
int w7a_tbb() {
  TbbRunner runner(1);
  const auto start = Clock::now();
  int value = 0;
  runner.arena().execute([&value] {
    tbb::task_group outer;
    outer.run([&value] {
      tbb::task_group inner;
      inner.run([&value] { value = inc(41); });
      inner.wait();
    });
    outer.wait();
  });
  return completed(value, start);
}
#endif

#if CONFUT_HAVE_BOOST
int w7a_asio() {
  boost::asio::thread_pool pool(1);
  const auto start = Clock::now();
  std::packaged_task<int()> outer([&pool] {
    std::packaged_task<int()> inner([] { return inc(41); });
    std::future<int> result = inner.get_future();
    boost::asio::post(pool, std::move(inner));
    return result.get();  // the pool's only thread waits for a task queued behind it
  });
  std::future<int> result = outer.get_future();
  boost::asio::post(pool, std::move(outer));
  return completed(result.get(), start);
}
#endif

#if CONFUT_HAVE_OPENMP
int w7a_openmp() {
  const auto start = Clock::now();
  int value = 0;
#pragma omp parallel num_threads(1) shared(value)
#pragma omp single
  {
#pragma omp task shared(value)
    {
      int inner = 0;
#pragma omp task shared(inner)
      inner = inc(41);
#pragma omp taskwait
      value = inner;
    }
  }
  return completed(value, start);
}
#endif

// ---- W7b: two tasks wait for each other ----

/// Each task needs the other's future, which exists only once both are submitted: it is
/// handed over through a promise fulfilled after the second submit.
int w7b_confut() {
  confut::ThreadPoolExecutor ex(2);
  std::promise<confut::Future<int>> a_promise, b_promise;
  std::shared_future<confut::Future<int>> future_a = a_promise.get_future().share();
  std::shared_future<confut::Future<int>> future_b = b_promise.get_future().share();
  auto a = ex.submit([future_b] { return future_b.get().result() + 1; });
  auto b = ex.submit([future_a] { return future_a.get().result() + 1; });
  const auto start = Clock::now();
  a_promise.set_value(a);
  b_promise.set_value(b);
  int errors = 0;
  std::string message;
  for (const auto& future : {a, b}) {
    try {
      std::printf("value=%d\n", future.result());
    } catch (const confut::DeadlockError& error) {
      ++errors;
      message = error.what();
    }
  }
  const double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
  std::printf("outcome=%s\nerrors=%d\nms=%.3f\nmessage=%s\n",
              errors == 2 ? "deadlock_error" : "completed", errors, ms, message.c_str());
  return 0;
}

/// W7b for the peers: the same hand-over, with std::shared_future results. `post(task)`
/// runs a task on the peer.
template <class Post>
int w7b_with_std_futures(Post post) {
  std::promise<std::shared_future<int>> a_promise, b_promise;
  std::shared_future<std::shared_future<int>> future_a = a_promise.get_future().share();
  std::shared_future<std::shared_future<int>> future_b = b_promise.get_future().share();
  std::packaged_task<int()> a_task([future_b] { return future_b.get().get() + 1; });
  std::packaged_task<int()> b_task([future_a] { return future_a.get().get() + 1; });
  std::shared_future<int> a = a_task.get_future().share();
  std::shared_future<int> b = b_task.get_future().share();
  const auto start = Clock::now();
  post(std::move(a_task));
  post(std::move(b_task));
  a_promise.set_value(a);
  b_promise.set_value(b);
  return completed(a.get() + b.get(), start);
}

int w7b_std_async() {
  std::vector<std::future<void>> running;
  return w7b_with_std_futures([&running](std::packaged_task<int()> task) {
    running.push_back(std::async(std::launch::async, std::move(task)));
  });
}

#if CONFUT_HAVE_TBB
int w7b_tbb() {
  TbbRunner runner(2);
  tbb::task_group group;
  return w7b_with_std_futures([&](std::packaged_task<int()> task) {
    runner.arena().execute([&] {
      group.run([task = std::make_shared<std::packaged_task<int()>>(std::move(task))] {
        (*task)();
      });
    });
  });
}
#endif

#if CONFUT_HAVE_BOOST
int w7b_asio() {
  boost::asio::thread_pool pool(2);
  return w7b_with_std_futures(
      [&pool](std::packaged_task<int()> task) { boost::asio::post(pool, std::move(task)); });
}
#endif

// ---- the benchmarks ----

/// Runs the probe and reports its outcome; `expect` is the outcome confut must have
/// ("" for a peer: any outcome is reported, none fails the run).
void register_case(const std::string& name, const std::string& probe, const std::string& expect,
                   int expected_value) {
  register_timed(name, [=](benchmark::State& state) {
    for (auto _ : state) {
      const ProbeResult result = run_probe(probe, kHangTimeout);
      state.SetIterationTime(result.seconds);
      std::string outcome = probe_value(result.output, "outcome");
      if (result.timed_out) {
        outcome = "hang";
      } else if (outcome.empty()) {
        outcome = result.signal != 0 ? "crashed (signal " + std::to_string(result.signal) + ")"
                                     : "failed (exit " + std::to_string(result.exit_code) + ")";
      }
      const std::string value = probe_value(result.output, "value");
      const std::string ms = probe_value(result.output, "ms");
      std::string label = outcome;
      if (result.timed_out) {
        label += " (killed after " + std::to_string(kHangTimeout.count()) + " s)";
      } else if (outcome == "completed" && !value.empty()) {
        label += ": " + value;
      } else if (outcome == "deadlock_error") {
        label += " in " + ms + " ms: " + probe_value(result.output, "message");
      }
      state.SetLabel(label);
      state.counters["completed"] = outcome == "completed" ? 1 : 0;
      state.counters["deadlock_error"] = outcome == "deadlock_error" ? 1 : 0;
      state.counters["hang"] = result.timed_out ? 1 : 0;
      if (!ms.empty()) state.counters["outcome_ms"] = std::stod(ms);
      if (!expect.empty()) {
        const bool right =
            outcome == expect &&
            (expect != "completed" || value == std::to_string(expected_value));
        if (!right) {
          fail_wrong_answer(state, "expected " + expect + ", got " + label);
          return;
        }
      }
    }
  }, 1, 1);
}

void register_all() {
  register_case("W7a/confut_threads/workers:1", "w7a-confut", "completed", 42);
  register_case("W7b/confut_threads/workers:2", "w7b-confut", "deadlock_error", 0);
  register_case("W7a/std_async", "w7a-std-async", "", 0);
  register_case("W7b/std_async", "w7b-std-async", "", 0);
#if CONFUT_HAVE_TBB
  register_case("W7a/tbb_task_group/workers:1", "w7a-tbb", "", 0);
  register_case("W7b/tbb_task_group/workers:2", "w7b-tbb", "", 0);
#endif
#if CONFUT_HAVE_BOOST
  register_case("W7a/asio_thread_pool/workers:1", "w7a-asio", "", 0);
  register_case("W7b/asio_thread_pool/workers:2", "w7b-asio", "", 0);
#endif
#if CONFUT_HAVE_OPENMP
  register_case("W7a/openmp_tasks/workers:1", "w7a-openmp", "", 0);
#endif
}

}  // namespace

int main(int argc, char** argv) {
  const std::map<std::string, ProbeFunction> probes = {
      {"w7a-confut", w7a_confut},
      {"w7b-confut", w7b_confut},
      {"w7a-std-async", w7a_std_async},
      {"w7b-std-async", w7b_std_async},
#if CONFUT_HAVE_TBB
      {"w7a-tbb", w7a_tbb},
      {"w7b-tbb", w7b_tbb},
#endif
#if CONFUT_HAVE_BOOST
      {"w7a-asio", w7a_asio},
      {"w7b-asio", w7b_asio},
#endif
#if CONFUT_HAVE_OPENMP
      {"w7a-openmp", w7a_openmp},
#endif
  };
  return bench_main(argc, argv, probes, register_all);
}
