// The task-stream recorder (start_recording / stop_recording) and its Chrome trace export.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include <confut/confut.hpp>

#include "mini_json.hpp"
#include "test_support.hpp"

using confut_test::Gate;
using namespace std::chrono_literals;

// Named (not anonymous) namespace: dladdr finds only exported symbols.
namespace stream_test {

int square(int x) { return x * x; }
int sum_pair(int a, int b) { return a + b; }
int refuse(int) { throw std::invalid_argument("refused"); }

}  // namespace stream_test

using stream_test::refuse;
using stream_test::square;
using stream_test::sum_pair;

namespace {

std::map<std::uint64_t, const confut::TaskRecord*> by_id(const confut::TaskStream& stream) {
  std::map<std::uint64_t, const confut::TaskRecord*> index;
  for (const auto& task : stream.tasks) {
    INFO("task " << task.id << " recorded twice");
    CHECK(index.emplace(task.id, &task).second);
  }
  return index;
}

}  // namespace

TEST_CASE("nothing is recorded unless recording is on") {
  confut::ThreadPoolExecutor ex(2);
  CHECK(ex.submit(square, 3).result() == 9);
  const confut::TaskStream stream = ex.stop_recording();
  CHECK(stream.tasks.empty());
}

TEST_CASE("a recording holds every task once, with its name, worker and times") {
  confut::ThreadPoolExecutor ex(2);
  CHECK(ex.submit(square, 1).result() == 1);  // before recording: not in the stream
  ex.start_recording();
  const auto before = std::chrono::steady_clock::now();
  std::vector<confut::Future<int>> squares;
  for (int i = 0; i < 50; ++i) squares.push_back(ex.submit(square, i));
  auto total = ex.submit(sum_pair, squares[3], squares[4]);
  auto lambda = ex.submit([] { return 5; });
  auto custom = ex.submit(confut::named("custom step", square), 6);
  CHECK(total.result() == 25);
  CHECK(lambda.result() == 5);
  CHECK(custom.result() == 36);
  for (auto& future : squares) future.result();
  const auto after = std::chrono::steady_clock::now();
  const confut::TaskStream stream = ex.stop_recording();

  REQUIRE(stream.tasks.size() == 53);
  REQUIRE(stream.executors.size() == 1);
  CHECK(stream.executors[0].name == ex.name());
  CHECK(stream.executors[0].workers == std::vector<std::string>{"confut-0", "confut-1"});
  const auto index = by_id(stream);
  for (const auto& task : stream.tasks) {
    INFO("task " << task.id << " " << task.name);
    CHECK(task.ran());
    CHECK(task.worker < 2);
    CHECK(task.outcome == confut::TaskOutcome::finished);
    CHECK(before <= task.submitted);
    CHECK(task.submitted <= task.started);
    CHECK(task.started <= task.ended);
    CHECK(task.ended <= after);
  }
  CHECK(index.at(squares[7].id())->name == "stream_test::square(int)");
  CHECK(index.at(custom.id())->name == "custom step");
  // A lambda is named by its type: "f()::{lambda()#1}" (g++), "f()::$_0" (clang).
  const std::string& lambda_name = index.at(lambda.id())->name;
  CHECK((lambda_name.find("lambda") != std::string::npos ||
         lambda_name.find("$_") != std::string::npos));
  const confut::TaskRecord& sum = *index.at(total.id());
  CHECK(sum.name == "stream_test::sum_pair(int, int)");
  CHECK(sum.inputs == std::vector<std::uint64_t>{squares[3].id(), squares[4].id()});
  // A dependent starts only after its inputs ended.
  CHECK(index.at(squares[3].id())->ended <= sum.started);
  CHECK(index.at(squares[4].id())->ended <= sum.started);

  // Stopped: later tasks are not recorded.
  CHECK(ex.submit(square, 2).result() == 4);
  CHECK(ex.stop_recording().tasks.empty());
}

TEST_CASE("tasks that never ran are recorded as cancelled or failed, on no worker") {
  confut::ThreadPoolExecutor ex(1);
  ex.start_recording();
  Gate gate;
  auto blocker = ex.submit(gate.returning(1));
  auto victim = ex.submit(square, 4);
  REQUIRE(victim.cancel());
  auto failing = ex.submit(refuse, 1);
  auto dependent = ex.submit(square, failing);
  gate.open();
  CHECK(blocker.result() == 1);
  CHECK_THROWS_AS(dependent.result(), std::invalid_argument);
  ex.shutdown();
  const confut::TaskStream stream = ex.stop_recording();
  const auto index = by_id(stream);
  REQUIRE(index.size() == 4);
  CHECK(index.at(victim.id())->outcome == confut::TaskOutcome::cancelled);
  CHECK_FALSE(index.at(victim.id())->ran());
  CHECK(index.at(failing.id())->outcome == confut::TaskOutcome::failed);
  CHECK(index.at(failing.id())->ran());
  CHECK(index.at(dependent.id())->outcome == confut::TaskOutcome::failed);
  CHECK_FALSE(index.at(dependent.id())->ran());
  CHECK(index.at(dependent.id())->inputs == std::vector<std::uint64_t>{failing.id()});
}

TEST_CASE("the Chrome trace is valid JSON with a track per worker and every task once") {
  confut::ThreadPoolExecutor ex({.max_workers = 2, .thread_name_prefix = "tr\"ace"});
  ex.start_recording();
  std::vector<confut::Future<int>> leaves;
  for (int i = 0; i < 40; ++i) leaves.push_back(ex.submit(square, i));
  auto joined = ex.submit(sum_pair, leaves[0], leaves[1]);
  auto named_oddly = ex.submit(confut::named("quote \" backslash \\ newline \n </script>", square), 2);
  Gate gate;
  auto blocker = ex.submit(gate.returning(0));
  auto blocker2 = ex.submit(gate.returning(0));
  auto dropped = ex.submit(square, 5);
  const bool dropped_cancelled = dropped.cancel();
  gate.open();
  CHECK(joined.result() == 1);
  CHECK(named_oddly.result() == 4);
  blocker.result();
  blocker2.result();
  ex.shutdown();
  const confut::TaskStream stream = ex.stop_recording();
  const std::string text = stream.to_chrome_trace();
  CHECK(text.find("</script>") == std::string::npos);

  const confut_test::json::Value trace = confut_test::json::parse(text);
  REQUIRE(trace.has("traceEvents"));
  std::map<std::uint64_t, int> complete_events;
  std::map<double, int> flow_starts;
  std::map<double, int> flow_ends;
  std::set<double> named_tracks;
  std::set<double> used_tracks;
  std::string odd_name;
  for (const auto& event : trace["traceEvents"].array()) {
    const std::string phase = event["ph"].string();
    if (phase == "M" && event["name"].string() == "thread_name") {
      named_tracks.insert(event["tid"].number());
      if (event["args"]["name"].string() == "tr\"ace-0") CHECK(event["tid"].number() == 1);
    } else if (phase == "X") {
      const auto id = static_cast<std::uint64_t>(event["args"]["id"].number());
      ++complete_events[id];
      CHECK(event["dur"].number() >= 0.0);
      CHECK(event["ts"].number() >= 0.0);
      used_tracks.insert(event["tid"].number());
      if (id == named_oddly.id()) odd_name = event["name"].string();
    } else if (phase == "i") {
      CHECK(event["tid"].number() == 0);  // the "not run" track
      CHECK(static_cast<std::uint64_t>(event["args"]["id"].number()) == dropped.id());
    } else if (phase == "s") {
      ++flow_starts[event["id"].number()];
    } else if (phase == "f") {
      ++flow_ends[event["id"].number()];
    }
  }
  const std::size_t ran = stream.tasks.size() - (dropped_cancelled ? 1 : 0);
  CHECK(complete_events.size() == ran);
  for (const auto& [id, count] : complete_events) {
    INFO("task " << id);
    CHECK(count == 1);
  }
  CHECK(odd_name == "quote \" backslash \\ newline \n </script>");
  CHECK(named_tracks == std::set<double>{0, 1, 2});
  for (double track : used_tracks) CHECK(named_tracks.count(track) == 1);
  CHECK(flow_starts.size() == 2);  // leaves[0] -> joined, leaves[1] -> joined
  CHECK(flow_starts == flow_ends);
}

TEST_CASE("write_chrome_trace writes the file and fails loudly on a bad path") {
  confut::ThreadPoolExecutor ex(2);
  ex.start_recording();
  for (int i = 0; i < 5; ++i) ex.submit(square, i).result();
  const confut::TaskStream stream = ex.stop_recording();
  const std::string path = "test_task_stream_trace.json";
  stream.write_chrome_trace(path);
  std::ifstream file(path);
  std::stringstream contents;
  contents << file.rdbuf();
  CHECK(contents.str() == stream.to_chrome_trace());
  std::remove(path.c_str());
  CHECK_THROWS_AS(stream.write_chrome_trace("/nonexistent-dir/trace.json"), confut::Error);
}

TEST_CASE("recording under concurrent submitters keeps every task exactly once") {
  confut::ThreadPoolExecutor ex(2);
  ex.start_recording();
  constexpr int kPerThread = 3000;
  std::vector<std::vector<confut::Future<int>>> futures(3);
  std::vector<std::thread> submitters;
  for (int t = 0; t < 3; ++t) {
    submitters.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) futures[static_cast<std::size_t>(t)].push_back(ex.submit(square, i));
    });
  }
  for (auto& thread : submitters) thread.join();
  std::set<std::uint64_t> ids;
  for (auto& list : futures) {
    for (auto& future : list) {
      future.result();
      ids.insert(future.id());
    }
  }
  const confut::TaskStream stream = ex.stop_recording();
  REQUIRE(stream.tasks.size() == ids.size());
  for (const auto& task : stream.tasks) CHECK(ids.count(task.id) == 1);
}

#if defined(__linux__)
namespace stream_test {
int slow_square(int x) {
  std::this_thread::sleep_for(std::chrono::milliseconds(2));
  return x * x;
}
std::vector<double> make_doubles(int n) { return std::vector<double>(static_cast<std::size_t>(n), 1.5); }
}  // namespace stream_test

TEST_CASE("a process pool records worker-side times, names, inputs and encode/decode times") {
  // The process pool first: under ThreadSanitizer its fork server is forked straight from
  // this process, and a thread that is inside TSan's allocator at that moment (a thread
  // pool's worker starting up) leaves the allocator locked in every worker process.
  confut::ProcessPoolExecutor ex(2);
  confut::ThreadPoolExecutor threads(1);
  ex.submit(square, 1).result(60s);  // before recording: not in the stream
  ex.start_recording();
  const auto before = std::chrono::steady_clock::now();
  std::vector<confut::Future<int>> futures;
  for (int i = 0; i < 8; ++i) futures.push_back(ex.submit(stream_test::slow_square, i));
  auto input = threads.submit(square, 3);
  auto dependent = ex.submit(sum_pair, input, futures[0]);
  auto named_one = ex.submit(confut::named("remote step", square), 4);
  auto big = ex.submit(stream_test::make_doubles, 100000);
  auto failing = ex.submit(refuse, 1);
  for (int i = 0; i < 8; ++i) CHECK(futures[static_cast<std::size_t>(i)].result(60s) == i * i);
  CHECK(dependent.result(60s) == 9);
  CHECK(named_one.result(60s) == 16);
  CHECK(big.result(60s).size() == 100000);
  CHECK_THROWS_AS(failing.result(60s), std::invalid_argument);
  const auto after = std::chrono::steady_clock::now();
  const confut::TaskStream stream = ex.stop_recording();

  REQUIRE(stream.tasks.size() == 12);
  REQUIRE(stream.executors.size() == 1);
  CHECK(stream.executors[0].name == ex.name());
  REQUIRE(stream.executors[0].workers.size() == 2);
  CHECK(stream.executors[0].workers[0].find("(pid ") != std::string::npos);
  const auto index = by_id(stream);
  for (const auto& task : stream.tasks) {
    INFO("task " << task.id << " " << task.name);
    CHECK(task.ran());
    CHECK(task.worker < 2);
    CHECK(before <= task.submitted);
    CHECK(task.submitted <= task.started);
    CHECK(task.started <= task.ended);
    CHECK(task.ended <= after);
    CHECK(task.encode_time.count() > 0);
    CHECK(task.decode_time.count() > 0);
  }
  const confut::TaskRecord& slow = *index.at(futures[3].id());
  CHECK(slow.name == "stream_test::slow_square(int)");
  CHECK(slow.duration() >= std::chrono::milliseconds(2));
  CHECK(index.at(named_one.id())->name == "remote step");
  CHECK(index.at(dependent.id())->inputs ==
        std::vector<std::uint64_t>{input.id(), futures[0].id()});
  CHECK(index.at(failing.id())->outcome == confut::TaskOutcome::failed);
  // 800 KB of result: decoding it here takes measurable time.
  CHECK(index.at(big.id())->decode_time > index.at(named_one.id())->decode_time);
}
#endif
