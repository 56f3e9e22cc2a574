// expect: (cannot_be_sent_to_another_process<int ?\*>.*cannot be sent to another process|cannot be sent to another process.*cannot_be_sent_to_another_process<int ?\*>)
// A raw pointer cannot go to another process: the address means nothing there. The error
// must say so and name the type (g++ prints the instantiation before the message, clang
// after it, hence both orders; CMake's `.` also matches newlines).
#include <confut/serialization.hpp>

int main() {
  int x = 1;
  int* p = &x;
  confut::WireWriter w;
  confut::encode(w, p);
}
