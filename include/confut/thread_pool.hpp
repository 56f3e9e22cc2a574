#pragma once
/// @file thread_pool.hpp
/// `ThreadPoolExecutor`: runs tasks on a fixed set of worker threads, like Python's
/// `concurrent.futures.ThreadPoolExecutor`, with work stealing and futures as arguments.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <latch>
#include <cstdio>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#if __has_include(<pthread.h>)
#include <pthread.h>
#endif

#include "dependencies.hpp"
#include "detail/core/executor_core.hpp"
#include "detail/core/task.hpp"
#include "detail/core/unshared_counter.hpp"
#include "detail/report/recorder.hpp"
#include "detail/threads/idle_list.hpp"
#include "detail/threads/injection_queue.hpp"
#include "detail/threads/work_stealing_deque.hpp"
#include "detail/threads/worker_thread_counters.hpp"
#include "detail/waiting/blocking.hpp"
#include "detail/waiting/thread_context.hpp"
#include "errors.hpp"
#include "future.hpp"
#include "map.hpp"
#include "stats.hpp"
#include "task_stream.hpp"

namespace confut {

/// Options for ThreadPoolExecutor, all optional:
/// @code
/// confut::ThreadPoolExecutor ex({.max_workers = 4, .thread_name_prefix = "io",
///                                .initializer = [] { open_connection(); }});
/// @endcode
struct ThreadPoolOptions {
  /// Number of worker threads; 0 means one per hardware thread.
  std::size_t max_workers = 0;
  /// Workers are named "<prefix>-<index>" (visible in debuggers and `top -H`).
  std::string thread_name_prefix = "confut";
  /// Runs once in every worker before it takes tasks. If it throws, the pool is broken:
  /// pending tasks fail and later submits throw BrokenExecutor.
  std::function<void()> initializer{};
  /// Keeps the counters behind stats(). They cost a few nanoseconds per task; turning
  /// them off exists for measuring that cost (stats() then reports only submits).
  bool statistics = true;
};

/// A pool of worker threads. `submit(f, args...)` returns a Future at once; arguments that are
/// futures are replaced by their values, and the task runs only once they are done.
///
/// Scheduling: each worker owns a work-stealing deque (tasks submitted from inside a task go
/// there); submits from other threads go through a shared queue. Idle workers spin briefly,
/// then sleep.
///
/// Waiting inside a task: the waiting thread runs only the task it waits for, if that is still
/// queued here (or its unstarted inputs), and only in an untimed wait. Otherwise it sleeps,
/// and a spare thread takes its place (compensation), so that `max_workers` threads keep
/// running tasks: nested waits do not deadlock and a blocked task never stalls the others.
/// At most kMaxSpareThreads spare threads exist at once; an idle spare thread retires once
/// the blocked threads are back. A real cycle of waits throws DeadlockError.
///
/// Thread safety: every member may be called from any thread, including from tasks.
class ThreadPoolExecutor final : public detail::MapMethods<ThreadPoolExecutor>,
                                 private detail::Scheduler,
                                 private detail::ReadySink {
 public:
  explicit ThreadPoolExecutor(std::size_t max_workers = 0)
      : ThreadPoolExecutor(make_options(max_workers)) {}

  /// Throws std::invalid_argument when `max_workers` is above kMaxWorkers (a negative count
  /// converted to std::size_t is), and std::system_error when a worker thread cannot be
  /// started (no thread is left running then).
  explicit ThreadPoolExecutor(ThreadPoolOptions options)
      : options_(std::move(options)),
        core_("ThreadPoolExecutor", options_.max_workers),
        worker_count_(core_.worker_count()),
        slot_capacity_(worker_count_ + kMaxSpareThreads),
        workers_(new std::unique_ptr<Worker>[slot_capacity_]),
        workers_ready_(static_cast<std::ptrdiff_t>(worker_count_)),
        statistics_(options_.statistics) {
    for (std::size_t i = 0; i < worker_count_; ++i) {
      workers_[i] = std::make_unique<Worker>();
      workers_[i]->index = i;
      core_.recorder().set_worker_label(i, thread_label(i));
    }
    slot_count_.store(worker_count_, std::memory_order_relaxed);
    unblocked_.store(worker_count_, std::memory_order_relaxed);
    start_workers();
    core_.join_hub([this] { return stats(); });
  }

  ThreadPoolExecutor(const ThreadPoolExecutor&) = delete;
  ThreadPoolExecutor& operator=(const ThreadPoolExecutor&) = delete;

  /// Shuts down and waits for every submitted task to finish. Destroying the executor from
  /// one of its own tasks or done-callbacks cannot wait for that very task: it terminates the
  /// program with a message (shut down with wait=false there, and destroy it elsewhere).
  ~ThreadPoolExecutor() {
    if (on_pool_thread()) {
      std::fputs("confut: a ThreadPoolExecutor was destroyed from one of its own tasks or "
                 "done-callbacks, which cannot wait for themselves; terminating\n",
                 stderr);
      std::terminate();
    }
    shutdown(true, false);
    core_.leave_hub();
  }

  /// The most worker threads a pool may have; a larger count is a mistake, such as -1.
  static constexpr std::size_t kMaxWorkers = detail::ExecutorCore::kMaxWorkers;
  /// The most spare threads a pool runs at once while its threads are blocked in waits
  /// (see the class comment). With kMaxInlineDepth levels run inline on each thread, a chain
  /// of nested waits may be about (max_workers + 256) * 33 levels deep (8,000 and more);
  /// past that, the wait that would never be served throws confut::Error. Spare threads have
  /// the default stack size, which costs address space, not memory, until it is used.
  static constexpr std::size_t kMaxSpareThreads = 256;

  /// Schedules `fn(args...)` and returns its future at once. Throws ExecutorShutdownError
  /// after shutdown() and BrokenExecutor once the pool is broken.
  template <class F, class... Args>
    requires std::invocable<F&&, detail::unwrapped_argument_t<std::decay_t<Args>>...>
  Future<detail::task_result_t<F, Args...>> submit(F&& fn, Args&&... args) {
    using R = detail::task_result_t<F, Args...>;
    using TaskType = detail::Task<R, std::decay_t<F>, std::decay_t<Args>...>;
    if constexpr (detail::any_future_argument<std::decay_t<Args>...>) {
      return submit_with_inputs<R, TaskType>(std::forward<F>(fn), std::forward<Args>(args)...);
    } else {
      // The fast path: no input to wait for, so the task goes straight to a queue, which
      // also decides whether it is still accepted (see InjectionQueue).
      Worker* const worker = current_worker();
      if (worker != nullptr) throw_unless_accepting();  // its worker runs it: nothing to race
      TaskType* task = new_task<TaskType>(std::forward<F>(fn), std::forward<Args>(args)...);
      Future<R> future(detail::StateRef<detail::State<R>>::adopt(task));
      task->set_queued_before_sharing();
      if (worker != nullptr) {
        detail::increment_unshared(worker->counters.submitted);  // before a thief can count it run
        worker->deque.push(task);
      } else if (!injection_.try_push(task)) {
        task->release();  // the pool's reference; the future's goes with the exception
        throw_not_accepting();
      }
      notify_work();
      return future;
    }
  }

  /// Stops accepting tasks. With `wait`, returns once every accepted task has finished and
  /// the workers have exited. With `cancel_futures`, tasks that have not started are
  /// cancelled. Idempotent; the destructor calls shutdown(true).
  ///
  /// From inside one of the pool's own tasks (or a done-callback running on its thread),
  /// shutdown(wait=true) would wait for itself: it throws confut::Error and changes nothing;
  /// shutdown(wait=false) works there.
  void shutdown(bool wait = true, bool cancel_futures = false) {
    if (wait && on_pool_thread()) {
      throw Error("ThreadPoolExecutor::shutdown(wait=true) was called from one of its own "
                  "tasks or done-callbacks, which cannot wait for themselves; call "
                  "shutdown(false) there");
    }
    std::uint8_t expected = kAccepting;
    lifecycle_.compare_exchange_strong(expected, kShutDown, std::memory_order_seq_cst);
    injection_.close();
    if (cancel_futures) {
      cancelling_.store(true, std::memory_order_seq_cst);
      for (detail::StateBase* task : injection_.drain()) {
        task->cancel();
        if (task->code() == detail::kCancelled) note_not_run(*task);
        task->release();
      }
    }
    wake_all();
    wake_reserve();
    if (wait) join_workers();
  }

  std::size_t max_workers() const noexcept { return worker_count_; }

  /// "ThreadPoolExecutor 2": this executor's name in statistics, traces and reports.
  const std::string& name() const noexcept { return core_.name(); }

  /// Task counts by state and each worker's busy time, read without stopping anyone. There
  /// is one entry per worker (max_workers); tasks run by spare threads (see the class
  /// comment) count in the totals, not in any worker's entry.
  ExecutorStats stats() const {
    ExecutorStats stats = core_.stats_frame();
    std::uint64_t started = 0;
    const std::int64_t now_ns = detail::steady_nanoseconds(detail::Clock::now());
    for (std::size_t i = 0; i < worker_count_; ++i) {
      const detail::WorkerThreadCounters& counters = workers_[i]->counters;
      WorkerStats worker;
      worker.label = thread_label(i);
      const std::uint64_t finished = counters.finished.load(std::memory_order_relaxed);
      const std::uint64_t failed = counters.failed.load(std::memory_order_relaxed);
      worker.tasks = finished + failed;
      worker.busy = std::chrono::nanoseconds(counters.busy_until(now_ns));
      stats.finished += finished;
      stats.failed += failed;
      started += counters.started.load(std::memory_order_relaxed);
      stats.workers.push_back(std::move(worker));
    }
    for (std::size_t i = worker_count_; i < slot_count_.load(std::memory_order_acquire); ++i) {
      const detail::WorkerThreadCounters& counters = workers_[i]->counters;
      stats.finished += counters.finished.load(std::memory_order_relaxed);
      stats.failed += counters.failed.load(std::memory_order_relaxed);
      started += counters.started.load(std::memory_order_relaxed);
    }
    const std::uint64_t ended = stats.finished + stats.failed;
    stats.running = started > ended ? started - ended : 0;
    stats.failed += failed_unrun_.load(std::memory_order_relaxed);
    stats.cancelled = cancelled_.load(std::memory_order_relaxed);
    stats.waiting = waiting_tasks_.load(std::memory_order_relaxed);
    // Read last: every task counted above was submitted before.
    stats.submitted = injection_.accepted() +
                      submitted_with_inputs_.load(std::memory_order_relaxed);
    const std::size_t slots = slot_count_.load(std::memory_order_acquire);
    for (std::size_t i = 0; i < slots; ++i) {
      stats.submitted += workers_[i]->counters.submitted.load(std::memory_order_relaxed);
    }
    stats.derive_queued();
    return stats;
  }

  /// Starts recording the task stream: every task's submit, start and end time, worker,
  /// name and outcome. Off by default; see the README for what it costs while on.
  void start_recording() { core_.start_recording(); }

  /// Stops recording and returns what was recorded since start_recording() (tasks that
  /// ended since then). Without a recording, returns an empty stream.
  TaskStream stop_recording() { return core_.stop_recording(); }

 private:
  static constexpr std::uint8_t kAccepting = 0;
  static constexpr std::uint8_t kShutDown = 1;
  static constexpr std::uint8_t kBroken = 2;
  static constexpr std::size_t kBatch = 32;
  static constexpr auto kSpinBeforeSleep = std::chrono::microseconds(50);

  static ThreadPoolOptions make_options(std::size_t max_workers) {
    ThreadPoolOptions options;
    options.max_workers = max_workers;
    return options;
  }

  /// A worker, or a slot for spare threads (index >= max_workers); a spare thread that
  /// retires leaves its slot (with an empty deque) to the next one.
  struct Worker {
    // On lines of their own: thieves read the deque's indices, stats() reads these.
    alignas(64) detail::WorkerThreadCounters counters;
    alignas(64) std::thread thread;
    std::size_t index = 0;
    bool in_use = false;  // spare slots: a spare thread owns it; under spare_mutex_
    std::atomic<bool> blocked{false};  // its thread sleeps in a wait (begin_blocking)
    detail::WorkStealingDeque<detail::StateBase*> deque;
    std::size_t steal_cursor = 0;  // where the next steal attempt starts; owner only
  };

  /// Which pool, if any, the current thread works for.
  struct WorkerIdentity {
    const ThreadPoolExecutor* pool = nullptr;
    std::size_t index = 0;
  };
  static WorkerIdentity& this_worker() {
    static thread_local WorkerIdentity identity;
    return identity;
  }
  Worker* current_worker() const {
    const WorkerIdentity& identity = this_worker();
    return identity.pool == this ? workers_[identity.index].get() : nullptr;
  }
  bool on_pool_thread() const { return this_worker().pool == this; }

  /// Counts a task with inputs in waiting_tasks_ from before the check that the pool still
  /// accepts tasks until it is queued, so that shutdown cannot slip in between and let the
  /// workers exit (may_exit() waits for the count to drop to zero). A task that waits for
  /// its inputs keeps the count until inputs_ready() queues it.
  class WaitingCount {
   public:
    explicit WaitingCount(ThreadPoolExecutor& pool) : pool_(pool) {
      pool_.waiting_tasks_.fetch_add(1, std::memory_order_seq_cst);
      if (pool_.lifecycle_.load(std::memory_order_seq_cst) != kAccepting) {
        pool_.stop_counting_waiting();
        pool_.throw_not_accepting();
      }
    }
    WaitingCount(const WaitingCount&) = delete;
    WaitingCount& operator=(const WaitingCount&) = delete;
    ~WaitingCount() {
      if (held_) pool_.stop_counting_waiting();
    }
    /// The task now waits for its inputs: inputs_ready() drops the count.
    void hand_over() noexcept { held_ = false; }

   private:
    ThreadPoolExecutor& pool_;
    bool held_ = true;
  };

  // ---- submitting ----

  /// A new task with the references it starts with: the future's, and the pool's until the
  /// task is retired.
  template <class TaskType, class F, class... Args>
  TaskType* new_task(F&& fn, Args&&... args) {
    auto* task = new TaskType(std::forward<F>(fn), std::forward<Args>(args)...);
    core_.accept(*task, this);
    return task;
  }

  /// Submits a task with futures among its arguments: it waits for them or, when they are
  /// done, is queued at once.
  template <class R, class TaskType, class F, class... Args>
  Future<R> submit_with_inputs(F&& fn, Args&&... args) {
    WaitingCount counted(*this);  // throws when not accepting tasks
    TaskType* task = new_task<TaskType>(std::forward<F>(fn), std::forward<Args>(args)...);
    // Counted before the task can run (stats() reads submits last), uncounted if it throws.
    submitted_with_inputs_.fetch_add(1, std::memory_order_relaxed);
    Future<R> future(detail::StateRef<detail::State<R>>::adopt(task));
    bool waits = false;
    try {
      waits = detail::wait_for_inputs_or_release(*task, *this);
    } catch (...) {
      submitted_with_inputs_.fetch_sub(1, std::memory_order_relaxed);
      throw;
    }
    if (waits) {
      counted.hand_over();  // inputs_ready() queues it once its input futures are done
      return future;
    }
    task->set_queued_before_sharing();  // no input hangs on it, and enqueue publishes it
    enqueue(task);
    return future;
  }

  /// A task counted in waiting_tasks_ is queued or has ended. A worker that sees the count
  /// drop to zero also sees the task in its queue; sleepers are woken to check for exit.
  void stop_counting_waiting() noexcept {
    if (waiting_tasks_.fetch_sub(1, std::memory_order_seq_cst) == 1 &&
        lifecycle_.load(std::memory_order_seq_cst) != kAccepting) {
      wake_all();
    }
  }

  void throw_unless_accepting() const {
    if (lifecycle_.load(std::memory_order_seq_cst) != kAccepting) throw_not_accepting();
  }

  [[noreturn]] void throw_not_accepting() const {
    if (lifecycle_.load(std::memory_order_seq_cst) == kBroken) {
      throw BrokenExecutor(broken_reason());
    }
    throw ExecutorShutdownError();
  }

  // ---- queues and wake-ups ----

  /// Queues a task that was accepted before.
  void enqueue(detail::StateBase* task) {
    if (Worker* worker = current_worker()) {
      worker->deque.push(task);
    } else {
      injection_.push(task);
    }
    notify_work();
  }

  /// Wakes a sleeping worker unless one is spinning (it will find the task). The fence pairs
  /// with the one in enter_idle: either the sleeper sees the task or we see the sleeper.
  void notify_work() {
    detail::full_fence();
    if (spinning_.load(std::memory_order_relaxed) == 0 &&
        idle_.any()) {
      wake_one();
    }
  }

  void wake_one() { idle_.wake_one(); }
  void wake_worker() { idle_.wake_one_worker(); }
  void wake_all() { idle_.wake_all(); }

  void enter_idle(detail::ThreadContext& context) {
    idle_.enter(context);
    detail::full_fence();
  }

  void leave_idle(detail::ThreadContext& context) { idle_.leave(context); }

  bool has_work() const noexcept {
    if (!injection_.empty()) return true;
    const std::size_t slots = slot_count_.load(std::memory_order_acquire);
    for (std::size_t i = 0; i < slots; ++i) {
      if (!workers_[i]->deque.empty()) return true;
    }
    return false;
  }

  /// Own deque first (newest), then a batch from the shared queue, then steal (oldest).
  /// Taking shared work while more is left wakes another worker: a worker may block inside
  /// a task with stealable tasks in its deque, and only an awake worker can take them.
  /// Without `any_victim` (a spare thread that just came to look for work), it steals only
  /// from threads blocked in a wait: a running thread that just submitted a task is about to
  /// wait on it and run it itself, and a thief that takes it makes the waiter block and
  /// need a spare thread of its own (a nested chain would take a thread per level).
  detail::StateBase* find_task(Worker& self, bool any_victim = true) {
    if (detail::StateBase* task = self.deque.pop()) return task;
    detail::StateBase* batch[kBatch];
    if (std::size_t taken = injection_.pop_batch(batch, kBatch, worker_count_)) {
      for (std::size_t i = taken - 1; i > 0; --i) self.deque.push(batch[i]);
      if (has_work()) notify_work();
      return batch[0];
    }
    const std::size_t start = ++self.steal_cursor;
    const std::size_t slots = slot_count_.load(std::memory_order_acquire);
    for (std::size_t i = 0; i < slots; ++i) {
      Worker& victim = *workers_[(start + i) % slots];
      if (&victim == &self) continue;
      if (!any_victim && !victim.blocked.load(std::memory_order_relaxed)) continue;
      if (detail::StateBase* task = victim.deque.steal()) {
        if (has_work()) notify_work();
        return task;
      }
    }
    return nullptr;
  }

  // ---- running tasks ----

  /// Runs a task taken from a queue, or drops it when it was cancelled or claimed by a
  /// waiting worker meanwhile; then lets go of the queue's reference.
  void run_queued(detail::StateBase* task, detail::ThreadContext& context, Worker& self) {
    if (lifecycle_.load(std::memory_order_relaxed) == kBroken) {
      if (task->fail_before_start(std::make_exception_ptr(BrokenExecutor(broken_reason())))) {
        note_not_run(*task);
      }
    } else if (cancelling_.load(std::memory_order_relaxed)) {
      task->cancel();
      if (task->code() == detail::kCancelled) note_not_run(*task);
    } else if (task->try_transition(detail::kQueued, detail::kRunning)) {
      execute_claimed(*task, context, self);
    } else if (task->code() == detail::kCancelled) {
      note_not_run(*task);  // else a waiting worker ran it (and counted it)
    }
    task->release();
  }

  void execute_claimed(detail::StateBase& task, detail::ThreadContext& context, Worker& self) {
    task.running_on.store(&context, std::memory_order_release);
    detail::StateBase* outer = std::exchange(context.current_task, &task);
    if (statistics_) detail::increment_unshared(self.counters.started);
    const std::uint8_t outcome =
        core_.recording() ? execute_recorded(task, self) : task.execute();
    if (statistics_) {
      detail::increment_unshared(outcome == detail::kFinished ? self.counters.finished
                                                        : self.counters.failed);
    }
    task.publish(outcome);  // counted first: a caller who saw the result sees it counted
    context.current_task = outer;
  }

  std::uint8_t execute_recorded(detail::StateBase& task, Worker& self) {
    // A spare thread's tasks appear on a worker's track (the recorder knows the workers).
    TaskRecord record =
        core_.recorder().record_of(task, static_cast<int>(self.index % worker_count_));
    record.started = detail::Clock::now();
    const std::uint8_t outcome = task.execute();
    record.ended = detail::Clock::now();
    record.outcome = detail::outcome_of(outcome);
    core_.recorder().add(std::move(record));
    return outcome;
  }

  /// Counts (and records) a task that ends without running: cancelled, or failed because an
  /// input failed or the pool broke.
  void note_not_run(detail::StateBase& task) {
    const std::uint8_t code = task.code();
    if (code == detail::kCancelled) {
      cancelled_.fetch_add(1, std::memory_order_relaxed);
    } else if (code == detail::kFailed) {
      failed_unrun_.fetch_add(1, std::memory_order_relaxed);
    } else {
      return;
    }
    if (core_.recording()) [[unlikely]] {
      TaskRecord record = core_.recorder().record_of(task, -1);
      record.ended = record.started = detail::Clock::now();
      record.outcome = detail::outcome_of(code);
      core_.recorder().add(std::move(record));
    }
  }

  // ---- waiting inside a task ----

  /// Scheduler: a waiting pool thread runs the awaited task itself if it is still queued
  /// here, else one of its unstarted inputs (three levels deep); never anything else.
  bool run_awaited(detail::StateBase& awaited) override {
    Worker* self = current_worker();
    if (self == nullptr) return false;
    detail::ThreadContext& context = detail::this_thread_context();
    ++context.inline_depth;
    struct DepthGuard {
      detail::ThreadContext& context;
      ~DepthGuard() { --context.inline_depth; }
    } depth_guard{context};
    return run_subgraph(awaited, context, *self, 3);
  }

  /// Scheduler: a pool thread is about to sleep in a wait. If fewer than max_workers threads
  /// are then left to run tasks, a reserve spare thread is woken or a new one started, up to
  /// kMaxSpareThreads. Past the bound, an untimed wait for a task queued here while no
  /// thread of the pool is left unblocked would never end: it throws instead.
  void begin_blocking(detail::StateBase* awaited, bool timed) override {
    Worker* self = current_worker();
    if (self != nullptr) {
      self->blocked.store(true, std::memory_order_relaxed);
      // Its queued tasks may now be stolen by spare threads too (see find_task).
      if (!self->deque.empty()) notify_work();
    }
    try {
      compensate_for_blocking(awaited, timed);
    } catch (...) {
      if (self != nullptr) self->blocked.store(false, std::memory_order_relaxed);
      throw;
    }
  }

  void compensate_for_blocking(detail::StateBase* awaited, bool timed) {
    std::lock_guard lock(spare_mutex_);
    const std::size_t unblocked = unblocked_.load(std::memory_order_relaxed) - 1;
    unblocked_.store(unblocked, std::memory_order_relaxed);
    if (unblocked - reserve_.size() >= worker_count_) return;
    if (!reserve_.empty()) {
      reserve_.back()->parker.unpark();  // it takes tasks again (see settle_excess)
      reserve_.pop_back();
      reserve_count_.store(reserve_.size(), std::memory_order_relaxed);
      return;
    }
    if (spares_ < kMaxSpareThreads && lifecycle_.load(std::memory_order_relaxed) != kBroken &&
        start_spare_locked()) {
      return;
    }
    if (unblocked == 0 && !timed && awaited != nullptr && awaited->owner == this &&
        awaited->code() == detail::kQueued) {
      unblocked_.store(unblocked + 1, std::memory_order_relaxed);
      throw Error("confut: nested waits exceed the bound of ThreadPoolExecutor: all " +
                  std::to_string(worker_count_) + " workers and kMaxSpareThreads = " +
                  std::to_string(kMaxSpareThreads) +
                  " spare threads are blocked in waits (each running awaited tasks up to "
                  "kMaxInlineDepth = " +
                  std::to_string(detail::kMaxInlineDepth) + " deep), so " +
                  awaited->describe() + " would never run");
    }
  }

  void end_blocking() noexcept override {
    if (Worker* self = current_worker()) self->blocked.store(false, std::memory_order_relaxed);
    std::lock_guard lock(spare_mutex_);
    unblocked_.store(unblocked_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }

  /// More threads than max_workers are free to run tasks (blocked ones are back).
  bool excess() const noexcept {
    return unblocked_.load(std::memory_order_relaxed) >
           worker_count_ + reserve_count_.load(std::memory_order_relaxed);
  }

  /// Starts a spare thread in a free slot; false if the system refuses a thread.
  bool start_spare_locked() {
    std::size_t slot = worker_count_;
    const std::size_t slots = slot_count_.load(std::memory_order_relaxed);
    while (slot < slots && workers_[slot]->in_use) ++slot;
    if (slot == slots) {
      if (slots == slot_capacity_) return false;
      workers_[slot] = std::make_unique<Worker>();
      workers_[slot]->index = slot;
      slot_count_.store(slots + 1, std::memory_order_release);
    }
    Worker& self = *workers_[slot];
    if (self.thread.joinable()) self.thread.join();  // a retired one, past its last step
    try {
      self.thread = std::thread([this, slot] { spare_main(slot); });
    } catch (...) {
      return false;  // the wait goes on without compensation
    }
    self.in_use = true;
    ++spares_;
    unblocked_.store(unblocked_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    return true;
  }

  /// A spare thread that is not needed (excess()) waits in reserve for kSpareLinger, then
  /// retires if it is still not needed. True when it retired.
  bool settle_excess(Worker& self, detail::ThreadContext& context) {
    if (!excess() || !self.deque.empty()) return false;
    {
      std::lock_guard lock(spare_mutex_);
      if (!excess() || may_exit()) return false;
      reserve_.push_back(&context);
      reserve_count_.store(reserve_.size(), std::memory_order_relaxed);
    }
    context.parker.park_until(detail::Clock::now() + kSpareLinger);
    std::lock_guard lock(spare_mutex_);
    auto it = std::find(reserve_.begin(), reserve_.end(), &context);
    if (it == reserve_.end()) return false;  // begin_blocking called it back
    reserve_.erase(it);
    reserve_count_.store(reserve_.size(), std::memory_order_relaxed);
    if (!excess() && !may_exit()) return false;
    retire_locked(self);
    // A wake-up for new work may have come to this thread: pass it on. (The pool is still
    // alive: every spare thread is joined, by shutdown or by the next spare in its slot.)
    if (has_work()) notify_work();
    return true;
  }

  void retire_locked(Worker& self) {
    unblocked_.store(unblocked_.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
    --spares_;
    self.in_use = false;  // its thread object stays, to be joined by the next user or shutdown
  }

  /// Wakes the reserve spare threads (at shutdown, so that they can exit).
  void wake_reserve() {
    std::lock_guard lock(spare_mutex_);
    for (detail::ThreadContext* context : reserve_) context->parker.unpark();
  }

  /// A spare thread: a worker that runs while a pool thread is blocked in a wait.
  void spare_main(std::size_t slot) {
    this_worker() = WorkerIdentity{this, slot};
    detail::ThreadContext& context = detail::this_thread_context();
    context.scheduler = this;
    context.spare = true;
    name_thread(slot);
    Worker& self = *workers_[slot];
    if (options_.initializer) {
      try {
        options_.initializer();
      } catch (...) {
        break_pool(std::current_exception());
      }
    }
    std::int64_t last_seen = 0;
    bool retired = false;
    bool any_victim = false;  // after an idle spell with no wake-up, it steals from anyone
    while (!retired) {
      if (settle_excess(self, context)) {
        retired = true;
      } else if (detail::StateBase* task = find_task(self, any_victim)) {
        run_queued(task, context, self);
      } else if (may_exit()) {
        break;
      } else if (detail::StateBase* found = spin_for_task(self, last_seen, any_victim)) {
        run_queued(found, context, self);
      } else {
        // A wake-up may have been meant for work this spare may not take (see find_task):
        // it goes on to a worker, which may.
        if (!any_victim && has_work()) wake_worker();
        enter_idle(context);
        any_victim = false;
        detail::StateBase* late = find_task(self, false);  // queued since the last look
        if (late == nullptr && !may_exit()) {
          any_victim = !context.parker.park_until(detail::Clock::now() + kSpareLinger);
        }
        leave_idle(context);
        if (late != nullptr) run_queued(late, context, self);
      }
    }
    context.scheduler = nullptr;
    this_worker() = WorkerIdentity{};
    if (!retired) {
      wake_all();
      std::lock_guard lock(spare_mutex_);
      retire_locked(self);
    }
  }

  bool run_subgraph(detail::StateBase& state, detail::ThreadContext& context, Worker& self,
                    int depth) {
    if (state.owner == this && state.code() == detail::kQueued &&
        lifecycle_.load(std::memory_order_relaxed) == kAccepting &&
        !cancelling_.load(std::memory_order_relaxed) &&
        state.try_transition(detail::kQueued, detail::kRunning)) {
      execute_claimed(state, context, self);  // its queue entry is dropped when popped
      return true;
    }
    if (depth == 0 || state.code() != detail::kWaiting) return false;
    constexpr std::size_t kMaxInputs = 16;
    detail::StateBase* inputs[kMaxInputs];
    std::size_t count = 0;
    state.collect_pending_inputs(inputs, kMaxInputs, count);
    bool ran = false;
    for (std::size_t i = 0; i < count; ++i) {
      if (!ran) ran = run_subgraph(*inputs[i], context, self, depth - 1);
      inputs[i]->release();
    }
    return ran;
  }

  /// ReadySink: the last input of a waiting task is done.
  void inputs_ready(detail::StateBase& task) noexcept override {
    if (!task.try_transition(detail::kWaiting, detail::kQueued)) {
      note_not_run(task);  // it failed (an input failed) or was cancelled meanwhile
      task.release();
    } else if (lifecycle_.load(std::memory_order_relaxed) == kBroken) {
      task.fail_before_start(std::make_exception_ptr(BrokenExecutor(broken_reason())));
      note_not_run(task);
      task.release();
    } else if (cancelling_.load(std::memory_order_relaxed)) {
      task.cancel();
      note_not_run(task);
      task.release();
    } else {
      enqueue(&task);
    }
    stop_counting_waiting();  // after the push
  }

  // ---- workers ----

  /// Only once the shared queue is closed: every task it accepted is then visible here.
  bool may_exit() const {
    return injection_.closed() &&
           waiting_tasks_.load(std::memory_order_seq_cst) == 0 && !has_work();
  }

  void worker_main(std::size_t index) {
    this_worker() = WorkerIdentity{this, index};
    detail::ThreadContext& context = detail::this_thread_context();
    context.scheduler = this;
    name_thread(index);
    Worker& self = *workers_[index];
    detail::WorkerThreadCounters& counters = self.counters;
    if (statistics_) counters.alive_since_ns.store(now_ns(), std::memory_order_relaxed);
    run_initializer();

    // last_seen: the latest clock reading while idle, where an idle span is taken to end.
    std::int64_t last_seen = 0;
    while (true) {
      if (detail::StateBase* task = find_task(self)) {
        if (statistics_) counters.end_idle(last_seen);
        run_queued(task, context, self);
        continue;
      }
      if (detail::StateBase* task = spin_for_task(self, last_seen)) {
        if (statistics_) counters.end_idle(last_seen);
        run_queued(task, context, self);
        continue;
      }
      if (may_exit()) break;
      enter_idle(context);
      if (!has_work() && !may_exit()) {
        context.parker.park();
        if (statistics_) last_seen = now_ns();
      }
      leave_idle(context);
    }
    if (statistics_) {
      counters.end_idle(now_ns());
      counters.exited_at_ns.store(now_ns(), std::memory_order_relaxed);
    }
    context.scheduler = nullptr;
    this_worker() = WorkerIdentity{};
    wake_all();  // a worker that exits may have been the one others were waiting for
  }

  /// Looks for work for a short while before sleeping; a hand-off between spinning threads
  /// costs far less than a kernel wake-up. At most half the workers spin at once.
  /// Also opens the worker's idle span (for stats) and keeps `last_seen` up to date.
  detail::StateBase* spin_for_task(Worker& self, std::int64_t& last_seen,
                                   bool any_victim = true) {
    const auto spin_start = detail::Clock::now();
    if (statistics_) {
      last_seen = detail::steady_nanoseconds(spin_start);
      self.counters.begin_idle(last_seen);
    }
    const std::size_t max_spinners = std::max<std::size_t>(1, worker_count_ / 2);
    if (spinning_.fetch_add(1, std::memory_order_seq_cst) >= max_spinners) {
      spinning_.fetch_sub(1, std::memory_order_seq_cst);
      return nullptr;
    }
    detail::StateBase* found = nullptr;
    const auto spin_end = spin_start + kSpinBeforeSleep;
    for (unsigned i = 1; found == nullptr; ++i) {
      detail::cpu_relax();
      if (has_work()) found = find_task(self, any_victim);
      if (i % 32 == 0) {
        std::this_thread::yield();  // on few cores, let the submitting thread run
        const auto now = detail::Clock::now();
        if (statistics_) last_seen = detail::steady_nanoseconds(now);
        if (now >= spin_end) break;
      }
    }
    // The last spinner to find work wakes a sleeper, so that more workers join in.
    if (spinning_.fetch_sub(1, std::memory_order_seq_cst) == 1 && found != nullptr) notify_work();
    return found;
  }

  void run_initializer() {
    if (options_.initializer) {
      try {
        options_.initializer();
      } catch (...) {
        break_pool(std::current_exception());
      }
    }
    // No task runs before every initializer has succeeded (or one failed).
    workers_ready_.arrive_and_wait();
  }

  void break_pool(std::exception_ptr error) {
    core_.set_broken("a worker initializer failed, the pool is broken: " +
                     detail::describe_exception(error));
    std::uint8_t expected = kAccepting;
    if (!lifecycle_.compare_exchange_strong(expected, kBroken, std::memory_order_seq_cst)) {
      lifecycle_.store(kBroken, std::memory_order_seq_cst);
    }
    injection_.close();
    wake_all();
  }

  std::string broken_reason() const { return core_.broken_reason(); }

  static std::int64_t now_ns() noexcept { return detail::steady_nanoseconds(detail::Clock::now()); }

  /// Starts the workers. If the system refuses a thread, those started are let go and
  /// joined, and the constructor throws: nothing is left running.
  void start_workers() {
    std::size_t started = 0;
    try {
      for (; started < worker_count_; ++started) {
        workers_[started]->thread = std::thread([this, i = started] { worker_main(i); });
      }
    } catch (const std::system_error& error) {
      stop_started_workers(started);
      throw std::system_error(error.code(), "confut::ThreadPoolExecutor: could not start worker "
                                            "thread " + std::to_string(started + 1) + " of " +
                                            std::to_string(worker_count_));
    } catch (...) {
      stop_started_workers(started);
      throw;
    }
  }

  void stop_started_workers(std::size_t started) {
    lifecycle_.store(kShutDown, std::memory_order_seq_cst);
    injection_.close();
    // The workers never started will not arrive at the latch the started ones wait on.
    workers_ready_.count_down(static_cast<std::ptrdiff_t>(worker_count_ - started));
    wake_all();
    for (std::size_t i = 0; i < started; ++i) workers_[i]->thread.join();
  }

  /// "<prefix>-<index>" in full: a worker's label in stats() and traces; spare threads are
  /// "<prefix>-spare-<slot>".
  std::string thread_label(std::size_t index) const {
    if (index >= worker_count_) {
      return options_.thread_name_prefix + "-spare-" + std::to_string(index - worker_count_);
    }
    return options_.thread_name_prefix + "-" + std::to_string(index);
  }

  /// The OS thread name: the label within the kernel's 15 characters, keeping its index.
  void name_thread(std::size_t index) const {
#if defined(__linux__)
    const std::string suffix = index >= worker_count_
                                   ? "-s" + std::to_string(index - worker_count_)
                                   : "-" + std::to_string(index);
    std::string name = options_.thread_name_prefix;
    name.resize(std::min<std::size_t>(name.size(), 15 - std::min<std::size_t>(suffix.size(), 15)));
    name = (name + suffix).substr(0, 15);
    pthread_setname_np(pthread_self(), name.c_str());
#else
    (void)index;
#endif
  }

  /// Joins the workers, then the spare threads (more may start while tasks still run and
  /// wait, hence the rounds). Never called on a pool thread (shutdown throws there).
  void join_workers() {
    std::lock_guard lock(join_mutex_);
    for (std::size_t i = 0; i < worker_count_; ++i) {
      if (workers_[i]->thread.joinable()) workers_[i]->thread.join();
    }
    while (true) {
      std::vector<std::thread> spares;
      {
        std::lock_guard spare_lock(spare_mutex_);
        const std::size_t slots = slot_count_.load(std::memory_order_relaxed);
        for (std::size_t i = worker_count_; i < slots; ++i) {
          if (workers_[i]->thread.joinable()) spares.push_back(std::move(workers_[i]->thread));
        }
      }
      if (spares.empty()) break;
      for (auto& spare : spares) spare.join();
    }
  }

  /// How long a spare thread that is not needed waits in reserve before it retires.
  static constexpr auto kSpareLinger = std::chrono::milliseconds(20);

  ThreadPoolOptions options_;
  detail::ExecutorCore core_;
  const std::size_t worker_count_;
  const std::size_t slot_capacity_;  // workers, then up to kMaxSpareThreads spare slots
  // Slots [0, slot_count_) exist; workers_[i] never changes once the count covers i.
  const std::unique_ptr<std::unique_ptr<Worker>[]> workers_;
  std::atomic<std::size_t> slot_count_{0};
  detail::InjectionQueue injection_;
  std::latch workers_ready_;

  alignas(64) std::atomic<std::uint64_t> submitted_with_inputs_{0};
  alignas(64) std::atomic<std::uint32_t> waiting_tasks_{0};
  std::atomic<std::uint8_t> lifecycle_{kAccepting};
  std::atomic<bool> cancelling_{false};
  alignas(64) std::atomic<std::uint32_t> spinning_{0};
  detail::IdleList idle_;
  std::mutex join_mutex_;

  // Compensation (see begin_blocking): written under spare_mutex_, read anywhere.
  std::mutex spare_mutex_;
  std::atomic<std::size_t> unblocked_{0};  // pool threads not blocked in a wait
  std::atomic<std::size_t> reserve_count_{0};
  std::vector<detail::ThreadContext*> reserve_;  // spare threads not needed at the moment
  std::size_t spares_ = 0;                       // spare threads started and not retired

  // Statistics (the recorder is in core_).
  const bool statistics_;
  std::atomic<std::uint64_t> cancelled_{0};
  std::atomic<std::uint64_t> failed_unrun_{0};
};

}  // namespace confut
