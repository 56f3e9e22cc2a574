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
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#if __has_include(<pthread.h>)
#include <pthread.h>
#endif

#include "dependencies.hpp"
#include "detail/blocking.hpp"
#include "detail/injection_queue.hpp"
#include "detail/recorder.hpp"
#include "detail/task.hpp"
#include "detail/thread_context.hpp"
#include "detail/unshared_counter.hpp"
#include "detail/work_stealing_deque.hpp"
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
/// then sleep. A worker that waits on a future runs queued tasks meanwhile, the awaited one
/// first, so nested waits do not deadlock; a real cycle of waits throws DeadlockError.
///
/// Thread safety: every member may be called from any thread, including from tasks.
class ThreadPoolExecutor final : public detail::MapMethods<ThreadPoolExecutor>,
                                 private detail::Scheduler,
                                 private detail::ReadySink {
 public:
  explicit ThreadPoolExecutor(std::size_t max_workers = 0)
      : ThreadPoolExecutor(make_options(max_workers)) {}

  explicit ThreadPoolExecutor(ThreadPoolOptions options)
      : options_(std::move(options)),
        worker_count_(options_.max_workers != 0
                          ? options_.max_workers
                          : std::max(1u, std::thread::hardware_concurrency())),
        workers_ready_(static_cast<std::ptrdiff_t>(worker_count_)),
        statistics_(options_.statistics),
        recorder_(detail::next_executor_name("ThreadPoolExecutor"), worker_count_) {
    workers_.reserve(worker_count_);
    for (std::size_t i = 0; i < worker_count_; ++i) {
      workers_.push_back(std::make_unique<Worker>());
      workers_.back()->index = i;
      recorder_.set_worker_label(i, thread_name(i));
    }
    recorder_.stats_source = [this] { return stats(); };
    detail::RecordingHub::instance().add_executor(recorder_);
    for (std::size_t i = 0; i < worker_count_; ++i) {
      workers_[i]->thread = std::thread([this, i] { worker_main(i); });
    }
  }

  ThreadPoolExecutor(const ThreadPoolExecutor&) = delete;
  ThreadPoolExecutor& operator=(const ThreadPoolExecutor&) = delete;

  /// Shuts down and waits for every submitted task to finish.
  ~ThreadPoolExecutor() {
    shutdown(true, false);
    detail::RecordingHub::instance().remove_executor(recorder_);
  }

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
  void shutdown(bool wait = true, bool cancel_futures = false) {
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
    if (wait) join_workers();
  }

  std::size_t max_workers() const noexcept { return worker_count_; }

  /// "ThreadPoolExecutor 2": this executor's name in statistics, traces and reports.
  const std::string& name() const noexcept { return recorder_.executor_name(); }

  /// Task counts by state and each worker's busy time, read without stopping anyone.
  ExecutorStats stats() const {
    ExecutorStats stats;
    stats.executor = name();
    const auto now = detail::Clock::now();
    stats.uptime = std::chrono::duration_cast<std::chrono::nanoseconds>(now - created_);
    std::uint64_t started = 0;
    const std::int64_t now_ns = detail::steady_nanoseconds(now);
    for (std::size_t i = 0; i < worker_count_; ++i) {
      const WorkerCounters& counters = workers_[i]->counters;
      WorkerStats worker;
      worker.label = thread_name(i);
      const std::uint64_t finished = counters.finished.load(std::memory_order_relaxed);
      const std::uint64_t failed = counters.failed.load(std::memory_order_relaxed);
      worker.tasks = finished + failed;
      worker.busy = std::chrono::nanoseconds(counters.busy_until(now_ns));
      stats.finished += finished;
      stats.failed += failed;
      started += counters.started.load(std::memory_order_relaxed);
      stats.workers.push_back(std::move(worker));
    }
    const std::uint64_t ended = stats.finished + stats.failed;
    stats.running = started > ended ? started - ended : 0;
    stats.failed += failed_unrun_.load(std::memory_order_relaxed);
    stats.cancelled = cancelled_.load(std::memory_order_relaxed);
    stats.waiting = waiting_tasks_.load(std::memory_order_relaxed);
    // Read last: every task counted above was submitted before.
    stats.submitted = injection_.accepted() +
                      submitted_with_inputs_.load(std::memory_order_relaxed);
    for (const auto& worker : workers_) {
      stats.submitted += worker->counters.submitted.load(std::memory_order_relaxed);
    }
    stats.derive_queued();
    return stats;
  }

  /// Starts recording the task stream: every task's submit, start and end time, worker,
  /// name and outcome. Off by default; see the README for what it costs while on.
  void start_recording() { recorder_.start_recording(); }

  /// Stops recording and returns what was recorded since start_recording() (tasks that
  /// ended since then). Without a recording, returns an empty stream.
  TaskStream stop_recording() { return recorder_.stop_recording(); }

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

  /// A worker's counters for stats(). Only the worker writes them (increment_unshared: no
  /// read-modify-write); stats() reads them from any thread.
  struct WorkerCounters {
    std::atomic<std::uint64_t> submitted{0};  // by tasks running on this worker
    std::atomic<std::uint64_t> started{0};
    std::atomic<std::uint64_t> finished{0};
    std::atomic<std::uint64_t> failed{0};
    // Busy time is the worker's lifetime minus its idle spans, so that the clock is read
    // only when a worker goes idle or wakes, never around each task.
    std::atomic<std::int64_t> alive_since_ns{0};
    std::atomic<std::int64_t> exited_at_ns{0};
    std::atomic<std::int64_t> idle_ns{0};
    std::atomic<std::int64_t> idle_since_ns{0};  // 0 while busy

    void begin_idle(std::int64_t now_ns) noexcept {
      if (idle_since_ns.load(std::memory_order_relaxed) == 0) {
        idle_since_ns.store(now_ns, std::memory_order_relaxed);
      }
    }
    void end_idle(std::int64_t last_seen_ns) noexcept {
      const std::int64_t since = idle_since_ns.load(std::memory_order_relaxed);
      if (since == 0) return;
      const std::int64_t span = last_seen_ns > since ? last_seen_ns - since : 0;
      idle_ns.store(idle_ns.load(std::memory_order_relaxed) + span, std::memory_order_relaxed);
      idle_since_ns.store(0, std::memory_order_relaxed);
    }
    std::int64_t busy_until(std::int64_t now_ns) const noexcept {
      const std::int64_t alive = alive_since_ns.load(std::memory_order_relaxed);
      if (alive == 0) return 0;
      const std::int64_t exited = exited_at_ns.load(std::memory_order_relaxed);
      const std::int64_t end = exited != 0 ? exited : now_ns;
      const std::int64_t since = idle_since_ns.load(std::memory_order_relaxed);
      const std::int64_t idle = idle_ns.load(std::memory_order_relaxed) +
                                (since != 0 && exited == 0 && now_ns > since ? now_ns - since : 0);
      const std::int64_t busy = end - alive - idle;
      return busy > 0 ? busy : 0;
    }
  };

  struct Worker {
    // On lines of their own: thieves read the deque's indices, stats() reads these.
    alignas(64) WorkerCounters counters;
    alignas(64) std::thread thread;
    std::size_t index = 0;
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
    task->owner = this;
    task->id_ = detail::next_task_id();
    if (recorder_.on()) [[unlikely]] {
      task->submitted_ns = detail::steady_nanoseconds(detail::Clock::now());
    }
    task->set_initial_refs(2);
    return task;
  }

  /// Submits a task with futures among its arguments: it waits for them or, when they are
  /// done, is queued at once.
  template <class R, class TaskType, class F, class... Args>
  Future<R> submit_with_inputs(F&& fn, Args&&... args) {
    WaitingCount counted(*this);  // throws when not accepting tasks
    TaskType* task = new_task<TaskType>(std::forward<F>(fn), std::forward<Args>(args)...);
    submitted_with_inputs_.fetch_add(1, std::memory_order_relaxed);
    Future<R> future(detail::StateRef<detail::State<R>>::adopt(task));
    if (detail::wait_for_inputs_or_release(*task, *this)) {
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
        idle_count_.load(std::memory_order_relaxed) > 0) {
      wake_one();
    }
  }

  /// Sleepers are unparked outside the lock, so each is retained until its unpark is done:
  /// a woken worker may otherwise exit and free its context under our feet.
  void wake_one() {
    detail::ThreadContext* sleeper = nullptr;
    {
      std::lock_guard lock(idle_mutex_);
      if (idle_.empty()) return;
      sleeper = idle_.back();
      idle_.pop_back();
      idle_count_.fetch_sub(1, std::memory_order_relaxed);
      sleeper->retain();
    }
    sleeper->parker.unpark();
    sleeper->release();
  }

  void wake_all() {
    std::vector<detail::ThreadContext*> sleepers;
    {
      std::lock_guard lock(idle_mutex_);
      sleepers.swap(idle_);
      idle_count_.store(0, std::memory_order_relaxed);
      for (auto* sleeper : sleepers) sleeper->retain();
    }
    for (auto* sleeper : sleepers) {
      sleeper->parker.unpark();
      sleeper->release();
    }
  }

  void enter_idle(detail::ThreadContext& context) override {
    {
      std::lock_guard lock(idle_mutex_);
      idle_.push_back(&context);
      idle_count_.fetch_add(1, std::memory_order_relaxed);
    }
    detail::full_fence();
  }

  void leave_idle(detail::ThreadContext& context) override {
    std::lock_guard lock(idle_mutex_);
    auto it = std::find(idle_.begin(), idle_.end(), &context);
    if (it != idle_.end()) {
      idle_.erase(it);
      idle_count_.fetch_sub(1, std::memory_order_relaxed);
    }
  }

  bool has_work() const noexcept override {
    if (!injection_.empty()) return true;
    for (const auto& worker : workers_) {
      if (!worker->deque.empty()) return true;
    }
    return false;
  }

  /// Own deque first (newest), then a batch from the shared queue, then steal (oldest).
  /// Taking shared work while more is left wakes another worker: a worker may block inside
  /// a task with stealable tasks in its deque, and only an awake worker can take them.
  detail::StateBase* find_task(Worker& self) {
    if (detail::StateBase* task = self.deque.pop()) return task;
    detail::StateBase* batch[kBatch];
    if (std::size_t taken = injection_.pop_batch(batch, kBatch, worker_count_)) {
      for (std::size_t i = taken - 1; i > 0; --i) self.deque.push(batch[i]);
      if (has_work()) notify_work();
      return batch[0];
    }
    const std::size_t start = ++self.steal_cursor;
    for (std::size_t i = 0; i < worker_count_; ++i) {
      Worker& victim = *workers_[(start + i) % worker_count_];
      if (&victim == &self) continue;
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
        recorder_.on() ? execute_recorded(task, self) : task.execute();
    if (statistics_) {
      detail::increment_unshared(outcome == detail::kFinished ? self.counters.finished
                                                        : self.counters.failed);
    }
    task.publish(outcome);  // counted first: a caller who saw the result sees it counted
    context.current_task = outer;
  }

  std::uint8_t execute_recorded(detail::StateBase& task, Worker& self) {
    TaskRecord record = recorder_.record_of(task, static_cast<int>(self.index));
    record.started = detail::Clock::now();
    const std::uint8_t outcome = task.execute();
    record.ended = detail::Clock::now();
    record.outcome = detail::outcome_of(outcome);
    recorder_.add(std::move(record));
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
    if (recorder_.on()) [[unlikely]] {
      TaskRecord record = recorder_.record_of(task, -1);
      record.ended = record.started = detail::Clock::now();
      record.outcome = detail::outcome_of(code);
      recorder_.add(std::move(record));
    }
  }

  /// A waiting worker runs the awaited task itself if it is still queued here, else one of
  /// its unfinished inputs, else any queued task.
  bool help(detail::StateBase* awaited, bool any_task) override {
    detail::ThreadContext& context = detail::this_thread_context();
    Worker* self = current_worker();
    if (self == nullptr) return false;
    ++context.help_depth;
    struct DepthGuard {
      detail::ThreadContext& context;
      ~DepthGuard() { --context.help_depth; }
    } depth_guard{context};
    if (awaited != nullptr && run_subgraph(*awaited, context, *self, 3)) return true;
    if (!any_task) return false;
    if (detail::StateBase* task = find_task(*self)) {
      run_queued(task, context, *self);
      return true;
    }
    return false;
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
    WorkerCounters& counters = self.counters;
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
  detail::StateBase* spin_for_task(Worker& self, std::int64_t& last_seen) {
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
      if (has_work()) found = find_task(self);
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
    {
      std::lock_guard lock(broken_mutex_);
      if (broken_reason_.empty()) {
        broken_reason_ = "a worker initializer failed, the pool is broken: " +
                         detail::describe_exception(error);
      }
    }
    std::uint8_t expected = kAccepting;
    if (!lifecycle_.compare_exchange_strong(expected, kBroken, std::memory_order_seq_cst)) {
      lifecycle_.store(kBroken, std::memory_order_seq_cst);
    }
    injection_.close();
    wake_all();
  }

  std::string broken_reason() const {
    std::lock_guard lock(broken_mutex_);
    return broken_reason_;
  }

  static std::int64_t now_ns() noexcept { return detail::steady_nanoseconds(detail::Clock::now()); }

  std::string thread_name(std::size_t index) const {
    std::string name = options_.thread_name_prefix + "-" + std::to_string(index);
    name.resize(std::min<std::size_t>(name.size(), 15));  // the kernel's limit
    return name;
  }

  void name_thread(std::size_t index) const {
#if defined(__linux__)
    pthread_setname_np(pthread_self(), thread_name(index).c_str());
#else
    (void)index;
#endif
  }

  void join_workers() {
    std::lock_guard lock(join_mutex_);
    for (auto& worker : workers_) {
      if (!worker->thread.joinable()) continue;
      if (worker->thread.get_id() == std::this_thread::get_id()) {
        worker->thread.detach();  // shut down from one of its own tasks: cannot join itself
      } else {
        worker->thread.join();
      }
    }
  }

  ThreadPoolOptions options_;
  const std::size_t worker_count_;
  std::vector<std::unique_ptr<Worker>> workers_;
  detail::InjectionQueue injection_;
  std::latch workers_ready_;

  alignas(64) std::atomic<std::uint64_t> submitted_with_inputs_{0};
  alignas(64) std::atomic<std::uint32_t> waiting_tasks_{0};
  std::atomic<std::uint8_t> lifecycle_{kAccepting};
  std::atomic<bool> cancelling_{false};
  alignas(64) std::atomic<std::uint32_t> spinning_{0};
  std::atomic<std::uint32_t> idle_count_{0};

  std::mutex idle_mutex_;
  std::vector<detail::ThreadContext*> idle_;
  mutable std::mutex broken_mutex_;
  std::string broken_reason_;
  std::mutex join_mutex_;

  // Statistics and the task-stream recorder.
  const bool statistics_;
  const detail::Clock::time_point created_ = detail::Clock::now();
  std::atomic<std::uint64_t> cancelled_{0};
  std::atomic<std::uint64_t> failed_unrun_{0};
  detail::TaskRecorder recorder_;
};

}  // namespace confut
