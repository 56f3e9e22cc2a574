#pragma once
// A lock word for sections of a few instructions that never wait inside (a task's claim,
// a dependency block): cheaper than a mutex, and small enough to sit in every task.

#include <atomic>

#include "cpu_relax.hpp"

namespace confut::detail {

class SpinLock {
 public:
  void lock() noexcept {
    while (flag_.test_and_set(std::memory_order_acquire)) cpu_relax();
  }
  void unlock() noexcept { flag_.clear(std::memory_order_release); }

 private:
  std::atomic_flag flag_;
};

/// Holds a SpinLock for a scope (std::lock_guard without the <mutex> include).
class SpinGuard {
 public:
  explicit SpinGuard(SpinLock& lock) noexcept : lock_(lock) { lock_.lock(); }
  ~SpinGuard() { lock_.unlock(); }
  SpinGuard(const SpinGuard&) = delete;
  SpinGuard& operator=(const SpinGuard&) = delete;

 private:
  SpinLock& lock_;
};

}  // namespace confut::detail
