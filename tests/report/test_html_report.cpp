// The HTML performance report: one self-contained page whose embedded JSON carries every
// task, the aggregates and the statistics, with names escaped so nothing breaks the page.
// (tests/report/check_report.sh checks what a browser draws from it.)

#include <catch2/catch.hpp>

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <confut/detail/report/html_report.hpp>
#include <confut/stats.hpp>
#include <confut/task_stream.hpp>

using namespace std::chrono_literals;

namespace {

using Clock = confut::TaskStream::Clock;

confut::TaskRecord ran(std::uint64_t id, std::string name, std::size_t executor, int worker,
                       Clock::time_point t0, std::chrono::microseconds start,
                       std::chrono::microseconds duration) {
  confut::TaskRecord task;
  task.id = id;
  task.name = std::move(name);
  task.executor = executor;
  task.worker = worker;
  task.submitted = t0 + start - 500us;
  task.started = t0 + start;
  task.ended = task.started + duration;
  return task;
}

/// Two executors, three workers; five tasks ran (one failed), one never ran.
confut::TaskStream sample_stream() {
  confut::TaskStream stream;
  const Clock::time_point t0 = Clock::now();
  stream.begin = t0;
  stream.end = t0 + 20ms;
  stream.executors.push_back({"ThreadPoolExecutor 1", {"confut-0", "confut-1"}});
  stream.executors.push_back({"ProcessPoolExecutor 2", {"worker 0 (pid 4242)"}});

  stream.tasks.push_back(ran(1001, "load", 0, 0, t0, 0us, 10ms));
  stream.tasks.push_back(ran(1002, "load", 0, 1, t0, 1ms, 8ms));
  confut::TaskRecord combine = ran(1003, "</script><b>combine & \"quote\"", 0, 0, t0, 10ms, 5ms);
  combine.inputs = {1001, 1002};
  stream.tasks.push_back(combine);
  confut::TaskRecord encoded = ran(1004, "simulate", 1, 0, t0, 2ms, 4ms);
  encoded.encode_time = 250us;
  encoded.decode_time = 125us;
  stream.tasks.push_back(encoded);
  confut::TaskRecord boom = ran(1005, "boom", 1, 0, t0, 7ms, 1ms);
  boom.outcome = confut::TaskOutcome::failed;
  stream.tasks.push_back(boom);

  confut::TaskRecord dropped;  // failed because its input failed: never ran
  dropped.id = 1006;
  dropped.name = "after_boom";
  dropped.executor = 1;
  dropped.submitted = t0 + 1ms;
  dropped.started = dropped.ended = boom.ended;
  dropped.outcome = confut::TaskOutcome::failed;
  dropped.inputs = {1005};
  stream.tasks.push_back(dropped);
  return stream;
}

std::vector<confut::ExecutorStats> sample_stats() {
  confut::ExecutorStats threads;
  threads.executor = "ThreadPoolExecutor 1";
  threads.submitted = 3;
  threads.finished = 3;
  threads.uptime = 25ms;
  threads.workers = {{"confut-0", 2, 15ms}, {"confut-1", 1, 8ms}};
  confut::ExecutorStats processes;
  processes.executor = "ProcessPoolExecutor 2";
  processes.submitted = 7;
  processes.waiting = 1;
  processes.queued = 2;
  processes.running = 1;
  processes.finished = 1;
  processes.failed = 2;
  processes.cancelled = 0;
  processes.uptime = 30ms;
  processes.workers = {{"worker 0 (pid 4242)", 2, 5ms}};
  return {threads, processes};
}

/// The text of the <script type="application/json"> element.
std::string embedded_json(const std::string& page) {
  const std::string open = "<script type=\"application/json\" id=\"report-data\">";
  const std::size_t begin = page.find(open);
  REQUIRE(begin != std::string::npos);
  const std::size_t end = page.find("</script>", begin);
  REQUIRE(end != std::string::npos);
  return page.substr(begin + open.size(), end - begin - open.size());
}

std::size_t count(std::string_view text, std::string_view what) {
  std::size_t n = 0;
  for (std::size_t at = text.find(what); at != std::string_view::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

}  // namespace

TEST_CASE("the report is one self-contained HTML page, with no network reference",
          "[html_report]") {
  const std::string page =
      confut::detail::render_performance_report(sample_stream(), sample_stats(), "My run");
  CHECK(page.rfind("<!DOCTYPE html>", 0) == 0);
  CHECK(page.find("</html>") != std::string::npos);
  CHECK(page.find("http://") == std::string::npos);
  CHECK(page.find("https://") == std::string::npos);
  CHECK(page.find("<link") == std::string::npos);
  CHECK(page.find("src=") == std::string::npos);
  CHECK(page.find("@import") == std::string::npos);
  CHECK(page.find("<style>") != std::string::npos);
  // Exactly the two scripts: the data and the code that draws it.
  CHECK(count(page, "<script") == 2);
  CHECK(count(page, "</script>") == 2);
  CHECK(page.find("<title>My run</title>") != std::string::npos);
  CHECK(page.find("data-rendered") != std::string::npos);  // the browser check relies on it
}

TEST_CASE("the report's data holds every task, ran or not, with its times", "[html_report]") {
  const std::string json = embedded_json(
      confut::detail::render_performance_report(sample_stream(), sample_stats(), "My run"));

  // Tasks that ran: [id, name, executor, worker, submitted, start, duration, outcome, encode, decode, inputs],
  // names ranked by total run time (load 18 ms, combine 5 ms, simulate 4 ms, boom 1 ms).
  CHECK(json.find("[1001,0,0,0,-500.000,0.000,10000.000,0,0.000,0.000,[]]") != std::string::npos);
  CHECK(json.find("[1002,0,0,1,500.000,1000.000,8000.000,0,0.000,0.000,[]]") != std::string::npos);
  CHECK(json.find("[1003,1,0,0,9500.000,10000.000,5000.000,0,0.000,0.000,[1001,1002]]") != std::string::npos);
  CHECK(json.find("[1004,2,1,0,1500.000,2000.000,4000.000,0,250.000,125.000,[]]") != std::string::npos);
  CHECK(json.find("[1005,3,1,0,6500.000,7000.000,1000.000,1,0.000,0.000,[]]") != std::string::npos);
  // The task that never ran: [id, name, executor, outcome, when].
  CHECK(json.find("\"not_run\":[[1006,4,1,1,8000.000]]") != std::string::npos);

  CHECK(json.find("\"counts\":{\"tasks\":6,\"ran\":5,\"not_run\":1,\"failed\":2,\"cancelled\":0,"
                  "\"drawn\":5,\"left_out\":0}") != std::string::npos);
  CHECK(json.find("\"window\":{\"begin_us\":0.000,\"end_us\":20000.000}") != std::string::npos);
  CHECK(json.find("\"name_totals\":[[2,18000.000],[1,5000.000],[1,4000.000],[1,1000.000],[0,0.000]]") !=
        std::string::npos);
}

TEST_CASE("the report's data has each worker's busy time and lanes per executor", "[html_report]") {
  const std::string json = embedded_json(
      confut::detail::render_performance_report(sample_stream(), sample_stats(), "My run"));
  CHECK(json.find("{\"name\":\"ThreadPoolExecutor 1\",\"workers\":[\"confut-0\",\"confut-1\"],\"lanes\":2,"
                  "\"busy\":[[15000.000,2],[8000.000,1]]}") != std::string::npos);
  CHECK(json.find("{\"name\":\"ProcessPoolExecutor 2\",\"workers\":[\"worker 0 (pid 4242)\"],\"lanes\":1,"
                  "\"busy\":[[5000.000,2]]}") != std::string::npos);
}

TEST_CASE("the report's data carries the executor statistics", "[html_report]") {
  const std::string json = embedded_json(
      confut::detail::render_performance_report(sample_stream(), sample_stats(), "My run"));
  CHECK(json.find("{\"executor\":\"ThreadPoolExecutor 1\",\"submitted\":3,\"waiting\":0,\"queued\":0,"
                  "\"running\":0,\"finished\":3,\"failed\":0,\"cancelled\":0,\"uptime_us\":25000.000,"
                  "\"utilization\":0.46,\"workers\":[{\"label\":\"confut-0\",\"tasks\":2,\"busy_us\":15000.000},"
                  "{\"label\":\"confut-1\",\"tasks\":1,\"busy_us\":8000.000}]}") != std::string::npos);
  CHECK(json.find("{\"executor\":\"ProcessPoolExecutor 2\",\"submitted\":7,\"waiting\":1,\"queued\":2,"
                  "\"running\":1,\"finished\":1,\"failed\":2,\"cancelled\":0,\"uptime_us\":30000.000,"
                  "\"utilization\":0.166667,\"workers\":[{\"label\":\"worker 0 (pid 4242)\",\"tasks\":2,"
                  "\"busy_us\":5000.000}]}") != std::string::npos);
}

TEST_CASE("the duration histogram counts every task that ran, in log-scale bins", "[html_report]") {
  const std::string json = embedded_json(
      confut::detail::render_performance_report(sample_stream(), sample_stats(), "My run"));
  // Durations 1, 4, 5, 8 and 10 ms; four bins per decade from 1 ms (10^6 ns) to 10 ms.
  CHECK(json.find("\"edges_us\":[1000,1778.28,3162.28,5623.41,10000,17782.8]") != std::string::npos);
  CHECK(json.find("{\"name\":\"load\",\"color\":0,\"counts\":[0,0,0,1,1]}") != std::string::npos);
  CHECK(json.find("\"color\":1,\"counts\":[0,0,1,0,0]}") != std::string::npos);  // combine, 5 ms
  CHECK(json.find("{\"name\":\"simulate\",\"color\":2,\"counts\":[0,0,1,0,0]}") != std::string::npos);
  CHECK(json.find("{\"name\":\"boom\",\"color\":3,\"counts\":[1,0,0,0,0]}") != std::string::npos);
}

TEST_CASE("special characters in names and the title cannot break the page", "[html_report]") {
  const std::string page = confut::detail::render_performance_report(
      sample_stream(), sample_stats(), "<b>Title</b> & \"more\"");
  // Nothing but the two real script elements closes a script, and no raw markup from a name.
  CHECK(count(page, "</script>") == 2);
  CHECK(page.find("<b>combine") == std::string::npos);
  CHECK(page.find("<b>Title") == std::string::npos);
  CHECK(page.find("\"\\u003c/script>\\u003cb>combine & \\\"quote\\\"\"") != std::string::npos);
  CHECK(page.find("<title>&lt;b&gt;Title&lt;/b&gt; &amp; &quot;more&quot;</title>") != std::string::npos);
  CHECK(embedded_json(page).find("\"title\":\"\\u003cb>Title\\u003c/b> & \\\"more\\\"\"") != std::string::npos);
}

TEST_CASE("with more tasks than max_bars, the longest are drawn and the rest counted", "[html_report]") {
  const std::string json = embedded_json(
      confut::detail::render_performance_report(sample_stream(), sample_stats(), "My run", 2));
  CHECK(json.find("\"drawn\":2,\"left_out\":3") != std::string::npos);
  CHECK(json.find("\"max_bars\":2") != std::string::npos);
  CHECK(json.find("[1001,") != std::string::npos);  // 10 ms
  CHECK(json.find("[1002,") != std::string::npos);  // 8 ms
  CHECK(json.find("[1003,") == std::string::npos);
  CHECK(json.find("[1004,") == std::string::npos);
  // Aggregates still count every task.
  CHECK(json.find("\"busy\":[[15000.000,2],[8000.000,1]]") != std::string::npos);
  CHECK(json.find("{\"name\":\"boom\",\"color\":3,\"counts\":[1,0,0,0,0]}") != std::string::npos);
}

TEST_CASE("an empty recording still renders a page", "[html_report]") {
  confut::TaskStream stream;
  const std::string page = confut::detail::render_performance_report(stream, {}, "Nothing ran");
  const std::string json = embedded_json(page);
  CHECK(json.find("\"counts\":{\"tasks\":0,\"ran\":0,\"not_run\":0,\"failed\":0,\"cancelled\":0,"
                  "\"drawn\":0,\"left_out\":0}") != std::string::npos);
  CHECK(json.find("\"executors\":[]") != std::string::npos);
  CHECK(json.find("\"tasks\":[\n]") != std::string::npos);
  CHECK(json.find("\"stats\":[]") != std::string::npos);
  CHECK(json.find("\"edges_us\":[]") != std::string::npos);
}

TEST_CASE("tasks on an executor or worker without a label get a lane of their own", "[html_report]") {
  confut::TaskStream stream;
  const Clock::time_point t0 = Clock::now();
  stream.begin = t0;
  stream.end = t0 + 5ms;
  stream.tasks.push_back(ran(7, "orphan", 1, 2, t0, 1ms, 1ms));
  const std::string json = embedded_json(confut::detail::render_performance_report(stream, {}, "t"));
  CHECK(json.find("{\"name\":\"executor 1\",\"workers\":[],\"lanes\":0,\"busy\":[]}") != std::string::npos);
  CHECK(json.find("{\"name\":\"executor 2\",\"workers\":[],\"lanes\":3,"
                  "\"busy\":[[0.000,0],[0.000,0],[1000.000,1]]}") != std::string::npos);
}
