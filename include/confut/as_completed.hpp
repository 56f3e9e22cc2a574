#pragma once
/// @file as_completed.hpp
/// `as_completed(futures [, timeout])`: futures in the order they finish, as in Python and
/// Dask, including Dask's `add()` during iteration and `count()`.

#include <chrono>
#include <cstddef>
#include <deque>
#include <initializer_list>
#include <iterator>
#include <mutex>
#include <optional>
#include <ranges>
#include <unordered_set>
#include <utility>
#include <vector>

#include "detail/waiting/blocking.hpp"
#include "detail/waiting/thread_context.hpp"
#include "errors.hpp"
#include "future.hpp"

namespace confut {

/// Yields futures as they complete; those already done come first, in input order. Futures
/// can be added while iterating. The input is a set, as in Python: a future given (or
/// added) again while it is in the sequence (added and not yet yielded) is yielded once.
/// A yielded future is no longer held here, except that the range-for's current element
/// lives in this object until the loop moves on. Iterate from one thread; `add` and `count`
/// may be called from any. `AsCompleted<AnyResult>` yields `AnyFuture`s (from a braced list
/// mixing result types, or a range of AnyFuture).
///
/// @code
/// for (auto& f : confut::as_completed(futures)) use(f.result());
/// for (auto& f : confut::as_completed({an_int_future, a_string_future})) f.wait();
///
/// auto seq = confut::as_completed(futures);   // Dask's dynamic reduction
/// while (seq.count() > 1) seq.add(ex.submit(add, seq.next(), seq.next()));
/// @endcode
template <class T>
class AsCompleted {
  struct Shared {
    void retain() noexcept { refs.fetch_add(1, std::memory_order_relaxed); }
    void release() noexcept {
      if (refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
    }
    std::atomic<std::uint32_t> refs{1};
    std::mutex mutex;
    std::deque<Future<T>> finished;    // done, not yet yielded
    std::size_t unfinished = 0;        // added, not done yet
    std::unordered_set<detail::StateBase*> members;  // added, not yet yielded
    detail::ThreadContext* waiter = nullptr;
  };

  struct Node : detail::Continuation {
    Node(Shared& owner, Future<T> watched) : shared(&owner), future(std::move(watched)) {
      shared->retain();
      fire = &Node::done;
    }
    static void done(detail::Continuation* self, detail::StateBase&) noexcept {
      auto* node = static_cast<Node*>(self);
      {
        std::lock_guard lock(node->shared->mutex);
        node->shared->finished.push_back(std::move(node->future));
        --node->shared->unfinished;
        if (node->shared->waiter != nullptr) node->shared->waiter->parker.unpark();
      }
      node->shared->release();
      delete node;
    }
    Shared* shared;
    Future<T> future;
  };

 public:
  /// From a range of Future<T> (or, for AsCompleted<AnyResult>, of any futures).
  template <std::ranges::input_range Range>
    requires std::convertible_to<std::ranges::range_reference_t<const Range&>, Future<T>>
  explicit AsCompleted(const Range& futures, detail::Deadline deadline = std::nullopt)
      : shared_(new Shared), deadline_(deadline) {
    try {
      for (const auto& future : futures) add(future);
    } catch (...) {  // an empty future: the destructor will not run
      shared_->release();
      throw;
    }
  }

  AsCompleted(const AsCompleted&) = delete;
  AsCompleted& operator=(const AsCompleted&) = delete;
  AsCompleted(AsCompleted&& other) noexcept
      : shared_(std::exchange(other.shared_, nullptr)),
        deadline_(other.deadline_),
        current_(std::move(other.current_)) {}
  AsCompleted& operator=(AsCompleted&&) = delete;
  ~AsCompleted() {
    if (shared_ != nullptr) shared_->release();
  }

  /// Adds a future to the iteration; it is yielded once it completes. A future already in
  /// the sequence (added, not yet yielded) is not added again.
  void add(Future<T> future) {
    if (!future.valid()) throw InvalidStateError("as_completed: an empty Future was added");
    {
      std::lock_guard lock(shared_->mutex);
      if (!shared_->members.insert(future.state()).second) return;
      ++shared_->unfinished;
    }
    detail::StateBase* state = future.state();
    state->add_continuation(new Node(*shared_, std::move(future)));
  }

  /// How many futures are still to be yielded (done or not).
  std::size_t count() const {
    std::lock_guard lock(shared_->mutex);
    return shared_->finished.size() + shared_->unfinished;
  }

  /// The next future to complete; blocks until there is one. Returns an empty Future when
  /// none is left; throws TimeoutError once the deadline given at construction passes.
  Future<T> next() {
    detail::ThreadContext& context = detail::this_thread_context();
    // For the deadlock check, a task's wait is one for any of the members (none is done):
    // they stay alive, held here, until this thread yields them. Past what the check walks
    // the wait is not recorded (no cycle is reported through it).
    std::vector<detail::StateBase*> pending;
    {
      std::lock_guard lock(shared_->mutex);
      if (!shared_->finished.empty()) return pop_locked();
      if (shared_->unfinished == 0) return Future<T>();
      if (context.current_task != nullptr &&
          shared_->members.size() <= detail::kMaxWaitNodes) {
        pending.assign(shared_->members.begin(), shared_->members.end());
      }
      context.retain();
      shared_->waiter = &context;
    }
    struct ClearWaiter {
      Shared& shared;
      detail::ThreadContext& context;
      ~ClearWaiter() {
        {
          std::lock_guard lock(shared.mutex);
          shared.waiter = nullptr;
        }
        context.release();
      }
    } clear{*shared_, context};
    const bool ready = detail::block_until(
        [&] {
          std::lock_guard lock(shared_->mutex);
          return !shared_->finished.empty();
        },
        deadline_, nullptr, pending);
    if (!ready) throw TimeoutError("as_completed: timed out");
    std::lock_guard lock(shared_->mutex);
    return pop_locked();
  }

  /// An input iterator; `*it` is the current future, held by the AsCompleted (as
  /// std::ranges::istream_view holds its value), so `for (auto& f : ...)` binds to it.
  class iterator {
   public:
    using value_type = Future<T>;
    using difference_type = std::ptrdiff_t;
    iterator() = default;
    explicit iterator(AsCompleted* owner) : owner_(owner) { ++*this; }
    Future<T>& operator*() const { return owner_->current_; }
    iterator& operator++() {
      owner_->current_ = owner_->next();
      return *this;
    }
    void operator++(int) { ++*this; }
    friend bool operator==(const iterator& it, std::default_sentinel_t) { return it.at_end(); }

   private:
    bool at_end() const { return owner_ == nullptr || !owner_->current_.valid(); }
    AsCompleted* owner_ = nullptr;
  };

  iterator begin() { return iterator(this); }
  std::default_sentinel_t end() const noexcept { return {}; }

 private:
  Future<T> pop_locked() {
    Future<T> front = std::move(shared_->finished.front());
    shared_->finished.pop_front();
    shared_->members.erase(front.state());
    return front;
  }

  Shared* shared_;
  detail::Deadline deadline_;
  Future<T> current_;  // what the iterator points at
};

template <std::ranges::input_range Range>
AsCompleted(const Range&, detail::Deadline = std::nullopt)
    -> AsCompleted<typename std::ranges::range_value_t<Range>::value_type>;

/// Iterates `futures` in completion order.
template <std::ranges::input_range Range>
  requires is_future_v<std::ranges::range_value_t<Range>>
auto as_completed(const Range& futures) {
  return AsCompleted<typename std::ranges::range_value_t<Range>::value_type>(futures);
}

/// As above; once `timeout` (counted from this call) passes, next() throws TimeoutError.
template <std::ranges::input_range Range, class Rep, class Period>
  requires is_future_v<std::ranges::range_value_t<Range>>
auto as_completed(const Range& futures, std::chrono::duration<Rep, Period> timeout) {
  return AsCompleted<typename std::ranges::range_value_t<Range>::value_type>(
      futures, detail::deadline_after(timeout));
}

/// A braced list: `confut::as_completed({a, b})`.
template <class T>
AsCompleted<T> as_completed(std::initializer_list<Future<T>> futures) {
  return AsCompleted<T>(futures);
}

template <class T, class Rep, class Period>
AsCompleted<T> as_completed(std::initializer_list<Future<T>> futures,
                            std::chrono::duration<Rep, Period> timeout) {
  return AsCompleted<T>(futures, detail::deadline_after(timeout));
}

/// A braced list mixing result types: yields AnyFutures.
inline AsCompleted<AnyResult> as_completed(std::initializer_list<AnyFuture> futures) {
  return AsCompleted<AnyResult>(futures);
}

template <class Rep, class Period>
AsCompleted<AnyResult> as_completed(std::initializer_list<AnyFuture> futures,
                                    std::chrono::duration<Rep, Period> timeout) {
  return AsCompleted<AnyResult>(futures, detail::deadline_after(timeout));
}

}  // namespace confut
