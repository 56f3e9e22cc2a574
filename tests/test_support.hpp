#pragma once
// Small tools shared by the tests: a gate that holds tasks until a test opens it, and a wait
// for a process pool's workers.

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <future>
#include <thread>

namespace confut_test {

/// True under AddressSanitizer or ThreadSanitizer: stress counts are scaled down there, and
/// tests that limit the address space are skipped.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
inline constexpr bool kSanitized = true;
#else
inline constexpr bool kSanitized = false;
#endif
#else
inline constexpr bool kSanitized = false;
#endif

/// Tasks call wait(); they block until the test calls open(). Copies share one gate.
class Gate {
 public:
  Gate() : opened_(promise_->get_future().share()) {}
  void open() {
    if (!is_open_) {
      promise_->set_value();
      is_open_ = true;
    }
  }
  void wait() const { opened_.wait(); }
  /// A callable for submit: blocks until the gate opens, then returns `value`.
  auto returning(int value) const {
    return [opened = opened_, value] {
      opened.wait();
      return value;
    };
  }

 private:
  std::shared_ptr<std::promise<void>> promise_ = std::make_shared<std::promise<void>>();
  std::shared_future<void> opened_;
  bool is_open_ = false;
};

/// The threads of this process now (Linux).
inline std::size_t thread_count() {
  std::size_t count = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/task")) {
    ++count;
  }
  return count;
}

inline int ident(int i) { return i; }
inline int inc(int x) { return x + 1; }
inline int dbl(int x) { return 2 * x; }
inline int add(int a, int b) { return a + b; }

using namespace std::chrono_literals;

/// Waits up to 5 s for a process pool to have `count` workers (they start, and dead ones are
/// replaced, in the background); returns the pids it has then.
template <class ProcessPool>
auto wait_for_workers(const ProcessPool& pool, std::size_t count) {
  for (int i = 0; i < 500 && pool.worker_pids().size() != count; ++i) {
    std::this_thread::sleep_for(10ms);
  }
  return pool.worker_pids();
}

}  // namespace confut_test
