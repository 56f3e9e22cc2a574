#pragma once
// The loop a worker process runs: take task messages from a shared-memory ring, call each
// task's invoker, put each result in the reply ring. Messages too large for a ring go over
// the worker's socket.

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <cstdio>
#include <exception>
#include <iostream>
#include <new>
#include <vector>

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../serialization.hpp"
#include "../remote/code_location.hpp"
#include "framing.hpp"
#include "../remote/remote_exception.hpp"
#include "shm_ring.hpp"

namespace confut::detail {

/// Decodes a task's callable and arguments from `arguments`, runs it, encodes its result.
using RemoteInvoker = void (*)(WireReader& arguments, WireWriter& result);

/// What every worker of one pool is told when it starts.
struct WorkerConfig {
  bool has_initializer = false;
  CodeLocation initializer{};        // a void() function
  std::uint64_t max_tasks = 0;       // 0: no limit
};

/// A request whose sequence number has this bit set asks the worker to time the task: the
/// reply then ends with four steady-clock stamps (ns): start, arguments decoded, call
/// returned, result encoded. The pool asks only while it records its task stream.
inline constexpr std::uint64_t kTimedRequest = std::uint64_t{1} << 63;
inline constexpr std::size_t kTimestampsSize = 4 * sizeof(std::int64_t);

/// Where the invoker of a timed task notes when the arguments were decoded and when the call
/// returned (one task runs at a time in a worker).
struct WorkerTimestamps {
  bool wanted = false;
  std::int64_t decoded = 0;
  std::int64_t returned = 0;
};
inline WorkerTimestamps& worker_timestamps() noexcept {
  static WorkerTimestamps stamps;
  return stamps;
}
inline std::int64_t steady_now_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
/// The worker's ChannelHeader::call_started_ns (null outside a worker).
inline std::atomic<std::int64_t>*& worker_call_clock() noexcept {
  static std::atomic<std::int64_t>* clock = nullptr;
  return clock;
}
/// An invoker, as a call starts: the pool times the call (task_timeout) from here. Without a
/// timeout only a test of a null pointer (a clock read per call would cost in map chunks).
inline void note_call_started() noexcept {
  if (std::atomic<std::int64_t>* clock = worker_call_clock()) {
    clock->store(steady_now_ns(), std::memory_order_release);
  }
}
inline void note_arguments_decoded() noexcept {
  WorkerTimestamps& stamps = worker_timestamps();
  if (stamps.wanted) stamps.decoded = steady_now_ns();
}
inline void note_call_returned() noexcept {
  WorkerTimestamps& stamps = worker_timestamps();
  if (stamps.wanted) stamps.returned = steady_now_ns();
}

/// Frame kinds sent by a worker. `cancelled`: a request cancelled before it started, skipped.
enum class WorkerReply : std::uint8_t {
  value = 0,
  error = 1,
  ready = 2,
  init_failed = 3,
  cancelled = 4
};

/// Appends one frame to `outbox`: header room, then what `fill` writes; patches the size.
template <class Fill>
void append_frame(WireWriter& outbox, Fill&& fill) {
  const std::size_t start = outbox.size();
  outbox.write(std::uint64_t{0});
  fill(outbox);
  const std::uint64_t length = outbox.size() - start - kFrameHeader;
  std::memcpy(outbox.buffer().data() + start, &length, kFrameHeader);
}

inline void flush_stdio() {
  std::cout.flush();
  std::cerr.flush();
  std::fflush(nullptr);
}

/// Claims on the requests sent ahead: who gets to decide what becomes of request number k
/// (counted per channel, in ring order, on both sides), the worker by starting it or the
/// parent by taking it back: for another worker (revoked: the worker skips it silently) or
/// because its future was cancelled (the worker skips it and replies `cancelled`). One word
/// per request, slot k % kClaimSlots, holding k and the request's state; the pool keeps
/// fewer than kClaimSlots requests outstanding, so a slot is never reused while its request
/// may still be popped.
inline constexpr std::size_t kClaimSlots = 128;
enum class ClaimState : std::uint64_t { sent = 1, started = 2, revoked = 3, cancelled = 4 };
inline constexpr std::uint64_t claim_word(std::uint64_t request, ClaimState state) noexcept {
  return request << 3 | static_cast<std::uint64_t>(state);
}

/// The memory a worker shares with its pool: a ring of requests (pool -> worker) and a ring
/// of replies (worker -> pool). A message larger than kInlineLimit goes over the worker's
/// socket instead; an empty message in the ring stands in its place, which keeps the order.
/// The socket stays the death signal: its end of stream, and the fork server's report.
struct ChannelHeader {
  RingControl requests;
  RingControl replies;
  /// Set by the pool when it shuts down: a worker with nothing to do exits.
  alignas(64) std::atomic<std::uint32_t> closing{0};
  alignas(64) std::atomic<std::uint64_t> claims[kClaimSlots] = {};
  /// When the worker's current call started (steady clock, ns): written as each task, and
  /// each call of a map chunk, starts, so that the pool's task_timeout applies per call.
  /// Only when the pool has set `time_calls` (it has a task_timeout) before the worker starts.
  alignas(64) std::atomic<std::int64_t> call_started_ns{0};
  std::atomic<std::uint32_t> time_calls{0};

  /// The pool's side, before it pushes request number `request`.
  void mark_sent(std::uint64_t request) noexcept {
    claim(request).store(claim_word(request, ClaimState::sent), std::memory_order_relaxed);
  }
  /// The worker's side, before it runs the request: false when the pool took it back.
  bool try_start(std::uint64_t request) noexcept {
    return settle(request, ClaimState::started);
  }
  /// The pool's side: false when the worker has started the request already.
  bool try_revoke(std::uint64_t request) noexcept {
    return settle(request, ClaimState::revoked);
  }
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

 private:
  std::atomic<std::uint64_t>& claim(std::uint64_t request) noexcept {
    return claims[request % kClaimSlots];
  }
  /// Moves a request from sent to `outcome`; only the first of the two sides succeeds.
  bool settle(std::uint64_t request, ClaimState outcome) noexcept {
    std::uint64_t expected = claim_word(request, ClaimState::sent);
    return claim(request).compare_exchange_strong(expected, claim_word(request, outcome),
                                                  std::memory_order_acq_rel);
  }
};

inline constexpr std::size_t kRingCapacity = std::size_t{1} << 20;
/// At most 32 tasks are in flight per worker (the pool's send-ahead window), so messages up
/// to this size fill a ring only when some that were taken back wait in it as well (the pool
/// keeps a backlog for that); larger ones are rare and costly anyway.
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

/// Spin (yielding) this long for the next task before sleeping: a futex wake-up costs ~15 us,
/// a hand-off to a spinning worker well under one. Measured on 2 cores with 2 workers, a
/// longer spin here and a shorter one in the pool's dispatcher did best.
inline constexpr auto kWorkerSpin = std::chrono::microseconds(100);
/// A sleeping worker looks at its socket this often, in case the pool vanished unnoticed.
inline constexpr auto kWorkerSleepCheck = std::chrono::seconds(1);

/// A worker exits with this code when a task closed its channel's descriptors (its socket
/// or the pool's doorbell): the pool says so instead of "exited with code ...".
inline constexpr int kChannelClosedExit = 117;
inline constexpr const char* kChannelClosedText =
    "the task closed the worker's channel to the pool (its file descriptors)";

/// Whether descriptor `fd` is still open (a task may have closed it).
inline bool descriptor_open(int fd) noexcept {
  return ::fcntl(fd, F_GETFD) != -1 || errno != EBADF;
}

/// A task closed the worker's descriptors: leave, with the code the pool explains (the ring
/// is shared memory and still works, so the replies pushed so far arrive).
[[noreturn]] inline void channel_closed() {
  std::fflush(nullptr);
  _exit(kChannelClosedExit);
}

/// Whether this process is a child that a task forked and that returned from the task
/// instead of exiting (set by a pthread_atfork handler in the child). Such a child must
/// never act as the worker: it would be a second reader of the same ring.
inline bool& forked_by_task() noexcept {
  static bool forked = false;
  return forked;
}

/// The worker's side of sending: one reply frame (with its u64 header) at a time.
class ReplySender {
 public:
  ReplySender(ShmRing& ring, int socket, int bell) : ring_(ring), socket_(socket), bell_(bell) {}

  void send(WireWriter& frame) {
    const std::byte* payload = frame.buffer().data() + kFrameHeader;
    const std::size_t size = frame.size() - kFrameHeader;
    if (size > kInlineLimit) {
      push(nullptr, 0);  // "the next reply is on the socket"
      if (!write_all(socket_, frame.buffer().data(), frame.size())) {
        if (errno == EBADF || errno == ENOTSOCK) channel_closed();
        parent_gone();
      }
    } else {
      push(payload, size);
    }
    frame.clear();
  }

 private:
  void push(const std::byte* payload, std::size_t size) {
    while (!ring_.try_push(payload, size)) {
      // Full (only with far more replies outstanding than the pool sends ahead): let the
      // pool catch up.
      ring_bell();
      ::usleep(50);
    }
    ring_bell();
  }

  /// Wakes the pool if it sleeps: an eventfd, because it sleeps in epoll.
  void ring_bell() {
    if (!ring_.take_sleeper()) return;
    const std::uint64_t one = 1;
    if (::write(bell_, &one, sizeof one) < 0 && errno == EBADF) channel_closed();
  }

  [[noreturn]] static void parent_gone() {
    std::fflush(nullptr);
    _exit(0);
  }

  ShmRing& ring_;
  int socket_;
  int bell_;
};

/// True when the pool closed its end of the socket (checked only while no task is queued,
/// when nothing else can be waiting on it).
inline bool pool_closed(int socket) {
  std::byte probe{};
  const ssize_t n = ::recv(socket, &probe, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n < 0 && (errno == EBADF || errno == ENOTSOCK)) channel_closed();
  return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

/// The reply of a task whose result must go over the socket which the task closed: the
/// task fails with a message that says so (the ring still carries it).
inline void replace_with_channel_error(WireWriter& outbox, std::uint64_t sequence) {
  outbox.clear();
  append_frame(outbox, [&](WireWriter& w) {
    w.write(sequence);
    w.write(static_cast<std::uint8_t>(WorkerReply::error));
    encode_exception(w, std::make_exception_ptr(Error(
                            std::string("confut: ") + kChannelClosedText +
                            ", so its result could not be sent back; the worker was replaced")));
  });
}

/// Runs the worker loop until the pool closes (or max_tasks is reached); never returns.
/// Exits with _exit so that the parent's atexit handlers and static destructors, copied in
/// by fork, do not run here.
[[noreturn]] inline void run_worker(const WorkerEndpoints& ends, const WorkerConfig& config) {
  // Handlers copied from the parent (a test framework's crash handler, say) must not run
  // here: a crash has to end the worker with its signal, for the parent to report.
  for (int signal = 1; signal < NSIG; ++signal) {
    if (signal != SIGKILL && signal != SIGSTOP) ::signal(signal, SIG_DFL);
  }
  ::signal(SIGINT, SIG_IGN);  // Ctrl-C is the parent's to handle
  static const bool watching_forks =
      ::pthread_atfork(nullptr, nullptr, [] { forked_by_task() = true; }) == 0;
  (void)watching_forks;
  forked_by_task() = false;  // a worker of a pool created inside a task is a forked child too
  SharedMemory memory = SharedMemory::attach(ends.memory, kChannelSize);
  ::close(ends.memory);
  if (memory.data() == nullptr) _exit(4);
  WorkerChannel channel(memory.data(), false);
  if (channel.header->time_calls.load(std::memory_order_relaxed) != 0) {
    worker_call_clock() = &channel.header->call_started_ns;
  }
  ReplySender replies(channel.replies, ends.socket, ends.bell);
  WireWriter outbox;

  if (config.has_initializer) {
    try {
      resolve_function<void()>(config.initializer)();
    } catch (...) {
      const std::exception_ptr error = std::current_exception();
      append_frame(outbox, [&](WireWriter& w) {
        w.write(std::uint64_t{0});
        w.write(static_cast<std::uint8_t>(WorkerReply::init_failed));
        encode_exception(w, error);
      });
      replies.send(outbox);
      flush_stdio();
      _exit(3);
    }
  }
  append_frame(outbox, [](WireWriter& w) {
    w.write(std::uint64_t{0});
    w.write(static_cast<std::uint8_t>(WorkerReply::ready));
  });
  replies.send(outbox);

  FrameReader reader;  // messages too large for the ring
  std::vector<std::byte> message;
  std::uint64_t tasks_done = 0;
  std::uint64_t requests_popped = 0;  // numbers requests as the pool does (see ClaimState)
  while (true) {
    if (!channel.requests.pop(message)) {
      flush_stdio();  // nothing queued: let output out before waiting
      while (!channel.requests.wait(kWorkerSpin, kWorkerSleepCheck)) {
        if (channel.header->closing.load(std::memory_order_acquire) != 0 ||
            pool_closed(ends.socket)) {
          _exit(0);
        }
      }
      continue;
    }
    const std::byte* data = message.data();
    std::size_t size = message.size();
    if (size == 0) {  // the task is on the socket
      while (!reader.next(data, size)) {
        const long n = reader.read_from(ends.socket);
        if (n < 0 && (errno == EBADF || errno == ENOTSOCK)) channel_closed();
        if (n == 0 || (n < 0 && errno != EINTR)) {
          flush_stdio();
          _exit(0);
        }
      }
    }
    WireReader in(data, size);
    const auto sequence = in.read<std::uint64_t>();
    const std::uint64_t request = requests_popped++;
    if (!channel.header->try_start(request)) {
      // Taken back: for a worker that ran out of work (no reply: the pool has forgotten it
      // here), or cancelled (the pool waits for this reply to let the task go).
      if (channel.header->cancelled(request)) {
        append_frame(outbox, [&](WireWriter& w) {
          w.write(sequence);
          w.write(static_cast<std::uint8_t>(WorkerReply::cancelled));
        });
        replies.send(outbox);
      }
      continue;
    }
    CodeLocation invoker_location;
    invoker_location.module = in.read<std::uint64_t>();
    invoker_location.offset = in.read<std::uint64_t>();
    WorkerTimestamps& stamps = worker_timestamps();
    stamps = WorkerTimestamps{(sequence & kTimedRequest) != 0, 0, 0};
    const std::int64_t started = stamps.wanted ? steady_now_ns() : 0;
    auto append_timestamps = [&](WireWriter& w) {
      if (!stamps.wanted) return;
      const std::int64_t ended = steady_now_ns();
      w.write(started);
      w.write(stamps.decoded != 0 ? stamps.decoded : started);
      w.write(stamps.returned != 0 ? stamps.returned : ended);
      w.write(ended);
    };
    try {
      append_frame(outbox, [&](WireWriter& w) {
        w.write(sequence);
        w.write(static_cast<std::uint8_t>(WorkerReply::value));
        resolve_function<void(WireReader&, WireWriter&)>(invoker_location)(in, w);
        append_timestamps(w);
      });
    } catch (...) {
      outbox.clear();  // drop a half-written result
      const std::exception_ptr error = std::current_exception();
      append_frame(outbox, [&](WireWriter& w) {
        w.write(sequence);
        w.write(static_cast<std::uint8_t>(WorkerReply::error));
        encode_exception(w, error);
        append_timestamps(w);
      });
    }
    // A child the task forked came back here: it must not touch the channel. It leaves
    // quietly, without flushing the output buffers it copied from the worker.
    if (forked_by_task()) _exit(0);
    if (outbox.size() - kFrameHeader > kInlineLimit && !descriptor_open(ends.socket)) {
      replace_with_channel_error(outbox, sequence);  // the result needs the socket
      replies.send(outbox);
      channel_closed();
    }
    // Each reply goes out before the next task starts: if that task crashes the worker, the
    // pool must still get every earlier result, and must know which task was running.
    replies.send(outbox);
    ++tasks_done;
    if (config.max_tasks != 0 && tasks_done >= config.max_tasks) {
      flush_stdio();
      _exit(0);
    }
  }
}

}  // namespace confut::detail
