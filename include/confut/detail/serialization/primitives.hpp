#pragma once
/// @file primitives.hpp
/// What the built-in rules share: the Codec concepts, counts and flags on the wire, the
/// bounds every count is checked against before anything is allocated (element costs, the
/// budget of empty elements, bounded reserves), depth guards and the bulk-copy test.

#include <algorithm>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <type_traits>

#include "aggregate.hpp"
#include "wire_io.hpp"

namespace confut {

namespace detail {

// ---------------------------------------------------------------------------------------------
// Codec specializations
// ---------------------------------------------------------------------------------------------

template <class T>
concept codec_specialized = !requires { typename Codec<T>::not_specialized; };

template <class T>
concept valid_codec = requires(WireWriter& writer, WireReader& reader, const T& value) {
  Codec<T>::encode(writer, value);
  { Codec<T>::decode(reader) } -> std::convertible_to<T>;
};

// ---------------------------------------------------------------------------------------------
// Helpers shared by the rules
// ---------------------------------------------------------------------------------------------

inline void write_size(WireWriter& writer, std::size_t size) {
  const std::uint64_t wire = size;
  writer.write_bytes(&wire, sizeof wire);
}

/// Reads a count of elements that take at least `min_element_size` bytes each, and rejects
/// one that the remaining bytes cannot hold, before anything is allocated for it.
inline std::size_t read_size(WireReader& reader, std::size_t min_element_size) {
  std::uint64_t wire = 0;
  reader.read_bytes(&wire, sizeof wire);
  if (min_element_size != 0 && wire > reader.remaining() / min_element_size) {
    throw DecodeError("confut: corrupt input: a length of " + std::to_string(wire) +
                      " elements, but only " + std::to_string(reader.remaining()) +
                      " bytes left");
  }
  return static_cast<std::size_t>(wire);
}

inline void write_flag(WireWriter& writer, bool flag) {
  const std::uint8_t wire = flag ? 1 : 0;
  writer.write_bytes(&wire, 1);
}

inline bool read_flag(WireReader& reader) {
  std::uint8_t wire = 0;
  reader.read_bytes(&wire, 1);
  if (wire > 1) {
    throw DecodeError("confut: corrupt input: a bool or optional flag of value " +
                      std::to_string(wire));
  }
  return wire == 1;
}

/// The limits' bookkeeping inside WireReader and WireWriter.
struct WireAccess {
  static void enter(WireReader& reader) {
    if (reader.depth_ >= reader.max_depth_) {
      throw DecodeError("confut: corrupt or too deep input: " + too_deep(reader.max_depth_));
    }
    ++reader.depth_;
  }
  static void enter(WireWriter& writer) {
    if (writer.depth_ >= writer.max_depth_) {
      throw EncodeError("confut: cannot encode the value: " + too_deep(writer.max_depth_));
    }
    ++writer.depth_;
  }
  static void leave(WireReader& reader) noexcept { --reader.depth_; }
  static void leave(WireWriter& writer) noexcept { --writer.depth_; }

  /// One more level of containers for as long as it lives; throws past the maximum depth.
  template <class Wire>
  class Nesting {
   public:
    explicit Nesting(Wire& wire) : wire_(wire) { enter(wire); }
    ~Nesting() { leave(wire_); }
    Nesting(const Nesting&) = delete;
    Nesting& operator=(const Nesting&) = delete;

   private:
    Wire& wire_;
  };

  static bool outermost(const WireReader& reader) noexcept { return reader.depth_ == 0; }

  /// Takes `count` elements that take no bytes, `units` each (their size in memory), from
  /// the message's allowance.
  static void take_empty_elements(WireReader& reader, std::size_t count, std::size_t units) {
    if (count > reader.empty_elements_left_ / units) {
      throw DecodeError("confut: corrupt input: " + std::to_string(count) +
                        " more elements that take no bytes (of " + std::to_string(units) +
                        " bytes in memory each), over the limit of " +
                        std::to_string(reader.max_empty_elements_) +
                        " in one message (WireLimits::max_empty_elements)");
    }
    reader.empty_elements_left_ -= count * units;
  }

 private:
  static std::string too_deep(std::size_t max_depth) {
    return "containers nested deeper than the limit of " + std::to_string(max_depth) +
           " levels (WireLimits::max_depth)";
  }
};

template <class T>
struct Rule;

/// The fewest bytes an encoded T can take (0 when unknown, as for Codec types).
template <class T>
constexpr std::size_t min_encoded_size() {
  using U = std::remove_cv_t<T>;
  if constexpr (codec_specialized<U>) {
    return 0;
  } else {
    return Rule<U>::min_size();
  }
}

/// An encoded T never takes any byte: std::monostate, empty structs, std::tuple<>, and what
/// is made only of those. (False for Codec types, which may or may not write anything.)
template <class T>
constexpr bool encodes_to_nothing() {
  using U = std::remove_cv_t<T>;
  if constexpr (codec_specialized<U>) {
    return false;
  } else {
    return Rule<U>::empty();
  }
}

/// T can hold others of its kind, to any depth: it counts against WireLimits::max_depth.
template <class T>
constexpr bool counts_depth() {
  if constexpr (codec_specialized<T>) {
    return true;
  } else {
    return Rule<T>::nests();
  }
}

/// How the elements of a container whose elements are made of `Parts` are counted against
/// the input: `min_size` bytes at least each, or none at all (`empty`), or unknown (a Codec).
template <class... Parts>
struct ElementCost {
  static constexpr std::size_t min_size = (std::size_t{0} + ... + min_encoded_size<Parts>());
  static constexpr bool empty = (encodes_to_nothing<Parts>() && ...);
  /// What one element counts against WireLimits::max_empty_elements when it takes no bytes:
  /// its size in memory, so that an element of no bytes but much memory
  /// (std::array<std::monostate, 4096>) cannot turn a few bytes into gigabytes.
  static constexpr std::size_t empty_units = std::max<std::size_t>(1, (std::size_t{0} + ... + sizeof(Parts)));
};

/// Reads the count of a container whose elements cost `Cost`, and rejects one that the input
/// cannot hold (or, for elements of no bytes, that the message's allowance cannot), before
/// anything is allocated for it.
template <class Cost>
std::size_t read_count(WireReader& reader) {
  const std::size_t size = read_size(reader, Cost::min_size);
  if constexpr (Cost::min_size == 0 && Cost::empty) {
    WireAccess::take_empty_elements(reader, size, Cost::empty_units);
  }
  return size;
}

/// Calls `decode_one` `size` times. Where an element's size is unknown (a Codec), one that
/// read no bytes counts against WireLimits::max_empty_elements.
template <class Cost, class DecodeOne>
void decode_each(WireReader& reader, std::size_t size, DecodeOne decode_one) {
  for (std::size_t i = 0; i < size; ++i) {
    if constexpr (Cost::min_size == 0 && !Cost::empty) {
      const std::size_t before = reader.remaining();
      decode_one();
      if (reader.remaining() == before) WireAccess::take_empty_elements(reader, 1, Cost::empty_units);
    } else {
      decode_one();
    }
  }
}

/// Reserves room, where the container can (vectors, unordered containers), for the `size`
/// elements that read_count accepted, but for no more than the bytes left in the input could
/// fill in memory: an element may take far more memory than bytes on the wire (a
/// std::optional<std::array<double, 512>> takes one byte when empty), and the container
/// grows past that only as elements actually arrive.
template <class Cost, class Container>
void reserve_bounded(const WireReader& reader, Container& container, std::size_t size) {
  if constexpr (Cost::min_size != 0 && requires { container.reserve(size); }) {
    constexpr std::size_t element_memory =
        std::max(sizeof(typename Container::value_type), sizeof(void*));
    container.reserve(std::min(size, reader.remaining() / element_memory));
  }
}

/// T's encoding is its object representation, so arrays of T are copied with one memcpy:
/// scalars, and padding-free trivially copyable aggregates of such members.
template <class T>
constexpr bool bulk_copyable() {
  if constexpr (codec_specialized<T> || std::is_const_v<T> || std::is_volatile_v<T>) {
    return false;
  } else if constexpr (!std::is_trivially_copyable_v<T> || !std::is_default_constructible_v<T>) {
    return false;
  } else {
    return Rule<T>::bulk();
  }
}

template <class... Ts>
constexpr bool all_bulk_copyable_without_padding(std::size_t whole_size, type_list<Ts...>) {
  return (bulk_copyable<Ts>() && ...) && whole_size == (std::size_t{0} + ... + sizeof(Ts));
}

}  // namespace detail

}  // namespace confut
