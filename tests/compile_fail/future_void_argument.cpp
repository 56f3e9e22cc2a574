// expect: Future<void> carries no value
// A Future<void> passed as an argument is unwrapped to its value before the
// call, and it has none to give.
#include <confut/confut.hpp>

int main() {
  confut::ThreadPoolExecutor ex;
  confut::Future<void> v = ex.submit([] {});
  auto f = ex.submit([](int) { return 1; }, v);
  return f.result();
}
