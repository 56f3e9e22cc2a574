// Executor::map: input order, lazy results, per-element errors, timeout, early destruction,
// chunksize and buffersize.

#include <catch2/catch.hpp>

#include <atomic>
#include <cstdint>
#include <iterator>
#include <list>
#include <stdexcept>
#include <thread>
#include <vector>

#include <confut/confut.hpp>

#include "test_support.hpp"

using namespace confut_test;

namespace {
/// 0, 1, 2, ... without end: an input that only works with a buffersize.
struct Naturals {
  struct iterator {
    using value_type = int;
    using difference_type = std::ptrdiff_t;
    int operator*() const { return value; }
    iterator& operator++() {
      ++value;
      return *this;
    }
    void operator++(int) { ++value; }
    friend bool operator==(const iterator&, std::default_sentinel_t) { return false; }
    int value = 0;
  };
  iterator begin() const { return {}; }
  std::default_sentinel_t end() const { return {}; }
};

int square(int x) { return x * x; }
int fail_on_two(int x) {
  if (x == 2) throw std::domain_error("two");
  return x;
}
}  // namespace

TEST_CASE("map yields results in input order", "[map]") {
  confut::ThreadPoolExecutor ex(3);
  std::vector<int> inputs{5, 1, 4, 0, 3};
  std::vector<int> out;
  for (int r : ex.map(
           [](int delay_ms) {
             std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms * 4));
             return delay_ms;
           },
           inputs)) {
    out.push_back(r);
  }
  REQUIRE(out == inputs);
}

TEST_CASE("map zips several inputs and stops at the shortest", "[map]") {
  confut::ThreadPoolExecutor ex(2);
  std::vector<int> a{1, 2, 3, 4};
  std::list<int> b{10, 20, 30};
  std::vector<int> out;
  for (int r : ex.map(add, a, b)) out.push_back(r);
  REQUIRE(out == std::vector<int>{11, 22, 33});
  std::vector<int> c{100, 200};
  out.clear();
  for (int r : ex.map([](int x, int y, int z) { return x + y + z; }, a, b, c)) out.push_back(r);
  REQUIRE(out == std::vector<int>{111, 222});
}

TEST_CASE("map accepts a temporary input and void functions", "[map]") {
  confut::ThreadPoolExecutor ex(2);
  int total = 0;
  for (int r : ex.map(square, std::vector<int>{1, 2, 3})) total += r;
  REQUIRE(total == 14);
  std::atomic<int> calls{0};
  int yielded = 0;
  for (auto unit : ex.map([&calls](int) { calls.fetch_add(1); }, std::vector<int>{1, 2, 3})) {
    (void)unit;
    ++yielded;
  }
  REQUIRE(yielded == 3);
  REQUIRE(calls.load() == 3);
}

TEST_CASE("an element's exception is thrown when that element is reached", "[map][errors]") {
  confut::ThreadPoolExecutor ex(2);
  for (std::size_t chunksize : {1u, 2u, 5u}) {
    CAPTURE(chunksize);
    auto results = ex.map(fail_on_two, std::vector<int>{0, 1, 2, 3, 4}, {.chunksize = chunksize});
    auto it = results.begin();
    REQUIRE(*it == 0);
    ++it;
    REQUIRE(*it == 1);
    ++it;
    REQUIRE_THROWS_AS(*it, std::domain_error);
    ++it;  // iteration can go on past a failed element
    REQUIRE(*it == 3);
    ++it;
    REQUIRE(*it == 4);
    ++it;
    REQUIRE(it == results.end());
  }
}

TEST_CASE("map's timeout is a deadline from the call", "[map][timeout]") {
  confut::ThreadPoolExecutor ex(2);
  Gate gate;
  auto results = ex.map(
      [gate](int x) {
        if (x == 1) gate.wait();
        return x;
      },
      std::vector<int>{0, 1, 2}, {.timeout = std::chrono::milliseconds(50)});
  auto it = results.begin();
  REQUIRE(*it == 0);
  ++it;
  REQUIRE_THROWS_AS(*it, confut::TimeoutError);
  ++it;
  REQUIRE(it == results.end());  // Python's map gives up after a timeout
  gate.open();
}

TEST_CASE("destroying the range early cancels what has not started", "[map][cancel]") {
  confut::ThreadPoolExecutor ex(1);
  Gate gate;
  std::atomic<int> ran{0};
  auto blocker = ex.submit(gate.returning(0));
  {
    auto results = ex.map(
        [&ran](int x) {
          ran.fetch_add(1);
          return x;
        },
        std::vector<int>(100, 1));
  }  // dropped before the worker got to any of them
  gate.open();
  REQUIRE(blocker.result() == 0);
  ex.shutdown();
  REQUIRE(ran.load() == 0);
}

TEST_CASE("chunksize sends many calls per task and keeps the order (100,000 elements)",
          "[map][chunks]") {
  confut::ThreadPoolExecutor ex(2);
  std::vector<int> inputs(100000);
  for (int i = 0; i < 100000; ++i) inputs[static_cast<std::size_t>(i)] = i;
  std::int64_t checksum = 0;
  std::int64_t position = 0;
  bool in_order = true;
  for (int r : ex.map(ident, inputs, {.chunksize = 256})) {
    in_order = in_order && r == position;
    checksum += r;
    ++position;
  }
  REQUIRE(in_order);
  REQUIRE(position == 100000);
  REQUIRE(checksum == std::int64_t{100000} * 99999 / 2);
}

TEST_CASE("buffersize bounds the tasks in flight, so the input may be unbounded",
          "[map][buffer]") {
  confut::ThreadPoolExecutor ex(2);
  std::atomic<int> started{0};
  int taken = 0;
  int max_ahead = 0;
  {
    auto results = ex.map(
        [&started](int x) {
          started.fetch_add(1);
          return x * 2;
        },
        Naturals{}, {.buffersize = 4});
    for (int r : results) {
      REQUIRE(r == taken * 2);
      ++taken;
      max_ahead = std::max(max_ahead, started.load() - taken);
      if (taken == 1000) break;
    }
  }
  REQUIRE(taken == 1000);
  REQUIRE(max_ahead <= 4);
  ex.shutdown();
  REQUIRE(started.load() <= 1000 + 4);
}

TEST_CASE("map after shutdown throws", "[map]") {
  confut::ThreadPoolExecutor ex(1);
  ex.shutdown();
  REQUIRE_THROWS_AS(ex.map(square, std::vector<int>{1}), confut::ExecutorShutdownError);
}
