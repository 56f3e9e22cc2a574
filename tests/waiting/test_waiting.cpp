// Waiting inside a task: the waiting thread runs only what it waits for, and a spare thread
// takes its place meanwhile (compensation). So a task may hold a lock across a wait, nested
// waits go thousands deep, no false deadlock is reported, and timed waits keep their deadline.

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <typeinfo>
#include <vector>

#include <confut/confut.hpp>

#include "test_support.hpp"

using namespace confut_test;
using namespace std::chrono_literals;

namespace {

confut::ThreadPoolExecutor* chain_pool = nullptr;

/// The nested chain: each level submits the next and waits for it.
int chain(int depth) { return depth == 0 ? 0 : chain_pool->submit(chain, depth - 1).result() + 1; }

/// Points chain() at a pool; at the end, waits for the chains left running (after an error)
/// before letting go of it.
struct ChainPool {
  explicit ChainPool(confut::ThreadPoolExecutor& ex) : ex_(ex) { chain_pool = &ex; }
  ~ChainPool() {
    ex_.shutdown(true);
    chain_pool = nullptr;
  }
  confut::ThreadPoolExecutor& ex_;
};

double milliseconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
}

/// Holds a std::mutex while it waits for a future of `other`, as in the issue; `log` is
/// guarded by the same mutex.
int lock_and_wait(std::mutex& mutex, std::string& log, confut::Future<int> from_other) {
  std::lock_guard lock(mutex);
  const int value = from_other.result();
  log += "first " + std::to_string(value) + " ";
  return value;
}

}  // namespace

TEST_CASE("a task holding a mutex across a wait on another pool lets a second task take it",
          "[waiting]") {
  confut::ThreadPoolExecutor other(1);
  confut::ThreadPoolExecutor ex(1);
  std::mutex mutex;
  std::string log;
  auto slow = other.submit([] {
    std::this_thread::sleep_for(100ms);
    return 1;
  });
  auto first = ex.submit([&, slow] { return lock_and_wait(mutex, log, slow); });
  auto second = ex.submit([&] {
    std::lock_guard lock(mutex);
    log += "second 2";
    return 2;
  });
  REQUIRE(first.result(10s) == 1);
  REQUIRE(second.result(10s) == 2);
  std::lock_guard lock(mutex);
  REQUIRE(log == "first 1 second 2");
}

TEST_CASE("a task waiting on a task that waits on another pool raises no DeadlockError",
          "[waiting][deadlock]") {
  confut::ThreadPoolExecutor other(1);
  confut::ThreadPoolExecutor ex(1);
  Gate gate;
  auto outer = other.submit(gate.returning(7));
  auto a = ex.submit([outer] { return outer.result() + 1; });
  auto u = ex.submit([a] { return a.result() + 1; });
  std::this_thread::sleep_for(100ms);  // u waits on a, which waits on `outer`
  REQUIRE_FALSE(u.done());
  gate.open();
  REQUIRE(u.result(10s) == 9);
  REQUIRE(a.result(10s) == 8);
}

/// chain(depth) on a pool of `workers` gives `depth`, and the pool works on afterwards.
static void check_chain(std::size_t workers, int depth) {
  confut::ThreadPoolExecutor ex(workers);
  ChainPool pool(ex);
  REQUIRE(ex.submit(chain, depth).result(60s) == depth);
  REQUIRE(ex.submit(ident, 5).result(10s) == 5);
}

TEST_CASE("a chain of nested waits 3000 deep on 2 workers gives the right answer",
          "[waiting][nested]") {
  check_chain(2, 3000);
}

TEST_CASE("a chain of nested waits 1500 deep on 1 worker gives the right answer",
          "[waiting][nested]") {
  check_chain(1, 1500);
}

TEST_CASE("a chain of nested waits past the bound fails with an Error naming it, no hang",
          "[waiting][nested]") {
  // The bound is about (max_workers + kMaxSpareThreads) * (kMaxInlineDepth + 1) levels:
  // (1 + 256) * 33 = 8,481 here.
  confut::ThreadPoolExecutor ex(1);
  ChainPool pool(ex);
  std::string message;
  bool deadlock = false;
  try {
    (void)ex.submit(chain, 10000).result(60s);
  } catch (const confut::DeadlockError&) {
    deadlock = true;
  } catch (const confut::TimeoutError&) {
    FAIL("the chain hung");
  } catch (const confut::Error& e) {
    message = e.what();
  }
  REQUIRE_FALSE(deadlock);
  INFO(message);
  REQUIRE(message.find("kMaxSpareThreads = 256") != std::string::npos);
  REQUIRE(ex.submit(ident, 5).result(30s) == 5);  // the pool keeps working
}

TEST_CASE("timed waits inside a task return by their deadline while an unrelated long task "
          "is queued",
          "[waiting][timeout]") {
  confut::ThreadPoolExecutor other(1);
  confut::ThreadPoolExecutor ex(1);
  Gate gate;
  const auto never = other.submit(gate.returning(1));
  std::atomic<bool> stop{false};
  auto long_task = [&stop] {
    const auto end = std::chrono::steady_clock::now() + 1500ms;
    while (!stop.load() && std::chrono::steady_clock::now() < end) {
      std::this_thread::sleep_for(2ms);
    }
    return 0;
  };
  struct Timing {
    std::string what;
    double ms;
    bool timed_out;
  };
  auto measured = ex.submit([&] {
    std::vector<Timing> timings;
    std::vector<confut::Future<int>> unrelated;
    auto time = [&](const std::string& what, auto&& wait) {
      unrelated.push_back(ex.submit(long_task));  // queued on this worker, before the wait
      const auto start = std::chrono::steady_clock::now();
      const bool timed_out = wait();
      timings.push_back({what, milliseconds_since(start), timed_out});
    };
    const std::vector<confut::Future<int>> futures{never};
    time("result", [&] {
      try {
        (void)never.result(100ms);
        return false;
      } catch (const confut::TimeoutError&) {
        return true;
      }
    });
    time("exception", [&] {
      try {
        (void)never.exception(100ms);
        return false;
      } catch (const confut::TimeoutError&) {
        return true;
      }
    });
    time("wait_for", [&] { return !never.wait_for(100ms); });
    time("wait", [&] { return confut::wait(futures, 100ms).not_done.size() == 1; });
    time("wait first_completed", [&] {
      return confut::wait(futures, confut::FIRST_COMPLETED, 100ms).not_done.size() == 1;
    });
    time("as_completed", [&] {
      try {
        for (auto future : confut::as_completed(futures, 100ms)) (void)future;
        return false;
      } catch (const confut::TimeoutError&) {
        return true;
      }
    });
    return timings;
  });
  const std::vector<Timing> timings = measured.result(30s);
  stop.store(true);
  gate.open();
  REQUIRE(timings.size() == 6);
  for (const Timing& timing : timings) {
    INFO(timing.what << " took " << timing.ms << " ms");
    CHECK(timing.timed_out);
    CHECK(timing.ms >= 99.0);
    CHECK(timing.ms < 100.0 + 250.0);  // its deadline, with a margin for a loaded machine
  }
}

TEST_CASE("W7a with a timed wait: the awaited task runs on a spare thread", "[waiting]") {
  confut::ThreadPoolExecutor ex(1);
  auto outer = ex.submit([&ex] { return ex.submit(ident, 41).result(10s) + 1; });
  REQUIRE(outer.result(10s) == 42);
}

TEST_CASE("a blocked worker is compensated: the pool keeps max_workers threads running",
          "[waiting]") {
  confut::ThreadPoolExecutor other(1);
  confut::ThreadPoolExecutor ex(2);
  Gate gate;
  auto held = other.submit(gate.returning(1));
  // Both workers block on `held`; two spare threads take their places.
  auto w1 = ex.submit([held] { return held.result(); });
  auto w2 = ex.submit([held] { return held.result(); });
  std::atomic<int> inside{0};
  std::atomic<int> most{0};
  std::vector<confut::Future<int>> tasks;
  for (int i = 0; i < 8; ++i) {
    tasks.push_back(ex.submit([&inside, &most] {
      const int now = inside.fetch_add(1) + 1;
      int seen = most.load();
      while (seen < now && !most.compare_exchange_weak(seen, now)) {
      }
      std::this_thread::sleep_for(20ms);
      inside.fetch_sub(1);
      return 1;
    }));
  }
  int sum = 0;
  for (auto& task : tasks) sum += task.result(10s);
  REQUIRE(sum == 8);
  REQUIRE(most.load() <= 2);  // never more than max_workers unblocked threads run tasks
  gate.open();
  REQUIRE(w1.result(10s) + w2.result(10s) == 2);
  REQUIRE(ex.stats().workers.size() == 2);
  REQUIRE(ex.stats().finished == 10);
}

TEST_CASE("stress: tasks holding a mutex across waits on another pool, random timing",
          "[waiting][stress]") {
  std::mt19937 random(12345);
  const int rounds = kSanitized ? 8 : 25;
  for (int round = 0; round < rounds; ++round) {
    confut::ThreadPoolExecutor other(1 + round % 2);
    confut::ThreadPoolExecutor ex(1 + round % 3);
    std::mutex mutex;
    int inside = 0;
    int most = 0;
    std::vector<confut::Future<int>> tasks;
    const int count = 4 + static_cast<int>(random() % 6);
    for (int i = 0; i < count; ++i) {
      const auto delay = std::chrono::microseconds(random() % 3000);
      tasks.push_back(ex.submit([&, delay, i] {
        std::lock_guard lock(mutex);
        most = std::max(most, ++inside);
        const int value = other.submit([delay, i] {
                                 std::this_thread::sleep_for(delay);
                                 return i;
                               })
                              .result();
        --inside;
        return value;
      }));
    }
    for (int i = 0; i < count; ++i) {
      REQUIRE(tasks[static_cast<std::size_t>(i)].result(10s) == i);
    }
    REQUIRE(most == 1);
  }
}

TEST_CASE("stress: nested chains of random depth on pools of 1 to 3 workers",
          "[waiting][stress][nested]") {
  std::mt19937 random(777);
  const int rounds = kSanitized ? 6 : 20;
  for (int round = 0; round < rounds; ++round) {
    confut::ThreadPoolExecutor ex(1 + static_cast<std::size_t>(round % 3));
    ChainPool pool(ex);
    std::vector<confut::Future<int>> chains;
    std::vector<int> depths;
    for (int c = 0; c < 3; ++c) {
      depths.push_back(static_cast<int>(random() % (kSanitized ? 300 : 1200)));
      chains.push_back(ex.submit(chain, depths.back()));
      std::this_thread::sleep_for(std::chrono::microseconds(random() % 500));
    }
    for (std::size_t c = 0; c < chains.size(); ++c) REQUIRE(chains[c].result(60s) == depths[c]);
  }
}

TEST_CASE("spare threads retire once the blocked threads are back", "[waiting]") {
  confut::ThreadPoolExecutor other(1);
  confut::ThreadPoolExecutor ex(1);
  REQUIRE(ex.submit(ident, 0).result(10s) == 0);  // every worker has started
  const std::size_t before = thread_count();
  Gate gate;
  auto held = other.submit(gate.returning(1));
  std::vector<confut::Future<int>> waiters;
  for (int i = 0; i < 4; ++i) waiters.push_back(ex.submit([held] { return held.result(); }));
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (ex.stats().running < 4 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(1ms);
  }
  REQUIRE(ex.stats().running == 4);  // the worker and three spare threads, all blocked
  REQUIRE(thread_count() >= before + 3);
  gate.open();
  for (auto& waiter : waiters) REQUIRE(waiter.result(10s) == 1);
  while (thread_count() > before && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
  }
  REQUIRE(thread_count() == before);
  REQUIRE(ex.submit(ident, 2).result(10s) == 2);
}
