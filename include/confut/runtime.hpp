#pragma once
/// @file runtime.hpp
/// confut::Runtime: the object a program constructs first in main() so that confut can run
/// its own roles (a process pool's fork server; with confut/mpi.hpp, the worker ranks of an
/// MPI job)
/// in processes started from this same program, after all static initialization is done.
///
/// @code
/// #include <confut/confut.hpp>
///
/// int main(int argc, char** argv) {
///   confut::Runtime runtime(argc, argv);  // first: in a worker role this never returns
///   ...
/// }
/// @endcode

#include <atomic>

#include "errors.hpp"
#if defined(__linux__)
#include "detail/process/fork_server.hpp"  // detail::runtime_alive, and the fork server's entry
#else
namespace confut::detail {
inline std::atomic<bool> runtime_alive{false};
}  // namespace confut::detail
#endif

namespace confut::detail {
/// Roles that optional parts of confut add to Runtime (confut/mpi.hpp: the worker ranks of
/// an MPI job), so that the core never depends on them. Set during static initialization.
struct RuntimeRoles {
  void (*enter)(int& argc, char**& argv) = nullptr;  // may not return (a worker role)
  void (*leave)() = nullptr;                          // from ~Runtime()
};
inline RuntimeRoles& runtime_roles() noexcept {
  static RuntimeRoles roles;
  return roles;
}
}  // namespace confut::detail

namespace confut {

/// Lets confut enter its worker roles in processes that re-execute this program. A process
/// pool created while threads run starts its fork server by re-executing the program
/// (`/proc/self/exe`); with a Runtime, that process becomes the fork server inside this
/// constructor, after static initialization, so globals are right in the workers. Without
/// one it becomes the fork server from a static initializer, before main(), and the first
/// such pool says so on stderr.
///
/// Construct it first in main(), before anything with an effect outside the process (output,
/// files, threads): in a worker role the constructor does not return. In the program's own
/// process it does nothing else, so it is harmless where no process pool is ever created.
/// One per program: constructing a second while one exists throws confut::Error. Not
/// copyable, not movable.
class Runtime {
 public:
  /// `argc` and `argv` are main()'s; under an MPI launcher (with confut/mpi.hpp included),
  /// MPI_Init_thread may take its own arguments out of them.
  Runtime(int& argc, char**& argv) {
    if (detail::runtime_alive.exchange(true)) {
      throw Error(
          "confut: a second confut::Runtime was constructed while one exists; a program has "
          "one, constructed first in main()");
    }
    // The roles, in order; one that is entered never returns.
#if defined(__linux__)
    detail::enter_zygote_if_asked("runtime");  // a process pool's fork server
#endif
    if (detail::runtime_roles().enter != nullptr) {
      detail::runtime_roles().enter(argc, argv);  // confut/mpi.hpp: worker ranks stay there
    } else {
      (void)argc;
      (void)argv;
    }
  }

  ~Runtime() {
    if (detail::runtime_roles().leave != nullptr) detail::runtime_roles().leave();
    detail::runtime_alive.store(false);
  }

  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;
};

}  // namespace confut
