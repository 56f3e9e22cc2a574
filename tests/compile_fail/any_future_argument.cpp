// expect: an AnyFuture has no typed value to pass as an argument
// Futures given as arguments are replaced by their values; an AnyFuture has no typed value.
#include <confut/confut.hpp>

int main() {
  confut::ThreadPoolExecutor ex;
  confut::AnyFuture any = ex.submit([] { return 1; });
  auto f = ex.submit([](int x) { return x; }, any);
  return f.result();
}
