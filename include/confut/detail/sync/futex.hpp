#pragma once
// Linux futexes: sleep while a 32-bit word holds a value, and wake a sleeper on it. Words in
// memory shared between processes need the plain calls; a word only this process sees takes
// the cheaper private ones (FUTEX_PRIVATE_FLAG: no lookup of the memory's owner).

#include <atomic>
#include <chrono>
#include <cstdint>

#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

namespace confut::detail {

enum class FutexScope { shared_memory, this_process };

/// Sleeps while `word == expected`, at most `timeout` (max(): no limit). May return early
/// (a wake-up, a signal, or the word already changed): callers re-check in a loop.
inline void futex_wait(std::atomic<std::uint32_t>& word, std::uint32_t expected,
                       std::chrono::nanoseconds timeout = std::chrono::nanoseconds::max(),
                       FutexScope scope = FutexScope::shared_memory) {
  timespec relative{};
  timespec* limit = nullptr;
  if (timeout != std::chrono::nanoseconds::max()) {
    if (timeout.count() <= 0) return;
    relative.tv_sec = static_cast<time_t>(timeout.count() / 1'000'000'000);
    relative.tv_nsec = static_cast<long>(timeout.count() % 1'000'000'000);
    limit = &relative;
  }
  const int op = scope == FutexScope::this_process ? FUTEX_WAIT_PRIVATE : FUTEX_WAIT;
  ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), op, expected, limit, nullptr, 0);
}

/// Wakes one thread sleeping on `word` (in any process that maps it, for shared_memory).
inline void futex_wake(std::atomic<std::uint32_t>& word,
                       FutexScope scope = FutexScope::shared_memory) {
  const int op = scope == FutexScope::this_process ? FUTEX_WAKE_PRIVATE : FUTEX_WAKE;
  ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), op, 1, nullptr, nullptr, 0);
}

}  // namespace confut::detail
