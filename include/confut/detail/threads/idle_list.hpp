#pragma once
// The threads of a pool that sleep in their parkers for want of work, and the ways to wake
// them. Sleepers are unparked outside the lock, so each is retained until its unpark is
// done: a woken thread may otherwise exit and free its context under the waker's feet.

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <vector>

#include "../waiting/thread_context.hpp"

namespace confut::detail {

class IdleList {
 public:
  /// Whether a thread sleeps here; read without the lock, so only a hint.
  bool any() const noexcept { return count_.load(std::memory_order_relaxed) > 0; }

  void enter(ThreadContext& context) {
    std::lock_guard lock(mutex_);
    sleepers_.push_back(&context);
    count_.fetch_add(1, std::memory_order_relaxed);
  }

  /// Removes `context` if no waker took it off the list already.
  void leave(ThreadContext& context) {
    std::lock_guard lock(mutex_);
    auto it = std::find(sleepers_.begin(), sleepers_.end(), &context);
    if (it != sleepers_.end()) {
      sleepers_.erase(it);
      count_.fetch_sub(1, std::memory_order_relaxed);
    }
  }

  /// Wakes the thread that went to sleep last.
  void wake_one() {
    ThreadContext* sleeper = nullptr;
    {
      std::lock_guard lock(mutex_);
      if (sleepers_.empty()) return;
      sleeper = sleepers_.back();
      sleepers_.pop_back();
      count_.fetch_sub(1, std::memory_order_relaxed);
      sleeper->retain();
    }
    unpark(sleeper);
  }

  /// Wakes a sleeping worker, not a spare thread.
  void wake_one_worker() {
    ThreadContext* sleeper = nullptr;
    {
      std::lock_guard lock(mutex_);
      auto it = std::find_if(sleepers_.begin(), sleepers_.end(),
                             [](const ThreadContext* c) { return !c->spare; });
      if (it == sleepers_.end()) return;
      sleeper = *it;
      sleepers_.erase(it);
      count_.fetch_sub(1, std::memory_order_relaxed);
      sleeper->retain();
    }
    unpark(sleeper);
  }

  void wake_all() {
    std::vector<ThreadContext*> sleepers;
    {
      std::lock_guard lock(mutex_);
      sleepers.swap(sleepers_);
      count_.store(0, std::memory_order_relaxed);
      for (ThreadContext* sleeper : sleepers) sleeper->retain();
    }
    for (ThreadContext* sleeper : sleepers) unpark(sleeper);
  }

 private:
  static void unpark(ThreadContext* sleeper) {
    sleeper->parker.unpark();
    sleeper->release();
  }

  std::atomic<std::uint32_t> count_{0};
  std::mutex mutex_;
  std::vector<ThreadContext*> sleepers_;
};

}  // namespace confut::detail
