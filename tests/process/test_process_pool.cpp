// ProcessPoolExecutor: the executor API over worker processes, crash isolation and
// replacement, exceptions across processes, timeouts, stopping running tasks, initializer
// failures, and no zombie or orphan processes afterwards.

#include <catch2/catch.hpp>

#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <atomic>
#include <map>
#include <numeric>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <dirent.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <confut/confut.hpp>
#include <confut/process_pool.hpp>

#include "test_support.hpp"

using namespace confut_test;

namespace {
// AddressSanitizer and ThreadSanitizer turn a SIGSEGV into a report and exit(1).
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kSanitizerCatchesSegv = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
constexpr bool kSanitizerCatchesSegv = true;
#else
constexpr bool kSanitizerCatchesSegv = false;
#endif
#else
constexpr bool kSanitizerCatchesSegv = false;
#endif

int square(int x) { return x * x; }
int current_pid() { return static_cast<int>(::getpid()); }
int crash_with_null_pointer(int) {
  volatile int* nowhere = nullptr;
  return *nowhere;
}
int crash_with_abort(int) { std::abort(); }
int kill_self(int) {
  ::raise(SIGKILL);
  return 0;
}
int exit_three(int) { std::_Exit(3); }
int sleep_then_pid(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return static_cast<int>(::getpid());
}
int sleep_us_then_double(int us) {
  std::this_thread::sleep_for(std::chrono::microseconds(us));
  return 2 * us;
}
int sleep_ms(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return ms;
}
int throw_out_of_range(int) { throw std::out_of_range("index 7"); }

/// Tasks that leave a trace of each run: one byte appended to the file <dir>/<k>. (Files,
/// because the workers may come from a fresh exec of this binary: no memory is shared.)
int record_run(std::string dir, int k) {
  std::ofstream(dir + "/" + std::to_string(k), std::ios::app) << 'x';
  return k;
}
int record_run_after_us(std::string dir, int k, int us) {
  std::this_thread::sleep_for(std::chrono::microseconds(us));
  return record_run(std::move(dir), k);
}

/// A fresh directory for record_run, removed with what is in it.
class RunLog {
 public:
  RunLog() {
    char name[] = "/tmp/confut-runs-XXXXXX";
    REQUIRE(::mkdtemp(name) != nullptr);
    dir_ = name;
  }
  ~RunLog() {
    if (DIR* dir = ::opendir(dir_.c_str())) {
      while (dirent* entry = ::readdir(dir)) {
        if (entry->d_name[0] != '.') ::unlink((dir_ + "/" + entry->d_name).c_str());
      }
      ::closedir(dir);
    }
    ::rmdir(dir_.c_str());
  }
  RunLog(const RunLog&) = delete;
  RunLog& operator=(const RunLog&) = delete;

  const std::string& dir() const { return dir_; }
  /// How many times task k ran.
  std::size_t runs(int k) const {
    struct stat info {};
    if (::stat((dir_ + "/" + std::to_string(k)).c_str(), &info) != 0) return 0;
    return static_cast<std::size_t>(info.st_size);
  }

 private:
  std::string dir_;
};

struct CustomFailure : std::exception {
  const char* what() const noexcept override { return "custom failure"; }
};
int throw_custom(int) { throw CustomFailure(); }

double sum_vector(const std::vector<double>& values) {
  return std::accumulate(values.begin(), values.end(), 0.0);
}
std::vector<double> scale(std::vector<double> values, double factor) {
  for (double& v : values) v *= factor;
  return values;
}

struct Point {
  int x;
  double y;
  std::string label;
};
Point move_point(Point p, int dx) {
  p.x += dx;
  p.label += "+";
  return p;
}

std::map<std::string, std::vector<int>> group(std::vector<int> values) {
  std::map<std::string, std::vector<int>> groups;
  for (int v : values) groups[v % 2 == 0 ? "even" : "odd"].push_back(v);
  return groups;
}

}  // namespace

/// A result type whose decoding fails in the parent for the value 13.
struct Fragile {
  int value;
};
template <>
struct confut::Codec<Fragile> {
  static void encode(confut::WireWriter& w, const Fragile& f) { w.write(f.value); }
  static Fragile decode(confut::WireReader& r) {
    const int value = r.read<int>();
    if (value == 13) throw confut::DecodeError("unlucky value");
    return Fragile{value};
  }
};

namespace {
Fragile make_fragile(int value) { return Fragile{value}; }

void failing_initializer() { throw std::runtime_error("cannot open the model file"); }
void crashing_initializer() { std::abort(); }

/// Children of this process that are zombies (state Z), from /proc.
int zombie_children() {
  int zombies = 0;
  const std::string me = std::to_string(::getpid());
  if (DIR* proc = opendir("/proc")) {
    while (dirent* entry = readdir(proc)) {
      if (entry->d_name[0] < '0' || entry->d_name[0] > '9') continue;
      std::ifstream stat(std::string("/proc/") + entry->d_name + "/stat");
      std::string line;
      std::getline(stat, line);
      const auto close_paren = line.rfind(')');
      if (close_paren == std::string::npos) continue;
      std::istringstream rest(line.substr(close_paren + 2));
      std::string state, ppid;
      rest >> state >> ppid;
      if (ppid == me && state == "Z") ++zombies;
    }
    closedir(proc);
  }
  return zombies;
}

bool process_exists(int pid) { return ::kill(pid, 0) == 0; }

/// Waits (bounded) until none of `pids` exists any more.
bool all_gone(const std::vector<int>& pids) {
  for (int i = 0; i < 500; ++i) {
    bool any = false;
    for (int pid : pids) any = any || process_exists(pid);
    if (!any) return true;
    std::this_thread::sleep_for(10ms);
  }
  return false;
}
}  // namespace

TEST_CASE("tasks run in other processes and return their values", "[process_pool]") {
  confut::ProcessPoolExecutor ex(2);
  REQUIRE(ex.max_workers() == 2);
  REQUIRE(ex.submit(square, 7).result() == 49);
  REQUIRE(ex.submit([](int a, int b) { return a + b; }, 2, 3).result() == 5);
  const int worker = ex.submit(current_pid).result();
  REQUIRE(worker != static_cast<int>(::getpid()));
  std::vector<int> pids = ex.worker_pids();
  REQUIRE(std::find(pids.begin(), pids.end(), worker) != pids.end());
}

TEST_CASE("sendable values make the round trip", "[process_pool][serialization]") {
  confut::ProcessPoolExecutor ex(2);
  auto moved = ex.submit(move_point, Point{1, 2.5, "p"}, 4).result();
  REQUIRE(moved.x == 5);
  REQUIRE(moved.y == 2.5);
  REQUIRE(moved.label == "p+");
  auto groups = ex.submit(group, std::vector<int>{1, 2, 3, 4, 5}).result();
  REQUIRE(groups["even"] == std::vector<int>{2, 4});
  REQUIRE(groups["odd"] == std::vector<int>{1, 3, 5});
  auto text = ex.submit([](std::string s) { return s + s; }, std::string("ab")).result();
  REQUIRE(text == "abab");
  ex.submit([](int) {}, 1).result();  // void results
}

TEST_CASE("a 100 MB vector goes to a worker and back", "[process_pool][large]") {
  confut::ProcessPoolExecutor ex(1);
  std::vector<double> big(100 * 1024 * 1024 / sizeof(double), 1.0);
  auto doubled = ex.submit(scale, big, 2.0);
  auto total = ex.submit(sum_vector, big);
  const auto& result = doubled.result();
  REQUIRE(result.size() == big.size());
  REQUIRE(result.front() == 2.0);
  REQUIRE(result.back() == 2.0);
  REQUIRE(total.result() == static_cast<double>(big.size()));
}

TEST_CASE("standard exceptions keep their type, others become RemoteError",
          "[process_pool][errors]") {
  confut::ProcessPoolExecutor ex(1);
  try {
    (void)ex.submit(throw_out_of_range, 1).result();
    FAIL("expected std::out_of_range");
  } catch (const std::out_of_range& e) {
    REQUIRE(std::string(e.what()) == "index 7");
  }
  try {
    (void)ex.submit(throw_custom, 1).result();
    FAIL("expected RemoteError");
  } catch (const confut::RemoteError& e) {
    REQUIRE(e.remote_type().find("CustomFailure") != std::string::npos);
    REQUIRE(e.remote_what() == "custom failure");
  }
  REQUIRE(ex.submit(square, 3).result() == 9);  // the worker survived both
}

TEST_CASE("a result that cannot be decoded fails only its own future", "[process_pool][errors]") {
  confut::ProcessPoolExecutor ex(1);
  auto bad = ex.submit(make_fragile, 13);
  auto good = ex.submit(make_fragile, 12);
  REQUIRE_THROWS_AS(bad.result(30s), confut::DecodeError);
  REQUIRE(good.result(30s).value == 12);
  REQUIRE(ex.submit(square, 5).result(30s) == 25);
}

TEST_CASE("a crashed worker fails only its own task and is replaced", "[process_pool][crash]") {
  struct Case {
    int (*fn)(int);
    int signal;
    int exit_code;
  };
  const Case cases[] = {{crash_with_null_pointer, SIGSEGV, -1},
                        {crash_with_abort, SIGABRT, -1},
                        {kill_self, SIGKILL, -1},
                        {exit_three, 0, 3}};
  confut::ProcessPoolExecutor ex(2);
  for (const Case& c : cases) {
    std::vector<confut::Future<int>> others;
    for (int i = 0; i < 20; ++i) others.push_back(ex.submit(square, i));
    auto doomed = ex.submit(c.fn, 1);
    for (int i = 20; i < 40; ++i) others.push_back(ex.submit(square, i));
    try {
      (void)doomed.result(30s);
      FAIL("expected WorkerDied");
    } catch (const confut::WorkerDied& e) {
      CAPTURE(e.what());
      if (c.signal == SIGSEGV && kSanitizerCatchesSegv) {
        REQUIRE(e.exit_code() != 0);  // the sanitizer reports the crash, then exits
      } else {
        REQUIRE(e.signal() == c.signal);
        REQUIRE(e.exit_code() == c.exit_code);
      }
      REQUIRE(e.pid() > 0);
      REQUIRE(std::string(e.what()).find(std::to_string(e.pid())) != std::string::npos);
      if (c.signal == SIGSEGV && !kSanitizerCatchesSegv) {
        REQUIRE(std::string(e.what()).find("SIGSEGV") != std::string::npos);
      }
    }
    for (int i = 0; i < 40; ++i) REQUIRE(others[static_cast<std::size_t>(i)].result(30s) == i * i);
  }
  REQUIRE(wait_for_workers(ex, 2).size() == 2);  // every dead worker was replaced
}

TEST_CASE("a task past its timeout has its worker killed and fails with TimeoutError",
          "[process_pool][timeout]") {
  confut::ProcessPoolOptions options;
  options.max_workers = 1;
  options.task_timeout = 200ms;
  confut::ProcessPoolExecutor ex(options);
  auto hung = ex.submit(sleep_ms, 60000);
  auto after = ex.submit(square, 6);
  REQUIRE_THROWS_AS(hung.result(30s), confut::TimeoutError);
  REQUIRE(after.result(30s) == 36);
  REQUIRE(ex.submit(sleep_ms, 10).result(30s) == 10);
}

TEST_CASE("terminate() stops a running task, cancel() a queued one", "[process_pool][cancel]") {
  confut::ProcessPoolExecutor ex(1);
  auto running = ex.submit(sleep_ms, 60000);
  auto queued = ex.submit(square, 4);
  while (running.status() != confut::FutureStatus::running) std::this_thread::sleep_for(1ms);
  std::this_thread::sleep_for(50ms);
  const auto before = ex.worker_pids();
  REQUIRE(ex.terminate(running));
  REQUIRE(running.cancelled());
  REQUIRE_THROWS_AS(running.result(), confut::CancelledError);
  REQUIRE(queued.result(30s) == 16);  // went on in the replacement worker
  REQUIRE(ex.worker_pids() != before);

  auto blocker = ex.submit(sleep_ms, 200);
  auto victim = ex.submit(square, 5);
  auto victim2 = ex.submit(square, 6);
  REQUIRE(victim2.cancel() == !victim2.running());
  REQUIRE(blocker.result(30s) == 200);
  REQUIRE(victim.result(30s) == 25);
}

TEST_CASE("an initializer that throws breaks the pool", "[process_pool][broken]") {
  confut::ProcessPoolOptions options;
  options.max_workers = 2;
  options.initializer = failing_initializer;
  confut::ProcessPoolExecutor ex(options);
  auto attempt = [&] { return ex.submit(square, 2).result(30s); };
  try {
    (void)attempt();
    FAIL("expected BrokenExecutor");
  } catch (const confut::BrokenExecutor& e) {
    REQUIRE(std::string(e.what()).find("cannot open the model file") != std::string::npos);
  }
  REQUIRE_THROWS_AS(ex.submit(square, 3), confut::BrokenExecutor);
}

TEST_CASE("an initializer that crashes breaks the pool", "[process_pool][broken]") {
  confut::ProcessPoolOptions options;
  options.max_workers = 1;
  options.initializer = crashing_initializer;
  confut::ProcessPoolExecutor ex(options);
  auto attempt = [&] { return ex.submit(square, 2).result(30s); };
  REQUIRE_THROWS_AS(attempt(), confut::BrokenExecutor);
}

TEST_CASE("the initializer runs in every worker", "[process_pool]") {
  confut::ProcessPoolOptions options;
  options.max_workers = 2;
  options.initializer = [] { ::setenv("CONFUT_TEST_INITIALIZED", "yes", 1); };
  confut::ProcessPoolExecutor ex(options);
  for (int i = 0; i < 10; ++i) {
    auto seen = ex.submit([] { return std::string(std::getenv("CONFUT_TEST_INITIALIZED")); });
    REQUIRE(seen.result(30s) == "yes");
  }
}

TEST_CASE("max_tasks_per_child replaces workers", "[process_pool]") {
  confut::ProcessPoolOptions options;
  options.max_workers = 1;
  options.max_tasks_per_child = 3;
  confut::ProcessPoolExecutor ex(options);
  std::set<int> pids;
  for (int i = 0; i < 9; ++i) pids.insert(ex.submit(current_pid).result(30s));
  REQUIRE(pids.size() == 3);
}

TEST_CASE("map with chunksize: 100,000 calls with the right checksum", "[process_pool][map]") {
  confut::ProcessPoolExecutor ex(2);
  std::vector<int> inputs(100000);
  std::iota(inputs.begin(), inputs.end(), 0);
  std::int64_t total = 0;
  std::int64_t position = 0;
  bool in_order = true;
  for (int r : ex.map([](int x) { return x; }, inputs, {.chunksize = 256})) {
    in_order = in_order && r == position++;
    total += r;
  }
  REQUIRE(in_order);
  REQUIRE(total == std::int64_t{100000} * 99999 / 2);

  auto results = ex.map(throw_out_of_range, std::vector<int>{1, 2}, {.chunksize = 2});
  auto it = results.begin();
  REQUIRE_THROWS_AS(*it, std::out_of_range);
  std::vector<int> small{1, 2, 3};
  int sum = 0;
  for (int r : ex.map(square, small)) sum += r;
  REQUIRE(sum == 14);
}

TEST_CASE("to_vector on a process pool: chunks in input order, the first error in input order",
          "[process_pool][map][to_vector]") {
  confut::ProcessPoolExecutor ex(2);
  std::vector<int> inputs(20000);
  std::iota(inputs.begin(), inputs.end(), 0);
  for (std::size_t chunksize : {1u, 63u, 256u}) {
    CAPTURE(chunksize);
    const std::vector<int> out = ex.map(square, inputs, {.chunksize = chunksize}).to_vector();
    REQUIRE(out.size() == inputs.size());
    bool all_squares = true;
    for (std::size_t i = 0; i < out.size(); ++i) {
      all_squares = all_squares && out[i] == square(inputs[i]);
    }
    REQUIRE(all_squares);
  }
  auto failing = ex.map(throw_out_of_range, std::vector<int>{1, 2}, {.chunksize = 2});
  REQUIRE_THROWS_AS(failing.to_vector(), std::out_of_range);
}

TEST_CASE("futures flow between thread and process pools", "[process_pool][dependencies]") {
  confut::ProcessPoolExecutor processes(2);  // first: see test_task_stream.cpp on TSan and fork
  confut::ThreadPoolExecutor threads(2);
  auto a = threads.submit([] { return 6; });
  auto b = processes.submit(square, a);  // thread future -> process task
  auto c = threads.submit([](int x) { return x + 1; }, b);  // process future -> thread task
  REQUIRE(c.result(30s) == 37);
  std::vector<confut::Future<double>> parts;
  for (int i = 1; i <= 4; ++i) parts.push_back(threads.submit([](int v) { return v * 1.0; }, i));
  REQUIRE(processes.submit(sum_vector, parts).result(30s) == 10.0);
  auto failed = threads.submit([]() -> int { throw std::invalid_argument("bad input"); });
  REQUIRE_THROWS_AS(processes.submit(square, failed).result(30s), std::invalid_argument);
}

TEST_CASE("as_completed and wait work with process futures", "[process_pool]") {
  confut::ProcessPoolExecutor ex(2);
  std::vector<confut::Future<int>> futures;
  for (int i = 0; i < 10; ++i) futures.push_back(ex.submit(square, i));
  int total = 0;
  for (auto f : confut::as_completed(futures)) total += f.result();
  REQUIRE(total == 285);
  REQUIRE(confut::wait(futures).not_done.empty());
}

TEST_CASE("a process pool starts while a thread pool is busy", "[process_pool][threads]") {
  confut::ThreadPoolExecutor threads(2);
  Gate gate;
  std::vector<confut::Future<int>> busy;
  for (int i = 0; i < 4; ++i) busy.push_back(threads.submit(gate.returning(i)));
  {
    confut::ProcessPoolExecutor processes(2);  // the program runs threads now
    REQUIRE(processes.submit(square, 9).result(60s) == 81);
    REQUIRE(processes.submit([] { return 1; }).result(60s) == 1);
  }
  gate.open();
  for (int i = 0; i < 4; ++i) REQUIRE(busy[static_cast<std::size_t>(i)].result() == i);
}

namespace {
/// CPU time (user + system) a process has used so far, from /proc (10 ms resolution).
std::chrono::milliseconds process_cpu_time(int pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(stat, line);
  const auto close_paren = line.rfind(')');
  if (close_paren == std::string::npos) return {};
  std::istringstream rest(line.substr(close_paren + 2));
  std::string field;
  for (int i = 3; i < 14; ++i) rest >> field;  // fields 3 to 13
  long user = 0, system = 0;
  rest >> user >> system;                     // fields 14 and 15, in clock ticks
  return std::chrono::milliseconds((user + system) * 1000 / ::sysconf(_SC_CLK_TCK));
}
}  // namespace

TEST_CASE("an idle process pool does not burn CPU, in the parent or the workers",
          "[process_pool][idle]") {
  confut::ProcessPoolExecutor ex(2);
  std::vector<confut::Future<int>> warm;
  for (int i = 0; i < 2000; ++i) warm.push_back(ex.submit(square, i));
  for (auto& f : warm) (void)f.result(30s);
  std::this_thread::sleep_for(100ms);  // let the dispatcher and the workers stop spinning
  const std::vector<int> pids = ex.worker_pids();
  REQUIRE(pids.size() == 2);
  auto total = [&] {
    auto sum = process_cpu_time(static_cast<int>(::getpid()));
    for (int pid : pids) sum += process_cpu_time(pid);
    return sum;
  };
  const auto before = total();
  std::this_thread::sleep_for(1s);
  const auto used = total() - before;
  CAPTURE(used.count());
  // Spinning in the dispatcher or a worker would use about 1000 ms here.
  REQUIRE(used < 50ms);
}

TEST_CASE("shutdown leaves no zombie and no worker behind", "[process_pool][shutdown]") {
  std::vector<int> pids;
  {
    confut::ProcessPoolExecutor ex(2);
    for (int i = 0; i < 10; ++i) (void)ex.submit(square, i).result(30s);
    REQUIRE_THROWS_AS(ex.submit(kill_self, 0).result(30s), confut::WorkerDied);  // one replaced
    REQUIRE(ex.submit(square, 2).result(30s) == 4);
    pids = wait_for_workers(ex, 2);
    REQUIRE(pids.size() == 2);
    ex.shutdown();
    REQUIRE_THROWS_AS(ex.submit(square, 1), confut::ExecutorShutdownError);
  }
  REQUIRE(all_gone(pids));
  REQUIRE(zombie_children() == 0);
}

TEST_CASE("shutdown with cancel_futures cancels what has not started", "[process_pool][shutdown]") {
  confut::ProcessPoolExecutor ex(1);
  auto running = ex.submit(sleep_ms, 300);
  while (!running.running()) std::this_thread::sleep_for(1ms);
  std::vector<confut::Future<int>> queued;
  for (int i = 0; i < 50; ++i) queued.push_back(ex.submit(square, i));
  ex.shutdown(true, true);
  REQUIRE(running.result() == 300);
  int cancelled = 0;
  for (auto& f : queued) cancelled += f.cancelled() ? 1 : 0;
  REQUIRE(cancelled == 50);  // those sent ahead to the worker too: it had started none
}

TEST_CASE("cancel() takes back tasks sent ahead that their worker has not started",
          "[process_pool][cancel]") {
  RunLog log;
  confut::ProcessPoolExecutor ex(1);
  auto blocker = ex.submit(sleep_ms, 1000);
  while (!blocker.running()) std::this_thread::sleep_for(1ms);
  std::vector<confut::Future<int>> queued;
  for (int k = 0; k < 10; ++k) queued.push_back(ex.submit(record_run, log.dir(), k));
  std::this_thread::sleep_for(100ms);  // the dispatcher sends them on to the worker's queue
  for (auto& future : queued) {
    CHECK_FALSE(future.running());  // waiting in the worker's queue is not running
    CHECK(future.status() == confut::FutureStatus::pending);
    REQUIRE(future.cancel());
    REQUIRE(future.cancelled());
    REQUIRE_THROWS_AS(future.result(), confut::CancelledError);
  }
  REQUIRE(blocker.running());  // the worker was busy all along
  REQUIRE(blocker.result(30s) == 1000);
  // The worker skipped the ten and goes on with what comes next.
  REQUIRE(ex.submit(record_run, log.dir(), 10).result(30s) == 10);
  for (int k = 0; k < 10; ++k) CHECK(log.runs(k) == 0);
  CHECK(log.runs(10) == 1);
  const confut::ExecutorStats stats = ex.stats();
  CHECK(stats.cancelled == 10);
  CHECK(stats.finished == 2);
  CHECK(stats.queued == 0);
  CHECK(stats.running == 0);
}

TEST_CASE("leaving a process pool's map early takes back what its worker has not started",
          "[process_pool][cancel][map]") {
  RunLog log;
  confut::ProcessPoolExecutor ex(1);
  const std::vector<std::string> dirs(20, log.dir());
  std::vector<int> ks(20);
  std::iota(ks.begin(), ks.end(), 0);
  const std::vector<int> delays_us(20, 200000);  // 0.2 s each: time to leave before a third starts
  {
    auto results = ex.map(record_run_after_us, dirs, ks, delays_us);
    auto first = results.begin();
    REQUIRE(*first == 0);
  }  // destroyed: the rest is cancelled, including what waits in the worker's queue
  REQUIRE(ex.submit(record_run, log.dir(), 99).result(30s) == 99);
  std::size_t ran = 0;
  for (int k = 0; k < 20; ++k) ran += log.runs(k);
  CHECK(ran >= 1);
  CHECK(ran <= 2);  // the first, and the second if the worker started it meanwhile
}

TEST_CASE("random cancellation: a cancelled task never runs, every other runs exactly once",
          "[process_pool][cancel][stress]") {
  constexpr int kTasks = 600;
  RunLog log;
  confut::ProcessPoolExecutor ex(3);
  std::vector<confut::Future<int>> futures;
  for (int k = 0; k < kTasks; ++k) {
    futures.push_back(ex.submit(record_run_after_us, log.dir(), k, (k * 7919) % 1000));
  }
  // Two threads cancel at random while the tasks run (queued, sent ahead, running or done);
  // a third waits on all of them meanwhile.
  std::vector<std::atomic<bool>> cancel_succeeded(kTasks);
  auto cancel_some = [&](unsigned seed) {
    std::mt19937 random(seed);
    for (int i = 0; i < 150; ++i) {
      const auto k = static_cast<std::size_t>(random() % kTasks);
      if (futures[k].cancel()) cancel_succeeded[k] = true;
      std::this_thread::sleep_for(std::chrono::microseconds(random() % 600));
    }
  };
  std::thread first(cancel_some, 1u);
  std::thread second(cancel_some, 2u);
  std::thread waiter([&] { confut::wait(futures); });
  first.join();
  second.join();
  waiter.join();
  std::uint64_t cancelled = 0;
  for (int k = 0; k < kTasks; ++k) {
    const auto& future = futures[static_cast<std::size_t>(k)];
    REQUIRE(future.done());
    if (future.cancelled()) {
      ++cancelled;
      CHECK(log.runs(k) == 0);
    } else {
      CHECK_FALSE(cancel_succeeded[static_cast<std::size_t>(k)]);
      CHECK(future.result() == k);
      CHECK(log.runs(k) == 1);
    }
  }
  CHECK(cancelled > 0);          // the cancellers got some before they started ...
  CHECK(cancelled < kTasks / 2);  // ... and many ran (both sides were exercised)
  // The pool counts a cancelled task once it reaches it (a worker's queue is passed in
  // order): shortly after the futures are done.
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (ex.stats().cancelled != cancelled && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(1ms);
  }
  const confut::ExecutorStats stats = ex.stats();
  CHECK(stats.cancelled == cancelled);
  CHECK(stats.finished == kTasks - cancelled);
  CHECK(stats.queued == 0);
  CHECK(stats.running == 0);
}

TEST_CASE("tasks sent ahead to a busy worker move to the worker that runs out of work",
          "[process_pool][scheduling]") {
  confut::ProcessPoolExecutor ex(2);
  REQUIRE(wait_for_workers(ex, 2).size() == 2);
  // Tasks move only once the pool has seen that its tasks take a while.
  REQUIRE(ex.submit(sleep_ms, 20).result(30s) == 20);
  REQUIRE(ex.submit(sleep_ms, 20).result(30s) == 20);
  auto long_task = ex.submit(sleep_then_pid, 1500);
  std::vector<confut::Future<int>> short_tasks;
  for (int i = 0; i < 20; ++i) short_tasks.push_back(ex.submit(sleep_then_pid, 25));
  const int long_pid = long_task.result(30s);
  // Some short tasks went ahead to the long task's worker (the two were equally loaded);
  // the other worker took them back as it ran dry, and ran all 20 (0.5 s) meanwhile.
  int unfinished = 0;
  for (const auto& task : short_tasks) unfinished += task.done() ? 0 : 1;
  CHECK(unfinished == 0);
  for (const auto& task : short_tasks) CHECK(task.result(30s) != long_pid);
}

TEST_CASE("tasks moved between workers run exactly once: 400 tasks of 0-2 ms on 3 workers",
          "[process_pool][scheduling][stress]") {
  confut::ProcessPoolExecutor ex(3);
  std::vector<confut::Future<int>> futures;
  std::uint64_t state = 42;
  for (int i = 0; i < 400; ++i) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    futures.push_back(ex.submit(sleep_us_then_double, static_cast<int>(state >> 33) % 2000));
  }
  state = 42;
  for (int i = 0; i < 400; ++i) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    REQUIRE(futures[static_cast<std::size_t>(i)].result(60s) ==
            2 * (static_cast<int>(state >> 33) % 2000));
  }
  const confut::ExecutorStats stats = ex.stats();
  CHECK(stats.finished == 400);
  CHECK(stats.running == 0);
  CHECK(stats.queued == 0);
}

TEST_CASE("workers die with their parent", "[process_pool][orphans]") {
  int report[2];
  REQUIRE(::pipe(report) == 0);
  const pid_t child = ::fork();
  if (child == 0) {
    ::close(report[0]);
    confut::ProcessPoolExecutor ex(2);
    (void)ex.submit(square, 1).result(30s);
    auto pids = wait_for_workers(ex, 2);
    for (int pid : pids) (void)!::write(report[1], &pid, sizeof pid);
    ::close(report[1]);
    ::raise(SIGKILL);  // die without shutting down
  }
  ::close(report[1]);
  std::vector<int> pids;
  int pid = 0;
  while (::read(report[0], &pid, sizeof pid) == sizeof pid) pids.push_back(pid);
  ::close(report[0]);
  int status = 0;
  ::waitpid(child, &status, 0);
  REQUIRE(pids.size() == 2);
  REQUIRE(all_gone(pids));
}
