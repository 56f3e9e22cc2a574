// Smallest complete confut program: add two numbers on a thread pool.
#include <confut/confut.hpp>

int main() {
  confut::ThreadPoolExecutor ex;
  auto f = ex.submit([](int a, int b) { return a + b; }, 2, 3);
  return f.result() == 5 ? 0 : 1;
}
