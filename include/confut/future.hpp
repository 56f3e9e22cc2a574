#pragma once
/// @file future.hpp
/// `Future<T>`: a copyable handle to the result of a task, like Python's
/// `concurrent.futures.Future`, Dask's futures and `std::shared_future`.

#include <chrono>
#include <concepts>
#include <cstdint>
#include <exception>
#include <functional>
#include <ostream>
#include <string>
#include <type_traits>
#include <utility>

#include "detail/blocking.hpp"
#include "detail/shared_state.hpp"
#include "error_handler.hpp"
#include "errors.hpp"

namespace confut {

/// Where a future is in its life: `pending` (queued or waiting for its inputs), `running`,
/// then one of `finished` (a value), `error` (an exception) or `cancelled`.
enum class FutureStatus { pending, running, finished, error, cancelled };

inline const char* to_string(FutureStatus status) noexcept {
  switch (status) {
    case FutureStatus::pending: return "pending";
    case FutureStatus::running: return "running";
    case FutureStatus::finished: return "finished";
    case FutureStatus::error: return "error";
    case FutureStatus::cancelled: return "cancelled";
  }
  return "unknown";
}

inline std::ostream& operator<<(std::ostream& out, FutureStatus status) {
  return out << to_string(status);
}

namespace detail {
template <class T>
struct ResultReference {
  using type = const T&;
};
template <>
struct ResultReference<void> {
  using type = void;
};

inline FutureStatus status_of(std::uint8_t code) noexcept {
  switch (code) {
    case kRunning: return FutureStatus::running;
    case kFinished: return FutureStatus::finished;
    case kFailed: return FutureStatus::error;
    case kCancelled: return FutureStatus::cancelled;
    default: return FutureStatus::pending;
  }
}
}  // namespace detail

/// The result of a task that may not have finished yet. Copies share one state; a
/// default-constructed Future is empty (`valid()` is false). All members are thread-safe.
///
/// @code
/// confut::ThreadPoolExecutor ex;
/// confut::Future<int> f = ex.submit([](int a, int b) { return a + b; }, 1, 2);
/// int three = f.result();
/// @endcode
template <class T>
class [[nodiscard]] Future {
 public:
  using value_type = T;

  Future() noexcept = default;
  /// Adopts one reference to `state` (used by executors).
  explicit Future(detail::StateRef<detail::State<T>> state) noexcept : state_(std::move(state)) {}

  bool valid() const noexcept { return static_cast<bool>(state_); }
  explicit operator bool() const noexcept { return valid(); }

  /// Blocks until done; returns the value, rethrows the task's exception (the same object),
  /// or throws CancelledError. On a pool worker, waiting runs other queued tasks meanwhile.
  typename detail::ResultReference<T>::type result() const {
    wait();
    return get_result();
  }

  /// As result(), but throws TimeoutError when the future is not done within `timeout`.
  template <class Rep, class Period>
  typename detail::ResultReference<T>::type result(
      std::chrono::duration<Rep, Period> timeout) const {
    if (!wait_for(timeout)) throw TimeoutError("Future::result() timed out");
    return get_result();
  }

  /// Blocks until done; the task's exception, or nullptr when it succeeded. Throws
  /// CancelledError for a cancelled future.
  std::exception_ptr exception() const {
    wait();
    return get_exception();
  }

  template <class Rep, class Period>
  std::exception_ptr exception(std::chrono::duration<Rep, Period> timeout) const {
    if (!wait_for(timeout)) throw TimeoutError("Future::exception() timed out");
    return get_exception();
  }

  /// Blocks until the future is done, without looking at the outcome.
  void wait() const {
    detail::wait_for_state(checked_state(), std::nullopt);
  }

  /// Blocks at most `timeout`; true when the future is done.
  template <class Rep, class Period>
  bool wait_for(std::chrono::duration<Rep, Period> timeout) const {
    return detail::wait_for_state(checked_state(), detail::deadline_after(timeout));
  }

  bool done() const noexcept { return valid() && state_->done(); }
  bool running() const noexcept { return valid() && state_->running(); }
  bool cancelled() const noexcept { return valid() && state_->code() == detail::kCancelled; }
  FutureStatus status() const {
    const detail::StateBase& state = checked_state();
    const FutureStatus status = detail::status_of(state.code());
    // A task sent ahead to a worker process is pending until the worker starts it.
    if (status == FutureStatus::running && !state.started_running()) return FutureStatus::pending;
    return status;
  }

  /// Cancels the task if it has not started. True when the future is (now) cancelled.
  bool cancel() { return checked_state().cancel(); }

  /// Calls `fn(future)` once the future is done, on the thread that completes it (for a
  /// process pool's future: on the pool's callback thread, in completion order), or at once
  /// on this thread if it is already done. Callbacks run in registration order; an exception
  /// from one goes to the unobserved-error handler.
  template <class Fn>
    requires std::invocable<Fn&, const Future<T>&>
  void add_done_callback(Fn&& fn) {
    checked_state().add_continuation(new CallbackNode<std::decay_t<Fn>>(std::forward<Fn>(fn)));
  }

  /// The task's number, unique in the process (0 for a future made outside an executor).
  /// Tasks submitted from one thread get increasing numbers.
  std::uint64_t id() const { return checked_state().id_; }

  /// Futures compare equal when they share one state.
  friend bool operator==(const Future& a, const Future& b) noexcept {
    return a.state_.get() == b.state_.get();
  }

  /// Prints like `<Future: finished, type: int>`.
  friend std::ostream& operator<<(std::ostream& out, const Future& future) {
    if (!future.valid()) return out << "<Future: empty, type: " << detail::type_name<T>() << ">";
    return out << "<Future: " << future.status() << ", type: " << detail::type_name<T>() << ">";
  }

  /// The shared state; for executors and waiting functions.
  detail::State<T>* state() const noexcept { return state_.get(); }

 private:
  template <class Fn>
  struct CallbackNode : detail::Continuation {
    explicit CallbackNode(Fn callback) : fn(std::move(callback)) {
      fire = &CallbackNode::run;
      user_code = true;
    }
    static void run(detail::Continuation* self, detail::StateBase& state) noexcept {
      auto* node = static_cast<CallbackNode*>(self);
      try {
        state.retain();
        const Future future(detail::StateRef<detail::State<T>>::adopt(
            static_cast<detail::State<T>*>(&state)));
        std::invoke(node->fn, future);
      } catch (...) {
        detail::report_unhandled_error(std::current_exception(),
                                       "exception thrown by a done-callback of " +
                                           state.describe());
      }
      delete node;
    }
    Fn fn;
  };

  detail::State<T>& checked_state() const {
    if (!state_) throw InvalidStateError("the Future is empty (default-constructed or moved from)");
    return *state_;
  }

  typename detail::ResultReference<T>::type get_result() const {
    const std::uint8_t code = state_->code();
    if (code == detail::kFailed) {
      state_->mark_error_retrieved();
      std::rethrow_exception(state_->error());
    }
    if (code == detail::kCancelled) throw CancelledError();
    if constexpr (!std::is_void_v<T>) return std::as_const(state_->value());
  }

  std::exception_ptr get_exception() const {
    switch (state_->code()) {
      case detail::kFailed:
        state_->mark_error_retrieved();
        return state_->error();
      case detail::kCancelled:
        throw CancelledError();
      default:
        return nullptr;
    }
  }

  detail::StateRef<detail::State<T>> state_;
};

template <class T>
struct is_future : std::false_type {};
template <class T>
struct is_future<Future<T>> : std::true_type {};
/// True for Future<T> (ignoring cv and references).
template <class T>
inline constexpr bool is_future_v = is_future<std::remove_cvref_t<T>>::value;

}  // namespace confut
