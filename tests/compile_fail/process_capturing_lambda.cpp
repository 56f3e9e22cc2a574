// expect: (callable_cannot_be_sent_to_another_process.*cannot be sent to another process|cannot be sent to another process.*callable_cannot_be_sent_to_another_process)
// A capturing lambda holds state that means nothing in another process: submitting one to
// a ProcessPoolExecutor must fail to compile, naming the lambda's type.
#include <confut/confut.hpp>

int main() {
  confut::ProcessPoolExecutor ex(1);
  int offset = 3;
  auto f = ex.submit([offset](int x) { return x + offset; }, 1);
  return f.result();
}
