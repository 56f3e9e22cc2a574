#pragma once
// A transport for tests of the dispatcher (include/confut/detail/remote/transport.hpp):
// threads of this process act as workers, through the same serve step a worker process runs
// (detail::serve_request), so claims, take-back, rebalancing, requeues after a death,
// timeouts and shutdown races can be tested without forking. Tests drive faults through its
// hooks: kill(w) ends worker w at once (as SIGKILL would: its running call is abandoned and
// its reply, if any, dropped), pause(w)/resume(w) stop and restart its taking of requests
// (as SIGSTOP would), fail_next_start() makes start() fail.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <confut/detail/remote/claims.hpp>
#include <confut/detail/remote/protocol.hpp>
#include <confut/detail/remote/serve.hpp>
#include <confut/detail/remote/transport.hpp>
#include <confut/serialization.hpp>

namespace confut::testing {

class LoopbackTransport {
 public:
  struct Options {
    bool time_calls = false;  // as with a task_timeout: workers note each call's start
  };

  LoopbackTransport(std::size_t workers, Options options)
      : options_(options), slots_(workers) {}
  LoopbackTransport(const LoopbackTransport&) = delete;
  LoopbackTransport& operator=(const LoopbackTransport&) = delete;
  ~LoopbackTransport() { join_threads(); }

  std::size_t worker_count() const noexcept { return slots_.size(); }

  std::string start(std::size_t index) {
    std::lock_guard lock(mutex_);
    if (fail_next_start_) {
      fail_next_start_ = false;
      return "the loopback transport was told to fail this start";
    }
    auto worker = std::make_shared<Worker>();
    worker->index = index;
    worker->incarnation = ++incarnations_;
    worker->time_calls = options_.time_calls;
    slots_[index] = worker;
    events_.push_back(Event{Event::started, index, worker->incarnation, {}});
    threads_.emplace_back([this, worker] { run(*worker); });
    ++starts_;
    wake_locked();
    return {};
  }

  detail::ClaimBoard& claims(std::size_t index) noexcept {
    std::lock_guard lock(mutex_);
    return slots_[index]->claims;
  }

  bool send(std::size_t index, std::vector<std::byte>& frame) {
    std::lock_guard lock(mutex_);
    Worker& worker = *slots_[index];
    worker.requests.emplace_back(frame.begin() + detail::kFrameHeader, frame.end());
    worker.ready.notify_one();
    return false;
  }

  void flush() {}

  template <detail::TransportEvents Sink>
  bool poll(Sink& sink) {
    std::deque<Event> events;
    {
      std::lock_guard lock(mutex_);
      events.swap(events_);
    }
    for (Event& event : events) deliver(event, sink);
    return !events.empty();
  }

  bool replies_waiting() const {
    std::lock_guard lock(mutex_);
    return !events_.empty();
  }

  template <detail::TransportEvents Sink>
  void wait(Sink& sink, int timeout_ms) {
    {
      std::unique_lock lock(mutex_);
      const auto ready = [&] { return !events_.empty() || woken_; };
      if (timeout_ms < 0) {
        wakeup_.wait(lock, ready);
      } else {
        wakeup_.wait_for(lock, std::chrono::milliseconds(timeout_ms), ready);
      }
      woken_ = false;
    }
    poll(sink);
  }

  void wake() {
    std::lock_guard lock(mutex_);
    wake_locked();
  }

  /// Ends worker `index` at once, as SIGKILL would (also a test hook).
  bool kill(std::size_t index) {
    std::lock_guard lock(mutex_);
    const std::shared_ptr<Worker>& worker = slots_[index];
    if (!worker || worker->dead) return false;
    worker->dead = true;
    worker->ready.notify_all();
    detail::WorkerEnd end;
    end.signal = SIGKILL;
    end.how = "killed by signal 9 (SIGKILL)";
    events_.push_back(Event{Event::gone, index, worker->incarnation, {}, std::move(end)});
    ++kills_;
    wake_locked();
    return true;
  }

  bool requests_drained(std::size_t index) const {
    std::lock_guard lock(mutex_);
    return slots_[index]->requests.empty();
  }

  std::int64_t call_started_ns(std::size_t index) const noexcept {
    std::lock_guard lock(mutex_);
    return slots_[index]->call_clock.load(std::memory_order_acquire);
  }

  std::string label(std::size_t index) const { return "loopback " + std::to_string(index); }

  void close() {
    {
      std::lock_guard lock(mutex_);
      closed_ = true;
      for (auto& worker : slots_) {
        if (worker) worker->ready.notify_all();
      }
    }
    join_threads();
  }

  // ---- test hooks (any thread) ----

  void pause(std::size_t index) {
    std::lock_guard lock(mutex_);
    slots_[index]->paused = true;
  }
  void resume(std::size_t index) {
    std::lock_guard lock(mutex_);
    slots_[index]->paused = false;
    slots_[index]->ready.notify_all();
  }
  void fail_next_start() {
    std::lock_guard lock(mutex_);
    fail_next_start_ = true;
  }
  /// How many requests worker `index` has taken so far (its current incarnation).
  std::uint64_t taken(std::size_t index) const {
    std::lock_guard lock(mutex_);
    return slots_[index]->taken;
  }
  std::size_t starts() const {
    std::lock_guard lock(mutex_);
    return starts_;
  }
  std::size_t kills() const {
    std::lock_guard lock(mutex_);
    return kills_;
  }

 private:
  struct Worker {
    std::size_t index = 0;
    std::uint64_t incarnation = 0;
    bool time_calls = false;
    detail::ClaimBoard claims;
    std::atomic<std::int64_t> call_clock{0};
    std::deque<std::vector<std::byte>> requests;  // guarded by the transport's mutex
    std::condition_variable ready;
    bool paused = false;
    bool dead = false;
    std::uint64_t taken = 0;
  };

  struct Event {
    enum Kind { started, reply, gone } kind;
    std::size_t worker;
    std::uint64_t incarnation;
    std::vector<std::byte> bytes;
    detail::WorkerEnd end{};
  };

  void wake_locked() {
    woken_ = true;
    wakeup_.notify_all();
  }

  template <class Sink>
  void deliver(Event& event, Sink& sink) {
    {
      std::lock_guard lock(mutex_);
      // A reply a killed worker pushed before its death was reported arrives before the
      // death; nothing of an earlier incarnation arrives after it.
      if (slots_[event.worker]->incarnation != event.incarnation) return;
    }
    switch (event.kind) {
      case Event::started: sink.worker_started(event.worker); break;
      case Event::reply: sink.reply(event.worker, event.bytes.data(), event.bytes.size()); break;
      case Event::gone: sink.worker_gone(event.worker, std::move(event.end)); break;
    }
  }

  /// A worker thread: what a worker process's main does, over a queue instead of a ring.
  void run(Worker& worker) {
    if (worker.time_calls) detail::worker_call_clock() = &worker.call_clock;
    WireWriter outbox;
    detail::append_ready(outbox);
    push_reply(worker, outbox);
    std::uint64_t request = 0;
    while (true) {
      std::vector<std::byte> message;
      {
        std::unique_lock lock(mutex_);
        worker.ready.wait(lock, [&] {
          return worker.dead || closed_ || (!worker.paused && !worker.requests.empty());
        });
        if (worker.dead || closed_) break;
        message = std::move(worker.requests.front());
        worker.requests.pop_front();
        ++worker.taken;
      }
      const detail::Served served =
          detail::serve_request(message.data(), message.size(), request++, worker.claims, outbox);
      if (served != detail::Served::skipped) push_reply(worker, outbox);
    }
    detail::worker_call_clock() = nullptr;
  }

  void push_reply(Worker& worker, WireWriter& outbox) {
    std::lock_guard lock(mutex_);
    if (!worker.dead) {
      events_.push_back(Event{Event::reply, worker.index, worker.incarnation,
                              std::vector<std::byte>(outbox.buffer().begin() + detail::kFrameHeader,
                                                     outbox.buffer().end())});
      wake_locked();
    }
    outbox.clear();
  }

  void join_threads() {
    std::vector<std::thread> threads;
    {
      std::lock_guard lock(mutex_);
      threads.swap(threads_);
    }
    for (std::thread& thread : threads) thread.join();
  }

  const Options options_;
  mutable std::mutex mutex_;
  std::condition_variable wakeup_;
  bool woken_ = false;
  bool closed_ = false;
  bool fail_next_start_ = false;
  std::vector<std::shared_ptr<Worker>> slots_;
  std::deque<Event> events_;
  std::vector<std::thread> threads_;
  std::uint64_t incarnations_ = 0;
  std::size_t starts_ = 0;
  std::size_t kills_ = 0;
};

static_assert(detail::Transport<LoopbackTransport>);

}  // namespace confut::testing
