// deadlock: waiting for futures from inside tasks (workloads W7a and W7b).
//
// W7a: a task on a 1-worker pool submits another task to the same pool and waits for it.
//      In Python the only worker is busy waiting, so the inner task never starts:
//          ex = ThreadPoolExecutor(max_workers=1)
//          def outer(): return ex.submit(inc, 41).result()   # hangs forever
//      In confut a worker that waits runs queued tasks meanwhile, the awaited one first,
//      so the inner task runs on the waiting worker and the outer task finishes.
//
// W7b: two tasks on a 2-worker pool each wait for the other's future: a true cycle, which
//      no scheduler can finish. Python hangs forever; confut finds the cycle in its
//      wait-for graph when the second edge is recorded and throws confut::DeadlockError.

#include <confut/confut.hpp>

#include <chrono>
#include <cstdio>
#include <future>

// The workload function (inc) comes from bench/workloads.hpp: the one definition shared by the
// examples, the benchmarks and the tour.
#include "../bench/workloads.hpp"

namespace w = confut_bench;
using Clock = std::chrono::steady_clock;
using Millis = std::chrono::duration<double, std::milli>;

// W7a: true when the nested wait returns inc(41) = 42.
bool nested_wait() {
  confut::ThreadPoolExecutor ex(1);
  const auto start = Clock::now();
  auto outer = ex.submit([&ex] {
    auto inner = ex.submit(w::inc, 41);  // no other worker exists to run it
    return inner.result();               // runs `inner` right here instead of blocking
  });
  const int value = outer.result();
  const Millis elapsed = Clock::now() - start;

  std::printf("W7a  nested wait on a 1-worker pool\n");
  std::printf("     confut: result %d in %.3f ms (the inner task ran on the waiting worker)\n",
              value, elapsed.count());
  std::printf("     Python: ThreadPoolExecutor(max_workers=1) hangs forever\n\n");
  return value == 42;
}

// W7b: true when waiting reports DeadlockError, quickly, in both futures.
bool wait_cycle() {
  confut::ThreadPoolExecutor ex(2);

  // Each task needs the other's future, which exists only once both are submitted: hand it
  // over through a promise that is fulfilled after the second submit.
  std::promise<confut::Future<int>> a_promise;
  std::promise<confut::Future<int>> b_promise;
  std::shared_future<confut::Future<int>> future_a = a_promise.get_future().share();
  std::shared_future<confut::Future<int>> future_b = b_promise.get_future().share();

  auto a = ex.submit([future_b] { return future_b.get().result() + 1; });  // a waits for b
  auto b = ex.submit([future_a] { return future_a.get().result() + 1; });  // b waits for a
  const auto start = Clock::now();
  a_promise.set_value(a);
  b_promise.set_value(b);

  std::printf("W7b  two tasks on a 2-worker pool wait for each other\n");
  bool ok = true;
  for (auto [name, future] : {std::pair{"a", a}, std::pair{"b", b}}) {
    try {
      const int value = future.result();
      std::printf("     confut: %s returned %d: no deadlock reported (wrong)\n", name, value);
      ok = false;
    } catch (const confut::DeadlockError& error) {
      const Millis detected = Clock::now() - start;
      std::printf("     confut: %s.result() threw DeadlockError after %.3f ms:\n", name,
                  detected.count());
      std::printf("             %s\n", error.what());
      if (detected >= Millis(100)) {
        std::printf("     detection took %.1f ms, more than the 100 ms allowed\n",
                    detected.count());
        ok = false;
      }
    }
  }
  std::printf("     Python: both futures wait on each other and it hangs forever\n");
  return ok;
}

int main() {
  const bool w7a_ok = nested_wait();
  const bool w7b_ok = wait_cycle();
  std::printf("\nW7a %s, W7b %s\n", w7a_ok ? "ok" : "FAILED", w7b_ok ? "ok" : "FAILED");
  return w7a_ok && w7b_ok ? 0 : 1;
}
