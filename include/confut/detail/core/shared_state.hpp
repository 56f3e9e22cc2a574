#pragma once
// The shared state behind a Future: status, value or error, and the continuations that run
// when it completes. A task is a shared state that also knows how to run itself (task.hpp).

#include <atomic>
#include <cstdint>
#include <exception>
#include <memory>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include "../../error_handler.hpp"
#include "task_allocator.hpp"
#include "type_name.hpp"

namespace confut::detail {

struct ThreadContext;
class Scheduler;
struct StateBase;

/// Life cycle of a shared state. Only the thread that moves a state out of a pending
/// step (waiting/queued) owns the right to write its value or error.
enum StateCode : std::uint8_t {
  kWaiting = 0,     // a task whose input futures are not all done yet
  kQueued = 1,      // ready to run, in some queue
  kRunning = 2,     // claimed by a thread
  kFinished = 3,    // has a value
  kFailed = 4,      // has an error
  kCancelled = 5,   // cancelled before it started
  kCompleting = 6,  // being failed because an input failed; shown as pending
};

inline bool is_done(std::uint8_t code) {
  return code == kFinished || code == kFailed || code == kCancelled;
}

/// Something to run once a state is done. Intrusive so that a task can embed the nodes it
/// hangs on its inputs; `fire` owns the node from then on (it may delete it).
struct Continuation {
  Continuation* next = nullptr;
  void (*fire)(Continuation* self, StateBase& done_state) noexcept = nullptr;
  /// A done-callback: user code, which may block. See deferred_callback_sink().
  bool user_code = false;
};

/// Takes the done-callbacks of the states completed on a thread that must never run user
/// code (a process pool's dispatcher: a callback that waits for the pool would wait for
/// itself), to run them elsewhere. `defer` owns the node from then on and must keep the
/// state alive until it has fired it.
class DeferredCallbackSink {
 public:
  virtual void defer(Continuation* node, StateBase& state) noexcept = 0;

 protected:
  ~DeferredCallbackSink() = default;
};

/// This thread's sink for done-callbacks; null (run them here) on most threads.
inline DeferredCallbackSink*& deferred_callback_sink() noexcept {
  static thread_local DeferredCallbackSink* sink = nullptr;
  return sink;
}

/// Marks a continuation list whose state has completed: late registrants run at once.
inline constinit Continuation closed_list_marker{};

struct StateBase {
  StateBase() = default;
  StateBase(const StateBase&) = delete;
  StateBase& operator=(const StateBase&) = delete;
  virtual ~StateBase() = default;

  // Every state, a task included, is made with `new` and freed by release(): both go through
  // TaskAllocator, which recycles the memory. Over-aligned types keep operator new's own.
  static void* operator new(std::size_t size) { return TaskAllocator::allocate(size); }
  static void operator delete(void* pointer, std::size_t size) noexcept {
    TaskAllocator::deallocate(pointer, size);
  }
  static void* operator new(std::size_t size, std::align_val_t alignment) {
    return ::operator new(size, alignment);
  }
  static void operator delete(void* pointer, std::size_t /*size*/,
                              std::align_val_t alignment) noexcept {
    ::operator delete(pointer, alignment);
  }

  // ---- reference counting (a Future, a queue entry, a dependency each hold one) ----
  void retain() noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }
  void release() noexcept {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
    if (code() == kFailed && !error_retrieved_.load(std::memory_order_relaxed)) {
      report_unhandled_error(error_, "unobserved error in " + describe());
    }
    delete this;
  }
  void set_initial_refs(std::uint32_t n) noexcept { refs_.store(n, std::memory_order_relaxed); }
  /// True when the caller's reference is the only one: no Future, queue or task can see the
  /// state but the caller (a reference is only ever copied from one that is held).
  bool sole_reference() const noexcept { return refs_.load(std::memory_order_acquire) == 1; }

  // ---- status ----
  std::uint8_t code() const noexcept { return code_.load(std::memory_order_acquire); }
  bool done() const noexcept { return is_done(code()); }
  bool try_transition(std::uint8_t from, std::uint8_t to) noexcept {
    return code_.compare_exchange_strong(from, to, std::memory_order_acq_rel);
  }

  /// Marks a new task queued before any other thread can see it (a plain store suffices).
  void set_queued_before_sharing() noexcept { code_.store(kQueued, std::memory_order_relaxed); }

  /// Moves a pending state to cancelled; false when it already started or finished. A task
  /// sent ahead to a worker process that has not started it there is pending too.
  bool cancel() noexcept {
    std::uint8_t current = code();
    while (true) {
      if (current == kWaiting || current == kQueued) {
        if (code_.compare_exchange_weak(current, kCancelled, std::memory_order_acq_rel)) {
          run_continuations();
          return true;
        }
        continue;
      }
      if (current == kRunning && withdraw_unstarted()) {  // now kCancelled, by this thread
        run_continuations();
        return true;
      }
      const std::uint8_t now = code();
      // A process pool may have put it back in its queue meanwhile (taken back from one
      // worker for another, or handed back by a worker that died): try again there.
      if (current == kRunning && (now == kWaiting || now == kQueued)) {
        current = now;
        continue;
      }
      return now == kCancelled;
    }
  }

  /// Running: claimed by a thread, and for a process pool's task started in its worker.
  bool running() const noexcept { return code() == kRunning && started_running(); }

  /// Fails a task that has not started (its input failed). The caller gives the error.
  bool fail_before_start(std::exception_ptr error) noexcept {
    std::uint8_t current = code();
    while (current == kWaiting || current == kQueued) {
      if (code_.compare_exchange_weak(current, kCompleting, std::memory_order_acq_rel)) {
        error_ = std::move(error);
        publish(kFailed);
        return true;
      }
    }
    return false;
  }

  /// Called by the thread that claimed the state (kRunning) once the value or error is set.
  void publish(std::uint8_t final_code) noexcept {
    code_.store(final_code, std::memory_order_release);
    run_continuations();
  }

  void set_error(std::exception_ptr error) noexcept { error_ = std::move(error); }
  const std::exception_ptr& error() const noexcept { return error_; }
  /// The error was handed to someone (result(), exception(), a dependent task).
  void mark_error_retrieved() noexcept { error_retrieved_.store(true, std::memory_order_relaxed); }
  /// Claims the value for Future::take(): true for exactly one caller.
  bool claim_value() noexcept { return !value_taken_.exchange(true, std::memory_order_acq_rel); }
  /// The value was moved out by Future::take().
  bool value_taken() const noexcept { return value_taken_.load(std::memory_order_acquire); }

  // ---- continuations ----
  void add_continuation(Continuation* node) noexcept {
    Continuation* head = continuations_.load(std::memory_order_acquire);
    do {
      if (head == &closed_list_marker) {
        node->fire(node, *this);
        return;
      }
      node->next = head;
    } while (!continuations_.compare_exchange_weak(head, node, std::memory_order_acq_rel,
                                                   std::memory_order_acquire));
  }

  // ---- what a task adds; plain states keep these defaults ----
  /// Runs the task on the calling thread, only after a successful claim (kQueued ->
  /// kRunning), and stores its value or error; returns kFinished or kFailed. The caller then
  /// publish()es it (after counting it, so that statistics never lag behind a result).
  virtual std::uint8_t execute() noexcept { return kFinished; }
  /// Retains and appends the not-yet-done input states of a waiting task (for helping).
  virtual void collect_pending_inputs(StateBase** out, std::size_t capacity,
                                      std::size_t& count) noexcept {
    (void)out;
    (void)capacity;
    (void)count;
  }
  virtual std::string task_name() const { return {}; }
  /// Tells tasks with the same callable apart cheaply (the recorder caches names by it);
  /// null when the name must be asked for each time.
  virtual const void* name_key() const noexcept { return nullptr; }
  /// Ids of the tasks whose futures were this task's arguments.
  virtual std::vector<std::uint64_t> input_ids() const { return {}; }
  virtual std::string value_type_name() const = 0;
  /// A task claimed for a worker process (kRunning here) that the worker has not started
  /// (still being sent, or waiting in the worker's queue): takes it back and moves it from
  /// kRunning to kCancelled (true), or does nothing (false: started there, or not that kind
  /// of task).
  virtual bool withdraw_unstarted() noexcept { return false; }
  /// False while such a task is being sent or waits in the worker's queue.
  virtual bool started_running() const noexcept { return true; }

  /// "task 12 'name' (Future<int>)", for messages.
  std::string describe() const {
    std::string text = id_ != 0 ? "task " + std::to_string(id_) : std::string("future");
    const std::string name = task_name();
    if (!name.empty()) text += " '" + name + "'";
    return text + " (Future<" + value_type_name() + ">)";
  }

  /// The executor that owns the task, compared (never dereferenced) when helping.
  const void* owner = nullptr;
  /// Where the task runs: the thread context that claimed it (deadlock detection).
  std::atomic<ThreadContext*> running_on{nullptr};
  std::uint64_t id_ = 0;
  /// When it was submitted (steady clock, ns); set only while its executor records.
  std::int64_t submitted_ns = 0;
  /// The next older task in a pool's shared queue (detail::InjectionQueue), while queued.
  StateBase* queue_next = nullptr;

 private:
  void run_continuations() noexcept {
    Continuation* list = continuations_.exchange(&closed_list_marker, std::memory_order_acq_rel);
    Continuation* in_order = nullptr;  // the list is LIFO; callbacks run in registration order
    while (list != nullptr) {
      Continuation* next = list->next;
      list->next = in_order;
      in_order = list;
      list = next;
    }
    DeferredCallbackSink* const sink = in_order != nullptr ? deferred_callback_sink() : nullptr;
    while (in_order != nullptr) {
      Continuation* next = in_order->next;
      if (sink != nullptr && in_order->user_code) {
        sink->defer(in_order, *this);
      } else {
        in_order->fire(in_order, *this);
      }
      in_order = next;
    }
  }

  std::atomic<std::uint32_t> refs_{1};
  std::atomic<std::uint8_t> code_{kWaiting};
  std::atomic<bool> error_retrieved_{false};
  std::atomic<bool> value_taken_{false};
  std::atomic<Continuation*> continuations_{nullptr};
  std::exception_ptr error_;
};

/// A state that holds a T once finished.
template <class T>
struct State : StateBase {
  State() noexcept {}
  ~State() override {
    if (code() == kFinished) std::destroy_at(&value_);
  }
  template <class... A>
  void emplace_value(A&&... args) {
    std::construct_at(&value_, std::forward<A>(args)...);
  }
  T& value() noexcept { return value_; }
  std::string value_type_name() const override { return type_name<T>(); }

 private:
  union {
    T value_;
  };
};

template <>
struct State<void> : StateBase {
  std::string value_type_name() const override { return "void"; }
};

/// An owning pointer to a shared state (one reference).
template <class S>
class StateRef {
 public:
  StateRef() noexcept = default;
  /// Takes over a reference the caller already holds.
  static StateRef adopt(S* state) noexcept {
    StateRef ref;
    ref.state_ = state;
    return ref;
  }
  StateRef(const StateRef& other) noexcept : state_(other.state_) {
    if (state_ != nullptr) state_->retain();
  }
  StateRef(StateRef&& other) noexcept : state_(std::exchange(other.state_, nullptr)) {}
  StateRef& operator=(StateRef other) noexcept {
    std::swap(state_, other.state_);
    return *this;
  }
  ~StateRef() {
    if (state_ != nullptr) state_->release();
  }
  S* get() const noexcept { return state_; }
  S* operator->() const noexcept { return state_; }
  S& operator*() const noexcept { return *state_; }
  explicit operator bool() const noexcept { return state_ != nullptr; }
  S* detach() noexcept { return std::exchange(state_, nullptr); }

 private:
  S* state_ = nullptr;
};

}  // namespace confut::detail
