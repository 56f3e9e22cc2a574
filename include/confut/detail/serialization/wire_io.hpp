#pragma once
/// @file wire_io.hpp
/// The public pieces of the wire format that the rules are written against: DecodeError,
/// EncodeError, WireLimits and the process-wide defaults, WireWriter, WireReader and the
/// Codec customization point. Include <confut/serialization.hpp>, which documents them.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#include "../../errors.hpp"

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

}  // namespace confut
