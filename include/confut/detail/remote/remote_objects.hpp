#pragma once
// Values kept on workers (MPIPoolExecutor::scatter): a scattered future's value is sent once
// to the workers that should hold it, and a task whose argument is that future, sent to one
// of them, carries a reference (the object's id) instead of the value.
//
//   parent                                         worker
//   scatter(v): ScatteredState<T> (done, holds v)  store id -> encoded bytes (ObjectStore)
//     + ObjectTicket (id, holders) ──post──► transport sends "store" before any request
//   submit(f, future): encoding for worker w       read_argument: flag 1 -> decode the
//     (ObjectScope) writes flag 1 + id if w holds   stored bytes of id; flag 0 -> the value
//   last Future copy gone: ~ObjectTicket posts "drop" to the holders
//
// Every future argument of a remote task starts with a flag byte (0: the value follows,
// 1: an object id follows); other arguments are written as they are.

#include <cstddef>
#include <functional>
#include <optional>
#include <tuple>
#include <typeinfo>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "../../dependencies.hpp"
#include "../../errors.hpp"
#include "../../future.hpp"
#include "../../serialization.hpp"
#include "../core/shared_state.hpp"

namespace confut::detail {

/// Where the transport learns of objects to store on or drop from workers (any thread).
class ObjectDirectory {
 public:
  virtual ~ObjectDirectory() = default;
  virtual void post_drop(std::uint64_t id, const std::vector<std::size_t>& holders) = 0;
};

/// One scattered value, shared by the copies of its future; dropped on the workers when the
/// last copy goes (if its executor is still there).
struct ObjectTicket {
  std::uint64_t id = 0;
  std::vector<std::size_t> holders;  // the worker ranks (indices) that hold it
  std::weak_ptr<ObjectDirectory> directory;

  ObjectTicket() = default;
  ObjectTicket(const ObjectTicket&) = delete;
  ObjectTicket& operator=(const ObjectTicket&) = delete;
  ~ObjectTicket() {
    if (auto owner = directory.lock()) owner->post_drop(id, holders);
  }
  bool held_by(std::size_t holder) const noexcept {
    for (const std::size_t h : holders) {
      if (h == holder) return true;
    }
    return false;
  }
};

struct ScatteredBase {
  std::shared_ptr<ObjectTicket> ticket;
};

/// A scattered future's state: done, with the value here too, and its ticket.
template <class T>
struct ScatteredState final : State<T>, ScatteredBase {
  std::string task_name() const override { return "scatter"; }
};

/// What the encoding of a request may refer to: set (RAII) by the dispatcher while it
/// encodes a request for one worker.
class ObjectScope {
 public:
  ObjectScope(const ObjectDirectory* directory, std::size_t holder) noexcept
      : directory_(directory), holder_(holder), previous_(current()) {
    current() = this;
  }
  ObjectScope(const ObjectScope&) = delete;
  ObjectScope& operator=(const ObjectScope&) = delete;
  ~ObjectScope() { current() = previous_; }

  /// The id to send instead of `state`'s value, or 0 when the value must go.
  static std::uint64_t reference_for(const StateBase& state) noexcept {
    const ObjectScope* scope = current();
    if (scope == nullptr) return 0;
    const auto* scattered = dynamic_cast<const ScatteredBase*>(&state);
    if (scattered == nullptr || !scattered->ticket) return 0;
    const ObjectTicket& ticket = *scattered->ticket;
    if (ticket.directory.lock().get() != scope->directory_) return 0;  // another executor's
    return ticket.held_by(scope->holder_) ? ticket.id : 0;
  }

 private:
  static const ObjectScope*& current() noexcept {
    static thread_local const ObjectScope* scope = nullptr;
    return scope;
  }
  const ObjectDirectory* directory_;
  std::size_t holder_;
  const ObjectScope* previous_;
};

/// The objects a worker holds (one store per process): each as its encoded bytes, and
/// decoded once, on first use, for the type a task asks for (tasks then share that copy).
class ObjectStore {
 public:
  static ObjectStore& instance() {
    static ObjectStore store;
    return store;
  }
  void put(std::uint64_t id, std::vector<std::byte> bytes) {
    std::lock_guard lock(mutex_);
    objects_[id] = Entry{std::move(bytes), nullptr, nullptr};
  }
  void drop(std::uint64_t id) {
    std::lock_guard lock(mutex_);
    objects_.erase(id);
  }
  void clear() {
    std::lock_guard lock(mutex_);
    objects_.clear();
  }
  std::size_t size() const {
    std::lock_guard lock(mutex_);
    return objects_.size();
  }
  /// Object `id` as a V, decoded within `limits` the first time; throws DecodeError when
  /// this worker does not hold it or its bytes are not a V.
  template <class V>
  std::shared_ptr<const V> get(std::uint64_t id, const WireLimits& limits) {
    std::lock_guard lock(mutex_);  // a first decoding of a large value keeps the others out
    const auto it = objects_.find(id);
    if (it == objects_.end()) {
      throw DecodeError("confut: a task refers to object " + std::to_string(id) +
                        ", which this worker does not hold");
    }
    Entry& entry = it->second;
    if (entry.decoded == nullptr || entry.type != &typeid(V)) {
      WireReader in(entry.bytes.data(), entry.bytes.size(), limits);
      auto value = std::make_shared<const V>(in.read<V>());
      if (in.remaining() != 0) throw DecodeError("confut: a stored object had trailing bytes");
      entry.decoded = value;
      entry.type = &typeid(V);
    }
    return std::static_pointer_cast<const V>(entry.decoded);
  }

 private:
  struct Entry {
    std::vector<std::byte> bytes;
    std::shared_ptr<const void> decoded;
    const std::type_info* type;
  };
  mutable std::mutex mutex_;
  std::unordered_map<std::uint64_t, Entry> objects_;
};

/// Writes argument `argument` of a remote task (see the top of this file).
template <class A>
void write_argument(WireWriter& out, A& argument) {
  using Value = std::remove_cvref_t<typename ArgumentUnwrap<A>::Value>;
  if constexpr (is_future_v<A>) {
    if (const std::uint64_t id = ObjectScope::reference_for(*argument.state()); id != 0) {
      out.write(std::uint8_t{1});
      out.write(id);
      return;
    }
    out.write(std::uint8_t{0});
  }
  out.write(static_cast<const Value&>(ArgumentUnwrap<A>::take(argument)));
}

/// An argument as the worker decoded it: its own value, or a value the worker holds
/// (shared by the tasks that refer to it).
template <class A>
struct ArgumentSlot {
  using Value = std::remove_cvref_t<typename ArgumentUnwrap<A>::Value>;
  std::optional<Value> own;
  std::shared_ptr<const Value> held;

  /// For a call that takes the argument by const reference or by value.
  const Value& shared() const noexcept { return held ? *held : *own; }
  /// For a call that needs an rvalue: its own value moved, or a copy of the held one.
  Value rvalue() { return held ? Value(*held) : std::move(*own); }
};

/// Reads what write_argument<A> wrote, on the worker.
template <class A>
ArgumentSlot<A> read_argument(WireReader& in) {
  using Value = typename ArgumentSlot<A>::Value;
  ArgumentSlot<A> slot;
  if constexpr (is_future_v<A>) {
    const auto flag = in.read<std::uint8_t>();
    if (flag == 1) {
      slot.held = ObjectStore::instance().get<Value>(in.read<std::uint64_t>(), in.limits());
      return slot;
    }
    if (flag != 0) throw DecodeError("confut: a future argument has an unknown flag");
  }
  slot.own.emplace(in.read<Value>());
  return slot;
}

/// A future argument by const reference (to its held or own value), any other as an rvalue.
template <class A>
decltype(auto) forward_slot(ArgumentSlot<A>& slot) {
  if constexpr (is_future_v<A>) {
    return static_cast<const typename ArgumentSlot<A>::Value&>(slot.shared());
  } else {
    return static_cast<typename ArgumentSlot<A>::Value&&>(*slot.own);
  }
}

/// Calls `fn` with decoded arguments. When a value is held and `fn` can take its future
/// arguments by const reference (or by value), they are passed so: a large shared value is
/// not copied per task unless `fn` takes a copy. Otherwise every argument is an rvalue.
template <class F, class... Args>
decltype(auto) call_with_slots(F& fn, std::tuple<ArgumentSlot<Args>...>& slots) {
  constexpr bool by_reference = std::is_invocable_v<
      F&, std::conditional_t<is_future_v<Args>, const typename ArgumentSlot<Args>::Value&,
                             typename ArgumentSlot<Args>::Value&&>...>;
  return std::apply(
      [&](ArgumentSlot<Args>&... slot) -> decltype(auto) {
        if constexpr (by_reference) {
          // Only when a value is held: else every argument moves in, as it always did.
          if ((static_cast<bool>(slot.held) || ...)) {
            return std::invoke(fn, forward_slot<Args>(slot)...);
          }
        }
        return std::invoke(fn, slot.rvalue()...);
      },
      slots);
}

}  // namespace confut::detail
