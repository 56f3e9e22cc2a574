// confut::wait: ALL_COMPLETED, FIRST_COMPLETED, FIRST_EXCEPTION, and timeouts.

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>
#include <vector>

#include <confut/confut.hpp>

#include "test_support.hpp"

using namespace confut_test;

TEST_CASE("wait(ALL_COMPLETED) returns when every future is done", "[wait]") {
  confut::ThreadPoolExecutor ex(2);
  std::vector<confut::Future<int>> futures;
  for (int i = 0; i < 50; ++i) futures.push_back(ex.submit(ident, i));
  auto result = confut::wait(futures);
  REQUIRE(result.done.size() == 50);
  REQUIRE(result.not_done.empty());
  for (std::size_t i = 0; i < result.done.size(); ++i) {
    REQUIRE(result.done[i].done());
    REQUIRE(result.done[i].result() == static_cast<int>(i));  // input order is kept
  }
}

TEST_CASE("wait(FIRST_COMPLETED) returns as soon as one future is done", "[wait]") {
  confut::ThreadPoolExecutor ex(3);
  Gate gate;
  std::vector<confut::Future<int>> futures{ex.submit(gate.returning(1)), ex.submit(gate.returning(2)),
                                           ex.submit(ident, 3)};
  auto [done, not_done] = confut::wait(futures, confut::FIRST_COMPLETED);
  REQUIRE(done.size() == 1);
  REQUIRE(done[0].result() == 3);
  REQUIRE(not_done.size() == 2);
  gate.open();
}

TEST_CASE("wait(FIRST_COMPLETED) returns at once when one is already done", "[wait]") {
  confut::ThreadPoolExecutor ex(2);
  Gate gate;
  auto quick = ex.submit(ident, 1);
  quick.wait();
  std::vector<confut::Future<int>> futures{ex.submit(gate.returning(0)), quick};
  auto result = confut::wait(futures, confut::FIRST_COMPLETED);
  REQUIRE(result.done.size() == 1);
  REQUIRE(result.done[0] == quick);
  gate.open();
}

TEST_CASE("wait(FIRST_EXCEPTION) returns at the first failure", "[wait]") {
  confut::ThreadPoolExecutor ex(3);
  Gate gate;
  std::vector<confut::Future<int>> futures{
      ex.submit(gate.returning(1)), ex.submit([]() -> int { throw std::runtime_error("x"); }),
      ex.submit(ident, 3)};
  futures[2].wait();  // else it may still be running when the failure wakes the wait
  auto result = confut::wait(futures, confut::FIRST_EXCEPTION);
  REQUIRE(result.not_done.size() == 1);
  REQUIRE(result.not_done[0] == futures[0]);
  bool saw_failure = false;
  for (auto& f : result.done) saw_failure = saw_failure || f.exception() != nullptr;
  REQUIRE(saw_failure);
  gate.open();
}

TEST_CASE("wait(FIRST_EXCEPTION) without failures waits for all", "[wait]") {
  confut::ThreadPoolExecutor ex(2);
  std::vector<confut::Future<int>> futures;
  for (int i = 0; i < 20; ++i) futures.push_back(ex.submit(ident, i));
  auto result = confut::wait(futures, confut::FIRST_EXCEPTION);
  REQUIRE(result.done.size() == 20);
  REQUIRE(result.not_done.empty());
}

TEST_CASE("a cancelled future counts as completed", "[wait]") {
  confut::ThreadPoolExecutor ex(1);
  Gate gate;
  auto blocker = ex.submit(gate.returning(0));
  auto victim = ex.submit(ident, 1);
  REQUIRE(victim.cancel());
  auto result = confut::wait(std::vector{blocker, victim}, confut::FIRST_COMPLETED);
  REQUIRE(result.done.size() == 1);
  REQUIRE(result.done[0] == victim);
  gate.open();
}

TEST_CASE("wait with a timeout returns the partition instead of throwing", "[wait][timeout]") {
  confut::ThreadPoolExecutor ex(2);
  Gate gate;
  std::vector<confut::Future<int>> futures{ex.submit(gate.returning(1)), ex.submit(ident, 2)};
  futures[1].wait();
  for (auto when : {confut::ALL_COMPLETED, confut::FIRST_EXCEPTION}) {
    auto result = confut::wait(futures, when, 30ms);
    REQUIRE(result.done.size() == 1);
    REQUIRE(result.done[0] == futures[1]);
    REQUIRE(result.not_done.size() == 1);
  }
  auto plain = confut::wait(futures, 20ms);
  REQUIRE(plain.not_done.size() == 1);
  std::vector<confut::Future<int>> gated{futures[0]};
  auto none = confut::wait(gated, confut::FIRST_COMPLETED, 20ms);
  REQUIRE(none.done.empty());
  REQUIRE(none.not_done.size() == 1);
  gate.open();
  REQUIRE(confut::wait(futures, 10s).not_done.empty());
}

TEST_CASE("wait accepts a braced list of futures", "[wait]") {
  confut::ThreadPoolExecutor ex(2);
  auto a = ex.submit(ident, 1);
  auto b = ex.submit(ident, 2);
  auto result = confut::wait({a, b});
  REQUIRE(result.done.size() == 2);
}

TEST_CASE("a task on a one-worker pool can wait on tasks it submitted", "[wait][nested]") {
  confut::ThreadPoolExecutor ex(1);
  auto outer = ex.submit([&ex] {
    std::vector<confut::Future<int>> inner;
    for (int i = 0; i < 10; ++i) inner.push_back(ex.submit(ident, i));
    auto first = confut::wait(inner, confut::FIRST_COMPLETED);
    auto all = confut::wait(inner);
    return static_cast<int>(all.done.size() + (first.done.empty() ? 100 : 0));
  });
  REQUIRE(outer.result(10s) == 10);
}

// Futures that finish while wait() looks at them: a completion between its first look and
// its registration must still be counted (this once hung FIRST_EXCEPTION).
TEST_CASE("wait returns in every mode while the futures finish during the call", "[wait][stress]") {
  confut::ThreadPoolExecutor ex(2);
  for (int round = 0; round < 3000; ++round) {
    std::vector<confut::Future<int>> futures;
    for (int i = 0; i < 4; ++i) futures.push_back(ex.submit(confut_test::inc, i));
    const auto mode = round % 3 == 0   ? confut::ALL_COMPLETED
                      : round % 3 == 1 ? confut::FIRST_EXCEPTION
                                       : confut::FIRST_COMPLETED;
    auto [done, not_done] = confut::wait(futures, mode, std::chrono::seconds(30));
    if (mode == confut::FIRST_COMPLETED) {
      REQUIRE(!done.empty());
    } else {
      REQUIRE(done.size() == 4);  // no failures: both modes wait for all
      REQUIRE(not_done.empty());
    }
  }
}

TEST_CASE("wait(ALL_COMPLETED) outside the pool returns only once all are done", "[wait]") {
  confut::ThreadPoolExecutor ex(2);
  std::atomic<int> finished{0};
  std::vector<confut::Future<int>> futures;
  for (int i = 0; i < 200; ++i) {
    futures.push_back(ex.submit([&finished, i] {
      std::this_thread::sleep_for(std::chrono::microseconds(200));
      finished.fetch_add(1);
      return i;
    }));
  }
  auto [done, not_done] = confut::wait(futures);
  CHECK(done.size() == 200);
  CHECK(not_done.empty());
  CHECK(finished.load() == 200);
  for (int i = 0; i < 200; ++i) CHECK(futures[static_cast<std::size_t>(i)].result() == i);
}
