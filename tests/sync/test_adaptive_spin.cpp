// AdaptiveSpin: how long a waiting thread spins before it sleeps. It must keep the longest
// spin while waits are short, back off while they are long, and come back at once.

#include <catch2/catch.hpp>

#include <chrono>
#include <thread>

#include <confut/confut.hpp>

using confut::detail::AdaptiveSpin;
using namespace std::chrono_literals;

TEST_CASE("AdaptiveSpin starts at the longest spin and keeps it while waits are short",
          "[adaptive_spin]") {
  AdaptiveSpin spin(20us);
  CHECK(spin.limit() == 20us);
  spin.record(0ns);
  CHECK(spin.limit() == 20us);
  spin.record(35us);  // ended soon after a spin would have given up: still worth spinning
  CHECK(spin.limit() == 20us);
}

TEST_CASE("AdaptiveSpin halves after each long wait down to the shortest spin",
          "[adaptive_spin]") {
  AdaptiveSpin spin(20us);
  spin.record(1ms);
  CHECK(spin.limit() == 10us);
  spin.record(1ms);
  CHECK(spin.limit() == 5us);
  for (int i = 0; i < 20; ++i) spin.record(1ms);
  CHECK(spin.limit() == AdaptiveSpin::kShortest);
}

TEST_CASE("AdaptiveSpin goes back to the longest spin after one short wait",
          "[adaptive_spin]") {
  AdaptiveSpin spin(20us);
  for (int i = 0; i < 10; ++i) spin.record(5ms);
  REQUIRE(spin.limit() == AdaptiveSpin::kShortest);
  spin.record(3us);
  CHECK(spin.limit() == 20us);
}

TEST_CASE("AdaptiveSpin never spins longer than its longest spin", "[adaptive_spin]") {
  AdaptiveSpin spin(300ns);  // shorter than kShortest
  spin.record(1ms);
  CHECK(spin.limit() == 300ns);
  spin.record(0ns);
  CHECK(spin.limit() == 300ns);
}

TEST_CASE("a thread that keeps waiting for long tasks spins less, and still gets the results",
          "[adaptive_spin]") {
  confut::ThreadPoolExecutor ex(1);
  // A fresh thread: its spin limit is its own, untouched by other tests.
  std::thread waiter([&] {
    const auto before = confut::detail::waiter_spin().limit();
    int sum = 0;
    for (int i = 0; i < 6; ++i) {
      sum += ex.submit([i] {
                 std::this_thread::sleep_for(3ms);
                 return i;
               }).result();
    }
    CHECK(sum == 15);
    CHECK(before == confut::detail::kSpinBeforeSleep);
    CHECK(confut::detail::waiter_spin().limit() < confut::detail::kSpinBeforeSleep);
  });
  waiter.join();
}
