// ThreadPoolExecutor under misuse: shutdown from its own tasks and done-callbacks, threads the
// system refuses, absurd worker counts, long thread-name prefixes, submits that throw.

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <future>
#include <random>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include <pthread.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <confut/confut.hpp>

#include "test_support.hpp"

using namespace confut_test;
using namespace std::chrono_literals;

TEST_CASE("shutdown(wait=true) from inside a task throws, and the owner may then destroy the "
          "pool",
          "[thread_pool][misuse][shutdown]") {
  auto* ex = new confut::ThreadPoolExecutor(2);
  auto f = ex->submit([ex] {
    try {
      ex->shutdown();
      return std::string("returned");
    } catch (const confut::Error& e) {
      return std::string(e.what());
    }
  });
  const std::string outcome = f.result(10s);
  INFO(outcome);
  REQUIRE(outcome.find("shutdown(wait=true)") != std::string::npos);
  REQUIRE(ex->submit(ident, 4).result(10s) == 4);  // it changed nothing
  delete ex;  // right after: no worker may touch it any more
}

TEST_CASE("shutdown(wait=false) from inside a task, then the owner destroys the pool at once",
          "[thread_pool][misuse][shutdown]") {
  auto* ex = new confut::ThreadPoolExecutor(2);
  std::promise<void> called;
  auto f = ex->submit([ex, &called] {
    ex->shutdown(false);
    called.set_value();
    std::this_thread::sleep_for(10ms);  // still running when the destructor starts
    return 1;
  });
  REQUIRE(called.get_future().wait_for(10s) == std::future_status::ready);
  REQUIRE_THROWS_AS(ex->submit(ident, 1), confut::ExecutorShutdownError);
  delete ex;  // waits for the task, then no worker touches the pool
  REQUIRE(f.result(10s) == 1);
}

TEST_CASE("shutdown from a done-callback running on a worker", "[thread_pool][misuse][shutdown]") {
  auto* ex = new confut::ThreadPoolExecutor(2);
  Gate gate;
  auto f = ex->submit(gate.returning(3));
  std::promise<std::string> outcome;
  f.add_done_callback([ex, &outcome](const confut::Future<int>&) {
    try {
      ex->shutdown();
      outcome.set_value("returned");
    } catch (const confut::Error& e) {
      ex->shutdown(false);
      outcome.set_value(e.what());
    }
  });
  gate.open();  // the callback runs on the worker that finishes f
  auto result = outcome.get_future();
  REQUIRE(result.wait_for(10s) == std::future_status::ready);
  REQUIRE(result.get().find("shutdown(wait=true)") != std::string::npos);
  delete ex;
  REQUIRE(f.result(10s) == 3);
}

TEST_CASE("stress: shutdown from inside tasks while the owner destroys the pool",
          "[thread_pool][misuse][shutdown][stress]") {
  std::mt19937 random(99);
  const int rounds = kSanitized ? 30 : 100;
  for (int round = 0; round < rounds; ++round) {
    auto* ex = new confut::ThreadPoolExecutor(1 + static_cast<std::size_t>(round % 3));
    std::atomic<int> refused{0};
    std::vector<confut::Future<int>> futures;
    const int count = 1 + static_cast<int>(random() % 20);
    const int stopper = static_cast<int>(random() % static_cast<unsigned>(count));
    std::promise<void> stopped;
    for (int i = 0; i < count; ++i) {
      const auto delay = std::chrono::microseconds(random() % 300);
      futures.push_back(ex->submit([ex, i, stopper, delay, &refused, &stopped] {
        std::this_thread::sleep_for(delay);
        if (i == stopper) {
          try {
            ex->shutdown();
          } catch (const confut::Error&) {
            refused.fetch_add(1);
          }
          ex->shutdown(false, i % 2 == 0);
          stopped.set_value();
        }
        return i;
      }));
    }
    REQUIRE(stopped.get_future().wait_for(10s) == std::future_status::ready);
    delete ex;
    REQUIRE(refused.load() == 1);
    for (int i = 0; i < count; ++i) {
      auto& future = futures[static_cast<std::size_t>(i)];
      REQUIRE(future.done());
      if (!future.cancelled()) REQUIRE(future.result() == i);
    }
  }
}

TEST_CASE("a pool whose threads cannot be created throws from its constructor",
          "[thread_pool][misuse]") {
  if (kSanitized) {
    // The sanitizers reserve terabytes of address space: an address-space limit breaks them.
    WARN("skipped under sanitizers");
    return;
  }
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    // Room for what the process has mapped now plus a little: a few 8 MiB thread stacks
    // at most, so that 64 workers cannot all start.
    long pages = 0;
    if (FILE* statm = std::fopen("/proc/self/statm", "r")) {
      if (std::fscanf(statm, "%ld", &pages) != 1) pages = 0;
      std::fclose(statm);
    }
    const rlim_t limit = static_cast<rlim_t>(pages) * static_cast<rlim_t>(sysconf(_SC_PAGESIZE)) +
                         (64u << 20);
    const rlimit rl{limit, limit};
    if (setrlimit(RLIMIT_AS, &rl) != 0) _exit(10);
    const std::size_t before = thread_count();
    try {
      confut::ThreadPoolExecutor ex(64);
      _exit(11);  // it started them all: the limit did not bite
    } catch (const std::system_error& e) {
      if (std::string(e.what()).find("ThreadPoolExecutor") == std::string::npos) _exit(12);
    } catch (...) {
      _exit(13);
    }
    _exit(thread_count() == before ? 0 : 14);  // nothing left running
  }
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  INFO("status " << status);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
}

TEST_CASE("an absurd max_workers throws invalid_argument naming max_workers",
          "[thread_pool][misuse]") {
  const auto names_max_workers = Catch::Matchers::Contains("max_workers");
  REQUIRE_THROWS_MATCHES(confut::ThreadPoolExecutor(-1), std::invalid_argument,
                         Catch::Matchers::Predicate<std::invalid_argument>(
                             [](const std::invalid_argument& e) {
                               return std::string(e.what()).find("max_workers") !=
                                      std::string::npos;
                             }));
  REQUIRE_THROWS_AS(confut::ThreadPoolExecutor(1'000'000'000), std::invalid_argument);
  confut::ThreadPoolOptions options;
  options.max_workers = static_cast<std::size_t>(-5);
  REQUIRE_THROWS_WITH(confut::ThreadPoolExecutor(options), names_max_workers);
}

TEST_CASE("worker labels keep their index with a long thread_name_prefix",
          "[thread_pool][misuse]") {
  confut::ThreadPoolExecutor ex({.max_workers = 2, .thread_name_prefix = "a-very-long-prefix"});
  const auto stats = ex.stats();
  REQUIRE(stats.workers.size() == 2);
  CHECK(stats.workers[0].label == "a-very-long-prefix-0");
  CHECK(stats.workers[1].label == "a-very-long-prefix-1");
  // The OS name keeps the index too, within the kernel's 15 characters.
  const std::string name = ex.submit([] {
                               char buffer[32] = {};
                               pthread_getname_np(pthread_self(), buffer, sizeof buffer);
                               return std::string(buffer);
                             }).result(10s);
  INFO(name);
  CHECK(name.size() <= 15);
  CHECK((name.ends_with("-0") || name.ends_with("-1")));
}

TEST_CASE("a submit that throws is not counted in stats", "[thread_pool][misuse][stats]") {
  confut::ThreadPoolExecutor ex(1);
  REQUIRE_THROWS_AS(ex.submit(inc, confut::Future<int>{}), confut::InvalidStateError);
  REQUIRE(ex.submit(inc, 1).result(10s) == 2);
  const auto stats = ex.stats();
  CHECK(stats.submitted == 1);
  CHECK(stats.queued == 0);
  CHECK(stats.finished == 1);
}
