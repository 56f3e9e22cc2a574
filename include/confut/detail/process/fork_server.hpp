#pragma once
// The fork server ("zygote") of a process pool: a single-threaded process, started with the
// pool, that forks every worker (and every replacement), so that no worker is ever forked from
// a process that runs threads. It reaps the workers and reports how each one ended.
//
// The zygote is forked from the parent when the parent runs one thread. Otherwise (a pool
// created while threads run) the forked child at once execs this same binary, which enters
// the zygote loop in the constructor of the program's confut::Runtime (runtime.hpp), after
// static initialization; a program without a Runtime enters it from a static initializer
// (see zygote_entry below) before main(), where globals with dynamic initialization are
// still empty.
//
// Each worker runs in a process group of its own, which the zygote kills when it reaps the
// worker: processes a task started do not outlive their worker. The zygote watches the
// parent's pid (a pidfd), not only its control socket, which a process the parent forked may
// hold open after the parent died.

#include <atomic>
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

#include "../../errors.hpp"
#include "worker_main.hpp"

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
/// The pid of the process that created the pool, for a re-executed zygote.
inline constexpr const char* kZygoteParentVariable = "CONFUT_ZYGOTE_PARENT";
/// Where a re-executed zygote takes over: "runtime" (in confut::Runtime's constructor, set
/// when the parent has a Runtime) or "static" (from a static initializer).
inline constexpr const char* kZygoteEntryVariable = "CONFUT_ZYGOTE_ENTRY";

/// Whether a confut::Runtime exists in this process (constant-initialized: safe to read
/// during static initialization).
inline std::atomic<bool> runtime_alive{false};
/// Whether the "no confut::Runtime" warning was printed already (once per process).
inline std::atomic<bool> warned_without_runtime{false};

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

/// Reaps one ended worker (waiting for one if `block`), after ending its process group: what
/// its tasks started and left behind. The group is killed while the worker is a zombie, so
/// its pid, the group's id, cannot have been reused. Returns the pid, or -1 if none ended.
inline pid_t reap_worker(bool block, int& status) {
  siginfo_t ended{};
  if (::waitid(P_ALL, 0, &ended, WEXITED | WNOWAIT | (block ? 0 : WNOHANG)) != 0 ||
      ended.si_pid <= 0) {
    return -1;
  }
  ::kill(-ended.si_pid, SIGKILL);
  return ::waitpid(ended.si_pid, &status, 0);
}

/// A descriptor that becomes readable when process `pid` exits, or -1 (a kernel before 5.3).
inline int watch_process(pid_t pid) {
#if defined(SYS_pidfd_open)
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
#else
  (void)pid;
  return -1;
#endif
}

/// The zygote's loop; never returns. When the control socket closes (the pool shut down) or
/// the parent (pid `parent`) dies, it kills the workers still alive and their process
/// groups, reaps them and exits.
[[noreturn]] inline void zygote_main(int control_fd, pid_t parent) {
  ::setpgid(0, 0);  // away from the terminal's group: a terminal's Ctrl-C does not reach it
  ::signal(SIGINT, SIG_IGN);
  ::signal(SIGPIPE, SIG_IGN);
  control_fd = close_inherited_descriptors(control_fd);
  // The control socket alone does not tell when the parent dies: a process the parent forked
  // holds a copy of its end. A pidfd does; without one (old kernels), getppid() every 200 ms.
  const int parent_fd = watch_process(parent);
  if (::getppid() != parent) _exit(0);  // gone already (the pidfd may name another process)
  const int parent_check_ms = parent_fd >= 0 ? -1 : 200;

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
    while ((pid = reap_worker(false, status)) > 0) {
      live.erase(pid);
      ControlMessage exited;
      exited.type = ControlMessage::kExited;
      exited.pid = pid;
      exited.status = status;
      send_control(control_fd, exited);
    }
  };

  while (true) {
    pollfd watched[3] = {{control_fd, POLLIN, 0}, {child_fd, POLLIN, 0}, {parent_fd, POLLIN, 0}};
    if (::poll(watched, 3, parent_check_ms) < 0 && errno != EINTR) break;
    if (watched[2].revents != 0 || ::getppid() != parent) break;  // the parent is gone
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
        ::setpgid(0, 0);  // a group of its own, ended with it (not the terminal's either)
        ::close(control_fd);
        ::close(child_fd);
        if (parent_fd >= 0) ::close(parent_fd);
        ::sigprocmask(SIG_UNBLOCK, &child_signal, nullptr);
        ::signal(SIGPIPE, SIG_DFL);
        run_worker(ends, config);
      }
      ControlMessage spawned;
      spawned.type = ControlMessage::kSpawned;
      spawned.slot = message.slot;
      spawned.pid = pid;
      send_control(control_fd, spawned);
      if (pid > 0) {
        ::setpgid(pid, pid);  // as the worker does: whichever runs first
        live.insert(pid);
      }
    }
    for (int i = 0; i < passed_count; ++i) ::close(passed[i]);  // the worker has its copies
  }
  for (pid_t pid : live) ::kill(pid, SIGKILL);
  int status = 0;
  while (reap_worker(true, status) > 0) {
  }
  _exit(0);
}

/// In a program re-executed as a zygote, enters the zygote loop (never returns) if it is to
/// be entered at `entry` ("static" or "runtime"); otherwise returns.
inline void enter_zygote_if_asked(const char* entry) {
  const char* fd = std::getenv(kZygoteFdVariable);
  const char* asked = std::getenv(kZygoteEntryVariable);
  if (fd == nullptr || asked == nullptr || std::strcmp(asked, entry) != 0) return;
  const char* parent = std::getenv(kZygoteParentVariable);
  const int control_fd = std::atoi(fd);
  const pid_t parent_pid = parent != nullptr ? static_cast<pid_t>(std::atol(parent)) : ::getppid();
  ::unsetenv(kZygoteFdVariable);
  ::unsetenv(kZygoteEntryVariable);
  ::unsetenv(kZygoteParentVariable);
  zygote_main(control_fd, parent_pid);
}

/// In a program re-executed as a zygote by a parent without a confut::Runtime, takes over
/// before main(). Referenced by the pool so that every program which can create one carries
/// this initializer.
inline const bool zygote_entry = [] {
  enter_zygote_if_asked("static");
  return true;
}();

/// Said once per process, by the first pool that re-executes its fork server in a program
/// without a confut::Runtime.
inline void warn_without_runtime() {
  if (runtime_alive.load() || warned_without_runtime.exchange(true)) return;
  std::fputs(
      "confut: warning: this process pool was created while threads run, so its fork server "
      "re-executes the program and starts before main(): globals with dynamic initialization "
      "are empty in its workers; construct `confut::Runtime runtime(argc, argv);` first in "
      "main() (#include <confut/runtime.hpp>) to fix this\n",
      stderr);
}

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
  const pid_t parent = ::getpid();
  std::vector<char*> environment;
  std::string zygote_fd_setting = std::string(kZygoteFdVariable) + "=3";
  std::string parent_setting = std::string(kZygoteParentVariable) + "=" + std::to_string(parent);
  std::string entry_setting =
      std::string(kZygoteEntryVariable) + (runtime_alive.load() ? "=runtime" : "=static");
  char program_name[] = "confut-zygote";
  char* arguments[] = {program_name, nullptr};
  if (!single_threaded) {
    warn_without_runtime();
    for (char** entry = environ; *entry != nullptr; ++entry) environment.push_back(*entry);
    environment.push_back(zygote_fd_setting.data());
    environment.push_back(parent_setting.data());
    environment.push_back(entry_setting.data());
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
    if (single_threaded) zygote_main(ends[1], parent);
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
