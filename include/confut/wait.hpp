#pragma once
/// @file wait.hpp
/// `wait(futures [, return_when] [, timeout])`: Python's `concurrent.futures.wait`.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <initializer_list>
#include <optional>
#include <ranges>
#include <span>
#include <unordered_set>
#include <vector>

#include "detail/waiting/blocking.hpp"
#include "detail/waiting/thread_context.hpp"
#include "future.hpp"

namespace confut {

/// When `wait` returns.
enum class ReturnWhen { first_completed, first_exception, all_completed };
/// As soon as any future is done (or cancelled).
inline constexpr ReturnWhen FIRST_COMPLETED = ReturnWhen::first_completed;
/// As soon as any future fails with an exception; like ALL_COMPLETED if none does.
inline constexpr ReturnWhen FIRST_EXCEPTION = ReturnWhen::first_exception;
/// When every future is done.
inline constexpr ReturnWhen ALL_COMPLETED = ReturnWhen::all_completed;

/// The two parts of the futures that were waited on, each in input order, each future once.
/// `WaitResult<AnyResult>` (of `AnyFuture`s) when futures of different types were mixed.
template <class T>
struct WaitResult {
  std::vector<Future<T>> done;
  std::vector<Future<T>> not_done;
};

namespace detail {

/// Counts completions for one wait on several futures and wakes the waiting thread only
/// when its condition may hold: at the `wake_at`-th completion, or at a failure when
/// `wake_on_failure` — one kernel wake-up per wait, not one per future.
struct WaitGroup {
  void retain() noexcept { refs.fetch_add(1, std::memory_order_relaxed); }
  void release() noexcept {
    if (refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      waiter->release();
      delete this;
    }
  }
  std::atomic<std::uint32_t> refs{1};
  std::atomic<std::size_t> completed{0};
  std::atomic<bool> any_failed{false};
  ThreadContext* waiter = nullptr;
  std::size_t wake_at = 1;
  bool wake_on_failure = false;
};

struct WaitGroupNode : Continuation {
  explicit WaitGroupNode(WaitGroup& owner) : group(&owner) {
    group->retain();
    fire = &WaitGroupNode::done;
  }
  static void done(Continuation* self, StateBase& state) noexcept {
    auto* node = static_cast<WaitGroupNode*>(self);
    WaitGroup& group = *node->group;
    const bool failed = state.code() == kFailed;
    if (failed) group.any_failed.store(true, std::memory_order_release);
    const std::size_t completed = group.completed.fetch_add(1, std::memory_order_acq_rel) + 1;
    if (completed == group.wake_at || (failed && group.wake_on_failure)) group.waiter->parker.unpark();
    group.release();
    delete node;
  }
  WaitGroup* group;
};

/// Keeps the first copy of each future, in order (Python's wait takes a set).
template <class T>
void remove_duplicate_futures(std::vector<Future<T>>& futures) {
  if (futures.size() < 2) return;
  std::vector<const StateBase*> states;
  states.reserve(futures.size());
  for (const AnyFuture& future : futures) states.push_back(future.state());
  std::sort(states.begin(), states.end());
  if (std::adjacent_find(states.begin(), states.end()) == states.end()) return;
  std::unordered_set<const StateBase*> seen;
  std::erase_if(futures, [&](const AnyFuture& future) {
    return !seen.insert(future.state()).second;
  });
}

template <class T>
WaitResult<T> wait_impl(std::vector<Future<T>> futures, ReturnWhen when,
                        const Deadline& deadline) {
  for (const auto& future : futures) {
    if (!future.valid()) throw InvalidStateError("wait(): an empty Future was given");
  }
  remove_duplicate_futures(futures);
  if (when == ReturnWhen::all_completed && this_thread_context().scheduler != nullptr) {
    // On a pool worker, one at a time: each wait can help run that task and takes part in
    // deadlock detection (the other modes take part as a wait for any of the pending ones).
    for (const auto& future : futures) {
      if (!wait_for_state(*future.state(), deadline)) break;
    }
  } else {
    auto* group = new WaitGroup;
    group->waiter = &this_thread_context();
    group->waiter->retain();
    // The waiter's reference goes on every way out, a DeadlockError from block_until too.
    struct ReleaseOnExit {
      WaitGroup* group;
      ~ReleaseOnExit() { group->release(); }
    } release_on_exit{group};
    bool ready = false;
    std::vector<StateBase*> pending_states;
    for (const auto& future : futures) {
      const std::uint8_t code = future.state()->code();
      if (is_done(code)) {
        if (when == ReturnWhen::first_completed ||
            (when == ReturnWhen::first_exception && code == kFailed)) {
          ready = true;
        }
      } else {
        pending_states.push_back(future.state());
      }
    }
    const std::size_t pending = pending_states.size();
    if (!ready && pending > 0) {
      group->wake_at = when == ReturnWhen::first_completed ? 1 : pending;
      group->wake_on_failure = when == ReturnWhen::first_exception;
      // Exactly the ones counted: one done since fires at once, so the count still adds up.
      for (StateBase* state : pending_states) state->add_continuation(new WaitGroupNode(*group));
      block_until(
          [&] {
            const std::size_t completed = group->completed.load(std::memory_order_acquire);
            if (completed >= pending) return true;
            if (when == ReturnWhen::first_completed) return completed > 0;
            return when == ReturnWhen::first_exception &&
                   group->any_failed.load(std::memory_order_acquire);
          },
          deadline, nullptr,
          // For the deadlock check, a wait for any of them (ALL_COMPLETED is not one; it
          // comes here only off pool threads, which run no tasks).
          when == ReturnWhen::all_completed ? std::span<StateBase* const>() : pending_states);
    }
  }
  WaitResult<T> result;
  for (const auto& future : futures) {
    (future.done() ? result.done : result.not_done).push_back(future);
  }
  return result;
}

template <class Range>
using range_future_value_t = typename std::ranges::range_value_t<Range>::value_type;

template <class Range>
auto to_future_vector(const Range& futures) {
  return std::vector<Future<range_future_value_t<Range>>>(std::ranges::begin(futures),
                                                          std::ranges::end(futures));
}

}  // namespace detail

/// Waits for the futures (any range of Future<T>, or of AnyFuture) and returns them split
/// into `done` and `not_done`. The input is a set, as in Python: a future given twice is
/// waited for and reported once. A timeout does not throw: it returns the split as it
/// stands then. A braced list may mix result types; the parts are then `AnyFuture`s.
/// @code
/// auto [done, not_done] = confut::wait(futures, confut::FIRST_COMPLETED);
/// auto both = confut::wait({an_int_future, a_string_future}, 1s);  // WaitResult<AnyResult>
/// @endcode
template <std::ranges::input_range Range>
  requires is_future_v<std::ranges::range_value_t<Range>>
auto wait(const Range& futures, ReturnWhen return_when = ALL_COMPLETED) {
  return detail::wait_impl(detail::to_future_vector(futures), return_when, std::nullopt);
}

template <std::ranges::input_range Range, class Rep, class Period>
  requires is_future_v<std::ranges::range_value_t<Range>>
auto wait(const Range& futures, std::chrono::duration<Rep, Period> timeout) {
  return detail::wait_impl(detail::to_future_vector(futures), ALL_COMPLETED,
                           detail::deadline_after(timeout));
}

template <std::ranges::input_range Range, class Rep, class Period>
  requires is_future_v<std::ranges::range_value_t<Range>>
auto wait(const Range& futures, ReturnWhen return_when,
          std::chrono::duration<Rep, Period> timeout) {
  return detail::wait_impl(detail::to_future_vector(futures), return_when,
                           detail::deadline_after(timeout));
}

template <class T>
WaitResult<T> wait(std::initializer_list<Future<T>> futures,
                   ReturnWhen return_when = ALL_COMPLETED) {
  return detail::wait_impl(std::vector<Future<T>>(futures), return_when, std::nullopt);
}

template <class T, class Rep, class Period>
WaitResult<T> wait(std::initializer_list<Future<T>> futures,
                   std::chrono::duration<Rep, Period> timeout) {
  return detail::wait_impl(std::vector<Future<T>>(futures), ALL_COMPLETED,
                           detail::deadline_after(timeout));
}

template <class T, class Rep, class Period>
WaitResult<T> wait(std::initializer_list<Future<T>> futures, ReturnWhen return_when,
                   std::chrono::duration<Rep, Period> timeout) {
  return detail::wait_impl(std::vector<Future<T>>(futures), return_when,
                           detail::deadline_after(timeout));
}

// A braced list of futures of different types: each becomes an AnyFuture.
inline WaitResult<AnyResult> wait(std::initializer_list<AnyFuture> futures,
                                  ReturnWhen return_when = ALL_COMPLETED) {
  return detail::wait_impl(std::vector<AnyFuture>(futures), return_when, std::nullopt);
}

template <class Rep, class Period>
WaitResult<AnyResult> wait(std::initializer_list<AnyFuture> futures,
                           std::chrono::duration<Rep, Period> timeout) {
  return detail::wait_impl(std::vector<AnyFuture>(futures), ALL_COMPLETED,
                           detail::deadline_after(timeout));
}

template <class Rep, class Period>
WaitResult<AnyResult> wait(std::initializer_list<AnyFuture> futures, ReturnWhen return_when,
                           std::chrono::duration<Rep, Period> timeout) {
  return detail::wait_impl(std::vector<AnyFuture>(futures), return_when,
                           detail::deadline_after(timeout));
}

}  // namespace confut
