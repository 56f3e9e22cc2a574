#pragma once
// A task: a shared state that owns the callable and its arguments until it runs.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

#include "../../dependencies.hpp"
#include "../../named.hpp"
#include "shared_state.hpp"
#include "identity.hpp"

namespace confut::detail {

struct NoAddress {};
struct NoName {};

template <class R, class F, class... Args>
class Task final : public State<R> {
 public:
  template <class Fn, class... A>
  explicit Task(Fn&& fn, A&&... args) {
    std::construct_at(&closure_, std::forward<Fn>(fn), std::forward<A>(args)...);
    if constexpr (is_function_pointer_v<F>) {
      function_address_ = reinterpret_cast<const void*>(std::get<0>(closure_));
    }
    if constexpr (is_named_v<F>) given_name_ = std::get<0>(closure_).name;
  }

  ~Task() override {
    if (closure_alive_) std::destroy_at(&closure_);
  }

  std::tuple<F, Args...>& closure() noexcept { return closure_; }

  /// Hangs the task on its unfinished input futures; `sink` gets it once they are done.
  /// Returns false when there was nothing to wait for (the caller queues it at once).
  bool wait_for_inputs(ReadySink& sink) { return inputs_.wait_for(*this, sink, closure_); }

  std::uint8_t execute() noexcept override {
    std::uint8_t outcome = kFinished;
    try {
      if constexpr (std::is_void_v<R>) {
        invoke();
      } else {
        this->emplace_value(invoke());
      }
    } catch (...) {
      this->set_error(std::current_exception());
      outcome = kFailed;
    }
    // Release the arguments (and input futures) before anyone sees the result.
    std::destroy_at(&closure_);
    closure_alive_ = false;
    return outcome;
  }

  void collect_pending_inputs(StateBase** out, std::size_t capacity,
                              std::size_t& count) noexcept override {
    inputs_.collect_pending_inputs(out, capacity, count);
  }

  std::string task_name() const override {
    if constexpr (is_named_v<F>) {
      return given_name_;
    } else if constexpr (is_function_pointer_v<F>) {
      return callable_name<F>(function_address_);
    } else {
      return callable_name<F>(nullptr);
    }
  }

  const void* name_key() const noexcept override {
    if constexpr (is_named_v<F>) {
      return nullptr;
    } else if constexpr (is_function_pointer_v<F>) {
      return function_address_;
    } else {
      return &type_tag<F>;
    }
  }

  std::vector<std::uint64_t> input_ids() const override {
    return inputs_.input_ids();
  }

 private:
  decltype(auto) invoke() {
    return std::apply(
        [](F& fn, Args&... args) -> decltype(auto) {
          return std::invoke(std::move(fn), ArgumentUnwrap<Args>::take(args)...);
        },
        closure_);
  }

  union {
    std::tuple<F, Args...> closure_;
  };
  bool closure_alive_ = true;
  [[no_unique_address]] std::conditional_t<is_function_pointer_v<F>, const void*, NoAddress>
      function_address_{};
  // The closure (and a Named callable's name with it) is gone once the task ran.
  [[no_unique_address]] std::conditional_t<is_named_v<F>, std::string, NoName> given_name_{};
  [[no_unique_address]] task_inputs_t<Args...> inputs_;
};

}  // namespace confut::detail
