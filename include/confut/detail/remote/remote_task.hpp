#pragma once
// A task run elsewhere (a worker process, an MPI rank, a loopback thread), as the parent
// keeps it: how its request is encoded, how its reply completes the future, and its claim
// while it waits in a worker's queue. Also the invokers that run it on the worker's side
// (the same binary runs both: a function's place in its module names it on both sides).

#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "../../dependencies.hpp"
#include "../../errors.hpp"
#include "../../serialization.hpp"
#include "../core/identity.hpp"
#include "../core/shared_state.hpp"
#include "../sync/spin_lock.hpp"
#include "claims.hpp"
#include "code_location.hpp"
#include "protocol.hpp"
#include "remote_exception.hpp"
#include "remote_objects.hpp"
#include "serve.hpp"

namespace confut::detail {

/// What the parent keeps of a task sent to a worker: how to build its message, and how to
/// complete its future from the reply.
class RemoteTask {
 public:
  virtual StateBase& remote_state() noexcept = 0;
  /// Encodes the invoker, the callable and the argument values (inputs are done by now).
  virtual void write_request(WireWriter& out) = 0;
  /// Stores the value (or a decoding error) from a successful reply and returns kFinished or
  /// kFailed; the pool publishes it once it has counted it.
  virtual std::uint8_t store_reply(WireReader& in) noexcept = 0;

  // ---- where a claimed (kRunning) task is, and its claim word (a ClaimBoard) while it
  // waits in a worker's queue. Changed by the dispatcher and by cancel(), under claim_lock_:
  // the dispatcher changes a claimed task's state only through these. ----

  /// The dispatcher, about to push the task to a worker as request `request` of that worker
  /// (marked sent on its board). False when cancel() came while the task was being
  /// encoded: it is cancelled then, and must not be sent.
  bool set_claim(ClaimBoard* board, std::uint64_t request) noexcept {
    SpinGuard lock(claim_lock_);
    if (phase_ == Phase::cancelled_unsent) return false;
    phase_ = Phase::in_worker_queue;
    claim_board_ = board;
    claim_request_ = request;
    return true;
  }
  /// The dispatcher, when its request could not be encoded: false when cancel() came first
  /// (then the task is cancelled, not failed).
  bool encoding_failed() noexcept {
    SpinGuard lock(claim_lock_);
    if (phase_ == Phase::cancelled_unsent) return false;
    phase_ = Phase::answered;
    return true;
  }
  /// The dispatcher, once the worker replied to the task or died running it: before it
  /// completes the task or lets the worker's memory go.
  void clear_claim() noexcept {
    SpinGuard lock(claim_lock_);
    phase_ = Phase::answered;
    claim_board_ = nullptr;
  }
  /// The dispatcher, to move the task to another worker: takes it back unless the worker
  /// has started it (false), and makes it queued again. In one step, so that a cancel()
  /// meanwhile finds it either still in the worker's queue (and cancels it there) or queued.
  bool take_back(StateBase& state) noexcept {
    SpinGuard lock(claim_lock_);
    if (phase_ != Phase::in_worker_queue || !claim_board_->try_revoke(claim_request_)) {
      return false;
    }
    requeue_locked(state);
    return true;
  }
  /// The dispatcher, when the task's worker died before starting it: queued again, or left
  /// cancelled if cancel() got there first.
  void requeue(StateBase& state) noexcept {
    SpinGuard lock(claim_lock_);
    requeue_locked(state);
  }

 protected:
  ~RemoteTask() = default;

  /// StateBase::withdraw_unstarted() of the task that this is: any thread.
  bool withdraw(StateBase& state) noexcept {
    SpinGuard lock(claim_lock_);
    switch (phase_) {
      case Phase::encoding:  // the dispatcher sees this in set_claim() and drops it
        if (!state.try_transition(kRunning, kCancelled)) return false;  // queued again
        phase_ = Phase::cancelled_unsent;
        return true;
      case Phase::in_worker_queue:  // the worker skips it and replies "cancelled"
        return claim_board_->try_cancel(claim_request_) &&
               state.try_transition(kRunning, kCancelled);
      case Phase::cancelled_unsent:
      case Phase::answered:
        break;
    }
    return false;
  }
  /// StateBase::started_running(): false until a worker has started the task.
  bool started() const noexcept {
    SpinGuard lock(claim_lock_);
    switch (phase_) {
      case Phase::encoding:
      case Phase::cancelled_unsent: return false;
      case Phase::in_worker_queue: return !claim_board_->unstarted(claim_request_);
      case Phase::answered: break;
    }
    return true;
  }

 private:
  enum class Phase : std::uint8_t {
    encoding,          // claimed by the dispatcher, not in a worker's queue (yet, or again)
    cancelled_unsent,  // cancelled while encoding: set_claim() refuses to send it
    in_worker_queue,   // sent: the claim word decides between the worker and the parent
    answered,          // replied to, or its worker died running it
  };

  void requeue_locked(StateBase& state) noexcept {
    phase_ = Phase::encoding;
    claim_board_ = nullptr;
    state.try_transition(kRunning, kQueued);
  }

  mutable SpinLock claim_lock_;  // held for a few instructions, never across a wait
  Phase phase_ = Phase::encoding;
  ClaimBoard* claim_board_ = nullptr;
  std::uint64_t claim_request_ = 0;
};

/// The callable of a process task: a function pointer (sent by its location in the binary)
/// or a capture-less lambda / empty function object (rebuilt in the worker).
template <class F>
inline constexpr bool sendable_callable_v =
    is_function_pointer_v<F> ||
    (std::is_class_v<F> && std::is_empty_v<F> && std::is_default_constructible_v<F> &&
     std::is_trivially_copyable_v<F>);

template <class F>
struct callable_cannot_be_sent_to_another_process {
  static_assert(sendable_callable_v<F>,
                "confut: this callable cannot be sent to another process: use a plain function, "
                "a capture-less lambda or an empty function object (a capturing lambda or a "
                "std::function holds state that has no meaning in another process; pass that "
                "state as arguments instead)");
  static constexpr bool value = true;
};

template <class F>
void write_callable(WireWriter& out, const F& fn) {
  if constexpr (is_function_pointer_v<F>) {
    const CodeLocation location = locate_function(fn);
    out.write(location.module);
    out.write(location.offset);
  } else {
    (void)out;
    (void)fn;
  }
}

template <class F>
F read_callable(WireReader& in) {
  if constexpr (is_function_pointer_v<F>) {
    CodeLocation location;
    location.module = in.read<std::uint64_t>();
    location.offset = in.read<std::uint64_t>();
    return resolve_function<std::remove_pointer_t<F>>(location);
  } else {
    (void)in;
    return F{};
  }
}

/// The value a worker receives for a stored argument of type A.
template <class A>
using remote_value_t = std::remove_cvref_t<typename ArgumentUnwrap<A>::Value>;

/// Runs in the worker: decode callable and arguments, call, encode the result. `Args` are
/// the arguments as stored by the parent (a future argument may arrive as a reference to a
/// value the worker holds: remote_objects.hpp).
template <class R, class F, class... Args>
void remote_invoke(WireReader& in, WireWriter& out) {
  note_call_started();
  F fn = read_callable<F>(in);
  std::tuple<ArgumentSlot<Args>...> slots{read_argument<Args>(in)...};  // left to right
  note_arguments_decoded();
  if constexpr (std::is_void_v<R>) {
    call_with_slots<F, Args...>(fn, slots);
    note_call_returned();
  } else {
    R result = call_with_slots<F, Args...>(fn, slots);
    note_call_returned();
    out.write(static_cast<const R&>(result));
  }
}

/// Where `Invoker` lives; looked up once per invoker.
template <auto Invoker>
CodeLocation invoker_location() {
  static const CodeLocation location = locate_function(Invoker);
  return location;
}

template <class R, class F, class... Args>
class RemoteCallTask final : public State<R>, public RemoteTask {
 public:
  template <class Fn, class... A>
  explicit RemoteCallTask(Fn&& fn, A&&... args)
      : closure_(std::in_place, std::forward<Fn>(fn), std::forward<A>(args)...) {
    if constexpr (is_function_pointer_v<F>) {
      function_address_ = reinterpret_cast<const void*>(std::get<0>(*closure_));
    }
  }

  /// A name given with confut::named(); the callable's own name otherwise.
  void set_given_name(std::string name) { given_name_ = std::move(name); }

  StateBase& remote_state() noexcept override { return *this; }

  void write_request(WireWriter& out) override {
    const CodeLocation invoker = invoker_location<&remote_invoke<R, F, Args...>>();
    begin_request(out, invoker);
    std::apply(
        [&](F& fn, Args&... args) {
          write_callable(out, fn);
          (write_argument<Args>(out, args), ...);
        },
        *closure_);
  }

  std::uint8_t store_reply(WireReader& in) noexcept override {
    bool constructed = false;
    try {
      if constexpr (!std::is_void_v<R>) {
        this->emplace_value(in.read<R>());
        constructed = true;
      }
      if (in.remaining() != 0) throw DecodeError("confut: a task's result had trailing bytes");
    } catch (...) {
      if constexpr (!std::is_void_v<R>) {
        if (constructed) std::destroy_at(&this->value());
      }
      this->set_error(std::current_exception());
      release_closure();
      return kFailed;
    }
    release_closure();
    return kFinished;
  }

  void release_closure() noexcept { closure_.reset(); }

  bool withdraw_unstarted() noexcept override { return withdraw(*this); }
  bool started_running() const noexcept override { return started(); }

  bool wait_for_inputs(ReadySink& sink) { return inputs_.wait_for(*this, sink, *closure_); }

  std::string task_name() const override {
    if (!given_name_.empty()) return given_name_;
    return callable_name<F>(function_address_);
  }

  const void* name_key() const noexcept override {
    if (!given_name_.empty()) return nullptr;
    return function_address_ != nullptr ? function_address_ : &type_tag<F>;
  }

  std::vector<std::uint64_t> input_ids() const override {
    return inputs_.input_ids();
  }

 private:
  std::optional<std::tuple<F, Args...>> closure_;
  [[no_unique_address]] task_inputs_t<Args...> inputs_;
  const void* function_address_ = nullptr;  // the closure is gone once the reply is in
  std::string given_name_;
};

/// Runs in the worker: one call per element of a map chunk, each outcome (value or
/// exception) written separately so that one failing element does not hide the others.
template <class V, class F, class Arguments>
void remote_invoke_chunk(WireReader& in, WireWriter& out) {
  F fn = read_callable<F>(in);
  auto chunk = in.read<std::vector<Arguments>>();
  note_arguments_decoded();  // the results are encoded as the calls go
  out.write(static_cast<std::uint64_t>(chunk.size()));
  for (auto& arguments : chunk) {
    note_call_started();  // task_timeout applies to each call
    // A value whose encoding throws part-way (a Codec that checks late, a value nested too
    // deep) leaves bytes behind: they are dropped, so that the next outcome starts here.
    const std::size_t outcome_start = out.size();
    try {
      if constexpr (std::is_same_v<V, std::monostate>) {
        std::apply(fn, std::move(arguments));
        out.write(std::uint8_t{0});
      } else {
        V value = std::apply(fn, std::move(arguments));
        out.write(std::uint8_t{0});
        out.write(value);
      }
    } catch (...) {
      out.buffer().resize(outcome_start);
      out.write(std::uint8_t{1});
      encode_exception(out, std::current_exception());
    }
  }
}

/// A chunk of `map` sent to one worker; its future holds each element's outcome.
template <class V, class F, class Arguments>
class RemoteChunkTask final : public State<std::vector<std::variant<V, std::exception_ptr>>>,
                               public RemoteTask {
  using Chunk = std::vector<std::variant<V, std::exception_ptr>>;

 public:
  RemoteChunkTask(F fn, std::vector<Arguments> chunk)
      : fn_(std::move(fn)), chunk_(std::move(chunk)) {}

  StateBase& remote_state() noexcept override { return *this; }

  void write_request(WireWriter& out) override {
    const CodeLocation invoker = invoker_location<&remote_invoke_chunk<V, F, Arguments>>();
    begin_request(out, invoker);
    write_callable(out, fn_);
    out.write(chunk_);
  }

  std::uint8_t store_reply(WireReader& in) noexcept override {
    try {
      Chunk outcomes;
      const auto count = in.read<std::uint64_t>();
      // One outcome per call that was sent: a count beyond that is corrupt, and reserving
      // by it could ask for far more memory than the reply holds.
      if (count > in.remaining() || count > chunk_.size()) {
        throw DecodeError("confut: corrupt map chunk reply");
      }
      outcomes.reserve(static_cast<std::size_t>(count));
      for (std::uint64_t i = 0; i < count; ++i) {
        if (in.read<std::uint8_t>() == 0) {
          if constexpr (std::is_same_v<V, std::monostate>) {
            outcomes.emplace_back(std::in_place_index<0>);
          } else {
            outcomes.emplace_back(std::in_place_index<0>, in.read<V>());
          }
        } else {
          outcomes.emplace_back(std::in_place_index<1>, decode_exception(in));
        }
      }
      this->emplace_value(std::move(outcomes));
    } catch (...) {
      this->set_error(std::current_exception());
      chunk_.clear();
      return kFailed;
    }
    chunk_.clear();
    return kFinished;
  }

  std::string task_name() const override {
    if constexpr (is_function_pointer_v<F>) {
      return "map chunk of " + callable_name<F>(reinterpret_cast<const void*>(fn_));
    } else {
      return "map chunk of " + type_name<F>();
    }
  }

  const void* name_key() const noexcept override { return &type_tag<RemoteChunkTask>; }

  bool withdraw_unstarted() noexcept override { return withdraw(*this); }
  bool started_running() const noexcept override { return started(); }

 private:
  F fn_;
  std::vector<Arguments> chunk_;
};

}  // namespace confut::detail
