#pragma once
/// @file harness.hpp
/// What every benchmark program shares besides the workloads: the command line (--workers),
/// answer checking (a wrong answer fails the run), manual timing, sequential baselines for
/// speedups, and running a measurement in a fresh copy of the program (--probe=NAME) with a
/// time limit, for figures a long-lived benchmark process would spoil (peak memory, idle CPU)
/// and for cases that may hang (W7).

#include <benchmark/benchmark.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

namespace confut_bench {

using Clock = std::chrono::steady_clock;
using Seconds = std::chrono::duration<double>;

// ---- command line ----

/// The largest number of workers: --workers=N, default one per hardware thread. Scaling
/// benchmarks run every count from 1 to it; the others use it.
inline std::size_t& max_workers() {
  static std::size_t workers = std::max(1u, std::thread::hardware_concurrency());
  return workers;
}

// ---- answers ----

/// Set by any wrong answer; main() then exits non-zero.
inline std::atomic<bool>& wrong_answer() {
  static std::atomic<bool> flag{false};
  return flag;
}

/// Marks the benchmark failed and the whole run as failed. Call, then leave the loop.
inline void fail_wrong_answer(benchmark::State& state, const std::string& message) {
  wrong_answer().store(true);
  std::fprintf(stderr, "WRONG ANSWER: %s\n", message.c_str());
  state.SkipWithError(("wrong answer: " + message).c_str());
}

/// Marks a peer's run failed for a reason that is the peer's own (e.g. std::async running
/// out of threads): reported, but the run still succeeds.
inline void fail_peer(benchmark::State& state, const std::string& message) {
  std::fprintf(stderr, "peer failed: %s\n", message.c_str());
  state.SkipWithError(("failed: " + message).c_str());
}

// ---- timing ----

/// Wall time of one iteration, reported with UseManualTime(); also summed for counters.
class IterationTimer {
 public:
  explicit IterationTimer(benchmark::State& state) : state_(state), start_(Clock::now()) {}
  /// Stops the clock, reports the iteration's time and returns it in seconds.
  double stop() {
    const double seconds = Seconds(Clock::now() - start_).count();
    state_.SetIterationTime(seconds);
    return seconds;
  }

 private:
  benchmark::State& state_;
  Clock::time_point start_;
};

inline double median(std::vector<double> values) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const std::size_t mid = values.size() / 2;
  return values.size() % 2 == 1 ? values[mid] : (values[mid - 1] + values[mid]) / 2;
}

/// Sequential baselines, so that a speedup is measured against the same run: each
/// "sequential" benchmark records its times here, and the parallel benchmarks registered
/// after it divide by their median. If the sequential benchmark was filtered out, the first
/// parallel benchmark measures the baseline itself (three runs).
class Baselines {
 public:
  static void record(const std::string& workload, double seconds) {
    table()[workload].push_back(seconds);
  }
  static double get(const std::string& workload, const std::function<void()>& run_sequential) {
    auto& times = table()[workload];
    if (times.empty()) {
      for (int i = 0; i < 3; ++i) {
        const auto start = Clock::now();
        run_sequential();
        times.push_back(Seconds(Clock::now() - start).count());
      }
    }
    return median(times);
  }

 private:
  static std::map<std::string, std::vector<double>>& table() {
    static std::map<std::string, std::vector<double>> times;
    return times;
  }
};

/// Whether a failure is confut's (a wrong answer: the run fails) or a peer's own.
enum class Side { confut, peer };

/// Runs `run` once untimed (unless `warmup` is false), then once per benchmark iteration,
/// timing each run; `check(result)` returns an empty string for a right answer, else what is
/// wrong. An exception from `run` fails a confut benchmark as a wrong answer and a peer's as
/// the peer's own failure. Returns the mean seconds per iteration, or a negative number
/// when the benchmark failed (and was marked so).
template <class Run, class Check>
double measure(benchmark::State& state, Side side, Run&& run, Check&& check,
               bool warmup = true) {
  auto failed = [&](const std::string& message) {
    if (side == Side::confut) {
      fail_wrong_answer(state, message);
    } else {
      fail_peer(state, message);
    }
    return -1.0;
  };
  try {
    if (warmup) {
      const std::string problem = check(run());
      if (!problem.empty()) return failed(problem);
    }
    double total = 0;
    std::int64_t iterations = 0;
    for (auto _ : state) {
      IterationTimer timer(state);
      const auto result = run();
      total += timer.stop();
      ++iterations;
      const std::string problem = check(result);
      if (!problem.empty()) return failed(problem);
    }
    return iterations > 0 ? total / static_cast<double>(iterations) : -1.0;
  } catch (const std::exception& error) {
    return failed(std::string("exception: ") + error.what());
  }
}

/// An empty string when `value == expected`, else a sentence saying both.
template <class T>
std::string expect_equal(const T& value, const T& expected) {
  if (value == expected) return "";
  std::ostringstream text;
  text << "got " << value << ", expected " << expected;
  return text.str();
}

/// Registers a benchmark timed with IterationTimer, reported in milliseconds.
template <class Fn>
benchmark::internal::Benchmark* register_timed(const std::string& name, Fn&& fn, int iterations,
                                               int repetitions = 0) {
  auto* bench = benchmark::RegisterBenchmark(name.c_str(), std::forward<Fn>(fn));
  bench->UseManualTime()->Unit(benchmark::kMillisecond)->Iterations(iterations);
  if (repetitions > 0) bench->Repetitions(repetitions);
  return bench;
}

// ---- /proc and CPU time ----

/// A "VmRSS:"-style field of /proc/self/status, in bytes (0 if absent).
inline long long proc_status_bytes(const char* field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  const std::size_t length = std::strlen(field);
  while (std::getline(in, line)) {
    if (line.compare(0, length, field) == 0 && line.size() > length && line[length] == ':') {
      return std::atoll(line.c_str() + length + 1) * 1024;  // the kernel reports kB
    }
  }
  return 0;
}

/// Resets VmHWM to the current RSS (Linux >= 4.0), so a later VmHWM is this phase's peak.
inline bool reset_peak_rss() {
  std::ofstream out("/proc/self/clear_refs");
  out << "5";
  out.flush();
  return static_cast<bool>(out);
}

/// CPU time used by the whole process (all threads) so far.
inline double process_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// ---- probes: a measurement in a fresh copy of this program ----

/// What a probe printed, or that it did not finish in time.
struct ProbeResult {
  bool timed_out = false;
  bool exited = false;   // normally, with exit_code
  int exit_code = -1;
  int signal = 0;        // when killed by a signal
  std::string output;    // its standard output
  double seconds = 0;    // wall time until it ended or was killed
};

/// Runs `<this program> --workers=N --probe=<name>` and collects its standard output; past `timeout`
/// it is killed (SIGKILL) and timed_out is set. Safe to call while threads run: the child
/// calls only dup2 and exec before it becomes the fresh program.
inline ProbeResult run_probe(const std::string& name, Seconds timeout) {
  ProbeResult result;
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    result.output = "pipe failed";
    return result;
  }
  const std::string workers = "--workers=" + std::to_string(max_workers());
  const std::string flag = "--probe=" + name;
  char exe[] = "/proc/self/exe";
  char* argv[] = {exe, const_cast<char*>(workers.c_str()), const_cast<char*>(flag.c_str()),
                  nullptr};
  const auto start = Clock::now();
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(fds[1], STDOUT_FILENO);  // dup2 clears O_CLOEXEC on the copy
    ::execv(exe, argv);
    ::_exit(127);
  }
  ::close(fds[1]);
  if (pid < 0) {
    ::close(fds[0]);
    result.output = "fork failed";
    return result;
  }
  const auto deadline = start + timeout;
  char buffer[4096];
  bool open = true;
  while (open) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      result.timed_out = true;
      break;
    }
    pollfd pfd{fds[0], POLLIN, 0};
    const int ready = ::poll(&pfd, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) continue;  // the deadline check above ends the loop
    const ssize_t n = ::read(fds[0], buffer, sizeof buffer);
    if (n > 0) {
      result.output.append(buffer, static_cast<std::size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      open = false;
    }
  }
  ::close(fds[0]);
  if (result.timed_out) ::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  result.seconds = Seconds(Clock::now() - start).count();
  if (WIFEXITED(status)) {
    result.exited = true;
    result.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    result.signal = WTERMSIG(status);
  }
  return result;
}

/// The value of "key=value" in a probe's output (one pair per line), or `fallback`.
inline std::string probe_value(const std::string& output, const std::string& key,
                               const std::string& fallback = "") {
  std::istringstream lines(output);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.compare(0, key.size() + 1, key + "=") == 0) return line.substr(key.size() + 1);
  }
  return fallback;
}

/// A probe: runs in the fresh process, prints "key=value" lines, returns its exit code.
using ProbeFunction = int (*)();

// ---- main ----

/// The main() of every benchmark program: handles --probe=NAME (runs that probe and exits)
/// and --workers=N, calls `register_benchmarks`, runs Google Benchmark, and exits 1 if any
/// answer was wrong.
inline int bench_main(int argc, char** argv, const std::map<std::string, ProbeFunction>& probes,
                      void (*register_benchmarks)()) {
  std::vector<char*> args;
  for (int i = 0; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("--probe=", 0) == 0) {
      const auto probe = probes.find(arg.substr(8));
      if (probe == probes.end()) {
        std::fprintf(stderr, "unknown probe %s\n", arg.c_str());
        return 2;
      }
      return probe->second();
    }
    if (arg.rfind("--workers=", 0) == 0) {
      const int workers = std::atoi(arg.c_str() + 10);
      if (workers < 1) {
        std::fprintf(stderr, "--workers needs a positive number\n");
        return 2;
      }
      max_workers() = static_cast<std::size_t>(workers);
      continue;
    }
    args.push_back(argv[i]);
  }
  int count = static_cast<int>(args.size());
  args.push_back(nullptr);
  benchmark::Initialize(&count, args.data());
  if (benchmark::ReportUnrecognizedArguments(count, args.data())) return 2;
  register_benchmarks();
  benchmark::AddCustomContext("workers", std::to_string(max_workers()));
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  if (wrong_answer().load()) {
    std::fprintf(stderr, "a benchmark produced a wrong answer: see WRONG ANSWER above\n");
    return 1;
  }
  return 0;
}

}  // namespace confut_bench
