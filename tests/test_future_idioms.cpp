// The idioms C++ users type with futures (issue 16): range-for over as_completed with any
// binding, take() for move-only values, result() on a temporary, futures as map and set keys,
// braced lists (mixing result types) for wait and as_completed, duplicates, references.

#include <catch2/catch.hpp>

#include <atomic>
#include <map>
#include <memory>
#include <numeric>
#include <ranges>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include <confut/confut.hpp>

#include "test_support.hpp"

using namespace confut_test;

namespace {

std::vector<int> one_to(int n) {
  std::vector<int> values(static_cast<std::size_t>(n));
  std::iota(values.begin(), values.end(), 1);
  return values;
}

std::vector<confut::Future<int>> submit_idents(confut::ThreadPoolExecutor& ex, int n) {
  std::vector<confut::Future<int>> futures;
  for (int i = 0; i < n; ++i) futures.push_back(ex.submit(ident, i));
  return futures;
}

constexpr int kSumBelow20 = 19 * 20 / 2;

}  // namespace

// ---- item 2: range-for over as_completed, with every binding ----

TEST_CASE("range-for over as_completed binds auto&, const auto&, auto&& and by value",
          "[future_idioms][as_completed]") {
  static_assert(std::ranges::input_range<confut::AsCompleted<int>>);
  static_assert(std::is_same_v<std::ranges::range_reference_t<confut::AsCompleted<int>>,
                               confut::Future<int>&>);
  confut::ThreadPoolExecutor ex(2);
  const auto futures = submit_idents(ex, 20);

  int sum = 0;
  for (auto& f : confut::as_completed(futures)) {
    static_assert(std::is_same_v<decltype(f), confut::Future<int>&>);
    sum += f.result(5s);
  }
  REQUIRE(sum == kSumBelow20);

  sum = 0;
  for (const auto& f : confut::as_completed(futures)) sum += f.result(5s);
  REQUIRE(sum == kSumBelow20);

  sum = 0;
  for (auto&& f : confut::as_completed(futures)) sum += f.result(5s);
  REQUIRE(sum == kSumBelow20);

  sum = 0;
  std::set<confut::Future<int>> seen;
  for (auto f : confut::as_completed(futures)) {
    sum += f.result(5s);
    seen.insert(std::move(f));  // moving the loop's copy out does not end the loop
  }
  REQUIRE(sum == kSumBelow20);
  REQUIRE(seen.size() == futures.size());

  std::size_t count = 0;
  for (auto& f : confut::as_completed(futures)) {
    seen.erase(std::move(f));  // nor does moving out of the sequence's own element
    ++count;
  }
  REQUIRE(count == futures.size());
  REQUIRE(seen.empty());
}

// ---- item 3: take() ----

TEST_CASE("take moves a move-only value out and later result or take on any copy throws",
          "[future_idioms][take]") {
  confut::ThreadPoolExecutor ex(2);
  auto f = ex.submit([] { return std::make_unique<int>(7); });
  const auto copy = f;
  std::unique_ptr<int> p = f.take();
  REQUIRE(p != nullptr);
  REQUIRE(*p == 7);
  REQUIRE(f.done());
  REQUIRE(f.status() == confut::FutureStatus::finished);
  REQUIRE_THROWS_AS(copy.result(), confut::InvalidStateError);
  REQUIRE_THROWS_AS(f.result(1s), confut::InvalidStateError);
  REQUIRE_THROWS_AS(f.take(), confut::InvalidStateError);
  REQUIRE_THROWS_WITH(f.take(1s), Catch::Contains("take()"));
  REQUIRE(f.exception() == nullptr);  // it did succeed

  auto text = ex.submit([] { return std::string(100, 'x'); });
  REQUIRE(text.take(5s) == std::string(100, 'x'));
}

TEST_CASE("take rethrows a failed task's error and a cancelled one's, on every call",
          "[future_idioms][take]") {
  confut::ThreadPoolExecutor ex(1);
  auto failed = ex.submit([]() -> std::unique_ptr<int> { throw std::runtime_error("boom"); });
  REQUIRE_THROWS_WITH(failed.take(5s), "boom");
  REQUIRE_THROWS_WITH(failed.take(), "boom");
  REQUIRE_THROWS_WITH(failed.result(), "boom");

  Gate gate;
  auto blocker = ex.submit(gate.returning(1));
  auto queued = ex.submit([] { return std::make_unique<int>(1); });
  REQUIRE(queued.cancel());
  REQUIRE_THROWS_AS(queued.take(), confut::CancelledError);
  REQUIRE_THROWS_AS(queued.take(), confut::CancelledError);
  gate.open();
  REQUIRE(blocker.result(5s) == 1);
}

TEST_CASE("take waits for a pending future and take with a timeout takes nothing on timeout",
          "[future_idioms][take]") {
  confut::ThreadPoolExecutor ex(1);
  Gate gate;
  auto f = ex.submit([gate] {
    gate.wait();
    return std::make_unique<int>(5);
  });
  REQUIRE_THROWS_AS(f.take(20ms), confut::TimeoutError);
  std::thread opener([&gate] {
    std::this_thread::sleep_for(20ms);
    gate.open();
  });
  std::unique_ptr<int> value = f.take();  // blocks until the task finishes
  opener.join();
  REQUIRE(*value == 5);

  auto v = ex.submit([] {});
  v.take();  // Future<void>: waits, like result()
  REQUIRE(v.done());
}

TEST_CASE("take from several threads at once gives the value to exactly one",
          "[future_idioms][take][stress]") {
  confut::ThreadPoolExecutor ex(2);
  for (int round = 0; round < 50; ++round) {
    auto f = ex.submit([round] { return std::make_unique<int>(round); });
    std::atomic<int> winners{0};
    std::atomic<int> refused{0};
    std::vector<std::thread> takers;
    for (int t = 0; t < 3; ++t) {
      takers.emplace_back([f, &winners, &refused, round]() mutable {
        try {
          std::unique_ptr<int> p = f.take(5s);
          if (p != nullptr && *p == round) winners.fetch_add(1);
        } catch (const confut::InvalidStateError&) {
          refused.fetch_add(1);
        }
      });
    }
    for (auto& taker : takers) taker.join();
    REQUIRE(winners.load() == 1);
    REQUIRE(refused.load() == 2);
  }
}

// ---- item 4: result() on an rvalue future returns by value ----

TEST_CASE("result on a temporary future returns by value so range-for over it does not dangle",
          "[future_idioms][result]") {
  using VF = confut::Future<std::vector<int>>;
  static_assert(std::is_same_v<decltype(std::declval<VF>().result()), std::vector<int>>);
  static_assert(std::is_same_v<decltype(std::declval<VF>().result(1s)), std::vector<int>>);
  static_assert(std::is_same_v<decltype(std::declval<VF&>().result()), const std::vector<int>&>);
  static_assert(
      std::is_same_v<decltype(std::declval<const VF&>().result(1s)), const std::vector<int>&>);
  // A value that cannot be copied still comes by reference (take() moves it out).
  using UF = confut::Future<std::unique_ptr<int>>;
  static_assert(std::is_same_v<decltype(std::declval<UF>().result()), const std::unique_ptr<int>&>);

  confut::ThreadPoolExecutor ex(2);
  for (int round = 0; round < 20; ++round) {
    long sum = 0;
    for (int x : ex.submit(one_to, 1000).result()) sum += x;
    REQUIRE(sum == 1000L * 1001 / 2);
    sum = 0;
    for (int x : ex.submit(one_to, 1000).result(5s)) sum += x;
    REQUIRE(sum == 1000L * 1001 / 2);
  }
  REQUIRE(ex.submit([] { return std::make_unique<int>(3); }).result(5s) != nullptr);
}

TEST_CASE("result on an rvalue copies while other copies exist and moves out of the last one",
          "[future_idioms][result]") {
  confut::ThreadPoolExecutor ex(1);
  auto f = ex.submit(one_to, 100);
  auto copy = f;
  std::vector<int> first = std::move(f).result(5s);
  REQUIRE(first.size() == 100);
  REQUIRE(copy.result().size() == 100);  // copied: the state still has its value
  REQUIRE(f.result().size() == 100);

  // Once this handle is the last reference (the pool lets go of its own soon after the
  // task ends), the value is moved out and the handle behaves as after take().
  auto last = ex.submit(one_to, 100);
  last.wait();
  for (int i = 0; i < 5000 && !last.state()->sole_reference(); ++i) {
    std::this_thread::sleep_for(1ms);
  }
  REQUIRE(last.state()->sole_reference());
  std::vector<int> moved = std::move(last).result();
  REQUIRE(moved.size() == 100);
  REQUIRE_THROWS_AS(last.result(), confut::InvalidStateError);
}

// ---- item 5: futures as keys ----

TEST_CASE("futures are keys of unordered_map, map and set by identity",
          "[future_idioms][keys]") {
  confut::ThreadPoolExecutor ex(2);
  const std::vector<std::string> urls{"a", "bb", "ccc", "dddd"};
  std::unordered_map<confut::Future<int>, std::string> url_of;  // Python's {submit(): url}
  for (const auto& url : urls) {
    url_of.emplace(ex.submit([](const std::string& u) { return static_cast<int>(u.size()); }, url),
                   url);
  }
  REQUIRE(url_of.size() == urls.size());
  std::vector<confut::Future<int>> keys;  // (url_of | std::views::keys trips clang 14)
  for (const auto& entry : url_of) keys.push_back(entry.first);
  std::size_t seen = 0;
  for (auto& f : confut::as_completed(keys)) {
    REQUIRE(static_cast<std::size_t>(f.result(5s)) == url_of.at(f).size());
    ++seen;
  }
  REQUIRE(seen == urls.size());

  std::map<confut::Future<int>, int> ordered;
  std::set<confut::Future<int>> set;
  for (const auto& [future, url] : url_of) {
    ordered[future] = static_cast<int>(url.size());
    set.insert(future);
    set.insert(future);  // a copy is the same key
  }
  REQUIRE(ordered.size() == urls.size());
  REQUIRE(set.size() == urls.size());
  for (const auto& [future, size] : ordered) REQUIRE(future.result() == size);

  auto a = ex.submit(ident, 1);
  auto b = ex.submit(ident, 1);
  const auto a_copy = a;
  REQUIRE(a == a_copy);
  REQUIRE(a != b);
  REQUIRE((a < b) != (b < a));
  REQUIRE((a <=> a_copy) == std::strong_ordering::equal);
  REQUIRE(std::hash<confut::Future<int>>{}(a) == std::hash<confut::Future<int>>{}(a_copy));
  REQUIRE(confut::Future<int>() == confut::Future<int>());  // empty ones are equal
  REQUIRE(confut::Future<int>() != a);
  REQUIRE(confut::AnyFuture(a) == a);
  REQUIRE(std::hash<confut::AnyFuture>{}(confut::AnyFuture(a)) ==
          std::hash<confut::Future<int>>{}(a));
  std::unordered_set<confut::AnyFuture> any{a, a_copy, b};
  REQUIRE(any.size() == 2);
}

// ---- item 6: braced lists, and futures of different result types ----

TEST_CASE("wait and as_completed take braced lists, also of different result types",
          "[future_idioms][wait][as_completed]") {
  confut::ThreadPoolExecutor ex(2);
  auto a = ex.submit(ident, 1);
  auto b = ex.submit(ident, 2);
  auto s = ex.submit([] { return std::string("text"); });

  auto same = confut::wait({a, b}, 5s);
  static_assert(std::is_same_v<decltype(same), confut::WaitResult<int>>);
  REQUIRE(same.done.size() == 2);
  REQUIRE(same.done[0].result() + same.done[1].result() == 3);
  REQUIRE(confut::wait({a, b}, confut::FIRST_COMPLETED, 5s).done.size() >= 1);

  int sum = 0;
  for (auto& f : confut::as_completed({a, b})) sum += f.result(5s);
  REQUIRE(sum == 3);
  sum = 0;
  for (auto& f : confut::as_completed({a, b}, 5s)) sum += f.result();
  REQUIRE(sum == 3);

  auto mixed = confut::wait({a, s}, 5s);
  static_assert(std::is_same_v<decltype(mixed), confut::WaitResult<confut::AnyResult>>);
  REQUIRE(mixed.done.size() == 2);
  REQUIRE(mixed.not_done.empty());
  REQUIRE(mixed.done[0] == a);
  REQUIRE(mixed.done[1] == s);
  REQUIRE(confut::wait({a, s}).done.size() == 2);
  REQUIRE(confut::wait({a, s}, confut::FIRST_EXCEPTION, 5s).done.size() == 2);

  int yielded = 0;
  for (confut::AnyFuture& f : confut::as_completed({a, s}, 5s)) {
    REQUIRE(f.exception() == nullptr);
    REQUIRE((f == a || f == s));
    ++yielded;
  }
  REQUIRE(yielded == 2);

  std::vector<confut::AnyFuture> any{a, s, b};  // a range of AnyFuture works as well
  REQUIRE(confut::wait(any, 5s).done.size() == 3);
  REQUIRE(confut::as_completed(any).count() == 3);
  std::ostringstream text;
  text << any[1];
  REQUIRE(text.str().find("finished") != std::string::npos);

  int called = 0;
  any[0].add_done_callback([&called, a](const confut::AnyFuture& f) {
    if (f == a) ++called;
  });
  REQUIRE(called == 1);

  // The existing forms keep their types.
  std::vector<confut::Future<int>> ints{a, b};
  static_assert(std::is_same_v<decltype(confut::wait(ints)), confut::WaitResult<int>>);
  static_assert(std::is_same_v<decltype(confut::as_completed(ints)), confut::AsCompleted<int>>);
}

TEST_CASE("wait on a list with a pending future of another type returns it as not done",
          "[future_idioms][wait]") {
  confut::ThreadPoolExecutor ex(2);
  Gate gate;
  auto pending = ex.submit(gate.returning(1));
  auto text = ex.submit([] { return std::string("x"); });
  text.wait();
  auto split = confut::wait({pending, text}, confut::FIRST_COMPLETED, 5s);
  REQUIRE(split.done.size() == 1);
  REQUIRE(split.done[0] == text);
  REQUIRE(split.not_done.size() == 1);
  REQUIRE(split.not_done[0] == pending);
  gate.open();
  REQUIRE(pending.result(5s) == 1);
}

// ---- item 7: duplicates ----

TEST_CASE("wait treats its input as a set", "[future_idioms][wait]") {
  confut::ThreadPoolExecutor ex(2);
  auto a = ex.submit(ident, 1);
  auto b = ex.submit(ident, 2);
  auto both = confut::wait({a, a, b}, 5s);
  REQUIRE(both.done.size() == 2);
  REQUIRE(both.done[0] == a);
  REQUIRE(both.done[1] == b);
  REQUIRE(confut::wait({a, a, b}).done.size() == 2);

  Gate gate;
  auto pending = ex.submit(gate.returning(3));
  const std::vector<confut::Future<int>> futures{pending, a, pending, b, a};
  auto first = confut::wait(futures, confut::FIRST_COMPLETED, 5s);
  REQUIRE(first.done.size() == 2);
  REQUIRE(first.not_done.size() == 1);
  REQUIRE(confut::wait(futures, 20ms).not_done.size() == 1);
  gate.open();
  auto all = confut::wait(futures, 5s);
  REQUIRE(all.done.size() == 3);
  REQUIRE(all.not_done.empty());
  REQUIRE(all.done[0] == pending);  // first occurrences, in input order
}

TEST_CASE("as_completed yields a future given or added twice once",
          "[future_idioms][as_completed]") {
  confut::ThreadPoolExecutor ex(2);
  Gate gate;
  auto a = ex.submit(ident, 1);
  auto b = ex.submit(gate.returning(2));
  auto seq = confut::as_completed({a, a, b, b});
  REQUIRE(seq.count() == 2);
  seq.add(a);
  seq.add(b);
  REQUIRE(seq.count() == 2);
  gate.open();
  std::vector<int> values;
  for (auto& f : seq) values.push_back(f.result(5s));
  REQUIRE(values.size() == 2);
  REQUIRE(values[0] + values[1] == 3);

  // Once yielded, a future is out of the sequence: adding it again yields it again.
  auto again = confut::as_completed(std::vector{a});
  REQUIRE(again.next() == a);
  again.add(a);
  REQUIRE(again.next() == a);
  REQUIRE_FALSE(again.next().valid());
}

TEST_CASE("as_completed with duplicates under random timing yields each future once",
          "[future_idioms][as_completed][stress]") {
  confut::ThreadPoolExecutor ex(2);
  for (int round = 0; round < 20; ++round) {
    std::vector<confut::Future<int>> futures;
    for (int i = 0; i < 30; ++i) {
      futures.push_back(ex.submit(
          [](int x) {
            std::this_thread::sleep_for(std::chrono::microseconds((x * 37) % 200));
            return x;
          },
          i));
    }
    std::vector<confut::Future<int>> doubled = futures;
    doubled.insert(doubled.end(), futures.rbegin(), futures.rend());
    auto seq = confut::as_completed(doubled, 10s);
    for (int i = 0; i < 10; ++i) seq.add(futures[static_cast<std::size_t>(i)]);
    std::vector<int> counts(30, 0);
    for (auto& f : seq) ++counts[static_cast<std::size_t>(f.result())];
    for (int c : counts) REQUIRE(c == 1);
  }
}

// ---- item 8: references ----

TEST_CASE("a callable returning a reference gives a Future of the value holding a copy",
          "[future_idioms][references]") {
  confut::ThreadPoolExecutor ex(1);
  int x = 1;
  auto lref = ex.submit([&x]() -> int& { return x; });
  static_assert(std::is_same_v<decltype(lref), confut::Future<int>>);
  REQUIRE(lref.result(5s) == 1);
  x = 2;
  REQUIRE(lref.result() == 1);  // a copy made when the task finished

  const std::string text = "abc";
  auto cref = ex.submit([&text]() -> const std::string& { return text; });
  static_assert(std::is_same_v<decltype(cref), confut::Future<std::string>>);
  REQUIRE(cref.result(5s) == "abc");
  REQUIRE(&cref.result() != &text);

  auto owned = std::make_unique<std::string>("moved");
  auto rref = ex.submit([&owned]() -> std::string&& { return std::move(*owned); });
  static_assert(std::is_same_v<decltype(rref), confut::Future<std::string>>);
  REQUIRE(rref.result(5s) == "moved");
}

TEST_CASE("an AnyFuture reaches a task as a handle through std::ref",
          "[future_idioms][references]") {
  confut::ThreadPoolExecutor ex(1);
  auto one = ex.submit(ident, 1);
  const confut::AnyFuture any = one;
  auto same = ex.submit([](const confut::AnyFuture& handle) { return handle.id(); }, std::cref(any));
  REQUIRE(same.result(5s) == one.id());
}
