// Parker: how every blocked thread of confut sleeps (a waiter on a future, an idle pool
// worker). An unpark must never be lost, whether it comes before, during or after park();
// park_until() must give up at its deadline and no sooner; what the unparker wrote before
// unpark() must be visible after park() returns.

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

#include <confut/confut.hpp>

using confut::detail::Parker;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

TEST_CASE("an unpark before park is kept as a token, and only one", "[parker]") {
  Parker parker;
  parker.unpark();
  parker.unpark();  // still one token
  parker.park();    // returns at once: the token is there
  // The token is gone: a timed park now waits for its deadline.
  const auto start = Clock::now();
  CHECK_FALSE(parker.park_until(start + 30ms));
  CHECK(Clock::now() - start >= 30ms);
}

TEST_CASE("park_until returns true at once when unparked before", "[parker]") {
  Parker parker;
  parker.unpark();
  const auto start = Clock::now();
  CHECK(parker.park_until(start + 10s));
  CHECK(Clock::now() - start < 5s);
}

TEST_CASE("a sleeping thread is woken by unpark", "[parker]") {
  Parker parker;
  std::atomic<bool> woke{false};
  std::thread sleeper([&] {
    parker.park();
    woke.store(true);
  });
  std::this_thread::sleep_for(50ms);  // long enough for the sleeper to be in the kernel
  CHECK_FALSE(woke.load());
  parker.unpark();
  sleeper.join();
  CHECK(woke.load());
}

TEST_CASE("park_until wakes early on unpark and reports it", "[parker]") {
  Parker parker;
  bool result = false;
  Clock::duration waited{};
  std::thread sleeper([&] {
    const auto start = Clock::now();
    result = parker.park_until(start + 10s);
    waited = Clock::now() - start;
  });
  std::this_thread::sleep_for(30ms);
  parker.unpark();
  sleeper.join();
  CHECK(result);
  CHECK(waited < 5s);
}

TEST_CASE("ping-pong: 20,000 hand-offs between two parkers lose no wake-up and publish data",
          "[parker]") {
  // Each side waits for its turn in a loop around park(), as confut's waiters do: a lost
  // wake-up hangs the test (and its timeout fails it).
  Parker ping;
  Parker pong;
  std::atomic<int> turn{0};  // even: ping side runs, odd: pong side
  std::uint64_t plain = 0;   // written by both sides in turn
  constexpr int kRounds = 10'000;
  std::thread other([&] {
    for (int i = 0; i < kRounds; ++i) {
      while (turn.load(std::memory_order_acquire) != 2 * i + 1) pong.park();
      plain += 2;
      turn.store(2 * i + 2, std::memory_order_release);
      ping.unpark();
    }
  });
  for (int i = 0; i < kRounds; ++i) {
    while (turn.load(std::memory_order_acquire) != 2 * i) ping.park();
    plain += 1;
    turn.store(2 * i + 1, std::memory_order_release);
    pong.unpark();
  }
  while (turn.load(std::memory_order_acquire) != 2 * kRounds) ping.park();
  other.join();
  CHECK(plain == 3u * kRounds);
}

TEST_CASE("what the unparker wrote before unpark() is visible once park() returns",
          "[parker]") {
  // No other synchronisation here: ThreadSanitizer reports a race on `plain` if the
  // parker's own atomics do not order the write before the read.
  for (int round = 0; round < 500; ++round) {
    Parker parker;
    int plain = 0;
    int seen = -1;
    std::thread sleeper([&] {
      parker.park();
      seen = plain;
    });
    if (round % 2 == 0) std::this_thread::sleep_for(100us);  // sometimes after it sleeps
    plain = round + 1;
    parker.unpark();
    sleeper.join();
    REQUIRE(seen == round + 1);
  }
}

TEST_CASE("many unparkers, one sleeper: every batch of wake-ups is seen", "[parker]") {
  Parker parker;
  std::atomic<int> posted{0};
  constexpr int kThreads = 4;
  constexpr int kPerThread = 5'000;
  std::vector<std::thread> unparkers;
  for (int t = 0; t < kThreads; ++t) {
    unparkers.emplace_back([&] {
      for (int i = 0; i < kPerThread; ++i) {
        posted.fetch_add(1, std::memory_order_release);
        parker.unpark();
      }
    });
  }
  int seen = 0;
  int timeouts = 0;
  while (seen < kThreads * kPerThread) {
    seen = posted.load(std::memory_order_acquire);
    // Every post is followed by an unpark, so a wait that runs into its deadline while
    // posts are missing means a lost wake-up (bounded so that it fails instead of hanging).
    if (seen < kThreads * kPerThread && !parker.park_until(Clock::now() + 5s)) ++timeouts;
  }
  for (auto& thread : unparkers) thread.join();
  CHECK(seen == kThreads * kPerThread);
  CHECK(timeouts == 0);
}
