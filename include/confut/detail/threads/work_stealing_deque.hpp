#pragma once
// A Chase-Lev work-stealing deque: the owning worker pushes and pops at the bottom (newest
// first, cache-warm), other workers steal from the top (oldest first).
//
// The memory orders follow Le, Pop, Cohen and Zappa Nardelli, "Correct and Efficient
// Work-Stealing for Weak Memory Models" (PPoPP 2013), with the seq_cst fences folded into
// seq_cst accesses so that ThreadSanitizer, which does not model fences, understands it.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace confut::detail {

template <class T>
class WorkStealingDeque {
  static_assert(std::is_pointer_v<T>, "the deque stores pointers");

 public:
  explicit WorkStealingDeque(std::int64_t capacity = 256)
      : ring_(new Ring(capacity)) {
    retired_.emplace_back(ring_.load(std::memory_order_relaxed));
  }
  WorkStealingDeque(const WorkStealingDeque&) = delete;
  WorkStealingDeque& operator=(const WorkStealingDeque&) = delete;

  /// Owner only.
  void push(T item) {
    const std::int64_t bottom = bottom_.load(std::memory_order_relaxed);
    const std::int64_t top = top_.load(std::memory_order_acquire);
    Ring* ring = ring_.load(std::memory_order_relaxed);
    if (bottom - top >= ring->capacity) ring = grow(ring, top, bottom);
    ring->put(bottom, item);
    bottom_.store(bottom + 1, std::memory_order_release);
  }

  /// Owner only; nullptr when empty.
  T pop() {
    const std::int64_t bottom = bottom_.load(std::memory_order_relaxed) - 1;
    Ring* ring = ring_.load(std::memory_order_relaxed);
    bottom_.store(bottom, std::memory_order_seq_cst);
    std::int64_t top = top_.load(std::memory_order_seq_cst);
    if (top > bottom) {  // it was empty
      bottom_.store(bottom + 1, std::memory_order_relaxed);
      return nullptr;
    }
    T item = ring->get(bottom);
    if (top == bottom) {  // the last item: race the thieves for it
      if (!top_.compare_exchange_strong(top, top + 1, std::memory_order_seq_cst,
                                        std::memory_order_relaxed)) {
        item = nullptr;
      }
      bottom_.store(bottom + 1, std::memory_order_relaxed);
    }
    return item;
  }

  /// Any thread; nullptr when empty or when another thief won the race.
  T steal() {
    std::int64_t top = top_.load(std::memory_order_seq_cst);
    const std::int64_t bottom = bottom_.load(std::memory_order_seq_cst);
    if (top >= bottom) return nullptr;
    Ring* ring = ring_.load(std::memory_order_acquire);
    T item = ring->get(top);
    if (!top_.compare_exchange_strong(top, top + 1, std::memory_order_seq_cst,
                                      std::memory_order_relaxed)) {
      return nullptr;
    }
    return item;
  }

  bool empty() const noexcept {
    return top_.load(std::memory_order_relaxed) >= bottom_.load(std::memory_order_relaxed);
  }

 private:
  struct Ring {
    explicit Ring(std::int64_t size)
        : capacity(size), mask(size - 1), slots(new std::atomic<T>[static_cast<std::size_t>(size)]) {}
    void put(std::int64_t index, T item) {
      slots[static_cast<std::size_t>(index & mask)].store(item, std::memory_order_relaxed);
    }
    T get(std::int64_t index) const {
      return slots[static_cast<std::size_t>(index & mask)].load(std::memory_order_relaxed);
    }
    std::int64_t capacity;
    std::int64_t mask;
    std::unique_ptr<std::atomic<T>[]> slots;
  };

  Ring* grow(Ring* old, std::int64_t top, std::int64_t bottom) {
    auto* bigger = new Ring(old->capacity * 2);
    for (std::int64_t i = top; i < bottom; ++i) bigger->put(i, old->get(i));
    retired_.emplace_back(bigger);  // thieves may still read the old ring: keep it
    ring_.store(bigger, std::memory_order_release);
    return bigger;
  }

  alignas(64) std::atomic<std::int64_t> top_{0};
  alignas(64) std::atomic<std::int64_t> bottom_{0};
  alignas(64) std::atomic<Ring*> ring_;
  std::vector<std::unique_ptr<Ring>> retired_;
};

}  // namespace confut::detail
