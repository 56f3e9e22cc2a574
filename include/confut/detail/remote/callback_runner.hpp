#pragma once
// The thread that runs the done-callbacks of a dispatcher's futures.

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <utility>

#include "../core/shared_state.hpp"

namespace confut::detail {

/// Runs the done-callbacks of a remote executor's futures on a thread of its own (started with
/// the first one), in the order the dispatcher completed their futures. The dispatcher
/// completes every future and must never wait for user code: a callback may itself wait
/// for the pool (result() of a new task, terminate(), shutdown()).
class CallbackRunner final : public DeferredCallbackSink {
 public:
  CallbackRunner() = default;
  CallbackRunner(const CallbackRunner&) = delete;
  CallbackRunner& operator=(const CallbackRunner&) = delete;
  ~CallbackRunner() { join(); }

  void defer(Continuation* node, StateBase& state) noexcept override {
    state.retain();
    std::lock_guard lock(mutex_);
    queue_.emplace_back(node, &state);
    if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
    ready_.notify_one();
  }

  /// The dispatcher, as it ends: the thread exits once it has run what is queued.
  void finish() {
    std::lock_guard lock(mutex_);
    finishing_ = true;
    ready_.notify_one();
  }

  /// After the dispatcher has ended: waits for the callbacks (not from one of them).
  void join() {
    if (current() == this) return;
    std::lock_guard lock(join_mutex_);
    if (thread_.joinable()) thread_.join();
  }

 private:
  static const CallbackRunner*& current() noexcept {
    static thread_local const CallbackRunner* runner = nullptr;
    return runner;
  }

  void run() {
    current() = this;
    std::unique_lock lock(mutex_);
    while (true) {
      ready_.wait(lock, [&] { return !queue_.empty() || finishing_; });
      if (queue_.empty()) return;
      const auto [node, state] = queue_.front();
      queue_.pop_front();
      lock.unlock();
      node->fire(node, *state);
      state->release();
      lock.lock();
    }
  }

  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<std::pair<Continuation*, StateBase*>> queue_;
  bool finishing_ = false;
  std::thread thread_;
  std::mutex join_mutex_;
};

}  // namespace confut::detail
