// libFuzzer harness over confut's decoder (include/confut/serialization.hpp).
//
// CONFUT_FUZZ_TYPE=<name> (see fuzz_types.hpp) fuzzes one type with the whole input; without
// it, the first input byte chooses the type. For every input:
// - decoding throws confut::DecodeError or nothing: any other exception, a crash, a sanitizer
//   report, a hang or an allocation past libFuzzer's limit is a finding;
// - a value that decodes re-encodes, those bytes decode again, and the round trip keeps what
//   the type's RoundTrip (fuzz_types.hpp) promises.
// Build and run: tests/fuzz/run.sh.

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "fuzz_types.hpp"

namespace {

struct NamedTarget;
using Target = void (*)(const std::byte*, std::size_t, const NamedTarget&);

struct NamedTarget {
  const char* name;
  confut_fuzz::RoundTrip round_trip;
  Target run;
};

[[noreturn]] void finding(const char* type, const char* what) {
  std::fprintf(stderr, "fuzz_decoder: %s: %s\n", type, what);
  std::abort();
}

template <class T>
void decode_one(const std::byte* data, std::size_t size, const NamedTarget& target) {
  const char* const name = target.name;
  T value{};
  try {
    value = confut::from_bytes<T>(data, size);
  } catch (const confut::DecodeError&) {
    return;  // the one error the decoder may throw; anything else escapes and aborts
  }
  using confut_fuzz::RoundTrip;
  const std::vector<std::byte> encoded = confut::to_bytes(value);
  const bool same_as_input =
      encoded.size() == size && (size == 0 || std::memcmp(encoded.data(), data, size) == 0);
  if (target.round_trip == RoundTrip::exact && !same_as_input) {
    finding(name, "the decoded value encodes to other bytes than the input");
  }
  T again{};
  try {
    again = confut::from_bytes<T>(encoded.data(), encoded.size());
  } catch (const confut::DecodeError& e) {
    std::fprintf(stderr, "%s\n", e.what());
    finding(name, "the re-encoded value does not decode");
  }
  if constexpr (std::equality_comparable<T>) {
    if (target.round_trip == RoundTrip::unordered && !(again == value)) {
      finding(name, "the re-encoded value decodes to another value");
    }
  }
  if (target.round_trip != RoundTrip::unordered && confut::to_bytes(again) != encoded) {
    finding(name, "decoding the re-encoded value and encoding it again changes the bytes");
  }
}

std::vector<NamedTarget> make_targets() {
  std::vector<NamedTarget> targets;
  confut_fuzz::for_each_type([&]<class T>(const char* name, confut_fuzz::RoundTrip round_trip) {
    targets.push_back({name, round_trip, &decode_one<T>});
  });
  return targets;
}

const std::vector<NamedTarget>& targets() {
  static const std::vector<NamedTarget> all = make_targets();
  return all;
}

const NamedTarget* chosen = nullptr;

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const char* type = std::getenv("CONFUT_FUZZ_TYPE");
  if (type == nullptr || *type == '\0') return 0;
  for (const NamedTarget& target : targets()) {
    if (std::strcmp(target.name, type) == 0) chosen = &target;
  }
  if (chosen == nullptr) {
    std::fprintf(stderr, "fuzz_decoder: unknown CONFUT_FUZZ_TYPE '%s'; the types are:", type);
    for (const NamedTarget& target : targets()) std::fprintf(stderr, " %s", target.name);
    std::fprintf(stderr, "\n");
    std::exit(2);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto* bytes = reinterpret_cast<const std::byte*>(data);
  if (chosen != nullptr) {
    chosen->run(bytes, size, *chosen);
  } else if (size > 0) {
    const NamedTarget& target = targets()[data[0] % targets().size()];
    target.run(bytes + 1, size - 1, target);
  }
  return 0;
}
