// crash_isolation: a task that crashes, hangs or throws fails alone (ProcessPoolExecutor).
//
// In a thread pool a null-pointer dereference or abort() takes the whole program down, and a
// task that hangs holds its thread forever. In a process pool each task runs in a worker
// process: a crash kills that worker only (its future fails with WorkerDied, naming the
// signal), a task past the pool's task_timeout has its worker killed (TimeoutError), and an
// exception of a type the parent does not know comes back as RemoteError with the type's
// name. Dead workers are replaced, so the other tasks, and later ones, run as usual.
//
// Python equivalent (concurrent.futures has no per-task timeout, and one crash breaks the
// whole pool there: BrokenProcessPool for every pending future):
//     with ProcessPoolExecutor(2) as ex:
//         futures = [ex.submit(square, i) for i in range(20)] + [ex.submit(segfault)]
//         for f in futures:
//             try: print(f.result())
//             except Exception as e: print(type(e).__name__, e)

#include <confut/confut.hpp>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

int square(int x) { return x * x; }

int dereference_null(int x) {
  int* volatile pointer = nullptr;  // volatile: the compiler cannot assume it is null
  return *pointer + x;
}

int call_abort(int) { std::abort(); }

int sleep_60s(int x) {
  std::this_thread::sleep_for(60s);
  return x;
}

// An exception type that only this program knows; the parent gets it as RemoteError.
struct LegacyError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

int throw_legacy_error(int x) { throw LegacyError("record " + std::to_string(x) + " is corrupt"); }

// What a bad task is expected to do: fail with this error type (and, for a crash, signal).
struct Expectation {
  const char* task;
  int (*fn)(int);
  const char* error;
  int signal;  // for WorkerDied
};

// Names the exception in `error` and checks it against the expectation.
bool check_error(std::exception_ptr error, const Expectation& expected) {
  std::string type = "none", message = "(returned a value)";
  int signal = 0;
  try {
    if (error) std::rethrow_exception(error);
  } catch (const confut::WorkerDied& e) {
    type = "WorkerDied";
    message = e.what();
    signal = e.signal();
  } catch (const confut::TimeoutError& e) {
    type = "TimeoutError";
    message = e.what();
  } catch (const confut::RemoteError& e) {
    type = "RemoteError";
    message = e.what();
    if (e.remote_type() != "LegacyError") type += " of type " + e.remote_type();
  } catch (const std::exception& e) {
    type = "std::exception";
    message = e.what();
  }
  const bool ok = type == expected.error && signal == expected.signal;
  std::printf("  %-20s -> %-13s %-3s %s\n", expected.task, type.c_str(), ok ? "ok" : "BAD",
              message.c_str());
  return ok;
}

// Prints how many of the normal tasks returned their square; true if all did.
bool check_normal(const std::vector<confut::Future<int>>& futures, const std::vector<int>& inputs,
                  const char* what) {
  int right = 0;
  for (std::size_t i = 0; i < futures.size(); ++i) {
    try {
      if (futures[i].result() == square(inputs[i])) ++right;
    } catch (const std::exception& e) {
      std::printf("  square(%d) failed: %s\n", inputs[i], e.what());
    }
  }
  const bool ok = right == static_cast<int>(futures.size());
  std::printf("  %-20s -> %d of %zu right %s\n", what, right, futures.size(), ok ? "ok" : "BAD");
  return ok;
}

int main(int argc, char** argv) {
  confut::Runtime runtime(argc, argv);  // first: the pool's fork server may start here
  confut::ProcessPoolOptions options;
  options.max_workers = 2;
  options.task_timeout = 1s;
  confut::ProcessPoolExecutor ex(options);

  const Expectation bad[] = {
      {"dereference_null", dereference_null, "WorkerDied", SIGSEGV},
      {"call_abort", call_abort, "WorkerDied", SIGABRT},
      {"sleep_60s", sleep_60s, "TimeoutError", 0},
      {"throw_legacy_error", throw_legacy_error, "RemoteError", 0},
  };

  std::printf("crash_isolation: %zu worker processes (hardware_concurrency %u), task_timeout 1 s\n",
              ex.max_workers(), std::thread::hardware_concurrency());
  std::printf("\n1. 20 normal tasks, and 4 bad ones sent before squares 4, 8, 12 and 16\n");
  const auto start = Clock::now();
  std::vector<confut::Future<int>> normal, failing;
  std::vector<int> inputs;
  for (int i = 0; i < 20; ++i) {
    if (i % 4 == 0 && i > 0) failing.push_back(ex.submit(bad[i / 4 - 1].fn, i));
    normal.push_back(ex.submit(square, i));
    inputs.push_back(i);
  }
  bool all_ok = true;
  for (std::size_t i = 0; i < failing.size(); ++i) {
    // Ten times the timeout: if the pool failed to stop a task, say so rather than hang.
    const bool done = failing[i].wait_for(10s);
    all_ok = check_error(done ? failing[i].exception()
                              : std::make_exception_ptr(std::runtime_error("still running")),
                         bad[i]) &&
             all_ok;
  }
  all_ok = check_normal(normal, inputs, "square(0..19)") && all_ok;
  std::printf("  all done in %.2f s\n",
              std::chrono::duration<double>(Clock::now() - start).count());

  std::printf("\n2. the pool keeps serving: its dead workers were replaced\n");
  std::vector<confut::Future<int>> more;
  std::vector<int> more_inputs;
  for (int i = 100; i < 110; ++i) {
    more.push_back(ex.submit(square, i));
    more_inputs.push_back(i);
  }
  all_ok = check_normal(more, more_inputs, "square(100..109)") && all_ok;
  std::printf("  %-20s ->", "workers now");
  for (int pid : ex.worker_pids()) std::printf(" pid %d", pid);
  std::printf("\n");

  std::printf("\n3. terminate(): stopping a running task before its timeout\n");
  auto endless = ex.submit(sleep_60s, 1);
  while (!endless.running()) std::this_thread::sleep_for(1ms);
  std::this_thread::sleep_for(200ms);  // it is now inside its sleep, in a worker
  const auto terminate_start = Clock::now();
  const bool stopped = ex.terminate(endless);
  const std::chrono::duration<double, std::milli> took = Clock::now() - terminate_start;
  const bool terminate_ok = stopped && endless.cancelled();
  all_ok = all_ok && terminate_ok;
  std::printf("  terminate(sleep_60s) -> returned %s in %.1f ms, future %s %s\n",
              stopped ? "true" : "false", took.count(), confut::to_string(endless.status()),
              terminate_ok ? "ok" : "BAD");
  try {
    (void)endless.result();
    std::printf("  result() returned a value BAD\n");
    all_ok = false;
  } catch (const confut::CancelledError& e) {
    std::printf("  result() throws CancelledError: %s\n", e.what());
  }
  all_ok = check_normal({ex.submit(square, 7)}, {7}, "square(7) after it") && all_ok;

  std::printf("\n%s\n", all_ok ? "every task failed or succeeded as expected"
                               : "SOME EXPECTATION FAILED");
  return all_ok ? 0 : 1;
}
