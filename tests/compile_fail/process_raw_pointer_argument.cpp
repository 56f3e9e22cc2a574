// expect: (cannot_be_sent_to_another_process.*int ?\*|int ?\*.*cannot_be_sent_to_another_process)
// A pointer argument would point into the parent's memory: submitting one to a
// ProcessPoolExecutor must fail to compile, naming the pointer type.
#include <confut/confut.hpp>

int read_value(int* p) { return *p; }

int main() {
  confut::ProcessPoolExecutor ex(1);
  int value = 3;
  auto f = ex.submit(read_value, &value);
  return f.result();
}
