#pragma once
// The fork server ("zygote") of a process pool: a single-threaded process, started with the
// pool, that forks every worker (and every replacement), so that no worker is ever forked from
// a process that runs threads. It reaps the workers and reports how each one ended.
//
// The zygote is forked from the parent when the parent runs one thread. Otherwise (a pool
// created while threads run) the forked child at once execs this same binary, which enters
// the zygote loop from a static initializer (see zygote_entry below) before main().

#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <unordered_set>
#include <vector>

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../errors.hpp"
#include "process_worker.hpp"
#include "thread_context.hpp"

extern char** environ;

namespace confut::detail {

/// One message on the parent <-> zygote control socket (SOCK_SEQPACKET keeps boundaries).
struct ControlMessage {
  enum Type : std::uint32_t { kConfig = 1, kSpawn = 2, kSpawned = 3, kExited = 4 };
  std::uint32_t type = 0;
  std::uint32_t slot = 0;
  std::int32_t pid = 0;
  std::int32_t status = 0;  // waitpid status, for kExited
  WorkerConfig config{};    // for kConfig
};

inline constexpr const char* kZygoteFdVariable = "CONFUT_ZYGOTE_FD";

/// How many threads this process runs now.
inline int count_threads() {
  int threads = 0;
  if (DIR* tasks = opendir("/proc/self/task")) {
    while (dirent* entry = readdir(tasks)) {
      if (entry->d_name[0] != '.') ++threads;
    }
    closedir(tasks);
  }
  return threads;
}

/// Closes every descriptor above 2 except `keep` (which is moved to 3 first).
inline int close_inherited_descriptors(int keep) {
  if (keep != 3) {
    ::dup2(keep, 3);
    ::close(keep);
  }
#if defined(SYS_close_range)
  if (::syscall(SYS_close_range, 4u, ~0u, 0u) == 0) return 3;
#endif
  for (int fd = 4; fd < 65536; ++fd) ::close(fd);
  return 3;
}

/// The most descriptors one control message carries (a worker's socket, memfd and bell).
inline constexpr int kMaxPassedFds = 3;

inline bool send_control(int fd, const ControlMessage& message, const int* passed_fds = nullptr,
                         int passed_count = 0) {
  iovec data{const_cast<ControlMessage*>(&message), sizeof message};
  msghdr header{};
  header.msg_iov = &data;
  header.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxPassedFds)] = {};
  if (passed_count > 0) {
    const std::size_t bytes = sizeof(int) * static_cast<std::size_t>(passed_count);
    header.msg_control = control;
    header.msg_controllen = CMSG_SPACE(bytes);
    cmsghdr* cmsg = CMSG_FIRSTHDR(&header);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(bytes);
    std::memcpy(CMSG_DATA(cmsg), passed_fds, bytes);
  }
  while (true) {
    if (::sendmsg(fd, &header, MSG_NOSIGNAL) == static_cast<ssize_t>(sizeof message)) return true;
    if (errno != EINTR) return false;
  }
}

/// Receives one message and the descriptors passed with it (up to kMaxPassedFds into
/// `passed_fds`, the rest closed); `passed_count` says how many. False at end of stream.
inline bool receive_control(int fd, ControlMessage& message, int* passed_fds = nullptr,
                            int* passed_count = nullptr) {
  iovec data{&message, sizeof message};
  msghdr header{};
  header.msg_iov = &data;
  header.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxPassedFds)] = {};
  header.msg_control = control;
  header.msg_controllen = sizeof control;
  ssize_t n;
  do {
    n = ::recvmsg(fd, &header, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  int count = 0;
  for (cmsghdr* cmsg = CMSG_FIRSTHDR(&header); cmsg != nullptr; cmsg = CMSG_NXTHDR(&header, cmsg)) {
    if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS) continue;
    const std::size_t fds = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (std::size_t i = 0; i < fds; ++i) {
      int passed = -1;
      std::memcpy(&passed, CMSG_DATA(cmsg) + i * sizeof(int), sizeof(int));
      if (passed_fds != nullptr && count < kMaxPassedFds) {
        passed_fds[count++] = passed;
      } else {
        ::close(passed);
      }
    }
  }
  if (passed_count != nullptr) *passed_count = count;
  if (n != static_cast<ssize_t>(sizeof message)) {
    for (int i = 0; i < count; ++i) ::close(passed_fds[i]);
    if (passed_count != nullptr) *passed_count = 0;
    return false;
  }
  return true;
}

/// The zygote's loop; never returns. When the control socket closes (the pool shut down, or
/// the parent died) it kills the workers still alive, reaps them and exits.
[[noreturn]] inline void zygote_main(int control_fd) {
  ::setpgid(0, 0);  // workers join this group: a terminal's Ctrl-C does not reach them
  ::signal(SIGINT, SIG_IGN);
  ::signal(SIGPIPE, SIG_IGN);
  control_fd = close_inherited_descriptors(control_fd);

  sigset_t child_signal;
  sigemptyset(&child_signal);
  sigaddset(&child_signal, SIGCHLD);
  ::sigprocmask(SIG_BLOCK, &child_signal, nullptr);
  const int child_fd = ::signalfd(-1, &child_signal, SFD_CLOEXEC | SFD_NONBLOCK);

  WorkerConfig config;
  std::unordered_set<pid_t> live;
  const pid_t zygote_pid = ::getpid();

  auto reap = [&] {
    int status = 0;
    pid_t pid;
    while ((pid = ::waitpid(-1, &status, WNOHANG)) > 0) {
      live.erase(pid);
      ControlMessage exited;
      exited.type = ControlMessage::kExited;
      exited.pid = pid;
      exited.status = status;
      send_control(control_fd, exited);
    }
  };

  while (true) {
    pollfd watched[2] = {{control_fd, POLLIN, 0}, {child_fd, POLLIN, 0}};
    if (::poll(watched, 2, -1) < 0 && errno != EINTR) break;
    if (watched[1].revents != 0) {
      signalfd_siginfo info;
      while (::read(child_fd, &info, sizeof info) == sizeof info) {
      }
      reap();
    }
    if (watched[0].revents == 0) continue;
    ControlMessage message;
    int passed[kMaxPassedFds] = {-1, -1, -1};
    int passed_count = 0;
    if (!receive_control(control_fd, message, passed, &passed_count)) break;  // the parent is gone
    if (message.type == ControlMessage::kConfig) {
      config = message.config;
    } else if (message.type == ControlMessage::kSpawn && passed_count == kMaxPassedFds) {
      const WorkerEndpoints ends{passed[0], passed[1], passed[2]};
      std::fflush(nullptr);
      const pid_t pid = ::fork();
      if (pid == 0) {
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // die with the zygote
        if (::getppid() != zygote_pid) _exit(1);
        ::close(control_fd);
        ::close(child_fd);
        ::sigprocmask(SIG_UNBLOCK, &child_signal, nullptr);
        ::signal(SIGPIPE, SIG_DFL);
        run_worker(ends, config);
      }
      ControlMessage spawned;
      spawned.type = ControlMessage::kSpawned;
      spawned.slot = message.slot;
      spawned.pid = pid;
      send_control(control_fd, spawned);
      if (pid > 0) live.insert(pid);
    }
    for (int i = 0; i < passed_count; ++i) ::close(passed[i]);  // the worker has its copies
  }
  for (pid_t pid : live) ::kill(pid, SIGKILL);
  while (::waitpid(-1, nullptr, 0) > 0) {
  }
  _exit(0);
}

/// In a program re-executed as a zygote, takes over before main(). Referenced by the pool so
/// that every program which can create one carries this initializer.
inline const bool zygote_entry = [] {
  if (const char* fd = std::getenv(kZygoteFdVariable)) {
    const int control_fd = std::atoi(fd);
    ::unsetenv(kZygoteFdVariable);
    zygote_main(control_fd);
  }
  return true;
}();

/// Starts a zygote; returns its pid and stores the parent's end of the control socket.
inline pid_t start_zygote(int& control_fd) {
  int ends[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ends) != 0) {
    throw Error(std::string("confut: socketpair failed: ") + std::strerror(errno));
  }
#if defined(CONFUT_TSAN)
  // ThreadSanitizer runs a thread of its own, and its runtime crashes in tasks run by a
  // zygote re-executed from a static initializer: fork it directly (the zygote itself starts
  // no thread, which is what TSan requires after such a fork).
  const bool single_threaded = true;
#else
  const bool single_threaded = count_threads() == 1;
#endif
  // Everything the exec path needs is prepared before fork: after fork in a threaded
  // process only async-signal-safe calls are allowed.
  std::vector<std::string> environment_text;
  std::vector<char*> environment;
  std::string zygote_fd_setting = std::string(kZygoteFdVariable) + "=3";
  char program_name[] = "confut-zygote";
  char* arguments[] = {program_name, nullptr};
  if (!single_threaded) {
    for (char** entry = environ; *entry != nullptr; ++entry) environment.push_back(*entry);
    environment.push_back(zygote_fd_setting.data());
    environment.push_back(nullptr);
  }
  std::fflush(nullptr);  // or buffered output would be written twice
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(ends[0]);
    ::close(ends[1]);
    throw Error(std::string("confut: fork failed: ") + std::strerror(errno));
  }
  if (pid == 0) {
    ::close(ends[0]);
    if (single_threaded) zygote_main(ends[1]);
    if (ends[1] == 3) {
      ::fcntl(3, F_SETFD, 0);  // keep it across exec
    } else {
      ::dup2(ends[1], 3);  // dup2 clears close-on-exec on the copy
    }
    ::execve("/proc/self/exe", arguments, environment.data());
    _exit(127);
  }
  ::close(ends[1]);
  control_fd = ends[0];
  return pid;
}

}  // namespace confut::detail
