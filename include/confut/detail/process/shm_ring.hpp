#pragma once
// A single-producer, single-consumer ring of messages in memory shared between two processes
// (or two threads), with a spin-then-sleep hand-off: a consumer with nothing to read spins
// briefly, then announces that it sleeps and sleeps on a futex word in the shared memory. The
// producer makes a wake-up system call only when the consumer has announced it sleeps.

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "../../errors.hpp"
#include "../sync/futex.hpp"
#include "../sync/spin_wait.hpp"

namespace confut::detail {

// The ring's control words are used by two processes at once through their own mappings:
// that needs atomics that are lock-free (so address-free).
static_assert(std::atomic<std::uint64_t>::is_always_lock_free);
static_assert(std::atomic<std::uint32_t>::is_always_lock_free);

/// The shared part of a ring: positions and the sleep flag, each on its own cache line so
/// that producer and consumer do not contend for one line. Zero-filled memory is a valid,
/// empty ring.
struct RingControl {
  /// Bytes ever written; only the producer stores it.
  alignas(64) std::atomic<std::uint64_t> tail{0};
  /// Bytes ever read; only the consumer stores it.
  alignas(64) std::atomic<std::uint64_t> head{0};
  /// 1 while the consumer sleeps (or is about to); the futex word it sleeps on.
  alignas(64) std::atomic<std::uint32_t> sleeping{0};
};

/// A view of one ring: the control words and `capacity` data bytes (a power of two), both
/// in memory the caller owns. Messages are stored as [u64 size][size bytes], possibly
/// wrapping around the end of the data. One thread (or process) pushes, one pops.
class ShmRing {
 public:
  static constexpr std::size_t kHeader = sizeof(std::uint64_t);

  ShmRing() = default;
  ShmRing(RingControl* control, std::byte* data, std::size_t capacity) noexcept
      : control_(control), data_(data), capacity_(capacity) {}

  std::size_t capacity() const noexcept { return capacity_; }

  // ---- producer side ----

  /// Appends one message if it fits whole in the free space now; false otherwise (nothing
  /// written). The consumer sees it at once; call take_sleeper() afterwards.
  bool try_push(const std::byte* payload, std::size_t size) noexcept {
    const std::uint64_t tail = control_->tail.load(std::memory_order_relaxed);
    const std::uint64_t head = control_->head.load(std::memory_order_acquire);
    if (capacity_ - (tail - head) < kHeader + size) return false;
    const std::uint64_t length = size;
    copy_in(tail, reinterpret_cast<const std::byte*>(&length), kHeader);
    copy_in(tail + kHeader, payload, size);
    // seq_cst, with the sleep flag's: either the consumer sees this message after
    // announcing its sleep, or take_sleeper() sees the announcement (no lost wake-up).
    control_->tail.store(tail + kHeader + size, std::memory_order_seq_cst);
    return true;
  }

  /// True when a message of `size` bytes can never fit, however much is read.
  bool too_large(std::size_t size) const noexcept { return kHeader + size > capacity_; }

  /// After pushing: true when the consumer announced that it sleeps (and clears that, so
  /// that only one wake-up is made). The caller then wakes it: wake_consumer(), or by
  /// whatever the consumer sleeps on.
  bool take_sleeper() noexcept {
    if (control_->sleeping.load(std::memory_order_seq_cst) == 0) return false;
    return control_->sleeping.exchange(0, std::memory_order_seq_cst) != 0;
  }

  void wake_consumer() noexcept { futex_wake(control_->sleeping); }

  // ---- consumer side ----

  bool empty() const noexcept {
    return control_->tail.load(std::memory_order_seq_cst) ==
           control_->head.load(std::memory_order_relaxed);
  }

  /// Takes the next message into `out` (resized to fit); false when there is none.
  bool pop(std::vector<std::byte>& out) {
    const std::uint64_t head = control_->head.load(std::memory_order_relaxed);
    const std::uint64_t tail = control_->tail.load(std::memory_order_acquire);
    if (tail == head) return false;
    std::uint64_t length = 0;
    copy_out(head, reinterpret_cast<std::byte*>(&length), kHeader);
    out.resize(static_cast<std::size_t>(length));
    copy_out(head + kHeader, out.data(), out.size());
    control_->head.store(head + kHeader + length, std::memory_order_release);
    return true;
  }

  /// Announces that the consumer is about to sleep. False when a message came in meanwhile
  /// (the announcement is withdrawn then): do not sleep.
  bool prepare_sleep() noexcept {
    control_->sleeping.store(1, std::memory_order_seq_cst);
    if (!empty()) {
      control_->sleeping.store(0, std::memory_order_relaxed);
      return false;
    }
    return true;
  }

  /// Sleeps after prepare_sleep() until woken, or at most `timeout`.
  void sleep(std::chrono::nanoseconds timeout = std::chrono::nanoseconds::max()) noexcept {
    futex_wait(control_->sleeping, 1, timeout);
  }

  /// Withdraws the announcement (after a sleep, or instead of one).
  void end_sleep() noexcept { control_->sleeping.store(0, std::memory_order_relaxed); }

  /// Waits for a message: spins for `spin`, then sleeps (each sleep at most `timeout`).
  /// Returns false when a sleep timed out with the ring still empty.
  bool wait(std::chrono::nanoseconds spin,
            std::chrono::nanoseconds timeout = std::chrono::nanoseconds::max()) noexcept {
    if (spin_until_ready(spin)) return true;
    if (prepare_sleep()) sleep(timeout);
    end_sleep();
    return !empty();
  }

  /// Spins until a message is there or `spin` passed.
  bool spin_until_ready(std::chrono::nanoseconds spin) const noexcept {
    return spin_until([this] { return !empty(); }, std::chrono::steady_clock::now() + spin,
                      SpinYield::every_32_looks);
  }

 private:
  void copy_in(std::uint64_t position, const std::byte* from, std::size_t size) noexcept {
    if (size == 0) return;
    const std::size_t offset = static_cast<std::size_t>(position & (capacity_ - 1));
    const std::size_t first = std::min(size, capacity_ - offset);
    std::memcpy(data_ + offset, from, first);
    if (first < size) std::memcpy(data_, from + first, size - first);
  }

  void copy_out(std::uint64_t position, std::byte* to, std::size_t size) const noexcept {
    if (size == 0) return;
    const std::size_t offset = static_cast<std::size_t>(position & (capacity_ - 1));
    const std::size_t first = std::min(size, capacity_ - offset);
    std::memcpy(to, data_ + offset, first);
    if (first < size) std::memcpy(to + first, data_, size - first);
  }

  RingControl* control_ = nullptr;
  std::byte* data_ = nullptr;
  std::size_t capacity_ = 0;
};

/// A MAP_SHARED mapping of a memfd, unmapped on destruction. The descriptor can be passed to
/// another process (SCM_RIGHTS), which maps the same memory with attach().
class SharedMemory {
 public:
  SharedMemory() = default;

  /// A new zero-filled region of `size` bytes; throws Error on failure.
  static SharedMemory create(std::size_t size) {
    const int fd = ::memfd_create("confut-worker", MFD_CLOEXEC);
    if (fd < 0) throw Error(std::string("confut: memfd_create failed: ") + std::strerror(errno));
    if (::ftruncate(fd, static_cast<off_t>(size)) != 0) {
      const int error = errno;
      ::close(fd);
      throw Error(std::string("confut: ftruncate failed: ") + std::strerror(error));
    }
    SharedMemory memory = attach(fd, size);
    if (memory.data() == nullptr) {
      const int error = errno;
      ::close(fd);
      throw Error(std::string("confut: mmap failed: ") + std::strerror(error));
    }
    memory.fd_ = fd;
    return memory;
  }

  /// Maps `size` bytes of the memfd `fd` (not taken over); data() is null on failure.
  static SharedMemory attach(int fd, std::size_t size) noexcept {
    SharedMemory memory;
    void* address = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (address == MAP_FAILED) return memory;
    memory.data_ = static_cast<std::byte*>(address);
    memory.size_ = size;
    return memory;
  }

  SharedMemory(SharedMemory&& other) noexcept
      : data_(std::exchange(other.data_, nullptr)),
        size_(std::exchange(other.size_, 0)),
        fd_(std::exchange(other.fd_, -1)) {}

  SharedMemory& operator=(SharedMemory&& other) noexcept {
    if (this != &other) {
      reset();
      data_ = std::exchange(other.data_, nullptr);
      size_ = std::exchange(other.size_, 0);
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }

  SharedMemory(const SharedMemory&) = delete;
  SharedMemory& operator=(const SharedMemory&) = delete;
  ~SharedMemory() { reset(); }

  std::byte* data() const noexcept { return data_; }
  std::size_t size() const noexcept { return size_; }
  /// The memfd (created regions only, until close_fd()); -1 otherwise.
  int fd() const noexcept { return fd_; }

  /// The mapping stays; only the descriptor goes (once it has been passed on).
  void close_fd() noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  void reset() noexcept {
    close_fd();
    if (data_ != nullptr) ::munmap(data_, size_);
    data_ = nullptr;
    size_ = 0;
  }

 private:
  std::byte* data_ = nullptr;
  std::size_t size_ = 0;
  int fd_ = -1;
};

}  // namespace confut::detail
