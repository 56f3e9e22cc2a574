// expect: a future holds a value, not a reference
// Future<T&> is refused with a sentence (a callable returning T& gives a Future<T>).
#include <confut/confut.hpp>

int main() {
  confut::Future<int&> f;
  return f.valid() ? 1 : 0;
}
