#pragma once
// Dispatcher<Transport>: the part of an executor that runs tasks elsewhere which does not
// depend on where: queues, tasks sent ahead and taken back, rebalancing, replies to futures,
// deaths and timeouts, statistics and the task stream. Written once; ProcessPoolExecutor is
// the public API over Dispatcher<ProcessTransport> (detail/process/), tests drive it over a
// loopback transport (tests/remote/).
//
//   submit()/map()                           dispatcher thread                       worker
//   ------------                             -----------------                       ------
//   task + future ──► submitted_ ──► pending_ ──► assign(): encode request,  ──► transport ──►
//   (inputs pending:       (lock)       │         claim word "sent",              send()
//    waits, then           take_        │         least loaded ready worker,
//    inputs_ready())      submitted()   │         at most `window` sent ahead
//                                       │                                        serve_request():
//                             ◄─ take back (rebalance, stall, death before         try_start(claim)
//                                 start): claim "sent" -> "revoked"                run, encode reply
//   future ◄── retire(): count, record, ◄── reply(): decode result    ◄── transport ◄──┘
//   (done-callbacks on    publish          worker_gone(): fail the head,   wait()/poll()
//    CallbackRunner)                       requeue the rest, restart
//
// A task sent ahead stays claimable until its worker starts it: whoever moves its claim word
// first (claims.hpp) decides, the worker by starting it, the dispatcher by taking it back
// for another worker, Future::cancel() by cancelling it. Every change the dispatcher makes to
// a task on a worker goes through RemoteTask (remote_task.hpp), under the task's claim lock.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

#include "../../dependencies.hpp"
#include "../../errors.hpp"
#include "../../future.hpp"
#include "../../named.hpp"
#include "../../serialization.hpp"
#include "../../stats.hpp"
#include "../../task_stream.hpp"
#include "../core/executor_core.hpp"
#include "../core/unshared_counter.hpp"
#include "../sync/adaptive_spin.hpp"
#include "../sync/spin_wait.hpp"
#include "callback_runner.hpp"
#include "protocol.hpp"
#include "remote_task.hpp"
#include "transport.hpp"

namespace confut::detail {

/// What the dispatcher needs to know of its executor's options.
struct DispatcherSettings {
  /// Replace a worker after it has run this many tasks (0: never).
  std::size_t max_tasks_per_child = 0;
  /// A call running longer than this has its worker killed; its future fails with TimeoutError.
  std::optional<std::chrono::steady_clock::duration> task_timeout{};
  /// With an initializer, a worker dying before it is ready breaks the executor.
  bool has_initializer = false;
  /// Starts the reason of BrokenExecutor: "confut: the process pool is broken: ".
  const char* broken_prefix = "confut: the executor is broken: ";
};

template <Transport T>
class Dispatcher final : private ReadySink {
 public:
  using Clock = std::chrono::steady_clock;

  /// `kind` names the executor ("ProcessPoolExecutor"); `requested_workers` 0: one per
  /// hardware thread. The transport is built from the worker count and `transport_args`.
  template <class... TransportArgs>
  explicit Dispatcher(const char* kind, std::size_t requested_workers, DispatcherSettings settings,
             TransportArgs&&... transport_args)
      : settings_(settings),
        core_(kind, requested_workers),
        transport_(core_.worker_count(), std::forward<TransportArgs>(transport_args)...),
        slots_(core_.worker_count()),
        worker_counters_(core_.worker_count()) {
    for (std::size_t i = 0; i < slots_.size(); ++i) start_worker(i);
    core_.join_hub([this] { return stats(); });
    thread_ = std::thread([this] { dispatch_loop(); });
  }

  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  ~Dispatcher() {
    shutdown(true, false);
    if (thread_.joinable()) thread_.join();
    callbacks_.join();
    core_.leave_hub();
  }

  // ---- the executor's API (any thread) ----

  /// An executor's submit(): a Named callable's name stays here, the worker gets the
  /// callable inside.
  template <class F, class... Args>
  Future<task_result_t<F, Args...>> submit(F&& fn, Args&&... args) {
    if constexpr (is_named_v<std::decay_t<F>>) {
      return submit_call(std::string(fn.name), std::forward<F>(fn).fn,
                         std::forward<Args>(args)...);
    } else {
      return submit_call(std::string(), std::forward<F>(fn), std::forward<Args>(args)...);
    }
  }

  template <class F, class... Args>
  Future<task_result_t<F, Args...>> submit_call(std::string given_name, F&& fn, Args&&... args) {
    using Fn = std::decay_t<F>;
    static_assert(callable_cannot_be_sent_to_another_process<Fn>::value);
    using R = task_result_t<F, Args...>;
    using TaskType = RemoteCallTask<R, Fn, std::decay_t<Args>...>;
    throw_unless_accepting();
    auto* task = new TaskType(std::forward<F>(fn), std::forward<Args>(args)...);
    if (!given_name.empty()) task->set_given_name(std::move(given_name));
    accept(*task);
    Future<R> future(StateRef<State<R>>::adopt(task));
    if constexpr (any_future_argument<std::decay_t<Args>...>) {
      // inputs_ready() queues it once its input futures are done
      if (wait_for_inputs_counted(*task, *this, waiting_tasks_)) {
        bool closed = false;
        {
          std::lock_guard lock(submit_mutex_);
          closed = closed_;
        }
        // Shut down meanwhile (finished() saw no waiting task): it would complete only when
        // its inputs do, maybe after shutdown() returned.
        if (closed) [[unlikely]] task->cancel();
        return future;
      }
    }
    task->try_transition(kWaiting, kQueued);
    enqueue(*task, *task);
    return future;
  }

  template <class V, class F, class Arguments>
  Future<std::vector<std::variant<V, std::exception_ptr>>> submit_chunk(
      F fn, std::vector<Arguments> chunk) {
    static_assert(callable_cannot_be_sent_to_another_process<F>::value);
    using TaskType = RemoteChunkTask<V, F, Arguments>;
    using Chunk = std::vector<std::variant<V, std::exception_ptr>>;
    throw_unless_accepting();
    auto* task = new TaskType(std::move(fn), std::move(chunk));
    accept(*task);
    Future<Chunk> future(StateRef<State<Chunk>>::adopt(task));
    task->try_transition(kWaiting, kQueued);
    enqueue(*task, *task);
    return future;
  }

  /// Submits a task built by the caller (an MPI rank's relay of a request from rank 0 to
  /// its process pool); takes ownership of `task`.
  template <class R, class TaskType>
  Future<R> submit_task(TaskType* task) {
    throw_unless_accepting();
    accept(*task);
    Future<R> future(StateRef<State<R>>::adopt(task));
    task->try_transition(kWaiting, kQueued);
    enqueue(*task, *task);
    return future;
  }

  /// See ProcessPoolExecutor::terminate.
  bool terminate(const Future<>& future) {
    if (!future.valid() || future.state()->owner != this) return false;
    if (future.state()->cancel()) return true;
    if (future.done()) return future.cancelled();
    {
      std::lock_guard lock(submit_mutex_);
      future.state()->retain();
      terminate_requests_.push_back(future.state());
    }
    transport_.wake();
    future.wait();
    return future.cancelled();
  }

  void shutdown(bool wait, bool cancel_futures) {
    accepting_.store(false, std::memory_order_seq_cst);
    if (cancel_futures) cancelling_.store(true, std::memory_order_seq_cst);
    transport_.wake();
    if (wait) {
      {
        std::lock_guard lock(join_mutex_);
        if (thread_.joinable()) thread_.join();
      }
      callbacks_.join();  // from a done-callback: all but the callbacks still queued
    }
  }

  std::size_t worker_count() const noexcept { return core_.worker_count(); }
  /// shutdown() was called (or the executor broke): no task is accepted any more.
  bool shut_down() const noexcept {
    return !accepting_.load(std::memory_order_acquire) || core_.broken();
  }
  const std::string& name() const noexcept { return core_.name(); }
  void start_recording() { core_.start_recording(); }
  TaskStream stop_recording() { return core_.stop_recording(); }
  const T& transport() const noexcept { return transport_; }
  T& transport() noexcept { return transport_; }

  /// Task counts by state and each worker's busy time, read without stopping anyone. A
  /// task counts as running while a worker runs it; tasks sent ahead to a worker, behind
  /// the one it runs, count as queued. Busy time is measured here, from the moment a task is
  /// at the head of a worker's queue to its reply.
  ExecutorStats stats() const {
    ExecutorStats stats = core_.stats_frame();
    for (std::size_t i = 0; i < worker_counters_.size(); ++i) {
      const WorkerCounters& counters = worker_counters_[i];
      WorkerStats worker;
      worker.label = transport_.label(i);
      worker.tasks = counters.tasks.load(std::memory_order_relaxed);
      worker.busy = std::chrono::nanoseconds(counters.busy_ns.load(std::memory_order_relaxed));
      if (counters.in_flight.load(std::memory_order_relaxed) != 0) ++stats.running;
      stats.workers.push_back(std::move(worker));
    }
    stats.finished = finished_.load(std::memory_order_relaxed);
    stats.failed = failed_.load(std::memory_order_relaxed);
    stats.cancelled = cancelled_.load(std::memory_order_relaxed);
    stats.waiting = waiting_tasks_.load(std::memory_order_relaxed);
    stats.submitted = submitted_count_.load(std::memory_order_relaxed);  // read last
    stats.derive_queued();
    return stats;
  }

  // ---- the transport's events (dispatcher thread; see transport.hpp) ----

  void worker_started(std::size_t worker) {
    core_.recorder().set_worker_label(worker, transport_.label(worker));
  }

  void reply(std::size_t worker, const std::byte* data, std::size_t size);
  void worker_gone(std::size_t worker, WorkerEnd end);
  void transport_failed(const std::string& reason) { break_executor(reason); }

 private:
  /// At most this many tasks are sent ahead to one worker: enough to hide the round trip.
  static constexpr std::size_t kMaxWindow = 32;
  static_assert(2 * kMaxWindow < kClaimSlots);
  /// Tasks sent ahead move to a worker that runs out of work only while tasks take at least
  /// this long on average: for shorter ones the move costs more than it saves.
  static constexpr std::int64_t kRebalanceMinTaskNs = 50'000;
  /// While replies are due, the dispatcher spins at most this long before it sleeps
  /// (less while replies keep coming later than that: see AdaptiveSpin).
  static constexpr auto kDispatcherSpin = std::chrono::microseconds(20);
  /// Without an initializer a worker that dies before it is ready (killed from outside, say)
  /// is replaced; only this many such deaths in a row, with no worker becoming ready in
  /// between, break the executor (something kills every new worker: replacing them would loop).
  static constexpr std::uint32_t kMaxStartDeathsInRow = 64;
  /// A task still unstarted this long after it reached the head of its worker's queue moves
  /// to another worker (see take_back_stalled): a live worker starts its head within
  /// microseconds, a few milliseconds on a loaded machine.
  static constexpr auto kStallAfter = std::chrono::milliseconds(250);
  /// How often the dispatcher looks whether a worker started its head (with task_timeout:
  /// that start wakes no one), and again at a stalled one that could not give its tasks away.
  static constexpr auto kStartPoll = std::chrono::milliseconds(20);

  struct Outgoing {
    StateBase* state = nullptr;  // holds the dispatcher's reference
    RemoteTask* remote = nullptr;
  };

  struct InFlight {
    Outgoing task;
    std::uint64_t sequence = 0;  // with kTimedRequest when recording
    std::int64_t encode_ns = 0;  // encoding the request, when recording
    std::uint64_t request = 0;   // its number in the worker's queue (see claims.hpp)
    bool slow_path = false;      // Transport::send() put it on its slow path
  };

  /// A worker slot's counters for stats(): written by the dispatcher, read by anyone.
  struct WorkerCounters {
    std::atomic<std::uint64_t> tasks{0};
    std::atomic<std::int64_t> busy_ns{0};
    std::atomic<std::size_t> in_flight{0};
  };

  /// What a timed reply says, and what was measured here around it (steady-clock ns).
  struct TaskTimes {
    WorkerTimestamps worker;
    std::int64_t encode_ns = 0;  // the request, here
    std::int64_t decode_ns = 0;  // the reply, here
  };

  enum class SlotState : std::uint8_t { idle, starting, ready };
  enum class KillReason : std::uint8_t { none, timeout, terminate };

  struct Slot {
    SlotState state = SlotState::idle;
    std::deque<InFlight> in_flight;
    std::uint64_t requests_sent = 0;  // numbers the requests as the worker does
    /// Requests taken back that the worker may not have popped yet (each still holds its
    /// claim slot); forgotten once the worker replies to a later one.
    std::vector<std::uint64_t> revoked;
    std::uint64_t sent = 0;  // tasks given to this worker (max_tasks_per_child)
    Clock::time_point head_started{};
    KillReason kill_reason = KillReason::none;
    /// Its tasks were taken back by take_back_stalled(); it takes new ones once it has taken
    /// every request off the transport.
    bool stalled = false;
  };

  // ---- any thread ----

  void throw_unless_accepting() const {
    if (core_.broken()) throw BrokenExecutor(core_.broken_reason());
    if (!accepting_.load(std::memory_order_acquire)) throw ExecutorShutdownError();
  }

  void accept(StateBase& task) {
    core_.accept(task, this);
    submitted_count_.fetch_add(1, std::memory_order_relaxed);
  }

  void enqueue(StateBase& state, RemoteTask& remote) {
    bool sleeping = false;
    bool closed = false;
    {
      std::lock_guard lock(submit_mutex_);
      closed = closed_;
      if (!closed) submitted_.push_back(Outgoing{&state, &remote});
      submissions_.store(true, std::memory_order_release);
      sleeping = std::exchange(dispatcher_sleeping_, false);
    }
    if (closed) [[unlikely]] {
      // Submitted while shutdown() finished (it passed the check in submit() before): the
      // dispatcher is gone, so the task is cancelled here rather than left pending.
      state.cancel();
      retire(state, -1);
      return;
    }
    // A busy dispatcher picks the task up on its next round: spare the system call.
    if (sleeping) transport_.wake();
  }

  void inputs_ready(StateBase& state) noexcept override {
    if (!state.try_transition(kWaiting, kQueued)) {
      retire(state, -1);  // an input failed, or it was cancelled
    } else {
      enqueue(state, *dynamic_cast<RemoteTask*>(&state));
    }
    waiting_tasks_.fetch_sub(1, std::memory_order_seq_cst);
    transport_.wake();
  }

  // ---- dispatcher thread ----

  void dispatch_loop();
  void assign();
  bool can_take(std::size_t worker, std::size_t window) const;
  bool rebalance();
  bool take_back_stalled();
  void handle_terminate_requests();
  void enforce_timeouts();
  int next_timeout_ms();
  std::optional<Clock::time_point> call_started(std::size_t worker);
  bool finished();
  void fail_head(const InFlight& head, KillReason reason, const WorkerEnd& end, std::size_t worker);
  void complete(Outgoing task, const Reply& reply, std::size_t worker, TaskTimes* times);
  void fail_undecodable_reply(std::size_t worker);

  void start_worker(std::size_t worker) {
    slots_[worker] = Slot{};
    slots_[worker].state = SlotState::starting;
    const std::string failure = transport_.start(worker);
    if (!failure.empty()) {
      slots_[worker].state = SlotState::idle;
      break_executor(failure);
    }
  }

  void take_submitted() {
    std::lock_guard lock(submit_mutex_);
    for (auto& task : submitted_) pending_.push_back(task);
    submitted_.clear();
    submissions_.store(false, std::memory_order_relaxed);
  }

  bool replies_due() const {
    return std::any_of(slots_.begin(), slots_.end(),
                       [](const Slot& slot) { return !slot.in_flight.empty(); });
  }

  /// Spins until a worker replied or a task was submitted (true), or the spin limit passed.
  bool spin_for_work() const {
    const auto work_came = [this] {
      return submissions_.load(std::memory_order_acquire) || transport_.replies_waiting();
    };
    return spin_until(work_came, Clock::now() + dispatcher_spin_.limit(),
                      SpinYield::every_32_looks);
  }

  bool has_work_left() {
    if (!pending_.empty()) return true;
    std::lock_guard lock(submit_mutex_);
    return !submitted_.empty() || waiting_tasks_.load() != 0;
  }

  void break_executor(const std::string& reason) {
    core_.set_broken(settings_.broken_prefix + reason);
  }

  // ---- statistics and the task stream ----

  void note_in_flight(std::size_t worker) {
    worker_counters_[worker].in_flight.store(slots_[worker].in_flight.size(),
                                             std::memory_order_relaxed);
  }

  /// Folds a finished task's time in a worker (from its send or the previous reply) into
  /// recent_task_ns_, an average over roughly the last eight tasks.
  void note_task_time(Clock::duration took) {
    const std::int64_t ns = std::chrono::duration_cast<std::chrono::nanoseconds>(took).count();
    recent_task_ns_ += (ns - recent_task_ns_) / 8;
  }

  void note_busy(std::size_t worker, Clock::duration busy) {
    std::atomic<std::int64_t>& total = worker_counters_[worker].busy_ns;
    total.store(total.load(std::memory_order_relaxed) +
                    std::chrono::duration_cast<std::chrono::nanoseconds>(busy).count(),
                std::memory_order_relaxed);
  }

  /// Lets go of a task the dispatcher is done with: counts its outcome, records it while
  /// recording, publishes it when `publish` gives its final code (after counting: a caller
  /// who saw the result sees it counted), and drops the dispatcher's reference. `worker` is
  /// -1 for a task that never ran.
  void retire(StateBase& state, int worker, const TaskTimes* times = nullptr,
              std::string name = {}, std::uint8_t publish = kWaiting) {
    const std::uint8_t code = publish != kWaiting ? publish : state.code();
    if (code == kFinished) {
      finished_.fetch_add(1, std::memory_order_relaxed);
    } else if (code == kFailed) {
      failed_.fetch_add(1, std::memory_order_relaxed);
    } else if (code == kCancelled) {
      cancelled_.fetch_add(1, std::memory_order_relaxed);
    }
    if (worker >= 0 && code != kCancelled) {
      increment_unshared(worker_counters_[static_cast<std::size_t>(worker)].tasks);
    }
    if (core_.recording()) [[unlikely]] record(state, code, worker, times, std::move(name));
    if (publish != kWaiting) state.publish(publish);
    state.release();
  }

  void record(StateBase& state, std::uint8_t code, int worker, const TaskTimes* times,
              std::string name) {
    TaskRecorder& recorder = core_.recorder();
    TaskRecord record = recorder.record_of(state, worker, std::move(name));
    record.outcome = outcome_of(code);
    const auto now = Clock::now();
    if (times != nullptr) {
      const WorkerTimestamps& w = times->worker;
      record.started = steady_time_point(w.started);
      record.ended = steady_time_point(w.ended);
      // Here and in the worker: the request encoded here and decoded there, the result
      // encoded there and decoded here.
      record.encode_time = std::chrono::nanoseconds(times->encode_ns + (w.ended - w.returned));
      record.decode_time = std::chrono::nanoseconds(times->decode_ns + (w.decoded - w.started));
    } else if (worker >= 0) {
      // Untimed (a crash, a timeout, a stop): from the head of the worker's queue to now.
      record.started = slots_[static_cast<std::size_t>(worker)].head_started;
      record.ended = now;
    } else {
      record.started = record.ended = now;
    }
    recorder.add(std::move(record));
  }

  const DispatcherSettings settings_;
  ExecutorCore core_;
  T transport_;
  std::vector<Slot> slots_;       // dispatcher thread only (after construction)
  std::deque<Outgoing> pending_;  // dispatcher thread only
  std::uint64_t next_sequence_ = 0;
  std::uint64_t busy_rounds_ = 0;
  bool sent_ahead_cancelled_ = false;      // by shutdown(cancel_futures)
  std::int64_t recent_task_ns_ = 0;        // how long tasks take in a worker, lately
  std::uint32_t start_deaths_in_row_ = 0;  // see kMaxStartDeathsInRow
  std::uint64_t stall_rounds_ = 0;         // rounds of the dispatcher, for take_back_stalled
  bool woke_ = false;                      // the dispatcher slept since the last look
  AdaptiveSpin dispatcher_spin_{kDispatcherSpin};
  WireWriter scratch_;  // the request being encoded

  std::mutex submit_mutex_;
  std::deque<Outgoing> submitted_;
  bool dispatcher_sleeping_ = false;  // guarded by submit_mutex_
  bool closed_ = false;               // the dispatcher has finished; guarded by submit_mutex_
  std::atomic<bool> submissions_{false};  // submitted_ may be non-empty (read without the lock)
  std::vector<StateBase*> terminate_requests_;

  std::atomic<std::uint64_t> submitted_count_{0};
  std::atomic<std::uint32_t> waiting_tasks_{0};
  std::atomic<bool> accepting_{true};
  std::atomic<bool> cancelling_{false};
  std::vector<WorkerCounters> worker_counters_;  // one per slot
  std::atomic<std::uint64_t> finished_{0};
  std::atomic<std::uint64_t> failed_{0};
  std::atomic<std::uint64_t> cancelled_{0};
  std::mutex join_mutex_;
  CallbackRunner callbacks_;  // done-callbacks of this dispatcher's futures
  std::thread thread_;        // last: started once everything else exists
};

}  // namespace confut::detail

#include "dispatcher_loop.hpp"
