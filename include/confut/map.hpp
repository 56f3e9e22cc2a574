#pragma once
/// @file map.hpp
/// `executor.map(fn, xs [, ys ...] [, MapOptions])`: Python's `Executor.map` — a lazy range of
/// results in input order.

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <deque>
#include <exception>
#include <iterator>
#include <memory>
#include <optional>
#include <ranges>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "dependencies.hpp"
#include "detail/waiting/blocking.hpp"
#include "errors.hpp"
#include "future.hpp"

namespace confut {

/// Options for `map`, passed last: `ex.map(fn, xs, {.chunksize = 256})`.
struct MapOptions {
  /// A deadline counted from the map call: reaching an element that is not done by then
  /// throws TimeoutError.
  std::optional<std::chrono::steady_clock::duration> timeout{};
  /// Elements per submitted task; raise it when each call is tiny.
  std::size_t chunksize = 1;
  /// At most this many tasks in flight (0: submit everything at once). With a limit the
  /// input may be an unbounded range; the next task is submitted as a result is taken.
  std::size_t buffersize = 0;
};

namespace detail {

/// Holds an input range of `map`: an lvalue by reference, an rvalue (a temporary container,
/// a view, a stream) by value. It lives inside MapState, on the heap, so the cursors into it
/// stay valid when the MapResults handle is moved.
template <class R>
class HeldRange {
 public:
  using Range = std::remove_cvref_t<R>;
  explicit HeldRange(R&& range) : range_(hold(std::forward<R>(range))) {}
  auto& get() {
    if constexpr (std::is_lvalue_reference_v<R>) {
      return *range_;
    } else {
      return range_;
    }
  }

 private:
  // Views need not be default-constructible or assignable (filter_view, istream_view).
  static auto hold(R&& range) {
    if constexpr (std::is_lvalue_reference_v<R>) {
      return &range;
    } else {
      return Range(std::move(range));
    }
  }

  std::conditional_t<std::is_lvalue_reference_v<R>, std::remove_reference_t<R>*, Range> range_;
};

/// The value an element of `map` yields: what `submit` would give for that call (a
/// callable returning a reference yields a copy of the referred value; futures among the
/// inputs are replaced by their values), or std::monostate for void functions.
template <class F, class... Ranges>
using map_value_t =
    std::conditional_t<std::is_void_v<task_result_t<F&, std::ranges::range_value_t<Ranges>...>>,
                       std::monostate, task_result_t<F&, std::ranges::range_value_t<Ranges>...>>;

/// Everything behind one `map` range: the inputs, their cursors, the tasks in flight and
/// the current element. Not movable: MapResults holds it on the heap, iterators point to it.
template <class Executor, class F, class... Ranges>
class MapState {
  using Arguments = std::tuple<std::ranges::range_value_t<Ranges>...>;
  using Result = task_result_t<F&, std::ranges::range_value_t<Ranges>...>;
  /// Futures as elements: each call waits for their values as submit's inputs do, so each
  /// element is its own task (a chunk task would receive the futures themselves).
  static constexpr bool kFutureInputs =
      any_future_argument<std::ranges::range_value_t<Ranges>...>;

 public:
  using value_type = map_value_t<F, Ranges...>;

 private:
  /// One element's outcome, as a chunk returns it.
  using Outcome = std::variant<value_type, std::exception_ptr>;
  using Chunk = std::vector<Outcome>;
  /// A submitted task: one element (chunksize 1) or a chunk of them; the other is empty.
  struct InFlight {
    Future<Result> single;
    Future<Chunk> chunk;
    std::size_t chunk_size = 0;  // the chunk's element count: a failed chunk yields as many
  };

 public:
  MapState(Executor& executor, F fn, MapOptions options, Ranges&&... ranges)
      : executor_(&executor),
        fn_(std::move(fn)),
        options_(options),
        ranges_(HeldRange<Ranges>(std::forward<Ranges>(ranges))...),
        cursors_(std::apply(
            [](auto&... held) { return std::tuple(std::ranges::begin(held.get())...); },
            ranges_)) {
    if (options_.chunksize == 0 || kFutureInputs) options_.chunksize = 1;
    if (options_.timeout) deadline_ = deadline_after(*options_.timeout);
    if constexpr ((std::ranges::sized_range<std::remove_reference_t<Ranges>> && ...)) {
      known_size_ = std::apply(
          [](auto&... held) {
            return std::min({static_cast<std::size_t>(std::ranges::size(held.get()))...});
          },
          ranges_);
    }
    fill();
  }

  MapState(const MapState&) = delete;
  MapState& operator=(const MapState&) = delete;

  ~MapState() { cancel_rest(); }

  /// Makes the first element current (MapResults::begin).
  void start() {
    iteration_began_ = true;
    advance();
  }

  bool at_end() const noexcept { return !current_; }

  std::optional<std::size_t> known_size() const noexcept { return known_size_; }

  std::vector<value_type> to_vector() {
    if (iteration_began_) {
      throw InvalidStateError("map(): to_vector() on a range that was already iterated");
    }
    iteration_began_ = true;
    std::vector<value_type> results;
    if (known_size_) results.reserve(*known_size_);
    // With a buffer limit the next tasks are submitted as results are taken: no shortcut.
    if (options_.buffersize == 0) wait_for_last_in_flight();
    try {
      for (advance(); current_; advance()) results.push_back(std::move(current()));
    } catch (...) {
      cancel_rest();
      throw;
    }
    return results;
  }

  /// The current element's value, which stays there until the next advance(); rethrows
  /// the exception its call raised, or TimeoutError.
  value_type& current() {
    if (!current_) throw InvalidStateError("map(): no current element");
    if (current_->index() == 1) std::rethrow_exception(std::get<1>(*current_));
    return std::get<0>(*current_);
  }

  /// Makes the next element current; none is left at the end.
  void advance() {
    current_.reset();
    if (chunk_position_ < chunk_.size()) {
      current_ = std::move(chunk_[chunk_position_++]);
      return;
    }
    chunk_.clear();
    chunk_position_ = 0;
    if (in_flight_.empty()) return;
    InFlight next = std::move(in_flight_.front());
    in_flight_.pop_front();
    if (next.single.valid()) {
      take_from(next.single, 1);
    } else {
      take_from(next.chunk, next.chunk_size);
    }
    if (!stopped_) fill();
  }

 private:
  bool input_exhausted() {
    return [&]<std::size_t... I>(std::index_sequence<I...>) {
      return ((std::get<I>(cursors_) == std::ranges::end(std::get<I>(ranges_).get())) || ...);
    }(std::index_sequence_for<Ranges...>{});
  }

  Arguments next_arguments() {
    return [&]<std::size_t... I>(std::index_sequence<I...>) {
      Arguments arguments(*std::get<I>(cursors_)...);
      (++std::get<I>(cursors_), ...);
      return arguments;
    }(std::index_sequence_for<Ranges...>{});
  }

  /// Submits tasks until the buffer limit or the end of the input.
  void fill() {
    while (!stopped_ && !input_exhausted() &&
           (options_.buffersize == 0 || in_flight_.size() < options_.buffersize)) {
      if (options_.chunksize == 1) {
        in_flight_.push_back({std::apply(
                                  [&](auto&&... args) {
                                    return executor_->submit(fn_, std::move(args)...);
                                  },
                                  next_arguments()),
                              {},
                              1});
      } else if constexpr (!kFutureInputs) {
        std::vector<Arguments> chunk;
        chunk.reserve(options_.chunksize);
        while (chunk.size() < options_.chunksize && !input_exhausted()) {
          chunk.push_back(next_arguments());
        }
        const std::size_t size = chunk.size();
        if constexpr (requires {
                        executor_->template submit_map_chunk<value_type>(fn_, std::move(chunk));
                      }) {
          // An executor that cannot run run_chunk itself (a process pool) brings its own.
          in_flight_.push_back(
              {{}, executor_->template submit_map_chunk<value_type>(fn_, std::move(chunk)), size});
        } else {
          in_flight_.push_back(
              {{}, executor_->submit(&MapState::run_chunk, fn_, std::move(chunk)), size});
        }
      }
    }
  }

  static Chunk run_chunk(F fn, std::vector<Arguments> chunk) {
    Chunk outcomes;
    outcomes.reserve(chunk.size());
    for (auto& arguments : chunk) {
      try {
        if constexpr (std::is_void_v<Result>) {
          std::apply(fn, std::move(arguments));
          outcomes.emplace_back(std::in_place_index<0>);
        } else {
          outcomes.emplace_back(std::in_place_index<0>, std::apply(fn, std::move(arguments)));
        }
      } catch (...) {
        outcomes.emplace_back(std::in_place_index<1>, std::current_exception());
      }
    }
    return outcomes;
  }

  /// Sleeps until the last submitted task is done, or the deadline passes (advance() then
  /// reports the timeout). Tasks start in input order, so the others are mostly done by
  /// then; one that is not is waited for as iteration reaches it.
  void wait_for_last_in_flight() {
    if (in_flight_.empty()) return;
    const InFlight& last = in_flight_.back();
    StateBase& state = last.single.valid() ? static_cast<StateBase&>(*last.single.state())
                                           : static_cast<StateBase&>(*last.chunk.state());
    (void)wait_for_state(state, deadline_);
  }

  /// The value of a future that only this range holds, moved out (a move-only result works).
  template <class Value>
  static Value&& moved_result(Future<Value>& future) {
    return std::move(const_cast<Value&>(future.result()));
  }

  template <class Value>
  void take_from(Future<Value>& future, std::size_t elements) {
    if (!wait_for_state(*future.state(), deadline_)) {
      // Python's map gives up on the whole iteration once the deadline passes.
      current_ = Outcome(std::in_place_index<1>,
                         std::make_exception_ptr(TimeoutError("map(): timed out")));
      cancel_rest();
      return;
    }
    if constexpr (std::is_same_v<Value, Chunk>) {
      std::exception_ptr error;
      try {
        error = future.exception();
      } catch (...) {  // CancelledError: the chunk was cancelled (e.g. by shutdown)
        error = std::current_exception();
      }
      if (error) {
        // The chunk task itself failed (a worker crash, a reply that cannot be decoded, a
        // timeout, a cancellation): each of its elements yields that error, so that every
        // later value stays at its input's position.
        fail_chunk(elements, error);
      } else {
        chunk_ = moved_result(future);
        if (chunk_.size() != elements) {
          fail_chunk(elements, std::make_exception_ptr(
                                   Error("map(): a chunk's reply has the wrong length")));
        }
      }
      current_ = std::move(chunk_[chunk_position_++]);
    } else {
      try {
        if constexpr (std::is_void_v<Result>) {
          future.result();
          current_ = Outcome(std::in_place_index<0>);
        } else {
          current_ = Outcome(std::in_place_index<0>, moved_result(future));
        }
      } catch (...) {
        current_ = Outcome(std::in_place_index<1>, std::current_exception());
      }
    }
  }

  /// Makes the current chunk `elements` outcomes that each rethrow `error`.
  void fail_chunk(std::size_t elements, const std::exception_ptr& error) {
    chunk_.clear();
    chunk_.reserve(elements);
    for (std::size_t i = 0; i < elements; ++i) chunk_.emplace_back(std::in_place_index<1>, error);
  }

  /// Cancels the calls whose results were not taken, and submits nothing more.
  void cancel_rest() {
    stopped_ = true;
    for (auto& entry : in_flight_) {
      if (entry.single.valid()) (void)entry.single.cancel();
      if (entry.chunk.valid()) (void)entry.chunk.cancel();
    }
    in_flight_.clear();
  }

  Executor* executor_;
  F fn_;
  MapOptions options_;
  std::tuple<HeldRange<Ranges>...> ranges_;
  std::tuple<std::ranges::iterator_t<std::remove_reference_t<Ranges>&>...> cursors_;
  Deadline deadline_;
  std::deque<InFlight> in_flight_;
  Chunk chunk_;
  std::size_t chunk_position_ = 0;
  std::optional<Outcome> current_;
  bool stopped_ = false;  // after a timeout or an error in to_vector(): submit nothing more
  bool iteration_began_ = false;
  std::optional<std::size_t> known_size_;
};

/// A range of `fn(elements...)` results; iterate it once. Destroying it cancels the tasks
/// that have not started. A handle to a MapState on the heap: moving it (into a view,
/// out of a function) keeps its inputs, cursors and iterators valid.
template <class Executor, class F, class... Ranges>
class [[nodiscard(
    "map() is lazy and its range owns the calls: a discarded range is destroyed at once, "
    "which cancels every call that has not started. Iterate it, call to_vector(), or keep "
    "it in a variable")]] MapResults {
  using State = MapState<Executor, F, Ranges...>;

 public:
  /// What iteration yields: the call's result, or std::monostate for void functions.
  using value_type = typename State::value_type;

  MapResults(Executor& executor, F fn, MapOptions options, Ranges&&... ranges)
      : state_(std::make_unique<State>(executor, std::move(fn), options,
                                       std::forward<Ranges>(ranges)...)) {}

  MapResults(MapResults&&) noexcept = default;
  MapResults& operator=(MapResults&&) noexcept = default;

  class iterator {
   public:
    using value_type = MapResults::value_type;
    using difference_type = std::ptrdiff_t;

    iterator() = default;
    explicit iterator(State* state) : state_(state) {}

    /// The element's value, which stays in the range until `++` (dereferencing again gives
    /// the same value; moving from it is the caller's choice). Rethrows the exception its
    /// call raised, or TimeoutError.
    value_type& operator*() const {
      if (state_ == nullptr) throw InvalidStateError("map(): no current element");
      return state_->current();
    }
    iterator& operator++() {
      state_->advance();
      return *this;
    }
    void operator++(int) { ++*this; }
    friend bool operator==(const iterator& it, std::default_sentinel_t) {
      return it.state_ == nullptr || it.state_->at_end();
    }

   private:
    State* state_ = nullptr;
  };

  /// Starts the iteration (at most once). A moved-from range is empty.
  iterator begin() {
    if (!state_) return iterator();
    state_->start();
    return iterator(state_.get());
  }
  std::default_sentinel_t end() const noexcept { return {}; }

  /// How many elements iteration yields when every input knows its size (the shortest
  /// input's, as they are zipped); std::nullopt when one has no size (e.g. a stream).
  std::optional<std::size_t> known_size() const noexcept {
    return state_ ? state_->known_size() : std::nullopt;
  }

  /// Every result in input order, as Python's `list(ex.map(...))`; call it instead of
  /// iterating, at most once. Throws the exception of the first call (in input order) that
  /// raised, or TimeoutError once the deadline passes; the calls not started are then
  /// cancelled.
  ///
  /// Cheaper than iterating when the tasks take longer than taking their results: the
  /// calling thread sleeps once, until the last task is done, instead of once for every task
  /// it catches up with (on a process pool each such wake-up is two trips through the
  /// kernel: the dispatcher's, then the caller's). The price: without a buffersize, an error
  /// is reported once the last task is done, not as soon as its own task fails.
  std::vector<value_type> to_vector() {
    if (!state_) throw InvalidStateError("map(): to_vector() on a moved-from range");
    return state_->to_vector();
  }

 private:
  std::unique_ptr<State> state_;
};

/// Builds the lazy range for `executor.map`.
template <class Executor, class F, class... Ranges>
auto map_on(Executor& executor, F fn, MapOptions options, Ranges&&... ranges) {
  return MapResults<Executor, F, Ranges...>(executor, std::move(fn), options,
                                            std::forward<Ranges>(ranges)...);
}

/// Gives an executor its `map` members: `ex.map(fn, xs [, ys [, zs]] [, MapOptions])`. The
/// options come last as a struct so that `ex.map(fn, xs, {.chunksize = 256})` compiles.
template <class Executor>
class MapMethods {
 public:
  /// Lazily yields `fn(x, y, ...)` for the elements of the (zipped) ranges, in input order.
  template <class F, std::ranges::input_range R1>
  auto map(F fn, R1&& r1, MapOptions options = {}) {
    return map_on(self(), std::move(fn), options, std::forward<R1>(r1));
  }
  template <class F, std::ranges::input_range R1, std::ranges::input_range R2>
  auto map(F fn, R1&& r1, R2&& r2, MapOptions options = {}) {
    return map_on(self(), std::move(fn), options, std::forward<R1>(r1), std::forward<R2>(r2));
  }
  template <class F, std::ranges::input_range R1, std::ranges::input_range R2,
            std::ranges::input_range R3>
  auto map(F fn, R1&& r1, R2&& r2, R3&& r3, MapOptions options = {}) {
    return map_on(self(), std::move(fn), options, std::forward<R1>(r1), std::forward<R2>(r2),
                  std::forward<R3>(r3));
  }

 protected:
  ~MapMethods() = default;

 private:
  Executor& self() { return static_cast<Executor&>(*this); }
};

}  // namespace detail
}  // namespace confut
