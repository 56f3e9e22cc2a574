// Futures as arguments: values replace futures when the task runs; the task waits on no
// thread; errors and cancellation flow down the chain without running dependents.

#include <catch2/catch.hpp>

#include <array>
#include <atomic>
#include <numeric>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <confut/confut.hpp>

#include "test_support.hpp"

using namespace confut_test;

namespace {
struct ChainError : std::runtime_error {
  ChainError() : std::runtime_error("broken link") {}
};
int sum_vector(const std::vector<int>& values) {
  return std::accumulate(values.begin(), values.end(), 0);
}
}  // namespace

TEST_CASE("a future argument is replaced by its value (W3)", "[dependencies]") {
  confut::ThreadPoolExecutor ex(2);
  std::vector<confut::Future<int>> zs;
  for (int i = 0; i < 256; ++i) {
    auto x = ex.submit(inc, i);
    auto y = ex.submit(dbl, x);
    zs.push_back(ex.submit(add, x, y));
  }
  while (zs.size() > 1) {
    std::vector<confut::Future<int>> next;
    for (std::size_t i = 0; i + 1 < zs.size(); i += 2) next.push_back(ex.submit(add, zs[i], zs[i + 1]));
    zs = std::move(next);
  }
  REQUIRE(zs[0].result() == 98688);
}

TEST_CASE("futures mix with plain arguments", "[dependencies]") {
  confut::ThreadPoolExecutor ex(2);
  auto x = ex.submit(ident, 40);
  REQUIRE(ex.submit(add, x, 2).result() == 42);
  REQUIRE(ex.submit(add, 2, x).result() == 42);
  auto text = ex.submit([] { return std::string("ab"); });
  auto joined = ex.submit([](const std::string& a, int n) { return a + std::to_string(n); }, text, x);
  REQUIRE(joined.result() == "ab40");
}

TEST_CASE("a vector of futures becomes a vector of values (Dask's submit(sum, zs))",
          "[dependencies]") {
  confut::ThreadPoolExecutor ex(2);
  std::vector<confut::Future<int>> parts;
  for (int i = 0; i < 100; ++i) parts.push_back(ex.submit(ident, i));
  REQUIRE(ex.submit(sum_vector, parts).result() == 4950);
  std::vector<confut::Future<int>> none;
  REQUIRE(ex.submit(sum_vector, none).result() == 0);
}

TEST_CASE("arrays, tuples and nested containers of futures are unwrapped", "[dependencies]") {
  confut::ThreadPoolExecutor ex(2);
  std::array<confut::Future<int>, 3> trio{ex.submit(ident, 1), ex.submit(ident, 2),
                                          ex.submit(ident, 3)};
  auto product = ex.submit([](std::array<int, 3> v) { return v[0] * v[1] * v[2]; }, trio);
  REQUIRE(product.result() == 6);

  auto name = ex.submit([] { return std::string("n"); });
  auto mixed = ex.submit(
      [](std::tuple<std::string, int, double> t) {
        return std::get<0>(t) + std::to_string(std::get<1>(t) + static_cast<int>(std::get<2>(t)));
      },
      std::make_tuple(name, ex.submit(ident, 5), 2.0));
  REQUIRE(mixed.result() == "n7");

  std::vector<std::vector<confut::Future<int>>> grid(3);
  for (int r = 0; r < 3; ++r) {
    for (int c = 0; c < 3; ++c) grid[r].push_back(ex.submit(ident, r * 3 + c));
  }
  auto total = ex.submit(
      [](const std::vector<std::vector<int>>& rows) {
        int t = 0;
        for (const auto& row : rows) t += sum_vector(row);
        return t;
      },
      grid);
  REQUIRE(total.result() == 36);
}

TEST_CASE("an error flows down a chain as the same exception, without running dependents",
          "[dependencies][errors]") {
  confut::ThreadPoolExecutor ex(2);
  std::atomic<int> dependents_ran{0};
  auto counting_inc = [&dependents_ran](int x) {
    dependents_ran.fetch_add(1);
    return x + 1;
  };
  auto root = ex.submit([]() -> int { throw ChainError(); });
  auto middle = ex.submit(counting_inc, root);
  auto leaf = ex.submit(counting_inc, middle);
  auto joined = ex.submit(add, ex.submit(ident, 1), leaf);
  REQUIRE_THROWS_AS(leaf.result(), ChainError);
  REQUIRE_THROWS_AS(joined.result(), ChainError);
  REQUIRE(dependents_ran.load() == 0);
  REQUIRE(middle.status() == confut::FutureStatus::error);

  // The very same exception object travels down the chain.
  const void* at_root = nullptr;
  const void* at_leaf = nullptr;
  try {
    std::rethrow_exception(root.exception());
  } catch (const ChainError& e) {
    at_root = &e;
  }
  try {
    std::rethrow_exception(leaf.exception());
  } catch (const ChainError& e) {
    at_leaf = &e;
  }
  REQUIRE(at_root == at_leaf);
}

TEST_CASE("an error in one element of a vector argument fails the dependent",
          "[dependencies][errors]") {
  confut::ThreadPoolExecutor ex(2);
  std::vector<confut::Future<int>> parts{ex.submit(ident, 1),
                                         ex.submit([]() -> int { throw ChainError(); }),
                                         ex.submit(ident, 3)};
  REQUIRE_THROWS_AS(ex.submit(sum_vector, parts).result(), ChainError);
}

TEST_CASE("a cancelled input fails its dependents with CancelledError",
          "[dependencies][cancel]") {
  confut::ThreadPoolExecutor ex(1);
  Gate gate;
  auto blocker = ex.submit(gate.returning(0));
  auto input = ex.submit(ident, 1);
  std::atomic<int> ran{0};
  auto dependent = ex.submit(
      [&ran](int x) {
        ran.fetch_add(1);
        return x;
      },
      input);
  REQUIRE(input.cancel());
  REQUIRE_THROWS_AS(dependent.result(), confut::CancelledError);
  gate.open();
  REQUIRE(blocker.result() == 0);
  REQUIRE(ran.load() == 0);
}

TEST_CASE("a waiting dependent can be cancelled itself", "[dependencies][cancel]") {
  confut::ThreadPoolExecutor ex(2);
  Gate gate;
  auto input = ex.submit(gate.returning(5));
  std::atomic<int> ran{0};
  auto dependent = ex.submit(
      [&ran](int x) {
        ran.fetch_add(1);
        return x;
      },
      input);
  REQUIRE(dependent.status() == confut::FutureStatus::pending);
  REQUIRE(dependent.cancel());
  gate.open();
  REQUIRE(input.result() == 5);
  REQUIRE_THROWS_AS(dependent.result(), confut::CancelledError);
  ex.shutdown();
  REQUIRE(ran.load() == 0);
}

TEST_CASE("a dependent waits in no worker: other tasks run meanwhile", "[dependencies]") {
  confut::ThreadPoolExecutor producer(1);
  confut::ThreadPoolExecutor consumer(1);  // one worker: blocking it would stall everything
  Gate gate;
  auto slow = producer.submit(gate.returning(10));
  auto dependent = consumer.submit(inc, slow);  // inputs from another executor
  auto independent = consumer.submit(ident, 7);
  REQUIRE(independent.result(5s) == 7);
  REQUIRE_FALSE(dependent.done());
  gate.open();
  REQUIRE(dependent.result(5s) == 11);
}

TEST_CASE("an empty future as an argument is rejected at submit", "[dependencies]") {
  confut::ThreadPoolExecutor ex(1);
  confut::Future<int> empty;
  REQUIRE_THROWS_AS(ex.submit(inc, empty), confut::InvalidStateError);
  std::vector<confut::Future<int>> with_empty{ex.submit(ident, 1), confut::Future<int>()};
  REQUIRE_THROWS_AS(ex.submit(sum_vector, with_empty), confut::InvalidStateError);
  REQUIRE(ex.submit(ident, 2).result() == 2);  // the pool is unharmed
  REQUIRE(ex.stats().waiting == 0);             // and counts no task as waiting
}

TEST_CASE("a task with more inputs than fit in the task itself waits for the last of them",
          "[dependencies]") {
  confut::ThreadPoolExecutor producer(5);
  confut::ThreadPoolExecutor consumer(1);
  std::array<Gate, 5> gates;
  std::vector<confut::Future<int>> inputs;
  for (int i = 0; i < 5; ++i) inputs.push_back(producer.submit(gates[i].returning(i + 1)));
  auto total = consumer.submit(sum_vector, inputs);       // five inputs
  auto pair = consumer.submit(add, inputs[3], inputs[4]);  // two
  for (int i = 0; i < 4; ++i) {
    gates[i].open();
    REQUIRE(inputs[i].result(5s) == i + 1);
  }
  REQUIRE(consumer.submit(ident, 0).result(5s) == 0);  // anything ready has had its turn
  REQUIRE_FALSE(total.done());
  REQUIRE_FALSE(pair.done());
  REQUIRE(consumer.stats().waiting == 2);
  gates[4].open();
  REQUIRE(total.result(5s) == 15);
  REQUIRE(pair.result(5s) == 9);
  // The thread that queued them uncounts them just after the push: give it a moment.
  for (int i = 0; i < 5000 && consumer.stats().waiting != 0; ++i) std::this_thread::sleep_for(1ms);
  REQUIRE(consumer.stats().waiting == 0);
}

TEST_CASE("long chains finish and release what they no longer need", "[dependencies]") {
  confut::ThreadPoolExecutor ex(2);
  auto f = ex.submit(ident, 0);
  for (int i = 0; i < 10000; ++i) f = ex.submit(inc, f);
  REQUIRE(f.result() == 10000);

  auto big = ex.submit([] { return std::make_shared<std::vector<int>>(1000, 1); });
  std::weak_ptr<std::vector<int>> watch = big.result();
  auto size = ex.submit([](const std::shared_ptr<std::vector<int>>& v) { return v->size(); }, big);
  big = confut::Future<std::shared_ptr<std::vector<int>>>();
  REQUIRE(size.result() == 1000);
  ex.shutdown();
  REQUIRE(watch.expired());  // the dependent did not keep its input alive after running
}
