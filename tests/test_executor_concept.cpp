// The Executor concept: generic code written once for any executor.

#include <catch2/catch.hpp>

#include <vector>

#include <confut/confut.hpp>

#include "test_support.hpp"

using namespace confut_test;

namespace {
template <confut::Executor E>
int sum_of_squares(E& executor, int n) {
  std::vector<int> xs;
  for (int i = 1; i <= n; ++i) xs.push_back(i);
  int total = 0;
  for (int r : executor.map([](int x) { return x * x; }, xs)) total += r;
  return total;
}

struct NotAnExecutor {
  void shutdown() {}
};
}  // namespace

TEST_CASE("ThreadPoolExecutor satisfies Executor, other types do not", "[executor]") {
  STATIC_REQUIRE(confut::Executor<confut::ThreadPoolExecutor>);
  STATIC_REQUIRE_FALSE(confut::Executor<NotAnExecutor>);
  STATIC_REQUIRE_FALSE(confut::Executor<int>);
  confut::ThreadPoolExecutor ex(2);
  REQUIRE(sum_of_squares(ex, 10) == 385);
}

TEST_CASE("Future is copyable and default-constructible, is_future detects it", "[executor]") {
  STATIC_REQUIRE(std::is_copy_constructible_v<confut::Future<int>>);
  STATIC_REQUIRE(std::is_default_constructible_v<confut::Future<int>>);
  STATIC_REQUIRE(confut::is_future_v<confut::Future<int>>);
  STATIC_REQUIRE(confut::is_future_v<const confut::Future<int>&>);
  STATIC_REQUIRE_FALSE(confut::is_future_v<int>);
}
