#pragma once
// The types the decoder fuzzer (fuzz_decoder.cpp) decodes, and the seed values the corpus
// generator (make_corpus.cpp) encodes for each. One list, so that a type added here gets
// both a fuzz target and seeds.

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <unordered_map>
#include <variant>
#include <vector>

#include <confut/serialization.hpp>

namespace confut_fuzz {

enum class Level : std::uint8_t { low, middle, high };

struct Empty {
  bool operator==(const Empty&) const = default;
};

/// An aggregate of many kinds of members.
struct Record {
  std::int32_t id;
  std::string name;
  std::vector<double> values;
  std::optional<Level> level;
  std::map<std::int32_t, bool> flags;
  std::pair<std::int16_t, std::uint64_t> range;
  bool operator==(const Record&) const = default;
};

/// Recursive through a vector: the nesting limit's case.
struct Node {
  std::int32_t value;
  std::vector<Node> children;
  bool operator==(const Node&) const = default;
};

using EmptyElements = std::tuple<std::vector<std::monostate>, std::vector<Empty>,
                                 std::set<std::monostate>, std::vector<std::tuple<>>>;
using BigOptionals = std::vector<std::optional<std::array<double, 512>>>;
using Variant = std::variant<std::int32_t, std::string, std::vector<double>, std::monostate>;
using Tuple = std::tuple<bool, std::int8_t, std::string, std::optional<double>, Level>;

/// What a successful decode promises about the value v it returns, beyond
/// "to_bytes(v) decodes again".
enum class RoundTrip {
  exact,       // to_bytes(v) is the input itself
  normalized,  // decoding may normalize (a set sorts and drops duplicates, a vector<bool>
               // ignores its spare bits), but then stays put: to_bytes(decode(to_bytes(v)))
               // is to_bytes(v)
  unordered,   // iteration order is not kept (unordered containers): decode(to_bytes(v)) == v
};

/// Calls `f.template operator()<T>(name, round_trip)` for every fuzzed type.
template <class F>
void for_each_type(F&& f) {
  f.template operator()<std::int64_t>("int", RoundTrip::exact);
  f.template operator()<std::string>("string", RoundTrip::exact);
  f.template operator()<std::vector<double>>("vector_double", RoundTrip::exact);
  f.template operator()<std::vector<std::vector<std::int32_t>>>("nested_vector",
                                                                RoundTrip::exact);
  f.template operator()<std::vector<bool>>("vector_bool", RoundTrip::normalized);
  f.template operator()<std::map<std::string, std::int32_t>>("map", RoundTrip::normalized);
  f.template operator()<std::unordered_map<std::int32_t, std::vector<std::uint8_t>>>(
      "unordered_map", RoundTrip::unordered);
  f.template operator()<std::set<std::int16_t>>("set", RoundTrip::normalized);
  f.template operator()<std::optional<std::string>>("optional", RoundTrip::exact);
  f.template operator()<Variant>("variant", RoundTrip::exact);
  f.template operator()<Tuple>("tuple", RoundTrip::exact);
  f.template operator()<Record>("aggregate", RoundTrip::normalized);
  f.template operator()<EmptyElements>("empty_elements", RoundTrip::normalized);
  f.template operator()<BigOptionals>("big_optionals", RoundTrip::exact);
  f.template operator()<Node>("node", RoundTrip::exact);
}

}  // namespace confut_fuzz
