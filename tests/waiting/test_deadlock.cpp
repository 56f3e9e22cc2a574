// Nested waits (W7a) complete; a true cycle of waits (W7b) raises DeadlockError.

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <future>
#include <latch>
#include <string>
#include <thread>

#include <confut/confut.hpp>

#include "test_support.hpp"

using namespace confut_test;

TEST_CASE("W7a: a task on a one-worker pool waits on a task it submitted", "[deadlock]") {
  confut::ThreadPoolExecutor ex(1);
  auto outer = ex.submit([&ex] { return ex.submit(ident, 41).result() + 1; });
  REQUIRE(outer.result(10s) == 42);
}

TEST_CASE("nested waits several levels deep complete on one worker", "[deadlock]") {
  confut::ThreadPoolExecutor ex(1);
  std::function<int(int)> depth = [&](int n) -> int {
    if (n == 0) return 0;
    return ex.submit(depth, n - 1).result() + 1;
  };
  REQUIRE(ex.submit(depth, 50).result(30s) == 50);
}

TEST_CASE("a waiting worker runs queued work while the awaited task runs elsewhere",
          "[deadlock]") {
  confut::ThreadPoolExecutor ex(2);
  Gate gate;
  std::promise<void> started;
  auto slow = ex.submit([&started, gate] {
    started.set_value();
    gate.wait();
    return 1;
  });
  started.get_future().wait();
  // The second worker waits on `slow`; the task queued after it must still run.
  auto waiter = ex.submit([slow] { return slow.result(); });
  auto queued = ex.submit(ident, 5);
  REQUIRE(queued.result(10s) == 5);
  gate.open();
  REQUIRE(waiter.result(10s) == 1);
}

TEST_CASE("W7b: two running tasks waiting on each other raise DeadlockError", "[deadlock]") {
  confut::ThreadPoolExecutor ex(2);
  std::promise<confut::Future<int>> to_a, to_b;
  std::shared_future<confut::Future<int>> future_of_a = to_a.get_future().share();
  std::shared_future<confut::Future<int>> future_of_b = to_b.get_future().share();
  std::latch both_running(2);  // each waits only once both run, on different workers
  auto a = ex.submit([&both_running, future_of_b] {
    both_running.arrive_and_wait();
    return future_of_b.get().result() + 1;
  });
  auto b = ex.submit([&both_running, future_of_a] {
    both_running.arrive_and_wait();
    return future_of_a.get().result() + 1;
  });
  to_a.set_value(a);
  to_b.set_value(b);

  // Neither may hang: the timeout would raise TimeoutError instead of DeadlockError.
  std::string message;
  int deadlocks = 0;
  for (auto* f : {&a, &b}) {
    try {
      (void)f->result(5s);
    } catch (const confut::DeadlockError& e) {
      ++deadlocks;
      message = e.what();
    }
  }
  REQUIRE(deadlocks == 2);  // one detects, the other fails with the error it waited on
  INFO(message);
  REQUIRE(message.find("task " + std::to_string(a.id())) != std::string::npos);
  REQUIRE(message.find("task " + std::to_string(b.id())) != std::string::npos);

  REQUIRE(ex.submit(ident, 3).result() == 3);  // the pool keeps working
}

TEST_CASE("a task waiting on its own future raises DeadlockError", "[deadlock]") {
  confut::ThreadPoolExecutor ex(2);
  std::promise<confut::Future<int>> self_promise;
  auto self_future = self_promise.get_future().share();
  auto f = ex.submit([self_future] { return self_future.get().result(); });
  self_promise.set_value(f);
  REQUIRE_THROWS_AS(f.result(5s), confut::DeadlockError);
}

TEST_CASE("a three-task cycle is detected", "[deadlock]") {
  confut::ThreadPoolExecutor ex(3);
  std::promise<confut::Future<int>> p[3];
  std::shared_future<confut::Future<int>> s[3] = {p[0].get_future().share(),
                                                  p[1].get_future().share(),
                                                  p[2].get_future().share()};
  std::latch all_running(3);
  std::vector<confut::Future<int>> tasks;
  for (int i = 0; i < 3; ++i) {
    auto next = s[(i + 1) % 3];
    tasks.push_back(ex.submit([&all_running, next] {
      all_running.arrive_and_wait();
      return next.get().result();
    }));
  }
  for (int i = 0; i < 3; ++i) p[i].set_value(tasks[static_cast<std::size_t>(i)]);
  for (auto& t : tasks) REQUIRE_THROWS_AS(t.result(5s), confut::DeadlockError);
}

TEST_CASE("W7b: every waiter of the cycle gets DeadlockError within 100 ms", "[deadlock]") {
  // Waiters now sleep (a spare thread takes their place) instead of running other tasks:
  // detection must still happen before a waiter sleeps, and reach each task of the cycle.
  confut::ThreadPoolExecutor ex(2);
  std::promise<confut::Future<int>> to_a, to_b;
  std::shared_future<confut::Future<int>> future_of_a = to_a.get_future().share();
  std::shared_future<confut::Future<int>> future_of_b = to_b.get_future().share();
  std::latch both_running(2);
  std::atomic<double> elapsed_ms[2] = {-1.0, -1.0};
  auto waiter = [&both_running, &elapsed_ms](int index,
                                             std::shared_future<confut::Future<int>> other) {
    both_running.arrive_and_wait();
    const auto start = std::chrono::steady_clock::now();
    try {
      return other.get().result() + 1;
    } catch (const confut::DeadlockError&) {
      elapsed_ms[index] = std::chrono::duration<double, std::milli>(
                              std::chrono::steady_clock::now() - start)
                              .count();
      throw;
    }
  };
  auto a = ex.submit(waiter, 0, future_of_b);
  auto b = ex.submit(waiter, 1, future_of_a);
  to_a.set_value(a);
  to_b.set_value(b);
  REQUIRE_THROWS_AS(a.result(5s), confut::DeadlockError);
  REQUIRE_THROWS_AS(b.result(5s), confut::DeadlockError);
  INFO("a: " << elapsed_ms[0].load() << " ms, b: " << elapsed_ms[1].load() << " ms");
  CHECK(elapsed_ms[0].load() >= 0.0);
  CHECK(elapsed_ms[1].load() >= 0.0);
  CHECK(elapsed_ms[0].load() < 100.0 + 250.0);  // 100 ms, with a margin for a loaded machine
  CHECK(elapsed_ms[1].load() < 100.0 + 250.0);
}

// ---- cycles through set waits: as_completed and wait(FIRST_COMPLETED / FIRST_EXCEPTION) ----
// Every wait inside the tasks is bounded (5 s): without detection the cycle ends by timeout
// and the test fails instead of hanging.

namespace {

using IntFuture = confut::Future<int>;

/// A task that, once `running` lets it go and `delay` passes, waits (5 s at most) for the
/// future `other` will hold and returns its result + 1.
auto waiting_for(std::latch& running, std::shared_future<IntFuture> other,
                 std::chrono::milliseconds delay) {
  return [&running, other, delay] {
    running.arrive_and_wait();
    std::this_thread::sleep_for(delay);
    return other.get().result(5s) + 1;
  };
}

/// Task a waits with `set_wait` for any of {b}, task b waits for a (b.result). One of them
/// closes the cycle (the one that sleeps last) and gets DeadlockError; when that is b, a's set
/// wait ends with b failed and a returns 1. `set_waiter_first` picks who sleeps first.
template <class SetWait>
void check_set_wait_cycle(SetWait set_wait, bool set_waiter_first) {
  confut::ThreadPoolExecutor ex(2);
  std::promise<IntFuture> to_a, to_b;
  std::shared_future<IntFuture> future_of_a = to_a.get_future().share();
  std::shared_future<IntFuture> future_of_b = to_b.get_future().share();
  std::latch both_running(2);
  const auto start = std::chrono::steady_clock::now();
  auto a = ex.submit([&both_running, future_of_b, set_wait, set_waiter_first] {
    both_running.arrive_and_wait();
    if (!set_waiter_first) std::this_thread::sleep_for(20ms);
    set_wait(future_of_b.get());
    return 1;
  });
  auto b = ex.submit(waiting_for(both_running, future_of_a, set_waiter_first ? 20ms : 0ms));
  to_a.set_value(a);
  to_b.set_value(b);

  std::string message;
  try {
    (void)b.result(10s);
    FAIL("b returned: the cycle was not detected");
  } catch (const confut::DeadlockError& e) {
    message = e.what();
  }
  int a_value = 0;
  try {
    a_value = a.result(10s);  // b closed the cycle
  } catch (const confut::DeadlockError&) {  // a closed it: b failed with a's error
    a_value = 1;
  }
  REQUIRE(a_value == 1);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  INFO(message);
  REQUIRE(message.find("task " + std::to_string(a.id())) != std::string::npos);
  REQUIRE(message.find("task " + std::to_string(b.id())) != std::string::npos);
  REQUIRE(seconds < 3.0);  // well before the 5 s bounds of the waits
  REQUIRE(ex.submit(ident, 3).result(10s) == 3);  // the pool keeps working
}

template <class SetWait>
void check_set_wait_cycle_both_orders(SetWait set_wait) {
  for (const bool set_waiter_first : {true, false}) {
    INFO("set waiter sleeps first: " << set_waiter_first);
    check_set_wait_cycle(set_wait, set_waiter_first);
  }
}

}  // namespace

TEST_CASE("as_completed in a task that closes a cycle of waits raises DeadlockError",
          "[deadlock]") {
  check_set_wait_cycle_both_orders([](IntFuture b) {
    for (auto& f : confut::as_completed({b}, 5s)) (void)f;
  });
}

TEST_CASE("wait FIRST_COMPLETED in a cycle of waits raises DeadlockError", "[deadlock]") {
  check_set_wait_cycle_both_orders(
      [](IntFuture b) { (void)confut::wait({b}, confut::FIRST_COMPLETED, 5s); });
}

TEST_CASE("wait FIRST_EXCEPTION in a cycle of waits raises DeadlockError", "[deadlock]") {
  check_set_wait_cycle_both_orders(
      [](IntFuture b) { (void)confut::wait({b}, confut::FIRST_EXCEPTION, 5s); });
}

TEST_CASE("a set wait with one free member is not a deadlock", "[deadlock]") {
  // a waits for any of {b, c}; b waits for a, but c runs freely and finishes: a returns
  // once c is done, then b.
  for (const bool as_completed : {false, true}) {
    for (const bool set_waiter_first : {true, false}) {
      INFO("as_completed: " << as_completed << ", set waiter sleeps first: " << set_waiter_first);
      confut::ThreadPoolExecutor ex(3);
      std::promise<IntFuture> to_a, to_b;
      std::shared_future<IntFuture> future_of_a = to_a.get_future().share();
      std::shared_future<IntFuture> future_of_b = to_b.get_future().share();
      std::latch all_running(3);
      auto c = ex.submit([&all_running] {
        all_running.arrive_and_wait();
        std::this_thread::sleep_for(300ms);
        return 7;
      });
      auto a = ex.submit([&all_running, future_of_b, c, as_completed, set_waiter_first] {
        all_running.arrive_and_wait();
        if (!set_waiter_first) std::this_thread::sleep_for(20ms);
        if (as_completed) {
          for (auto& f : confut::as_completed({future_of_b.get(), c}, 5s)) return f.result();
          return -1;
        }
        auto [done, not_done] = confut::wait({future_of_b.get(), c}, confut::FIRST_COMPLETED, 5s);
        return done.size() == 1 && not_done.size() == 1 ? done.front().result() : -1;
      });
      auto b = ex.submit(waiting_for(all_running, future_of_a, set_waiter_first ? 20ms : 0ms));
      to_a.set_value(a);
      to_b.set_value(b);
      REQUIRE(a.result(10s) == 7);
      REQUIRE(b.result(10s) == 8);
      REQUIRE(c.result(10s) == 7);
    }
  }
}

TEST_CASE("a set wait whose two members both lead back raises DeadlockError", "[deadlock]") {
  // a waits for any of {b, c}; b and c each wait for a. Whoever sleeps last closes the
  // cycle; when that is b or c, a's wait ends with it failed and a returns, then the other.
  for (const bool set_waiter_last : {false, true}) {
    INFO("set waiter sleeps last: " << set_waiter_last);
    confut::ThreadPoolExecutor ex(3);
    std::promise<IntFuture> to_a, to_b, to_c;
    std::shared_future<IntFuture> future_of_a = to_a.get_future().share();
    std::shared_future<IntFuture> future_of_b = to_b.get_future().share();
    std::shared_future<IntFuture> future_of_c = to_c.get_future().share();
    std::latch all_running(3);
    const auto start = std::chrono::steady_clock::now();
    auto a = ex.submit([&all_running, future_of_b, future_of_c, set_waiter_last] {
      all_running.arrive_and_wait();
      if (set_waiter_last) std::this_thread::sleep_for(30ms);
      (void)confut::wait({future_of_b.get(), future_of_c.get()}, confut::FIRST_COMPLETED, 5s);
      return 1;
    });
    auto b = ex.submit(waiting_for(all_running, future_of_a, set_waiter_last ? 0ms : 20ms));
    auto c = ex.submit(waiting_for(all_running, future_of_a, set_waiter_last ? 0ms : 40ms));
    to_a.set_value(a);
    to_b.set_value(b);
    to_c.set_value(c);
    int deadlocks = 0;
    for (auto* f : {&a, &b, &c}) {
      try {
        (void)f->result(10s);
      } catch (const confut::DeadlockError&) {
        ++deadlocks;
      }
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    REQUIRE(deadlocks >= 1);
    REQUIRE(seconds < 3.0);  // well before the 5 s bounds of the waits
  }
}
