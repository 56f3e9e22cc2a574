#pragma once
// The memory a worker process shares with its pool: a ring of requests (pool -> worker), a
// ring of replies (worker -> pool), the claim words of the requests sent ahead, and the
// worker's call clock. A message larger than kInlineLimit goes over the worker's socket
// instead; an empty message in the ring stands in its place, which keeps the order. The
// socket stays the death signal: its end of stream, and the fork server's report.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <new>

#include "../remote/claims.hpp"
#include "shm_ring.hpp"

namespace confut::detail {

struct ChannelHeader {
  RingControl requests;
  RingControl replies;
  /// Set by the pool when it shuts down: a worker with nothing to do exits.
  alignas(64) std::atomic<std::uint32_t> closing{0};
  ClaimBoard claims;
  /// When the worker's current call started (steady clock, ns): written as each task, and
  /// each call of a map chunk, starts, so that the pool's task_timeout applies per call.
  /// Only when the pool has set `time_calls` (it has a task_timeout) before the worker starts.
  alignas(64) std::atomic<std::int64_t> call_started_ns{0};
  std::atomic<std::uint32_t> time_calls{0};
};

inline constexpr std::size_t kRingCapacity = std::size_t{1} << 20;
/// At most 32 tasks are in flight per worker (the dispatcher's send-ahead window), so
/// messages up to this size fill a ring only when some that were taken back wait in it as
/// well (the transport keeps a backlog for that); larger ones are rare and costly anyway.
inline constexpr std::size_t kInlineLimit = kRingCapacity / 64;
inline constexpr std::size_t kChannelDataOffset = 4096;
static_assert(sizeof(ChannelHeader) <= kChannelDataOffset);
inline constexpr std::size_t kChannelSize = kChannelDataOffset + 2 * kRingCapacity;

/// A view of a worker's shared memory (kChannelSize bytes).
struct WorkerChannel {
  ChannelHeader* header = nullptr;
  ShmRing requests;
  ShmRing replies;

  WorkerChannel() = default;
  /// `fresh`: the pool's side, which starts the shared objects' lifetime.
  WorkerChannel(std::byte* memory, bool fresh)
      : header(fresh ? new (memory) ChannelHeader{}
                     : std::launder(reinterpret_cast<ChannelHeader*>(memory))),
        requests(&header->requests, memory + kChannelDataOffset, kRingCapacity),
        replies(&header->replies, memory + kChannelDataOffset + kRingCapacity, kRingCapacity) {}
};

/// What a worker is handed when it starts.
struct WorkerEndpoints {
  int socket = -1;  // stream socket to the pool: large messages, and end of stream
  int memory = -1;  // memfd of the shared channel
  int bell = -1;    // eventfd the pool sleeps on
};

}  // namespace confut::detail
