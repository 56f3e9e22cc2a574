// The decoder under hostile bytes: counts of elements that take no bytes, memory reserved
// ahead of decoding, nesting deeper than the stack allows (decoding and encoding), and a
// process task whose result is too deep. Every failure is DecodeError (EncodeError when
// encoding), never a hang, std::bad_alloc or a stack overflow.

#include <catch2/catch.hpp>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <new>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <variant>
#include <vector>

#include <confut/process_pool.hpp>
#include <confut/serialization.hpp>

namespace {

using namespace std::chrono_literals;

struct Empty {};

struct Node {
  int value;
  std::vector<Node> children;
};

/// Bytes as the wire format lays them out, written by hand (a hostile sender).
class Bytes {
 public:
  template <class T>
  Bytes& put(const T& value) {
    const auto* p = reinterpret_cast<const std::byte*>(&value);
    bytes_.insert(bytes_.end(), p, p + sizeof value);
    return *this;
  }
  Bytes& count(std::uint64_t n) { return put(n); }
  Bytes& fill(std::size_t n, std::uint8_t byte) {
    bytes_.insert(bytes_.end(), n, static_cast<std::byte>(byte));
    return *this;
  }
  const std::vector<std::byte>& get() const { return bytes_; }

 private:
  std::vector<std::byte> bytes_;
};

template <class T>
T decode_all(const std::vector<std::byte>& bytes) {
  return confut::from_bytes<T>(bytes.data(), bytes.size());
}

/// A Node chain `depth` levels deep: each Node has one child, the last none.
std::vector<std::byte> node_chain_bytes(std::size_t depth) {
  Bytes b;
  for (std::size_t i = 1; i < depth; ++i) b.put(static_cast<int>(i)).count(1);
  b.put(static_cast<int>(depth)).count(0);
  return b.get();
}

/// Built and torn down without recursion: a deep Node's own destructor recurses.
Node node_chain(std::size_t depth) {
  Node node{static_cast<int>(depth), {}};
  for (std::size_t i = depth - 1; i >= 1; --i) {
    Node parent{static_cast<int>(i), {}};
    parent.children.push_back(std::move(node));
    node = std::move(parent);
  }
  return node;
}
void tear_down(Node& node) {
  while (!node.children.empty()) {
    Node child = std::move(node.children.front());
    node = std::move(child);
  }
}
std::size_t chain_depth(const Node& node) {
  std::size_t depth = 1;
  for (const Node* n = &node; !n->children.empty(); n = &n->children.front()) ++depth;
  return depth;
}

/// A Codec type that reads and writes nothing.
struct Silent {};

/// A Codec type whose decoding runs out of memory.
struct Greedy {};

/// Decodes a T one level down, where a std::bad_alloc from reserving too much would still
/// show (the outermost container turns it into DecodeError).
template <class T>
struct AllocationProbe {
  T value;
  static inline bool saw_bad_alloc = false;
};

}  // namespace

template <>
struct confut::Codec<Silent> {
  static void encode(confut::WireWriter&, const Silent&) {}
  static Silent decode(confut::WireReader&) { return {}; }
};

template <class T>
struct confut::Codec<AllocationProbe<T>> {
  static void encode(confut::WireWriter& w, const AllocationProbe<T>& p) { w.write(p.value); }
  static AllocationProbe<T> decode(confut::WireReader& r) {
    try {
      return {r.read<T>()};
    } catch (const std::bad_alloc&) {
      AllocationProbe<T>::saw_bad_alloc = true;
      throw;
    }
  }
};

template <>
struct confut::Codec<Greedy> {
  static void encode(confut::WireWriter& w, const Greedy&) { w.write(std::uint8_t{0}); }
  static Greedy decode(confut::WireReader& r) {
    (void)r.read<std::uint8_t>();
    throw std::bad_alloc();
  }
};

TEST_CASE("a huge count of elements that take no bytes throws DecodeError at once",
          "[serialization][decode_limits]") {
  // 2^21 is past the allowance of 2^20 such elements per message; 2^60 would loop for years.
  for (const std::uint64_t count : {std::uint64_t{1} << 21, std::uint64_t{1} << 60}) {
    const auto bytes = Bytes().count(count).get();
    REQUIRE_THROWS_AS(decode_all<std::vector<std::monostate>>(bytes), confut::DecodeError);
    REQUIRE_THROWS_AS(decode_all<std::vector<Empty>>(bytes), confut::DecodeError);
    REQUIRE_THROWS_AS(decode_all<std::vector<std::tuple<>>>(bytes), confut::DecodeError);
    REQUIRE_THROWS_AS(decode_all<std::set<std::monostate>>(bytes), confut::DecodeError);
    REQUIRE_THROWS_AS(decode_all<std::multiset<std::tuple<>>>(bytes), confut::DecodeError);
    REQUIRE_THROWS_AS((decode_all<std::map<std::monostate, Empty>>(bytes)),
                      confut::DecodeError);
    REQUIRE_THROWS_AS((decode_all<std::vector<std::array<int, 0>>>(bytes)), confut::DecodeError);
    REQUIRE_THROWS_AS(decode_all<std::vector<Silent>>(bytes), confut::DecodeError);
  }
  // Elements of no bytes but much memory count as their size: 2^20 arrays of 4096
  // monostates would be 4 GiB from an 8-byte count.
  using Wide = std::array<std::monostate, 4096>;
  REQUIRE_THROWS_AS(decode_all<std::vector<Wide>>(Bytes().count(std::uint64_t{1} << 20).get()),
                    confut::DecodeError);
  REQUIRE(decode_all<std::vector<Wide>>(Bytes().count(256).get()).size() == 256);  // 1 MiB
  REQUIRE_THROWS_AS(decode_all<std::vector<Wide>>(Bytes().count(257).get()), confut::DecodeError);
  // Nested: every inner vector is small, together they are not.
  Bytes nested;
  nested.count(4);
  for (int i = 0; i < 4; ++i) nested.count(std::uint64_t{1} << 19);
  REQUIRE_THROWS_AS(decode_all<std::vector<std::vector<std::monostate>>>(nested.get()),
                    confut::DecodeError);
}

TEST_CASE("containers of elements that take no bytes still round-trip within the allowance",
          "[serialization][decode_limits]") {
  const std::vector<std::monostate> monostates(1000);
  REQUIRE(decode_all<std::vector<std::monostate>>(confut::to_bytes(monostates)).size() == 1000);
  const std::vector<Empty> empties(std::size_t{1} << 20);  // exactly the allowance
  REQUIRE(decode_all<std::vector<Empty>>(confut::to_bytes(empties)).size() == empties.size());
  const std::vector<Silent> silent(500);
  REQUIRE(decode_all<std::vector<Silent>>(confut::to_bytes(silent)).size() == 500);
  const std::multiset<std::monostate> set{{}, {}, {}};
  REQUIRE(decode_all<std::multiset<std::monostate>>(confut::to_bytes(set)).size() == 3);

  SECTION("the allowance is per message and can be changed per reader") {
    const auto bytes = confut::to_bytes(std::vector<std::monostate>(100));
    confut::WireReader strict(bytes.data(), bytes.size(), confut::WireLimits{512, 99});
    REQUIRE_THROWS_AS(strict.read<std::vector<std::monostate>>(), confut::DecodeError);
    confut::WireReader enough(bytes.data(), bytes.size(), confut::WireLimits{512, 100});
    REQUIRE(enough.read<std::vector<std::monostate>>().size() == 100);

    const auto twice = confut::to_bytes(
        std::pair{std::vector<std::monostate>(60), std::vector<Silent>(60)});
    confut::WireReader shared(twice.data(), twice.size(), confut::WireLimits{512, 100});
    REQUIRE_THROWS_AS((shared.read<std::pair<std::vector<std::monostate>, std::vector<Silent>>>()),
                      confut::DecodeError);
  }
}

TEST_CASE("memory reserved ahead of decoding is bounded by the input left",
          "[serialization][decode_limits]") {
  // 2^20 empty optionals fit in 1 MiB of input, and take 4 KiB of memory each: 4.3 GB.
  // The 101st flag is corrupt.
  using Big = std::optional<std::array<double, 512>>;
  constexpr std::size_t kInput = std::size_t{1} << 20;
  const auto bytes = Bytes().count(kInput).fill(100, 0).fill(1, 2).fill(kInput - 101, 0).get();
  REQUIRE_THROWS_AS(decode_all<std::vector<Big>>(bytes), confut::DecodeError);
  REQUIRE_THROWS_AS(decode_all<AllocationProbe<std::vector<Big>>>(bytes), confut::DecodeError);
  REQUIRE_FALSE(AllocationProbe<std::vector<Big>>::saw_bad_alloc);

  // 512 KiB elements: reserving room for 2^20 of them would be 512 GB, std::bad_alloc.
  using Huge = std::optional<std::array<double, 65536>>;
  const auto huge = Bytes().count(kInput).fill(1, 0).fill(1, 7).fill(kInput - 2, 0).get();
  REQUIRE_THROWS_AS(decode_all<AllocationProbe<std::vector<Huge>>>(huge), confut::DecodeError);
  REQUIRE_FALSE(AllocationProbe<std::vector<Huge>>::saw_bad_alloc);
}

TEST_CASE("running out of memory while decoding is a DecodeError",
          "[serialization][decode_limits]") {
  const auto bytes = confut::to_bytes(std::vector<Greedy>(3));
  REQUIRE_THROWS_AS(decode_all<std::vector<Greedy>>(bytes), confut::DecodeError);
  try {
    (void)decode_all<std::map<int, std::vector<Greedy>>>(
        confut::to_bytes(std::map<int, std::vector<Greedy>>{{1, {Greedy{}}}}));
    FAIL("expected DecodeError");
  } catch (const confut::DecodeError& e) {
    REQUIRE(std::string(e.what()).find("memory") != std::string::npos);
  }
}

TEST_CASE("a Node tree nested 60,000 deep fails to decode with DecodeError, not a stack overflow",
          "[serialization][decode_limits]") {
  const auto bytes = node_chain_bytes(60000);
  try {
    Node node = decode_all<Node>(bytes);
    tear_down(node);
    FAIL("expected DecodeError");
  } catch (const confut::DecodeError& e) {
    REQUIRE(std::string(e.what()).find("max_depth") != std::string::npos);
  }
  // So does the same nesting through maps and sets.
  Bytes maps;
  for (int i = 0; i < 60000; ++i) maps.count(1).put(i);
  maps.count(0);
  using Deep = std::map<int, std::vector<std::set<int>>>;
  REQUIRE_THROWS_AS(decode_all<Deep>(maps.get()), confut::DecodeError);
}

TEST_CASE("the nesting limit is 512 containers by default and can be changed",
          "[serialization][decode_limits]") {
  REQUIRE(confut::WireLimits{}.max_depth == 512);
  REQUIRE(confut::default_wire_limits().max_depth == 512);
  {
    Node node = decode_all<Node>(node_chain_bytes(512));
    REQUIRE(chain_depth(node) == 512);
    tear_down(node);
  }
  REQUIRE_THROWS_AS(decode_all<Node>(node_chain_bytes(513)), confut::DecodeError);

  const auto deeper = node_chain_bytes(2000);
  confut::WireReader reader(deeper.data(), deeper.size(), confut::WireLimits{2000, 1});
  Node node = reader.read<Node>();
  REQUIRE(chain_depth(node) == 2000);
  REQUIRE(reader.remaining() == 0);
  tear_down(node);

  // A program-wide default, which readers and writers take when given none.
  struct RestoreDefaults {
    ~RestoreDefaults() { confut::set_default_wire_limits(confut::WireLimits{}); }
  } restore;
  confut::set_default_wire_limits(confut::WireLimits{10, 5});
  REQUIRE(confut::default_wire_limits().max_depth == 10);
  REQUIRE(confut::default_wire_limits().max_empty_elements == 5);
  REQUIRE_THROWS_AS(decode_all<Node>(node_chain_bytes(11)), confut::DecodeError);
  REQUIRE_THROWS_AS(decode_all<std::vector<std::monostate>>(
                        confut::to_bytes(std::vector<std::monostate>(6))),
                    confut::DecodeError);
  Node eleven = node_chain(11);
  REQUIRE_THROWS_AS(confut::to_bytes(eleven), confut::EncodeError);
  tear_down(eleven);
  confut::set_default_wire_limits(confut::WireLimits{});
  REQUIRE(chain_depth(decode_all<Node>(node_chain_bytes(11))) == 11);
}

TEST_CASE("encoding a Node tree nested 60,000 deep throws EncodeError, not a stack overflow",
          "[serialization][decode_limits]") {
  Node deep = node_chain(60000);
  try {
    confut::WireWriter writer;
    writer.write(deep);
    FAIL("expected EncodeError");
  } catch (const confut::EncodeError& e) {
    REQUIRE(std::string(e.what()).find("max_depth") != std::string::npos);
  }
  tear_down(deep);
  // A writer is usable again after the error, at depth 0.
  confut::WireWriter writer;
  Node deep2 = node_chain(600);
  REQUIRE_THROWS_AS(writer.write(deep2), confut::EncodeError);
  tear_down(deep2);
  writer.clear();
  writer.write(node_chain(3));
  confut::WireReader reader(writer.buffer().data(), writer.size());
  REQUIRE(chain_depth(reader.read<Node>()) == 3);
}

TEST_CASE("corrupt bools, optional flags, variant indices and enum values are handled",
          "[serialization][decode_limits]") {
  enum class Level : std::uint8_t { low, high };
  for (const std::uint8_t byte : {std::uint8_t{2}, std::uint8_t{0x80}, std::uint8_t{0xff}}) {
    const auto one = Bytes().put(byte).get();
    REQUIRE_THROWS_AS(decode_all<bool>(one), confut::DecodeError);
    REQUIRE_THROWS_AS(decode_all<std::optional<int>>(one), confut::DecodeError);
    // An enum with a fixed underlying type holds any value of that type: no UB, no error.
    REQUIRE(static_cast<std::uint8_t>(decode_all<Level>(one)) == byte);
  }
  for (const std::uint64_t index : {std::uint64_t{3}, std::uint64_t{1} << 63, ~std::uint64_t{0}}) {
    REQUIRE_THROWS_AS((decode_all<std::variant<int, std::string, std::monostate>>(
                          Bytes().count(index).put(0).get())),
                      confut::DecodeError);
  }
}

namespace {

/// A result whose encoding is the bytes of a Node chain 60,000 deep, decoded as a Node: what a
/// hostile or broken worker could send back.
struct HostileNodeBytes {
  Node node;
};

Node deep_node_task(int depth) { return node_chain(static_cast<std::size_t>(depth)); }
HostileNodeBytes hostile_node_task(int) { return {}; }
int triple(int x) { return 3 * x; }

}  // namespace

template <>
struct confut::Codec<HostileNodeBytes> {
  static void encode(confut::WireWriter& w, const HostileNodeBytes&) {
    const auto bytes = node_chain_bytes(60000);
    w.write_bytes(bytes.data(), bytes.size());
  }
  static HostileNodeBytes decode(confut::WireReader& r) { return {r.read<Node>()}; }
};

TEST_CASE("a process task whose result is too deep fails only its own future",
          "[process_pool][decode_limits]") {
  confut::ProcessPoolExecutor ex(1);
  // The bytes of a 60,000-deep Node arrive: the parent's decoder refuses them.
  auto hostile = ex.submit(hostile_node_task, 0);
  auto after = ex.submit(triple, 5);
  REQUIRE_THROWS_AS(hostile.result(30s), confut::DecodeError);
  REQUIRE(after.result(30s) == 15);

  // A worker's result nested past the limit: its encoder refuses it, the task fails with the
  // encoder's error. (5,000 levels: a Node that deep still destroys itself within the stack.)
  auto deep = ex.submit(deep_node_task, 5000);
  try {
    Node node = deep.result(30s);
    tear_down(node);
    FAIL("expected the encoder's error");
  } catch (const confut::RemoteError& e) {
    REQUIRE(e.remote_type() == "confut::EncodeError");
    REQUIRE(e.remote_what().find("max_depth") != std::string::npos);
  }
  // Within the limit it arrives, and the pool keeps working.
  Node fine = ex.submit(deep_node_task, 500).result(30s);
  REQUIRE(chain_depth(fine) == 500);
  tear_down(fine);
  REQUIRE(ex.submit(triple, 7).result(30s) == 21);
}
