#pragma once
/// @file rules.hpp
/// The built-in rules, one Rule<T> per kind of type (scalars, strings, vectors, arrays,
/// pairs, tuples, maps, sets, optionals, variants, chrono types, aggregates), and the search
/// for the first part of a type that no rule covers, which decides Sendable.

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <variant>
#include <vector>

#include "aggregate.hpp"
#include "primitives.hpp"

namespace confut {

namespace detail {

// ---------------------------------------------------------------------------------------------
// The built-in rules. Rule<T> has `exists`; where it is true, `parts` (the types T is made of,
// which must all be sendable), `min_size()`, `bulk()`, `encode` and `decode`.
// ---------------------------------------------------------------------------------------------

struct NoRule {
  static constexpr bool exists = false;
  using parts = type_list<>;
  static constexpr std::size_t min_size() { return 0; }
  static constexpr bool bulk() { return false; }
  static constexpr bool empty() { return false; }
  static constexpr bool nests() { return false; }
};

/// `empty()`: encodes to no bytes; `nests()`: a container, which counts against max_depth.
template <class... Parts>
struct RuleBase {
  static constexpr bool exists = true;
  using parts = type_list<Parts...>;
  static constexpr std::size_t min_size() { return 0; }
  static constexpr bool bulk() { return false; }
  static constexpr bool empty() { return false; }
  static constexpr bool nests() { return false; }
};

/// Arithmetic types other than bool, and enums (std::byte included): their bytes.
template <class T>
struct ScalarRule : RuleBase<> {
  static constexpr std::size_t min_size() { return sizeof(T); }
  static constexpr bool bulk() { return true; }
  static void encode(WireWriter& writer, const T& value) {
    writer.write_bytes(&value, sizeof value);
  }
  static T decode(WireReader& reader) {
    T value{};
    reader.read_bytes(&value, sizeof value);
    return value;
  }
};

/// One byte, checked: any other value than 0 or 1 in a bool is undefined behaviour.
struct BoolRule : RuleBase<> {
  static constexpr std::size_t min_size() { return 1; }
  static void encode(WireWriter& writer, bool value) { write_flag(writer, value); }
  static bool decode(WireReader& reader) { return read_flag(reader); }
};

template <class T, class... Members>
struct AggregateRuleFor : RuleBase<Members...> {
  static constexpr std::size_t min_size() {
    return (std::size_t{0} + ... + min_encoded_size<Members>());
  }
  static constexpr bool empty() { return (encodes_to_nothing<Members>() && ...); }
  static constexpr bool bulk() {
    return std::is_copy_assignable_v<T> &&
           all_bulk_copyable_without_padding(sizeof(T), type_list<std::remove_cv_t<Members>...>{});
  }
  static void encode(WireWriter& writer, const T& value) {
    visit_members<sizeof...(Members)>(value, [&writer](auto, const auto&... members) {
      (confut::encode(writer, members), ...);
    });
  }
  static T decode(WireReader& reader) {
    return T{confut::decode<Members>(reader)...};  // a braced list is evaluated in order
  }
};

template <class T, class Members>
struct AggregateRuleOf;
template <class T, class... Members>
struct AggregateRuleOf<T, type_list<Members...>> {
  using type = AggregateRuleFor<T, Members...>;
};

template <class T, bool decomposable = (aggregate_member_count<T> >= 0)>
struct AggregateRuleIf {
  using type = NoRule;
};
template <class T>
struct AggregateRuleIf<T, true> : AggregateRuleOf<T, aggregate_member_types<T>> {};

/// Aggregates: member by member. One that cannot be taken apart has no rule.
template <class T>
struct AggregateRule {
  using type = typename AggregateRuleIf<T>::type;
};

/// The rule for types that are not instances of a standard template handled below.
template <class T>
using generic_rule = typename std::conditional_t<
    std::is_same_v<T, bool>, std::type_identity<BoolRule>,
    std::conditional_t<
        std::is_arithmetic_v<T> || std::is_enum_v<T>, std::type_identity<ScalarRule<T>>,
        std::conditional_t<std::conjunction_v<std::is_class<T>, std::is_aggregate<T>>,
                           AggregateRule<T>, std::type_identity<NoRule>>>>::type;

template <class T>
struct Rule : generic_rule<T> {};

/// std::basic_string of a character type: length, then the characters in one copy.
template <class Char, class Traits, class Allocator>
  requires std::is_arithmetic_v<Char>
struct Rule<std::basic_string<Char, Traits, Allocator>> : RuleBase<> {
  using String = std::basic_string<Char, Traits, Allocator>;
  static constexpr std::size_t min_size() { return sizeof(std::uint64_t); }
  static void encode(WireWriter& writer, const String& value) {
    write_size(writer, value.size());
    writer.write_bytes(value.data(), value.size() * sizeof(Char));
  }
  static String decode(WireReader& reader) {
    const std::size_t size = read_size(reader, sizeof(Char));
    String value(size, Char{});
    reader.read_bytes(value.data(), size * sizeof(Char));
    return value;
  }
};

/// std::vector: length, then the elements (one memcpy when bulk_copyable).
template <class T, class Allocator>
struct Rule<std::vector<T, Allocator>> : RuleBase<T> {
  using Vector = std::vector<T, Allocator>;
  static constexpr std::size_t min_size() { return sizeof(std::uint64_t); }
  static constexpr bool nests() { return true; }
  static void encode(WireWriter& writer, const Vector& value) {
    write_size(writer, value.size());
    if constexpr (bulk_copyable<T>()) {
      writer.write_bytes(value.data(), value.size() * sizeof(T));
    } else {
      for (const T& element : value) confut::encode(writer, element);
    }
  }
  static Vector decode(WireReader& reader) {
    if constexpr (bulk_copyable<T>()) {
      const std::size_t size = read_size(reader, sizeof(T));
      Vector value(size);
      reader.read_bytes(value.data(), size * sizeof(T));
      return value;
    } else {
      using Cost = ElementCost<T>;
      const std::size_t size = read_count<Cost>(reader);
      Vector value;
      reserve_bounded<Cost>(reader, value, size);
      decode_each<Cost>(reader, size, [&] { value.push_back(confut::decode<T>(reader)); });
      return value;
    }
  }
};

/// std::vector<bool>: length, then the bits packed eight to a byte.
template <class Allocator>
struct Rule<std::vector<bool, Allocator>> : RuleBase<> {
  using Vector = std::vector<bool, Allocator>;
  static constexpr std::size_t min_size() { return sizeof(std::uint64_t); }
  static void encode(WireWriter& writer, const Vector& value) {
    write_size(writer, value.size());
    std::vector<std::uint8_t> bits((value.size() + 7) / 8, 0);
    for (std::size_t i = 0; i < value.size(); ++i) {
      if (value[i]) bits[i / 8] = static_cast<std::uint8_t>(bits[i / 8] | (1u << (i % 8)));
    }
    writer.write_bytes(bits.data(), bits.size());
  }
  static Vector decode(WireReader& reader) {
    const std::size_t size = read_size(reader, 0);
    if (size / 8 + (size % 8 != 0 ? 1 : 0) > reader.remaining()) {
      throw DecodeError("confut: corrupt input: a std::vector<bool> of " + std::to_string(size) +
                        " bits, but only " + std::to_string(reader.remaining()) + " bytes left");
    }
    std::vector<std::uint8_t> bits((size + 7) / 8);
    reader.read_bytes(bits.data(), bits.size());
    Vector value(size);
    for (std::size_t i = 0; i < size; ++i) value[i] = ((bits[i / 8] >> (i % 8)) & 1u) != 0;
    return value;
  }
};

/// std::array: the elements, no length (one memcpy when bulk_copyable).
template <class T, std::size_t N>
struct Rule<std::array<T, N>> : RuleBase<T> {
  using Array = std::array<T, N>;
  static constexpr std::size_t min_size() { return N * min_encoded_size<T>(); }
  static constexpr bool empty() { return N == 0 || encodes_to_nothing<T>(); }
  static constexpr bool bulk() { return bulk_copyable<T>() && sizeof(Array) == N * sizeof(T); }
  static void encode(WireWriter& writer, const Array& value) {
    if constexpr (bulk()) {
      writer.write_bytes(value.data(), sizeof(Array));
    } else {
      for (const T& element : value) confut::encode(writer, element);
    }
  }
  static Array decode(WireReader& reader) {
    if constexpr (bulk()) {
      Array value{};
      reader.read_bytes(value.data(), sizeof(Array));
      return value;
    } else if constexpr (std::is_default_constructible_v<T> && std::is_move_assignable_v<T>) {
      Array value{};
      for (T& element : value) element = confut::decode<T>(reader);
      return value;
    } else {
      return [&reader]<std::size_t... I>(std::index_sequence<I...>) {
        return Array{(static_cast<void>(I), confut::decode<T>(reader))...};
      }(std::make_index_sequence<N>{});
    }
  }
};

template <class First, class Second>
struct Rule<std::pair<First, Second>> : RuleBase<First, Second> {
  static constexpr std::size_t min_size() {
    return min_encoded_size<First>() + min_encoded_size<Second>();
  }
  static constexpr bool empty() {
    return encodes_to_nothing<First>() && encodes_to_nothing<Second>();
  }
  static void encode(WireWriter& writer, const std::pair<First, Second>& value) {
    confut::encode(writer, value.first);
    confut::encode(writer, value.second);
  }
  static std::pair<First, Second> decode(WireReader& reader) {
    return std::pair<First, Second>{confut::decode<First>(reader), confut::decode<Second>(reader)};
  }
};

template <class... Ts>
struct Rule<std::tuple<Ts...>> : RuleBase<Ts...> {
  static constexpr std::size_t min_size() {
    return (std::size_t{0} + ... + min_encoded_size<Ts>());
  }
  static constexpr bool empty() { return (encodes_to_nothing<Ts>() && ...); }
  static void encode(WireWriter& writer, const std::tuple<Ts...>& value) {
    std::apply([&writer](const auto&... elements) { (confut::encode(writer, elements), ...); },
               value);
  }
  static std::tuple<Ts...> decode(WireReader& reader) {
    return std::tuple<Ts...>{confut::decode<Ts>(reader)...};  // evaluated in order
  }
};

/// Maps of all kinds: count, then key and value of each entry, in iteration order.
template <class Map, class Key, class Value>
struct MapRule : RuleBase<Key, Value> {
  static constexpr std::size_t min_size() { return sizeof(std::uint64_t); }
  static constexpr bool nests() { return true; }
  static void encode(WireWriter& writer, const Map& value) {
    write_size(writer, value.size());
    for (const auto& [key, mapped] : value) {
      confut::encode(writer, key);
      confut::encode(writer, mapped);
    }
  }
  static Map decode(WireReader& reader) {
    using Cost = ElementCost<Key, Value>;
    const std::size_t size = read_count<Cost>(reader);
    Map value;
    reserve_bounded<Cost>(reader, value, size);
    decode_each<Cost>(reader, size, [&] {
      Key key = confut::decode<Key>(reader);
      Value mapped = confut::decode<Value>(reader);
      // Ordered maps arrive sorted, so the end is the right hint; equal keys keep their order.
      value.emplace_hint(value.end(), std::move(key), std::move(mapped));
    });
    return value;
  }
};

/// Sets of all kinds: count, then the elements in iteration order.
template <class Set, class Key>
struct SetRule : RuleBase<Key> {
  static constexpr std::size_t min_size() { return sizeof(std::uint64_t); }
  static constexpr bool nests() { return true; }
  static void encode(WireWriter& writer, const Set& value) {
    write_size(writer, value.size());
    for (const Key& key : value) confut::encode(writer, key);
  }
  static Set decode(WireReader& reader) {
    using Cost = ElementCost<Key>;
    const std::size_t size = read_count<Cost>(reader);
    Set value;
    reserve_bounded<Cost>(reader, value, size);
    decode_each<Cost>(reader, size,
                      [&] { value.emplace_hint(value.end(), confut::decode<Key>(reader)); });
    return value;
  }
};

template <class K, class V, class C, class A>
struct Rule<std::map<K, V, C, A>> : MapRule<std::map<K, V, C, A>, K, V> {};
template <class K, class V, class C, class A>
struct Rule<std::multimap<K, V, C, A>> : MapRule<std::multimap<K, V, C, A>, K, V> {};
template <class K, class V, class H, class E, class A>
struct Rule<std::unordered_map<K, V, H, E, A>>
    : MapRule<std::unordered_map<K, V, H, E, A>, K, V> {};
template <class K, class V, class H, class E, class A>
struct Rule<std::unordered_multimap<K, V, H, E, A>>
    : MapRule<std::unordered_multimap<K, V, H, E, A>, K, V> {};
template <class K, class C, class A>
struct Rule<std::set<K, C, A>> : SetRule<std::set<K, C, A>, K> {};
template <class K, class C, class A>
struct Rule<std::multiset<K, C, A>> : SetRule<std::multiset<K, C, A>, K> {};
template <class K, class H, class E, class A>
struct Rule<std::unordered_set<K, H, E, A>> : SetRule<std::unordered_set<K, H, E, A>, K> {};
template <class K, class H, class E, class A>
struct Rule<std::unordered_multiset<K, H, E, A>>
    : SetRule<std::unordered_multiset<K, H, E, A>, K> {};

/// std::optional: a flag byte, then the value if there is one.
template <class T>
struct Rule<std::optional<T>> : RuleBase<T> {
  static constexpr std::size_t min_size() { return 1; }
  static void encode(WireWriter& writer, const std::optional<T>& value) {
    write_flag(writer, value.has_value());
    if (value) confut::encode(writer, *value);
  }
  static std::optional<T> decode(WireReader& reader) {
    if (!read_flag(reader)) return std::nullopt;
    return std::optional<T>(std::in_place, confut::decode<T>(reader));
  }
};

/// std::variant: the index, then the alternative it holds.
template <class... Ts>
struct Rule<std::variant<Ts...>> : RuleBase<Ts...> {
  using Variant = std::variant<Ts...>;
  static constexpr std::size_t min_size() { return sizeof(std::uint64_t); }
  static void encode(WireWriter& writer, const Variant& value) {
    if (value.valueless_by_exception()) throw std::bad_variant_access();
    write_size(writer, value.index());
    std::visit([&writer](const auto& alternative) { confut::encode(writer, alternative); },
               value);
  }
  static Variant decode(WireReader& reader) {
    const std::size_t index = read_size(reader, 0);
    if (index >= sizeof...(Ts)) {
      throw DecodeError("confut: corrupt input: std::variant index " + std::to_string(index) +
                        " of a variant with " + std::to_string(sizeof...(Ts)) +
                        " alternatives");
    }
    static constexpr auto decoders = decoder_table(std::index_sequence_for<Ts...>{});
    return decoders[index](reader);
  }

 private:
  template <std::size_t I>
  static Variant decode_alternative(WireReader& reader) {
    return Variant(std::in_place_index<I>,
                   confut::decode<std::variant_alternative_t<I, Variant>>(reader));
  }
  template <std::size_t... I>
  static constexpr std::array<Variant (*)(WireReader&), sizeof...(I)> decoder_table(
      std::index_sequence<I...>) {
    return {&decode_alternative<I>...};
  }
};

template <>
struct Rule<std::monostate> : RuleBase<> {
  static constexpr bool empty() { return true; }
  static void encode(WireWriter&, const std::monostate&) {}
  static std::monostate decode(WireReader&) { return {}; }
};

/// std::chrono::duration: its count.
template <class Rep, class Period>
struct Rule<std::chrono::duration<Rep, Period>> : RuleBase<Rep> {
  using Duration = std::chrono::duration<Rep, Period>;
  static constexpr std::size_t min_size() { return min_encoded_size<Rep>(); }
  static constexpr bool bulk() { return bulk_copyable<Rep>() && sizeof(Duration) == sizeof(Rep); }
  static void encode(WireWriter& writer, const Duration& value) {
    confut::encode(writer, value.count());
  }
  static Duration decode(WireReader& reader) { return Duration(confut::decode<Rep>(reader)); }
};

/// std::chrono::time_point: its time since the clock's epoch. Only clocks whose epoch is the
/// same in every process on the machine: system_clock and steady_clock.
template <class Clock, class Duration>
  requires std::same_as<Clock, std::chrono::system_clock> ||
           std::same_as<Clock, std::chrono::steady_clock>
struct Rule<std::chrono::time_point<Clock, Duration>> : RuleBase<Duration> {
  using TimePoint = std::chrono::time_point<Clock, Duration>;
  static constexpr std::size_t min_size() { return min_encoded_size<Duration>(); }
  static constexpr bool bulk() {
    return bulk_copyable<Duration>() && sizeof(TimePoint) == sizeof(Duration);
  }
  static void encode(WireWriter& writer, const TimePoint& value) {
    confut::encode(writer, value.time_since_epoch());
  }
  static TimePoint decode(WireReader& reader) {
    return TimePoint(confut::decode<Duration>(reader));
  }
};

// ---------------------------------------------------------------------------------------------
// Sendable, and the culprit when a type is not
// ---------------------------------------------------------------------------------------------

/// "Nothing here cannot be sent."
struct no_culprit {};

template <class T, class... Seen>
constexpr auto culprit_search(type_list<Seen...>);

template <class Seen>
constexpr auto first_culprit(Seen, type_list<>) {
  return std::type_identity<no_culprit>{};
}

template <class Seen, class Part, class... Rest>
constexpr auto first_culprit(Seen seen, type_list<Part, Rest...>) {
  using found = typename decltype(culprit_search<Part>(seen))::type;
  if constexpr (std::is_same_v<found, no_culprit>) {
    return first_culprit(seen, type_list<Rest...>{});
  } else {
    return std::type_identity<found>{};
  }
}

/// The first type, depth first, that cannot be sent among T and the types it is made of, or
/// no_culprit. `Seen` holds the types being searched further up: meeting one again is a cycle
/// through a container (`struct Node { std::vector<Node> children; }`), which adds nothing.
template <class T, class... Seen>
constexpr auto culprit_search(type_list<Seen...>) {
  if constexpr (std::is_reference_v<T> || std::is_volatile_v<T>) {
    return std::type_identity<T>{};
  } else if constexpr (std::is_const_v<T>) {
    return culprit_search<std::remove_const_t<T>>(type_list<Seen...>{});
  } else if constexpr ((std::is_same_v<T, Seen> || ...)) {
    return std::type_identity<no_culprit>{};
  } else if constexpr (codec_specialized<T>) {
    if constexpr (valid_codec<T>) {
      return std::type_identity<no_culprit>{};
    } else {
      return std::type_identity<T>{};
    }
  } else if constexpr (Rule<T>::exists) {
    return first_culprit(type_list<T, Seen...>{}, typename Rule<T>::parts{});
  } else {
    return std::type_identity<T>{};
  }
}

template <class T>
using culprit_t = typename decltype(culprit_search<T>(type_list<>{}))::type;

template <class T>
inline constexpr bool sendable_v = std::is_same_v<culprit_t<T>, no_culprit>;

}  // namespace detail

}  // namespace confut
