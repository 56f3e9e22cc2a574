// confut::as_completed: completion order, add() while iterating, count(), timeouts.

#include <catch2/catch.hpp>

#include <memory>
#include <vector>

#include <confut/confut.hpp>

#include "test_support.hpp"

using namespace confut_test;

TEST_CASE("futures come out in completion order, done ones first", "[as_completed]") {
  confut::ThreadPoolExecutor ex(3);
  Gate gate_a, gate_b;
  auto already = ex.submit(ident, 0);
  already.wait();
  auto a = ex.submit(gate_a.returning(1));
  auto b = ex.submit(gate_b.returning(2));
  std::vector<confut::Future<int>> futures{a, b, already};

  auto seq = confut::as_completed(futures);
  REQUIRE(seq.count() == 3);
  REQUIRE(seq.next() == already);
  gate_b.open();
  REQUIRE(seq.next().result() == 2);
  gate_a.open();
  REQUIRE(seq.next().result() == 1);
  REQUIRE(seq.count() == 0);
  REQUIRE_FALSE(seq.next().valid());  // exhausted
}

TEST_CASE("range-for yields every future exactly once", "[as_completed]") {
  confut::ThreadPoolExecutor ex(2);
  std::vector<confut::Future<int>> futures;
  for (int i = 0; i < 200; ++i) futures.push_back(ex.submit(ident, i));
  std::vector<int> seen(200, 0);
  for (confut::Future<int> f : confut::as_completed(futures)) {
    REQUIRE(f.done());
    seen[static_cast<std::size_t>(f.result())]++;
  }
  REQUIRE(seen == std::vector<int>(200, 1));
}

TEST_CASE("add() during iteration: Dask's dynamic tree reduction (W3d)", "[as_completed]") {
  confut::ThreadPoolExecutor ex(2);
  std::vector<confut::Future<int>> zs;
  for (int i = 0; i < 256; ++i) {
    auto x = ex.submit(inc, i);
    auto y = ex.submit(dbl, x);
    zs.push_back(ex.submit(add, x, y));
  }
  std::vector<confut::Future<int>> zs2;
  for (auto& z : zs) zs2.push_back(ex.submit(inc, z));
  auto seq = confut::as_completed(zs2);
  while (seq.count() > 1) {
    auto a = seq.next();
    auto b = seq.next();
    seq.add(ex.submit(add, a, b));
  }
  REQUIRE(seq.next().result() == 98944);
  REQUIRE(seq.count() == 0);
}

TEST_CASE("add() inside a range-for loop extends the iteration", "[as_completed]") {
  confut::ThreadPoolExecutor ex(2);
  std::vector<confut::Future<int>> start{ex.submit(ident, 3)};
  auto seq = confut::as_completed(start);
  int yielded = 0;
  for (auto f : seq) {
    ++yielded;
    if (int n = f.result(); n > 0) seq.add(ex.submit(ident, n - 1));
  }
  REQUIRE(yielded == 4);  // 3, 2, 1, 0
}

TEST_CASE("as_completed with a timeout throws TimeoutError", "[as_completed][timeout]") {
  confut::ThreadPoolExecutor ex(2);
  Gate gate;
  std::vector<confut::Future<int>> futures{ex.submit(ident, 1), ex.submit(gate.returning(2))};
  auto seq = confut::as_completed(futures, 50ms);
  REQUIRE(seq.next().result() == 1);
  REQUIRE_THROWS_AS(seq.next(), confut::TimeoutError);
  gate.open();
}

TEST_CASE("a yielded future is released by as_completed", "[as_completed]") {
  confut::ThreadPoolExecutor ex(1);
  std::weak_ptr<int> watch;
  {
    std::vector<confut::Future<std::shared_ptr<int>>> futures{
        ex.submit([] { return std::make_shared<int>(5); })};
    auto seq = confut::as_completed(futures);
    futures.clear();
    {
      auto f = seq.next();
      watch = f.result();
      REQUIRE_FALSE(watch.expired());
    }
    ex.shutdown();           // the worker has dropped its reference too
    REQUIRE(watch.expired());  // while `seq` is still alive
  }
}

TEST_CASE("as_completed works inside a task on a one-worker pool", "[as_completed][nested]") {
  confut::ThreadPoolExecutor ex(1);
  auto outer = ex.submit([&ex] {
    std::vector<confut::Future<int>> inner;
    for (int i = 1; i <= 10; ++i) inner.push_back(ex.submit(ident, i));
    int total = 0;
    for (auto f : confut::as_completed(inner)) total += f.result();
    return total;
  });
  REQUIRE(outer.result(10s) == 55);
}

TEST_CASE("futures from two executors can be mixed", "[as_completed]") {
  confut::ThreadPoolExecutor a(1), b(1);
  std::vector<confut::Future<int>> futures{a.submit(ident, 1), b.submit(ident, 2)};
  int total = 0;
  for (auto f : confut::as_completed(futures)) total += f.result();
  REQUIRE(total == 3);
}

TEST_CASE("as_completed that throws for an empty future frees what it holds",
          "[as_completed]") {
  confut::ThreadPoolExecutor ex(1);
  auto alive = std::make_shared<int>(1);
  const std::weak_ptr<int> watch = alive;
  {
    auto done = ex.submit([](std::shared_ptr<int> p) { return p; }, std::move(alive));
    done.wait();
    // The done future is taken in before the empty one throws; the sequence must let go of
    // it (before, its internal block leaked, and the task's value with it).
    REQUIRE_THROWS_AS(confut::as_completed(std::vector{done, confut::Future<std::shared_ptr<int>>{}}),
                      confut::InvalidStateError);
    REQUIRE_THROWS_AS(confut::as_completed({done, confut::Future<std::shared_ptr<int>>{}}),
                      confut::InvalidStateError);
  }
  // The worker lets go of its reference soon after the task ends.
  for (int i = 0; i < 5000 && !watch.expired(); ++i) std::this_thread::sleep_for(1ms);
  REQUIRE(watch.expired());
}
