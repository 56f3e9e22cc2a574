// InjectionQueue: the thread pool's queue for tasks submitted from outside it. Submitters
// push onto a lock-free stack, workers take batches from a ring that they refill from it.
// It must hand every accepted task out exactly once and oldest first, share batches among
// workers, and refuse new tasks once closed without losing those it took before.

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include <confut/confut.hpp>

using confut::detail::InjectionQueue;
using confut::detail::State;
using confut::detail::StateBase;

namespace {

/// Tasks to queue, told apart by their id.
struct Tasks {
  std::vector<std::unique_ptr<State<int>>> owned;

  StateBase* make(std::uint64_t id) {
    owned.push_back(std::make_unique<State<int>>());
    owned.back()->id_ = id;
    return owned.back().get();
  }
};

std::vector<std::uint64_t> ids(StateBase* const* tasks, std::size_t count) {
  std::vector<std::uint64_t> result;
  for (std::size_t i = 0; i < count; ++i) result.push_back(tasks[i]->id_);
  return result;
}

}  // namespace

TEST_CASE("InjectionQueue hands tasks out oldest first, a share of the queue per batch",
          "[injection_queue]") {
  InjectionQueue queue;
  Tasks tasks;
  CHECK(queue.empty());
  for (std::uint64_t id = 0; id < 10; ++id) REQUIRE(queue.try_push(tasks.make(id)));
  CHECK_FALSE(queue.empty());
  CHECK(queue.accepted() == 10);

  StateBase* out[64];
  // Shared among 2 workers: 10 / 2 + 1 = 6 of the 10.
  std::size_t taken = queue.pop_batch(out, 32, 2);
  CHECK(ids(out, taken) == std::vector<std::uint64_t>{0, 1, 2, 3, 4, 5});
  // Tasks pushed meanwhile come after the ones already in the ring.
  REQUIRE(queue.try_push(tasks.make(10)));
  taken = queue.pop_batch(out, 32, 1);
  CHECK(ids(out, taken) == std::vector<std::uint64_t>{6, 7, 8, 9, 10});
  CHECK(queue.empty());
  CHECK(queue.pop_batch(out, 32, 1) == 0);

  // `max` bounds a batch; the ring grows past its first size.
  for (std::uint64_t id = 100; id < 300; ++id) REQUIRE(queue.try_push(tasks.make(id)));
  taken = queue.pop_batch(out, 32, 1);
  REQUIRE(taken == 32);
  CHECK(out[0]->id_ == 100);
  CHECK(out[31]->id_ == 131);
  const std::vector<StateBase*> rest = queue.drain();
  REQUIRE(rest.size() == 168);
  CHECK(rest.front()->id_ == 132);
  CHECK(rest.back()->id_ == 299);
  CHECK(queue.empty());
  CHECK(queue.accepted() == 211);
}

TEST_CASE("InjectionQueue refuses new tasks once closed and keeps those it took",
          "[injection_queue]") {
  InjectionQueue queue;
  Tasks tasks;
  for (std::uint64_t id = 0; id < 3; ++id) REQUIRE(queue.try_push(tasks.make(id)));
  CHECK_FALSE(queue.closed());
  queue.close();
  CHECK(queue.closed());
  CHECK_FALSE(queue.try_push(tasks.make(99)));
  CHECK(queue.accepted() == 3);
  // A task accepted earlier (its inputs just finished) is still queued after the close.
  queue.push(tasks.make(3));
  CHECK(queue.closed());
  queue.close();  // idempotent
  const std::vector<StateBase*> drained = queue.drain();
  REQUIRE(drained.size() == 4);
  for (std::uint64_t id = 0; id < 4; ++id) CHECK(drained[id]->id_ == id);
  CHECK(queue.empty());
  CHECK(queue.closed());
}

TEST_CASE("InjectionQueue under load: 4 submitters, 3 workers and a close in the middle",
          "[injection_queue][stress]") {
  constexpr int kProducers = 4;
  constexpr int kConsumers = 3;
  constexpr std::uint64_t kPerProducer = 20'000;
  InjectionQueue queue;
  std::vector<Tasks> tasks(kProducers);
  for (int p = 0; p < kProducers; ++p) {
    for (std::uint64_t i = 0; i < kPerProducer; ++i) tasks[p].make(p * kPerProducer + i);
  }
  std::vector<std::uint64_t> pushed(kProducers, 0);
  std::vector<std::vector<std::uint64_t>> consumed(kConsumers);
  std::atomic<int> producers_done{0};
  std::atomic<std::uint64_t> total_pushed{0};

  std::vector<std::thread> threads;
  for (int p = 0; p < kProducers; ++p) {
    threads.emplace_back([&, p] {
      for (auto& task : tasks[p].owned) {
        if (!queue.try_push(task.get())) break;  // closed: every later push fails too
        ++pushed[p];
        // Close once about half of all tasks are in (from whichever producer gets there).
        if (total_pushed.fetch_add(1) + 1 == kProducers * kPerProducer / 2) queue.close();
      }
      producers_done.fetch_add(1);
    });
  }
  for (int c = 0; c < kConsumers; ++c) {
    threads.emplace_back([&, c] {
      StateBase* out[32];
      while (true) {
        const bool last_look = producers_done.load() == kProducers;
        const std::size_t taken = queue.pop_batch(out, 32, kConsumers);
        for (std::size_t i = 0; i < taken; ++i) consumed[c].push_back(out[i]->id_);
        if (taken == 0 && last_look) break;
      }
    });
  }
  for (auto& thread : threads) thread.join();

  CHECK(queue.closed());
  CHECK(queue.empty());
  std::uint64_t accepted = 0;
  for (int p = 0; p < kProducers; ++p) accepted += pushed[p];
  CHECK(queue.accepted() == accepted);
  CHECK(accepted >= kProducers * kPerProducer / 2);
  CHECK(accepted < kProducers * kPerProducer);

  // Every accepted task exactly once; each submitter's tasks in its order, per worker.
  std::vector<std::uint64_t> all;
  for (int c = 0; c < kConsumers; ++c) {
    std::vector<std::uint64_t> last(kProducers, 0);
    std::vector<bool> seen(kProducers, false);
    bool in_order = true;
    for (std::uint64_t id : consumed[c]) {
      const auto p = static_cast<std::size_t>(id / kPerProducer);
      if (seen[p] && id <= last[p]) in_order = false;
      seen[p] = true;
      last[p] = id;
      all.push_back(id);
    }
    CHECK(in_order);
  }
  std::sort(all.begin(), all.end());
  std::vector<std::uint64_t> expected;
  for (int p = 0; p < kProducers; ++p) {
    for (std::uint64_t i = 0; i < pushed[p]; ++i) expected.push_back(p * kPerProducer + i);
  }
  CHECK(all == expected);
}
