#pragma once
/// @file executor.hpp
/// The `Executor` concept: what every confut executor provides, so that code can be written
/// once for threads, processes or a cluster.

#include <concepts>
#include <ranges>
#include <vector>

#include "future.hpp"

namespace confut {

namespace detail {
inline int executor_concept_probe(int value) { return value; }
}  // namespace detail

/// An executor runs callables asynchronously: `submit(fn, args...)` returns a `Future` at
/// once, `map(fn, range)` returns a lazy range of results in input order, and
/// `shutdown(wait, cancel_futures)` stops it.
/// @code
/// template <confut::Executor E> int total(E& ex) { return ex.submit(f, 1).result(); }
/// @endcode
template <class E>
concept Executor = requires(E& executor, std::vector<int>& inputs) {
  { executor.submit(&detail::executor_concept_probe, 1) } -> std::same_as<Future<int>>;
  { executor.map(&detail::executor_concept_probe, inputs) } -> std::ranges::input_range;
  executor.shutdown();
  executor.shutdown(true, false);
};

}  // namespace confut
