#pragma once
/// @file process_pool.hpp
/// `ProcessPoolExecutor`: the same API as ThreadPoolExecutor, with every task run in a worker
/// process. A worker that crashes fails only its own task; it is replaced and the pool goes on.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <exception>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include <fcntl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dependencies.hpp"
#include "detail/remote/code_location.hpp"
#include "detail/sync/adaptive_spin.hpp"
#include "detail/process/framing.hpp"
#include "detail/process/worker_main.hpp"
#include "detail/report/recorder.hpp"
#include "detail/core/unshared_counter.hpp"
#include "detail/remote/remote_exception.hpp"
#include "detail/core/shared_state.hpp"
#include "detail/core/task.hpp"
#include "detail/process/fork_server.hpp"
#include "errors.hpp"
#include "future.hpp"
#include "map.hpp"
#include "named.hpp"
#include "serialization.hpp"
#include "stats.hpp"
#include "task_stream.hpp"

namespace confut {

/// Options for ProcessPoolExecutor, all optional.
struct ProcessPoolOptions {
  /// Number of worker processes; 0 means one per hardware thread.
  std::size_t max_workers = 0;
  /// Runs once in every worker process before it takes tasks (a plain function or a
  /// capture-less lambda). If it throws or crashes, the pool is broken.
  void (*initializer)() = nullptr;
  /// Replace a worker after it has run this many tasks (0: never), as in Python.
  std::size_t max_tasks_per_child = 0;
  /// A task running longer than this has its worker killed (and replaced); its future fails
  /// with TimeoutError.
  std::optional<std::chrono::steady_clock::duration> task_timeout{};
};

namespace detail {

/// What the parent keeps of a task sent to a worker: how to build its message, and how to
/// complete its future from the reply.
class RemoteTask {
 public:
  virtual StateBase& remote_state() noexcept = 0;
  /// Encodes the invoker, the callable and the argument values (inputs are done by now).
  virtual void write_request(WireWriter& out) = 0;
  /// Stores the value (or a decoding error) from a successful reply and returns kFinished or
  /// kFailed; the pool publishes it once it has counted it.
  virtual std::uint8_t store_reply(WireReader& in) noexcept = 0;

  // ---- where a claimed (kRunning) task is, and its claim word (ChannelHeader) while it
  // waits in a worker's queue. Changed by the dispatcher and by cancel(), under claim_lock_:
  // the dispatcher changes a claimed task's state only through these. ----

  /// The dispatcher, about to push the task to a worker as request `request` of that
  /// channel (marked sent there). False when cancel() came while the task was being
  /// encoded: it is cancelled then, and must not be sent.
  bool set_claim(ChannelHeader* header, std::uint64_t request) noexcept {
    ClaimLock lock(claim_lock_);
    if (phase_ == Phase::cancelled_unsent) return false;
    phase_ = Phase::in_worker_queue;
    claim_header_ = header;
    claim_request_ = request;
    return true;
  }
  /// The dispatcher, when its request could not be encoded: false when cancel() came first
  /// (then the task is cancelled, not failed).
  bool encoding_failed() noexcept {
    ClaimLock lock(claim_lock_);
    if (phase_ == Phase::cancelled_unsent) return false;
    phase_ = Phase::answered;
    return true;
  }
  /// The dispatcher, once the worker replied to the task or died running it: before it
  /// completes the task or lets the worker's memory go.
  void clear_claim() noexcept {
    ClaimLock lock(claim_lock_);
    phase_ = Phase::answered;
    claim_header_ = nullptr;
  }
  /// The dispatcher, to move the task to another worker: takes it back unless the worker
  /// has started it (false), and makes it queued again. In one step, so that a cancel()
  /// meanwhile finds it either still in the worker's queue (and cancels it there) or queued.
  bool take_back(StateBase& state) noexcept {
    ClaimLock lock(claim_lock_);
    if (phase_ != Phase::in_worker_queue || !claim_header_->try_revoke(claim_request_)) {
      return false;
    }
    requeue_locked(state);
    return true;
  }
  /// The dispatcher, when the task's worker died before starting it: queued again, or left
  /// cancelled if cancel() got there first.
  void requeue(StateBase& state) noexcept {
    ClaimLock lock(claim_lock_);
    requeue_locked(state);
  }

 protected:
  ~RemoteTask() = default;

  /// StateBase::withdraw_unstarted() of the task that this is: any thread.
  bool withdraw(StateBase& state) noexcept {
    ClaimLock lock(claim_lock_);
    switch (phase_) {
      case Phase::encoding:  // the dispatcher sees this in set_claim() and drops it
        if (!state.try_transition(kRunning, kCancelled)) return false;  // queued again
        phase_ = Phase::cancelled_unsent;
        return true;
      case Phase::in_worker_queue:  // the worker skips it and replies "cancelled"
        return claim_header_->try_cancel(claim_request_) &&
               state.try_transition(kRunning, kCancelled);
      case Phase::cancelled_unsent:
      case Phase::answered:
        break;
    }
    return false;
  }
  /// StateBase::started_running(): false until a worker has started the task.
  bool started() const noexcept {
    ClaimLock lock(claim_lock_);
    switch (phase_) {
      case Phase::encoding:
      case Phase::cancelled_unsent: return false;
      case Phase::in_worker_queue: return !claim_header_->unstarted(claim_request_);
      case Phase::answered: break;
    }
    return true;
  }

 private:
  enum class Phase : std::uint8_t {
    encoding,          // claimed by the dispatcher, not in a worker's queue (yet, or again)
    cancelled_unsent,  // cancelled while encoding: set_claim() refuses to send it
    in_worker_queue,   // sent: the claim word decides between the worker and the parent
    answered,          // replied to, or its worker died running it
  };

  void requeue_locked(StateBase& state) noexcept {
    phase_ = Phase::encoding;
    claim_header_ = nullptr;
    state.try_transition(kRunning, kQueued);
  }

  /// Held for a few instructions by each side, never across a call that could wait.
  class ClaimLock {
   public:
    explicit ClaimLock(std::atomic<bool>& flag) noexcept : flag_(flag) {
      while (flag_.exchange(true, std::memory_order_acquire)) cpu_relax();
    }
    ~ClaimLock() { flag_.store(false, std::memory_order_release); }
    ClaimLock(const ClaimLock&) = delete;
    ClaimLock& operator=(const ClaimLock&) = delete;

   private:
    std::atomic<bool>& flag_;
  };

  mutable std::atomic<bool> claim_lock_{false};
  Phase phase_ = Phase::encoding;
  ChannelHeader* claim_header_ = nullptr;
  std::uint64_t claim_request_ = 0;
};

/// The callable of a process task: a function pointer (sent by its location in the binary)
/// or a capture-less lambda / empty function object (rebuilt in the worker).
template <class F>
inline constexpr bool sendable_callable_v =
    is_function_pointer_v<F> ||
    (std::is_class_v<F> && std::is_empty_v<F> && std::is_default_constructible_v<F> &&
     std::is_trivially_copyable_v<F>);

template <class F>
struct callable_cannot_be_sent_to_another_process {
  static_assert(sendable_callable_v<F>,
                "confut: this callable cannot be sent to another process: use a plain function, "
                "a capture-less lambda or an empty function object (a capturing lambda or a "
                "std::function holds state that has no meaning in another process; pass that "
                "state as arguments instead)");
  static constexpr bool value = true;
};

template <class F>
void write_callable(WireWriter& out, const F& fn) {
  if constexpr (is_function_pointer_v<F>) {
    const CodeLocation location = locate_function(fn);
    out.write(location.module);
    out.write(location.offset);
  } else {
    (void)out;
    (void)fn;
  }
}

template <class F>
F read_callable(WireReader& in) {
  if constexpr (is_function_pointer_v<F>) {
    CodeLocation location;
    location.module = in.read<std::uint64_t>();
    location.offset = in.read<std::uint64_t>();
    return resolve_function<std::remove_pointer_t<F>>(location);
  } else {
    (void)in;
    return F{};
  }
}

/// The value a worker receives for a stored argument of type A.
template <class A>
using remote_value_t = std::remove_cvref_t<typename ArgumentUnwrap<A>::Value>;

/// Runs in the worker: decode callable and arguments, call, encode the result.
template <class R, class F, class... Values>
void remote_invoke(WireReader& in, WireWriter& out) {
  note_call_started();
  F fn = read_callable<F>(in);
  std::tuple<Values...> values{in.read<Values>()...};  // braces: decoded left to right
  note_arguments_decoded();
  if constexpr (std::is_void_v<R>) {
    std::apply(fn, std::move(values));
    note_call_returned();
  } else {
    R result = std::apply(fn, std::move(values));
    note_call_returned();
    out.write(static_cast<const R&>(result));
  }
}

/// Where `Invoker` lives; looked up once per invoker.
template <auto Invoker>
CodeLocation invoker_location() {
  static const CodeLocation location = locate_function(Invoker);
  return location;
}

template <class R, class F, class... Args>
class ProcessTask final : public State<R>, public RemoteTask {
 public:
  template <class Fn, class... A>
  explicit ProcessTask(Fn&& fn, A&&... args)
      : closure_(std::in_place, std::forward<Fn>(fn), std::forward<A>(args)...) {
    if constexpr (is_function_pointer_v<F>) {
      function_address_ = reinterpret_cast<const void*>(std::get<0>(*closure_));
    }
  }

  /// A name given with confut::named(); the callable's own name otherwise.
  void set_given_name(std::string name) { given_name_ = std::move(name); }

  StateBase& remote_state() noexcept override { return *this; }

  void write_request(WireWriter& out) override {
    const CodeLocation invoker = invoker_location<&remote_invoke<R, F, remote_value_t<Args>...>>();
    out.write(std::uint64_t{0});  // frame size
    out.write(std::uint64_t{0});  // sequence number
    out.write(invoker.module);
    out.write(invoker.offset);
    std::apply(
        [&](F& fn, Args&... args) {
          write_callable(out, fn);
          (out.write(static_cast<const remote_value_t<Args>&>(ArgumentUnwrap<Args>::take(args))),
           ...);
        },
        *closure_);
  }

  std::uint8_t store_reply(WireReader& in) noexcept override {
    bool constructed = false;
    try {
      if constexpr (!std::is_void_v<R>) {
        this->emplace_value(in.read<R>());
        constructed = true;
      }
      if (in.remaining() != 0) throw DecodeError("confut: a task's result had trailing bytes");
    } catch (...) {
      if constexpr (!std::is_void_v<R>) {
        if (constructed) std::destroy_at(&this->value());
      }
      this->set_error(std::current_exception());
      release_closure();
      return kFailed;
    }
    release_closure();
    return kFinished;
  }

  void release_closure() noexcept { closure_.reset(); }

  bool withdraw_unstarted() noexcept override { return withdraw(*this); }
  bool started_running() const noexcept override { return started(); }

  bool wait_for_inputs(ReadySink& sink) { return inputs_.wait_for(*this, sink, *closure_); }

  std::string task_name() const override {
    if (!given_name_.empty()) return given_name_;
    return callable_name<F>(function_address_);
  }

  const void* name_key() const noexcept override {
    if (!given_name_.empty()) return nullptr;
    return function_address_ != nullptr ? function_address_ : &type_tag<F>;
  }

  std::vector<std::uint64_t> input_ids() const override {
    return inputs_.input_ids();
  }

 private:
  std::optional<std::tuple<F, Args...>> closure_;
  [[no_unique_address]] task_inputs_t<Args...> inputs_;
  const void* function_address_ = nullptr;  // the closure is gone once the reply is in
  std::string given_name_;
};

/// Runs in the worker: one call per element of a map chunk, each outcome (value or
/// exception) written separately so that one failing element does not hide the others.
template <class V, class F, class Arguments>
void remote_invoke_chunk(WireReader& in, WireWriter& out) {
  F fn = read_callable<F>(in);
  auto chunk = in.read<std::vector<Arguments>>();
  note_arguments_decoded();  // the results are encoded as the calls go
  out.write(static_cast<std::uint64_t>(chunk.size()));
  for (auto& arguments : chunk) {
    note_call_started();  // task_timeout applies to each call
    // A value whose encoding throws part-way (a Codec that checks late, a value nested too
    // deep) leaves bytes behind: they are dropped, so that the next outcome starts here.
    const std::size_t outcome_start = out.size();
    try {
      if constexpr (std::is_same_v<V, std::monostate>) {
        std::apply(fn, std::move(arguments));
        out.write(std::uint8_t{0});
      } else {
        V value = std::apply(fn, std::move(arguments));
        out.write(std::uint8_t{0});
        out.write(value);
      }
    } catch (...) {
      out.buffer().resize(outcome_start);
      out.write(std::uint8_t{1});
      encode_exception(out, std::current_exception());
    }
  }
}

/// A chunk of `map` sent to one worker; its future holds each element's outcome.
template <class V, class F, class Arguments>
class ProcessChunkTask final : public State<std::vector<std::variant<V, std::exception_ptr>>>,
                               public RemoteTask {
  using Chunk = std::vector<std::variant<V, std::exception_ptr>>;

 public:
  ProcessChunkTask(F fn, std::vector<Arguments> chunk)
      : fn_(std::move(fn)), chunk_(std::move(chunk)) {}

  StateBase& remote_state() noexcept override { return *this; }

  void write_request(WireWriter& out) override {
    const CodeLocation invoker = invoker_location<&remote_invoke_chunk<V, F, Arguments>>();
    out.write(std::uint64_t{0});
    out.write(std::uint64_t{0});
    out.write(invoker.module);
    out.write(invoker.offset);
    write_callable(out, fn_);
    out.write(chunk_);
  }

  std::uint8_t store_reply(WireReader& in) noexcept override {
    try {
      Chunk outcomes;
      const auto count = in.read<std::uint64_t>();
      // One outcome per call that was sent: a count beyond that is corrupt, and reserving
      // by it could ask for far more memory than the reply holds.
      if (count > in.remaining() || count > chunk_.size()) {
        throw DecodeError("confut: corrupt map chunk reply");
      }
      outcomes.reserve(static_cast<std::size_t>(count));
      for (std::uint64_t i = 0; i < count; ++i) {
        if (in.read<std::uint8_t>() == 0) {
          if constexpr (std::is_same_v<V, std::monostate>) {
            outcomes.emplace_back(std::in_place_index<0>);
          } else {
            outcomes.emplace_back(std::in_place_index<0>, in.read<V>());
          }
        } else {
          outcomes.emplace_back(std::in_place_index<1>, decode_exception(in));
        }
      }
      this->emplace_value(std::move(outcomes));
    } catch (...) {
      this->set_error(std::current_exception());
      chunk_.clear();
      return kFailed;
    }
    chunk_.clear();
    return kFinished;
  }

  std::string task_name() const override {
    if constexpr (is_function_pointer_v<F>) {
      return "map chunk of " + callable_name<F>(reinterpret_cast<const void*>(fn_));
    } else {
      return "map chunk of " + type_name<F>();
    }
  }

  const void* name_key() const noexcept override { return &type_tag<ProcessChunkTask>; }

  bool withdraw_unstarted() noexcept override { return withdraw(*this); }
  bool started_running() const noexcept override { return started(); }

 private:
  F fn_;
  std::vector<Arguments> chunk_;
};

/// Runs the done-callbacks of a process pool's futures on a thread of its own (started with
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

}  // namespace detail

/// A pool of worker processes with the ThreadPoolExecutor API. Tasks must be plain functions
/// or capture-less lambdas, and their arguments and results sendable (see
/// serialization.hpp); anything else is a compile-time error.
///
/// Workers are forked by a single-threaded fork server started with the pool, so a pool can
/// be created while threads run. A worker that dies fails only the task it was running
/// (WorkerDied, naming the pid and the signal or exit code) and is replaced; tasks queued
/// behind it go to other workers. Workers die with the parent and ignore SIGINT.
class ProcessPoolExecutor final : public detail::MapMethods<ProcessPoolExecutor>,
                                  private detail::ReadySink {
 public:
  explicit ProcessPoolExecutor(std::size_t max_workers = 0)
      : ProcessPoolExecutor(make_options(max_workers)) {}

  explicit ProcessPoolExecutor(ProcessPoolOptions options)
      : options_(options),
        worker_count_(options.max_workers != 0
                          ? options.max_workers
                          : std::max(1u, std::thread::hardware_concurrency())),
        worker_counters_(worker_count_),
        recorder_(detail::next_executor_name("ProcessPoolExecutor"), worker_count_) {
    recorder_.stats_source = [this] { return stats(); };
    detail::RecordingHub::instance().add_executor(recorder_);
    (void)detail::zygote_entry;  // keeps the re-exec entry point in every program using pools
    zygote_pid_ = detail::start_zygote(control_fd_);
    detail::ControlMessage config;
    config.type = detail::ControlMessage::kConfig;
    if (options_.initializer != nullptr) {
      config.config.has_initializer = true;
      config.config.initializer = detail::locate_function(options_.initializer);
    }
    config.config.max_tasks = options_.max_tasks_per_child;
    detail::send_control(control_fd_, config);

    event_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
    watch(control_fd_, kControlKey, EPOLLIN);
    watch(event_fd_, kEventKey, EPOLLIN);
    slots_.resize(worker_count_);
    for (std::size_t i = 0; i < worker_count_; ++i) spawn(i);
    dispatcher_ = std::thread([this] { dispatch_loop(); });
  }

  ProcessPoolExecutor(const ProcessPoolExecutor&) = delete;
  ProcessPoolExecutor& operator=(const ProcessPoolExecutor&) = delete;

  /// Shuts down, waits for the tasks, and leaves no worker process behind.
  ~ProcessPoolExecutor() {
    shutdown(true, false);
    if (dispatcher_.joinable()) dispatcher_.join();
    callbacks_.join();
    // Closed only here: other threads may still wake the dispatcher until now.
    ::close(epoll_fd_);
    ::close(event_fd_);
    detail::RecordingHub::instance().remove_executor(recorder_);
  }

  /// Schedules `fn(args...)` in a worker process and returns its future at once.
  template <class F, class... Args>
    requires std::invocable<std::decay_t<F>&, detail::remote_value_t<std::decay_t<Args>>...>
  Future<detail::task_result_t<F, Args...>> submit(F&& fn, Args&&... args) {
    using Fn = std::decay_t<F>;
    if constexpr (is_named_v<Fn>) {
      // The name stays here; the worker gets the callable inside.
      return submit_task(std::string(fn.name), std::forward<F>(fn).fn, std::forward<Args>(args)...);
    } else {
      return submit_task(std::string(), std::forward<F>(fn), std::forward<Args>(args)...);
    }
  }

  /// Used by map() for chunks of several elements (not meant to be called directly).
  template <class V, class F, class Arguments>
  Future<std::vector<std::variant<V, std::exception_ptr>>> submit_map_chunk(
      F fn, std::vector<Arguments> chunk) {
    static_assert(detail::callable_cannot_be_sent_to_another_process<F>::value);
    using TaskType = detail::ProcessChunkTask<V, F, Arguments>;
    using Chunk = std::vector<std::variant<V, std::exception_ptr>>;
    if (broken_.load(std::memory_order_acquire)) throw BrokenExecutor(broken_reason());
    if (!accepting_.load(std::memory_order_acquire)) throw ExecutorShutdownError();
    auto* task = new TaskType(std::move(fn), std::move(chunk));
    accept(*task);
    Future<Chunk> future(detail::StateRef<detail::State<Chunk>>::adopt(task));
    task->try_transition(detail::kWaiting, detail::kQueued);
    enqueue(*task, *task);
    return future;
  }

  /// Stops a task: a queued one is cancelled; a running one has its worker killed (and
  /// replaced) and its future reports cancellation. False when it already finished.
  template <class T>
  bool terminate(const Future<T>& future) {
    if (!future.valid() || future.state()->owner != this) return false;
    if (future.state()->cancel()) return true;
    if (future.done()) return future.cancelled();
    {
      std::lock_guard lock(submit_mutex_);
      future.state()->retain();
      terminate_requests_.push_back(future.state());
    }
    wake_dispatcher();
    future.wait();
    return future.cancelled();
  }

  /// Stops accepting tasks. With `wait`, returns when every accepted task has finished and
  /// every worker process has exited and been reaped; `cancel_futures` cancels tasks not yet
  /// started. Idempotent.
  void shutdown(bool wait = true, bool cancel_futures = false) {
    accepting_.store(false, std::memory_order_seq_cst);
    if (cancel_futures) cancelling_.store(true, std::memory_order_seq_cst);
    wake_dispatcher();
    if (wait) {
      {
        std::lock_guard lock(join_mutex_);
        if (dispatcher_.joinable()) dispatcher_.join();
      }
      callbacks_.join();  // from a done-callback: all but the callbacks still queued
    }
  }

  std::size_t max_workers() const noexcept { return worker_count_; }

  /// "ProcessPoolExecutor 2": this executor's name in statistics, traces and reports.
  const std::string& name() const noexcept { return recorder_.executor_name(); }

  /// Task counts by state and each worker's busy time, read without stopping anyone. A
  /// task counts as running while a worker runs it; tasks sent ahead to a worker, behind
  /// the one it runs, count as queued. Busy time is measured in this process, from the
  /// moment a task is at the head of a worker's queue to its reply.
  ExecutorStats stats() const {
    ExecutorStats stats;
    stats.executor = name();
    stats.uptime = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - created_);
    for (std::size_t i = 0; i < worker_count_; ++i) {
      const WorkerCounters& counters = worker_counters_[i];
      WorkerStats worker;
      worker.label = worker_label(i, counters.pid.load(std::memory_order_relaxed));
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

  /// Starts recording the task stream (see ThreadPoolExecutor::start_recording). Workers then
  /// time each task, and the pool the encoding and decoding of arguments and results.
  void start_recording() { recorder_.start_recording(); }

  /// Stops recording and returns what was recorded since start_recording() (tasks that
  /// ended since then). Without a recording, returns an empty stream.
  TaskStream stop_recording() { return recorder_.stop_recording(); }

  /// The process ids of the current workers (for diagnostics and tests).
  std::vector<int> worker_pids() const {
    std::lock_guard lock(pids_mutex_);
    return pids_;
  }

 private:
  using Clock = std::chrono::steady_clock;

  template <class F, class... Args>
  Future<detail::task_result_t<F, Args...>> submit_task(std::string given_name, F&& fn,
                                                        Args&&... args) {
    using Fn = std::decay_t<F>;
    static_assert(detail::callable_cannot_be_sent_to_another_process<Fn>::value);
    using R = detail::task_result_t<F, Args...>;
    using TaskType = detail::ProcessTask<R, Fn, std::decay_t<Args>...>;
    if (broken_.load(std::memory_order_acquire)) throw BrokenExecutor(broken_reason());
    if (!accepting_.load(std::memory_order_acquire)) throw ExecutorShutdownError();

    auto* task = new TaskType(std::forward<F>(fn), std::forward<Args>(args)...);
    if (!given_name.empty()) task->set_given_name(std::move(given_name));
    accept(*task);
    Future<R> future(detail::StateRef<detail::State<R>>::adopt(task));
    if constexpr (detail::any_future_argument<std::decay_t<Args>...>) {
      // inputs_ready() queues it once its input futures are done
      if (detail::wait_for_inputs_counted(*task, *this, waiting_tasks_)) {
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
    task->try_transition(detail::kWaiting, detail::kQueued);
    enqueue(*task, *task);
    return future;
  }

  /// A new task's id, counts and references: the future's, and the pool's until it retires.
  void accept(detail::StateBase& task) {
    task.owner = this;
    task.id_ = detail::next_task_id();
    task.set_initial_refs(2);
    submitted_count_.fetch_add(1, std::memory_order_relaxed);
    if (recorder_.on()) task.submitted_ns = detail::steady_nanoseconds(Clock::now());
  }

  static std::string worker_label(std::size_t index, int pid) {
    std::string label = "worker " + std::to_string(index);
    return pid > 0 ? label + " (pid " + std::to_string(pid) + ")" : label;
  }

  static constexpr std::uint64_t kControlKey = ~std::uint64_t{0};
  static constexpr std::uint64_t kEventKey = ~std::uint64_t{0} - 1;
  /// At most this many tasks are sent ahead to one worker: enough to hide the round trip.
  /// (The shared-memory rings are sized for this; see detail::kInlineLimit.)
  static constexpr std::size_t kMaxWindow = 32;
  static_assert(2 * kMaxWindow < detail::kClaimSlots);
  /// Tasks sent ahead move to a worker that runs out of work only while tasks take at least
  /// this long on average: for shorter ones the move costs more than it saves.
  static constexpr std::int64_t kRebalanceMinTaskNs = 50'000;
  /// While replies are due, the dispatcher spins at most this long before it sleeps in
  /// epoll (less while replies keep coming later than that: see detail::AdaptiveSpin).
  static constexpr auto kDispatcherSpin = std::chrono::microseconds(20);
  /// Without an initializer a worker that dies before it is ready (killed from outside, say)
  /// is replaced; only this many such deaths in a row, with no worker becoming ready in
  /// between, break the pool (something kills every new worker: replacing them would loop).
  static constexpr std::uint32_t kMaxStartDeathsInRow = 64;
  /// A task still unstarted this long after it reached the head of its worker's queue moves
  /// to another worker (see take_back_stalled): a live worker starts its head within
  /// microseconds, a few milliseconds on a loaded machine.
  static constexpr auto kStallAfter = std::chrono::milliseconds(250);
  /// How often the dispatcher looks whether a worker started its head (with task_timeout:
  /// that start wakes no one), and again at a stalled one that could not give its tasks away.
  static constexpr auto kStartPoll = std::chrono::milliseconds(20);

  struct Outgoing {
    detail::StateBase* state = nullptr;  // holds the pool's reference
    detail::RemoteTask* remote = nullptr;
  };

  struct InFlight {
    Outgoing task;
    std::uint64_t sequence = 0;  // with detail::kTimedRequest when recording
    std::int64_t encode_ns = 0;  // encoding the request, when recording
    std::uint64_t request = 0;   // its number in the worker's channel (detail::ClaimState)
    bool on_socket = false;      // too large for the ring: sent over the worker's socket
  };

  /// A worker slot's counters for stats(): written by the dispatcher, read by anyone.
  struct WorkerCounters {
    std::atomic<std::uint64_t> tasks{0};
    std::atomic<std::int64_t> busy_ns{0};
    std::atomic<std::size_t> in_flight{0};
    std::atomic<int> pid{0};
  };

  /// What a timed reply says, and what the pool measured around it (steady-clock ns).
  struct TaskTimes {
    std::int64_t started = 0, decoded = 0, returned = 0, ended = 0;  // in the worker
    std::int64_t encode_ns = 0;  // the request, here
    std::int64_t decode_ns = 0;  // the reply, here
  };

  enum class Phase { idle, spawning, starting, ready, closing };
  enum class KillReason { none, timeout, terminate };

  struct Slot {
    Phase phase = Phase::idle;
    pid_t pid = -1;
    int fd = -1;
    bool exited = false;
    int exit_status = 0;
    detail::SharedMemory memory;
    detail::WorkerChannel channel;  // in `memory`
    std::deque<std::vector<std::byte>> backlog;  // requests waiting for room in the ring
    bool awaiting_socket_reply = false;  // the ring said: the next reply is on the socket
    bool needs_wake = false;
    detail::FrameReader reader;  // messages too large for the rings
    detail::FrameWriter writer;
    std::deque<InFlight> in_flight;
    std::uint64_t requests_pushed = 0;  // numbers the requests as the worker does
    /// Requests taken back that the worker may not have popped yet (each still holds its
    /// claim slot); forgotten once the worker replies to a later one.
    std::vector<std::uint64_t> revoked;
    std::uint64_t sent = 0;
    Clock::time_point head_started{};
    KillReason kill_reason = KillReason::none;
    bool needs_flush = false;
    /// Its tasks were taken back by take_back_stalled(); it takes new ones once its
    /// request ring is empty.
    bool stalled = false;
  };

  static ProcessPoolOptions make_options(std::size_t max_workers) {
    ProcessPoolOptions options;
    options.max_workers = max_workers;
    return options;
  }

  // ---- called from any thread ----

  void enqueue(detail::StateBase& state, detail::RemoteTask& remote) {
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
    if (sleeping) wake_dispatcher();
  }

  void wake_dispatcher() {
    const std::uint64_t one = 1;
    [[maybe_unused]] const ssize_t n = ::write(event_fd_, &one, sizeof one);
  }

  void inputs_ready(detail::StateBase& state) noexcept override {
    if (!state.try_transition(detail::kWaiting, detail::kQueued)) {
      retire(state, -1);  // an input failed, or it was cancelled
    } else {
      enqueue(state, *dynamic_cast<detail::RemoteTask*>(&state));
    }
    waiting_tasks_.fetch_sub(1, std::memory_order_seq_cst);
    wake_dispatcher();
  }

  std::string broken_reason() const {
    std::lock_guard lock(broken_mutex_);
    return broken_reason_;
  }

  // ---- dispatcher thread ----

  void watch(int fd, std::uint64_t key, std::uint32_t events) {
    epoll_event event{};
    event.events = events;
    event.data.u64 = key;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &event);
  }

  void rewatch(int fd, std::uint64_t key, std::uint32_t events) {
    epoll_event event{};
    event.events = events;
    event.data.u64 = key;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, fd, &event);
  }

  void spawn(std::size_t index) {
    Slot& slot = slots_[index];
    slot = Slot{};
    try {
      slot.memory = detail::SharedMemory::create(detail::kChannelSize);
    } catch (const Error& e) {
      break_pool(e.what());
      return;
    }
    slot.channel = detail::WorkerChannel(slot.memory.data(), true);
    if (options_.task_timeout) slot.channel.header->time_calls.store(1, std::memory_order_relaxed);
    int ends[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ends) != 0) {
      break_pool("socketpair failed: " + std::string(std::strerror(errno)));
      return;
    }
    slot.fd = ends[0];
    ::fcntl(slot.fd, F_SETFL, ::fcntl(slot.fd, F_GETFL) | O_NONBLOCK);
    slot.phase = Phase::spawning;
    detail::ControlMessage request;
    request.type = detail::ControlMessage::kSpawn;
    request.slot = static_cast<std::uint32_t>(index);
    const int passed[detail::kMaxPassedFds] = {ends[1], slot.memory.fd(), event_fd_};
    const bool sent = detail::send_control(control_fd_, request, passed, detail::kMaxPassedFds);
    ::close(ends[1]);
    slot.memory.close_fd();
    if (!sent) {
      break_pool("the fork server is gone");
      return;
    }
    watch(slot.fd, index, EPOLLIN);
  }

  void dispatch_loop() {
    detail::deferred_callback_sink() = &callbacks_;  // done-callbacks never run here
    std::vector<epoll_event> events(64);
    std::deque<Outgoing> pending;
    while (true) {
      take_submitted(pending);
      assign(pending);
      while (rebalance(pending)) assign(pending);
      // Stalls take 250 ms: looked for after each sleep, and every 64 busy rounds.
      if ((++stall_rounds_ % 64 == 0 || std::exchange(woke_, false)) &&
          take_back_stalled(pending)) {
        assign(pending);
      }
      if (finished(pending)) break;

      // Replies due: a short spin catches them without a wake-up through the kernel. A busy
      // dispatcher still looks at its sockets (deaths, large messages) every few rounds.
      const bool replies_awaited = replies_due();
      const auto spin_start = replies_awaited ? Clock::now() : Clock::time_point{};
      const bool busy = replies_awaited && spin_for_work();
      if (busy) dispatcher_spin_.record(std::chrono::nanoseconds(0));
      if (busy && ++busy_rounds_ % 16 != 0) {
        take_all_replies();
        handle_terminate_requests();
        enforce_timeouts();
        continue;
      }
      int timeout_ms = 0;
      if (!busy) {
        timeout_ms = next_timeout_ms();
        {
          std::lock_guard lock(submit_mutex_);
          if (!submitted_.empty()) continue;
          dispatcher_sleeping_ = true;
        }
        // Workers ring the eventfd only when told (by these flags) that we sleep.
        if (!announce_sleep()) timeout_ms = 0;
      }
      const int n = ::epoll_wait(epoll_fd_, events.data(), static_cast<int>(events.size()),
                                 timeout_ms);
      woke_ = true;
      if (!busy) {
        end_sleep();
        std::lock_guard lock(submit_mutex_);
        dispatcher_sleeping_ = false;
      }
      if (replies_awaited && !busy) dispatcher_spin_.record(Clock::now() - spin_start);
      for (int i = 0; i < n; ++i) {
        const std::uint64_t key = events[static_cast<std::size_t>(i)].data.u64;
        const std::uint32_t flags = events[static_cast<std::size_t>(i)].events;
        if (key == kEventKey) {
          // Not a semaphore: one read takes the whole count (a second would only say EAGAIN).
          std::uint64_t count;
          (void)!::read(event_fd_, &count, sizeof count);
        } else if (key == kControlKey) {
          read_control(pending);
        } else {
          if ((flags & EPOLLOUT) != 0) flush(key);
          if ((flags & (EPOLLIN | EPOLLHUP | EPOLLERR)) != 0) read_replies(key);
        }
      }
      take_all_replies();
      handle_terminate_requests();
      enforce_timeouts();
    }
    close_everything();
    detail::deferred_callback_sink() = nullptr;
    callbacks_.finish();
  }

  bool replies_due() const {
    for (const Slot& slot : slots_) {
      if (!slot.in_flight.empty()) return true;
    }
    return false;
  }

  /// Spins until a worker replied or a task was submitted (true), or the spin limit passed.
  bool spin_for_work() const {
    const auto work_came = [this] {
      if (submissions_.load(std::memory_order_acquire)) return true;
      for (const Slot& slot : slots_) {
        if (slot.phase != Phase::idle && !slot.channel.replies.empty()) return true;
      }
      return false;
    };
    return detail::spin_until(work_came, Clock::now() + dispatcher_spin_.limit(),
                              detail::SpinYield::every_32_looks);
  }

  /// Tells every worker that the dispatcher is about to sleep. False (and withdrawn) when a
  /// reply came in meanwhile.
  bool announce_sleep() {
    for (Slot& slot : slots_) {
      if (slot.phase == Phase::idle) continue;
      if (!slot.channel.replies.prepare_sleep()) {
        end_sleep();
        return false;
      }
    }
    return true;
  }

  void end_sleep() {
    for (Slot& slot : slots_) {
      if (slot.phase != Phase::idle) slot.channel.replies.end_sleep();
    }
  }

  void take_all_replies() {
    for (std::size_t i = 0; i < slots_.size(); ++i) {
      if (slots_[i].phase != Phase::idle) take_replies(i);
    }
  }

  void take_submitted(std::deque<Outgoing>& pending) {
    std::lock_guard lock(submit_mutex_);
    for (auto& task : submitted_) pending.push_back(task);
    submitted_.clear();
    submissions_.store(false, std::memory_order_relaxed);
  }

  /// Sends pending tasks to ready workers, least loaded first.
  void assign(std::deque<Outgoing>& pending) {
    const bool cancelling = cancelling_.load(std::memory_order_acquire);
    const bool broken = broken_.load(std::memory_order_acquire);
    if (cancelling && !sent_ahead_cancelled_) {
      // shutdown(cancel_futures): tasks waiting in the workers' queues are taken back too.
      sent_ahead_cancelled_ = true;
      for (Slot& slot : slots_) {
        for (InFlight& entry : slot.in_flight) (void)entry.task.state->cancel();
      }
    }
    // Send far ahead only under a long backlog: a task sent to a worker moves to an idle one,
    // or is cancelled, only while the worker has not started it (see ClaimState).
    const std::size_t window =
        std::clamp<std::size_t>(pending.size() / slots_.size() + 1, 2, kMaxWindow);
    while (!pending.empty()) {
      Outgoing task = pending.front();
      detail::StateBase& state = *task.state;
      if (broken) {
        pending.pop_front();
        state.fail_before_start(std::make_exception_ptr(BrokenExecutor(broken_reason())));
        retire(state, -1);
        continue;
      }
      if (cancelling) {
        pending.pop_front();
        state.cancel();
        retire(state, -1);
        continue;
      }
      if (state.code() != detail::kQueued) {  // cancelled meanwhile
        pending.pop_front();
        retire(state, -1);
        continue;
      }
      Slot* best = nullptr;
      for (Slot& slot : slots_) {
        if (!can_take(slot, window)) continue;
        if (best == nullptr || slot.in_flight.size() < best->in_flight.size()) best = &slot;
      }
      if (best == nullptr) break;
      pending.pop_front();
      if (!state.try_transition(detail::kQueued, detail::kRunning)) {
        retire(state, -1);
        continue;
      }
      const bool timed = recorder_.on();
      const std::int64_t encode_start = timed ? detail::steady_nanoseconds(Clock::now()) : 0;
      scratch_.clear();  // keeps its capacity: no allocation per task
      try {
        task.remote->write_request(scratch_);
      } catch (...) {
        if (task.remote->encoding_failed()) {
          state.set_error(std::current_exception());
          retire(state, -1, nullptr, {}, detail::kFailed);
        } else {
          retire(state, -1);  // cancelled meanwhile
        }
        continue;
      }
      const std::int64_t encode_ns =
          timed ? detail::steady_nanoseconds(Clock::now()) - encode_start : 0;
      const std::uint64_t sequence = ++next_sequence_ | (timed ? detail::kTimedRequest : 0);
      std::memcpy(scratch_.buffer().data() + sizeof(std::uint64_t), &sequence, sizeof sequence);
      const std::uint64_t request = best->requests_pushed;
      best->channel.header->mark_sent(request);
      if (!task.remote->set_claim(best->channel.header, request)) {
        retire(state, -1);  // cancelled while it was encoded; the number goes to the next
        continue;
      }
      ++best->requests_pushed;
      if (best->in_flight.empty()) best->head_started = Clock::now();
      const bool on_socket = scratch_.buffer().size() - detail::kFrameHeader > detail::kInlineLimit;
      best->in_flight.push_back(InFlight{task, sequence, encode_ns, request, on_socket});
      note_in_flight(*best);
      ++best->sent;
      send_request(*best, scratch_.buffer());
    }
    flush_assigned();
  }

  bool can_take(const Slot& slot, std::size_t window) const {
    if (slot.phase != Phase::ready || slot.in_flight.size() >= window) return false;
    if (slot.stalled && !slot.channel.requests.empty()) return false;  // see take_back_stalled
    if (slot.in_flight.size() + slot.revoked.size() + 1 >= detail::kClaimSlots) return false;
    return options_.max_tasks_per_child == 0 || slot.sent < options_.max_tasks_per_child;
  }

  /// When one worker has nothing queued behind its current task (or no task) while another
  /// has at least two more tasks than it, takes back the newest task sent to the busier
  /// one, if that worker has not started it yet, and puts it first in `pending` for the
  /// next assign(). Tasks sent ahead are thus no longer bound to their worker: a worker that
  /// started late (the kernel may take milliseconds to give a woken process a core) or ran
  /// slower does not finish its share long after the others (W4: 1-5 ms in a 52 ms run).
  /// Returns whether it moved one.
  bool rebalance(std::deque<Outgoing>& pending) {
    if (!pending.empty() || recent_task_ns_ < kRebalanceMinTaskNs) return false;
    Slot* idlest = nullptr;
    Slot* busiest = nullptr;
    for (Slot& slot : slots_) {
      if (slot.phase != Phase::ready) continue;
      const bool less_loaded =
          idlest == nullptr || slot.in_flight.size() < idlest->in_flight.size();
      if (less_loaded && can_take(slot, 2)) idlest = &slot;
      if (busiest == nullptr || slot.in_flight.size() > busiest->in_flight.size()) busiest = &slot;
    }
    if (idlest == nullptr || busiest == nullptr ||
        busiest->in_flight.size() < idlest->in_flight.size() + 2) {
      return false;
    }
    const InFlight newest = busiest->in_flight.back();
    if (busiest->kill_reason != KillReason::none ||
        !newest.task.remote->take_back(*newest.task.state)) {
      return false;  // it has started it (and so every task before it), or it was cancelled
    }
    busiest->in_flight.pop_back();
    note_in_flight(*busiest);
    busiest->revoked.push_back(newest.request);
    --busiest->sent;
    pending.push_front(newest.task);
    return true;
  }

  /// Puts a request frame (u64 size header first) in the worker's ring, or, when too large
  /// for it, an empty message in the ring and the frame on the socket.
  void send_request(Slot& slot, std::vector<std::byte>& frame) {
    const std::size_t size = frame.size() - detail::kFrameHeader;
    if (size > detail::kInlineLimit) {
      push_request(slot, nullptr, 0);
      slot.writer.push(std::move(frame));
      slot.needs_flush = true;
    } else {
      push_request(slot, frame.data() + detail::kFrameHeader, size);
    }
  }

  void push_request(Slot& slot, const std::byte* payload, std::size_t size) {
    slot.needs_wake = true;
    if (slot.backlog.empty() && slot.channel.requests.try_push(payload, size)) return;
    slot.backlog.emplace_back(payload, payload + size);
  }

  /// Moves what waits in the backlog into the ring, as far as it has room.
  void push_backlog(Slot& slot) {
    while (!slot.backlog.empty()) {
      const std::vector<std::byte>& message = slot.backlog.front();
      if (!slot.channel.requests.try_push(message.data(), message.size())) return;
      slot.backlog.pop_front();
      slot.needs_wake = true;
    }
  }

  /// One wake-up (only if the worker sleeps) and one socket write per worker for everything
  /// assigned in this round.
  void flush_assigned() {
    for (std::size_t i = 0; i < slots_.size(); ++i) {
      Slot& slot = slots_[i];
      if (slot.needs_wake) {
        slot.needs_wake = false;
        if (slot.channel.requests.take_sleeper()) slot.channel.requests.wake_consumer();
      }
      if (!slot.needs_flush) continue;
      slot.needs_flush = false;
      flush(i);
    }
  }

  void flush(std::size_t index) {
    Slot& slot = slots_[index];
    if (slot.fd < 0) return;
    slot.writer.flush(slot.fd);  // a dead worker shows up as EOF / exit, handled there
    rewatch(slot.fd, index, slot.writer.empty() ? EPOLLIN : EPOLLIN | EPOLLOUT);
  }

  /// Reads what a worker sent. At end of stream closes our side; the worker is gone once
  /// both that and its exit status (from the fork server) are in.
  void read_replies(std::size_t index) {
    Slot& slot = slots_[index];
    while (slot.fd >= 0) {
      const long n = slot.reader.read_from(slot.fd);
      take_replies(index);
      if (n > 0) continue;
      if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        close_stream(slot);
        if (slot.exited) worker_gone(index);
      }
      return;
    }
  }

  void close_stream(Slot& slot) {
    if (slot.fd < 0) return;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, slot.fd, nullptr);
    ::close(slot.fd);
    slot.fd = -1;
  }

  /// Takes every reply the worker has sent so far: from its ring, and from its socket where
  /// the ring points there. Then refills its ring from the backlog.
  void take_replies(std::size_t index) {
    Slot& slot = slots_[index];
    while (true) {
      if (slot.awaiting_socket_reply) {
        const std::byte* data = nullptr;
        std::size_t size = 0;
        if (!slot.reader.next(data, size)) break;  // the rest comes with the next read
        slot.awaiting_socket_reply = false;
        handle_reply(slot, data, size);
      } else {
        if (!slot.channel.replies.pop(incoming_)) break;
        if (incoming_.empty()) {
          slot.awaiting_socket_reply = true;
        } else {
          handle_reply(slot, incoming_.data(), incoming_.size());
        }
      }
    }
    if (!slot.backlog.empty()) {
      push_backlog(slot);
      flush_assigned();
    }
  }

  void handle_reply(Slot& slot, const std::byte* data, std::size_t size) {
    const auto index = static_cast<std::size_t>(&slot - slots_.data());
    try {
      WireReader header(data, size);
      const auto sequence = header.read<std::uint64_t>();
      const auto kind = static_cast<detail::WorkerReply>(header.read<std::uint8_t>());
      if (kind == detail::WorkerReply::ready) {
        slot.phase = Phase::ready;
        start_deaths_in_row_ = 0;
        return;
      }
      if (kind == detail::WorkerReply::init_failed) {
        break_pool("the worker initializer failed: " +
                   detail::describe_exception(detail::decode_exception(header)));
        return;
      }
      if (slot.in_flight.empty() || slot.in_flight.front().sequence != sequence) return;
      InFlight done = slot.in_flight.front();
      slot.in_flight.pop_front();
      note_in_flight(slot);
      done.task.remote->clear_claim();
      // The worker popped every request before this one: their claim slots are free.
      std::erase_if(slot.revoked, [&](std::uint64_t request) { return request < done.request; });
      const auto now = Clock::now();
      if (kind == detail::WorkerReply::cancelled) {
        // Cancelled before it started (Future::cancel() completed its future); the worker
        // skipped it. (Still kRunning would be a bug; publishing then avoids a hang.)
        slot.head_started = now;
        const bool still_running = done.task.state->code() == detail::kRunning;
        retire(*done.task.state, -1, nullptr, {},
               still_running ? detail::kCancelled : detail::kWaiting);
        return;
      }
      note_busy(index, now - slot.head_started);
      note_task_time(now - slot.head_started);
      slot.head_started = now;
      TaskTimes times;
      constexpr std::size_t kHeader = sizeof(std::uint64_t) + sizeof(std::uint8_t);
      std::size_t payload = size - kHeader;
      if ((sequence & detail::kTimedRequest) != 0 && payload >= detail::kTimestampsSize) {
        payload -= detail::kTimestampsSize;
        WireReader stamps(data + kHeader + payload, detail::kTimestampsSize);
        times.started = stamps.read<std::int64_t>();
        times.decoded = stamps.read<std::int64_t>();
        times.returned = stamps.read<std::int64_t>();
        times.ended = stamps.read<std::int64_t>();
        times.encode_ns = done.encode_ns;
      }
      WireReader in(data + kHeader, payload);
      complete(done.task, kind, in, index, times);
    } catch (...) {
      // A frame that cannot be read: fail the task it belonged to, if known.
      if (!slot.in_flight.empty()) {
        InFlight done = slot.in_flight.front();
        slot.in_flight.pop_front();
        note_in_flight(slot);
        done.task.remote->clear_claim();
        if (done.task.state->code() == detail::kRunning) {
          done.task.state->set_error(std::current_exception());
          retire(*done.task.state, static_cast<int>(index), nullptr, {}, detail::kFailed);
        } else {
          retire(*done.task.state, -1);  // cancelled meanwhile
        }
      }
    }
  }

  void complete(Outgoing task, detail::WorkerReply kind, WireReader& in, std::size_t worker,
                TaskTimes& times) {
    detail::StateBase& state = *task.state;
    if (state.code() != detail::kRunning) {  // stopped by terminate() before it started
      retire(state, -1);
      return;
    }
    const bool timed = times.ended != 0;
    const std::int64_t decode_start = timed ? detail::steady_nanoseconds(Clock::now()) : 0;
    std::string name;
    std::uint8_t outcome = detail::kFailed;
    if (kind == detail::WorkerReply::value) {
      // Named before the reply releases the callable.
      if (recorder_.on()) {
        name = recorder_.name_for(static_cast<int>(worker), state.name_key(),
                                  [&] { return state.task_name(); });
      }
      outcome = task.remote->store_reply(in);
    } else {
      std::exception_ptr error;
      try {
        error = detail::decode_exception(in);
      } catch (...) {
        error = std::current_exception();
      }
      state.set_error(std::move(error));
    }
    if (timed) times.decode_ns = detail::steady_nanoseconds(Clock::now()) - decode_start;
    retire(state, static_cast<int>(worker), timed ? &times : nullptr, std::move(name), outcome);
  }

  // ---- statistics and the task stream (dispatcher thread, but for inputs_ready) ----

  void note_in_flight(const Slot& slot) {
    worker_counters_[static_cast<std::size_t>(&slot - slots_.data())].in_flight.store(
        slot.in_flight.size(), std::memory_order_relaxed);
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

  /// The pool lets go of a task it is done with: counts its outcome, records it while
  /// recording, publishes it when `publish` gives its final code (after counting: a caller
  /// who saw the result sees it counted), and drops the pool's reference. `worker` is -1
  /// for a task that never ran.
  void retire(detail::StateBase& state, int worker, const TaskTimes* times = nullptr,
              std::string name = {}, std::uint8_t publish = detail::kWaiting) {
    const std::uint8_t code = publish != detail::kWaiting ? publish : state.code();
    if (code == detail::kFinished) {
      finished_.fetch_add(1, std::memory_order_relaxed);
    } else if (code == detail::kFailed) {
      failed_.fetch_add(1, std::memory_order_relaxed);
    } else if (code == detail::kCancelled) {
      cancelled_.fetch_add(1, std::memory_order_relaxed);
    }
    if (worker >= 0 && code != detail::kCancelled) {
      detail::increment_unshared(worker_counters_[static_cast<std::size_t>(worker)].tasks);
    }
    if (recorder_.on()) [[unlikely]] record(state, code, worker, times, std::move(name));
    if (publish != detail::kWaiting) state.publish(publish);
    state.release();
  }

  void record(detail::StateBase& state, std::uint8_t code, int worker, const TaskTimes* times,
              std::string name) {
    TaskRecord record = recorder_.record_of(state, worker, std::move(name));
    record.outcome = detail::outcome_of(code);
    const auto now = Clock::now();
    if (times != nullptr) {
      record.started = detail::steady_time_point(times->started);
      record.ended = detail::steady_time_point(times->ended);
      // Here and in the worker: the request encoded here and decoded there, the result
      // encoded there and decoded here.
      record.encode_time =
          std::chrono::nanoseconds(times->encode_ns + (times->ended - times->returned));
      record.decode_time =
          std::chrono::nanoseconds(times->decode_ns + (times->decoded - times->started));
    } else if (worker >= 0) {
      // Untimed (a crash, a timeout, a stop): from the head of the worker's queue to now.
      record.started = slots_[static_cast<std::size_t>(worker)].head_started;
      record.ended = now;
    } else {
      record.started = record.ended = now;
    }
    recorder_.add(std::move(record));
  }

  void read_control(std::deque<Outgoing>& pending) {
    detail::ControlMessage message;
    while (true) {
      // Non-blocking peek: the socket is readable at least once.
      pollfd check{control_fd_, POLLIN, 0};
      if (::poll(&check, 1, 0) <= 0) return;
      if (!detail::receive_control(control_fd_, message)) {
        fork_server_died(pending);
        return;
      }
      if (message.type == detail::ControlMessage::kSpawned) {
        Slot& slot = slots_[message.slot];
        slot.pid = message.pid;
        worker_counters_[message.slot].pid.store(message.pid, std::memory_order_relaxed);
        recorder_.set_worker_label(message.slot, worker_label(message.slot, message.pid));
        // The worker's "ready" may have come in first, on its own socket.
        if (slot.phase == Phase::spawning) slot.phase = Phase::starting;
        if (message.pid <= 0) {
          slot.phase = Phase::idle;
          break_pool("the fork server could not fork a worker");
        }
        std::lock_guard lock(pids_mutex_);
        pids_.push_back(message.pid);
      } else if (message.type == detail::ControlMessage::kExited) {
        for (std::size_t i = 0; i < slots_.size(); ++i) {
          Slot& slot = slots_[i];
          if (slot.pid != message.pid || slot.phase == Phase::idle) continue;
          slot.exited = true;
          slot.exit_status = message.status;
          read_replies(i);  // takes the replies it sent before dying; may finish the slot
          if (slot.pid == message.pid && slot.phase != Phase::idle) {
            close_stream(slot);
            worker_gone(i, &pending);
          }
        }
        std::lock_guard lock(pids_mutex_);
        pids_.erase(std::remove(pids_.begin(), pids_.end(), message.pid), pids_.end());
      }
    }
  }

  /// The fork server is gone (its workers die with it): every worker counts as killed.
  void fork_server_died(std::deque<Outgoing>& pending) {
    break_pool("the fork server died");
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, control_fd_, nullptr);
    for (std::size_t i = 0; i < slots_.size(); ++i) {
      Slot& slot = slots_[i];
      if (slot.phase == Phase::idle) continue;
      slot.exited = true;
      slot.exit_status = SIGKILL;  // as waitpid reports a SIGKILL
      close_stream(slot);
      worker_gone(i, &pending);
    }
  }

  /// The worker in `index` has exited and its stream is closed: fail or requeue its tasks
  /// and start a replacement.
  void worker_gone(std::size_t index, std::deque<Outgoing>* pending = nullptr) {
    Slot& slot = slots_[index];
    take_replies(index);  // what it put in its ring before it died
    slot.backlog.clear();
    const bool was_starting = slot.phase == Phase::starting || slot.phase == Phase::spawning;
    const int status = slot.exit_status;
    const pid_t pid = slot.pid;
    slot.phase = Phase::idle;
    if (!slot.in_flight.empty()) {
      InFlight head = slot.in_flight.front();
      // The head was started, or its claim still says "sent" (the worker died before it
      // popped it, e.g. killed while idle just as the task was sent): then it is taken back
      // and goes to another worker with the rest, never blamed for the death.
      if (!head.task.remote->take_back(*head.task.state)) {
        slot.in_flight.pop_front();
        head.task.remote->clear_claim();
        note_busy(index, Clock::now() - slot.head_started);
        fail_head(head.task, slot.kill_reason, pid, status, index);
      }
      // The rest had not started: other workers take them, in their order (requeue() leaves
      // a head taken back as it is).
      if (pending != nullptr) {
        for (auto it = slot.in_flight.rbegin(); it != slot.in_flight.rend(); ++it) {
          it->task.remote->requeue(*it->task.state);
          pending->push_front(it->task);
        }
      } else {
        std::lock_guard lock(submit_mutex_);
        for (auto it = slot.in_flight.rbegin(); it != slot.in_flight.rend(); ++it) {
          it->task.remote->requeue(*it->task.state);
          submitted_.push_front(it->task);
        }
      }
      slot.in_flight.clear();
      note_in_flight(slot);
    }
    slot.writer.clear();
    if (was_starting && !broken_.load()) {
      if (options_.initializer != nullptr) {
        break_pool("a worker died while starting (" + describe_status(status) +
                   "); the initializer may have crashed");
      } else if (++start_deaths_in_row_ >= kMaxStartDeathsInRow) {
        break_pool(std::to_string(start_deaths_in_row_) +
                   " workers in a row died while starting, before any became ready (the last " +
                   describe_status(status) + ")");
      }
    }
    if (!broken_.load() && (accepting_.load() || has_work_left(pending))) spawn(index);
  }

  bool has_work_left(std::deque<Outgoing>* pending) {
    if (pending != nullptr && !pending->empty()) return true;
    std::lock_guard lock(submit_mutex_);
    return !submitted_.empty() || waiting_tasks_.load() != 0;
  }

  static std::string describe_status(int status) {
    if (WIFSIGNALED(status)) {
      const int signal = WTERMSIG(status);
      const char* name = ::sigabbrev_np(signal);
      return std::string("killed by signal ") + std::to_string(signal) +
             (name != nullptr ? std::string(" (SIG") + name + ")" : std::string());
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == detail::kChannelClosedExit) {
      return std::string("exited: ") + detail::kChannelClosedText;
    }
    if (WIFEXITED(status)) return "exited with code " + std::to_string(WEXITSTATUS(status));
    return "ended with status " + std::to_string(status);
  }

  void fail_head(Outgoing task, KillReason reason, pid_t pid, int status, std::size_t worker) {
    detail::StateBase& state = *task.state;
    std::uint8_t outcome = detail::kWaiting;  // nothing to publish: it is done already
    if (state.code() == detail::kRunning) {
      outcome = detail::kFailed;
      if (reason == KillReason::terminate) {
        outcome = detail::kCancelled;
      } else if (reason == KillReason::timeout) {
        state.set_error(std::make_exception_ptr(TimeoutError(
            "confut: " + state.describe() + " ran past its timeout; its worker (pid " +
            std::to_string(pid) + ") was killed")));
      } else {
        const int signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
        const int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        state.set_error(std::make_exception_ptr(WorkerDied(
            "confut: the worker process (pid " + std::to_string(pid) + ") running " +
                state.describe() + " " + describe_status(status),
            pid, signal, code)));
      }
    }
    retire(state, static_cast<int>(worker), nullptr, {}, outcome);
  }

  void handle_terminate_requests() {
    std::vector<detail::StateBase*> requests;
    {
      std::lock_guard lock(submit_mutex_);
      requests.swap(terminate_requests_);
    }
    for (detail::StateBase* target : requests) {
      for (Slot& slot : slots_) {
        for (std::size_t i = 0; i < slot.in_flight.size(); ++i) {
          if (slot.in_flight[i].task.state != target) continue;
          // Not started: cancel() takes it back. Started: the worker runs it now (those
          // before it have finished), so the worker is killed; it fails as cancelled.
          if (target->cancel()) break;
          if (target->code() != detail::kRunning) break;  // finished meanwhile
          slot.kill_reason = KillReason::terminate;
          if (slot.pid > 0) ::kill(slot.pid, SIGKILL);
          break;
        }
      }
      target->release();
    }
  }

  /// When the call the worker runs now started, or nothing while it has not started the
  /// task at the head of its queue. The worker notes the start of each task and of each call
  /// of a map chunk (detail::note_call_started); a note older than head_started (the
  /// previous task's, before this one noted its own) counts from head_started instead.
  std::optional<Clock::time_point> call_started(const Slot& slot) const {
    if (slot.in_flight.empty() || slot.phase == Phase::idle) return std::nullopt;
    const InFlight& head = slot.in_flight.front();
    detail::ChannelHeader& header = *slot.channel.header;
    if (header.unstarted(head.request) || header.cancelled(head.request)) return std::nullopt;
    const auto noted = detail::steady_time_point(
        header.call_started_ns.load(std::memory_order_acquire));
    return std::max(noted, slot.head_started);
  }

  /// task_timeout counts from the start of each call (not from when a task was sent, nor
  /// from the start of its chunk): a task that never started never times out.
  void enforce_timeouts() {
    if (!options_.task_timeout) return;
    const auto now = Clock::now();
    for (Slot& slot : slots_) {
      if (slot.kill_reason != KillReason::none || slot.pid <= 0) continue;
      const std::optional<Clock::time_point> started = call_started(slot);
      if (started && now - *started >= *options_.task_timeout) {
        slot.kill_reason = KillReason::timeout;
        ::kill(slot.pid, SIGKILL);
      }
    }
  }

  /// How long epoll may sleep: until the next call's timeout, or kStallAfter after a task
  /// reached the head of a worker's queue unstarted; with task_timeout, a worker whose head
  /// has not started is looked at every kStartPoll (the start of a call wakes no one).
  int next_timeout_ms() const {
    auto earliest = Clock::time_point::max();
    const auto now = Clock::now();
    for (const Slot& slot : slots_) {
      if (slot.in_flight.empty() || slot.kill_reason != KillReason::none) continue;
      if (const std::optional<Clock::time_point> started = call_started(slot)) {
        if (options_.task_timeout) earliest = std::min(earliest, *started + *options_.task_timeout);
        continue;
      }
      if (slot.phase == Phase::idle) continue;
      if (slots_.size() > 1 && !slot.in_flight.front().on_socket && !slot.stalled) {
        // Past due: no other worker could take its tasks then; look again a while later.
        const auto stall_check = std::max(slot.head_started + kStallAfter, now + kStartPoll);
        earliest = std::min(earliest, stall_check);
      }
      if (options_.task_timeout) earliest = std::min(earliest, now + kStartPoll);
    }
    if (earliest == Clock::time_point::max()) return -1;
    const auto wait = std::chrono::ceil<std::chrono::milliseconds>(earliest - now);
    return static_cast<int>(std::max<std::int64_t>(0, wait.count()));
  }

  /// A worker that has not started the task at the head of its queue kStallAfter after it
  /// got there (stopped by SIGSTOP, say, or starved of CPU), while another worker could
  /// take it: its tasks not started go back to `pending`, in order, and it gets no more
  /// until it has emptied its request ring (it is alive then). A head sent over the socket
  /// is left alone (the worker may still be reading it). Returns whether it moved any.
  bool take_back_stalled(std::deque<Outgoing>& pending) {
    std::optional<Clock::time_point> now;  // read once, and only when needed
    bool moved = false;
    for (Slot& slot : slots_) {
      if (slot.stalled && slot.channel.requests.empty()) slot.stalled = false;  // alive again
      if (slot.phase != Phase::ready || slot.in_flight.empty() || slot.stalled ||
          slot.kill_reason != KillReason::none || slot.in_flight.front().on_socket) {
        continue;
      }
      if (!now) now = Clock::now();
      if (*now - slot.head_started < kStallAfter ||
          !slot.channel.header->unstarted(slot.in_flight.front().request)) {
        continue;
      }
      const bool other_can_take = std::any_of(slots_.begin(), slots_.end(), [&](const Slot& other) {
        return &other != &slot && can_take(other, kMaxWindow);
      });
      if (!other_can_take) continue;
      slot.stalled = true;
      while (!slot.in_flight.empty()) {
        const InFlight newest = slot.in_flight.back();
        if (!newest.task.remote->take_back(*newest.task.state)) break;  // started after all
        slot.in_flight.pop_back();
        slot.revoked.push_back(newest.request);
        --slot.sent;
        pending.push_front(newest.task);
        moved = true;
      }
      note_in_flight(slot);
    }
    return moved;
  }

  /// Done when shut down and nothing is pending, waiting or running any more. Then closes
  /// the submission queue (under its lock): a submit() that passed its check before the
  /// shutdown but enqueues only now has its task cancelled in enqueue().
  bool finished(const std::deque<Outgoing>& pending) {
    if (accepting_.load(std::memory_order_seq_cst)) return false;
    if (!pending.empty() || waiting_tasks_.load(std::memory_order_seq_cst) != 0) return false;
    for (const Slot& slot : slots_) {
      if (!slot.in_flight.empty()) return false;
    }
    std::lock_guard lock(submit_mutex_);
    if (!submitted_.empty() || !terminate_requests_.empty()) return false;
    // Again under the lock: a submit that counted a waiting task before it looked at closed_
    // (under this lock) is seen here.
    if (waiting_tasks_.load(std::memory_order_seq_cst) != 0) return false;
    closed_ = true;
    return true;
  }

  /// Closes the workers' streams (they exit), then the fork server's (it reaps them and
  /// exits), and reaps the fork server: no zombie, no orphan.
  void close_everything() {
    for (Slot& slot : slots_) {
      if (slot.phase != Phase::idle) {
        slot.channel.header->closing.store(1, std::memory_order_release);
        slot.channel.requests.wake_consumer();
      }
      if (slot.fd >= 0) {
        ::shutdown(slot.fd, SHUT_RDWR);  // ends the stream even where a forked child holds it
        ::close(slot.fd);
        slot.fd = -1;
      }
    }
    // A process this one forked (without exec) holds copies of the control socket: only
    // shutdown() ends the stream for the fork server while that process lives.
    ::shutdown(control_fd_, SHUT_RDWR);
    ::close(control_fd_);
    control_fd_ = -1;
    int status = 0;
    while (::waitpid(zygote_pid_, &status, 0) < 0 && errno == EINTR) {
    }
    {
      std::lock_guard lock(pids_mutex_);
      pids_.clear();
    }
  }

  void break_pool(const std::string& reason) {
    {
      std::lock_guard lock(broken_mutex_);
      if (broken_reason_.empty()) broken_reason_ = "confut: the process pool is broken: " + reason;
    }
    broken_.store(true, std::memory_order_release);
  }

  ProcessPoolOptions options_;
  const std::size_t worker_count_;
  pid_t zygote_pid_ = -1;
  int control_fd_ = -1;
  int event_fd_ = -1;
  int epoll_fd_ = -1;
  std::vector<Slot> slots_;  // dispatcher thread only (after construction)
  std::thread dispatcher_;
  std::uint64_t next_sequence_ = 0;
  std::uint64_t busy_rounds_ = 0;
  bool sent_ahead_cancelled_ = false;  // by shutdown(cancel_futures)
  std::int64_t recent_task_ns_ = 0;  // how long tasks take in a worker, lately (dispatcher)
  std::uint32_t start_deaths_in_row_ = 0;  // see kMaxStartDeathsInRow (dispatcher)
  std::uint64_t stall_rounds_ = 0;         // rounds of the dispatcher, for take_back_stalled
  bool woke_ = false;                      // the dispatcher slept in epoll since the last look
  detail::AdaptiveSpin dispatcher_spin_{kDispatcherSpin};
  WireWriter scratch_;                // the request being encoded
  std::vector<std::byte> incoming_;  // the reply being decoded

  std::mutex submit_mutex_;
  std::deque<Outgoing> submitted_;
  bool dispatcher_sleeping_ = false;  // guarded by submit_mutex_
  bool closed_ = false;  // the dispatcher has finished; guarded by submit_mutex_
  std::atomic<bool> submissions_{false};  // submitted_ may be non-empty (read without the lock)
  std::vector<detail::StateBase*> terminate_requests_;

  std::atomic<std::uint64_t> submitted_count_{0};
  std::atomic<std::uint32_t> waiting_tasks_{0};
  std::atomic<bool> accepting_{true};
  std::atomic<bool> cancelling_{false};
  std::atomic<bool> broken_{false};
  mutable std::mutex broken_mutex_;
  std::string broken_reason_;
  mutable std::mutex pids_mutex_;
  std::vector<int> pids_;

  // Statistics and the task-stream recorder.
  const Clock::time_point created_ = Clock::now();
  std::vector<WorkerCounters> worker_counters_;  // one per slot
  std::atomic<std::uint64_t> finished_{0};
  std::atomic<std::uint64_t> failed_{0};
  std::atomic<std::uint64_t> cancelled_{0};
  detail::TaskRecorder recorder_;
  std::mutex join_mutex_;
  detail::CallbackRunner callbacks_;  // done-callbacks of this pool's futures
};

}  // namespace confut
