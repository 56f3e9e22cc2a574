// progress(): counts, plain lines for logs, in-place redraws on a real pseudo-terminal.

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <poll.h>
#include <termios.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <confut/progress.hpp>
#include <confut/thread_pool.hpp>

#include "test_support.hpp"

using namespace std::chrono_literals;

namespace {

std::string read_all(std::FILE* file) {
  std::fflush(file);
  std::rewind(file);
  std::string text;
  char buffer[4096];
  std::size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof buffer, file)) > 0) text.append(buffer, n);
  return text;
}

std::string last_line(const std::string& text) {
  if (text.empty() || text.back() != '\n') return {};
  const std::size_t start = text.rfind('\n', text.size() - 2);
  return text.substr(start == std::string::npos ? 0 : start + 1);
}

/// Restores the previous unobserved-error handler when the test ends.
struct HandlerGuard {
  explicit HandlerGuard(confut::ErrorHandler handler)
      : previous(confut::set_unobserved_error_handler(std::move(handler))) {}
  ~HandlerGuard() { confut::set_unobserved_error_handler(std::move(previous)); }
  confut::ErrorHandler previous;
};

}  // namespace

TEST_CASE("progress in plain mode counts failures and cancellations and ends with a final line",
          "[progress]") {
  std::atomic<int> unobserved{0};
  HandlerGuard guard([&unobserved](std::exception_ptr, const std::string&) { ++unobserved; });

  std::FILE* out = std::tmpfile();
  REQUIRE(out != nullptr);
  std::vector<confut::Future<int>> futures;
  {
    confut::ThreadPoolExecutor ex(4);
    confut::ThreadPoolExecutor held(1);  // futures from another executor: one gets cancelled
    confut_test::Gate gate;
    std::promise<void> started;
    auto blocker = held.submit([&started, gate] {
      started.set_value();
      gate.wait();
      return 0;
    });
    started.get_future().wait();
    auto victim = held.submit([] { return 1; });
    REQUIRE(victim.cancel());
    futures.push_back(victim);

    for (int i = 1; i < 20; ++i) {
      futures.push_back(ex.submit([i] {
        std::this_thread::sleep_for(std::chrono::milliseconds(5 * (i % 3)));
        if (i % 5 == 0) throw std::runtime_error("task " + std::to_string(i) + " failed");
        return i;
      }));
    }
    gate.open();

    const confut::ProgressSummary summary =
        confut::progress(futures, {.description = "plain", .stream = out, .terminal = false,
                                   .plain_interval = 10ms});
    CHECK(summary.total == 20);
    CHECK(summary.done == 20);
    CHECK(summary.errors == 4);  // i = 5, 10, 15 threw; one was cancelled
    CHECK(summary.seconds >= 0.0);
    for (const auto& future : futures) CHECK(future.done());
    REQUIRE(blocker.result() == 0);
  }  // the executors finish every callback before the futures are dropped

  const std::string text = read_all(out);
  std::fclose(out);
  INFO("output: " << text);
  CHECK(text.find('\r') == std::string::npos);
  CHECK(text.find('\x1b') == std::string::npos);
  const std::string final_line = last_line(text);
  CHECK(final_line.rfind("plain: ", 0) == 0);
  CHECK(final_line.find("20/20") != std::string::npos);
  CHECK(final_line.find("4 errors") != std::string::npos);

  // progress() only counted the errors: dropping the futures still reports all three.
  futures.clear();
  CHECK(unobserved.load() == 3);
}

TEST_CASE("progress on a terminal redraws in place and erases its line at the end",
          "[progress]") {
  const int master = posix_openpt(O_RDWR | O_NOCTTY);
  REQUIRE(master >= 0);
  REQUIRE(grantpt(master) == 0);
  REQUIRE(unlockpt(master) == 0);
  const char* slave_name = ptsname(master);
  REQUIRE(slave_name != nullptr);
  std::FILE* slave = std::fopen(slave_name, "w");
  REQUIRE(slave != nullptr);
  termios mode{};
  REQUIRE(tcgetattr(fileno(slave), &mode) == 0);
  cfmakeraw(&mode);  // no output translation: the master sees exactly the bytes written
  REQUIRE(tcsetattr(fileno(slave), TCSANOW, &mode) == 0);
  REQUIRE(fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK) == 0);
  REQUIRE(isatty(fileno(slave)) == 1);

  confut::ProgressSummary summary;
  {
    confut::ThreadPoolExecutor ex(1);
    std::vector<confut::Future<void>> futures;
    for (int i = 0; i < 6; ++i) {
      futures.push_back(ex.submit([] { std::this_thread::sleep_for(50ms); }));
    }
    // terminal left unset: progress() must find out with isatty() on the stream.
    summary = confut::progress(futures, {.description = "pty", .stream = slave, .width = 10});
  }
  CHECK(summary.total == 6);
  CHECK(summary.done == 6);
  CHECK(summary.errors == 0);
  CHECK(summary.seconds >= 0.25);

  // About four redraws of under 100 bytes: far below the pty's buffer. Read until it is
  // quiet, since the kernel hands written bytes to the master side asynchronously.
  std::string text;
  pollfd readable{master, POLLIN, 0};
  while (poll(&readable, 1, 300) > 0) {
    char buffer[4096];
    const ssize_t n = read(master, buffer, sizeof buffer);
    if (n <= 0) break;
    text.append(buffer, static_cast<std::size_t>(n));
  }
  std::fclose(slave);
  close(master);

  INFO("output: " << text);
  CHECK(text.find('\r') != std::string::npos);
  CHECK(text.find('\n') == std::string::npos);
  CHECK(text.find("\x1b[2K") != std::string::npos);
  CHECK(text.find("pty: [") != std::string::npos);
  CHECK(text.find("/6, ") != std::string::npos);
  CHECK(text.find("tasks/s") != std::string::npos);
  CHECK(text.find("ETA") != std::string::npos);
  const std::string erase = "\r\x1b[2K";
  REQUIRE(text.size() >= erase.size());
  CHECK(text.substr(text.size() - erase.size()) == erase);  // nothing left on screen
}

TEST_CASE("progress over no futures returns at once and prints nothing", "[progress]") {
  std::FILE* out = std::tmpfile();
  REQUIRE(out != nullptr);
  const std::vector<confut::Future<int>> none;
  const auto start = std::chrono::steady_clock::now();
  const confut::ProgressSummary summary =
      confut::progress(none, {.stream = out, .terminal = false});
  CHECK(std::chrono::steady_clock::now() - start < 500ms);
  CHECK(summary.total == 0);
  CHECK(summary.done == 0);
  CHECK(summary.errors == 0);
  CHECK(read_all(out).empty());
  std::fclose(out);
}

TEST_CASE("progress rejects an empty Future", "[progress]") {
  std::vector<confut::Future<int>> futures(1);
  CHECK_THROWS_AS(confut::progress(futures, {.terminal = false}), confut::InvalidStateError);
}
