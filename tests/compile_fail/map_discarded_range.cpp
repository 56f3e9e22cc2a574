// expect: nodiscard.*a discarded range is destroyed at once, which cancels every call that has not started
// `ex.map(f, xs);` as a statement would run nothing: map() is lazy, and its range cancels
// the calls that have not started when it is destroyed, which a discarded range is at once.
// The range type is [[nodiscard]] with a message saying so. Compile-fail targets are built
// without -Werror, so this file makes that one warning an error itself.
#pragma GCC diagnostic error "-Wunused-result"

#include <confut/confut.hpp>

#include <vector>

int square(int x) { return x * x; }

int main() {
  confut::ThreadPoolExecutor ex(1);
  std::vector<int> xs{1, 2, 3};
  ex.map(square, xs);
}
