#pragma once
// What confut knows about each thread that waits or runs tasks: its parker, the pool it works
// for, the task it is running, and the future it is blocked on (the wait-for graph used to
// detect deadlocks).

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>

#include "../sync/cpu_relax.hpp"
#include "../sync/parker.hpp"
#include "../core/shared_state.hpp"

namespace confut::detail {

#if defined(__SANITIZE_THREAD__)
#define CONFUT_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CONFUT_TSAN 1
#endif
#endif

/// A full memory barrier. ThreadSanitizer does not model atomic_thread_fence (and g++ warns
/// about it), so under TSan a seq_cst read-modify-write stands in for it.
inline void full_fence() noexcept {
#if defined(CONFUT_TSAN)
  static std::atomic<int> barrier{0};
  barrier.fetch_add(0, std::memory_order_seq_cst);
#else
  std::atomic_thread_fence(std::memory_order_seq_cst);
#endif
}

/// What a waiting pool thread asks of its pool.
class Scheduler {
 public:
  /// Runs `awaited` on this thread if it is queued in this pool, else one of its unstarted
  /// inputs queued here. False when there was nothing of it to run.
  virtual bool run_awaited(StateBase& awaited) = 0;
  /// This thread is about to sleep in a wait: the pool lets a spare thread take its place.
  /// Throws confut::Error when `awaited` (untimed) could never run because every thread of
  /// the pool is blocked and the bound on spare threads is reached.
  virtual void begin_blocking(StateBase* awaited, bool timed) = 0;
  /// The wait is over: the thread is back (a spare thread retires once it is not needed).
  virtual void end_blocking() noexcept = 0;

 protected:
  ~Scheduler() = default;
};

/// What a blocked thread waits for: one future, or any one of a set (wait() with
/// FIRST_COMPLETED or FIRST_EXCEPTION, as_completed). The set's array belongs to the waiter
/// and stays valid, with every state in it, for as long as the target is recorded.
struct WaitTarget {
  StateBase* one = nullptr;
  StateBase* const* any = nullptr;
  std::size_t any_count = 0;
  bool empty() const noexcept { return one == nullptr && any_count == 0; }
};

struct ThreadContext {
  void retain() noexcept { refs.fetch_add(1, std::memory_order_relaxed); }
  void release() noexcept {
    if (refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

  std::atomic<std::uint32_t> refs{1};
  Parker parker;
  /// Set on pool threads (workers and spare threads): their waits go through the pool.
  Scheduler* scheduler = nullptr;
  /// The innermost task this thread is running (tasks nest when a waiting thread runs the
  /// task it waits for).
  StateBase* current_task = nullptr;
  /// How many awaited tasks this thread runs nested on its stack.
  unsigned inline_depth = 0;
  /// A pool's spare thread (see ThreadPoolExecutor); read by the pool under its idle lock.
  bool spare = false;
  /// The future (or set of futures) this thread is blocked on; read and written under
  /// wait_graph_mutex().
  WaitTarget waiting_on;
};

/// Guards every ThreadContext::waiting_on and the lifetime of contexts seen through a
/// running task's `running_on`. Taken only on the slow path, before a thread sleeps.
inline std::mutex& wait_graph_mutex() {
  static std::mutex mutex;
  return mutex;
}

struct ThreadContextHolder {
  ThreadContext* context = nullptr;
  ~ThreadContextHolder() {
    if (context == nullptr) return;
    // A deadlock check may be reading this context under the graph lock: let it finish.
    { std::lock_guard lock(wait_graph_mutex()); }
    context->release();
  }
};

inline thread_local ThreadContextHolder this_thread_context_holder;

inline ThreadContext& this_thread_context() {
  auto& holder = this_thread_context_holder;
  if (holder.context == nullptr) holder.context = new ThreadContext;
  return *holder.context;
}

/// A continuation that wakes one thread; holds the thread's context alive until it fires.
struct UnparkOnDone : Continuation {
  explicit UnparkOnDone(ThreadContext& target) : context(&target) {
    context->retain();
    fire = &UnparkOnDone::wake;
  }
  static void wake(Continuation* self, StateBase&) noexcept {
    auto* node = static_cast<UnparkOnDone*>(self);
    node->context->parker.unpark();
    node->context->release();
    delete node;
  }
  ThreadContext* context;
};

}  // namespace confut::detail
