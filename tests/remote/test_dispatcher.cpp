// The dispatcher (include/confut/detail/remote/dispatcher.hpp) over the loopback transport:
// threads act as workers through the same serve step as worker processes, so the
// dispatcher's logic is tested without forking: claims, take-back of stalled and sent-ahead
// tasks, rebalancing, requeue after a death, timeouts, start failures and shutdown races.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include <confut/confut.hpp>
#include <confut/detail/remote/dispatcher.hpp>

#include "test_support.hpp"
#include "loopback_transport.hpp"

using namespace std::chrono_literals;
using confut::testing::LoopbackTransport;

namespace {

/// An executor over Dispatcher<LoopbackTransport>, as ProcessPoolExecutor is over the process
/// transport.
class LoopbackExecutor final : public confut::detail::MapMethods<LoopbackExecutor> {
 public:
  explicit LoopbackExecutor(std::size_t workers, confut::detail::DispatcherSettings settings = {},
                            LoopbackTransport::Options options = {})
      : dispatcher_("LoopbackExecutor", workers, settings, options) {}

  template <class F, class... Args>
  auto submit(F&& fn, Args&&... args) {
    return dispatcher_.submit_call(std::string(), std::forward<F>(fn),
                                   std::forward<Args>(args)...);
  }
  template <class V, class F, class Arguments>
  auto submit_map_chunk(F fn, std::vector<Arguments> chunk) {
    return dispatcher_.template submit_chunk<V>(std::move(fn), std::move(chunk));
  }
  template <class T>
  bool terminate(const confut::Future<T>& future) {
    return dispatcher_.terminate(future);
  }
  void shutdown(bool wait = true, bool cancel_futures = false) {
    dispatcher_.shutdown(wait, cancel_futures);
  }
  confut::ExecutorStats stats() const { return dispatcher_.stats(); }
  LoopbackTransport& transport() { return dispatcher_.transport(); }

 private:
  confut::detail::Dispatcher<LoopbackTransport> dispatcher_;
};

static_assert(confut::Executor<LoopbackExecutor>);

// How often each input ran, for "ran exactly once" checks.
constexpr int kMaxInputs = 4096;
std::atomic<int> runs[kMaxInputs];
std::atomic<bool> gate_open{false};
std::atomic<int> at_gate{0};

void reset_runs() {
  for (auto& run : runs) run.store(0);
  gate_open.store(false);
  at_gate.store(0);
}

int counted_square(int x) {
  runs[x].fetch_add(1);
  return x * x;
}

/// Blocks (bounded: 10 s) until the test opens the gate.
int gated(int x) {
  runs[x].fetch_add(1);
  at_gate.fetch_add(1);
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!gate_open.load() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(1ms);
  }
  return x;
}

/// Squares; the element in the middle of a map waits (bounded: 5 s) for the gate, so that the
/// kill storm below is sure to hit the map while it runs.
int square_gated_midway(int x) {
  runs[x].fetch_add(1);
  if (x == 1500) {
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (!gate_open.load() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(1ms);
    }
  }
  return x * x;
}

int sleep_ms(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return ms;
}

int throws_on_odd(int x) {
  if (x % 2 != 0) throw std::runtime_error("odd " + std::to_string(x));
  return x;
}

struct OddInput {
  int value;
};
int throws_custom_on_odd(int x) {
  if (x % 2 != 0) throw OddInput{x};
  return x;
}

/// Waits (bounded) until `done()`.
template <class Done>
bool eventually(Done done, std::chrono::milliseconds limit = 5000ms) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

}  // namespace

TEST_CASE("loopback: submits and map give every value, each input run once") {
  reset_runs();
  LoopbackExecutor ex(2);
  std::vector<confut::Future<int>> futures;
  for (int i = 0; i < 500; ++i) futures.push_back(ex.submit(&counted_square, i));
  for (int i = 0; i < 500; ++i) REQUIRE(futures[i].result(5s) == i * i);
  std::vector<int> inputs;
  for (int i = 500; i < 1500; ++i) inputs.push_back(i);
  int expected = 500;
  for (int value : ex.map(&counted_square, inputs, {.chunksize = 64})) {
    REQUIRE(value == expected * expected);
    ++expected;
  }
  REQUIRE(expected == 1500);
  for (int i = 0; i < 1500; ++i) REQUIRE(runs[i].load() == 1);
  ex.shutdown();
  const confut::ExecutorStats stats = ex.stats();
  REQUIRE(stats.finished == 500 + (1000 + 63) / 64);
  REQUIRE(stats.failed == 0);
}

TEST_CASE("loopback: a task that throws fails only its own future, with the remote type") {
  LoopbackExecutor ex(2);
  auto even = ex.submit(&throws_on_odd, 4);
  auto odd = ex.submit(&throws_on_odd, 5);
  auto custom = ex.submit(&throws_custom_on_odd, 7);
  REQUIRE(even.result(5s) == 4);
  // A standard exception arrives as its own type, anything else as RemoteError naming it.
  REQUIRE_THROWS_WITH(odd.result(5s), "odd 5");
  REQUIRE_THROWS_AS(odd.result(5s), std::runtime_error);
  REQUIRE_THROWS_AS(custom.result(5s), confut::RemoteError);
  try {
    custom.result(5s);
  } catch (const confut::RemoteError& e) {
    REQUIRE(e.remote_type().find("OddInput") != std::string::npos);
  }
  REQUIRE(ex.submit(&throws_on_odd, 8).result(5s) == 8);
}

TEST_CASE("loopback: cancelling a task sent ahead to a paused worker cancels it, and it never runs") {
  reset_runs();
  LoopbackExecutor ex(1);
  ex.transport().pause(0);
  std::vector<confut::Future<int>> futures;
  for (int i = 0; i < 4; ++i) futures.push_back(ex.submit(&counted_square, i));
  // Sent ahead (the window is at least 2): still claimable, so cancel() wins.
  REQUIRE(eventually([&] { return ex.stats().queued + ex.stats().running >= 2; }));
  REQUIRE(futures[1].cancel());
  ex.transport().resume(0);
  REQUIRE(futures[0].result(5s) == 0);
  REQUIRE(futures[2].result(5s) == 4);
  REQUIRE(futures[3].result(5s) == 9);
  REQUIRE(futures[1].cancelled());
  REQUIRE(runs[1].load() == 0);
  ex.shutdown();
  REQUIRE(ex.stats().cancelled == 1);
}

TEST_CASE("loopback: a stalled worker's unstarted tasks move to a free worker, each run once") {
  reset_runs();
  LoopbackExecutor ex(2);
  // Both ready first, so that tasks are spread over both.
  REQUIRE(ex.submit(&counted_square, 100).result(5s) == 10000);
  REQUIRE(ex.submit(&counted_square, 101).result(5s) == 10201);
  ex.transport().pause(0);
  std::vector<confut::Future<int>> futures;
  for (int i = 0; i < 40; ++i) futures.push_back(ex.submit(&counted_square, i));
  // Worker 0 starts none of its share; after the stall time (250 ms) another takes them.
  for (int i = 0; i < 40; ++i) REQUIRE(futures[i].result(5s) == i * i);
  for (int i = 0; i < 40; ++i) REQUIRE(runs[i].load() == 1);
  ex.transport().resume(0);
  REQUIRE(ex.submit(&counted_square, 102).result(5s) == 102 * 102);
}

TEST_CASE("loopback: a worker killed while running fails only its head, the rest are requeued") {
  reset_runs();
  LoopbackExecutor ex(1);
  std::vector<confut::Future<int>> futures;
  futures.push_back(ex.submit(&gated, 0));
  for (int i = 1; i < 8; ++i) futures.push_back(ex.submit(&counted_square, i));
  REQUIRE(eventually([] { return at_gate.load() == 1; }));
  REQUIRE(ex.transport().kill(0));
  try {
    futures[0].result(5s);
    FAIL("the head should fail");
  } catch (const confut::WorkerDied& e) {
    REQUIRE(e.signal() == SIGKILL);
    REQUIRE(std::string(e.what()).find("killed by signal 9 (SIGKILL)") != std::string::npos);
  }
  for (int i = 1; i < 8; ++i) REQUIRE(futures[i].result(5s) == i * i);
  for (int i = 1; i < 8; ++i) REQUIRE(runs[i].load() == 1);
  REQUIRE(ex.transport().starts() == 2);  // the replacement
  gate_open.store(true);                  // the abandoned call may end now
}

TEST_CASE("loopback: a worker killed before it took its head is not blamed, the head is re-sent") {
  reset_runs();
  LoopbackExecutor ex(1);
  REQUIRE(ex.submit(&counted_square, 50).result(5s) == 2500);
  ex.transport().pause(0);
  auto future = ex.submit(&counted_square, 7);
  REQUIRE(eventually([&] { return ex.stats().queued + ex.stats().running >= 1; }));
  REQUIRE(ex.transport().kill(0));
  REQUIRE(future.result(5s) == 49);
  REQUIRE(runs[7].load() == 1);
}

TEST_CASE("loopback: a killed worker during start is replaced, 64 in a row break the executor") {
  LoopbackExecutor ex(1);
  // Kill it before its "ready" arrives, a few times: replaced each time.
  for (int round = 0; round < 3; ++round) {
    const std::size_t starts = ex.transport().starts();
    (void)ex.transport().kill(0);
    REQUIRE(eventually([&] { return ex.transport().starts() > starts; }));
  }
  REQUIRE(ex.submit(&counted_square, 3).result(5s) == 9);
}

TEST_CASE("loopback: a start that fails breaks the executor with its reason") {
  LoopbackExecutor ex(1);
  REQUIRE(ex.submit(&counted_square, 3).result(5s) == 9);
  ex.transport().fail_next_start();
  REQUIRE(ex.transport().kill(0));
  REQUIRE(eventually([&] {
    try {
      (void)ex.submit(&counted_square, 4);
      return false;
    } catch (const confut::BrokenExecutor& e) {
      return std::string(e.what()).find("told to fail this start") != std::string::npos;
    }
  }));
}

TEST_CASE("loopback: task_timeout fails the call that runs past it, per call of a map chunk") {
  confut::detail::DispatcherSettings settings;
  settings.task_timeout = 300ms;
  LoopbackExecutor ex(1, settings, {.time_calls = true});
  auto slow = ex.submit(&sleep_ms, 3000);
  auto after = ex.submit(&sleep_ms, 1);
  REQUIRE_THROWS_AS(slow.result(5s), confut::TimeoutError);
  REQUIRE(after.result(5s) == 1);
  // Twenty calls of 50 ms in one chunk: 1 s in all, each well under the timeout.
  std::vector<int> inputs(20, 50);
  int count = 0;
  for (int value : ex.map(&sleep_ms, inputs, {.chunksize = 20})) {
    REQUIRE(value == 50);
    ++count;
  }
  REQUIRE(count == 20);
}

TEST_CASE("loopback: terminate() of a running task kills its worker and cancels its future") {
  reset_runs();
  LoopbackExecutor ex(1);
  auto running = ex.submit(&gated, 0);
  REQUIRE(eventually([] { return at_gate.load() == 1; }));
  REQUIRE(ex.terminate(running));
  REQUIRE(running.cancelled());
  REQUIRE(ex.submit(&counted_square, 5).result(5s) == 25);
  gate_open.store(true);
}

TEST_CASE("loopback: long tasks sent ahead are rebalanced to an idle worker") {
  reset_runs();
  LoopbackExecutor ex(2);
  REQUIRE(ex.submit(&counted_square, 1).result(5s) == 1);
  REQUIRE(ex.submit(&counted_square, 2).result(5s) == 4);
  std::vector<confut::Future<int>> futures;
  for (int i = 0; i < 24; ++i) futures.push_back(ex.submit(&sleep_ms, 10));
  for (auto& future : futures) REQUIRE(future.result(10s) == 10);
  const confut::ExecutorStats stats = ex.stats();
  REQUIRE(stats.workers.size() == 2);
  REQUIRE(stats.workers[0].tasks > 1);
  REQUIRE(stats.workers[1].tasks > 1);
  REQUIRE(stats.workers[0].label == "loopback 0");
}

TEST_CASE("loopback stress: submits racing shutdown, every future completes") {
  const int rounds = confut_test::kSanitized ? 20 : 100;
  for (int round = 0; round < rounds; ++round) {
    auto ex = std::make_unique<LoopbackExecutor>(2);
    std::vector<confut::Future<int>> futures[2];
    std::thread submitters[2];
    for (int t = 0; t < 2; ++t) {
      submitters[t] = std::thread([&, t] {
        for (int i = 0; i < 50; ++i) {
          try {
            futures[t].push_back(ex->submit(&counted_square, i));
          } catch (const confut::ExecutorShutdownError&) {
            return;
          }
        }
      });
    }
    ex->shutdown(true, round % 2 == 0);
    for (auto& thread : submitters) thread.join();
    for (auto& list : futures) {
      for (std::size_t i = 0; i < list.size(); ++i) {
        REQUIRE(list[i].done());
        if (!list[i].cancelled()) REQUIRE(list[i].result(1s) == static_cast<int>(i * i));
      }
    }
  }
}

TEST_CASE("loopback stress: random kills during a map of 3000 elements, each value at its place") {
  reset_runs();
  LoopbackExecutor ex(3);
  std::vector<int> inputs;
  for (int i = 0; i < 3000; ++i) inputs.push_back(i);
  std::atomic<bool> stop{false};
  std::thread killer([&] {
    std::uint32_t seed = 12345;
    while (!stop.load()) {
      seed = seed * 1103515245 + 12345;
      if (ex.transport().kill(seed % 3)) gate_open.store(true);
      std::this_thread::sleep_for(std::chrono::milliseconds(1 + seed % 5));
    }
  });
  int index = 0;
  int died = 0;
  auto results = ex.map(&square_gated_midway, inputs, {.chunksize = 16});
  for (auto it = results.begin(); it != results.end(); ++it, ++index) {
    try {
      REQUIRE(*it == index * index);
    } catch (const confut::WorkerDied&) {
      ++died;
    }
  }
  stop.store(true);
  killer.join();
  REQUIRE(index == 3000);
  REQUIRE(ex.transport().kills() >= 1);
  INFO("elements failed by a kill: " << died);
  for (int i = 0; i < 3000; ++i) REQUIRE(runs[i].load() <= 1);
}
