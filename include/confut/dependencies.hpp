#pragma once
/// @file dependencies.hpp
/// Futures as arguments (Dask's `client.submit(add, x, y)`): any argument that is a
/// `Future<T>`, or a `std::vector`, `std::array` or `std::tuple` holding futures (nested as
/// deep as you like), is replaced by the value when the task runs. The task waits in no
/// queue and on no thread until all its inputs are done.

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <span>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "errors.hpp"
#include "future.hpp"
#include "detail/sync/spin_lock.hpp"

namespace confut {

namespace detail {

/// How one argument type is passed to the task: `Value` is what the callable receives,
/// `contains_futures` whether there is anything to wait for.
template <class A>
struct ArgumentUnwrap {
  static constexpr bool contains_futures = false;
  using Value = A;
  static A&& take(A& argument) { return std::move(argument); }
  template <class Visit>
  static void visit(A&, Visit&&) {}
};

template <class T>
struct ArgumentUnwrap<Future<T>> {
  static_assert(!std::is_void_v<T>,
                "confut: a Future<void> carries no value and cannot be passed as an argument; "
                "wait for it before submitting, or make the task return a value");
  static_assert(!std::is_same_v<T, AnyResult>,
                "confut: an AnyFuture has no typed value to pass as an argument; pass the "
                "Future<T> it came from, or std::ref(any_future) to hand over the handle");
  static constexpr bool contains_futures = true;
  using Value = T;
  /// The callable sees the input's stored value without a copy.
  static const T& take(Future<T>& argument) { return std::as_const(argument.state()->value()); }
  template <class Visit>
  static void visit(Future<T>& argument, Visit&& visit) {
    visit(argument);
  }
};

template <class E, class Alloc>
struct ArgumentUnwrap<std::vector<E, Alloc>> {
  using Element = ArgumentUnwrap<E>;
  static constexpr bool contains_futures = Element::contains_futures;
  using Value = std::conditional_t<contains_futures, std::vector<typename Element::Value>,
                                   std::vector<E, Alloc>>;
  static decltype(auto) take(std::vector<E, Alloc>& argument) {
    if constexpr (contains_futures) {
      Value values;
      values.reserve(argument.size());
      for (auto& element : argument) values.emplace_back(Element::take(element));
      return values;
    } else {
      return std::move(argument);
    }
  }
  template <class Visit>
  static void visit(std::vector<E, Alloc>& argument, Visit&& visit) {
    if constexpr (contains_futures) {
      for (auto& element : argument) Element::visit(element, visit);
    }
  }
};

template <class E, std::size_t N>
struct ArgumentUnwrap<std::array<E, N>> {
  using Element = ArgumentUnwrap<E>;
  static constexpr bool contains_futures = Element::contains_futures;
  using Value =
      std::conditional_t<contains_futures, std::array<typename Element::Value, N>, std::array<E, N>>;
  static decltype(auto) take(std::array<E, N>& argument) {
    if constexpr (contains_futures) {
      return [&]<std::size_t... I>(std::index_sequence<I...>) {
        return Value{typename Element::Value(Element::take(argument[I]))...};
      }(std::make_index_sequence<N>{});
    } else {
      return std::move(argument);
    }
  }
  template <class Visit>
  static void visit(std::array<E, N>& argument, Visit&& visit) {
    if constexpr (contains_futures) {
      for (auto& element : argument) Element::visit(element, visit);
    }
  }
};

template <class... E>
struct ArgumentUnwrap<std::tuple<E...>> {
  static constexpr bool contains_futures = (ArgumentUnwrap<E>::contains_futures || ...);
  using Value = std::conditional_t<contains_futures,
                                   std::tuple<typename ArgumentUnwrap<E>::Value...>,
                                   std::tuple<E...>>;
  static decltype(auto) take(std::tuple<E...>& argument) {
    if constexpr (contains_futures) {
      return std::apply(
          [](E&... elements) {
            return Value(typename ArgumentUnwrap<E>::Value(ArgumentUnwrap<E>::take(elements))...);
          },
          argument);
    } else {
      return std::move(argument);
    }
  }
  template <class Visit>
  static void visit(std::tuple<E...>& argument, Visit&& visit) {
    if constexpr (contains_futures) {
      std::apply([&](E&... elements) { (ArgumentUnwrap<E>::visit(elements, visit), ...); },
                 argument);
    }
  }
};

template <class... Args>
inline constexpr bool any_future_argument = (ArgumentUnwrap<Args>::contains_futures || ...);

/// What the callable is invoked with for a stored argument of type A.
template <class A>
using unwrapped_argument_t = decltype(ArgumentUnwrap<A>::take(std::declval<A&>()));

/// The value type of a task `f(args...)` once futures are replaced by their values.
template <class F, class... Args>
using task_result_t =
    std::remove_cvref_t<std::invoke_result_t<F&&, unwrapped_argument_t<std::decay_t<Args>>...>>;

/// Is told when a waiting task's inputs are all done (an executor queues it then).
class ReadySink {
 public:
  /// Takes over the one reference that the dependency phase held on `task`.
  virtual void inputs_ready(StateBase& task) noexcept = 0;

 protected:
  ~ReadySink() = default;
};

/// The nodes a waiting task hangs on its unfinished inputs, and the count of those left.
/// It lives inside the task (see TaskInputs), with room for two inputs; a task with more
/// takes one allocation for all of them.
///
/// The inputs are not retained here: the task's own arguments hold their futures until the
/// task has run, and the block lets go of them (under its lock) before it hands the task on.
class DependencyBlock {
 public:
  static constexpr std::size_t kInlineInputs = 2;

  DependencyBlock(StateBase& task, ReadySink& sink, std::size_t input_count)
      : task_(task), sink_(sink) {
    if (input_count > kInlineInputs) {
      extra_nodes_ = std::make_unique<Node[]>(input_count);
      nodes_ = extra_nodes_.get();
    }
    remaining_.store(static_cast<std::uint32_t>(input_count) + 1, std::memory_order_relaxed);
  }
  DependencyBlock(const DependencyBlock&) = delete;
  DependencyBlock& operator=(const DependencyBlock&) = delete;

  /// Before arm(): one call per input future, as many as the constructor was told.
  void add_input(StateBase& input) noexcept {
    Node& node = nodes_[count_++];
    node.block = this;
    node.input = &input;
    node.input_id = input.id_;
    node.fire = &DependencyBlock::input_done;
  }

  /// Hangs the nodes on the inputs; the last input to finish hands the task to the sink.
  void arm() noexcept {
    for (Node& node : nodes()) node.input->add_continuation(&node);
    count_down();
  }

  /// For a waiter that wants to run what this task needs: retains and lists the inputs
  /// that are not done yet.
  void collect_pending_inputs(StateBase** out, std::size_t capacity, std::size_t& count) noexcept {
    SpinGuard guard(lock_);
    if (inputs_released_) return;
    for (Node& node : nodes()) {
      if (count == capacity) return;
      if (!node.input->done()) {
        node.input->retain();
        out[count++] = node.input;
      }
    }
  }

  std::vector<std::uint64_t> input_ids() const {
    std::vector<std::uint64_t> ids;
    ids.reserve(count_);
    for (const Node& node : nodes()) ids.push_back(node.input_id);
    return ids;
  }

 private:
  struct Node : Continuation {
    DependencyBlock* block = nullptr;
    StateBase* input = nullptr;
    std::uint64_t input_id = 0;  // kept: `input` may be gone once the task ran
  };

  std::span<Node> nodes() noexcept { return {nodes_, count_}; }
  std::span<const Node> nodes() const noexcept { return {nodes_, count_}; }

  static void input_done(Continuation* self, StateBase& input) noexcept {
    auto* block = static_cast<Node*>(self)->block;
    const std::uint8_t code = input.code();
    if (code == kFailed) {
      input.mark_error_retrieved();  // the dependent carries it on
      block->task_.fail_before_start(input.error());
    } else if (code == kCancelled) {
      block->task_.fail_before_start(std::make_exception_ptr(
          CancelledError("an input of this task was cancelled: " + input.describe())));
    }
    block->count_down();
  }

  void count_down() noexcept {
    if (remaining_.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
    // Every input is done: from here on the task may run and drop its arguments, so no
    // waiter may reach the inputs through this block any more.
    {
      SpinGuard guard(lock_);
      inputs_released_ = true;
    }
    sink_.inputs_ready(task_);
  }

  StateBase& task_;
  ReadySink& sink_;
  Node inline_nodes_[kInlineInputs];
  std::unique_ptr<Node[]> extra_nodes_;
  Node* nodes_ = inline_nodes_;
  std::uint32_t count_ = 0;
  std::atomic<std::uint32_t> remaining_{0};
  SpinLock lock_;
  bool inputs_released_ = false;
};

/// Applies `visit` to every future in `args`; throws InvalidStateError for an empty one.
template <class Visit, class... Args>
void for_each_future_input(std::tuple<Args...>& args, Visit&& visit) {
  std::apply(
      [&](Args&... each) {
        (ArgumentUnwrap<Args>::visit(each,
                                     [&](auto& future) {
                                       if (!future.valid()) {
                                         throw InvalidStateError(
                                             "an empty Future was passed as a task argument");
                                       }
                                       visit(*future.state());
                                     }),
         ...);
      },
      args);
}

/// The part of a task with future arguments that waits for them. Tasks without any hold
/// NoTaskInputs instead, which takes no room.
class TaskInputs {
 public:
  /// Hangs `task` on the unfinished futures among `args`; `sink` gets it once they are
  /// done. Returns false when there was nothing to wait for (the caller queues it at once).
  template <class... Args>
  bool wait_for(StateBase& task, ReadySink& sink, std::tuple<Args...>& args) {
    std::size_t count = 0;
    for_each_future_input(args, [&](StateBase&) { ++count; });  // throws for an empty one
    if (count == 0) return false;  // e.g. an empty vector of futures
    DependencyBlock& block = block_.emplace(task, sink, count);
    for_each_future_input(args, [&](StateBase& input) { block.add_input(input); });
    block.arm();
    return true;
  }

  void collect_pending_inputs(StateBase** out, std::size_t capacity,
                              std::size_t& count) noexcept {
    if (block_) block_->collect_pending_inputs(out, capacity, count);
  }

  std::vector<std::uint64_t> input_ids() const {
    return block_ ? block_->input_ids() : std::vector<std::uint64_t>{};
  }

 private:
  std::optional<DependencyBlock> block_;
};

struct NoTaskInputs {
  template <class... Args>
  bool wait_for(StateBase&, ReadySink&, std::tuple<Args...>&) {
    return false;
  }
  void collect_pending_inputs(StateBase**, std::size_t, std::size_t&) noexcept {}
  std::vector<std::uint64_t> input_ids() const { return {}; }
};

template <class... Args>
using task_inputs_t = std::conditional_t<any_future_argument<Args...>, TaskInputs, NoTaskInputs>;

/// The executors' side of futures as arguments: hangs a new task on its unfinished inputs
/// (TaskInputs::wait_for); false when there is nothing to wait for and the caller queues the
/// task at once. On an error (an empty input future) drops the executor's reference to the
/// task and rethrows.
template <class TaskType>
bool wait_for_inputs_or_release(TaskType& task, ReadySink& sink) {
  try {
    return task.wait_for_inputs(sink);
  } catch (...) {
    task.release();
    throw;
  }
}

/// As wait_for_inputs_or_release, counting the task in `waiting` (so that shutdown waits for
/// it) until the sink queues it.
template <class TaskType>
bool wait_for_inputs_counted(TaskType& task, ReadySink& sink,
                             std::atomic<std::uint32_t>& waiting) {
  waiting.fetch_add(1, std::memory_order_relaxed);
  bool waits = false;
  try {
    waits = wait_for_inputs_or_release(task, sink);
  } catch (...) {
    waiting.fetch_sub(1, std::memory_order_relaxed);
    throw;
  }
  if (!waits) waiting.fetch_sub(1, std::memory_order_relaxed);
  return waits;
}

}  // namespace detail
}  // namespace confut
