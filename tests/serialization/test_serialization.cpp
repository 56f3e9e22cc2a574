// The wire format (serialization.hpp): every sendable type round-trips with its value, the
// Sendable concept accepts and rejects the right types, the byte layout is the documented one,
// and truncated or corrupt input throws DecodeError instead of crashing or allocating.

#include <catch2/catch.hpp>

#include <array>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <variant>
#include <vector>

#include <confut/serialization.hpp>

namespace {

template <class T>
T round_trip(const T& value) {
  const std::vector<std::byte> bytes = confut::to_bytes(value);
  return confut::from_bytes<T>(bytes.data(), bytes.size());
}

template <class T>
void require_round_trip(const T& value) {
  REQUIRE(round_trip(value) == value);
}

enum class Color : std::uint8_t { red, green = 7, blue = 200 };
enum Plain { plain_a, plain_b = 42 };
enum class Wide : std::int64_t { low = std::numeric_limits<std::int64_t>::min(), high = 1 };

struct Empty {
  bool operator==(const Empty&) const = default;
};

struct Point {
  double x;
  double y;
  bool operator==(const Point&) const = default;
};

struct Person {
  std::string name;
  int age = 0;
  std::optional<std::string> email;
  bool operator==(const Person&) const = default;
};

struct Team {
  Person lead;                                       // a nested aggregate
  std::vector<Person> members;                       // a vector of aggregates
  std::map<std::string, std::vector<int>> scores;    // a map of vectors
  std::variant<std::monostate, int, std::string> tag;
  Color color = Color::red;
  std::chrono::milliseconds timeout{0};
  std::array<Point, 2> corners{};
  Empty nothing;
  bool operator==(const Team&) const = default;
};

struct Tree {  // recursive through a container
  int value = 0;
  std::vector<Tree> children;
  bool operator==(const Tree&) const = default;
};

struct WithConst {
  const int id;
  const std::string label;
};

struct Flags {
  unsigned low : 3;
  unsigned high : 5;
};

struct TwentyFour {
  int a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11;
  int b0, b1, b2, b3, b4, b5, b6, b7, b8, b9, b10, b11;
  bool operator==(const TwentyFour&) const = default;
};

/// Not an aggregate (private member, constructor): sendable only through its Codec.
class Celsius {
 public:
  explicit Celsius(double degrees) : degrees_(degrees) {}
  double degrees() const { return degrees_; }
  bool operator==(const Celsius&) const = default;

 private:
  double degrees_;
};

/// An aggregate whose Codec must win over the member-by-member rule: it sends `a` only.
struct OnlyFirst {
  int a;
  int b;
};

// Not sendable, for the static checks.
struct WithPointer {
  const char* name;
};
struct WithSharedPtr {
  int id;
  std::shared_ptr<int> data;
};
struct WithCArray {
  int values[3];
  int count;
};
struct Base {
  int id;
};
struct Derived : Base {
  int extra;
};
class Private {
  int hidden_ = 0;

 public:
  int hidden() const { return hidden_; }
};
union Number {
  int i;
  float f;
};
struct MissingDecode {};

}  // namespace

template <>
struct confut::Codec<Celsius> {
  static void encode(confut::WireWriter& w, const Celsius& c) { w.write(c.degrees()); }
  static Celsius decode(confut::WireReader& r) { return Celsius(r.read<double>()); }
};

template <>
struct confut::Codec<OnlyFirst> {
  static void encode(confut::WireWriter& w, const OnlyFirst& v) { w.write(v.a); }
  static OnlyFirst decode(confut::WireReader& r) { return OnlyFirst{r.read<int>(), -1}; }
};

template <>
struct confut::Codec<MissingDecode> {  // specialized, but incomplete: not sendable
  static void encode(confut::WireWriter&, const MissingDecode&) {}
};

TEST_CASE("arithmetic types, enums and std::byte round-trip with their exact values",
          "[serialization]") {
  require_round_trip(true);
  require_round_trip(false);
  require_round_trip('x');
  require_round_trip(static_cast<signed char>(-128));
  require_round_trip(static_cast<unsigned char>(255));
  require_round_trip(u8'z');
  require_round_trip(u'\u00e9');
  require_round_trip(U'\U0001F600');
  require_round_trip(L'w');
  require_round_trip(std::numeric_limits<short>::min());
  require_round_trip(std::numeric_limits<unsigned short>::max());
  require_round_trip(std::numeric_limits<int>::min());
  require_round_trip(std::numeric_limits<unsigned>::max());
  require_round_trip(std::numeric_limits<long>::min());
  require_round_trip(std::numeric_limits<unsigned long>::max());
  require_round_trip(std::numeric_limits<long long>::min());
  require_round_trip(std::numeric_limits<unsigned long long>::max());
  require_round_trip(3.25f);
  require_round_trip(std::numeric_limits<double>::max());
  require_round_trip(std::numeric_limits<double>::denorm_min());
  require_round_trip(std::numeric_limits<double>::infinity());
  require_round_trip(-1.5L);
  REQUIRE(std::isnan(round_trip(std::numeric_limits<double>::quiet_NaN())));
  REQUIRE(std::signbit(round_trip(-0.0)));

  require_round_trip(Color::blue);
  require_round_trip(plain_b);
  require_round_trip(Wide::low);
  require_round_trip(std::byte{0xAB});

  REQUIRE(confut::to_bytes(Color::blue).size() == 1);
  REQUIRE(confut::to_bytes(Wide::low).size() == 8);
  REQUIRE(confut::to_bytes(true).size() == 1);
}

TEST_CASE("strings round-trip, empty ones and embedded NUL characters included",
          "[serialization]") {
  require_round_trip(std::string());
  require_round_trip(std::string("hello"));
  const std::string with_nuls("a\0b\0\0c", 6);
  REQUIRE(round_trip(with_nuls) == with_nuls);
  REQUIRE(round_trip(with_nuls).size() == 6);
  require_round_trip(std::string(100000, 'q'));
  require_round_trip(std::wstring(L"wide \u00e9"));
  require_round_trip(std::u16string(u"sixteen"));
  require_round_trip(std::u32string(U"thirty-two"));

  REQUIRE(confut::to_bytes(std::string("abc")).size() == sizeof(std::uint64_t) + 3);
}

TEST_CASE("vectors round-trip: empty, of scalars, of strings, of enums and nested",
          "[serialization]") {
  require_round_trip(std::vector<int>{});
  require_round_trip(std::vector<int>{1, -2, 3});
  require_round_trip(std::vector<double>{0.5, -1e300});
  require_round_trip(std::vector<std::string>{"", "a", std::string("\0", 1)});
  require_round_trip(std::vector<Color>{Color::green, Color::blue});
  require_round_trip(std::vector<std::byte>{std::byte{1}, std::byte{255}});
  require_round_trip(std::vector<std::vector<int>>{{}, {1}, {2, 3}});
  require_round_trip(std::vector<std::vector<std::string>>{{"x"}, {}, {"y", "z"}});
}

TEST_CASE("vector<bool> round-trips for every size around a byte boundary", "[serialization]") {
  for (std::size_t size : {0u, 1u, 7u, 8u, 9u, 16u, 1001u}) {
    std::vector<bool> bits(size);
    for (std::size_t i = 0; i < size; ++i) bits[i] = (i * 7 + 3) % 5 < 2;
    INFO("size " << size);
    REQUIRE(round_trip(bits) == bits);
    REQUIRE(confut::to_bytes(bits).size() == sizeof(std::uint64_t) + (size + 7) / 8);
  }
}

TEST_CASE("vectors of scalars and padding-free aggregates are sent as their raw bytes",
          "[serialization]") {
  const std::vector<double> values{1.0, 2.5, -3.0};
  const std::vector<std::byte> bytes = confut::to_bytes(values);
  REQUIRE(bytes.size() == sizeof(std::uint64_t) + 3 * sizeof(double));
  std::uint64_t length = 0;
  std::memcpy(&length, bytes.data(), sizeof length);
  REQUIRE(length == 3);
  REQUIRE(std::memcmp(bytes.data() + sizeof length, values.data(), 3 * sizeof(double)) == 0);

  std::vector<Point> points;
  for (int i = 0; i < 1000; ++i) points.push_back({i * 0.5, -i * 2.0});
  REQUIRE(confut::to_bytes(points).size() == sizeof(std::uint64_t) + 1000 * sizeof(Point));
  REQUIRE(round_trip(points) == points);
}

TEST_CASE("std::array round-trips, copied whole or element by element", "[serialization]") {
  require_round_trip(std::array<int, 4>{1, 2, 3, 4});
  require_round_trip(std::array<int, 0>{});
  require_round_trip(std::array<std::string, 3>{"a", "", "ccc"});
  require_round_trip(std::array<Color, 2>{Color::blue, Color::red});
  require_round_trip(std::array<std::array<double, 2>, 2>{{{1, 2}, {3, 4}}});
  require_round_trip(std::array<bool, 3>{true, false, true});
  require_round_trip(std::array<Celsius, 2>{Celsius(1), Celsius(2)});  // no default constructor
  REQUIRE(confut::to_bytes(std::array<int, 4>{}).size() == 4 * sizeof(int));
}

TEST_CASE("pairs and tuples round-trip, empty and nested ones included", "[serialization]") {
  require_round_trip(std::pair<int, std::string>{7, "seven"});
  require_round_trip(std::pair<std::string, std::vector<int>>{"v", {1, 2}});
  require_round_trip(std::tuple<>{});
  require_round_trip(std::tuple<int, std::string, double>{1, "two", 3.0});
  require_round_trip(std::tuple<std::tuple<int>>{std::tuple<int>{5}});
  require_round_trip(std::tuple<std::pair<int, int>, std::vector<bool>>{{1, 2}, {true}});
  REQUIRE(confut::to_bytes(std::tuple<>{}).empty());
}

TEST_CASE("maps and sets of every kind round-trip, duplicates and empty ones included",
          "[serialization]") {
  require_round_trip(std::map<std::string, std::vector<int>>{});
  require_round_trip(std::map<std::string, std::vector<int>>{{"a", {}}, {"b", {1, 2, 3}}});
  require_round_trip(std::map<int, std::map<int, std::string>>{{1, {{2, "x"}}}, {3, {}}});
  require_round_trip(std::multimap<int, std::string>{{1, "first"}, {1, "second"}, {0, "z"}});
  require_round_trip(std::unordered_map<std::string, double>{{"pi", 3.14}, {"e", 2.72}});
  require_round_trip(std::unordered_multimap<int, int>{{1, 1}, {1, 2}, {2, 3}});
  require_round_trip(std::set<std::string>{"b", "a", "c"});
  require_round_trip(std::multiset<int>{3, 1, 3, 2});
  require_round_trip(std::unordered_set<int>{5, 6, 7});
  require_round_trip(std::unordered_multiset<std::string>{"x", "x", "y"});

  // Equal keys keep their order (multimap equality compares in order).
  const std::multimap<int, std::string> ordered{{1, "a"}, {1, "b"}, {1, "c"}};
  const auto back = round_trip(ordered);
  REQUIRE(std::vector(back.begin(), back.end()) == std::vector(ordered.begin(), ordered.end()));
}

TEST_CASE("optional round-trips empty and full, nested ones included", "[serialization]") {
  require_round_trip(std::optional<int>{});
  require_round_trip(std::optional<int>{42});
  require_round_trip(std::optional<std::string>{"text"});
  require_round_trip(std::optional<std::vector<int>>{std::vector<int>{}});
  require_round_trip(std::optional<std::optional<int>>{std::optional<int>{}});
  require_round_trip(std::optional<std::optional<int>>{});
  REQUIRE(round_trip(std::optional<std::optional<int>>{std::optional<int>{}}).has_value());
  REQUIRE(confut::to_bytes(std::optional<int>{}).size() == 1);
}

TEST_CASE("variant round-trips holding each of its alternatives, monostate included",
          "[serialization]") {
  using V = std::variant<std::monostate, int, std::string, std::vector<double>, Person>;
  require_round_trip(V{});
  require_round_trip(V{17});
  require_round_trip(V{std::string("s")});
  require_round_trip(V{std::vector<double>{1.5}});
  require_round_trip(V{Person{"Ada", 36, std::nullopt}});
  require_round_trip(std::monostate{});
  REQUIRE(confut::to_bytes(std::monostate{}).empty());

  // Alternatives of the same type keep their index.
  using Twice = std::variant<int, int>;
  const Twice second(std::in_place_index<1>, 9);
  const Twice back = round_trip(second);
  REQUIRE(back.index() == 1);
  REQUIRE(std::get<1>(back) == 9);
}

TEST_CASE("durations and system_clock and steady_clock time points round-trip",
          "[serialization]") {
  using namespace std::chrono_literals;
  require_round_trip(1500ms);
  require_round_trip(std::chrono::nanoseconds::max());
  require_round_trip(std::chrono::duration<double>(0.25));
  require_round_trip(std::chrono::duration<int, std::ratio<3600>>(5));
  require_round_trip(std::chrono::system_clock::now());
  require_round_trip(std::chrono::steady_clock::now());
  require_round_trip(std::chrono::time_point_cast<std::chrono::seconds>(
      std::chrono::system_clock::now()));
  require_round_trip(std::vector<std::chrono::microseconds>{1us, 2us});
}

TEST_CASE("aggregates round-trip member by member, nested aggregates and containers included",
          "[serialization]") {
  Team team;
  team.lead = {"Grace", 85, "grace@example.org"};
  team.members = {{"Alan", 41, std::nullopt}, {"", 0, ""}};
  team.scores = {{"round 1", {3, 4}}, {"round 2", {}}};
  team.tag = std::string("blue team");
  team.color = Color::green;
  team.timeout = std::chrono::milliseconds(250);
  team.corners = {Point{0, 0}, Point{1.5, -2}};
  require_round_trip(team);
  require_round_trip(Team{});
  require_round_trip(Empty{});
  REQUIRE(confut::to_bytes(Empty{}).empty());

  Tree tree{1, {Tree{2, {}}, Tree{3, {Tree{4, {}}}}}};
  require_round_trip(tree);

  const TwentyFour many{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
                        13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24};
  require_round_trip(many);

  const WithConst constant{7, "seven"};
  const WithConst constant_back = round_trip(constant);
  REQUIRE(constant_back.id == 7);
  REQUIRE(constant_back.label == "seven");

  const Flags flags{5, 17};
  const Flags flags_back = round_trip(flags);
  REQUIRE(flags_back.low == 5);
  REQUIRE(flags_back.high == 17);
}

TEST_CASE("a Codec specialization makes a class sendable and wins over the built-in rules",
          "[serialization]") {
  require_round_trip(Celsius(21.5));
  require_round_trip(std::vector<Celsius>{Celsius(-40), Celsius(100)});
  require_round_trip(std::map<std::string, Celsius>{{"boiling", Celsius(100)}});
  require_round_trip(std::optional<Celsius>{Celsius(0)});

  // OnlyFirst is an aggregate, yet its Codec (which drops `b`) is what runs.
  const OnlyFirst back = round_trip(OnlyFirst{3, 4});
  REQUIRE(back.a == 3);
  REQUIRE(back.b == -1);
  REQUIRE(confut::to_bytes(OnlyFirst{3, 4}).size() == sizeof(int));
  const std::vector<OnlyFirst> many = round_trip(std::vector<OnlyFirst>{{1, 1}, {2, 2}});
  REQUIRE(many.size() == 2);
  REQUIRE(many[1].a == 2);
  REQUIRE(many[1].b == -1);
}

TEST_CASE("Sendable accepts every supported type, recursively", "[serialization]") {
  STATIC_REQUIRE(confut::Sendable<bool>);
  STATIC_REQUIRE(confut::Sendable<long double>);
  STATIC_REQUIRE(confut::Sendable<Color>);
  STATIC_REQUIRE(confut::Sendable<std::byte>);
  STATIC_REQUIRE(confut::Sendable<const int>);
  STATIC_REQUIRE(confut::Sendable<std::string>);
  STATIC_REQUIRE(confut::Sendable<std::vector<bool>>);
  STATIC_REQUIRE(confut::Sendable<std::array<std::vector<int>, 3>>);
  STATIC_REQUIRE(confut::Sendable<std::pair<int, std::string>>);
  STATIC_REQUIRE(confut::Sendable<std::tuple<>>);
  STATIC_REQUIRE(confut::Sendable<std::map<std::string, std::vector<Person>>>);
  STATIC_REQUIRE(confut::Sendable<std::unordered_multimap<int, std::set<int>>>);
  STATIC_REQUIRE(confut::Sendable<std::optional<std::variant<std::monostate, Team>>>);
  STATIC_REQUIRE(confut::Sendable<std::chrono::steady_clock::time_point>);
  STATIC_REQUIRE(confut::Sendable<Team>);
  STATIC_REQUIRE(confut::Sendable<Tree>);
  STATIC_REQUIRE(confut::Sendable<Empty>);
  STATIC_REQUIRE(confut::Sendable<Celsius>);
  STATIC_REQUIRE(confut::Sendable<std::vector<Celsius>>);
  STATIC_REQUIRE(confut::is_sendable_v<Person>);
}

TEST_CASE("Sendable rejects pointers, references, callables, smart pointers, unions, C arrays "
          "and whatever holds one",
          "[serialization]") {
  int x = 0;
  auto capturing = [&x] { return x; };
  auto capture_free = [] { return 1; };

  STATIC_REQUIRE_FALSE(confut::Sendable<int*>);
  STATIC_REQUIRE_FALSE(confut::Sendable<const char*>);
  STATIC_REQUIRE_FALSE(confut::Sendable<int&>);
  STATIC_REQUIRE_FALSE(confut::Sendable<const std::string&>);
  STATIC_REQUIRE_FALSE(confut::Sendable<std::nullptr_t>);
  STATIC_REQUIRE_FALSE(confut::Sendable<void>);
  STATIC_REQUIRE_FALSE(confut::Sendable<int (*)(int)>);
  STATIC_REQUIRE_FALSE(confut::Sendable<std::function<void()>>);
  STATIC_REQUIRE_FALSE(confut::Sendable<std::shared_ptr<int>>);
  STATIC_REQUIRE_FALSE(confut::Sendable<std::unique_ptr<int>>);
  STATIC_REQUIRE_FALSE(confut::Sendable<decltype(capturing)>);
  STATIC_REQUIRE_FALSE(confut::Sendable<decltype(capture_free)>);
  STATIC_REQUIRE_FALSE(confut::Sendable<int[3]>);
  STATIC_REQUIRE_FALSE(confut::Sendable<volatile int>);
  STATIC_REQUIRE_FALSE(confut::Sendable<Number>);
  STATIC_REQUIRE_FALSE(confut::Sendable<Private>);
  STATIC_REQUIRE_FALSE(confut::Sendable<MissingDecode>);

  // Aggregates and containers that hold something unsendable.
  STATIC_REQUIRE_FALSE(confut::Sendable<WithPointer>);
  STATIC_REQUIRE_FALSE(confut::Sendable<WithSharedPtr>);
  STATIC_REQUIRE_FALSE(confut::Sendable<WithCArray>);  // C array member: not decomposable
  STATIC_REQUIRE_FALSE(confut::Sendable<Derived>);     // base class: not decomposable
  STATIC_REQUIRE_FALSE(confut::Sendable<std::vector<int*>>);
  STATIC_REQUIRE_FALSE(confut::Sendable<std::map<int, std::shared_ptr<int>>>);
  STATIC_REQUIRE_FALSE(confut::Sendable<std::optional<std::function<void()>>>);
  STATIC_REQUIRE_FALSE(confut::Sendable<std::tuple<int, const char*>>);
  STATIC_REQUIRE_FALSE(confut::Sendable<std::variant<int, Private>>);
  STATIC_REQUIRE_FALSE(confut::Sendable<std::vector<WithPointer>>);
  STATIC_REQUIRE_FALSE(confut::is_sendable_v<std::pair<int, int&>>);
  static_cast<void>(capturing());
  static_cast<void>(capture_free());
}

TEST_CASE("WireWriter and WireReader return values in the order they were written",
          "[serialization]") {
  confut::WireWriter writer;
  REQUIRE(writer.size() == 0);
  writer.write(42);
  writer.write(std::string("text"));
  writer.write(std::vector<double>{1, 2});
  const char raw[3] = {'r', 'a', 'w'};
  writer.write_bytes(raw, sizeof raw);
  writer.write_bytes(nullptr, 0);
  confut::encode(writer, Color::green);
  REQUIRE(writer.size() == writer.buffer().size());

  const std::vector<std::byte>& bytes = std::as_const(writer).buffer();
  confut::WireReader reader(bytes.data(), bytes.size());
  REQUIRE(reader.read<int>() == 42);
  REQUIRE(reader.read<std::string>() == "text");
  REQUIRE(reader.read<std::vector<double>>() == std::vector<double>{1, 2});
  char back[3] = {};
  reader.read_bytes(back, sizeof back);
  REQUIRE(std::string(back, 3) == "raw");
  REQUIRE(reader.remaining() == 1);
  REQUIRE(confut::decode<Color>(reader) == Color::green);
  REQUIRE(reader.remaining() == 0);
  REQUIRE_THROWS_AS(reader.read<std::uint8_t>(), confut::DecodeError);

  writer.clear();
  REQUIRE(writer.size() == 0);
}

TEST_CASE("input cut short at any point throws DecodeError", "[serialization]") {
  Team team;
  team.lead = {"Grace", 85, "grace@example.org"};
  team.members = {{"Alan", 41, std::nullopt}};
  team.scores = {{"round 1", {3, 4}}};
  team.tag = 5;
  const std::vector<std::byte> bytes = confut::to_bytes(team);
  for (std::size_t size = 0; size < bytes.size(); ++size) {
    INFO("cut at " << size << " of " << bytes.size() << " bytes");
    REQUIRE_THROWS_AS(confut::from_bytes<Team>(bytes.data(), size), confut::DecodeError);
  }
  REQUIRE(confut::from_bytes<Team>(bytes.data(), bytes.size()) == team);

  const std::byte one{1};
  confut::WireReader reader(&one, 1);
  std::uint16_t too_big = 0;
  REQUIRE_THROWS_AS(reader.read_bytes(&too_big, sizeof too_big), confut::DecodeError);
  REQUIRE_THROWS_WITH(reader.read<std::uint16_t>(), Catch::Contains("truncated"));
}

namespace {
/// `bytes` with its first eight bytes replaced by `length`.
std::vector<std::byte> with_length(std::vector<std::byte> bytes, std::uint64_t length) {
  std::memcpy(bytes.data(), &length, sizeof length);
  return bytes;
}
}  // namespace

TEST_CASE("a corrupt length throws DecodeError before anything is allocated for it",
          "[serialization]") {
  const std::uint64_t huge = std::uint64_t{1} << 60;
  const auto doubles = with_length(confut::to_bytes(std::vector<double>{1, 2}), huge);
  REQUIRE_THROWS_AS(confut::from_bytes<std::vector<double>>(doubles.data(), doubles.size()),
                    confut::DecodeError);
  const auto text = with_length(confut::to_bytes(std::string("abc")), 4);
  REQUIRE_THROWS_AS(confut::from_bytes<std::string>(text.data(), text.size()),
                    confut::DecodeError);
  const auto strings =
      with_length(confut::to_bytes(std::vector<std::string>{"a"}), ~std::uint64_t{0});
  REQUIRE_THROWS_AS(
      confut::from_bytes<std::vector<std::string>>(strings.data(), strings.size()),
      confut::DecodeError);
  const auto map = with_length(confut::to_bytes(std::map<int, int>{{1, 2}}), huge);
  REQUIRE_THROWS_AS((confut::from_bytes<std::map<int, int>>(map.data(), map.size())),
                    confut::DecodeError);
  const auto bits = with_length(confut::to_bytes(std::vector<bool>{true}), ~std::uint64_t{0});
  REQUIRE_THROWS_AS(confut::from_bytes<std::vector<bool>>(bits.data(), bits.size()),
                    confut::DecodeError);
  const auto unordered = with_length(confut::to_bytes(std::unordered_set<int>{1}), huge);
  REQUIRE_THROWS_AS(
      confut::from_bytes<std::unordered_set<int>>(unordered.data(), unordered.size()),
      confut::DecodeError);
}

TEST_CASE("a corrupt variant index, bool or optional flag throws DecodeError",
          "[serialization]") {
  using V = std::variant<int, std::string>;
  const auto index = with_length(confut::to_bytes(V{1}), 2);
  REQUIRE_THROWS_WITH(confut::from_bytes<V>(index.data(), index.size()),
                      Catch::Contains("variant index 2"));
  REQUIRE_THROWS_AS(confut::from_bytes<V>(index.data(), index.size()), confut::DecodeError);

  const std::byte two{2};
  REQUIRE_THROWS_AS(confut::from_bytes<bool>(&two, 1), confut::DecodeError);
  REQUIRE_THROWS_AS((confut::from_bytes<std::optional<std::uint8_t>>(&two, 1)),
                    confut::DecodeError);
}

TEST_CASE("from_bytes rejects bytes left over after the value", "[serialization]") {
  std::vector<std::byte> bytes = confut::to_bytes(7);
  bytes.push_back(std::byte{0});
  REQUIRE_THROWS_WITH(confut::from_bytes<int>(bytes.data(), bytes.size()),
                      Catch::Contains("left over"));
  REQUIRE_THROWS_AS(confut::from_bytes<int>(bytes.data(), bytes.size()), confut::DecodeError);
  REQUIRE(confut::from_bytes<int>(bytes.data(), bytes.size() - 1) == 7);
  REQUIRE_THROWS_AS(confut::from_bytes<std::tuple<>>(bytes.data(), 1), confut::DecodeError);
  REQUIRE(confut::from_bytes<std::tuple<>>(nullptr, 0) == std::tuple<>{});
}

TEST_CASE("a 100 MB vector<double> round-trips with its size and values intact",
          "[serialization]") {
  constexpr std::size_t count = 100'000'000 / sizeof(double);
  std::vector<double> values(count);
  values.front() = -1.0;
  values[count / 2] = 0.5;
  values.back() = 1e300;

  const std::vector<std::byte> bytes = confut::to_bytes(values);
  REQUIRE(bytes.size() == sizeof(std::uint64_t) + count * sizeof(double));
  const auto back = confut::from_bytes<std::vector<double>>(bytes.data(), bytes.size());
  REQUIRE(back.size() == count);
  REQUIRE(back.front() == -1.0);
  REQUIRE(back[1] == 0.0);
  REQUIRE(back[count / 2] == 0.5);
  REQUIRE(back.back() == 1e300);
  REQUIRE(std::memcmp(back.data(), values.data(), count * sizeof(double)) == 0);
}
