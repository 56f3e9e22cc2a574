#pragma once
// How a thread waits for futures. A pool thread first runs the awaited task itself when it is
// still queued in its pool (or that task's unstarted inputs), and nothing else; then it
// sleeps while a spare thread takes its place in the pool (compensation, see
// ThreadPoolExecutor). Other threads spin briefly, then sleep. Before a thread that runs a
// task sleeps on a future (or on any of a set of them) it records that edge in the wait-for
// graph and walks the graph: a walk that finds only blocked threads and comes back to itself
// is a deadlock.

#include <chrono>
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "../../errors.hpp"
#include "../sync/adaptive_spin.hpp"
#include "../core/shared_state.hpp"
#include "../sync/spin_wait.hpp"
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

/// A walk of the wait-for graph looks at most this many tasks away from the waiter, and at
/// most kMaxWaitNodes tasks in all; past either it gives up (reports no cycle).
inline constexpr int kMaxWaitHops = 64;
inline constexpr std::size_t kMaxWaitNodes = 256;

/// Walks the wait-for graph from `target`: the task behind each awaited future runs on some
/// thread, which may itself wait for a future, or for any of a set of them, and so on. The
/// wait would never end when every task so reached runs on a blocked thread and the walk
/// comes back to a task running on `self` (a thread waiting for any of a set is stuck only if
/// every future of the set is). Returns then the tasks on a shortest way back, else nothing.
/// Caller holds wait_graph_mutex().
inline std::vector<const StateBase*> find_wait_cycle(const ThreadContext& self,
                                                     const WaitTarget& target) {
  constexpr std::size_t kNone = static_cast<std::size_t>(-1);
  struct Visit {
    const StateBase* state;
    std::size_t parent;  // the visit whose thread waits for this one, or kNone
    int hops;
  };
  std::vector<Visit> seen;  // breadth first; each task once
  const auto add = [&](const WaitTarget& waited, std::size_t parent, int hops) {
    const auto add_one = [&](const StateBase* state) {
      for (const Visit& visit : seen) {
        if (visit.state == state) return true;
      }
      if (hops >= kMaxWaitHops || seen.size() == kMaxWaitNodes) return false;
      seen.push_back({state, parent, hops});
      return true;
    };
    if (waited.one != nullptr) return add_one(waited.one);
    for (std::size_t i = 0; i < waited.any_count; ++i) {
      if (!add_one(waited.any[i])) return false;
    }
    return true;
  };
  if (!add(target, kNone, 0)) return {};
  std::size_t back_on_self = kNone;
  for (std::size_t i = 0; i < seen.size(); ++i) {
    const StateBase* state = seen[i].state;
    if (state->code() != kRunning) return {};  // done, or it can still run
    const ThreadContext* runner = state->running_on.load(std::memory_order_acquire);
    if (runner == nullptr) return {};
    if (runner == &self) {
      if (back_on_self == kNone) back_on_self = i;
      continue;
    }
    if (runner->waiting_on.empty()) return {};  // that thread is not blocked
    if (!add(runner->waiting_on, i, seen[i].hops + 1)) return {};
  }
  if (back_on_self == kNone) return {};
  std::vector<const StateBase*> chain;
  for (std::size_t i = back_on_self; i != kNone; i = seen[i].parent) chain.push_back(seen[i].state);
  return {chain.rbegin(), chain.rend()};
}

/// "waits for X", or for a set "waits for any of [X, Y], all blocked, among them X".
inline std::string describe_wait(const WaitTarget& waited, const StateBase& through) {
  if (waited.one != nullptr || waited.any_count <= 1) return "waits for " + through.describe();
  constexpr std::size_t kMaxNamed = 8;
  std::string text = "waits for any of [";
  for (std::size_t i = 0; i < waited.any_count && i < kMaxNamed; ++i) {
    if (i > 0) text += ", ";
    text += waited.any[i]->describe();
  }
  if (waited.any_count > kMaxNamed) {
    text += ", and " + std::to_string(waited.any_count - kMaxNamed) + " more";
  }
  return text + "], all blocked, among them " + through.describe();
}

/// Records what `context` is blocked on; throws DeadlockError when that edge closes a cycle.
inline void set_waiting_on(ThreadContext& context, const WaitTarget& target) {
  std::lock_guard lock(wait_graph_mutex());
  const std::vector<const StateBase*> cycle = find_wait_cycle(context, target);
  if (!cycle.empty()) {
    const std::string waiter =
        context.current_task != nullptr ? context.current_task->describe() : "a thread";
    // The chain ends at a task running on this thread: the waiter itself, or a task further
    // out on its stack that the waiter was run inside.
    std::string message = "deadlock: " + waiter;
    const WaitTarget* waited = &target;
    for (const StateBase* state : cycle) {
      // Appended piece by piece: `" " + std::string&&` trips g++ 12's -Wrestrict at -O3.
      message += ' ';
      message += describe_wait(*waited, *state);
      message += ", which";
      waited = &state->running_on.load(std::memory_order_acquire)->waiting_on;
    }
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
  void record(const WaitTarget& target) {
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
  WaitTarget previous_;
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
                 std::span<StateBase* const> any, ThreadContext& context,
                 Scheduler* scheduler) {
  WaitEdge edge(context);
  // Only a thread that runs a task can close a cycle of waits: others skip the graph.
  if ((awaited != nullptr || !any.empty()) && context.current_task != nullptr) {
    WaitTarget target;
    if (awaited != nullptr) {
      target.one = awaited;
    } else {
      target.any = any.data();
      target.any_count = any.size();
    }
    edge.record(target);  // may throw DeadlockError
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
/// lets the deadlock check know the edge. A wait for any of several futures passes instead
/// those still pending in `any` (they must stay alive and the span valid during the call),
/// for the deadlock check. May throw DeadlockError, and on a pool thread confut::Error past
/// the bound on spare threads (see ThreadPoolExecutor).
template <class Ready>
bool block_until(Ready&& ready, const Deadline& deadline, StateBase* awaited,
                 std::span<StateBase* const> any = {}) {
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
  const bool done = wait_asleep(ready, deadline, awaited, any, context, scheduler);
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
