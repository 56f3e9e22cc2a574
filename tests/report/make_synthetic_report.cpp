// Writes the HTML performance report of a made-up recording to the file named on the
// command line, for tests/report/check_report.sh to open in a headless browser.
//
// The recording: a thread pool with 4 workers and a process pool with 2 run a small
// pipeline (load -> parse -> transform -> aggregate, plus simulations on the processes);
// 120 tasks run, one of them fails, and the one task that depends on it never runs.

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include <confut/detail/report/html_report.hpp>
#include <confut/stats.hpp>
#include <confut/task_stream.hpp>

namespace {

using Clock = confut::TaskStream::Clock;
using std::chrono::microseconds;

/// A small deterministic generator, so the report (and its screenshot) is the same every run.
class Random {
 public:
  /// Uniform in [low, high).
  long long between(long long low, long long high) {
    state_ = state_ * 6364136223846793005ULL + 1442695040888963407ULL;
    return low + static_cast<long long>((state_ >> 33) % static_cast<std::uint64_t>(high - low));
  }

 private:
  std::uint64_t state_ = 42;
};

/// Places tasks on the workers of one executor the way a pool would: each task starts when
/// it has been submitted, its inputs are done and the earliest free worker takes it.
class Simulator {
 public:
  Simulator(confut::TaskStream& stream, std::size_t executor, Clock::time_point origin)
      : stream_(stream), executor_(executor), free_at_(stream.executors[executor].workers.size(), origin) {}

  std::uint64_t run(const std::string& name, Clock::time_point submitted, microseconds duration,
                    std::vector<std::uint64_t> inputs = {}, microseconds codec = microseconds(0)) {
    Clock::time_point ready = submitted;
    for (const std::uint64_t input : inputs) ready = std::max(ready, find(input).ended);
    std::size_t worker = 0;
    for (std::size_t w = 1; w < free_at_.size(); ++w) {
      if (free_at_[w] < free_at_[worker]) worker = w;
    }
    confut::TaskRecord task;
    task.id = ++next_id;
    task.name = name;
    task.executor = executor_;
    task.worker = static_cast<int>(worker);
    task.submitted = submitted;
    task.started = std::max(ready, free_at_[worker]) + microseconds(20);  // dispatch latency
    task.ended = task.started + duration;
    task.inputs = std::move(inputs);
    task.encode_time = codec;
    task.decode_time = codec / 2;
    free_at_[worker] = task.ended;
    stream_.tasks.push_back(task);
    return task.id;
  }

  confut::TaskRecord& find(std::uint64_t id) {
    for (confut::TaskRecord& task : stream_.tasks) {
      if (task.id == id) return task;
    }
    return stream_.tasks.front();
  }

  static inline std::uint64_t next_id = 0;

 private:
  confut::TaskStream& stream_;
  std::size_t executor_;
  std::vector<Clock::time_point> free_at_;
};

confut::TaskStream synthetic_stream() {
  confut::TaskStream stream;
  stream.executors.push_back({"ThreadPoolExecutor 1", {"confut-0", "confut-1", "confut-2", "confut-3"}});
  stream.executors.push_back({"ProcessPoolExecutor 2", {"worker 0 (pid 4242)", "worker 1 (pid 4243)"}});
  const Clock::time_point t0 = Clock::now();
  stream.begin = t0;
  Random random;
  Simulator threads(stream, 0, t0);
  Simulator processes(stream, 1, t0);

  // Thread pool: 16 chunks, each load -> parse -> transform; one aggregate per 4 chunks;
  // a final report. 16 * 3 + 3 + 1 = 52 tasks run (one aggregate never does).
  std::vector<std::uint64_t> transformed;
  for (int chunk = 0; chunk < 16; ++chunk) {
    const Clock::time_point submitted = t0 + microseconds(chunk * 150);
    const auto load = threads.run("load_chunk", submitted, microseconds(random.between(1500, 4000)));
    const auto parse = threads.run("parse", submitted, microseconds(random.between(2000, 6000)), {load});
    transformed.push_back(threads.run("transform<float, std::vector<int>>", submitted,
                                      microseconds(random.between(800, 2500)), {parse}));
  }
  threads.find(transformed[9]).outcome = confut::TaskOutcome::failed;
  std::vector<std::uint64_t> partials;
  for (int group = 0; group < 4; ++group) {
    std::vector<std::uint64_t> inputs(transformed.begin() + group * 4, transformed.begin() + group * 4 + 4);
    if (group == 2) {
      // Its input failed, so it failed without running.
      confut::TaskRecord dropped;
      dropped.id = ++Simulator::next_id;
      dropped.name = "aggregate";
      dropped.executor = 0;
      dropped.submitted = t0 + microseconds(2400);
      dropped.started = dropped.ended = threads.find(transformed[9]).ended;
      dropped.outcome = confut::TaskOutcome::failed;
      dropped.inputs = inputs;
      stream.tasks.push_back(dropped);
      continue;
    }
    partials.push_back(threads.run("aggregate", t0 + microseconds(2400), microseconds(random.between(1000, 2000)),
                                   inputs));
  }
  threads.run("write_report", t0 + microseconds(2500), microseconds(3000), partials);

  // Many short tasks from map(): 40 small scoring tasks on the threads.
  for (int i = 0; i < 40; ++i) {
    threads.run("score", t0 + microseconds(20000 + i * 40), microseconds(random.between(150, 900)));
  }

  // Process pool: 28 simulations with encode/decode time on the wire.
  for (int i = 0; i < 28; ++i) {
    processes.run("simulate", t0 + microseconds(500 + i * 300), microseconds(random.between(1500, 4500)), {},
                  microseconds(random.between(40, 220)));
  }

  Clock::time_point last = t0;
  for (const confut::TaskRecord& task : stream.tasks) last = std::max(last, task.ended);
  stream.end = last + microseconds(1500);
  return stream;
}

std::vector<confut::ExecutorStats> synthetic_stats(const confut::TaskStream& stream) {
  std::vector<confut::ExecutorStats> all;
  for (std::size_t e = 0; e < stream.executors.size(); ++e) {
    confut::ExecutorStats stats;
    stats.executor = stream.executors[e].name;
    stats.uptime = std::chrono::duration_cast<std::chrono::nanoseconds>(stream.end - stream.begin) +
                   std::chrono::milliseconds(3);
    for (const std::string& label : stream.executors[e].workers) stats.workers.push_back({label, 0, {}});
    for (const confut::TaskRecord& task : stream.tasks) {
      if (task.executor != e) continue;
      ++stats.submitted;
      if (task.outcome == confut::TaskOutcome::failed) ++stats.failed;
      else ++stats.finished;
      if (!task.ran()) continue;
      confut::WorkerStats& worker = stats.workers[static_cast<std::size_t>(task.worker)];
      ++worker.tasks;
      worker.busy += task.duration();
    }
    all.push_back(stats);
  }
  return all;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s REPORT.html\n", argv[0]);
    return 2;
  }
  const confut::TaskStream stream = synthetic_stream();
  const std::string page =
      confut::detail::render_performance_report(stream, synthetic_stats(stream), "Synthetic pipeline");
  std::ofstream file(argv[1], std::ios::binary | std::ios::trunc);
  file.write(page.data(), static_cast<std::streamsize>(page.size()));
  if (!file.flush()) {
    std::fprintf(stderr, "cannot write %s\n", argv[1]);
    return 1;
  }
  std::size_t ran = 0;
  for (const confut::TaskRecord& task : stream.tasks) ran += task.ran() ? 1 : 0;
  std::printf("wrote %s: %zu tasks ran, %zu did not\n", argv[1], ran, stream.tasks.size() - ran);
  return 0;
}
