// Future<T>: results, errors, timeouts, status, cancel, callbacks, printing, and the
// handler for errors nobody looked at.

#include <catch2/catch.hpp>

#include <atomic>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <confut/confut.hpp>

#include "test_support.hpp"

using namespace confut_test;

namespace {
struct CustomError : std::runtime_error {
  explicit CustomError(int c) : std::runtime_error("custom " + std::to_string(c)), code(c) {}
  int code;
};

/// Captures what reaches the unobserved-error handler during one test.
class CapturedReports {
 public:
  CapturedReports() {
    previous_ = confut::set_unobserved_error_handler(
        [this](std::exception_ptr error, const std::string& context) {
          std::lock_guard lock(mutex_);
          contexts_.push_back(context);
          errors_.push_back(error);
        });
  }
  ~CapturedReports() { confut::set_unobserved_error_handler(previous_); }
  std::vector<std::string> contexts() {
    std::lock_guard lock(mutex_);
    return contexts_;
  }
  std::vector<std::exception_ptr> errors() {
    std::lock_guard lock(mutex_);
    return errors_;
  }

 private:
  std::mutex mutex_;
  std::vector<std::string> contexts_;
  std::vector<std::exception_ptr> errors_;
  confut::ErrorHandler previous_;
};
}  // namespace

TEST_CASE("result returns the task's value and void tasks complete", "[future]") {
  confut::ThreadPoolExecutor ex(2);
  confut::Future<int> f = ex.submit(add, 20, 22);
  REQUIRE(f.result() == 42);
  REQUIRE(f.result() == 42);  // a future can be read many times

  std::atomic<int> ran{0};
  confut::Future<void> v = ex.submit([&ran] { ran.fetch_add(1); });
  v.result();
  REQUIRE(ran.load() == 1);
  REQUIRE(v.status() == confut::FutureStatus::finished);

  confut::Future<std::string> s = ex.submit([](std::string a) { return a + "!"; }, std::string("hi"));
  REQUIRE(s.result() == "hi!");
}

TEST_CASE("result rethrows the task's own exception object", "[future]") {
  confut::ThreadPoolExecutor ex(2);
  auto f = ex.submit([]() -> int { throw CustomError(7); });
  const CustomError* first = nullptr;
  try {
    (void)f.result();
    FAIL("result() should have thrown");
  } catch (const CustomError& e) {
    REQUIRE(e.code == 7);
    first = &e;
  }
  try {
    (void)f.result();
    FAIL("result() should have thrown");
  } catch (const CustomError& e) {
    REQUIRE(&e == first);  // the same object each time, not a copy
  }
  std::exception_ptr error = f.exception();
  REQUIRE(error != nullptr);
  REQUIRE_THROWS_AS(std::rethrow_exception(error), CustomError);
  REQUIRE(f.status() == confut::FutureStatus::error);
  REQUIRE(f.done());
}

TEST_CASE("exception() is null for a successful future", "[future]") {
  confut::ThreadPoolExecutor ex(1);
  auto f = ex.submit(ident, 3);
  REQUIRE(f.exception() == nullptr);
  REQUIRE(f.exception(1s) == nullptr);
}

TEST_CASE("result(timeout) and exception(timeout) throw TimeoutError", "[future][timeout]") {
  confut::ThreadPoolExecutor ex(1);
  Gate gate;
  auto f = ex.submit(gate.returning(5));
  REQUIRE_THROWS_AS(f.result(20ms), confut::TimeoutError);
  REQUIRE_THROWS_AS(f.exception(20ms), confut::TimeoutError);
  REQUIRE_FALSE(f.wait_for(10ms));
  REQUIRE_FALSE(f.done());
  gate.open();
  REQUIRE(f.result(10s) == 5);
  REQUIRE(f.wait_for(0ms));
}

TEST_CASE("TimeoutError and the other errors derive from confut::Error", "[future]") {
  STATIC_REQUIRE(std::is_base_of_v<confut::Error, confut::TimeoutError>);
  STATIC_REQUIRE(std::is_base_of_v<confut::Error, confut::CancelledError>);
  STATIC_REQUIRE(std::is_base_of_v<confut::Error, confut::BrokenExecutor>);
  STATIC_REQUIRE(std::is_base_of_v<confut::Error, confut::DeadlockError>);
  STATIC_REQUIRE(std::is_base_of_v<confut::Error, confut::InvalidStateError>);
  STATIC_REQUIRE(std::is_base_of_v<std::runtime_error, confut::Error>);
}

TEST_CASE("status moves from pending to running to finished", "[future]") {
  confut::ThreadPoolExecutor ex(1);
  Gate hold;
  std::promise<void> started;
  auto running = ex.submit([&started, hold] {
    started.set_value();
    hold.wait();
    return 1;
  });
  auto queued = ex.submit(ident, 2);
  started.get_future().wait();
  REQUIRE(running.status() == confut::FutureStatus::running);
  REQUIRE(running.running());
  REQUIRE(queued.status() == confut::FutureStatus::pending);
  REQUIRE_FALSE(queued.running());
  REQUIRE_FALSE(queued.done());
  hold.open();
  REQUIRE(queued.result() == 2);
  REQUIRE(running.status() == confut::FutureStatus::finished);
  REQUIRE(queued.status() == confut::FutureStatus::finished);
}

TEST_CASE("cancel succeeds only before the task starts", "[future][cancel]") {
  confut::ThreadPoolExecutor ex(1);
  Gate hold;
  std::promise<void> started;
  auto running = ex.submit([&started, hold] {
    started.set_value();
    hold.wait();
    return 1;
  });
  std::atomic<int> ran{0};
  auto queued = ex.submit([&ran] { return ran.fetch_add(1) + 100; });
  started.get_future().wait();

  REQUIRE_FALSE(running.cancel());  // already running
  REQUIRE(queued.cancel());
  REQUIRE(queued.cancel());  // cancelling again still reports cancelled
  REQUIRE(queued.cancelled());
  REQUIRE(queued.done());
  REQUIRE(queued.status() == confut::FutureStatus::cancelled);
  REQUIRE_THROWS_AS(queued.result(), confut::CancelledError);
  REQUIRE_THROWS_AS(queued.exception(), confut::CancelledError);

  hold.open();
  REQUIRE(running.result() == 1);
  REQUIRE_FALSE(running.cancel());  // finished
  auto after = ex.submit(ident, 9);
  REQUIRE(after.result() == 9);
  REQUIRE(ran.load() == 0);  // the cancelled task never ran
}

TEST_CASE("done callbacks run in registration order, at once when already done",
          "[future][callbacks]") {
  confut::ThreadPoolExecutor ex(1);
  Gate gate;
  auto f = ex.submit(gate.returning(4));
  std::mutex mutex;
  std::vector<int> order;
  std::atomic<int> saw_value{0};
  for (int i = 0; i < 5; ++i) {
    f.add_done_callback([&, i](const confut::Future<int>& done) {
      if (done.done() && done.result() == 4) saw_value.fetch_add(1);
      std::lock_guard lock(mutex);
      order.push_back(i);
    });
  }
  {
    std::lock_guard lock(mutex);
    REQUIRE(order.empty());
  }
  gate.open();
  (void)f.result();
  // Callbacks run before result() can return? Not promised: wait until they ran.
  for (int spins = 0; spins < 1000; ++spins) {
    {
      std::lock_guard lock(mutex);
      if (order.size() == 5) break;
    }
    std::this_thread::sleep_for(1ms);
  }
  {
    std::lock_guard lock(mutex);
    REQUIRE(order == std::vector<int>{0, 1, 2, 3, 4});
  }
  REQUIRE(saw_value.load() == 5);
  std::thread::id ran_on;
  f.add_done_callback([&](const confut::Future<int>&) { ran_on = std::this_thread::get_id(); });
  REQUIRE(ran_on == std::this_thread::get_id());  // already done: ran here, right away
}

TEST_CASE("an exception from a done callback goes to the handler, not into the worker",
          "[future][callbacks]") {
  CapturedReports reports;
  confut::ThreadPoolExecutor ex(1);
  Gate gate;
  auto f = ex.submit(gate.returning(1));
  std::atomic<bool> second_ran{false};
  f.add_done_callback([](const confut::Future<int>&) { throw CustomError(3); });
  f.add_done_callback([&](const confut::Future<int>&) { second_ran = true; });
  gate.open();
  REQUIRE(f.result() == 1);
  REQUIRE(ex.submit(ident, 5).result() == 5);  // the worker survived
  for (int i = 0; i < 1000 && !second_ran; ++i) std::this_thread::sleep_for(1ms);
  REQUIRE(second_ran);
  auto contexts = reports.contexts();
  REQUIRE(contexts.size() == 1);
  REQUIRE(contexts[0].find("callback") != std::string::npos);
  REQUIRE_THROWS_AS(std::rethrow_exception(reports.errors()[0]), CustomError);
}

TEST_CASE("a failed future nobody looked at is reported once when its last handle goes",
          "[future][unobserved]") {
  CapturedReports reports;
  {
    confut::ThreadPoolExecutor ex(1);
    auto f = ex.submit([]() -> int { throw CustomError(11); });
    f.wait();
    auto copy = f;
    REQUIRE(reports.contexts().empty());  // still held
  }
  auto contexts = reports.contexts();
  REQUIRE(contexts.size() == 1);
  REQUIRE(contexts[0].find("unobserved") != std::string::npos);
  REQUIRE(contexts[0].find("Future<int>") != std::string::npos);
  REQUIRE_THROWS_AS(std::rethrow_exception(reports.errors()[0]), CustomError);
}

TEST_CASE("a failed future whose error was looked at is not reported", "[future][unobserved]") {
  CapturedReports reports;
  {
    confut::ThreadPoolExecutor ex(1);
    auto by_result = ex.submit([]() -> int { throw CustomError(1); });
    auto by_exception = ex.submit([]() -> int { throw CustomError(2); });
    REQUIRE_THROWS_AS(by_result.result(), CustomError);
    REQUIRE(by_exception.exception() != nullptr);
    auto cancelled_gate = Gate();
    auto blocker = ex.submit(cancelled_gate.returning(0));
    auto cancelled = ex.submit(ident, 1);
    REQUIRE(cancelled.cancel());
    cancelled_gate.open();
    REQUIRE(blocker.result() == 0);
  }
  REQUIRE(reports.contexts().empty());
}

TEST_CASE("futures print their status and value type", "[future]") {
  confut::ThreadPoolExecutor ex(1);
  auto f = ex.submit(ident, 1);
  f.wait();
  std::ostringstream out;
  out << f;
  REQUIRE(out.str() == "<Future: finished, type: int>");

  Gate gate;
  auto blocker = ex.submit(gate.returning(0));
  auto pending = ex.submit([] { return std::string("x"); });
  std::ostringstream pending_text;
  pending_text << pending;
  REQUIRE(pending_text.str().rfind("<Future: pending, type: std::", 0) == 0);
  gate.open();
  (void)pending.result();

  auto failed = ex.submit([]() -> double { throw std::logic_error("no"); });
  failed.wait();
  std::ostringstream failed_text;
  failed_text << failed;
  REQUIRE(failed_text.str() == "<Future: error, type: double>");
  REQUIRE(failed.exception() != nullptr);

  std::ostringstream status_text;
  status_text << confut::FutureStatus::cancelled;
  REQUIRE(status_text.str() == "cancelled");
}

TEST_CASE("an empty future reports misuse with InvalidStateError", "[future]") {
  confut::Future<int> empty;
  REQUIRE_FALSE(empty.valid());
  REQUIRE_FALSE(empty.done());
  REQUIRE_THROWS_AS(empty.result(), confut::InvalidStateError);
  REQUIRE_THROWS_AS(empty.cancel(), confut::InvalidStateError);
  REQUIRE_THROWS_AS(empty.status(), confut::InvalidStateError);
}

TEST_CASE("copies share one state and compare equal", "[future]") {
  confut::ThreadPoolExecutor ex(1);
  auto a = ex.submit(ident, 1);
  auto b = a;
  auto c = ex.submit(ident, 1);
  REQUIRE(a == b);
  REQUIRE_FALSE(a == c);
  REQUIRE(b.result() == 1);
  REQUIRE(a.done());
  REQUIRE(a.id() != c.id());
}

TEST_CASE("many threads can wait on one future", "[future][waiters]") {
  confut::ThreadPoolExecutor ex(2);
  Gate gate;
  auto f = ex.submit(gate.returning(77));
  std::atomic<int> seen{0};
  std::vector<std::thread> waiters;
  for (int i = 0; i < 8; ++i) {
    waiters.emplace_back([&] {
      if (f.result() == 77) seen.fetch_add(1);
    });
  }
  std::this_thread::sleep_for(20ms);
  gate.open();
  for (auto& t : waiters) t.join();
  REQUIRE(seen.load() == 8);
}
