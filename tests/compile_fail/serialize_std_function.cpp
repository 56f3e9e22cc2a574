// expect: (cannot_be_sent_to_another_process<std::function<int ?\(int\)> ?>.*cannot be sent to another process|cannot be sent to another process.*cannot_be_sent_to_another_process<std::function<int ?\(int\)> ?>)
// A std::function holds code and captured state that stay in this process. The error must
// say so and name the type.
#include <confut/serialization.hpp>

#include <functional>

int main() {
  std::function<int(int)> f = [](int i) { return i + 1; };
  std::vector<std::byte> bytes = confut::to_bytes(f);
  return static_cast<int>(bytes.size());
}
