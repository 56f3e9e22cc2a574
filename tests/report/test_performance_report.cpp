// performance_report: records every executor while open and writes one HTML page.

#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include <confut/confut.hpp>

#include "test_support.hpp"

namespace report_test {
int cube(int x) { return x * x * x; }
}  // namespace report_test

namespace {

std::string read_file(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  std::stringstream contents;
  contents << file.rdbuf();
  return contents.str();
}

}  // namespace

TEST_CASE("performance_report records executors alive, created and destroyed while open") {
  const std::string path = "test_performance_report.html";
  const std::string trace = "test_performance_report.json";
  std::remove(path.c_str());
  confut::ThreadPoolExecutor before(2);
  CHECK(before.submit(report_test::cube, 1).result() == 1);  // not in the report
  std::set<std::uint64_t> ids;
  std::string gone_name;
  {
    confut::performance_report report(path, {.title = "unit test report", .trace_path = trace});
    for (int i = 0; i < 10; ++i) {
      auto future = before.submit(report_test::cube, i);
      CHECK(future.result() == i * i * i);
      ids.insert(future.id());
    }
    {
      confut::ThreadPoolExecutor gone(1);  // destroyed before the report closes
      gone_name = gone.name();
      auto future = gone.submit(confut::named("in the gone pool", report_test::cube), 3);
      CHECK(future.result() == 27);
      ids.insert(future.id());
    }
    report.close();
    CHECK(report.task_stream().tasks.size() == ids.size());
    for (const auto& task : report.task_stream().tasks) CHECK(ids.count(task.id) == 1);
    std::set<std::string> executors;
    for (const auto& stats : report.stats()) executors.insert(stats.executor);
    CHECK(executors == std::set<std::string>{before.name(), gone_name});
  }
  const std::string page = read_file(path);
  REQUIRE_FALSE(page.empty());
  CHECK(page.find("<html") != std::string::npos);
  CHECK(page.find("unit test report") != std::string::npos);
  CHECK(page.find("in the gone pool") != std::string::npos);
  CHECK(page.find(gone_name) != std::string::npos);
  const std::string trace_json = read_file(trace);
  CHECK(trace_json.find("\"traceEvents\"") != std::string::npos);
  CHECK(trace_json.find("in the gone pool") != std::string::npos);
  std::remove(path.c_str());
  std::remove(trace.c_str());

  // Closed: recording is off again.
  confut::ThreadPoolExecutor after(1);
  after.start_recording();
  CHECK(after.submit(report_test::cube, 2).result() == 8);
  CHECK(after.stop_recording().tasks.size() == 1);
}

TEST_CASE("overlapping performance_reports each see what ran while they were open") {
  confut::ThreadPoolExecutor ex(2);
  confut::performance_report outer("test_report_outer.html");
  CHECK(ex.submit(report_test::cube, 2).result() == 8);
  {
    confut::performance_report inner("test_report_inner.html");
    CHECK(ex.submit(report_test::cube, 3).result() == 27);
    inner.close();
    CHECK(inner.task_stream().tasks.size() == 1);
  }
  CHECK(ex.submit(report_test::cube, 4).result() == 64);
  outer.close();
  CHECK(outer.task_stream().tasks.size() == 3);
  std::remove("test_report_outer.html");
  std::remove("test_report_inner.html");
}

TEST_CASE("performance_report::close throws when the file cannot be written") {
  confut::performance_report report("/nonexistent-dir/report.html");
  CHECK_THROWS_AS(report.close(), confut::Error);
  CHECK_NOTHROW(report.close());  // once is enough
}
