#pragma once
/// @file serialization.hpp
/// The wire format: typed values to bytes and back, so that task arguments and results can
/// travel between processes running the same binary (native byte order and sizes, no
/// versioning).
///
/// @code
/// struct Point { double x, y; std::string label; };      // an aggregate: nothing to declare
///
/// std::vector<std::byte> bytes = confut::to_bytes(std::map<int, Point>{{1, {0.5, 2, "a"}}});
/// auto back = confut::from_bytes<std::map<int, Point>>(bytes.data(), bytes.size());
/// @endcode
///
/// What can be sent (`confut::Sendable<T>`), recursively: arithmetic types, enums, std::byte,
/// std::string (any std::basic_string of a character type), std::vector (vector<bool> too),
/// std::array, std::pair, std::tuple, std::map, std::multimap, std::unordered_map,
/// std::unordered_multimap, std::set, std::multiset, std::unordered_set,
/// std::unordered_multiset, std::optional, std::variant, std::monostate,
/// std::chrono::duration, std::chrono::time_point of system_clock and steady_clock,
/// aggregates whose members are all sendable (found without annotations; no base classes, no
/// C array members, at most 24 members), and every type with a `confut::Codec`
/// specialization, which takes precedence over the built-in rules.
///
/// Everything else (raw pointers, references, smart pointers, std::function, lambdas, unions,
/// C arrays, classes with private members) fails to compile in `encode`/`decode` with a
/// static_assert saying "cannot be sent to another process" and naming the type.
///
/// Untrusted input: the decoder treats its bytes as hostile. Whatever they hold, it throws
/// DecodeError and nothing else, before doing more work or taking more memory than the input
/// accounts for (see WireLimits):
/// - a count of elements must fit in the bytes left, at the fewest bytes an element can take;
/// - elements that take no bytes at all (std::monostate, empty structs, std::tuple<>) count
///   against `WireLimits::max_empty_elements` for the whole message, each as its sizeof;
/// - memory reserved ahead of decoding is at most what the bytes left can fill; past that,
///   containers grow as their elements arrive; a value that still needs more memory than the
///   process can have (std::bad_alloc, std::length_error) fails with DecodeError;
/// - containers nested deeper than `WireLimits::max_depth` fail with DecodeError (and fail to
///   encode with EncodeError), so that a deep value cannot overflow the stack;
/// - a bool, an optional's flag or a variant's index out of range is DecodeError.
/// Enums are read as their bytes: give them a fixed underlying type (`enum class E`, or
/// `enum E : int`), which makes every value of that type valid; for an enum without one, a
/// value outside its range is not checked.
///
/// Format: scalars as their bytes; bool and the std::optional flag as one byte (0 or 1);
/// lengths, counts and std::variant indices as std::uint64_t; members and elements in order.
/// Vectors and arrays of padding-free trivially copyable elements are copied with one memcpy.
///
/// Thread safety: a WireWriter or WireReader is used by one thread at a time; the free
/// functions keep no state.

/// Layout: the public classes are in detail/serialization/wire_io.hpp, the shared checks in
/// primitives.hpp, one Rule<T> per kind of type in rules.hpp, the compile-time error in
/// unsendable.hpp; this header puts them together.

#include <cstddef>
#include <new>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "detail/serialization/rules.hpp"
#include "detail/serialization/unsendable.hpp"
#include "detail/serialization/wire_io.hpp"

namespace confut {

/// The types `encode`/`decode` accept, recursively (see the top of this file). A type with a
/// `confut::Codec` specialization is Sendable whatever the built-in rules say.
template <class T>
concept Sendable = detail::sendable_v<T>;

template <class T>
inline constexpr bool is_sendable_v = Sendable<T>;

namespace detail {
template <class U>
void encode_value(WireWriter& writer, const U& value) {
  if constexpr (codec_specialized<U>) {
    Codec<U>::encode(writer, value);
  } else {
    Rule<U>::encode(writer, value);
  }
}

template <class U>
U decode_value(WireReader& reader) {
  if constexpr (codec_specialized<U>) {
    return Codec<U>::decode(reader);
  } else {
    return Rule<U>::decode(reader);
  }
}
}  // namespace detail

/// Appends `value` to `writer`. T must be Sendable; otherwise this does not compile, and
/// the error names the type that cannot be sent.
template <class T>
void encode(WireWriter& writer, const T& value) {
  if constexpr (!Sendable<T>) {
    static_cast<void>(sizeof(detail::rejection_t<T>));
  } else if constexpr (detail::counts_depth<std::remove_cv_t<T>>()) {
    const detail::WireAccess::Nesting<WireWriter> nesting(writer);
    detail::encode_value<std::remove_cv_t<T>>(writer, value);
  } else {
    detail::encode_value<std::remove_cv_t<T>>(writer, value);
  }
}

/// Reads a T written by `encode<T>`; throws DecodeError on truncated or corrupt input.
template <class T>
detail::decoded_t<T> decode(WireReader& reader) {
  if constexpr (!Sendable<T>) {
    static_cast<void>(sizeof(detail::rejection_t<T>));
    throw DecodeError("unreachable");  // ends the function without more errors
  } else if constexpr (detail::counts_depth<std::remove_cv_t<T>>()) {
    if (!detail::WireAccess::outermost(reader)) {
      const detail::WireAccess::Nesting<WireReader> nesting(reader);
      return detail::decode_value<std::remove_cv_t<T>>(reader);
    }
    // The outermost container: whatever memory its elements still need past the bounded
    // reserve is the input's to justify, and running out of it is the input's fault.
    try {
      const detail::WireAccess::Nesting<WireReader> nesting(reader);
      return detail::decode_value<std::remove_cv_t<T>>(reader);
    } catch (const std::bad_alloc&) {
      throw DecodeError("confut: the input describes a value larger than the memory "
                        "available (std::bad_alloc while decoding)");
    } catch (const std::length_error& e) {
      throw DecodeError(std::string("confut: the input describes a value too large to hold (") +
                        e.what() + ")");
    }
  } else {
    return detail::decode_value<std::remove_cv_t<T>>(reader);
  }
}

/// `value` encoded into a new buffer.
template <class T>
std::vector<std::byte> to_bytes(const T& value, const WireLimits& limits = default_wire_limits()) {
  WireWriter writer(limits);
  confut::encode(writer, value);
  return std::move(writer.buffer());
}

/// Decodes a T that must take exactly `size` bytes: throws DecodeError if bytes are missing
/// or left over.
template <class T>
T from_bytes(const std::byte* data, std::size_t size,
             const WireLimits& limits = default_wire_limits()) {
  WireReader reader(data, size, limits);
  T value = confut::decode<T>(reader);
  if (reader.remaining() != 0) {
    throw DecodeError("confut: corrupt input: " + std::to_string(reader.remaining()) +
                      " bytes left over after decoding");
  }
  return value;
}

}  // namespace confut
