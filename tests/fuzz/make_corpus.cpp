// Writes the fuzzer's seed corpus: a few real values of each type in fuzz_types.hpp, encoded,
// one file each, as <dir>/<type>/<n>. The files are committed in tests/fuzz/corpus/; run
// this again (tests/fuzz/run.sh --make-corpus) after changing the types or the format.

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "fuzz_types.hpp"

namespace {

using namespace confut_fuzz;

template <class T>
std::vector<T> seeds();

template <>
std::vector<std::int64_t> seeds() {
  return {0, -1, std::numeric_limits<std::int64_t>::min(), 42};
}
template <>
std::vector<std::string> seeds() {
  return {"", "hello", std::string("a\0b", 3), std::string(100, 'x')};
}
template <>
std::vector<std::vector<double>> seeds() {
  return {{}, {1.5}, {0.0, -2.25, 1e300, std::numeric_limits<double>::quiet_NaN()}};
}
template <>
std::vector<std::vector<std::vector<std::int32_t>>> seeds() {
  return {{}, {{}}, {{1, 2, 3}, {}, {4}}};
}
template <>
std::vector<std::vector<bool>> seeds() {
  return {{}, {true}, {true, false, true, true, false, false, true, false, true}};
}
template <>
std::vector<std::map<std::string, std::int32_t>> seeds() {
  return {{}, {{"a", 1}}, {{"", -1}, {"key", 7}, {"zz", 1 << 30}}};
}
template <>
std::vector<std::unordered_map<std::int32_t, std::vector<std::uint8_t>>> seeds() {
  return {{}, {{1, {}}}, {{2, {1, 2, 3}}, {-5, {255}}}};
}
template <>
std::vector<std::set<std::int16_t>> seeds() {
  return {{}, {7}, {-3, 0, 9, 1000}};
}
template <>
std::vector<std::optional<std::string>> seeds() {
  return {std::nullopt, std::string(), std::string("some")};
}
template <>
std::vector<Variant> seeds() {
  return {Variant(5), Variant(std::string("text")), Variant(std::vector<double>{1, 2}),
          Variant(std::monostate{})};
}
template <>
std::vector<Tuple> seeds() {
  return {Tuple{false, 0, "", std::nullopt, Level::low},
          Tuple{true, -7, "tuple", 3.25, Level::high}};
}
template <>
std::vector<Record> seeds() {
  return {Record{}, Record{7, "record", {1, 2.5}, Level::middle, {{1, true}, {3, false}},
                           {-2, 99}}};
}
template <>
std::vector<EmptyElements> seeds() {
  return {EmptyElements{},
          EmptyElements{std::vector<std::monostate>(3), std::vector<Empty>(2), {std::monostate{}},
                        std::vector<std::tuple<>>(5)}};
}
template <>
std::vector<BigOptionals> seeds() {
  BigOptionals some(3);
  some[1].emplace();
  (*some[1])[0] = 1.0;
  (*some[1])[511] = -1.0;
  return {{}, BigOptionals(4), some};
}
template <>
std::vector<Node> seeds() {
  Node deep{0, {}};
  for (int i = 1; i < 20; ++i) deep = Node{i, {std::move(deep)}};
  Node deepest{0, {}};  // at the default nesting limit: mutations probe past it
  for (int i = 1; i < 512; ++i) deepest = Node{i, {std::move(deepest)}};
  return {Node{}, Node{1, {Node{2, {}}, Node{3, {Node{4, {}}}}}}, deep, deepest};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <corpus dir>\n", argv[0]);
    return 2;
  }
  const std::filesystem::path root = argv[1];
  int files = 0;
  for_each_type([&]<class T>(const char* name, RoundTrip) {
    const auto dir = root / name;
    std::filesystem::create_directories(dir);
    int n = 0;
    for (const T& value : seeds<T>()) {
      const std::vector<std::byte> bytes = confut::to_bytes(value);
      std::ofstream out(dir / std::to_string(n++), std::ios::binary);
      out.write(reinterpret_cast<const char*>(bytes.data()),
                static_cast<std::streamsize>(bytes.size()));
      ++files;
    }
  });
  std::printf("make_corpus: %d files in %s\n", files, root.c_str());
  return 0;
}
