// ProcessPoolExecutor under faults (issue 17): workers killed as they start or while idle,
// per-call timeouts in map chunks, workers frozen by SIGSTOP, done-callbacks that use the
// pool, submit racing shutdown, and storms of SIGKILLs during a long map.

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <numeric>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <signal.h>
#include <unistd.h>

#include <confut/confut.hpp>
#include <confut/process_pool.hpp>

#include "test_support.hpp"

using namespace confut_test;

namespace {

// kSanitized (scaled-down stress counts) comes from test_support.hpp.

int square(int x) { return x * x; }
int sleep_ms(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return ms;
}
/// About 50 us of work, so that a kill often lands while a worker runs a task.
std::int64_t storm_value(int x) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(50);
  while (std::chrono::steady_clock::now() < until) {
  }
  return std::int64_t{x} * 7919 + 13;
}

/// Waits (bounded) until the pool reports a worker that is not in `old`; returns it, or -1.
int wait_for_new_worker(const confut::ProcessPoolExecutor& ex, const std::vector<int>& old) {
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (std::chrono::steady_clock::now() < deadline) {
    for (int pid : ex.worker_pids()) {
      if (std::find(old.begin(), old.end(), pid) == old.end()) return pid;
    }
    std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
  return -1;
}

/// SIGCONTs a stopped worker when the test ends, however it ends (else shutdown waits).
struct Continue {
  int pid;
  ~Continue() { ::kill(pid, SIGCONT); }
};

}  // namespace

TEST_CASE("a worker killed as it starts is replaced, and the pool is not broken",
          "[process_pool][faults]") {
  confut::ProcessPoolExecutor ex(1);
  std::vector<int> seen = wait_for_workers(ex, 1);
  REQUIRE(seen.size() == 1);
  for (int round = 0; round < 30; ++round) {
    CAPTURE(round);
    // Kill the worker, then its replacement as soon as the pool knows its pid (usually
    // before it has said it is ready).
    ::kill(seen.back(), SIGKILL);
    const int fresh = wait_for_new_worker(ex, seen);
    REQUIRE(fresh > 0);
    ::kill(fresh, SIGKILL);
    seen.push_back(fresh);
    auto future = ex.submit(square, round);
    REQUIRE(future.result(10s) == round * round);
    const int next = wait_for_new_worker(ex, seen);
    if (next > 0) seen.push_back(next);
  }
  REQUIRE(ex.submit(square, 12).result(10s) == 144);
}

TEST_CASE("a task sent to a worker that just died runs elsewhere, it is not blamed",
          "[process_pool][faults]") {
  confut::ProcessPoolExecutor ex(1);
  for (int round = 0; round < 20; ++round) {
    CAPTURE(round);
    const std::vector<int> pids = wait_for_workers(ex, 1);
    REQUIRE(pids.size() == 1);
    // The worker is dead before the task reaches it, and the fork server has most likely
    // not reported it yet: the task never starts there.
    ::kill(pids[0], SIGKILL);
    auto future = ex.submit(square, round);
    REQUIRE(future.result(10s) == round * round);
    for (int i = 0; i < 5000 && ex.worker_pids() == pids; ++i) std::this_thread::sleep_for(1ms);
  }
}

TEST_CASE("task_timeout applies to each call of a map chunk, not to the whole chunk",
          "[process_pool][faults][timeout]") {
  confut::ProcessPoolOptions options;
  options.max_workers = 2;
  options.task_timeout = 1s;
  confut::ProcessPoolExecutor ex(options);

  SECTION("40 calls of 100 ms in chunks of 20 all succeed") {
    const std::vector<int> inputs(40, 100);
    const std::vector<int> out = ex.map(sleep_ms, inputs, {.chunksize = 20}).to_vector();
    REQUIRE(out == inputs);
  }
  SECTION("a call past the timeout fails every element of its chunk, and only those") {
    std::vector<int> inputs(16, 10);
    inputs[5] = 60000;  // in the first chunk of 8
    std::vector<std::string> seen;
    auto results = ex.map(sleep_ms, inputs, {.chunksize = 8});
    for (auto it = results.begin(); it != results.end(); ++it) {
      try {
        seen.push_back(std::to_string(*it));
      } catch (const confut::TimeoutError&) {
        seen.push_back("timeout");
      }
    }
    REQUIRE(seen.size() == 16);
    for (std::size_t i = 0; i < 16; ++i) {
      CAPTURE(i);
      REQUIRE(seen[i] == (i < 8 ? std::string("timeout") : std::string("10")));
    }
    REQUIRE(ex.submit(square, 3).result(10s) == 9);
  }
}

TEST_CASE("a worker stopped by SIGSTOP while idle gives up the tasks it has not started",
          "[process_pool][faults]") {
  confut::ProcessPoolOptions options;
  options.max_workers = 2;
  SECTION("without a timeout") {}
  SECTION("with a task_timeout shorter than the wait: a task not started never times out") {
    options.task_timeout = 100ms;
  }
  confut::ProcessPoolExecutor ex(options);
  const std::vector<int> pids = wait_for_workers(ex, 2);
  REQUIRE(pids.size() == 2);
  REQUIRE(ex.submit(square, 2).result(10s) == 4);  // both ready
  REQUIRE(ex.submit(square, 3).result(10s) == 9);
  ::kill(pids[0], SIGSTOP);
  const Continue resume{pids[0]};
  std::this_thread::sleep_for(20ms);
  std::vector<confut::Future<int>> futures;
  for (int i = 0; i < 6; ++i) futures.push_back(ex.submit(sleep_ms, 20 + i));
  for (int i = 0; i < 6; ++i) {
    CAPTURE(i);
    REQUIRE(futures[static_cast<std::size_t>(i)].result(10s) == 20 + i);
  }
  ::kill(pids[0], SIGCONT);
  std::vector<confut::Future<int>> more;
  for (int i = 0; i < 20; ++i) more.push_back(ex.submit(square, i));
  for (int i = 0; i < 20; ++i) REQUIRE(more[static_cast<std::size_t>(i)].result(10s) == i * i);
}

TEST_CASE("a done-callback of a process future can terminate another task",
          "[process_pool][faults][callbacks]") {
  confut::ProcessPoolExecutor ex(2);
  auto first = ex.submit(sleep_ms, 50);
  auto hung = ex.submit(sleep_ms, 60000);
  std::atomic<int> terminated{-1};
  first.add_done_callback([&](const confut::Future<int>&) {
    terminated = ex.terminate(hung) ? 1 : 0;
  });
  REQUIRE(hung.wait_for(10s));
  REQUIRE(hung.cancelled());
  for (int i = 0; i < 500 && terminated.load() < 0; ++i) std::this_thread::sleep_for(10ms);
  REQUIRE(terminated.load() == 1);
  REQUIRE(ex.submit(square, 3).result(10s) == 9);
}

TEST_CASE("a done-callback of a process future can wait for a new task of the same pool",
          "[process_pool][faults][callbacks]") {
  confut::ProcessPoolExecutor ex(1);
  auto first = ex.submit(square, 2);
  std::atomic<int> inner{-1};
  first.add_done_callback([&](const confut::Future<int>&) {
    try {
      inner = ex.submit(square, 7).result(10s);
    } catch (...) {
      inner = -2;
    }
  });
  for (int i = 0; i < 1000 && inner.load() == -1; ++i) std::this_thread::sleep_for(10ms);
  REQUIRE(inner.load() == 49);
}

TEST_CASE("a done-callback of a process future can shut the pool down",
          "[process_pool][faults][callbacks]") {
  confut::ProcessPoolExecutor ex(2);
  auto other = ex.submit(sleep_ms, 100);
  auto first = ex.submit(square, 2);
  std::atomic<int> outcome{0};  // 1: shutdown returned, 2: it threw
  first.add_done_callback([&](const confut::Future<int>&) {
    try {
      ex.shutdown();
      outcome = 1;
    } catch (...) {
      outcome = 2;
    }
  });
  for (int i = 0; i < 1000 && outcome.load() == 0; ++i) std::this_thread::sleep_for(10ms);
  REQUIRE(outcome.load() == 1);
  REQUIRE(other.done());  // shutdown() waited for it
  REQUIRE(other.result() == 100);
  REQUIRE_THROWS_AS(ex.submit(square, 1), confut::ExecutorShutdownError);
}

TEST_CASE("submit racing shutdown: every future that submit returned completes",
          "[process_pool][faults][shutdown][stress]") {
  // Each round starts a pool (a fork server and one worker): a few ms in Debug, more
  // under the sanitizers, hence fewer rounds there.
  const int rounds = kSanitized ? 60 : 150;
  std::mt19937 random(17);
  for (int round = 0; round < rounds; ++round) {
    CAPTURE(round);
    // Three rounds in four cancel what has not started; the fourth runs every task, so it
    // submits fewer (a submit takes well under a microsecond).
    const bool cancel = round % 4 != 0;
    const int most = cancel ? 100000 : 300;
    std::vector<std::vector<confut::Future<int>>> futures(2);
    std::vector<std::vector<int>> inputs(2);
    {
      confut::ProcessPoolExecutor ex(1);
      std::atomic<bool> go{false};
      std::vector<std::thread> submitters;
      for (std::size_t t = 0; t < 2; ++t) {
        submitters.emplace_back([&, t] {
          while (!go.load()) std::this_thread::yield();
          for (int i = 0; i < most; ++i) {
            try {
              futures[t].push_back(ex.submit(square, i));
              inputs[t].push_back(i);
            } catch (const confut::ExecutorShutdownError&) {
              return;
            }
          }
        });
      }
      const auto delay = std::chrono::microseconds(random() % (cancel ? 300 : 50));
      go = true;
      std::this_thread::sleep_for(delay);
      ex.shutdown(true, cancel);
      // Every future returned so far is done now; a submit after this throws.
      for (auto& thread : submitters) thread.join();
      REQUIRE_THROWS_AS(ex.submit(square, 0), confut::ExecutorShutdownError);
      std::size_t done = 0, total = 0;
      for (const auto& list : futures) {
        for (const auto& future : list) done += future.done() ? 1 : 0;
        total += list.size();
      }
      REQUIRE(done == total);
    }
    std::size_t wrong = 0;
    for (std::size_t t = 0; t < 2; ++t) {
      for (std::size_t i = 0; i < futures[t].size(); ++i) {
        try {
          wrong += futures[t][i].result(0s) == square(inputs[t][i]) ? 0 : 1;
        } catch (const confut::CancelledError&) {
        }
      }
    }
    REQUIRE(wrong == 0);
  }
}

namespace {
/// Maps storm_value over 0..count-1 while a thread kills a random worker every 2-6 ms;
/// checks that each element is its exact value or a WorkerDied error, in order.
void map_under_storm(std::size_t chunksize, int count) {
  confut::ProcessPoolExecutor ex(2);
  REQUIRE(wait_for_workers(ex, 2).size() == 2);
  std::vector<int> inputs(static_cast<std::size_t>(count));
  std::iota(inputs.begin(), inputs.end(), 0);
  std::atomic<bool> stop{false};
  std::atomic<int> kills{0};
  std::thread killer([&] {
    std::mt19937 random(static_cast<unsigned>(chunksize));
    while (!stop.load()) {
      std::this_thread::sleep_for(std::chrono::microseconds(2000 + random() % 4000));
      const std::vector<int> pids = ex.worker_pids();
      if (pids.empty()) continue;
      if (::kill(pids[random() % pids.size()], SIGKILL) == 0) ++kills;
    }
  });
  std::size_t seen = 0, values = 0, died = 0, wrong = 0, other_errors = 0;
  auto results = ex.map(storm_value, inputs, {.chunksize = chunksize});
  for (auto it = results.begin(); it != results.end(); ++it, ++seen) {
    try {
      const std::int64_t value = *it;
      if (seen >= inputs.size() || value != storm_value(inputs[seen])) ++wrong;
      ++values;
    } catch (const confut::WorkerDied&) {
      ++died;
    } catch (...) {
      ++other_errors;
    }
  }
  stop = true;
  killer.join();
  CAPTURE(chunksize, kills.load(), values, died);
  REQUIRE(seen == inputs.size());
  REQUIRE(wrong == 0);
  REQUIRE(other_errors == 0);
  REQUIRE(values + died == inputs.size());
  REQUIRE(values > 0);
  REQUIRE(ex.submit(square, 9).result(10s) == 81);  // the pool survived the storm
}
}  // namespace

TEST_CASE("fault storm: random SIGKILLs during a 20000-task map with chunksize 1",
          "[process_pool][faults][stress]") {
  // The sanitizers slow every task and restart several times over: fewer tasks there.
  map_under_storm(1, kSanitized ? 4000 : 20000);
}

TEST_CASE("fault storm: random SIGKILLs during a 20000-task map with chunksize 64",
          "[process_pool][faults][stress]") {
  map_under_storm(64, kSanitized ? 4000 : 20000);
}

// ---- a map chunk whose result fails to encode part-way --------------------------------

/// A type whose encoder writes its value, then refuses it (a check done late).
class LateCheck {
 public:
  explicit LateCheck(int cents) : cents_(cents) {}
  int cents() const { return cents_; }

 private:
  int cents_;
};

template <>
struct confut::Codec<LateCheck> {
  static void encode(confut::WireWriter& w, const LateCheck& value) {
    w.write(value.cents());
    if (value.cents() == 2) throw std::runtime_error("cannot encode 2");
  }
  static LateCheck decode(confut::WireReader& r) { return LateCheck(r.read<int>()); }
};

namespace {
LateCheck make_late_check(int cents) { return LateCheck(cents); }

struct FaultNode {
  int value;
  std::vector<FaultNode> children;
};

/// A chain of `depth` nodes below the root, the root's value `depth`.
FaultNode deep_node(int depth) {
  FaultNode root{depth, {}};
  FaultNode* at = &root;
  for (int i = 0; i < depth; ++i) {
    at->children.push_back(FaultNode{i, {}});
    at = &at->children[0];
  }
  return root;
}
}  // namespace

TEST_CASE("a map chunk whose result fails to encode part-way keeps every other value in place",
          "[process_pool][faults][map]") {
  confut::ProcessPoolExecutor ex(confut::ProcessPoolOptions{.max_workers = 1});
  SECTION("a Codec that throws after writing") {
    auto results = ex.map(make_late_check, std::vector<int>{1, 2, 3}, {.chunksize = 3});
    std::vector<std::string> seen;
    for (auto it = results.begin(); it != results.end(); ++it) {
      try {
        seen.push_back(std::to_string((*it).cents()));
      } catch (const std::runtime_error& e) {
        seen.push_back(std::string("error: ") + e.what());
      }
    }
    REQUIRE(seen == std::vector<std::string>{"1", "error: cannot encode 2", "3"});
  }
  SECTION("a result nested deeper than the encoder's limit") {
    auto results = ex.map(deep_node, std::vector<int>{1, 600, 3}, {.chunksize = 3});
    std::vector<std::string> seen;
    for (auto it = results.begin(); it != results.end(); ++it) {
      try {
        seen.push_back(std::to_string((*it).value));
      } catch (const confut::RemoteError& e) {
        seen.push_back(e.remote_type());
      }
    }
    REQUIRE(seen == std::vector<std::string>{"1", "confut::EncodeError", "3"});
  }
  REQUIRE(ex.submit(square, 7).result(10s) == 49);
}
