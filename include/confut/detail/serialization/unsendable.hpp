#pragma once
/// @file unsendable.hpp
/// The compile-time error for a type that cannot be sent: a static_assert whose message says
/// why (a raw pointer, a smart pointer, std::function, a union, a C array, a class that is
/// not an aggregate) and names the part of the type that is the culprit.

#include <functional>
#include <memory>
#include <type_traits>

#include "rules.hpp"

namespace confut {

namespace detail {

// ---------------------------------------------------------------------------------------------
// The compile-time error for what cannot be sent
// ---------------------------------------------------------------------------------------------

template <class T>
struct is_smart_pointer : std::false_type {};
template <class T>
struct is_smart_pointer<std::shared_ptr<T>> : std::true_type {};
template <class T, class D>
struct is_smart_pointer<std::unique_ptr<T, D>> : std::true_type {};
template <class T>
struct is_smart_pointer<std::weak_ptr<T>> : std::true_type {};

template <class T>
struct is_std_function : std::false_type {};
template <class Signature>
struct is_std_function<std::function<Signature>> : std::true_type {};

enum class Unsendable {
  reference,
  pointer,
  smart_pointer,
  function,
  c_array,
  union_type,
  volatile_type,
  bad_codec,
  aggregate_layout,
  other
};

template <class T>
constexpr Unsendable why_unsendable() {
  using U = std::remove_cv_t<T>;
  if constexpr (std::is_reference_v<T>) {
    return Unsendable::reference;
  } else if constexpr (std::is_volatile_v<T>) {
    return Unsendable::volatile_type;
  } else if constexpr (std::is_pointer_v<U> || std::is_member_pointer_v<U> ||
                       std::is_null_pointer_v<U>) {
    return Unsendable::pointer;
  } else if constexpr (is_smart_pointer<U>::value) {
    return Unsendable::smart_pointer;
  } else if constexpr (is_std_function<U>::value || std::is_function_v<U>) {
    return Unsendable::function;
  } else if constexpr (std::is_array_v<U>) {
    return Unsendable::c_array;
  } else if constexpr (std::is_union_v<U>) {
    return Unsendable::union_type;
  } else if constexpr (codec_specialized<U>) {
    return Unsendable::bad_codec;
  } else if constexpr (std::conjunction_v<std::is_class<U>, std::is_aggregate<U>>) {
    return Unsendable::aggregate_layout;
  } else {
    return Unsendable::other;
  }
}

/// Names, in the compiler's output, the type inside T that cannot be sent.
template <class Culprit>
struct because_it_contains {};

template <class T, class... Reason>
struct culprit_of_reason {
  using type = T;
};
template <class T, class Culprit>
struct culprit_of_reason<T, because_it_contains<Culprit>> {
  using type = Culprit;
};

/// Instantiating this class is the compile-time error for a type that cannot be sent. The
/// compiler prints its template arguments, so the error names the type, and for a type made
/// of others (an aggregate, a container) also the member or element type at fault:
/// `cannot_be_sent_to_another_process<Job, because_it_contains<const char*>>`. The kind of
/// that culprit chooses the message.
template <class T, class... Reason>
struct cannot_be_sent_to_another_process {
  static constexpr Unsendable why =
      why_unsendable<typename culprit_of_reason<T, Reason...>::type>();
  static_assert(why != Unsendable::reference,
                "confut: a reference cannot be sent to another process: send the value it "
                "refers to");
  static_assert(why != Unsendable::pointer,
                "confut: a raw pointer cannot be sent to another process, where its address "
                "means nothing: send the value it points to (std::string instead of const "
                "char*, std::vector<T> instead of T*, std::optional<T> for a nullable one)");
  static_assert(why != Unsendable::smart_pointer,
                "confut: a smart pointer (std::shared_ptr, std::unique_ptr, std::weak_ptr) "
                "cannot be sent to another process: send the value it points to "
                "(std::optional<T> for a nullable one)");
  static_assert(why != Unsendable::function,
                "confut: a function or std::function cannot be sent to another process: its "
                "code and captured state stay in this one; send data, and let the task call "
                "the function");
  static_assert(why != Unsendable::c_array,
                "confut: a C array cannot be sent to another process: use std::array, "
                "std::vector or std::string");
  static_assert(why != Unsendable::union_type,
                "confut: a union cannot be sent to another process, which could not tell "
                "which member is active: use std::variant");
  static_assert(why != Unsendable::volatile_type,
                "confut: a volatile object cannot be sent to another process: send a copy");
  static_assert(why != Unsendable::bad_codec,
                "confut: this type cannot be sent to another process: its confut::Codec<T> "
                "specialization needs `static void encode(confut::WireWriter&, const T&)` "
                "and `static T decode(confut::WireReader&)`");
  static_assert(why != Unsendable::aggregate_layout,
                "confut: this aggregate cannot be sent to another process: confut visits "
                "the members of aggregates without base classes, without C array members "
                "and with at most 24 members (use std::array for arrays, or specialize "
                "confut::Codec<T>)");
  static_assert(why != Unsendable::other,
                "confut: this type cannot be sent to another process: it is neither a "
                "standard type confut knows nor an aggregate, which lambdas and classes with "
                "constructors or private members are not (make it an aggregate of sendable "
                "members, or specialize confut::Codec<T>)");
};

template <class T>
using rejection_t = std::conditional_t<
    std::is_same_v<culprit_t<T>, T> || std::is_same_v<culprit_t<T>, std::remove_const_t<T>>,
    cannot_be_sent_to_another_process<T>,
    cannot_be_sent_to_another_process<T, because_it_contains<culprit_t<T>>>>;

}  // namespace detail

}  // namespace confut
