#pragma once
// Taking an aggregate apart without annotations, for the wire format (serialization.hpp):
// how many members it has, their declared types, and a call with each member in order.
//
// The member count is the largest N for which `T{x1, ..., xN}` compiles with values that
// convert to anything. Brace elision spreads a C array member over several of those values,
// so the count is trusted only if N braced values, `{x}` or `{}` (never elided), also
// initialize T. Base classes are probed for separately: structured bindings, which list the
// members, cannot see through them.
//
// Limits: no base classes, no C array members, at most kMaxAggregateMembers members; such
// aggregates are reported as not decomposable (-1). So is, wrongly but safely, an aggregate
// with both an empty-struct member (which `{x}` cannot initialize) and a member without a
// default constructor (which `{}` cannot). A non-const reference member with a default member
// initializer defeats the count and gives a hard error in visit_members.

#include <cstddef>
#include <type_traits>
#include <utility>

namespace confut::detail {

template <class... Ts>
struct type_list {};

inline constexpr std::size_t kMaxAggregateMembers = 24;

/// Converts to any type: stands for one member's initializer while counting members.
struct any_initializer {
  template <class U>
  operator U() const noexcept;  // never defined: used only in unevaluated probes
};

template <std::size_t>
using any_initializer_for = any_initializer;

/// Converts only to proper base classes of T: `T{any_base_of<T>{}}` compiles iff T has one.
template <class T>
struct any_base_of {
  template <class Base>
    requires(std::is_base_of_v<Base, T> && !std::is_same_v<Base, T>)
  operator Base() const noexcept;
};

template <class T, class Indices>
struct initializable_with;

template <class T, std::size_t... I>
struct initializable_with<T, std::index_sequence<I...>>
    : std::bool_constant<requires { T{any_initializer_for<I>{}...}; }> {};

template <class T, class Indices>
struct initializable_with_braced;

template <class T, std::size_t... I>
struct initializable_with_braced<T, std::index_sequence<I...>>
    : std::bool_constant<requires { T{{any_initializer_for<I>{}}...}; }> {};

template <class T, std::size_t N>
inline constexpr bool initializable_with_n =
    initializable_with<T, std::make_index_sequence<N>>::value;

/// The largest N <= kMaxAggregateMembers + 1 for which `T{x1, ..., xN}` compiles; -1 if none.
/// Counting upwards stops one past the members, which keeps probes few for small structs.
template <class T, std::size_t N = 0, bool seen_valid = false>
constexpr std::ptrdiff_t largest_initializer_count() {
  constexpr bool valid = initializable_with_n<T, N>;
  if constexpr (seen_valid && !valid) {
    return static_cast<std::ptrdiff_t>(N) - 1;
  } else if constexpr (N == kMaxAggregateMembers + 1) {
    return valid ? static_cast<std::ptrdiff_t>(N) : -1;
  } else {
    return largest_initializer_count<T, N + 1, seen_valid || valid>();
  }
}

/// `T{{}, ..., {}}` with N value-initialized members compiles. (`{}` cannot come out of a
/// pack expansion, hence the list.) Complements `initializable_with_braced`, which fails for
/// empty members, while this fails for members without a default constructor.
template <class T, std::size_t N>
constexpr bool value_initializable_with_n() {
  if constexpr (N == 0) {
    return requires { T{}; };
  } else if constexpr (N == 1) {
    return requires { T{{}}; };
  } else if constexpr (N == 2) {
    return requires { T{{}, {}}; };
  } else if constexpr (N == 3) {
    return requires { T{{}, {}, {}}; };
  } else if constexpr (N == 4) {
    return requires { T{{}, {}, {}, {}}; };
  } else if constexpr (N == 5) {
    return requires { T{{}, {}, {}, {}, {}}; };
  } else if constexpr (N == 6) {
    return requires { T{{}, {}, {}, {}, {}, {}}; };
  } else if constexpr (N == 7) {
    return requires { T{{}, {}, {}, {}, {}, {}, {}}; };
  } else if constexpr (N == 8) {
    return requires { T{{}, {}, {}, {}, {}, {}, {}, {}}; };
  } else if constexpr (N == 9) {
    return requires { T{{}, {}, {}, {}, {}, {}, {}, {}, {}}; };
  } else if constexpr (N == 10) {
    return requires { T{{}, {}, {}, {}, {}, {}, {}, {}, {}, {}}; };
  } else if constexpr (N == 11) {
    return requires { T{{}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}}; };
  } else if constexpr (N == 12) {
    return requires { T{{}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}}; };
  } else if constexpr (N == 13) {
    return requires { T{{}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}}; };
  } else if constexpr (N == 14) {
    return requires { T{{}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}}; };
  } else if constexpr (N == 15) {
    return requires { T{{}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}}; };
  } else if constexpr (N == 16) {
    return requires { T{{}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}}; };
  } else if constexpr (N == 17) {
    return requires { T{{}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}}; };
  } else if constexpr (N == 18) {
    return requires { T{{}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}}; };
  } else if constexpr (N == 19) {
    return requires { T{{}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {},
                         {}}; };
  } else if constexpr (N == 20) {
    return requires { T{{}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {},
                         {}}; };
  } else if constexpr (N == 21) {
    return requires { T{{}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {},
                         {}, {}}; };
  } else if constexpr (N == 22) {
    return requires { T{{}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {},
                         {}, {}, {}}; };
  } else if constexpr (N == 23) {
    return requires { T{{}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {},
                         {}, {}, {}, {}}; };
  } else if constexpr (N == 24) {
    return requires { T{{}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {},
                         {}, {}, {}, {}, {}}; };
  } else {
    return false;
  }
}

/// Aggregates whose members visit_members can list: a class aggregate without base classes
/// whose initializer count is its member count.
template <class T>
constexpr std::ptrdiff_t decomposable_member_count() {
  if constexpr (!std::conjunction_v<std::is_class<T>, std::is_aggregate<T>>) {
    return -1;
  } else if constexpr (requires { T{any_base_of<T>{}}; }) {
    return -1;
  } else {
    constexpr std::ptrdiff_t n = largest_initializer_count<T>();
    if constexpr (n < 0 || n > static_cast<std::ptrdiff_t>(kMaxAggregateMembers)) {
      return -1;
    } else if constexpr (initializable_with_braced<T, std::make_index_sequence<n>>::value ||
                         value_initializable_with_n<T, static_cast<std::size_t>(n)>()) {
      return n;
    } else {
      return -1;  // brace elision: a C array member
    }
  }
}

/// -1 when T cannot be taken apart (see the top of this file), else its member count.
template <class T>
inline constexpr std::ptrdiff_t aggregate_member_count = decomposable_member_count<T>();

/// Calls `f(type_list<declared member types...>{}, member0, member1, ...)` with the N members
/// of `value` (T may be const). The declared types keep references and const as written.
template <std::size_t N, class T, class F>
constexpr decltype(auto) visit_members(T& value, F&& f) {
  if constexpr (N == 0) {
    static_cast<void>(value);
    return f(type_list<>{});
  } else if constexpr (N == 1) {
    auto& [m0] = value;
    return f(type_list<decltype(m0)>{},
             m0);
  } else if constexpr (N == 2) {
    auto& [m0, m1] = value;
    return f(type_list<decltype(m0), decltype(m1)>{},
             m0, m1);
  } else if constexpr (N == 3) {
    auto& [m0, m1, m2] = value;
    return f(type_list<decltype(m0), decltype(m1), decltype(m2)>{},
             m0, m1, m2);
  } else if constexpr (N == 4) {
    auto& [m0, m1, m2, m3] = value;
    return f(type_list<decltype(m0), decltype(m1), decltype(m2), decltype(m3)>{},
             m0, m1, m2, m3);
  } else if constexpr (N == 5) {
    auto& [m0, m1, m2, m3, m4] = value;
    return f(type_list<decltype(m0), decltype(m1), decltype(m2), decltype(m3), decltype(m4)>{},
             m0, m1, m2, m3, m4);
  } else if constexpr (N == 6) {
    auto& [m0, m1, m2, m3, m4, m5] = value;
    return f(type_list<decltype(m0), decltype(m1), decltype(m2), decltype(m3), decltype(m4),
             decltype(m5)>{},
             m0, m1, m2, m3, m4, m5);
  } else if constexpr (N == 7) {
    auto& [m0, m1, m2, m3, m4, m5, m6] = value;
    return f(type_list<decltype(m0), decltype(m1), decltype(m2), decltype(m3), decltype(m4),
             decltype(m5), decltype(m6)>{},
             m0, m1, m2, m3, m4, m5, m6);
  } else if constexpr (N == 8) {
    auto& [m0, m1, m2, m3, m4, m5, m6, m7] = value;
    return f(type_list<decltype(m0), decltype(m1), decltype(m2), decltype(m3), decltype(m4),
             decltype(m5), decltype(m6), decltype(m7)>{},
             m0, m1, m2, m3, m4, m5, m6, m7);
  } else if constexpr (N == 9) {
    auto& [m0, m1, m2, m3, m4, m5, m6, m7, m8] = value;
    return f(type_list<decltype(m0), decltype(m1), decltype(m2), decltype(m3), decltype(m4),
             decltype(m5), decltype(m6), decltype(m7), decltype(m8)>{},
             m0, m1, m2, m3, m4, m5, m6, m7, m8);
  } else if constexpr (N == 10) {
    auto& [m0, m1, m2, m3, m4, m5, m6, m7, m8, m9] = value;
    return f(type_list<decltype(m0), decltype(m1), decltype(m2), decltype(m3), decltype(m4),
             decltype(m5), decltype(m6), decltype(m7), decltype(m8), decltype(m9)>{},
             m0, m1, m2, m3, m4, m5, m6, m7, m8, m9);
  } else if constexpr (N == 11) {
    auto& [m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10] = value;
    return f(type_list<decltype(m0), decltype(m1), decltype(m2), decltype(m3), decltype(m4),
             decltype(m5), decltype(m6), decltype(m7), decltype(m8), decltype(m9), decltype(m10)>{},
             m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10);
  } else if constexpr (N == 12) {
    auto& [m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11] = value;
    return f(type_list<decltype(m0), decltype(m1), decltype(m2), decltype(m3), decltype(m4),
             decltype(m5), decltype(m6), decltype(m7), decltype(m8), decltype(m9), decltype(m10),
             decltype(m11)>{},
             m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11);
  } else if constexpr (N == 13) {
    auto& [m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12] = value;
    return f(type_list<decltype(m0), decltype(m1), decltype(m2), decltype(m3), decltype(m4),
             decltype(m5), decltype(m6), decltype(m7), decltype(m8), decltype(m9), decltype(m10),
             decltype(m11), decltype(m12)>{},
             m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12);
  } else if constexpr (N == 14) {
    auto& [m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13] = value;
    return f(type_list<decltype(m0), decltype(m1), decltype(m2), decltype(m3), decltype(m4),
             decltype(m5), decltype(m6), decltype(m7), decltype(m8), decltype(m9), decltype(m10),
             decltype(m11), decltype(m12), decltype(m13)>{},
             m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13);
  } else if constexpr (N == 15) {
    auto& [m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13, m14] = value;
    return f(type_list<decltype(m0), decltype(m1), decltype(m2), decltype(m3), decltype(m4),
             decltype(m5), decltype(m6), decltype(m7), decltype(m8), decltype(m9), decltype(m10),
             decltype(m11), decltype(m12), decltype(m13), decltype(m14)>{},
             m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13, m14);
  } else if constexpr (N == 16) {
    auto& [m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13, m14, m15] = value;
    return f(type_list<decltype(m0), decltype(m1), decltype(m2), decltype(m3), decltype(m4),
             decltype(m5), decltype(m6), decltype(m7), decltype(m8), decltype(m9), decltype(m10),
             decltype(m11), decltype(m12), decltype(m13), decltype(m14), decltype(m15)>{},
             m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13, m14, m15);
  } else if constexpr (N == 17) {
    auto& [m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13, m14, m15, m16] = value;
    return f(type_list<decltype(m0), decltype(m1), decltype(m2), decltype(m3), decltype(m4),
             decltype(m5), decltype(m6), decltype(m7), decltype(m8), decltype(m9), decltype(m10),
             decltype(m11), decltype(m12), decltype(m13), decltype(m14), decltype(m15),
             decltype(m16)>{},
             m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13, m14, m15, m16);
  } else if constexpr (N == 18) {
    auto& [m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13, m14, m15, m16, m17] = value;
    return f(type_list<decltype(m0), decltype(m1), decltype(m2), decltype(m3), decltype(m4),
             decltype(m5), decltype(m6), decltype(m7), decltype(m8), decltype(m9), decltype(m10),
             decltype(m11), decltype(m12), decltype(m13), decltype(m14), decltype(m15),
             decltype(m16), decltype(m17)>{},
             m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13, m14, m15, m16, m17);
  } else if constexpr (N == 19) {
    auto& [m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13, m14, m15, m16, m17,
          m18] = value;
    return f(type_list<decltype(m0), decltype(m1), decltype(m2), decltype(m3), decltype(m4),
             decltype(m5), decltype(m6), decltype(m7), decltype(m8), decltype(m9), decltype(m10),
             decltype(m11), decltype(m12), decltype(m13), decltype(m14), decltype(m15),
             decltype(m16), decltype(m17), decltype(m18)>{},
             m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13, m14, m15, m16, m17, m18);
  } else if constexpr (N == 20) {
    auto& [m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13, m14, m15, m16, m17, m18,
          m19] = value;
    return f(type_list<decltype(m0), decltype(m1), decltype(m2), decltype(m3), decltype(m4),
             decltype(m5), decltype(m6), decltype(m7), decltype(m8), decltype(m9), decltype(m10),
             decltype(m11), decltype(m12), decltype(m13), decltype(m14), decltype(m15),
             decltype(m16), decltype(m17), decltype(m18), decltype(m19)>{},
             m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13, m14, m15, m16, m17, m18,
             m19);
  } else if constexpr (N == 21) {
    auto& [m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13, m14, m15, m16, m17, m18, m19,
          m20] = value;
    return f(type_list<decltype(m0), decltype(m1), decltype(m2), decltype(m3), decltype(m4),
             decltype(m5), decltype(m6), decltype(m7), decltype(m8), decltype(m9), decltype(m10),
             decltype(m11), decltype(m12), decltype(m13), decltype(m14), decltype(m15),
             decltype(m16), decltype(m17), decltype(m18), decltype(m19), decltype(m20)>{},
             m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13, m14, m15, m16, m17, m18,
             m19, m20);
  } else if constexpr (N == 22) {
    auto& [m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13, m14, m15, m16, m17, m18, m19,
          m20, m21] = value;
    return f(type_list<decltype(m0), decltype(m1), decltype(m2), decltype(m3), decltype(m4),
             decltype(m5), decltype(m6), decltype(m7), decltype(m8), decltype(m9), decltype(m10),
             decltype(m11), decltype(m12), decltype(m13), decltype(m14), decltype(m15),
             decltype(m16), decltype(m17), decltype(m18), decltype(m19), decltype(m20),
             decltype(m21)>{},
             m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13, m14, m15, m16, m17, m18,
             m19, m20, m21);
  } else if constexpr (N == 23) {
    auto& [m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13, m14, m15, m16, m17, m18, m19,
          m20, m21, m22] = value;
    return f(type_list<decltype(m0), decltype(m1), decltype(m2), decltype(m3), decltype(m4),
             decltype(m5), decltype(m6), decltype(m7), decltype(m8), decltype(m9), decltype(m10),
             decltype(m11), decltype(m12), decltype(m13), decltype(m14), decltype(m15),
             decltype(m16), decltype(m17), decltype(m18), decltype(m19), decltype(m20),
             decltype(m21), decltype(m22)>{},
             m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13, m14, m15, m16, m17, m18,
             m19, m20, m21, m22);
  } else if constexpr (N == 24) {
    auto& [m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13, m14, m15, m16, m17, m18, m19,
          m20, m21, m22, m23] = value;
    return f(type_list<decltype(m0), decltype(m1), decltype(m2), decltype(m3), decltype(m4),
             decltype(m5), decltype(m6), decltype(m7), decltype(m8), decltype(m9), decltype(m10),
             decltype(m11), decltype(m12), decltype(m13), decltype(m14), decltype(m15),
             decltype(m16), decltype(m17), decltype(m18), decltype(m19), decltype(m20),
             decltype(m21), decltype(m22), decltype(m23)>{},
             m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13, m14, m15, m16, m17, m18,
             m19, m20, m21, m22, m23);
  }
}

/// Collects the declared member types; used only inside decltype.
struct member_type_collector {
  template <class Types, class... Members>
  Types operator()(Types types, const Members&...) const noexcept {  // const&: bit-fields
    return types;
  }
};

/// The declared types of T's members, as a type_list. T must be decomposable.
template <class T>
using aggregate_member_types = decltype(visit_members<static_cast<std::size_t>(
    aggregate_member_count<T>)>(std::declval<T&>(), member_type_collector{}));

}  // namespace confut::detail
