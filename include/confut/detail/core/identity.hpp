#pragma once
// Who a task is: its id (unique across the executors of a process), its name (the callable's,
// looked up once per callable through a name key), and the names executors are given.

#include <atomic>
#include <cstdint>
#include <string>
#include <type_traits>

#if __has_include(<dlfcn.h>)
#include <dlfcn.h>
#define CONFUT_HAVE_DLADDR 1
#endif

#include "type_name.hpp"

namespace confut::detail {

/// "ThreadPoolExecutor 3": executors are numbered in the order they are created.
inline std::string next_executor_name(const char* kind) {
  static std::atomic<unsigned> created{0};
  return std::string(kind) + " " + std::to_string(created.fetch_add(1) + 1);
}

/// Ids of tasks, unique across all executors of the process (trace arrows may cross them).
/// Each thread takes ids in blocks, so that a submit does not pay for a shared counter
/// (an atomic read-modify-write was a seventh of W1's per-task cost).
inline std::uint64_t next_task_id() noexcept {
  constexpr std::uint64_t kBlock = 1024;
  static std::atomic<std::uint64_t> last{0};
  struct Block {
    std::uint64_t next = 0;
    std::uint64_t end = 0;
  };
  static thread_local Block block;  // trivially destructible: no guard on the fast path
  if (block.next == block.end) {
    block.next = last.fetch_add(kBlock, std::memory_order_relaxed) + 1;
    block.end = block.next + kBlock;
  }
  return block.next++;
}

/// The name of a function pointer's target where the symbol table has it, else its type.
template <class F>
std::string callable_name([[maybe_unused]] const void* function_address) {
#if defined(CONFUT_HAVE_DLADDR)
  if (function_address != nullptr) {
    Dl_info info{};
    if (dladdr(function_address, &info) != 0 && info.dli_sname != nullptr &&
        info.dli_saddr == function_address) {
      return demangle(info.dli_sname);
    }
  }
#endif
  return type_name<F>();
}

template <class F>
inline constexpr bool is_function_pointer_v =
    std::is_pointer_v<F> && std::is_function_v<std::remove_pointer_t<F>>;

/// One distinct address per type: a cheap key for the name of a callable type.
template <class F>
inline constexpr char type_tag = 0;

}  // namespace confut::detail
