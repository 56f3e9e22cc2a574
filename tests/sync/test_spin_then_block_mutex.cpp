// SpinThenBlockMutex: the workers' lock on the thread pool's shared queue. It must exclude under heavy
// contention (more threads than cores, so holders get preempted and waiters go to sleep),
// and a waiter that went to sleep must be woken by unlock().

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include <confut/confut.hpp>

using confut::detail::SpinThenBlockMutex;
using namespace std::chrono_literals;

TEST_CASE("SpinThenBlockMutex excludes: 8 threads add to a plain counter",
          "[spin_then_block_mutex]") {
  SpinThenBlockMutex mutex;
  std::uint64_t counter = 0;  // not atomic: only the lock keeps the additions whole
  std::uint64_t inside = 0;   // threads in the critical section; must stay at most 1
  bool overlapped = false;
  constexpr int kThreads = 8;
  constexpr int kRounds = 50'000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kRounds; ++i) {
        std::lock_guard lock(mutex);
        if (++inside != 1) overlapped = true;
        ++counter;
        --inside;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  CHECK_FALSE(overlapped);
  CHECK(counter == std::uint64_t{kThreads} * kRounds);
}

TEST_CASE("SpinThenBlockMutex wakes waiters that went to sleep behind a long holder",
          "[spin_then_block_mutex]") {
  SpinThenBlockMutex mutex;
  std::atomic<int> acquired{0};
  std::atomic<int> started{0};
  mutex.lock();
  std::vector<std::thread> waiters;
  for (int t = 0; t < 4; ++t) {
    waiters.emplace_back([&] {
      started.fetch_add(1);
      std::lock_guard lock(mutex);
      acquired.fetch_add(1);
    });
  }
  while (started.load() < 4) std::this_thread::yield();
  std::this_thread::sleep_for(50ms);  // far beyond the spin: the waiters sleep now
  CHECK(acquired.load() == 0);
  CHECK_FALSE(mutex.try_lock());
  mutex.unlock();
  for (auto& waiter : waiters) waiter.join();
  CHECK(acquired.load() == 4);
  CHECK(mutex.try_lock());  // left unlocked by the last waiter
  mutex.unlock();
}
