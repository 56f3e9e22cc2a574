// Executor::map: input order, lazy results, per-element errors, timeout, early destruction,
// chunksize and buffersize.

#include <catch2/catch.hpp>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <future>
#include <iterator>
#include <list>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <confut/confut.hpp>
#include <confut/process_pool.hpp>

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

TEST_CASE("to_vector returns every result in input order", "[map][to_vector]") {
  confut::ThreadPoolExecutor ex(3);
  const std::vector<int> inputs{5, 1, 4, 0, 3, 2, 6};
  const auto sleepy = [](int delay_ms) {
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms * 3));
    return delay_ms * 10;
  };
  for (std::size_t chunksize : {1u, 2u, 7u}) {
    CAPTURE(chunksize);
    const std::vector<int> out = ex.map(sleepy, inputs, {.chunksize = chunksize}).to_vector();
    REQUIRE(out == std::vector<int>{50, 10, 40, 0, 30, 20, 60});
  }
  REQUIRE(ex.map(square, std::vector<int>{}).to_vector().empty());

  std::atomic<int> calls{0};
  const auto units =
      ex.map([&calls](int) { calls.fetch_add(1); }, std::vector<int>{1, 2, 3, 4}).to_vector();
  REQUIRE(units.size() == 4);
  REQUIRE(calls.load() == 4);
}

TEST_CASE("to_vector takes 100,000 results with chunks and with a buffersize", "[map][to_vector]") {
  confut::ThreadPoolExecutor ex(2);
  std::vector<int> inputs(100000);
  for (int i = 0; i < 100000; ++i) inputs[static_cast<std::size_t>(i)] = i;
  for (confut::MapOptions options : {confut::MapOptions{.chunksize = 256},
                                     confut::MapOptions{.chunksize = 1, .buffersize = 64}}) {
    CAPTURE(options.chunksize, options.buffersize);
    const std::vector<int> out = ex.map(ident, inputs, options).to_vector();
    REQUIRE(out == inputs);
  }
}

TEST_CASE("to_vector throws the first failing element's exception in input order",
          "[map][to_vector][errors]") {
  confut::ThreadPoolExecutor ex(2);
  // Element 4 fails at once, element 2 later: the error reported is element 2's.
  const auto fail_on_two_and_four = [](int x) {
    if (x == 2) {
      std::this_thread::sleep_for(std::chrono::milliseconds(30));
      throw std::domain_error("two");
    }
    if (x == 4) throw std::range_error("four");
    return x;
  };
  for (std::size_t chunksize : {1u, 2u, 5u}) {
    CAPTURE(chunksize);
    auto results = ex.map(fail_on_two_and_four, std::vector<int>{0, 1, 2, 3, 4},
                          {.chunksize = chunksize});
    REQUIRE_THROWS_AS(results.to_vector(), std::domain_error);
  }
}

TEST_CASE("to_vector with a buffersize stops an unbounded input at its first error",
          "[map][to_vector][errors][buffer]") {
  confut::ThreadPoolExecutor ex(2);
  std::atomic<int> started{0};
  {
    auto results = ex.map(
        [&started](int x) {
          started.fetch_add(1);
          if (x == 500) throw std::domain_error("500");
          return x;
        },
        Naturals{}, {.buffersize = 4});
    REQUIRE_THROWS_AS(results.to_vector(), std::domain_error);
  }
  ex.shutdown();
  REQUIRE(started.load() >= 501);
  REQUIRE(started.load() <= 501 + 4);
}

TEST_CASE("to_vector raises TimeoutError at the deadline and cancels the rest",
          "[map][to_vector][timeout]") {
  confut::ThreadPoolExecutor ex(1);
  Gate gate;
  std::atomic<int> ran{0};
  auto results = ex.map(
      [gate, &ran](int x) {
        ran.fetch_add(1);
        if (x == 0) gate.wait();
        return x;
      },
      std::vector<int>{0, 1, 2, 3}, {.timeout = std::chrono::milliseconds(50)});
  REQUIRE_THROWS_AS(results.to_vector(), confut::TimeoutError);
  gate.open();
  ex.shutdown();
  REQUIRE(ran.load() == 1);  // 1, 2 and 3 were cancelled before the worker got to them
}

TEST_CASE("to_vector is an alternative to iterating, not a second pass", "[map][to_vector]") {
  confut::ThreadPoolExecutor ex(2);
  auto iterated = ex.map(square, std::vector<int>{1, 2, 3});
  auto it = iterated.begin();
  REQUIRE(*it == 1);
  REQUIRE_THROWS_AS(iterated.to_vector(), confut::InvalidStateError);

  auto collected = ex.map(square, std::vector<int>{1, 2, 3});
  REQUIRE(collected.to_vector() == std::vector<int>{1, 4, 9});
  REQUIRE_THROWS_AS(collected.to_vector(), confut::InvalidStateError);
  REQUIRE(collected.begin() == collected.end());  // nothing is left to iterate
}

TEST_CASE("to_vector inside a task of a one-worker pool does not deadlock (W7a's pattern)",
          "[map][to_vector][deadlock]") {
  confut::ThreadPoolExecutor ex(1);
  auto outer = ex.submit([&ex] {
    const std::vector<int> squares = ex.map(square, std::vector<int>{1, 2, 3, 4}).to_vector();
    return squares.at(0) + squares.at(1) + squares.at(2) + squares.at(3);
  });
  REQUIRE(outer.result(std::chrono::seconds(30)) == 30);
}

// ---------------------------------------------------------------------------------------------
// A failed chunk (issue 17): every input still yields exactly one element, at its position.
// ---------------------------------------------------------------------------------------------

namespace {
int abort_on_six(int x) {
  if (x == 6) std::abort();
  return 10 * x;
}
}  // namespace

TEST_CASE("map: a failed chunk yields one error per element, later values keep their positions",
          "[map][chunks][errors][process_pool]") {
  confut::ProcessPoolExecutor ex(2);
  std::vector<int> inputs(16);
  for (int i = 0; i < 16; ++i) inputs[static_cast<std::size_t>(i)] = i;
  for (std::size_t buffersize : {0u, 2u}) {
    CAPTURE(buffersize);
    std::vector<std::string> seen;  // "v<value>" or "died"
    auto results = ex.map(abort_on_six, inputs, {.chunksize = 4, .buffersize = buffersize});
    for (auto it = results.begin(); it != results.end(); ++it) {
      try {
        seen.push_back("v" + std::to_string(*it));
      } catch (const confut::WorkerDied&) {
        seen.push_back("died");
      }
    }
    REQUIRE(seen.size() == inputs.size());
    for (int i = 0; i < 16; ++i) {
      CAPTURE(i);
      REQUIRE(seen[static_cast<std::size_t>(i)] ==
              (i >= 4 && i < 8 ? std::string("died") : "v" + std::to_string(10 * i)));
    }
  }
  REQUIRE_THROWS_AS(ex.map(abort_on_six, inputs, {.chunksize = 4}).to_vector(),
                    confut::WorkerDied);
  REQUIRE(ex.map(abort_on_six, std::vector<int>{7, 8, 9}, {.chunksize = 4}).to_vector() ==
          std::vector<int>{70, 80, 90});
}

TEST_CASE("map: a cancelled chunk yields CancelledError for each of its elements",
          "[map][chunks][cancel]") {
  confut::ThreadPoolExecutor ex(1);
  Gate gate;
  std::promise<void> started;
  auto blocker = ex.submit([&started, gate] {
    started.set_value();
    gate.wait();
    return 0;
  });
  REQUIRE(started.get_future().wait_for(std::chrono::seconds(30)) == std::future_status::ready);
  auto results = ex.map(square, std::vector<int>{1, 2, 3, 4, 5, 6}, {.chunksize = 4});
  ex.shutdown(false, true);  // cancels both chunks: neither has started
  gate.open();
  REQUIRE(blocker.result(std::chrono::seconds(30)) == 0);
  int cancelled = 0;
  for (auto it = results.begin(); it != results.end(); ++it) {
    REQUIRE_THROWS_AS(*it, confut::CancelledError);
    ++cancelled;
  }
  REQUIRE(cancelled == 6);
}
