#pragma once
/// @file future.hpp
/// `Future<T>`: a copyable handle to the result of a task, like Python's
/// `concurrent.futures.Future`, Dask's futures and `std::shared_future`.

#include <chrono>
#include <compare>
#include <cstddef>
#include <concepts>
#include <cstdint>
#include <exception>
#include <functional>
#include <ostream>
#include <string>
#include <type_traits>
#include <utility>

#include "detail/waiting/blocking.hpp"
#include "detail/core/shared_state.hpp"
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

/// The tag behind `Future<>` (`AnyFuture`), the handle that forgets its result type.
struct AnyResult;

template <class T = AnyResult>
class Future;

/// A handle to any task's state, whatever its result type: what `wait` and `as_completed`
/// take when futures of different types are mixed (`confut::wait({an_int, a_string})`).
/// Every `Future<T>` converts to it; it compares, hashes and orders like the futures it was
/// made from.
using AnyFuture = Future<>;

namespace detail {
template <class T>
struct ResultReference {
  using type = const T&;
};
template <>
struct ResultReference<void> {
  using type = void;
};

/// What result() on an rvalue future returns: a value that outlives the future, unless T
/// cannot be copied (then a reference, as from an lvalue: use take() for such a T).
template <class T>
struct ResultValue {
  using type = std::conditional_t<std::is_copy_constructible_v<T>, T, const T&>;
};
template <>
struct ResultValue<void> {
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

/// A done-callback: calls `fn(handle)` with a `Handle` (a Future<T> or AnyFuture) that holds
/// its own reference to the state.
template <class Handle, class Fn>
struct CallbackNode : Continuation {
  explicit CallbackNode(Fn callback) : fn(std::move(callback)) {
    fire = &CallbackNode::run;
    user_code = true;  // may block: a process pool's dispatcher defers it (shared_state.hpp)
  }
  static void run(Continuation* self, StateBase& state) noexcept {
    auto* node = static_cast<CallbackNode*>(self);
    using S = typename Handle::state_type;
    try {
      state.retain();
      const Handle future(StateRef<S>::adopt(static_cast<S*>(&state)));
      std::invoke(node->fn, future);
    } catch (...) {
      report_unhandled_error(std::current_exception(),
                             "exception thrown by a done-callback of " + state.describe());
    }
    delete node;
  }
  Fn fn;
};
}  // namespace detail

/// `Future<>`, also spelled `AnyFuture`: everything a future offers that does not need its
/// value type (waiting, status, cancel, exception(), callbacks, identity). It is the base of
/// every `Future<T>`, so a `Future<T>` converts to it by copy. All members are thread-safe.
///
/// Futures compare by identity: two handles are equal when they share one state (copies of
/// one future), whatever their types; empty handles are equal to each other. `<=>` orders
/// them by state address (a total order, stable for the state's life, not the submission
/// order) and `std::hash` hashes the same identity, so futures are keys of std::map,
/// std::set and std::unordered_map.
///
/// @code
/// std::unordered_map<confut::Future<int>, std::string> url_of;  // Python's {submit(...): url}
/// for (const auto& url : urls) url_of.emplace(ex.submit(load, url), url);
/// for (auto& f : confut::as_completed(futures)) use(url_of.at(f), f.result());
/// @endcode
template <>
class [[nodiscard]] Future<AnyResult> {
 public:
  using value_type = AnyResult;
  using state_type = detail::StateBase;

  Future() noexcept = default;
  /// Adopts one reference to `state`.
  explicit Future(detail::StateRef<detail::StateBase> state) noexcept : state_(std::move(state)) {}

  bool valid() const noexcept { return static_cast<bool>(state_); }
  explicit operator bool() const noexcept { return valid(); }

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
  void wait() const { detail::wait_for_state(checked_state(), std::nullopt); }

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
    requires std::invocable<Fn&, const Future&>
  void add_done_callback(Fn&& fn) {
    checked_state().add_continuation(
        new detail::CallbackNode<Future, std::decay_t<Fn>>(std::forward<Fn>(fn)));
  }

  /// The task's number, unique in the process (0 for a future made outside an executor).
  /// Tasks submitted from one thread get increasing numbers.
  std::uint64_t id() const { return checked_state().id_; }

  friend bool operator==(const Future& a, const Future& b) noexcept {
    return a.state_.get() == b.state_.get();
  }
  friend std::strong_ordering operator<=>(const Future& a, const Future& b) noexcept {
    return std::compare_three_way{}(a.state_.get(), b.state_.get());
  }

  /// Prints like `<Future: finished, type: int>`.
  friend std::ostream& operator<<(std::ostream& out, const Future& future) {
    if (!future.valid()) return out << "<Future: empty>";
    return out << "<Future: " << future.status()
               << ", type: " << future.state_->value_type_name() << ">";
  }

  /// The shared state; for executors and waiting functions.
  detail::StateBase* state() const noexcept { return state_.get(); }

 protected:
  detail::StateBase& checked_state() const {
    if (!state_) throw InvalidStateError("the Future is empty (default-constructed or moved from)");
    return *state_;
  }

  /// Rethrows a failed task's exception, throws CancelledError for a cancelled one.
  void throw_if_failed() const {
    const std::uint8_t code = state_->code();
    if (code == detail::kFailed) {
      state_->mark_error_retrieved();
      std::rethrow_exception(state_->error());
    }
    if (code == detail::kCancelled) throw CancelledError();
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

  detail::StateRef<detail::StateBase> state_;
};

/// The result of a task that may not have finished yet. Copies share one state; a
/// default-constructed Future is empty (`valid()` is false). All members are thread-safe,
/// except that take() must not race with result() on a copy.
///
/// A future holds a value, never a reference: `Future<int&>` does not compile, and a task
/// whose callable returns `int&` (or `const int&`, `int&&`) gives a `Future<int>` holding a
/// copy made when the task finished.
///
/// @code
/// confut::ThreadPoolExecutor ex;
/// confut::Future<int> f = ex.submit([](int a, int b) { return a + b; }, 1, 2);
/// int three = f.result();
/// @endcode
template <class T>
class [[nodiscard]] Future : public Future<> {
  static_assert(!std::is_reference_v<T>,
                "confut::Future<T&>: a future holds a value, not a reference; use Future<T> "
                "(submit already turns a callable returning T& into a Future<T> holding a "
                "copy) or Future<std::reference_wrapper<T>>");

 public:
  using value_type = T;
  using state_type = detail::State<T>;

  Future() noexcept = default;
  /// Adopts one reference to `state` (used by executors).
  explicit Future(detail::StateRef<detail::State<T>> state) noexcept
      : Future<>(detail::StateRef<detail::StateBase>::adopt(state.detach())) {}

  /// Blocks until done; returns the value, rethrows the task's exception (the same object),
  /// or throws CancelledError; InvalidStateError once take() moved the value out. On a pool
  /// worker, waiting runs other queued tasks meanwhile. The reference lives as long as the
  /// state (as long as any copy of this future).
  typename detail::ResultReference<T>::type result() const& {
    wait();
    return get_result();
  }

  /// On an rvalue (`ex.submit(f).result()`, `std::move(f).result()`): the value by value, so
  /// that it outlives the temporary future. It is moved out when this handle is the state's
  /// last reference (the value is then taken, as by take()), copied otherwise. A T that
  /// cannot be copied is returned by reference as above: use take() for it.
  typename detail::ResultValue<T>::type result() && {
    wait();
    return std::move(*this).get_result_value();
  }

  /// As result(), but throws TimeoutError when the future is not done within `timeout`.
  template <class Rep, class Period>
  typename detail::ResultReference<T>::type result(
      std::chrono::duration<Rep, Period> timeout) const& {
    if (!wait_for(timeout)) throw TimeoutError("Future::result() timed out");
    return get_result();
  }

  template <class Rep, class Period>
  typename detail::ResultValue<T>::type result(std::chrono::duration<Rep, Period> timeout) && {
    if (!wait_for(timeout)) throw TimeoutError("Future::result() timed out");
    return std::move(*this).get_result_value();
  }

  /// Blocks until done, then moves the value out (for std::unique_ptr and other move-only
  /// values). Afterwards result() and take() on any copy throw InvalidStateError, and the
  /// future must not be passed to a task as an argument. A failed or cancelled future throws
  /// as result() does (again on every call).
  T take() {
    wait();
    return take_value();
  }

  /// As take(), but throws TimeoutError (and takes nothing) when the future is not done
  /// within `timeout`.
  template <class Rep, class Period>
  T take(std::chrono::duration<Rep, Period> timeout) {
    if (!wait_for(timeout)) throw TimeoutError("Future::take() timed out");
    return take_value();
  }

  /// As Future<>::add_done_callback, with this future's type.
  template <class Fn>
    requires std::invocable<Fn&, const Future<T>&>
  void add_done_callback(Fn&& fn) {
    checked_state().add_continuation(
        new detail::CallbackNode<Future, std::decay_t<Fn>>(std::forward<Fn>(fn)));
  }

  /// Prints like `<Future: finished, type: int>`.
  friend std::ostream& operator<<(std::ostream& out, const Future& future) {
    if (!future.valid()) return out << "<Future: empty, type: " << detail::type_name<T>() << ">";
    return out << static_cast<const Future<>&>(future);
  }

  /// The shared state; for executors and waiting functions.
  detail::State<T>* state() const noexcept {
    return static_cast<detail::State<T>*>(state_.get());
  }

 private:
  typename detail::ResultReference<T>::type get_result() const {
    throw_if_failed();
    if constexpr (!std::is_void_v<T>) {
      if (state_->value_taken()) throw_taken("result()");
      return std::as_const(state()->value());
    }
  }

  typename detail::ResultValue<T>::type get_result_value() && {
    if constexpr (std::is_void_v<T> || !std::is_copy_constructible_v<T>) {
      return get_result();
    } else {
      const T& value = get_result();
      // Only this handle can reach the state: nothing can see the value moved out. Claiming
      // it makes a later result() on this handle throw instead of reading a moved-from value.
      if constexpr (std::is_move_constructible_v<T>) {
        if (state_->sole_reference() && state_->claim_value()) return std::move(state()->value());
      }
      return value;
    }
  }

  T take_value() {
    throw_if_failed();
    if constexpr (!std::is_void_v<T>) {
      if (!state_->claim_value()) throw_taken("take()");
      return std::move(state()->value());
    }
  }

  [[noreturn]] static void throw_taken(const char* what) {
    throw InvalidStateError(std::string("Future::") + what +
                            ": the value was already moved out by take()");
  }
};

template <class T>
struct is_future : std::false_type {};
template <class T>
struct is_future<Future<T>> : std::true_type {};
/// True for Future<T> (ignoring cv and references).
template <class T>
inline constexpr bool is_future_v = is_future<std::remove_cvref_t<T>>::value;

}  // namespace confut

/// Futures hash by identity (the shared state), consistent with their operator==.
template <class T>
struct std::hash<confut::Future<T>> {
  std::size_t operator()(const confut::Future<T>& future) const noexcept {
    return std::hash<const void*>{}(static_cast<const confut::AnyFuture&>(future).state());
  }
};
