#pragma once
/// @file named.hpp
/// `named(name, fn)`: gives a task the name that the task stream, the trace and the
/// performance report show (by default they show the callable's own name).
///
/// @code
/// auto f = ex.submit(confut::named("load " + path, load_file), path);
/// @endcode

#include <concepts>
#include <functional>
#include <string>
#include <type_traits>
#include <utility>

namespace confut {

/// A callable with a name; calls go through to `fn`.
template <class F>
struct Named {
  std::string name;
  F fn;

  template <class... A>
    requires std::invocable<F&, A...>
  std::invoke_result_t<F&, A...> operator()(A&&... args) {
    return std::invoke(fn, std::forward<A>(args)...);
  }
};

/// Names a task's callable for the recorder: `ex.submit(confut::named("step", f), x)`.
template <class F>
Named<std::decay_t<F>> named(std::string name, F&& fn) {
  return Named<std::decay_t<F>>{std::move(name), std::forward<F>(fn)};
}

template <class T>
inline constexpr bool is_named_v = false;
template <class F>
inline constexpr bool is_named_v<Named<F>> = true;

}  // namespace confut
