#pragma once
// How a thread waits for futures. A pool thread first runs the awaited task itself when it is
// still queued in its pool (or that task's unstarted inputs), and nothing else; then it
// sleeps while a spare thread takes its place in the pool (compensation, see
// ThreadPoolExecutor). Other threads spin briefly, then sleep. Before a thread that runs a
// task sleeps on a single future it records that edge in the wait-for graph and walks the
// graph: a walk that comes back to itself is a deadlock.

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "../errors.hpp"
#include "adaptive_spin.hpp"
#include "shared_state.hpp"
#include "spin_wait.hpp"
#include "thread_context.hpp"

namespace confut::detail {

using Clock = std::chrono::steady_clock;
using Deadline = std::optional<Clock::time_point>;

template <class Rep, class Period>
Deadline deadline_after(std::chrono::duration<Rep, Period> timeout) {
  // Clamp huge timeouts so that now + timeout cannot overflow.
  constexpr auto kForever = std::chrono::hours(24 * 365 * 100);
  if (timeout > kForever) return std::nullopt;
  return Clock::now() + std::chrono::duration_cast<Clock::duration>(
                            std::chrono::duration<double, std::nano>(timeout));
}

/// A waiting thread spins at most this long before sleeping: a kernel wake-up costs
/// 10-20 us on a VM, a hand-off between spinning threads well under one. How long it really
/// spins adapts to how long its recent waits took (adaptive_spin.hpp).
inline constexpr auto kSpinBeforeSleep = std::chrono::microseconds(20);
/// A pool thread runs the task it waits for on its own stack (and so on, nested) at most
/// this deep; past it, it sleeps and a spare thread runs the task on a fresh stack. 32 levels
/// take well under 1 MiB of stack even under sanitizers.
inline constexpr unsigned kMaxInlineDepth = 32;

/// Walks the wait-for graph from `target`: the task behind it runs on some thread, which may
/// itself wait for a future, and so on. Returns the tasks on the way when the walk leads back
/// to a task running on `self` (a cycle), else nothing. Caller holds wait_graph_mutex().
inline std::vector<StateBase*> find_wait_cycle(const ThreadContext& self, StateBase* target) {
  std::vector<StateBase*> chain;
  StateBase* state = target;
  for (int hops = 0; hops < 64 && state != nullptr; ++hops) {
    if (state->code() != kRunning) return {};
    ThreadContext* runner = state->running_on.load(std::memory_order_acquire);
    if (runner == nullptr) return {};
    chain.push_back(state);
    if (runner == &self) return chain;
    state = runner->waiting_on;
  }
  return {};
}

/// Records what `context` is blocked on; throws DeadlockError when that edge closes a cycle.
inline void set_waiting_on(ThreadContext& context, StateBase* target) {
  std::lock_guard lock(wait_graph_mutex());
  const std::vector<StateBase*> cycle = find_wait_cycle(context, target);
  if (!cycle.empty()) {
    const std::string waiter =
        context.current_task != nullptr ? context.current_task->describe() : "a thread";
    // The chain ends at a task running on this thread: the waiter itself, or a task further
    // out on its stack that the waiter was run inside.
    std::string message = "deadlock: " + waiter;
    for (StateBase* state : cycle) message += " waits for " + state->describe() + ", which";
    message += cycle.back() == context.current_task ? " is the waiter" : " waits for " + waiter;
    message += "; none of them can finish";
    throw DeadlockError(message);
  }
  context.waiting_on = target;
}

/// Restores the thread's previous wait-for edge when a wait ends (also by exception).
class WaitEdge {
 public:
  explicit WaitEdge(ThreadContext& context) : context_(context) {}
  WaitEdge(const WaitEdge&) = delete;
  WaitEdge& operator=(const WaitEdge&) = delete;
  void record(StateBase* target) {
    {
      std::lock_guard lock(wait_graph_mutex());
      previous_ = context_.waiting_on;
    }
    set_waiting_on(context_, target);
    recorded_ = true;
  }
  bool recorded() const { return recorded_; }
  ~WaitEdge() {
    if (!recorded_) return;
    std::lock_guard lock(wait_graph_mutex());
    context_.waiting_on = previous_;
  }

 private:
  ThreadContext& context_;
  StateBase* previous_ = nullptr;
  bool recorded_ = false;
};

/// This thread's spin limit for its waits.
inline AdaptiveSpin& waiter_spin() noexcept {
  static thread_local AdaptiveSpin spin(kSpinBeforeSleep);
  return spin;
}

/// Tells the pool that this thread sleeps in a wait, for as long as it exists.
class BlockingScope {
 public:
  BlockingScope(Scheduler* scheduler, StateBase* awaited, bool timed) : scheduler_(scheduler) {
    if (scheduler_ != nullptr) scheduler_->begin_blocking(awaited, timed);  // may throw
  }
  BlockingScope(const BlockingScope&) = delete;
  BlockingScope& operator=(const BlockingScope&) = delete;
  ~BlockingScope() {
    if (scheduler_ != nullptr) scheduler_->end_blocking();
  }

 private:
  Scheduler* scheduler_;
};

/// The sleeping part of block_until (after any spin).
template <class Ready>
bool wait_asleep(Ready& ready, const Deadline& deadline, StateBase* awaited,
                 ThreadContext& context, Scheduler* scheduler) {
  WaitEdge edge(context);
  // Only a thread that runs a task can close a cycle of waits: others skip the graph.
  if (awaited != nullptr && context.current_task != nullptr) {
    edge.record(awaited);  // may throw DeadlockError
    if (ready()) return true;  // the state may have moved on meanwhile
  }
  BlockingScope blocking(scheduler, awaited, deadline.has_value());
  while (!ready()) {
    if (!deadline) {
      context.parker.park();
    } else if (Clock::now() >= *deadline) {
      return false;
    } else {
      context.parker.park_until(*deadline);
    }
  }
  return true;
}

/// Blocks until ready() is true or the deadline passes (returns false then). The caller has
/// arranged for the thread's parker to be unparked whenever ready() may have changed.
/// `awaited`, when the wait is for one future, lets a pool thread run that very task and
/// lets the deadlock check know the edge. May throw DeadlockError, and on a pool thread
/// confut::Error past the bound on spare threads (see ThreadPoolExecutor).
template <class Ready>
bool block_until(Ready&& ready, const Deadline& deadline, StateBase* awaited) {
  if (ready()) return true;
  ThreadContext& context = this_thread_context();
  Scheduler* const scheduler = context.scheduler;
  // A pool thread runs the awaited task (or its inputs) itself, and nothing else; only in an
  // untimed wait: a timed wait must return by its deadline, and the task could take longer.
  if (scheduler != nullptr && awaited != nullptr && !deadline &&
      context.inline_depth < kMaxInlineDepth) {
    while (!ready() && scheduler->run_awaited(*awaited)) {
    }
    if (ready()) return true;
  }
  AdaptiveSpin& spin = waiter_spin();
  const auto start = Clock::now();
  auto spin_end = start + spin.limit();
  if (deadline && *deadline < spin_end) spin_end = *deadline;
  if (spin_until(ready, spin_end, SpinYield::never)) {
    spin.record(std::chrono::nanoseconds(0));
    return true;
  }
  const bool done = wait_asleep(ready, deadline, awaited, context, scheduler);
  spin.record(Clock::now() - start);
  return done;
}

/// Waits for one state; false on timeout.
inline bool wait_for_state(StateBase& state, const Deadline& deadline) {
  if (state.done()) return true;
  ThreadContext& context = this_thread_context();
  state.add_continuation(new UnparkOnDone(context));
  return block_until([&] { return state.done(); }, deadline, &state);
}

}  // namespace confut::detail
