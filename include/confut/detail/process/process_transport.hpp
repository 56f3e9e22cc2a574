#pragma once
// The process pool's transport (remote/transport.hpp): workers are local processes forked
// by the fork server (fork_server.hpp). Each shares a memory channel with the parent
// (channel.hpp: two rings and its claim words) and has a stream socket for messages too
// large for a ring and as its death signal. The dispatcher sleeps in epoll: on the workers'
// sockets, the fork server's control socket, and an eventfd that workers ring (only while
// the dispatcher has said it sleeps) and that wake() rings.

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../remote/claims.hpp"
#include "../remote/transport.hpp"
#include "channel.hpp"
#include "fork_server.hpp"
#include "framing.hpp"
#include "shm_ring.hpp"
#include "worker_main.hpp"

namespace confut::detail {

/// How a worker process ended, in words: "killed by signal 9 (SIGKILL)".
inline WorkerEnd describe_worker_end(pid_t pid, int status) {
  WorkerEnd end;
  end.pid = pid;
  if (WIFSIGNALED(status)) {
    end.signal = WTERMSIG(status);
    const char* name = ::sigabbrev_np(end.signal);
    end.how = std::string("killed by signal ") + std::to_string(end.signal) +
              (name != nullptr ? std::string(" (SIG") + name + ")" : std::string());
  } else if (WIFEXITED(status)) {
    end.exit_code = WEXITSTATUS(status);
    end.how = end.exit_code == kChannelClosedExit
                  ? std::string("exited: ") + kChannelClosedText
                  : "exited with code " + std::to_string(end.exit_code);
  } else {
    end.how = "ended with status " + std::to_string(status);
  }
  return end;
}

class ProcessTransport {
 public:
  /// Starts the fork server (throws confut::Error when it cannot) and tells it what every
  /// worker is told; `time_calls`: workers note when each call starts (for task_timeout).
  ProcessTransport(std::size_t workers, const WorkerConfig& config, bool time_calls)
      : time_calls_(time_calls), slots_(workers), pids_by_slot_(workers) {
    (void)zygote_entry;  // keeps the re-exec entry point in every program using pools
    zygote_pid_ = start_zygote(control_fd_);
    ControlMessage message;
    message.type = ControlMessage::kConfig;
    message.config = config;
    send_control(control_fd_, message);
    event_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
    watch(control_fd_, kControlKey, EPOLLIN);
    watch(event_fd_, kEventKey, EPOLLIN);
  }

  ProcessTransport(const ProcessTransport&) = delete;
  ProcessTransport& operator=(const ProcessTransport&) = delete;

  /// After close(): other threads may wake() the dispatcher until the owner is destroyed.
  ~ProcessTransport() {
    ::close(epoll_fd_);
    ::close(event_fd_);
  }

  std::size_t worker_count() const noexcept { return slots_.size(); }

  std::string start(std::size_t index) {
    Slot& slot = slots_[index];
    slot = Slot{};
    // pids_by_slot_ keeps the last worker's pid until the new one is known, so that a label
    // read between a death and the replacement's start still names a process.
    try {
      slot.memory = SharedMemory::create(kChannelSize);
    } catch (const Error& e) {
      return e.what();
    }
    slot.channel = WorkerChannel(slot.memory.data(), true);
    if (time_calls_) slot.channel.header->time_calls.store(1, std::memory_order_relaxed);
    int ends[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ends) != 0) {
      return "socketpair failed: " + std::string(std::strerror(errno));
    }
    slot.fd = ends[0];
    ::fcntl(slot.fd, F_SETFL, ::fcntl(slot.fd, F_GETFL) | O_NONBLOCK);
    slot.phase = Phase::spawning;
    ControlMessage request;
    request.type = ControlMessage::kSpawn;
    request.slot = static_cast<std::uint32_t>(index);
    const int passed[kMaxPassedFds] = {ends[1], slot.memory.fd(), event_fd_};
    const bool sent = send_control(control_fd_, request, passed, kMaxPassedFds);
    ::close(ends[1]);
    slot.memory.close_fd();
    if (!sent) return "the fork server is gone";
    watch(slot.fd, index, EPOLLIN);
    return {};
  }

  ClaimBoard& claims(std::size_t index) noexcept { return slots_[index].channel.header->claims; }

  /// The frame in the ring, or, when too large for it, an empty message in the ring and the
  /// frame (moved out) on the socket: the slow path.
  bool send(std::size_t index, std::vector<std::byte>& frame) {
    Slot& slot = slots_[index];
    const std::size_t size = frame.size() - kFrameHeader;
    if (size > kInlineLimit) {
      push_request(slot, nullptr, 0);
      slot.writer.push(std::move(frame));
      slot.needs_flush = true;
      return true;
    }
    push_request(slot, frame.data() + kFrameHeader, size);
    return false;
  }

  /// One wake-up (only if the worker sleeps) and one socket write per worker for everything
  /// sent since the last flush.
  void flush() {
    for (std::size_t i = 0; i < slots_.size(); ++i) {
      Slot& slot = slots_[i];
      if (slot.needs_wake) {
        slot.needs_wake = false;
        if (slot.channel.requests.take_sleeper()) slot.channel.requests.wake_consumer();
      }
      if (!slot.needs_flush) continue;
      slot.needs_flush = false;
      flush_socket(i);
    }
  }

  /// The replies in the rings (and those their socket holds already).
  template <TransportEvents Sink>
  bool poll(Sink& sink) {
    bool any = false;
    for (std::size_t i = 0; i < slots_.size(); ++i) {
      if (slots_[i].phase != Phase::idle) any |= take_replies(i, sink);
    }
    return any;
  }

  bool replies_waiting() const {
    for (const Slot& slot : slots_) {
      if (slot.phase != Phase::idle && !slot.channel.replies.empty()) return true;
    }
    return false;
  }

  /// Sleeps in epoll (workers ring the eventfd only when told, through their reply rings,
  /// that the dispatcher sleeps), then handles what it saw and takes every ring's replies.
  template <TransportEvents Sink>
  void wait(Sink& sink, int timeout_ms) {
    const bool sleeping = timeout_ms != 0;
    if (sleeping && !announce_sleep()) timeout_ms = 0;
    epoll_event events[64];
    const int n = ::epoll_wait(epoll_fd_, events, 64, timeout_ms);
    if (sleeping) end_sleep();
    for (int i = 0; i < n; ++i) {
      const std::uint64_t key = events[i].data.u64;
      const std::uint32_t flags = events[i].events;
      if (key == kEventKey) {
        // Not a semaphore: one read takes the whole count (a second would only say EAGAIN).
        std::uint64_t count;
        (void)!::read(event_fd_, &count, sizeof count);
      } else if (key == kControlKey) {
        read_control(sink);
      } else {
        if ((flags & EPOLLOUT) != 0) flush_socket(key);
        if ((flags & (EPOLLIN | EPOLLHUP | EPOLLERR)) != 0) read_socket(key, sink);
      }
    }
    poll(sink);
  }

  void wake() noexcept {
    const std::uint64_t one = 1;
    [[maybe_unused]] const ssize_t n = ::write(event_fd_, &one, sizeof one);
  }

  bool kill(std::size_t index) noexcept {
    const pid_t pid = slots_[index].pid;
    return pid > 0 && ::kill(pid, SIGKILL) == 0;
  }

  bool requests_drained(std::size_t index) const {
    return slots_[index].channel.requests.empty();
  }

  std::int64_t call_started_ns(std::size_t index) const noexcept {
    return slots_[index].channel.header->call_started_ns.load(std::memory_order_acquire);
  }

  /// Any thread.
  std::string label(std::size_t index) const {
    const int pid = pids_by_slot_[index].load(std::memory_order_relaxed);
    std::string label = "worker " + std::to_string(index);
    return pid > 0 ? label + " (pid " + std::to_string(pid) + ")" : label;
  }

  /// The process ids of the current workers (any thread).
  std::vector<int> pids() const {
    std::lock_guard lock(pids_mutex_);
    return pids_;
  }

  /// Closes the workers' streams (they exit), then the fork server's (it reaps them and
  /// exits), and reaps the fork server: no zombie, no orphan.
  void close() {
    for (Slot& slot : slots_) {
      if (slot.phase != Phase::idle) {
        slot.channel.header->closing.store(1, std::memory_order_release);
        slot.channel.requests.wake_consumer();
      }
      if (slot.fd >= 0) {
        ::shutdown(slot.fd, SHUT_RDWR);  // ends the stream even where a forked child holds it
        ::close(slot.fd);
        slot.fd = -1;
      }
    }
    // A process this one forked (without exec) holds copies of the control socket: only
    // shutdown() ends the stream for the fork server while that process lives.
    ::shutdown(control_fd_, SHUT_RDWR);
    ::close(control_fd_);
    control_fd_ = -1;
    int status = 0;
    while (::waitpid(zygote_pid_, &status, 0) < 0 && errno == EINTR) {
    }
    std::lock_guard lock(pids_mutex_);
    pids_.clear();
  }

 private:
  static constexpr std::uint64_t kControlKey = ~std::uint64_t{0};
  static constexpr std::uint64_t kEventKey = ~std::uint64_t{0} - 1;

  enum class Phase : std::uint8_t { idle, spawning, running };

  struct Slot {
    Phase phase = Phase::idle;
    pid_t pid = -1;
    int fd = -1;
    bool exited = false;
    int exit_status = 0;
    SharedMemory memory;
    WorkerChannel channel;                       // in `memory`
    std::deque<std::vector<std::byte>> backlog;  // requests waiting for room in the ring
    bool awaiting_socket_reply = false;  // the ring said: the next reply is on the socket
    bool needs_wake = false;
    bool needs_flush = false;
    FrameReader reader;  // messages too large for the rings
    FrameWriter writer;
  };

  void watch(int fd, std::uint64_t key, std::uint32_t events) {
    epoll_event event{};
    event.events = events;
    event.data.u64 = key;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &event);
  }

  void rewatch(int fd, std::uint64_t key, std::uint32_t events) {
    epoll_event event{};
    event.events = events;
    event.data.u64 = key;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, fd, &event);
  }

  /// Tells every worker that the dispatcher is about to sleep. False (and withdrawn) when a
  /// reply came in meanwhile.
  bool announce_sleep() {
    for (Slot& slot : slots_) {
      if (slot.phase == Phase::idle) continue;
      if (!slot.channel.replies.prepare_sleep()) {
        end_sleep();
        return false;
      }
    }
    return true;
  }

  void end_sleep() {
    for (Slot& slot : slots_) {
      if (slot.phase != Phase::idle) slot.channel.replies.end_sleep();
    }
  }

  void push_request(Slot& slot, const std::byte* payload, std::size_t size) {
    slot.needs_wake = true;
    if (slot.backlog.empty() && slot.channel.requests.try_push(payload, size)) return;
    slot.backlog.emplace_back(payload, payload + size);
  }

  /// Moves what waits in the backlog into the ring, as far as it has room.
  void push_backlog(Slot& slot) {
    while (!slot.backlog.empty()) {
      const std::vector<std::byte>& message = slot.backlog.front();
      if (!slot.channel.requests.try_push(message.data(), message.size())) return;
      slot.backlog.pop_front();
      slot.needs_wake = true;
    }
  }

  void flush_socket(std::size_t index) {
    Slot& slot = slots_[index];
    if (slot.fd < 0) return;
    slot.writer.flush(slot.fd);  // a dead worker shows up as EOF / exit, handled there
    rewatch(slot.fd, index, slot.writer.empty() ? EPOLLIN : EPOLLIN | EPOLLOUT);
  }

  /// Reads what a worker sent on its socket. At end of stream closes our side; the worker is
  /// gone once both that and its exit status (from the fork server) are in.
  template <class Sink>
  void read_socket(std::size_t index, Sink& sink) {
    Slot& slot = slots_[index];
    while (slot.fd >= 0) {
      const long n = slot.reader.read_from(slot.fd);
      take_replies(index, sink);
      if (n > 0) continue;
      if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        close_stream(slot);
        if (slot.exited) finish_worker(index, sink);
      }
      return;
    }
  }

  void close_stream(Slot& slot) {
    if (slot.fd < 0) return;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, slot.fd, nullptr);
    ::close(slot.fd);
    slot.fd = -1;
  }

  /// Delivers every reply the worker has sent so far: from its ring, and from its socket
  /// where the ring points there. Then refills its ring from the backlog.
  template <class Sink>
  bool take_replies(std::size_t index, Sink& sink) {
    Slot& slot = slots_[index];
    bool any = false;
    while (true) {
      if (slot.awaiting_socket_reply) {
        const std::byte* data = nullptr;
        std::size_t size = 0;
        if (!slot.reader.next(data, size)) break;  // the rest comes with the next read
        slot.awaiting_socket_reply = false;
        sink.reply(index, data, size);
      } else {
        if (!slot.channel.replies.pop(incoming_)) break;
        if (incoming_.empty()) {
          slot.awaiting_socket_reply = true;
          continue;
        }
        sink.reply(index, incoming_.data(), incoming_.size());
      }
      any = true;
    }
    if (!slot.backlog.empty()) {
      push_backlog(slot);
      flush();
    }
    return any;
  }

  template <class Sink>
  void read_control(Sink& sink) {
    ControlMessage message;
    while (true) {
      // Non-blocking peek: the socket is readable at least once.
      pollfd check{control_fd_, POLLIN, 0};
      if (::poll(&check, 1, 0) <= 0) return;
      if (!receive_control(control_fd_, message)) {
        fork_server_died(sink);
        return;
      }
      if (message.type == ControlMessage::kSpawned) {
        Slot& slot = slots_[message.slot];
        if (message.pid <= 0) {
          slot.phase = Phase::idle;
          sink.transport_failed("the fork server could not fork a worker");
          continue;
        }
        slot.pid = message.pid;
        // Its "ready" may have come in first, through its ring.
        if (slot.phase == Phase::spawning) slot.phase = Phase::running;
        pids_by_slot_[message.slot].store(message.pid, std::memory_order_relaxed);
        {
          std::lock_guard lock(pids_mutex_);
          pids_.push_back(message.pid);
        }
        sink.worker_started(message.slot);
      } else if (message.type == ControlMessage::kExited) {
        for (std::size_t i = 0; i < slots_.size(); ++i) {
          Slot& slot = slots_[i];
          if (slot.pid != message.pid || slot.phase == Phase::idle) continue;
          slot.exited = true;
          slot.exit_status = message.status;
          read_socket(i, sink);  // takes the replies it sent before dying; may finish the slot
          if (slot.pid == message.pid && slot.phase != Phase::idle) {
            close_stream(slot);
            finish_worker(i, sink);
          }
        }
        std::lock_guard lock(pids_mutex_);
        pids_.erase(std::remove(pids_.begin(), pids_.end(), message.pid), pids_.end());
      }
    }
  }

  /// The fork server is gone (its workers die with it): every worker counts as killed.
  template <class Sink>
  void fork_server_died(Sink& sink) {
    sink.transport_failed("the fork server died");
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, control_fd_, nullptr);
    for (std::size_t i = 0; i < slots_.size(); ++i) {
      Slot& slot = slots_[i];
      if (slot.phase == Phase::idle) continue;
      slot.exited = true;
      slot.exit_status = SIGKILL;  // as waitpid reports a SIGKILL
      close_stream(slot);
      finish_worker(i, sink);
    }
  }

  /// The worker has exited and its stream is closed: delivers what it left in its ring,
  /// then its end. The sink may start a replacement in the same slot.
  template <class Sink>
  void finish_worker(std::size_t index, Sink& sink) {
    Slot& slot = slots_[index];
    take_replies(index, sink);  // what it put in its ring before it died
    slot.backlog.clear();
    slot.writer.clear();
    slot.phase = Phase::idle;
    sink.worker_gone(index, describe_worker_end(slot.pid, slot.exit_status));
  }

  const bool time_calls_;
  pid_t zygote_pid_ = -1;
  int control_fd_ = -1;
  int event_fd_ = -1;
  int epoll_fd_ = -1;
  std::vector<Slot> slots_;               // dispatcher thread only (after start)
  std::vector<std::byte> incoming_;       // the reply being taken from a ring
  std::vector<std::atomic<int>> pids_by_slot_;  // for label(), from any thread
  mutable std::mutex pids_mutex_;
  std::vector<int> pids_;
};

static_assert(Transport<ProcessTransport>);

}  // namespace confut::detail
