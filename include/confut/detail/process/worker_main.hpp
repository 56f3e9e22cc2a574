#pragma once
// The main of a worker process: take requests from its shared-memory ring (or, when too
// large for it, from its socket), serve each (remote/serve.hpp), put each reply in the reply
// ring. Around that, what only a local process needs: signals, forks inside tasks, a task
// that closes the worker's descriptors, a parent that is gone.

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

#include "../../errors.hpp"
#include "../../serialization.hpp"
#include "../remote/code_location.hpp"
#include "../remote/protocol.hpp"
#include "../remote/remote_exception.hpp"
#include "../remote/serve.hpp"
#include "channel.hpp"
#include "framing.hpp"
#include "shm_ring.hpp"

namespace confut::detail {

/// What every worker of one pool is told when it starts.
struct WorkerConfig {
  bool has_initializer = false;
  CodeLocation initializer{};        // a void() function
  std::uint64_t max_tasks = 0;       // 0: no limit
};

inline void flush_stdio() {
  std::cout.flush();
  std::cerr.flush();
  std::fflush(nullptr);
}

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
  append_reply(outbox, sequence, WorkerReply::error, [&](WireWriter& w) {
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

  if (config.has_initializer && !run_initializer(config.initializer, outbox)) {
    replies.send(outbox);
    flush_stdio();
    _exit(3);
  }
  append_ready(outbox);
  replies.send(outbox);

  FrameReader reader;  // messages too large for the ring
  std::vector<std::byte> message;
  std::uint64_t tasks_done = 0;
  std::uint64_t requests_taken = 0;  // numbers requests as the dispatcher does (claims.hpp)
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
    const std::uint64_t request = requests_taken++;
    const Served served = serve_request(data, size, request, channel.header->claims, outbox);
    if (served == Served::skipped) continue;
    if (served == Served::cancelled) {
      replies.send(outbox);
      continue;
    }
    // A child the task forked came back here: it must not touch the channel. It leaves
    // quietly, without flushing the output buffers it copied from the worker.
    if (forked_by_task()) _exit(0);
    if (outbox.size() - kFrameHeader > kInlineLimit && !descriptor_open(ends.socket)) {
      // The result needs the socket.
      replace_with_channel_error(outbox, WireReader(data, size).read<std::uint64_t>());
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
