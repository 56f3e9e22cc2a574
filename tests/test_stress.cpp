// Stress: 1,000,000 tasks submitted from 4 threads with random cancels, chains and
// concurrent waiters; every task is accounted for. Run under TSan and ASan+UBSan in CI.

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include <confut/confut.hpp>

#include "test_support.hpp"

using namespace confut_test;

namespace {
struct Batch {
  std::vector<confut::Future<std::int64_t>> futures;
  std::vector<std::int64_t> expected;      // the value when the task runs
  std::vector<int> parent;                 // index of the input future, or -1
  std::vector<bool> cancel_succeeded;
};

/// Hands batches from submitters to waiters.
class BatchQueue {
 public:
  void push(Batch batch) {
    {
      std::lock_guard lock(mutex_);
      batches_.push_back(std::move(batch));
    }
    ready_.notify_one();
  }
  bool pop(Batch& out) {
    std::unique_lock lock(mutex_);
    ready_.wait(lock, [&] { return !batches_.empty() || closed_; });
    if (batches_.empty()) return false;
    out = std::move(batches_.front());
    batches_.pop_front();
    return true;
  }
  void close() {
    {
      std::lock_guard lock(mutex_);
      closed_ = true;
    }
    ready_.notify_all();
  }

 private:
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<Batch> batches_;
  bool closed_ = false;
};

struct Tally {
  std::atomic<std::int64_t> finished{0}, cancelled{0}, failed_by_input{0}, wrong{0};
};

/// Checks one batch, each future by whichever waiting style `style` picks.
void check_batch(Batch& batch, int style, Tally& tally) {
  if (style == 1) {
    (void)confut::wait(batch.futures);
  } else if (style == 2) {
    std::size_t yielded = 0;
    for (auto f : confut::as_completed(batch.futures)) {
      (void)f;
      ++yielded;
    }
    if (yielded != batch.futures.size()) tally.wrong.fetch_add(1);
  } else if (style == 3) {
    (void)confut::wait(batch.futures, confut::FIRST_COMPLETED);
  }
  for (std::size_t i = 0; i < batch.futures.size(); ++i) {
    auto& f = batch.futures[i];
    const int parent = batch.parent[i];
    // An input that did not succeed (cancelled, or failed through its own input).
    const bool parent_cancelled =
        parent >= 0 &&
        batch.futures[static_cast<std::size_t>(parent)].status() != confut::FutureStatus::finished;
    try {
      const std::int64_t value = f.result();
      if (batch.cancel_succeeded[i] || parent_cancelled || value != batch.expected[i]) {
        tally.wrong.fetch_add(1);
      }
      tally.finished.fetch_add(1);
    } catch (const confut::CancelledError&) {
      if (f.cancelled()) {
        if (!batch.cancel_succeeded[i]) tally.wrong.fetch_add(1);
        tally.cancelled.fetch_add(1);
      } else {
        if (!parent_cancelled) tally.wrong.fetch_add(1);  // failed only through its input
        tally.failed_by_input.fetch_add(1);
      }
    }
  }
}
}  // namespace

TEST_CASE("1,000,000 tasks from 4 threads with random cancels and concurrent waiters",
          "[stress]") {
  constexpr int kSubmitters = 4;
  constexpr int kWaiters = 3;
  constexpr int kPerSubmitter = 250000;
  constexpr int kBatch = 5000;

  confut::ThreadPoolExecutor ex(4);
  std::atomic<std::int64_t> executed{0};
  BatchQueue queue;
  Tally tally;

  std::vector<std::thread> waiters;
  for (int w = 0; w < kWaiters; ++w) {
    waiters.emplace_back([&, w] {
      Batch batch;
      for (int n = 0; queue.pop(batch); ++n) check_batch(batch, (w + n) % 4, tally);
    });
  }

  std::vector<std::thread> submitters;
  for (int s = 0; s < kSubmitters; ++s) {
    submitters.emplace_back([&, s] {
      std::mt19937 random(static_cast<unsigned>(s + 1));
      auto task = [&executed](std::int64_t v) {
        executed.fetch_add(1, std::memory_order_relaxed);
        return v;
      };
      auto plus_one = [&executed](std::int64_t v) {
        executed.fetch_add(1, std::memory_order_relaxed);
        return v + 1;
      };
      for (int start = 0; start < kPerSubmitter; start += kBatch) {
        Batch batch;
        batch.futures.reserve(kBatch);
        for (int i = 0; i < kBatch; ++i) {
          const std::int64_t value = std::int64_t{s} * kPerSubmitter + start + i;
          if (i > 0 && random() % 10 == 0) {  // a dependent on an earlier task of the batch
            const int parent = static_cast<int>(random() % static_cast<unsigned>(i));
            batch.futures.push_back(ex.submit(plus_one, batch.futures[static_cast<std::size_t>(parent)]));
            batch.expected.push_back(batch.expected[static_cast<std::size_t>(parent)] + 1);
            batch.parent.push_back(parent);
          } else {
            batch.futures.push_back(ex.submit(task, value));
            batch.expected.push_back(value);
            batch.parent.push_back(-1);
          }
          batch.cancel_succeeded.push_back(false);
          if (random() % 8 == 0) {  // cancel a random earlier task of the batch
            const auto victim = random() % batch.futures.size();
            if (batch.futures[victim].cancel()) batch.cancel_succeeded[victim] = true;
          }
        }
        queue.push(std::move(batch));
      }
    });
  }
  for (auto& t : submitters) t.join();
  queue.close();
  for (auto& t : waiters) t.join();
  ex.shutdown();

  const std::int64_t total = tally.finished + tally.cancelled + tally.failed_by_input;
  INFO("finished " << tally.finished << ", cancelled " << tally.cancelled
                   << ", failed by input " << tally.failed_by_input);
  REQUIRE(tally.wrong.load() == 0);
  REQUIRE(total == std::int64_t{kSubmitters} * kPerSubmitter);
  REQUIRE(executed.load() == tally.finished.load());  // cancelled tasks never ran
  REQUIRE(tally.cancelled.load() > 0);
  REQUIRE(tally.failed_by_input.load() >= 0);
}

TEST_CASE("shutdown racing with submits from outside and inside the pool strands no task",
          "[stress][shutdown]") {
  // Every submit either throws ExecutorShutdownError or returns a future that is done once
  // shutdown(wait) returns: a task accepted after the workers decided to exit would never
  // run (its future would stay pending).
  for (int round = 0; round < 40; ++round) {
    confut::ThreadPoolExecutor ex(2);
    std::mutex accepted_mutex;
    std::vector<confut::Future<int>> accepted;
    std::atomic<int> refused{0};
    std::atomic<bool> go{false};
    auto keep = [&](confut::Future<int> future) {
      std::lock_guard lock(accepted_mutex);
      accepted.push_back(std::move(future));
    };
    std::vector<std::thread> submitters;
    for (int t = 0; t < 3; ++t) {
      submitters.emplace_back([&, t] {
        while (!go.load()) std::this_thread::yield();
        for (int i = 0; i < 400; ++i) {
          try {
            if (t == 0) {
              keep(ex.submit(ident, i));
            } else if (t == 1) {
              // a task with an input: the path that waits before it is queued
              keep(ex.submit([](int x) { return x; }, ex.submit(ident, i)));
            } else {
              // a task that submits from inside the pool, onto its worker's own deque
              keep(ex.submit([&ex, i] {
                try {
                  return ex.submit(ident, i).result();
                } catch (const confut::ExecutorShutdownError&) {
                  return i;
                }
              }));
            }
          } catch (const confut::ExecutorShutdownError&) {
            refused.fetch_add(1);
          }
        }
      });
    }
    go.store(true);
    std::this_thread::sleep_for(std::chrono::microseconds(50 * (round % 8)));
    ex.shutdown(true);
    for (auto& submitter : submitters) submitter.join();
    // Submits that came after shutdown() returned were refused; all accepted ones ran.
    std::lock_guard lock(accepted_mutex);
    for (const auto& future : accepted) {
      REQUIRE(future.done());
      const int value = future.result();
      CHECK(value >= 0);
      CHECK(value < 400);
    }
    CHECK(accepted.size() + static_cast<std::size_t>(refused.load()) == 3 * 400);
  }
}
