// progress(): counts, plain lines for logs, in-place redraws on a real pseudo-terminal; the
// lazy views over as_completed() and map() sequences.

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <poll.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <iterator>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include <confut/as_completed.hpp>
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

std::size_t count_of(const std::string& text, const std::string& piece) {
  std::size_t n = 0;
  for (std::size_t at = text.find(piece); at != std::string::npos;
       at = text.find(piece, at + piece.size())) {
    ++n;
  }
  return n;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

const std::string kErase = "\r\x1b[2K";

bool ends_with_erase(const std::string& text) {
  return text.size() >= kErase.size() && text.substr(text.size() - kErase.size()) == kErase;
}

/// A pseudo-terminal: `slave` is a FILE* on which isatty() is true; read() returns what was
/// written to it, exactly (raw mode, no output translation).
struct Pty {
  Pty() {
    master = posix_openpt(O_RDWR | O_NOCTTY);
    REQUIRE(master >= 0);
    REQUIRE(grantpt(master) == 0);
    REQUIRE(unlockpt(master) == 0);
    const char* slave_name = ptsname(master);
    REQUIRE(slave_name != nullptr);
    slave = std::fopen(slave_name, "w");
    REQUIRE(slave != nullptr);
    termios mode{};
    REQUIRE(tcgetattr(fileno(slave), &mode) == 0);
    cfmakeraw(&mode);
    REQUIRE(tcsetattr(fileno(slave), TCSANOW, &mode) == 0);
    REQUIRE(fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK) == 0);
    REQUIRE(isatty(fileno(slave)) == 1);
  }
  Pty(const Pty&) = delete;
  Pty& operator=(const Pty&) = delete;
  ~Pty() {
    if (slave != nullptr) std::fclose(slave);
    if (master >= 0) close(master);
  }

  /// Everything written so far. Reads until quiet, since the kernel hands written bytes to
  /// the master side asynchronously. Keep writes between reads well under the pty buffer.
  std::string read() {
    std::fflush(slave);
    std::string text;
    pollfd readable{master, POLLIN, 0};
    while (poll(&readable, 1, 300) > 0) {
      char buffer[4096];
      const ssize_t n = ::read(master, buffer, sizeof buffer);
      if (n <= 0) break;
      text.append(buffer, static_cast<std::size_t>(n));
    }
    return text;
  }

  int master = -1;
  std::FILE* slave = nullptr;
};

/// An input range without a size: integers read from a stream.
struct StreamInts {
  std::istream* in;
  std::istream_iterator<int> begin() const { return std::istream_iterator<int>(*in); }
  std::istream_iterator<int> end() const { return {}; }
};

int fail_on_multiple_of_four(int i) {
  if (i % 4 == 0) throw std::runtime_error("four");
  return i * 10;
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
  Pty pty;
  confut::ProgressSummary summary;
  {
    confut::ThreadPoolExecutor ex(1);
    std::vector<confut::Future<void>> futures;
    for (int i = 0; i < 6; ++i) {
      futures.push_back(ex.submit([] { std::this_thread::sleep_for(50ms); }));
    }
    // terminal left unset: progress() must find out with isatty() on the stream.
    summary = confut::progress(futures, {.description = "pty", .stream = pty.slave, .width = 10});
  }
  CHECK(summary.total == 6);
  CHECK(summary.done == 6);
  CHECK(summary.errors == 0);
  CHECK(summary.seconds >= 0.25);

  const std::string text = pty.read();  // about four redraws of under 100 bytes each
  INFO("output: " << text);
  CHECK(text.find('\r') != std::string::npos);
  CHECK(text.find('\n') == std::string::npos);
  CHECK(text.find("\x1b[2K") != std::string::npos);
  CHECK(text.find("pty: [") != std::string::npos);
  CHECK(text.find("/6, ") != std::string::npos);
  CHECK(text.find("tasks/s") != std::string::npos);
  CHECK(text.find("ETA") != std::string::npos);
  CHECK(ends_with_erase(text));  // nothing left on screen
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

// ---------------------------------------------------------------------------
// progress() over an as_completed() sequence
// ---------------------------------------------------------------------------

TEST_CASE("progress picks the lazy view for as_completed and map sequences", "[progress]") {
  using Seq = confut::AsCompleted<int>;
  static_assert(std::is_same_v<decltype(confut::progress(std::declval<Seq>())),
                               confut::ProgressView<Seq>>);
  static_assert(std::is_same_v<decltype(confut::progress(std::declval<Seq&>())),
                               confut::ProgressView<Seq&>>);
  static_assert(std::is_same_v<decltype(confut::progress(std::declval<std::vector<confut::Future<int>>&>())),
                               confut::ProgressSummary>);
  using Results = decltype(std::declval<confut::ThreadPoolExecutor&>().map(
      confut_test::ident, std::declval<const std::vector<int>&>()));
  static_assert(std::is_same_v<decltype(confut::progress(std::declval<Results>())),
                               confut::ProgressView<Results>>);
  static_assert(std::is_same_v<decltype(confut::progress(std::declval<Results&>())),
                               confut::ProgressView<Results&>>);
  SUCCEED();
}

TEST_CASE("progress over as_completed on a terminal yields the same futures in order and erases "
          "its line",
          "[progress][as_completed]") {
  Pty pty;
  confut::ThreadPoolExecutor ex(1);  // one worker: completion order is submission order
  std::vector<confut::Future<int>> futures;
  for (int i = 0; i < 6; ++i) {
    futures.push_back(ex.submit([i] {
      std::this_thread::sleep_for(40ms);
      if (i == 2) throw std::runtime_error("two");
      return i;
    }));
  }
  std::vector<confut::Future<int>> seen;
  std::optional<confut::ProgressSummary> summary;
  {
    auto view = confut::progress(confut::as_completed(futures),
                                 {.description = "pty", .stream = pty.slave, .width = 10});
    for (confut::Future<int> f : view) seen.push_back(f);
    summary = view.summary();
  }
  REQUIRE(seen == futures);
  CHECK(summary->total == 6);
  CHECK(summary->done == 6);
  CHECK(summary->errors == 1);
  CHECK(summary->seconds >= 0.2);

  const std::string text = pty.read();
  INFO("output: " << text);
  CHECK(text.find('\n') == std::string::npos);
  CHECK(text.find("pty: [..........] 0/6, 0 errors") != std::string::npos);  // at begin()
  CHECK(count_of(text, "pty: [") >= 2);  // and redrawn while the futures finish
  CHECK(text.find("tasks/s") != std::string::npos);
  CHECK(text.find("ETA") != std::string::npos);
  CHECK(ends_with_erase(text));
}

TEST_CASE("progress over as_completed in plain mode counts failures and cancellations without "
          "observing them",
          "[progress][as_completed]") {
  std::atomic<int> unobserved{0};
  HandlerGuard guard([&unobserved](std::exception_ptr, const std::string&) { ++unobserved; });
  std::FILE* out = std::tmpfile();
  REQUIRE(out != nullptr);
  std::vector<confut::Future<int>> futures;
  std::vector<confut::Future<int>> seen;
  {
    confut::ThreadPoolExecutor ex(2);
    for (int i = 0; i < 12; ++i) {
      futures.push_back(ex.submit([i] {
        if (i % 4 == 1) throw std::runtime_error("failed");
        return i;
      }));
    }
    confut::ThreadPoolExecutor held(1);
    confut_test::Gate gate;
    auto blocker = held.submit(gate.returning(0));
    auto victim = held.submit([] { return -1; });
    REQUIRE(victim.cancel());
    futures.push_back(victim);
    for (const auto& f : futures) f.wait();  // all done: as_completed yields in input order

    for (confut::Future<int> f : confut::progress(
             confut::as_completed(futures),
             {.description = "plain", .stream = out, .terminal = false})) {
      seen.push_back(f);
    }
    gate.open();
    REQUIRE(blocker.result() == 0);
  }
  REQUIRE(seen == futures);

  const std::string text = read_all(out);
  std::fclose(out);
  INFO("output: " << text);
  CHECK(text.find('\r') == std::string::npos);
  CHECK(text.find('\x1b') == std::string::npos);
  const std::string final_line = last_line(text);
  CHECK(final_line.rfind("plain: 13/13, 4 errors, ", 0) == 0);  // i = 1, 5, 9; one cancelled
  CHECK(final_line.find("ETA 0:00") != std::string::npos);

  seen.clear();
  futures.clear();
  CHECK(unobserved.load() == 3);  // progress() left every error to its owner
}

TEST_CASE("progress over as_completed counts futures added during iteration in the total (W3d)",
          "[progress][as_completed]") {
  std::FILE* out = std::tmpfile();
  REQUIRE(out != nullptr);
  confut::ThreadPoolExecutor ex(2);
  std::vector<confut::Future<int>> zs;
  for (int i = 0; i < 256; ++i) {
    auto x = ex.submit(confut_test::inc, i);
    auto y = ex.submit(confut_test::dbl, x);
    zs.push_back(ex.submit(confut_test::add, x, y));
  }
  std::vector<confut::Future<int>> zs2;
  for (auto& z : zs) zs2.push_back(ex.submit(confut_test::inc, z));

  std::size_t taken = 0;
  std::size_t largest_total = 0;
  std::optional<confut::Future<int>> carry;
  {
    auto view = confut::progress(confut::as_completed(zs2),
                                 {.description = "reduce", .stream = out, .terminal = false});
    for (confut::Future<int> f : view) {
      ++taken;
      largest_total = std::max(largest_total, view.summary().total);
      if (!carry) {
        carry = f;
        continue;
      }
      view.sequence().add(ex.submit(confut_test::add, *carry, f));
      carry.reset();
    }
    CHECK(view.summary().done == 511);
    CHECK(view.summary().total == 511);
  }
  REQUIRE(carry.has_value());
  CHECK(carry->result() == 98944);
  CHECK(taken == 511);
  CHECK(largest_total > 256);  // the total grew as futures were added

  const std::string text = read_all(out);
  std::fclose(out);
  INFO("output: " << text);
  CHECK(last_line(text).rfind("reduce: 511/511, 0 errors, ", 0) == 0);
}

TEST_CASE("progress over an lvalue as_completed on a terminal follows add() on the sequence",
          "[progress][as_completed]") {
  Pty pty;
  confut::ThreadPoolExecutor ex(2);
  std::vector<confut::Future<int>> start{ex.submit(confut_test::ident, 3),
                                         ex.submit(confut_test::ident, 2)};
  auto seq = confut::as_completed(start);
  std::vector<int> values;
  std::optional<confut::ProgressSummary> summary;
  {
    auto view = confut::progress(seq, {.stream = pty.slave});
    CHECK(&view.sequence() == &seq);
    for (auto f : view) {
      values.push_back(f.result());
      if (f.result() > 0) seq.add(ex.submit(confut_test::ident, f.result() - 1));
    }
    summary = view.summary();
  }
  std::sort(values.begin(), values.end());
  CHECK(values == std::vector<int>{0, 0, 1, 1, 2, 2, 3});
  CHECK(summary->done == 7);
  CHECK(summary->total == 7);
  CHECK(seq.count() == 0);

  const std::string text = pty.read();
  INFO("output: " << text);
  CHECK(text.find("] 0/2, ") != std::string::npos);  // the first draw, at begin()
  CHECK(text.find('\n') == std::string::npos);
  CHECK(ends_with_erase(text));
}

TEST_CASE("breaking out of progress over as_completed leaves no partial line on a terminal",
          "[progress][as_completed]") {
  Pty pty;
  confut::ThreadPoolExecutor ex(2);
  std::vector<confut::Future<int>> futures;
  for (int i = 0; i < 10; ++i) futures.push_back(ex.submit(confut_test::ident, i));
  for (const auto& f : futures) f.wait();
  auto seq = confut::as_completed(futures);
  std::optional<confut::ProgressSummary> summary;
  {
    auto view = confut::progress(seq, {.description = "early", .stream = pty.slave});
    int taken = 0;
    for (auto f : view) {
      CHECK(f == futures[static_cast<std::size_t>(taken)]);
      if (++taken == 3) break;
    }
    summary = view.summary();
    const std::string drawn = pty.read();
    INFO("before destruction: " << drawn);
    CHECK(drawn.find("early: [") != std::string::npos);
    CHECK_FALSE(ends_with_erase(drawn));  // the line is still up while the view lives
  }
  CHECK(summary->done == 3);
  CHECK(summary->total == 10);
  CHECK(seq.count() == 7);  // the rest stays in the sequence
  const std::string text = pty.read();
  CHECK(text == kErase);  // the view's destructor erased the line
}

TEST_CASE("breaking out of progress over as_completed in plain mode prints a final line",
          "[progress][as_completed]") {
  std::FILE* out = std::tmpfile();
  REQUIRE(out != nullptr);
  confut::ThreadPoolExecutor ex(2);
  std::vector<confut::Future<int>> futures;
  for (int i = 0; i < 10; ++i) futures.push_back(ex.submit(confut_test::ident, i));
  for (const auto& f : futures) f.wait();
  {
    auto view = confut::progress(confut::as_completed(futures),
                                 {.description = "early", .stream = out, .terminal = false,
                                  .plain_interval = 1h});
    int taken = 0;
    for (auto f : view) {
      if (++taken == 4) break;
    }
  }
  const std::string text = read_all(out);
  std::fclose(out);
  INFO("output: " << text);
  const std::vector<std::string> lines = lines_of(text);
  REQUIRE(lines.size() == 5);  // one per 10% step taken (1/10 to 4/10), then the final line
  CHECK(lines[3].rfind("early: 4/10, 0 errors, ", 0) == 0);
  CHECK(lines[4].rfind("early: 4/10, 0 errors, ", 0) == 0);
}

// ---------------------------------------------------------------------------
// progress() over map()
// ---------------------------------------------------------------------------

TEST_CASE("progress over map on a terminal yields the same values in order and erases its line",
          "[progress][map]") {
  Pty pty;
  confut::ThreadPoolExecutor ex(2);
  const std::vector<int> inputs{1, 2, 3, 4, 5, 6, 7, 8};
  const auto slow_square = [](int x) {
    std::this_thread::sleep_for(30ms);
    return x * x;
  };
  std::vector<int> plain;
  for (int r : ex.map(slow_square, inputs)) plain.push_back(r);

  std::vector<int> values;
  std::optional<confut::ProgressSummary> summary;
  {
    auto view =
        confut::progress(ex.map(slow_square, inputs), {.description = "map", .stream = pty.slave});
    for (int r : view) values.push_back(r);
    summary = view.summary();
  }
  CHECK(values == plain);
  CHECK(values == std::vector<int>{1, 4, 9, 16, 25, 36, 49, 64});
  CHECK(summary->total == 8);
  CHECK(summary->done == 8);
  CHECK(summary->errors == 0);

  const std::string text = pty.read();
  INFO("output: " << text);
  CHECK(text.find('\n') == std::string::npos);
  CHECK(text.find("map: [") != std::string::npos);
  CHECK(text.find("0/8, ") != std::string::npos);
  CHECK(count_of(text, "map: [") >= 2);
  CHECK(text.find("ETA") != std::string::npos);
  CHECK(ends_with_erase(text));
}

TEST_CASE("progress over map in plain mode counts thrown elements and rethrows them",
          "[progress][map]") {
  std::FILE* out = std::tmpfile();
  REQUIRE(out != nullptr);
  confut::ThreadPoolExecutor ex(1);
  std::vector<int> inputs;
  for (int i = 0; i < 10; ++i) inputs.push_back(i);
  const auto slow = [](int i) {
    std::this_thread::sleep_for(10ms);
    return fail_on_multiple_of_four(i);
  };

  std::vector<int> values;
  int caught = 0;
  {
    auto results = ex.map(slow, inputs);
    auto view = confut::progress(results, {.description = "plain", .stream = out,
                                           .terminal = false, .plain_interval = 1h});
    for (auto it = view.begin(); it != view.end(); ++it) {
      try {
        values.push_back(*it);
      } catch (const std::runtime_error&) {
        // (what() is not compared: the message string's reference count lives in
        // uninstrumented libstdc++, so TSan would flag its release on the worker.)
        ++caught;
      }
    }
    CHECK(view.summary().errors == 3);
  }
  CHECK(values == std::vector<int>{10, 20, 30, 50, 60, 70, 90});
  CHECK(caught == 3);  // i = 0, 4, 8

  const std::string text = read_all(out);
  std::fclose(out);
  INFO("output: " << text);
  const std::vector<std::string> lines = lines_of(text);
  // With an hour between timed lines, only the 10% steps print: one line per element
  // here, then the final one.
  CHECK(lines.size() == 11);
  CHECK(lines.front().rfind("plain: 1/10, 1 error, ", 0) == 0);
  CHECK(last_line(text).rfind("plain: 10/10, 3 errors, ", 0) == 0);
  CHECK(last_line(text).find("ETA 0:00") != std::string::npos);
}

TEST_CASE("progress over map with an input of unknown size shows no total and no ETA",
          "[progress][map]") {
  confut::ThreadPoolExecutor ex(2);

  SECTION("plain") {
    std::FILE* out = std::tmpfile();
    REQUIRE(out != nullptr);
    std::istringstream in("1 2 3 4 5");
    const StreamInts ints{&in};
    std::vector<int> values;
    {
      auto view = confut::progress(ex.map(confut_test::dbl, ints),
                                   {.description = "stream", .stream = out, .terminal = false});
      for (int r : view) values.push_back(r);
      CHECK(view.summary().total == 5);  // unknown: the summary says how many were taken
    }
    CHECK(values == std::vector<int>{2, 4, 6, 8, 10});
    const std::string text = read_all(out);
    std::fclose(out);
    INFO("output: " << text);
    CHECK(text.find("ETA") == std::string::npos);
    CHECK(last_line(text).rfind("stream: 5/?, 0 errors, ", 0) == 0);
    CHECK(last_line(text).find("elapsed ") != std::string::npos);
  }

  SECTION("terminal") {
    Pty pty;
    std::istringstream in("1 2 3 4 5 6");
    const StreamInts ints{&in};
    const auto slow_dbl = [](int x) {
      std::this_thread::sleep_for(40ms);
      return 2 * x;
    };
    std::vector<int> values;
    for (int r : confut::progress(ex.map(slow_dbl, ints, {.buffersize = 2}),
                                  {.description = "stream", .stream = pty.slave})) {
      values.push_back(r);
    }
    CHECK(values == std::vector<int>{2, 4, 6, 8, 10, 12});
    const std::string text = pty.read();
    INFO("output: " << text);
    CHECK(text.find("stream: 0/?, 0 errors, ") != std::string::npos);
    CHECK(text.find("ETA") == std::string::npos);
    CHECK(text.find("] ") == std::string::npos);  // no bar without a total
    CHECK(ends_with_erase(text));
  }
}

TEST_CASE("breaking out of progress over map leaves no partial line on a terminal",
          "[progress][map]") {
  Pty pty;
  confut::ThreadPoolExecutor ex(2);
  std::vector<int> inputs(20, 1);
  {
    auto view = confut::progress(ex.map(confut_test::inc, inputs), {.stream = pty.slave});
    int taken = 0;
    for (int r : view) {
      CHECK(r == 2);
      if (++taken == 5) break;
    }
    CHECK(view.summary().done == 5);
    CHECK(view.summary().total == 20);
    CHECK_FALSE(ends_with_erase(pty.read()));
  }
  CHECK(pty.read() == kErase);
}

TEST_CASE("progress over map on a terminal redraws at most ten times a second",
          "[progress][map]") {
  Pty pty;
  // Read while the view draws, so that too many redraws fail the test rather than fill the
  // pty's buffer and block the writer.
  std::atomic<bool> stop{false};
  std::string text;
  std::thread reader([&] {
    pollfd readable{pty.master, POLLIN, 0};
    while (!stop.load() || poll(&readable, 1, 300) > 0) {
      if (poll(&readable, 1, 10) <= 0) continue;
      char buffer[4096];
      const ssize_t n = read(pty.master, buffer, sizeof buffer);
      if (n > 0) text.append(buffer, static_cast<std::size_t>(n));
    }
  });
  confut::ThreadPoolExecutor ex(2);
  std::vector<int> inputs(20000, 1);
  const auto start = std::chrono::steady_clock::now();
  long long sum = 0;
  for (int r : confut::progress(ex.map(confut_test::inc, inputs, {.chunksize = 500}),
                                {.stream = pty.slave})) {
    sum += r;
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  stop = true;
  reader.join();
  CHECK(sum == 40000);
  INFO("output (first 400 bytes of " << text.size() << "): " << text.substr(0, 400)
                                       << "\nseconds: " << seconds);
  // One draw at begin(), at most one per 100 ms after it, and the final erase.
  CHECK(count_of(text, kErase) <= static_cast<std::size_t>(seconds * 10) + 2);
  CHECK(count_of(text, kErase) >= 2);
  CHECK(ends_with_erase(text));
}
