// MPIPoolExecutor under mpirun (tests/mpi/CMakeLists.txt runs this program on 3 and on 5
// ranks, every case in one job): the executor API on worker ranks, exceptions across
// ranks, map order and errors, futures across executors in both directions, threads per
// rank, initializers, shutdown with work in flight, statistics and recording, misuse.
// Cases tagged [mismatch] run only in a job whose last rank runs another program.

#include <catch2/catch.hpp>

#include <atomic>
#include <csignal>
#include <chrono>
#include <cstdint>
#include <numeric>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include <confut/confut.hpp>
#include <confut/mpi.hpp>

using namespace std::chrono_literals;

namespace {

int square(int x) { return x * x; }
int process_id() { return static_cast<int>(::getpid()); }
int fail_on_odd(int x) {
  if (x % 2 != 0) throw std::out_of_range("odd input " + std::to_string(x));
  return x;
}
std::string greet(std::string name, int times) {
  std::string out;
  for (int i = 0; i < times; ++i) out += "hello " + name + ";";
  return out;
}
int sleep_then(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return ms;
}
std::vector<double> big_vector(int n) {
  std::vector<double> v(static_cast<std::size_t>(n));
  std::iota(v.begin(), v.end(), 0.0);
  return v;
}
double sum(std::vector<double> v) { return std::accumulate(v.begin(), v.end(), 0.0); }
std::uint64_t thread_hash() {
  return std::hash<std::thread::id>{}(std::this_thread::get_id()) ^
         (static_cast<std::uint64_t>(::getpid()) << 32);
}
int initialized_value = 0;
void set_initialized() { initialized_value = 42; }
int read_initialized() { return initialized_value; }
void failing_initializer() { throw std::runtime_error("no model file"); }

int kill_own_rank() {
  ::raise(SIGKILL);
  return 0;
}

int job_size() {
  int size = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  return size;
}

}  // namespace

TEST_CASE("MPIPoolExecutor runs tasks on the worker ranks and returns their values",
          "[mpi]") {
  confut::MPIPoolExecutor ex;
  REQUIRE(ex.max_workers() == static_cast<std::size_t>(job_size() - 1));
  REQUIRE(ex.submit(square, 7).result(30s) == 49);
  REQUIRE(ex.submit(greet, std::string("rank"), 2).result(30s) == "hello rank;hello rank;");
  std::vector<confut::Future<int>> futures;
  for (int i = 0; i < 2000; ++i) futures.push_back(ex.submit(square, i));
  long long total = 0;
  for (auto& f : futures) total += f.result(30s);
  REQUIRE(total == 2664667000LL);  // sum of i^2 for i < 2000
  // They ran in other processes, on every worker rank.
  std::set<int> pids;
  for (int i = 0; i < 400; ++i) pids.insert(ex.submit(process_id).result(30s));
  REQUIRE(pids.count(static_cast<int>(::getpid())) == 0);
  REQUIRE(!pids.empty());
}

TEST_CASE("MPIPoolExecutor rethrows a task's exception on rank 0", "[mpi]") {
  confut::MPIPoolExecutor ex;
  auto failing = ex.submit(fail_on_odd, 3);
  REQUIRE_THROWS_AS(failing.result(30s), std::out_of_range);
  try {
    failing.result(30s);
  } catch (const std::out_of_range& e) {
    REQUIRE(std::string(e.what()).find("odd input 3") != std::string::npos);
  }
  REQUIRE(ex.submit(fail_on_odd, 4).result(30s) == 4);  // the worker goes on
}

TEST_CASE("MPIPoolExecutor map keeps the order, per element outcomes, with chunks", "[mpi]") {
  confut::MPIPoolExecutor ex;
  std::vector<int> inputs(1000);
  std::iota(inputs.begin(), inputs.end(), 0);
  for (const std::size_t chunksize : {std::size_t{1}, std::size_t{7}, std::size_t{256}}) {
    auto squares = ex.map(square, inputs, {.chunksize = chunksize}).to_vector();
    REQUIRE(squares.size() == inputs.size());
    for (std::size_t i = 0; i < inputs.size(); ++i) REQUIRE(squares[i] == inputs[i] * inputs[i]);
  }
  // An element that fails fails alone, at its own position.
  std::vector<int> small{0, 1, 2, 3, 4, 5};
  std::size_t position = 0;
  auto results = ex.map(fail_on_odd, small, {.chunksize = 4});
  for (auto it = results.begin(); position < small.size(); ++it, ++position) {
    if (position % 2 == 0) {
      REQUIRE(*it == static_cast<int>(position));
    } else {
      REQUIRE_THROWS_AS(*it, std::out_of_range);
    }
  }
}

TEST_CASE("MPIPoolExecutor futures are arguments to other executors and back", "[mpi]") {
  confut::MPIPoolExecutor ranks;
  confut::ThreadPoolExecutor threads(2);
  auto on_threads = threads.submit([] { return 6; });
  auto on_ranks = ranks.submit(square, on_threads);            // thread pool -> ranks
  auto back = threads.submit([](int x) { return x + 1; }, on_ranks);  // ranks -> thread pool
  REQUIRE(back.result(30s) == 37);
  auto chained = ranks.submit(square, ranks.submit(square, 3));  // ranks -> ranks
  REQUIRE(chained.result(30s) == 81);
  // A large value moves both ways.
  auto vector = ranks.submit(big_vector, 100000);
  REQUIRE(ranks.submit(sum, vector).result(30s) == 100000.0 * 99999.0 / 2);
  REQUIRE(vector.result(30s).size() == 100000);
}

TEST_CASE("MPIPoolExecutor futures work with wait and as_completed", "[mpi]") {
  confut::MPIPoolExecutor ex;
  std::vector<confut::Future<int>> futures;
  for (int ms : {30, 1, 15, 2}) futures.push_back(ex.submit(sleep_then, ms));
  const auto done = confut::wait(futures, 30s);
  REQUIRE(done.not_done.empty());
  int total = 0;
  std::size_t seen = 0;
  for (auto& f : confut::as_completed(futures, 30s)) {
    total += f.result();
    ++seen;
  }
  REQUIRE(seen == 4);
  REQUIRE(total == 48);
}

TEST_CASE("MPIPoolExecutor with several threads per rank", "[mpi]") {
  confut::MPIPoolExecutor ex({.threads_per_rank = 3});
  const std::size_t ranks = static_cast<std::size_t>(job_size() - 1);
  REQUIRE(ex.max_workers() == ranks);
  const confut::ExecutorStats before = ex.stats();
  REQUIRE(before.workers.size() == ranks * 3);
  REQUIRE(before.workers[0].label.find("1@") == 0);
  REQUIRE(before.workers[0].label.back() == '0');
  // Tasks that sleep overlap on the threads of a rank: many distinct threads serve them.
  std::vector<confut::Future<std::uint64_t>> futures;
  for (int i = 0; i < 60; ++i) {
    futures.push_back(ex.submit([] {
      std::this_thread::sleep_for(2ms);
      return thread_hash();
    }));
  }
  std::set<std::uint64_t> threads;
  for (auto& f : futures) threads.insert(f.result(30s));
  REQUIRE(threads.size() > ranks);
  REQUIRE(ex.map(square, std::vector<int>{1, 2, 3, 4, 5, 6, 7}).to_vector() ==
          std::vector<int>{1, 4, 9, 16, 25, 36, 49});
}

TEST_CASE("MPIPoolExecutor initializer runs on every worker rank; a failing one breaks it",
          "[mpi]") {
  {
    confut::MPIPoolExecutor ex({.initializer = set_initialized});
    for (int i = 0; i < 20; ++i) REQUIRE(ex.submit(read_initialized).result(30s) == 42);
  }
  {
    confut::MPIPoolExecutor ex({.initializer = failing_initializer});
    bool broke = false;
    for (int attempt = 0; attempt < 3000 && !broke; ++attempt) {
      try {
        auto f = ex.submit(square, 2);
        (void)f.wait_for(30s);
        if (f.exception()) std::rethrow_exception(f.exception());
      } catch (const confut::BrokenExecutor& e) {
        broke = true;
        REQUIRE(std::string(e.what()).find("no model file") != std::string::npos);
      }
      std::this_thread::sleep_for(1ms);
    }
    REQUIRE(broke);
  }
  // The ranks serve the next executor as usual.
  confut::MPIPoolExecutor ex;
  REQUIRE(ex.submit(read_initialized).result(30s) == 42);  // a rank keeps its globals
}

TEST_CASE("MPIPoolExecutor shutdown with work in flight completes every future", "[mpi]") {
  for (const bool cancel : {false, true}) {
    std::vector<confut::Future<int>> futures;
    {
      confut::MPIPoolExecutor ex;
      for (int i = 0; i < 200; ++i) futures.push_back(ex.submit(sleep_then, 1));
      ex.shutdown(true, cancel);
      REQUIRE_THROWS_AS(ex.submit(square, 1), confut::ExecutorShutdownError);
    }
    std::size_t values = 0, cancelled = 0;
    for (auto& f : futures) {
      REQUIRE(f.done());
      if (f.cancelled()) {
        ++cancelled;
      } else {
        REQUIRE(f.result() == 1);
        ++values;
      }
    }
    REQUIRE(values + cancelled == 200);
    if (!cancel) REQUIRE(cancelled == 0);
  }
}

TEST_CASE("MPIPoolExecutor cancel stops tasks still queued on rank 0", "[mpi]") {
  confut::MPIPoolExecutor ex;
  std::vector<confut::Future<int>> futures;
  for (int i = 0; i < 300; ++i) futures.push_back(ex.submit(sleep_then, 2));
  std::size_t cancelled = 0;
  for (auto it = futures.rbegin(); it != futures.rend(); ++it) cancelled += it->cancel() ? 1 : 0;
  REQUIRE(cancelled > 0);
  std::size_t values = 0;
  for (auto& f : futures) {
    REQUIRE(f.wait_for(30s));
    if (!f.cancelled()) {
      REQUIRE(f.result() == 2);
      ++values;
    }
  }
  REQUIRE(values + cancelled == 300);
}

TEST_CASE("MPIPoolExecutor stats and the task stream name the ranks", "[mpi]") {
  confut::MPIPoolExecutor ex;
  REQUIRE(ex.name().find("MPIPoolExecutor") == 0);
  ex.start_recording();
  std::vector<confut::Future<int>> futures;
  for (int i = 0; i < 100; ++i) futures.push_back(ex.submit(square, i));
  for (auto& f : futures) f.wait();
  REQUIRE(ex.submit(fail_on_odd, 1).exception(30s) != nullptr);
  const confut::TaskStream stream = ex.stop_recording();
  REQUIRE(stream.tasks.size() == 101);
  const confut::ExecutorStats stats = ex.stats();
  REQUIRE(stats.finished == 100);
  REQUIRE(stats.failed == 1);
  std::uint64_t per_worker = 0;
  for (const auto& worker : stats.workers) {
    REQUIRE(worker.label.find('@') != std::string::npos);
    per_worker += worker.tasks;
  }
  REQUIRE(per_worker == 101);
  REQUIRE(ex.bytes_sent() > 0);
}

TEST_CASE("MPIPoolExecutor misuse gets clear errors", "[mpi]") {
  REQUIRE_THROWS_AS(confut::MPIPoolExecutor({.max_workers = 1000}), std::invalid_argument);
  REQUIRE_THROWS_AS(confut::MPIPoolExecutor({.threads_per_rank = 0}), std::invalid_argument);
  confut::MPIPoolExecutor ex({.max_workers = 1});
  REQUIRE(ex.max_workers() == 1);
  REQUIRE(ex.stats().workers.size() == 1);
  REQUIRE_THROWS_AS(confut::MPIPoolExecutor(), confut::Error);  // one at a time
  REQUIRE(ex.submit(square, 5).result(30s) == 25);
  static_assert(confut::Executor<confut::MPIPoolExecutor>);
}

TEST_CASE("MPIPoolExecutor executors one after another", "[mpi]") {
  for (int round = 0; round < 8; ++round) {
    confut::MPIPoolExecutor ex;
    REQUIRE(ex.submit(square, round).result(30s) == round * round);
  }
}

TEST_CASE("MPIPoolExecutor scatter keeps a value on the workers; tasks refer to it", "[mpi]") {
  const std::size_t ranks = static_cast<std::size_t>(job_size() - 1);
  const std::vector<double> data = big_vector(100000);  // 800 KB encoded
  const double expected = 100000.0 * 99999.0 / 2;
  constexpr std::uint64_t kValueBytes = 800000;
  for (const std::size_t threads : {std::size_t{1}, std::size_t{2}}) {
    confut::MPIPoolExecutor ex({.threads_per_rank = threads});
    // Without scatter every task carries the value.
    std::uint64_t start = ex.bytes_sent();
    std::vector<confut::Future<double>> plain;
    for (int i = 0; i < 8; ++i) plain.push_back(ex.submit(sum, data));
    for (auto& f : plain) REQUIRE(f.result(30s) == expected);
    REQUIRE(ex.bytes_sent() - start >= 8 * kValueBytes);
    {
      start = ex.bytes_sent();
      auto shared = ex.scatter(data, {.broadcast = true});
      REQUIRE(shared.done());
      REQUIRE(shared.result().size() == data.size());  // rank 0 keeps a copy
      REQUIRE(ex.scattered_objects() == 1);
      std::vector<confut::Future<double>> futures;
      for (int i = 0; i < 40; ++i) futures.push_back(ex.submit(sum, shared));
      for (auto& f : futures) REQUIRE(f.result(30s) == expected);
      const std::uint64_t sent = ex.bytes_sent() - start;
      INFO("bytes sent with a broadcast value: " << sent);
      REQUIRE(sent >= ranks * kValueBytes);           // once to each rank...
      REQUIRE(sent < ranks * kValueBytes + 40 * 1000);  // ...and never with a task
      // On one rank only: tasks sent elsewhere carry the value; all are right.
      auto one = ex.scatter(data);
      REQUIRE(ex.scattered_objects() == 2);
      std::vector<confut::Future<double>> more;
      for (int i = 0; i < 20; ++i) more.push_back(ex.submit(sum, one));
      for (auto& f : more) REQUIRE(f.result(30s) == expected);
      // A scattered future works with other executors and in chains.
      confut::ThreadPoolExecutor local(1);
      REQUIRE(local.submit([](const std::vector<double>& v) { return v.size(); }, one)
                  .result(30s) == data.size());
      REQUIRE(ex.submit(square, ex.submit([](std::vector<double> v) {
                              return static_cast<int>(v.size() / 1000);
                            }, shared)).result(30s) == 10000);
    }
    REQUIRE(ex.scattered_objects() == 0);  // the last copies went: dropped on the ranks
    ex.shutdown();
    REQUIRE_THROWS_AS(ex.scatter(1), confut::ExecutorShutdownError);
  }
  // With isolation by process the children get the bytes; the answers are the same.
  confut::MPIPoolExecutor isolated({.isolation = confut::Isolation::process});
  auto shared = isolated.scatter(data, {.broadcast = true});
  REQUIRE(isolated.submit(sum, shared).result(30s) == expected);
}

TEST_CASE("MPIPoolExecutor isolation by process: a crash fails only its own future",
          "[mpi]") {
  std::set<int> rank_pids;
  {
    confut::MPIPoolExecutor ranks;
    for (int i = 0; i < 200; ++i) rank_pids.insert(ranks.submit(process_id).result(30s));
  }
  confut::MPIPoolExecutor ex({.threads_per_rank = 2, .isolation = confut::Isolation::process});
  // Tasks run in children of the ranks, not in the ranks.
  for (int i = 0; i < 50; ++i) REQUIRE(rank_pids.count(ex.submit(process_id).result(30s)) == 0);
  std::vector<confut::Future<int>> others;
  for (int i = 0; i < 40; ++i) others.push_back(ex.submit(sleep_then, 5));
  auto doomed = ex.submit(kill_own_rank);
  try {
    (void)doomed.result(30s);
    FAIL("a killed child returned a value");
  } catch (const confut::WorkerDied& e) {
    const std::string what = e.what();
    INFO(what);
    REQUIRE(e.signal() == SIGKILL);
    REQUIRE(what.find("on MPI rank ") != std::string::npos);
    REQUIRE(what.find("signal 9") != std::string::npos);
  }
  for (auto& f : others) REQUIRE(f.result(30s) == 5);  // nothing else was lost
  REQUIRE(ex.submit(square, 9).result(30s) == 81);    // the child was replaced
  REQUIRE_THROWS_AS(ex.submit(fail_on_odd, 5).result(30s), std::out_of_range);
  REQUIRE(ex.map(square, std::vector<int>{1, 2, 3}, {.chunksize = 2}).to_vector() ==
          std::vector<int>{1, 4, 9});
}

TEST_CASE("MPIPoolExecutor isolation by process: task_timeout and the initializer", "[mpi]") {
  confut::MPIPoolExecutor ex({.initializer = set_initialized,
                              .isolation = confut::Isolation::process,
                              .task_timeout = std::chrono::milliseconds(300)});
  REQUIRE(ex.submit(read_initialized).result(30s) == 42);  // ran in the child
  auto hung = ex.submit(sleep_then, 20000);
  try {
    (void)hung.result(30s);
    FAIL("a task ran past its timeout");
  } catch (const confut::TimeoutError& e) {
    REQUIRE(std::string(e.what()).find("on MPI rank ") != std::string::npos);
  }
  REQUIRE(ex.submit(sleep_then, 10).result(30s) == 10);
  // task_timeout without process isolation is refused.
  REQUIRE_THROWS_AS(confut::MPIPoolExecutor({.task_timeout = std::chrono::seconds(1)}),
                    std::invalid_argument);
}

TEST_CASE("MPIPoolExecutor is broken when a rank runs another build", "[.][mismatch]") {
  confut::MPIPoolExecutor ex;
  const std::string last_rank = std::to_string(job_size() - 1);
  try {
    (void)ex.submit(square, 2).result(30s);
    FAIL("a task ran on a job with another build");
  } catch (const confut::BrokenExecutor& e) {
    const std::string what = e.what();
    INFO(what);
    REQUIRE(what.find("rank " + last_rank) != std::string::npos);
    REQUIRE(what.find("another build") != std::string::npos);
  }
}

TEST_CASE("A worker rank that dies ends the job", "[.][rank_death]") {
  confut::MPIPoolExecutor ex;
  REQUIRE(ex.submit(square, 3).result(30s) == 9);
  auto doomed = ex.submit(kill_own_rank);
  (void)doomed.wait_for(60s);  // mpirun ends this process long before
  FAIL("the job outlived a dead worker rank");
}

TEST_CASE("MPIPoolExecutor spawns its workers in a program run alone", "[.][spawn]") {
  std::set<int> pids;
  {
    confut::MPIPoolExecutor ex({.max_workers = 2});
    REQUIRE(job_size() == 1);  // no mpirun: MPI is a singleton here
    REQUIRE(ex.max_workers() == 2);
    const confut::ExecutorStats stats = ex.stats();
    REQUIRE(stats.workers.size() == 2);
    REQUIRE(stats.workers[0].label.find("1@") == 0);
    REQUIRE(stats.workers[1].label.find("2@") == 0);
    for (int i = 0; i < 100; ++i) pids.insert(ex.submit(process_id).result(30s));
    REQUIRE(pids.count(static_cast<int>(::getpid())) == 0);
    REQUIRE(ex.map(square, std::vector<int>{1, 2, 3}, {.chunksize = 2}).to_vector() ==
            std::vector<int>{1, 4, 9});
    REQUIRE_THROWS_AS(ex.submit(fail_on_odd, 1).result(30s), std::out_of_range);
  }
  // The next executor spawns new workers.
  confut::MPIPoolExecutor again({.max_workers = 1, .isolation = confut::Isolation::process});
  const int pid = again.submit(process_id).result(30s);
  REQUIRE(pids.count(pid) == 0);
  REQUIRE_THROWS_AS(again.submit(kill_own_rank).result(30s), confut::WorkerDied);
  REQUIRE(again.submit(square, 12).result(30s) == 144);
}
