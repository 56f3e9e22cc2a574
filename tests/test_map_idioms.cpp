// Executor::map as C++ users write it: moving the range, dereferencing twice, the range-for
// forms, views and single-pass streams as inputs, and callables as wide as submit takes
// (references, move-only results, member pointers, futures as the input's elements).

#include <catch2/catch.hpp>

#include <array>
#include <chrono>
#include <memory>
#include <optional>
#include <ranges>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <confut/confut.hpp>

#include "test_support.hpp"

using namespace confut_test;

// clang 14 cannot compile parts of libstdc++ 12's <ranges> (views::filter, views::transform,
// views::istream over a libstdc++ iterator); the g++ builds (Debug, ASan+UBSan) run these.
#if defined(__clang__) && __clang_major__ < 15
#define CONFUT_TEST_VIEWS 0
#else
#define CONFUT_TEST_VIEWS 1
#endif

namespace {
int square_of(int x) { return x * x; }
std::string shout(std::string s) { return s + "!"; }

std::array<std::string, 8> words() {
  return {"alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"};
}

std::vector<std::string> shouted_words() {
  std::vector<std::string> out;
  for (const std::string& w : words()) out.push_back(shout(w));
  return out;
}

struct Item {
  int value;
  int twice() const { return 2 * value; }
  int plus(int k) const { return value + k; }
};

std::vector<int> table{10, 20, 30, 40, 50};
int& entry(std::size_t i) { return table.at(i); }
const std::string& label(const std::vector<std::string>& labels, std::size_t i) {
  return labels.at(i);
}

std::unique_ptr<int> boxed(int x) { return std::make_unique<int>(x * x); }

int fail_on_three(int x) {
  if (x == 3) throw std::domain_error("three");
  return x;
}
}  // namespace

// ---------------------------------------------------------------------------------------------
// Moving the range
// ---------------------------------------------------------------------------------------------

TEST_CASE("a moved map range over an rvalue std::array yields the right values",
          "[map][idioms][move]") {
  confut::ThreadPoolExecutor ex(2);
  for (std::size_t buffersize : {0u, 2u}) {
    CAPTURE(buffersize);
    using Results = decltype(ex.map(shout, words(), {.buffersize = buffersize}));
    std::optional<Results> first(std::in_place, ex.map(shout, words(), {.buffersize = buffersize}));
    Results moved = std::move(*first);
    first.reset();  // the original object is gone: nothing may point into it
    std::vector<std::string> out;
    for (const std::string& s : moved) out.push_back(s);
    REQUIRE(out == shouted_words());
  }
}

TEST_CASE("a map range moved during iteration keeps its iterator valid", "[map][idioms][move]") {
  confut::ThreadPoolExecutor ex(2);
  auto results = ex.map(shout, words(), {.buffersize = 3});
  auto it = results.begin();
  REQUIRE(*it == "alpha!");
  auto moved = std::move(results);
  std::vector<std::string> out;
  for (; it != moved.end(); ++it) out.push_back(*it);
  REQUIRE(out == shouted_words());
  REQUIRE(results.begin() == results.end());  // NOLINT(bugprone-use-after-move): empty now
  REQUIRE_THROWS_AS(results.to_vector(), confut::InvalidStateError);
  auto assigned = ex.map(shout, words(), {.buffersize = 1});
  assigned = ex.map(shout, words());  // the first one is cancelled
  REQUIRE(assigned.to_vector() == shouted_words());
}

// ---------------------------------------------------------------------------------------------
// Dereferencing
// ---------------------------------------------------------------------------------------------

TEST_CASE("dereferencing a map iterator twice gives the same value", "[map][idioms][deref]") {
  confut::ThreadPoolExecutor ex(2);
  for (std::size_t chunksize : {1u, 3u}) {
    CAPTURE(chunksize);
    auto results = ex.map(shout, words(), {.chunksize = chunksize});
    std::vector<std::string> out;
    for (auto it = results.begin(); it != results.end(); ++it) {
      const std::string first = *it;
      REQUIRE(*it == first);
      REQUIRE(&*it == &*it);  // a reference to the stored value
      out.push_back(*it);
    }
    REQUIRE(out == shouted_words());
  }
  auto failing = ex.map(fail_on_three, std::vector<int>{3});
  auto it = failing.begin();
  REQUIRE_THROWS_AS(*it, std::domain_error);
  REQUIRE_THROWS_AS(*it, std::domain_error);  // the error stays, too
}

#if CONFUT_TEST_VIEWS
TEST_CASE("a map range piped into views::filter and views::transform", "[map][idioms][views]") {
  confut::ThreadPoolExecutor ex(2);
  std::vector<std::string> long_ones;
  for (const std::string& s : ex.map(shout, words()) |
                                  std::views::filter([](const std::string& w) {
                                    return w.size() > 5;
                                  })) {
    long_ones.push_back(s);
  }
  REQUIRE(long_ones == std::vector<std::string>{"alpha!", "bravo!", "charlie!", "delta!",
                                                "foxtrot!", "hotel!"});
  std::vector<std::size_t> sizes;
  for (std::size_t n : ex.map(shout, words()) |
                           std::views::transform([](const std::string& w) { return w.size(); })) {
    sizes.push_back(n);
  }
  REQUIRE(sizes == std::vector<std::size_t>{6, 6, 8, 6, 5, 8, 5, 6});
}
#endif

// ---------------------------------------------------------------------------------------------
// The range-for forms
// ---------------------------------------------------------------------------------------------

TEST_CASE("map results bind as auto&, const auto&, auto&& and by value", "[map][idioms][for]") {
  confut::ThreadPoolExecutor ex(2);
  const std::vector<int> xs{1, 2, 3, 4};
  const std::vector<int> squares{1, 4, 9, 16};
  std::vector<int> out;
  for (auto& r : ex.map(square_of, xs)) out.push_back(r);
  REQUIRE(out == squares);
  out.clear();
  for (const auto& r : ex.map(square_of, xs)) out.push_back(r);
  REQUIRE(out == squares);
  out.clear();
  for (auto&& r : ex.map(square_of, xs, {.chunksize = 3})) out.push_back(r);
  REQUIRE(out == squares);
  out.clear();
  for (auto r : ex.map(square_of, xs, {.buffersize = 1})) out.push_back(r);
  REQUIRE(out == squares);
  std::vector<std::string> strings;
  for (auto& s : ex.map(shout, words())) strings.push_back(std::move(s));  // moving is allowed
  REQUIRE(strings == shouted_words());
}

// ---------------------------------------------------------------------------------------------
// Inputs: views and single-pass ranges
// ---------------------------------------------------------------------------------------------

#if CONFUT_TEST_VIEWS
TEST_CASE("map over rvalue views: filter, transform, iota, take", "[map][idioms][views]") {
  confut::ThreadPoolExecutor ex(2);
  const std::vector<int> v{1, 2, 3, 4, 5, 6, 7, 8};
  for (std::size_t chunksize : {1u, 3u}) {
    CAPTURE(chunksize);
    const confut::MapOptions options{.chunksize = chunksize, .buffersize = 2};
    REQUIRE(ex.map(square_of, v | std::views::filter([](int x) { return x % 2 == 0; }), options)
                .to_vector() == std::vector<int>{4, 16, 36, 64});
    REQUIRE(ex.map(square_of, v | std::views::transform([](int x) { return x + 1; }), options)
                .to_vector() == std::vector<int>{4, 9, 16, 25, 36, 49, 64, 81});
    REQUIRE(ex.map(square_of, std::views::iota(0, 5), options).to_vector() ==
            std::vector<int>{0, 1, 4, 9, 16});
    REQUIRE(ex.map(square_of, std::views::iota(1) | std::views::take(3), options).to_vector() ==
            std::vector<int>{1, 4, 9});
    auto evens = v | std::views::filter([](int x) { return x % 2 == 0; });
    REQUIRE(ex.map(add, evens, std::views::iota(100), options).to_vector() ==
            std::vector<int>{102, 105, 108, 111});  // an lvalue view zipped with an rvalue one
  }
}

TEST_CASE("map over a single-pass input: views::istream", "[map][idioms][views][stream]") {
  confut::ThreadPoolExecutor ex(2);
  for (std::size_t chunksize : {1u, 2u}) {
    CAPTURE(chunksize);
    std::istringstream numbers("3 1 4 1 5 9 2 6");
    auto results = ex.map(square_of, std::views::istream<int>(numbers),
                          {.chunksize = chunksize, .buffersize = 2});
    REQUIRE_FALSE(results.known_size().has_value());
    REQUIRE(results.to_vector() == std::vector<int>{9, 1, 16, 1, 25, 81, 4, 36});
  }
}
#endif

// ---------------------------------------------------------------------------------------------
// Callables as wide as submit
// ---------------------------------------------------------------------------------------------

TEST_CASE("map with a callable returning a reference yields copies of the values",
          "[map][idioms][callables]") {
  confut::ThreadPoolExecutor ex(2);
  const std::vector<std::size_t> indices{4, 0, 2};
  for (std::size_t chunksize : {1u, 2u}) {
    CAPTURE(chunksize);
    REQUIRE(ex.map(entry, indices, {.chunksize = chunksize}).to_vector() ==
            std::vector<int>{50, 10, 30});
    const std::vector<std::string> labels{"a", "b", "c", "d", "e"};
    std::vector<std::string> out;
    for (const std::string& s :
         ex.map([&labels](std::size_t i) -> const std::string& { return label(labels, i); },
                indices, {.chunksize = chunksize})) {
      out.push_back(s);
    }
    REQUIRE(out == std::vector<std::string>{"e", "a", "c"});
  }
}

TEST_CASE("map with a callable returning a move-only value", "[map][idioms][callables]") {
  confut::ThreadPoolExecutor ex(2);
  const std::vector<int> xs{1, 2, 3, 4, 5};
  for (std::size_t chunksize : {1u, 2u}) {
    CAPTURE(chunksize);
    std::vector<int> out;
    for (auto& p : ex.map(boxed, xs, {.chunksize = chunksize})) {
      std::unique_ptr<int> owned = std::move(p);
      REQUIRE(owned != nullptr);
      out.push_back(*owned);
    }
    REQUIRE(out == std::vector<int>{1, 4, 9, 16, 25});
    std::vector<std::unique_ptr<int>> all = ex.map(boxed, xs, {.chunksize = chunksize}).to_vector();
    REQUIRE(all.size() == 5);
    REQUIRE(*all[4] == 25);
  }
}

TEST_CASE("map with member function and data member pointers", "[map][idioms][callables]") {
  confut::ThreadPoolExecutor ex(2);
  const std::vector<Item> items{{1}, {2}, {3}};
  for (std::size_t chunksize : {1u, 2u}) {
    CAPTURE(chunksize);
    const confut::MapOptions options{.chunksize = chunksize};
    REQUIRE(ex.map(&Item::twice, items, options).to_vector() == std::vector<int>{2, 4, 6});
    REQUIRE(ex.map(&Item::value, items, options).to_vector() == std::vector<int>{1, 2, 3});
    REQUIRE(ex.map(&Item::plus, items, std::vector<int>{10, 20, 30}, options).to_vector() ==
            std::vector<int>{11, 22, 33});
  }
}

TEST_CASE("map over futures calls the function with their values, as Dask's client.map",
          "[map][idioms][futures]") {
  confut::ThreadPoolExecutor ex(2);
  std::vector<confut::Future<int>> futures;
  for (int i = 0; i < 6; ++i) futures.push_back(ex.submit(inc, i));  // 1..6
  for (std::size_t chunksize : {1u, 4u}) {
    CAPTURE(chunksize);
    REQUIRE(ex.map(inc, futures, {.chunksize = chunksize}).to_vector() ==
            std::vector<int>{2, 3, 4, 5, 6, 7});
    REQUIRE(ex.map(add, futures, std::vector<int>{10, 20, 30}, {.chunksize = chunksize})
                .to_vector() == std::vector<int>{11, 22, 33});
  }
  // A failed input fails its own element only, with the input's exception.
  std::vector<confut::Future<int>> mixed{ex.submit(fail_on_three, 1), ex.submit(fail_on_three, 3),
                                         ex.submit(fail_on_three, 5)};
  std::vector<std::string> seen;
  auto results = ex.map(dbl, mixed);
  for (auto it = results.begin(); it != results.end(); ++it) {
    try {
      seen.push_back(std::to_string(*it));
    } catch (const std::domain_error& e) {
      seen.push_back(e.what());
    }
  }
  REQUIRE(seen == std::vector<std::string>{"2", "three", "10"});
  // Futures still running when map is called: each call starts once its input is done.
  Gate gate;
  std::vector<confut::Future<int>> pending{ex.submit(gate.returning(7)), ex.submit(inc, 8)};
  auto later = ex.map(dbl, std::move(pending), {.timeout = std::chrono::seconds(30)});
  gate.open();
  REQUIRE(later.to_vector() == std::vector<int>{14, 18});
}
