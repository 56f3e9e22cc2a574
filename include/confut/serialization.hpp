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

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <new>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <variant>
#include <vector>

#include "detail/serialization/aggregate.hpp"
#include "errors.hpp"

namespace confut {

/// The bytes being decoded are truncated or corrupt (a length beyond the end of the input, an
/// invalid std::variant index or bool, bytes left over after `from_bytes`), go past a
/// WireLimits, or describe a value larger than the memory available.
class DecodeError : public Error {
 public:
  using Error::Error;
};

/// A value cannot be encoded: its containers are nested deeper than `WireLimits::max_depth`.
class EncodeError : public Error {
 public:
  using Error::Error;
};

/// What one message may make the decoder do. Depth counts the containers (std::vector, the
/// maps and sets) and `Codec` types a value lies in: for
/// `struct Node { int value; std::vector<Node> children; }`, a tree of N levels has depth N.
/// Aggregates, pairs, tuples, arrays, optionals, variants and strings add no depth (their
/// nesting is fixed by the type), and a vector of numbers is one level, read in one copy.
struct WireLimits {
  /// Containers nested deeper than this fail to decode (DecodeError) and to encode
  /// (EncodeError). 512 levels take about 0.5 MiB of stack in a debug build and 1 MiB under
  /// AddressSanitizer, of the 8 MiB a thread has by default on Linux.
  std::size_t max_depth = 512;
  /// Elements that take no bytes (std::monostate, empty structs, std::tuple<>, and Codec
  /// types that read nothing) allowed in one message, all containers together, each counted
  /// as its size in memory (sizeof, so std::array<std::monostate, 4096> counts 4096).
  std::size_t max_empty_elements = std::size_t{1} << 20;
};

namespace detail {
inline std::atomic<std::size_t> default_max_depth{WireLimits{}.max_depth};
inline std::atomic<std::size_t> default_max_empty_elements{WireLimits{}.max_empty_elements};
struct WireAccess;
}  // namespace detail

/// The limits that WireReader and WireWriter take when none are given, which the process
/// pools use for every task and result.
inline WireLimits default_wire_limits() noexcept {
  return {detail::default_max_depth.load(std::memory_order_relaxed),
          detail::default_max_empty_elements.load(std::memory_order_relaxed)};
}

/// Sets the limits used from now on by readers and writers that are not given any, in this
/// process. Call it early in `main`. A worker process of a process pool has its own copy (the
/// parent's at the fork, or the defaults when the fork server was re-executed): set them in
/// the pool's initializer (ProcessPoolOptions::initializer) as well.
inline void set_default_wire_limits(const WireLimits& limits) noexcept {
  detail::default_max_depth.store(limits.max_depth, std::memory_order_relaxed);
  detail::default_max_empty_elements.store(limits.max_empty_elements,
                                           std::memory_order_relaxed);
}

class WireWriter;
class WireReader;

namespace detail {
/// What `decode<T>` returns: T, except for types no function can return (C arrays,
/// functions), which get a placeholder so that the call reaches decode's static_assert.
struct not_decodable {};
template <class T>
using decoded_t =
    std::conditional_t<std::is_array_v<T> || std::is_function_v<T>, not_decodable, T>;
}  // namespace detail

template <class T>
void encode(WireWriter& writer, const T& value);
template <class T>
detail::decoded_t<T> decode(WireReader& reader);

/// Appends encoded values to a growable byte buffer.
///
/// @code
/// confut::WireWriter w;
/// w.write(42);
/// w.write(std::string("hello"));
/// send(w.buffer().data(), w.size());
/// @endcode
class WireWriter {
 public:
  WireWriter() noexcept : max_depth_(detail::default_max_depth.load(std::memory_order_relaxed)) {}
  /// A writer whose values may nest containers at most `limits.max_depth` deep.
  explicit WireWriter(const WireLimits& limits) noexcept : max_depth_(limits.max_depth) {}

  /// Appends `size` raw bytes.
  void write_bytes(const void* data, std::size_t size) {
    if (size == 0) return;  // data may be null then
    if (size <= kSmallWrite) {
      // Most writes are one scalar: resize and memcpy are inlined, a range insert is not
      // (a vector of 63 pairs of ints, written element by element, encoded and decoded
      // 20,000 times: 86.5M instructions instead of 105.3M under callgrind).
      const std::size_t used = buffer_.size();
      buffer_.resize(used + size);
      std::memcpy(buffer_.data() + used, data, size);
    } else {
      // Large blocks: one copy, without zero-filling the new bytes first.
      const auto* bytes = static_cast<const std::byte*>(data);
      buffer_.insert(buffer_.end(), bytes, bytes + size);
    }
  }

  /// Appends `value`: the same as `confut::encode(*this, value)`.
  template <class T>
  void write(const T& value) {
    confut::encode(*this, value);
  }

  std::vector<std::byte>& buffer() noexcept { return buffer_; }
  const std::vector<std::byte>& buffer() const noexcept { return buffer_; }
  std::size_t size() const noexcept { return buffer_.size(); }
  void clear() noexcept { buffer_.clear(); }

 private:
  friend struct detail::WireAccess;
  static constexpr std::size_t kSmallWrite = 64;
  std::vector<std::byte> buffer_;
  std::size_t max_depth_;
  std::size_t depth_ = 0;  // containers being encoded, around the current value
};

/// Reads encoded values, in the order they were written, from bytes it does not own.
///
/// @code
/// confut::WireReader r(bytes.data(), bytes.size());
/// int i = r.read<int>();
/// std::string s = r.read<std::string>();
/// @endcode
class WireReader {
 public:
  /// Reads `size` bytes at `data` within `limits`.
  WireReader(const std::byte* data, std::size_t size,
             const WireLimits& limits = default_wire_limits()) noexcept
      : data_(data),
        size_(size),
        max_depth_(limits.max_depth),
        max_empty_elements_(limits.max_empty_elements),
        empty_elements_left_(limits.max_empty_elements) {}

  /// Copies the next `size` bytes to `out`; throws DecodeError if fewer remain.
  void read_bytes(void* out, std::size_t size) {
    if (size > remaining()) {
      throw DecodeError("confut: truncated input: " + std::to_string(size) +
                        " bytes needed, " + std::to_string(remaining()) + " left");
    }
    if (size == 0) return;  // out may be null then
    std::memcpy(out, data_ + position_, size);
    position_ += size;
  }

  /// Reads the next value: the same as `confut::decode<T>(*this)`.
  template <class T>
  detail::decoded_t<T> read() {
    return confut::decode<T>(*this);
  }

  std::size_t remaining() const noexcept { return size_ - position_; }

  /// The limits this reader applies.
  WireLimits limits() const noexcept { return {max_depth_, max_empty_elements_}; }

 private:
  friend struct detail::WireAccess;
  const std::byte* data_;
  std::size_t size_;
  std::size_t position_ = 0;
  std::size_t max_depth_;
  std::size_t depth_ = 0;  // containers being decoded, around the current value
  std::size_t max_empty_elements_;
  std::size_t empty_elements_left_;
};

/// The customization point. Specialize it to make your own type sendable; a specialization
/// takes precedence over the built-in rules (aggregates included):
///
/// @code
/// class Celsius {                                   // private members: not an aggregate
///  public:
///   explicit Celsius(double d) : degrees_(d) {}
///   double degrees() const { return degrees_; }
///  private:
///   double degrees_;
/// };
///
/// template <>
/// struct confut::Codec<Celsius> {
///   static void encode(confut::WireWriter& w, const Celsius& c) { w.write(c.degrees()); }
///   static Celsius decode(confut::WireReader& r) { return Celsius(r.read<double>()); }
/// };
/// @endcode
///
/// `Enable` allows constrained partial specializations:
/// `template <class T> struct confut::Codec<T, std::enable_if_t<is_my_thing<T>>>`.
/// Declare the specialization before the first use of `Sendable`/`encode` on the type.
template <class T, class Enable = void>
struct Codec {
  /// Marks the primary template: no codec, the built-in rules apply.
  using not_specialized = void;
};

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

/// The types `encode`/`decode` accept, recursively (see the top of this file). A type with a
/// `confut::Codec` specialization is Sendable whatever the built-in rules say.
template <class T>
concept Sendable = detail::sendable_v<T>;

template <class T>
inline constexpr bool is_sendable_v = Sendable<T>;

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
