// ThreadPoolExecutor: workers, options, shutdown, a broken pool, errors in tasks, idling.

#include <catch2/catch.hpp>

#include <atomic>
#include <ctime>
#include <functional>
#include <latch>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#if defined(__linux__)
#include <pthread.h>
#endif

#include <confut/confut.hpp>

#include "test_support.hpp"

using namespace confut_test;

TEST_CASE("max_workers defaults to the hardware threads", "[thread_pool]") {
  confut::ThreadPoolExecutor ex;
  REQUIRE(ex.max_workers() == std::max(1u, std::thread::hardware_concurrency()));
  confut::ThreadPoolExecutor three(3);
  REQUIRE(three.max_workers() == 3);
}

TEST_CASE("tasks run on the pool's workers, in parallel", "[thread_pool]") {
  confut::ThreadPoolExecutor ex(3);
  std::latch all_running(3);  // would never open with fewer than 3 parallel workers
  std::mutex mutex;
  std::set<std::thread::id> threads;
  std::vector<confut::Future<void>> futures;
  for (int i = 0; i < 3; ++i) {
    futures.push_back(ex.submit([&] {
      all_running.arrive_and_wait();
      std::lock_guard lock(mutex);
      threads.insert(std::this_thread::get_id());
    }));
  }
  for (auto& f : futures) f.result();
  REQUIRE(threads.size() == 3);
  REQUIRE(threads.count(std::this_thread::get_id()) == 0);
}

TEST_CASE("the initializer runs once in every worker, before any task", "[thread_pool]") {
  std::atomic<int> initialized{0};
  confut::ThreadPoolOptions options;
  options.max_workers = 3;
  options.initializer = [&] { initialized.fetch_add(1); };
  confut::ThreadPoolExecutor ex(options);
  std::vector<confut::Future<int>> seen;
  for (int i = 0; i < 20; ++i) seen.push_back(ex.submit([&] { return initialized.load(); }));
  for (auto& f : seen) REQUIRE(f.result() == 3);
  ex.shutdown();
  REQUIRE(initialized.load() == 3);
}

#if defined(__linux__)
TEST_CASE("workers are named after thread_name_prefix", "[thread_pool]") {
  confut::ThreadPoolExecutor ex({.max_workers = 2, .thread_name_prefix = "render"});
  auto name = ex.submit([] {
    char buffer[32] = {};
    pthread_getname_np(pthread_self(), buffer, sizeof buffer);
    return std::string(buffer);
  });
  REQUIRE(name.result().rfind("render-", 0) == 0);
}
#endif

TEST_CASE("an initializer that throws breaks the pool", "[thread_pool][broken]") {
  confut::ThreadPoolOptions options;
  options.max_workers = 2;
  options.initializer = [] { throw std::runtime_error("no database"); };
  confut::ThreadPoolExecutor ex(options);
  // Whether the break happens before or after this submit, the task cannot run.
  auto attempt = [&] { return ex.submit(ident, 1).result(); };
  REQUIRE_THROWS_AS(attempt(), confut::BrokenExecutor);
  // Now the pool is known broken: submitting itself throws, naming the cause.
  try {
    (void)ex.submit(ident, 2);
    FAIL("submit on a broken pool should throw");
  } catch (const confut::BrokenExecutor& e) {
    REQUIRE(std::string(e.what()).find("no database") != std::string::npos);
  }
}

TEST_CASE("tasks pending when the pool breaks fail with BrokenExecutor", "[thread_pool][broken]") {
  Gate gate;
  confut::ThreadPoolOptions options;
  options.max_workers = 1;
  options.initializer = [gate] {
    gate.wait();
    throw std::runtime_error("late failure");
  };
  confut::ThreadPoolExecutor ex(options);
  std::vector<confut::Future<int>> pending;
  for (int i = 0; i < 5; ++i) pending.push_back(ex.submit(ident, i));
  gate.open();
  for (auto& f : pending) REQUIRE_THROWS_AS(f.result(), confut::BrokenExecutor);
}

TEST_CASE("a task's exception does not kill its worker", "[thread_pool]") {
  confut::ThreadPoolExecutor ex(1);
  for (int i = 0; i < 100; ++i) {
    auto bad = ex.submit([]() -> int { throw std::out_of_range("bad"); });
    REQUIRE_THROWS_AS(bad.result(), std::out_of_range);
  }
  REQUIRE(ex.submit(ident, 5).result() == 5);
}

TEST_CASE("submit after shutdown throws, and shutdown is idempotent", "[thread_pool][shutdown]") {
  confut::ThreadPoolExecutor ex(2);
  auto before = ex.submit(ident, 1);
  ex.shutdown();
  REQUIRE(before.result() == 1);
  REQUIRE_THROWS_AS(ex.submit(ident, 2), confut::ExecutorShutdownError);
  REQUIRE_THROWS_AS(ex.submit(ident, 2), confut::Error);
  ex.shutdown();
  ex.shutdown(false, true);
}

TEST_CASE("shutdown(wait) finishes every accepted task, including dependents",
          "[thread_pool][shutdown]") {
  std::atomic<int> ran{0};
  std::vector<confut::Future<int>> futures;
  {
    confut::ThreadPoolExecutor ex(2);
    for (int i = 0; i < 1000; ++i) {
      futures.push_back(ex.submit([&ran, i] {
        ran.fetch_add(1);
        return i;
      }));
    }
    auto total = ex.submit(
        [](std::vector<int> values) {
          long sum = 0;
          for (int v : values) sum += v;
          return static_cast<int>(sum);
        },
        futures);
    ex.shutdown(true);
    REQUIRE(ran.load() == 1000);
    REQUIRE(total.done());
    REQUIRE(total.result() == 999 * 1000 / 2);
  }
}

TEST_CASE("shutdown(wait=false) returns at once and the destructor joins",
          "[thread_pool][shutdown]") {
  Gate gate;
  confut::Future<int> f;
  {
    confut::ThreadPoolExecutor ex(1);
    f = ex.submit(gate.returning(3));
    ex.shutdown(false);  // must not block on the gated task
    REQUIRE_FALSE(f.done());
    gate.open();
  }  // the destructor waits for the task
  REQUIRE(f.done());
  REQUIRE(f.result() == 3);
}

TEST_CASE("shutdown with cancel_futures cancels queued tasks", "[thread_pool][shutdown]") {
  Gate gate;
  std::promise<void> started;
  std::atomic<int> ran{0};
  confut::ThreadPoolExecutor ex(1);
  auto running = ex.submit([&started, gate] {
    started.set_value();
    gate.wait();
    return 1;
  });
  started.get_future().wait();
  std::vector<confut::Future<int>> queued;
  for (int i = 0; i < 50; ++i) queued.push_back(ex.submit([&ran] { return ran.fetch_add(1); }));
  auto dependent = ex.submit(add, queued[0], 1);
  ex.shutdown(false, true);
  for (auto& f : queued) {
    REQUIRE(f.cancelled());
    REQUIRE_THROWS_AS(f.result(), confut::CancelledError);
  }
  REQUIRE_THROWS_AS(dependent.result(), confut::CancelledError);
  gate.open();
  REQUIRE(running.result() == 1);
  ex.shutdown(true);
  REQUIRE(ran.load() == 0);
}

TEST_CASE("tasks may submit more tasks to their own pool", "[thread_pool]") {
  confut::ThreadPoolExecutor ex(2);
  std::function<int(int)> fib = [&](int n) -> int {
    if (n < 2) return n;
    auto a = ex.submit(fib, n - 1);
    auto b = ex.submit(fib, n - 2);
    return a.result() + b.result();
  };
  REQUIRE(ex.submit(fib, 15).result() == 610);
}

TEST_CASE("move-only results and arguments are supported", "[thread_pool]") {
  confut::ThreadPoolExecutor ex(1);
  auto f = ex.submit([](std::unique_ptr<int> p) { return std::make_unique<int>(*p + 1); },
                     std::make_unique<int>(41));
  REQUIRE(*f.result() == 42);
}

TEST_CASE("an idle pool does not burn CPU", "[thread_pool][idle]") {
  confut::ThreadPoolExecutor ex(2);
  for (int i = 0; i < 100; ++i) (void)ex.submit(ident, i).result();
  std::this_thread::sleep_for(50ms);  // let the workers finish spinning and sleep
  auto cpu_now = [] {
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
  };
  const auto cpu_before = cpu_now();
  std::this_thread::sleep_for(500ms);
  const auto cpu_used = cpu_now() - cpu_before;
  // Two spinning workers would use about 1000 ms of CPU here.
  REQUIRE(cpu_used < 50ms);
}
