// expect: (cannot_be_sent_to_another_process<Job, confut::detail::because_it_contains<const char ?\*> ?>.*cannot be sent to another process|cannot be sent to another process.*cannot_be_sent_to_another_process<Job, confut::detail::because_it_contains<const char ?\*> ?>)
// An aggregate is sendable only if all its members are. The error must name both the
// aggregate and the member type at fault (the message itself mentions `const char*` too,
// so the regex looks for the type in the instantiation's template arguments).
#include <confut/serialization.hpp>

struct Job {
  int id;
  const char* name;
};

int main() {
  confut::WireWriter w;
  w.write(Job{1, "build"});
}
