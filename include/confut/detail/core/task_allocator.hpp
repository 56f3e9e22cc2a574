#pragma once
// Recycles the memory of shared states (tasks and plain futures' states).
//
// Why: a program that submits N small tasks and later drops their futures makes malloc grow
// the heap by ~N * 128 bytes and, once they are all freed, hand the memory back to the OS
// (glibc trims the top of the heap); the next burst then page-faults every page in again.
// On a VM a page fault costs microseconds, more than everything else a task costs (W1 with
// 200,000 tasks: ~5,500 faults and ~700 ns per task; ~140 ns without the trim). Keeping the
// freed blocks for the next tasks saves the faults and most of malloc's work.
//
// Design: Bonwick's magazines (USENIX 2001). Blocks come in size classes 16 bytes apart up
// to kMaxBlockSize; larger objects go to operator new. Each thread holds two magazines (short
// free lists) per class and allocates and frees there without synchronisation. A full
// magazine goes to the depot, a mutex-protected stack shared by all threads; an empty one is
// refilled from it. So a block freed by another thread than the one that allocated it (a
// worker drops a task that the submitting thread made) comes back by way of the depot.
//
// Bounds: a thread holds at most 2 * kMagazineBlocks blocks per class, and hands them to the
// depot when it exits. The depot keeps at most kMaxDepotBytes. Whenever a thread visits it
// and a kDecayPeriod has passed, it gives back to operator delete what no thread needed
// during the whole period (the lowest level it had), so that the memory of one large burst
// does not stay cached while the program goes on with less.

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <new>
#include <utility>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#define CONFUT_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CONFUT_ASAN 1
#endif
#endif

#if defined(CONFUT_ASAN)
#include <sanitizer/asan_interface.h>
#endif

namespace confut::detail {

class TaskAllocator {
 public:
  /// Block sizes are 8, 24, 40, ...: glibc's malloc adds an 8-byte header and rounds to 16,
  /// so such a block fills its malloc chunk exactly (a 104-byte task takes 112 bytes).
  static constexpr std::size_t kClasses = 32;
  static constexpr std::size_t kGranularity = 16;
  /// Objects up to this size (504 bytes) are recycled; larger ones use operator new directly.
  static constexpr std::size_t kMaxBlockSize = (kClasses - 1) * kGranularity + 8;
  /// Blocks in a full magazine: a thread visits the depot about once per this many calls.
  static constexpr std::uint32_t kMagazineBlocks = 64;
  static constexpr std::size_t kMaxDepotBytes = std::size_t{64} << 20;
  static constexpr auto kDecayPeriod = std::chrono::seconds(1);

  static void* allocate(std::size_t size) {
    if (size > kMaxBlockSize) return ::operator new(size);
    const std::size_t index = class_index(size);
    ThreadCache& cache = thread_cache;
    if (!cache.usable()) return ::operator new(class_size(index));
    ClassCache& magazines = cache.classes[index];
    if (magazines.loaded.empty()) {
      if (magazines.previous.full()) {
        std::swap(magazines.loaded, magazines.previous);
      } else {
        magazines.loaded = depot().take(index);
        if (magazines.loaded.empty()) return ::operator new(class_size(index));
      }
    }
    return magazines.loaded.pop(class_size(index));
  }

  static void deallocate(void* pointer, std::size_t size) noexcept {
    if (size > kMaxBlockSize) {
      ::operator delete(pointer);
      return;
    }
    const std::size_t index = class_index(size);
    ThreadCache& cache = thread_cache;
    if (!cache.usable()) {
      ::operator delete(pointer);
      return;
    }
    ClassCache& magazines = cache.classes[index];
    if (magazines.loaded.full()) {
      if (!magazines.previous.full()) {
        std::swap(magazines.loaded, magazines.previous);
      } else {
        depot().put(index, magazines.previous);
        magazines.previous = std::exchange(magazines.loaded, Magazine{});
      }
    }
    magazines.loaded.push(pointer, class_size(index));
  }

  /// The size of the block that holds an object of `size` bytes; for tests.
  static constexpr std::size_t block_size(std::size_t size) noexcept {
    return size > kMaxBlockSize ? size : class_size(class_index(size));
  }
  /// Blocks held by the depot (all classes); for tests.
  static std::size_t depot_bytes() { return depot().bytes(); }
  /// Gives every block in the depot back to operator delete; for tests.
  static void release_depot() { depot().release_all(); }

 private:
  static constexpr std::size_t class_index(std::size_t size) noexcept {
    return size <= 8 ? 0 : (size - 8 + kGranularity - 1) / kGranularity;
  }
  static constexpr std::size_t class_size(std::size_t index) noexcept {
    return index * kGranularity + 8;
  }

  /// A free block holds the link to the next one; the rest of it is poisoned under ASan, so
  /// that most uses of a task after free are still reported.
  struct FreeBlock {
    FreeBlock* next;
  };

  /// A free list of at most kMagazineBlocks blocks.
  struct Magazine {
    FreeBlock* head = nullptr;
    std::uint32_t count = 0;

    bool empty() const noexcept { return count == 0; }
    bool full() const noexcept { return count == kMagazineBlocks; }
    void push(void* pointer, std::size_t block_size) noexcept {
      auto* block = static_cast<FreeBlock*>(pointer);
      block->next = head;
      poison(block, block_size);
      head = block;
      ++count;
    }
    void* pop(std::size_t block_size) noexcept {
      FreeBlock* block = head;
      unpoison(block, block_size);
      head = block->next;
      --count;
      return block;
    }
  };

  struct ClassCache {
    Magazine loaded;
    Magazine previous;
  };

  /// Trivially destructible and constant-initialised, so that the fast path reads it without
  /// a thread_local guard; ThreadCacheFlusher empties it when the thread exits.
  struct ThreadCache {
    std::array<ClassCache, kClasses> classes{};
    bool flusher_registered = false;
    bool exited = false;  // the thread's destructors ran: blocks go straight to the heap

    bool usable() {
      if (!flusher_registered) register_flusher();
      return !exited;
    }
    void register_flusher();
  };

  struct ThreadCacheFlusher {
    ~ThreadCacheFlusher() {
      ThreadCache& cache = thread_cache;
      for (std::size_t index = 0; index < kClasses; ++index) {
        depot().put(index, cache.classes[index].loaded);
        depot().put(index, cache.classes[index].previous);
      }
      cache.exited = true;
    }
  };

  /// Magazines handed in by every thread, full ones and (from exiting threads) partial ones.
  class Depot {
   public:
    /// A magazine with some blocks, or an empty one when the depot has none of this class.
    Magazine take(std::size_t index) {
      std::lock_guard lock(mutex_);
      decay_if_due();
      Shelf& shelf = shelves_[index];
      if (shelf.magazines.empty()) return Magazine{};
      const Magazine magazine = shelf.magazines.back();
      shelf.magazines.pop_back();
      shelf.lowest = std::min(shelf.lowest, shelf.magazines.size());
      bytes_ -= magazine.count * class_size(index);
      return magazine;
    }

    /// Takes the magazine's blocks (leaving it empty), or frees them when the depot is full.
    void put(std::size_t index, Magazine& magazine) noexcept {
      if (magazine.empty()) return;
      const std::size_t magazine_bytes = magazine.count * class_size(index);
      {
        std::lock_guard lock(mutex_);
        decay_if_due();
        if (bytes_ + magazine_bytes <= kMaxDepotBytes) {
          try {
            shelves_[index].magazines.push_back(magazine);
            bytes_ += magazine_bytes;
            magazine = Magazine{};
            return;
          } catch (const std::bad_alloc&) {
            // no room to note it down: free its blocks instead
          }
        }
      }
      free_blocks(magazine, index);
    }

    std::size_t bytes() {
      std::lock_guard lock(mutex_);
      return bytes_;
    }

    void release_all() noexcept {
      std::lock_guard lock(mutex_);
      for (std::size_t index = 0; index < kClasses; ++index) {
        release(index, shelves_[index].magazines.size());
      }
    }

   private:
    struct Shelf {
      std::vector<Magazine> magazines;
      std::size_t lowest = 0;  // the fewest magazines held at any time in this period
    };

    /// Once a period has passed, what sat unused through all of it goes back to the heap.
    void decay_if_due() noexcept {
      const auto now = std::chrono::steady_clock::now();
      if (now < period_end_) return;
      for (std::size_t index = 0; index < kClasses; ++index) {
        release(index, shelves_[index].lowest);
        shelves_[index].lowest = shelves_[index].magazines.size();
      }
      period_end_ = now + kDecayPeriod;
    }

    void release(std::size_t index, std::size_t count) noexcept {
      Shelf& shelf = shelves_[index];
      for (; count > 0 && !shelf.magazines.empty(); --count) {
        Magazine magazine = shelf.magazines.back();
        shelf.magazines.pop_back();
        bytes_ -= magazine.count * class_size(index);
        free_blocks(magazine, index);
      }
      shelf.lowest = std::min(shelf.lowest, shelf.magazines.size());
    }

    static void free_blocks(Magazine& magazine, std::size_t index) noexcept {
      while (!magazine.empty()) ::operator delete(magazine.pop(class_size(index)));
    }

    std::mutex mutex_;
    std::array<Shelf, kClasses> shelves_{};
    std::size_t bytes_ = 0;
    std::chrono::steady_clock::time_point period_end_{};
  };

  /// Never destroyed: threads may free blocks while static destructors run. The blocks it
  /// holds at exit stay reachable from here, so leak checkers do not report them.
  static Depot& depot() {
    static Depot* const instance = new Depot;
    return *instance;
  }

  static void poison([[maybe_unused]] void* block, [[maybe_unused]] std::size_t size) noexcept {
#if defined(CONFUT_ASAN)
    if (size > sizeof(FreeBlock)) {
      ASAN_POISON_MEMORY_REGION(static_cast<char*>(block) + sizeof(FreeBlock),
                                size - sizeof(FreeBlock));
    }
#endif
  }
  static void unpoison([[maybe_unused]] void* block, [[maybe_unused]] std::size_t size) noexcept {
#if defined(CONFUT_ASAN)
    ASAN_UNPOISON_MEMORY_REGION(block, size);
#endif
  }

  static thread_local ThreadCache thread_cache;
  static thread_local ThreadCacheFlusher thread_cache_flusher;
};

inline thread_local constinit TaskAllocator::ThreadCache TaskAllocator::thread_cache{};
inline thread_local TaskAllocator::ThreadCacheFlusher TaskAllocator::thread_cache_flusher;

inline void TaskAllocator::ThreadCache::register_flusher() {
  flusher_registered = true;
  // Naming the thread_local constructs it, which registers its destructor for this thread.
  [[maybe_unused]] ThreadCacheFlusher& flusher = thread_cache_flusher;
}

}  // namespace confut::detail
