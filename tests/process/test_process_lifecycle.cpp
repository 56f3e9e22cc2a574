// ProcessPoolExecutor: the life of its processes. A child forked by a task never acts as a
// worker; workers die with a parent that forked a helper before it was killed; processes a
// task started end with their worker; a task that closes the worker's descriptors gets its
// result or an error that says so; confut::Runtime and globals in workers; the type names
// of exceptions thrown in workers.

#include <catch2/catch.hpp>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <confut/confut.hpp>
#include <confut/runtime.hpp>

#include "test_support.hpp"

using namespace confut_test;

namespace lifecycle_test {
struct Custom {};
}  // namespace lifecycle_test

namespace {

/// Whether process `pid` runs (a zombie counts as gone: it has ended), from /proc.
bool running(int pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return false;
  const auto close_paren = line.rfind(')');
  if (close_paren == std::string::npos || close_paren + 2 >= line.size()) return false;
  return line[close_paren + 2] != 'Z' && line[close_paren + 2] != 'X';
}

/// The parent of process `pid`, from /proc (0 if unknown).
int parent_of(int pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(stat, line);
  const auto close_paren = line.rfind(')');
  if (close_paren == std::string::npos) return 0;
  std::istringstream rest(line.substr(close_paren + 2));
  std::string state;
  int ppid = 0;
  rest >> state >> ppid;
  return ppid;
}

/// Waits until none of `pids` runs, at most `bound`; true if they all ended.
bool all_end_within(const std::vector<int>& pids, std::chrono::milliseconds bound) {
  const auto deadline = std::chrono::steady_clock::now() + bound;
  while (true) {
    bool any = false;
    for (int pid : pids) any = any || running(pid);
    if (!any) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(10ms);
  }
}

void kill_all(const std::vector<int>& pids) {
  for (int pid : pids) {
    if (pid > 0) ::kill(pid, SIGKILL);
  }
}

// --- tasks ---------------------------------------------------------------------------------

/// Forks; the child returns from the task (it should have exited). The task waits for the
/// child and reports how it ended: x if it exited with code 0.
int fork_child_returns_then_wait(int x) {
  const pid_t child = ::fork();
  if (child == 0) return -1;
  int status = 0;
  if (::waitpid(child, &status, 0) != child) return -2;
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? x : -3;
}

/// Forks; the child returns from the task at once, and so does the task.
int fork_child_returns(int x) {
  if (::fork() == 0) return -1;
  return x;
}

/// Forks; the child throws out of the task.
int fork_child_throws(int x) {
  if (::fork() == 0) throw std::runtime_error("thrown in the forked child");
  return x;
}

int worker_pid() { return static_cast<int>(::getpid()); }

/// Runs tasks in a process pool of its own, inside the worker: its fork server and workers
/// are forked children of this worker, and must still act as such.
int sum_in_a_nested_pool(int n) {
  confut::ProcessPoolExecutor inner(1);
  int sum = 0;
  for (int i = 0; i < n; ++i) sum += inner.submit(ident, i).result(10s);
  return sum;
}

/// Starts a process that sleeps 30 s (a grandchild of the worker); returns its pid.
int start_sleeper() {
  const pid_t sleeper = ::fork();
  if (sleeper == 0) {
    ::sleep(30);
    _exit(0);
  }
  return static_cast<int>(sleeper);
}

/// Starts a sleeper, writes its pid to `path`, then kills its own worker.
int start_sleeper_then_die(std::string path) {
  const int sleeper = start_sleeper();
  {
    std::ofstream out(path);
    out << sleeper << "\n";
  }
  ::raise(SIGKILL);
  return sleeper;
}

void close_descriptors_above_2() {
#if defined(SYS_close_range)
  if (::syscall(SYS_close_range, 3u, ~0u, 0u) == 0) return;
#endif
  for (int fd = 3; fd < 65536; ++fd) ::close(fd);
}

/// Closes every descriptor above 2, lets the pool's dispatcher fall asleep, returns x.
int close_descriptors_then(int x) {
  close_descriptors_above_2();
  std::this_thread::sleep_for(50ms);
  return x;
}

/// The same with a result too large for the shared ring (it would go over the socket).
std::vector<int> close_descriptors_then_large(int n) {
  close_descriptors_above_2();
  return std::vector<int>(static_cast<std::size_t>(n), 7);
}

int throw_custom() { throw lifecycle_test::Custom{}; }
int throw_int() { throw 42; }
int throw_text() { throw "a string literal"; }
int throw_nested() {
  try {
    throw std::logic_error("the inner cause");
  } catch (...) {
    std::throw_with_nested(std::runtime_error("the outer failure"));
  }
}

/// Runs the globals helper (tests/lifecycle_globals_helper.cpp); returns its stdout and
/// stderr, and its exit status.
struct HelperRun {
  std::string out;
  std::string err;
  int status = -1;
};
HelperRun run_globals_helper(bool with_runtime) {
  const std::string base = "/tmp/confut_lifecycle_" + std::to_string(::getpid()) +
                           (with_runtime ? "_runtime" : "_plain");
  const std::string command = std::string(with_runtime ? "" : "CONFUT_TEST_WITHOUT_RUNTIME=1 ") +
                              "timeout 60 " CONFUT_LIFECYCLE_HELPER " > " + base + ".out 2> " +
                              base + ".err";
  HelperRun run;
  run.status = std::system(command.c_str());
  auto slurp = [](const std::string& path) {
    std::ifstream in(path);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  };
  run.out = slurp(base + ".out");
  run.err = slurp(base + ".err");
  std::remove((base + ".out").c_str());
  std::remove((base + ".err").c_str());
  return run;
}

int count_lines_containing(const std::string& text, const std::string& needle) {
  std::istringstream lines(text);
  int count = 0;
  for (std::string line; std::getline(lines, line);) count += line.find(needle) != std::string::npos;
  return count;
}

}  // namespace

// --- item: a child forked by a task ---------------------------------------------------------

TEST_CASE("a child forked by a task that returns from it exits and takes no task",
          "[process_pool][lifecycle]") {
  confut::ProcessPoolExecutor ex(2);
  // The task waits for its child: the child must exit (code 0), not run the worker loop.
  REQUIRE(ex.submit(fork_child_returns_then_wait, 7).result(10s) == 7);
  // Children that return, or throw, at once: nothing of theirs reaches the pool.
  std::vector<confut::Future<int>> forks;
  std::vector<confut::Future<int>> plain;
  for (int i = 0; i < 6; ++i) {
    forks.push_back(ex.submit(i % 2 == 0 ? fork_child_returns : fork_child_throws, i));
    for (int j = 0; j < 10; ++j) plain.push_back(ex.submit(ident, 10 * i + j));
  }
  for (int i = 0; i < 6; ++i) REQUIRE(forks[static_cast<std::size_t>(i)].result(10s) == i);
  for (int i = 0; i < 60; ++i) REQUIRE(plain[static_cast<std::size_t>(i)].result(10s) == i);
  const confut::ExecutorStats stats = ex.stats();
  CHECK(stats.failed == 0);
}

TEST_CASE("a process pool created inside a task works", "[process_pool][lifecycle]") {
  confut::ProcessPoolExecutor ex(1);
  REQUIRE(ex.submit(sum_in_a_nested_pool, 20).result(30s) == 190);
  REQUIRE(ex.submit(sum_in_a_nested_pool, 5).result(30s) == 10);
}

// --- item: parent death with a forked helper ------------------------------------------------

/// Forks a child that runs `body` (single-threaded, as any forked child), sends the pids it
/// returns to this process and kills itself with SIGKILL; returns those pids once the child
/// is reaped.
template <class Body>
std::vector<int> pids_from_a_child_killed_after(Body body) {
  int channel[2];
  if (::pipe(channel) != 0) return {};
  const pid_t child = ::fork();
  if (child == 0) {
    ::close(channel[0]);
    const std::vector<int> pids = body(channel[1]);
    (void)!::write(channel[1], pids.data(), pids.size() * sizeof(int));
    ::close(channel[1]);
    ::raise(SIGKILL);
  }
  ::close(channel[1]);
  std::vector<int> pids;
  for (int pid = 0; ::read(channel[0], &pid, sizeof pid) == sizeof pid;) pids.push_back(pid);
  ::close(channel[0]);
  ::waitpid(child, nullptr, 0);
  return pids;
}

TEST_CASE("workers die within a second of a parent killed after it forked a helper",
          "[process_pool][lifecycle][orphans]") {
  std::vector<int> pids = pids_from_a_child_killed_after([](int channel) {
    auto* ex = new confut::ProcessPoolExecutor(2);  // alive when the child is killed
    (void)ex->submit(ident, 1).result(30s);
    std::vector<int> started = wait_for_workers(*ex, 2);
    if (!started.empty()) started.push_back(parent_of(started.front()));  // the fork server
    const pid_t helper = ::fork();  // holds the parent's end of the control socket
    if (helper == 0) {
      ::close(channel);
      ::sleep(10);
      _exit(0);
    }
    started.push_back(static_cast<int>(helper));  // last: the helper
    return started;
  });
  REQUIRE(pids.size() == 4);  // two workers, the fork server, the helper
  const int helper = pids.back();
  pids.pop_back();
  // "Within a second", with a margin for a loaded machine; the helper lives 10 s.
  const bool ended = all_end_within(pids, 2500ms);
  CHECK(running(helper));
  kill_all(pids);
  kill_all({helper});
  REQUIRE(ended);
}

// --- item: processes a task started ---------------------------------------------------------

TEST_CASE("a process started by a task ends when the pool shuts down",
          "[process_pool][lifecycle][orphans]") {
  int sleeper = 0;
  {
    confut::ProcessPoolExecutor ex(1);
    sleeper = ex.submit(start_sleeper).result(10s);
    REQUIRE(sleeper > 0);
    REQUIRE(running(sleeper));
    ex.shutdown();
  }
  const bool ended = all_end_within({sleeper}, 2500ms);
  kill_all({sleeper});
  REQUIRE(ended);
}

TEST_CASE("a process started by a task ends when its worker dies and is replaced",
          "[process_pool][lifecycle][orphans]") {
  const std::string path = "/tmp/confut_lifecycle_sleeper_" + std::to_string(::getpid());
  confut::ProcessPoolExecutor ex(1);
  auto dying = ex.submit(start_sleeper_then_die, path);
  REQUIRE_THROWS_AS(dying.result(10s), confut::WorkerDied);
  int sleeper = 0;
  {
    std::ifstream in(path);
    in >> sleeper;
  }
  std::remove(path.c_str());
  REQUIRE(sleeper > 0);
  const bool ended = all_end_within({sleeper}, 2500ms);
  kill_all({sleeper});
  REQUIRE(ended);
  REQUIRE(ex.submit(ident, 5).result(10s) == 5);  // the replacement works
}

TEST_CASE("a worker runs in a process group of its own, away from the parent's",
          "[process_pool][lifecycle]") {
  confut::ProcessPoolExecutor ex(1);
  const int worker = ex.submit(worker_pid).result(10s);
  CHECK(::getpgid(worker) == worker);
  CHECK(::getpgid(worker) != ::getpgrp());
}

// --- item: a task that closes the worker's descriptors --------------------------------------

TEST_CASE("a task that closes the worker's descriptors gets its result at once",
          "[process_pool][lifecycle]") {
  confut::ProcessPoolExecutor ex(1);
  // A small result travels in shared memory: it arrives without waiting for the worker's
  // idle check (a second), although the pool's doorbell is closed.
  const auto started = std::chrono::steady_clock::now();
  REQUIRE(ex.submit(close_descriptors_then, 11).result(10s) == 11);
  CHECK(std::chrono::steady_clock::now() - started < 900ms);
}

TEST_CASE("a task that closes the worker's descriptors and returns a large result fails clearly",
          "[process_pool][lifecycle]") {
  confut::ProcessPoolExecutor ex(1);
  const std::vector<int> before = wait_for_workers(ex, 1);
  REQUIRE(before.size() == 1);
  // The result needs the socket that the task closed: the error says so.
  auto large = ex.submit(close_descriptors_then_large, 100000);
  REQUIRE_THROWS_WITH(large.result(10s), Catch::Contains("closed the worker's channel"));
  // The worker is replaced (a task sent to it before the pool learnt of its exit would fail
  // as well: only a new worker is sure to run it).
  for (int i = 0; i < 500 && ex.worker_pids() == before; ++i) std::this_thread::sleep_for(10ms);
  REQUIRE(wait_for_workers(ex, 1) != before);
  for (int i = 0; i < 10; ++i) REQUIRE(ex.submit(ident, i).result(10s) == i);
  REQUIRE(ex.submit(close_descriptors_then_large, 10).result(10s) == std::vector<int>(10, 7));
}

// --- item: confut::Runtime ------------------------------------------------------------------

TEST_CASE("confut::Runtime is one per program and not copyable", "[lifecycle][runtime]") {
  static_assert(!std::is_copy_constructible_v<confut::Runtime>);
  static_assert(!std::is_copy_assignable_v<confut::Runtime>);
  static_assert(!std::is_move_constructible_v<confut::Runtime>);
  int argc = 1;
  char name[] = "test";
  char* arguments[] = {name, nullptr};
  char** argv = arguments;
  // catch_main.cpp's Runtime exists.
  REQUIRE_THROWS_WITH(confut::Runtime(argc, argv), Catch::Contains("a second confut::Runtime"));
}

TEST_CASE("with confut::Runtime, workers of a re-executed fork server see initialized globals",
          "[process_pool][lifecycle][runtime]") {
  const HelperRun run = run_globals_helper(true);
  INFO("stdout: " << run.out << "\nstderr: " << run.err);
  REQUIRE(run.status == 0);
  CHECK(run.out == "sum=5050\nsum=5050\n");
  CHECK(count_lines_containing(run.err, "confut") == 0);
}

TEST_CASE("without confut::Runtime, the first re-executing pool says so once on stderr",
          "[process_pool][lifecycle][runtime]") {
#if defined(CONFUT_TSAN)
  SUCCEED("under ThreadSanitizer the fork server is never re-executed");
#else
  const HelperRun run = run_globals_helper(false);
  INFO("stdout: " << run.out << "\nstderr: " << run.err);
  REQUIRE(run.status == 0);
  CHECK(count_lines_containing(run.out, "sum=") == 2);
  CHECK(count_lines_containing(run.err, "confut::Runtime runtime(argc, argv);") == 1);
  CHECK(count_lines_containing(run.err, "confut") == 1);
#endif
}

// --- item: exception types from workers -----------------------------------------------------

TEST_CASE("exceptions of any type thrown in a worker keep their type name",
          "[process_pool][lifecycle][exceptions]") {
  confut::ProcessPoolExecutor ex(1);
  auto remote_error = [](confut::Future<int>& future) {
    try {
      (void)future.result(10s);
    } catch (const confut::RemoteError& e) {
      return std::pair<std::string, std::string>(e.remote_type(), e.remote_what());
    }
    return std::pair<std::string, std::string>("no RemoteError", "");
  };
  auto custom = ex.submit(throw_custom);
  auto number = ex.submit(throw_int);
  auto text = ex.submit(throw_text);
  auto nested = ex.submit(throw_nested);
  CHECK(remote_error(custom).first == "lifecycle_test::Custom");
  CHECK(remote_error(number).first == "int");
  const auto text_error = remote_error(text);
  CHECK(text_error.first == "const char*");
  CHECK(text_error.second == "a string literal");
  const auto nested_error = remote_error(nested);
  CHECK(nested_error.first == "std::runtime_error");
  CHECK(nested_error.second.find("the outer failure") != std::string::npos);
  CHECK(nested_error.second.find("std::logic_error: the inner cause") != std::string::npos);
}

// --- shutdown while a process the parent forked holds the pool's sockets -------------------

TEST_CASE("shutdown does not wait for a process the parent forked",
          "[process_pool][lifecycle][orphans]") {
  confut::ProcessPoolExecutor ex(2);
  REQUIRE(ex.submit(ident, 3).result(10s) == 3);
  const std::vector<int> workers = wait_for_workers(ex, 2);
  const pid_t helper = ::fork();  // copies the pool's sockets; lives 10 s
  if (helper == 0) {
    ::sleep(10);
    _exit(0);
  }
  const auto started = std::chrono::steady_clock::now();
  ex.shutdown();
  const auto took = std::chrono::steady_clock::now() - started;
  ::kill(helper, SIGKILL);
  ::waitpid(helper, nullptr, 0);
  CHECK(took < 5s);
  REQUIRE(all_end_within(workers, 2500ms));
}
