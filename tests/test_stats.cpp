// ExecutorStats from ThreadPoolExecutor::stats(): counts by state, under load, under
// cancellation, and per-worker busy time.

#include <atomic>
#include <chrono>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include <confut/confut.hpp>

#include "test_support.hpp"

using confut_test::Gate;
using namespace std::chrono_literals;

namespace {

void spin_for(std::chrono::milliseconds how_long) {
  const auto end = std::chrono::steady_clock::now() + how_long;
  while (std::chrono::steady_clock::now() < end) {
  }
}

int fail_with(int x) { throw std::runtime_error("bad input " + std::to_string(x)); }

}  // namespace

TEST_CASE("stats of a new pool are all zero, with a row per worker") {
  confut::ThreadPoolExecutor ex(3);
  const confut::ExecutorStats stats = ex.stats();
  CHECK(stats.submitted == 0);
  CHECK(stats.done() == 0);
  CHECK(stats.queued == 0);
  CHECK(stats.running == 0);
  REQUIRE(stats.workers.size() == 3);
  CHECK(stats.workers[0].label == "confut-0");
  CHECK(stats.workers[2].label == "confut-2");
  CHECK(stats.executor.rfind("ThreadPoolExecutor ", 0) == 0);
  CHECK(stats.executor == ex.name());
}

TEST_CASE("stats count finished, failed and cancelled tasks once all are done") {
  confut::ThreadPoolExecutor ex(2);
  Gate gate;
  // Both workers block, so that the next tasks stay queued and can be cancelled.
  auto blocker1 = ex.submit(gate.returning(1));
  auto blocker2 = ex.submit(gate.returning(2));
  std::vector<confut::Future<int>> queued;
  for (int i = 0; i < 10; ++i) queued.push_back(ex.submit(confut_test::inc, i));
  int cancelled = 0;
  for (int i = 0; i < 10; i += 2) cancelled += queued[static_cast<std::size_t>(i)].cancel() ? 1 : 0;
  REQUIRE(cancelled == 5);
  auto failing = ex.submit(fail_with, 7);
  auto dependent = ex.submit(confut_test::inc, failing);  // fails without running
  gate.open();
  for (int i = 1; i < 10; i += 2) CHECK(queued[static_cast<std::size_t>(i)].result() == i + 1);
  CHECK_THROWS_AS(dependent.result(), std::runtime_error);
  CHECK(blocker1.result() + blocker2.result() == 3);
  ex.shutdown();

  const confut::ExecutorStats stats = ex.stats();
  CHECK(stats.submitted == 14);
  CHECK(stats.finished == 7);   // 2 blockers + 5 uncancelled
  CHECK(stats.failed == 2);     // fail_with, and its dependent
  CHECK(stats.cancelled == 5);
  CHECK(stats.queued == 0);
  CHECK(stats.running == 0);
  CHECK(stats.waiting == 0);
  std::uint64_t ran = 0;
  for (const auto& worker : stats.workers) ran += worker.tasks;
  CHECK(ran == 8);  // every task that ran: 7 finished and fail_with
}

TEST_CASE("stats under load show running, queued and waiting tasks") {
  confut::ThreadPoolExecutor ex(2);
  Gate gate;
  std::atomic<int> started{0};
  auto block = [&started, &gate] {
    started.fetch_add(1);
    gate.wait();
    return 1;
  };
  std::vector<confut::Future<int>> futures;
  for (int i = 0; i < 2; ++i) futures.push_back(ex.submit(block));
  while (started.load() < 2) std::this_thread::sleep_for(1ms);
  for (int i = 0; i < 6; ++i) futures.push_back(ex.submit(confut_test::ident, i));
  auto dependent = ex.submit(confut_test::add, futures[0], futures[1]);

  const confut::ExecutorStats during = ex.stats();
  CHECK(during.submitted == 9);
  CHECK(during.running == 2);
  CHECK(during.queued == 6);
  CHECK(during.waiting == 1);
  CHECK(during.done() == 0);

  gate.open();
  CHECK(dependent.result() == 2);
  for (auto& future : futures) future.wait();
  ex.shutdown();
  const confut::ExecutorStats after = ex.stats();
  CHECK(after.finished == 9);
  CHECK(after.queued + after.running + after.waiting == 0);
}

TEST_CASE("stats under random cancellation account for every task exactly once") {
  confut::ThreadPoolExecutor ex(2);
  std::mt19937 random(42);
  std::vector<confut::Future<int>> futures;
  constexpr int kTasks = 20000;
  for (int i = 0; i < kTasks; ++i) {
    futures.push_back(ex.submit(confut_test::inc, i));
    if (random() % 4 == 0) futures[random() % futures.size()].cancel();
  }
  std::uint64_t finished = 0;
  std::uint64_t cancelled_seen = 0;
  for (auto& future : futures) {
    future.wait();
    if (future.cancelled()) {
      ++cancelled_seen;
    } else {
      ++finished;
    }
  }
  ex.shutdown();
  const confut::ExecutorStats stats = ex.stats();
  CHECK(cancelled_seen > 0);
  CHECK(stats.submitted == kTasks);
  CHECK(stats.cancelled == cancelled_seen);
  CHECK(stats.finished == finished);
  CHECK(stats.failed == 0);
  CHECK(stats.done() == kTasks);
}

TEST_CASE("stats report per-worker busy time close to the time spent in tasks") {
  confut::ThreadPoolExecutor ex(2);
  std::vector<confut::Future<void>> futures;
  for (int i = 0; i < 8; ++i) futures.push_back(ex.submit(spin_for, 25ms));
  for (auto& future : futures) future.result();
  const confut::ExecutorStats busy = ex.stats();
  std::chrono::nanoseconds total{0};
  std::uint64_t tasks = 0;
  for (const auto& worker : busy.workers) {
    total += worker.busy;
    tasks += worker.tasks;
    CHECK(worker.busy <= busy.uptime);
  }
  CHECK(tasks == 8);
  CHECK(total >= 190ms);  // 8 x 25 ms of spinning, and a little scheduling
  CHECK(total <= busy.uptime * 2);

  // An idle pool accumulates (almost) no busy time.
  std::this_thread::sleep_for(150ms);
  const confut::ExecutorStats idle = ex.stats();
  std::chrono::nanoseconds total_after{0};
  for (const auto& worker : idle.workers) total_after += worker.busy;
  CHECK(total_after - total < 20ms);
  CHECK(idle.utilization() < busy.utilization());
}

TEST_CASE("stats print as a table naming the executor and its workers") {
  confut::ThreadPoolExecutor ex({.max_workers = 2, .thread_name_prefix = "calc"});
  ex.submit(confut_test::inc, 1).result();
  std::ostringstream out;
  out << ex.stats();
  const std::string text = out.str();
  CHECK(text.find(ex.name() + ": 1 submitted") != std::string::npos);
  CHECK(text.find("1 finished") != std::string::npos);
  CHECK(text.find("calc-0") != std::string::npos);
  CHECK(text.find("calc-1") != std::string::npos);
}

TEST_CASE("stats can be switched off, leaving only the submit count") {
  confut::ThreadPoolExecutor ex({.max_workers = 2, .statistics = false});
  for (int i = 0; i < 10; ++i) CHECK(ex.submit(confut_test::inc, i).result() == i + 1);
  const confut::ExecutorStats stats = ex.stats();
  CHECK(stats.submitted == 10);
  CHECK(stats.finished == 0);
  CHECK(stats.workers[0].busy.count() == 0);
}

TEST_CASE("executors get distinct names and future ids are unique across executors") {
  confut::ThreadPoolExecutor a(1);
  confut::ThreadPoolExecutor b(1);
  CHECK(a.name() != b.name());
  auto x = a.submit(confut_test::inc, 1);
  auto y = b.submit(confut_test::inc, 2);
  CHECK(x.id() != y.id());
  CHECK(x.result() + y.result() == 5);
}

#if defined(__linux__)
namespace stats_test {
int square(int x) { return x * x; }
int throw_for(int x) { throw std::invalid_argument("no " + std::to_string(x)); }
int crash(int) { std::abort(); }
int nap(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return ms;
}
}  // namespace stats_test

TEST_CASE("process pool stats count outcomes, crashes included, per worker") {
  confut::ProcessPoolExecutor ex(2);
  std::vector<confut::Future<int>> futures;
  for (int i = 0; i < 20; ++i) futures.push_back(ex.submit(stats_test::square, i));
  auto thrown = ex.submit(stats_test::throw_for, 1);
  auto crashed = ex.submit(stats_test::crash, 2);
  for (int i = 0; i < 20; ++i) CHECK(futures[static_cast<std::size_t>(i)].result() == i * i);
  CHECK_THROWS_AS(thrown.result(), std::invalid_argument);
  CHECK_THROWS_AS(crashed.result(), confut::WorkerDied);
  ex.shutdown();
  const confut::ExecutorStats stats = ex.stats();
  CHECK(stats.executor == ex.name());
  CHECK(stats.executor.rfind("ProcessPoolExecutor ", 0) == 0);
  CHECK(stats.submitted == 22);
  CHECK(stats.finished == 20);
  CHECK(stats.failed == 2);
  CHECK(stats.cancelled == 0);
  CHECK(stats.queued + stats.running + stats.waiting == 0);
  REQUIRE(stats.workers.size() == 2);
  std::uint64_t ran = 0;
  for (const auto& worker : stats.workers) {
    ran += worker.tasks;
    CHECK(worker.label.rfind("worker ", 0) == 0);
    CHECK(worker.label.find("(pid ") != std::string::npos);
  }
  CHECK(ran == 22);
}

TEST_CASE("process pool stats under load: running, queued, cancelled, busy time") {
  confut::ProcessPoolExecutor ex(2);
  ex.submit(stats_test::square, 1).result();
  REQUIRE(confut_test::wait_for_workers(ex, 2).size() == 2);  // both up before the naps are timed
  std::vector<confut::Future<int>> futures;
  for (int i = 0; i < 6; ++i) futures.push_back(ex.submit(stats_test::nap, 200));
  auto last = ex.submit(stats_test::nap, 1);
  CHECK(last.cancel());
  std::this_thread::sleep_for(100ms);
  const confut::ExecutorStats during = ex.stats();
  CHECK(during.submitted == 8);
  CHECK(during.running == 2);
  // 4 naps wait, sent ahead to a worker or still in the pool's queue. The cancelled task
  // counts as queued until the dispatcher reaches it, which depends on how many naps it
  // had sent ahead (that depends on how the submits met the dispatcher).
  CHECK(during.cancelled <= 1);
  CHECK(during.queued + during.cancelled == 5);
  CHECK(during.finished == 1);
  for (auto& future : futures) CHECK(future.result() == 200);
  ex.shutdown();
  const confut::ExecutorStats after = ex.stats();
  CHECK(after.finished == 7);
  CHECK(after.cancelled == 1);
  std::chrono::nanoseconds busy{0};
  for (const auto& worker : after.workers) busy += worker.busy;
  CHECK(busy >= 1100ms);  // 6 naps of 200 ms, less a little for timer slack
  CHECK(busy <= after.uptime * 2);
}
#endif
