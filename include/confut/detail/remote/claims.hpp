#pragma once
// Claims on the requests sent ahead to a worker: who decides what becomes of request number
// k (counted per worker, in the order sent, on both sides), the worker by starting it or the
// parent by taking it back, for another worker (revoked: the worker skips it silently) or
// because its future was cancelled (the worker skips it and replies "cancelled").
//
// One word per request, slot k % kClaimSlots, holding k and the request's state; the
// dispatcher keeps fewer than kClaimSlots requests outstanding per worker, so a slot is never
// reused while its request may still be popped. The board lives in memory both sides see
// (shared memory for worker processes, plain memory for the loopback transport's threads).

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace confut::detail {

inline constexpr std::size_t kClaimSlots = 128;

enum class ClaimState : std::uint64_t { sent = 1, started = 2, revoked = 3, cancelled = 4 };

inline constexpr std::uint64_t claim_word(std::uint64_t request, ClaimState state) noexcept {
  return request << 3 | static_cast<std::uint64_t>(state);
}

struct ClaimBoard {
  /// The parent's side, before it sends request number `request`.
  void mark_sent(std::uint64_t request) noexcept {
    claim(request).store(claim_word(request, ClaimState::sent), std::memory_order_relaxed);
  }
  /// The worker's side, before it runs the request: false when the parent took it back.
  bool try_start(std::uint64_t request) noexcept { return settle(request, ClaimState::started); }
  /// The parent's side: false when the worker has started the request already.
  bool try_revoke(std::uint64_t request) noexcept { return settle(request, ClaimState::revoked); }
  /// Any thread of the parent (Future::cancel()): false when the worker started it.
  bool try_cancel(std::uint64_t request) noexcept {
    return settle(request, ClaimState::cancelled);
  }
  /// Whether request `request` is still waiting in the worker's queue.
  bool unstarted(std::uint64_t request) noexcept {
    return claim(request).load(std::memory_order_acquire) ==
           claim_word(request, ClaimState::sent);
  }
  /// After a failed try_start(): whether the request was cancelled (else moved elsewhere).
  bool cancelled(std::uint64_t request) noexcept {
    return claim(request).load(std::memory_order_acquire) ==
           claim_word(request, ClaimState::cancelled);
  }

  alignas(64) std::atomic<std::uint64_t> words[kClaimSlots] = {};

 private:
  std::atomic<std::uint64_t>& claim(std::uint64_t request) noexcept {
    return words[request % kClaimSlots];
  }
  /// Moves a request from sent to `outcome`; only the first of the two sides succeeds.
  bool settle(std::uint64_t request, ClaimState outcome) noexcept {
    std::uint64_t expected = claim_word(request, ClaimState::sent);
    return claim(request).compare_exchange_strong(expected, claim_word(request, outcome),
                                                  std::memory_order_acq_rel);
  }
};

}  // namespace confut::detail
