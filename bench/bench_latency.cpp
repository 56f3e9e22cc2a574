// bench_latency: sleep-bound tasks, where a pool's job is to hide latency (W2).
//
// W2a: 8 calls slowadd(i, i, 0.1 s) on 4 workers: ideal 0.2 s, checksum 56.
// W2b: the 5x5 exercise (i < j: slowadd, i > j: slowsub), 20 calls of 0.1 s on 4 workers:
//      ideal 0.5 s, checksum 60.
// Counters: wall_ms, ideal_ms, overhead_ms (wall - ideal) and overhead_pct. std::async has
// no worker limit (a thread per call), so it can beat the 4-worker ideal; its row says so.
//
// Usage: bench_latency [Google Benchmark flags]   (W2 always uses 4 workers)

#include <confut/confut.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "harness.hpp"
#include "peers.hpp"
#include "workloads.hpp"

using namespace confut_bench;

namespace {

struct W2Variant {
  std::string id;
  std::vector<W2Call> calls;
  std::int64_t checksum;
  double ideal_seconds;
};

const std::vector<W2Variant>& variants() {
  static const std::vector<W2Variant> all = {
      {"W2a", w2a_calls(), kW2aChecksum, kW2aIdealSeconds},
      {"W2b", w2b_calls(), kW2bChecksum, kW2bIdealSeconds},
  };
  return all;
}

void w2_counters(benchmark::State& state, const W2Variant& w, std::size_t workers,
                 double seconds) {
  state.counters["workers"] = static_cast<double>(workers);
  state.counters["tasks"] = static_cast<double>(w.calls.size());
  state.counters["ideal_ms"] = w.ideal_seconds * 1e3;
  if (seconds <= 0) return;
  state.counters["wall_ms"] = seconds * 1e3;
  state.counters["overhead_ms"] = (seconds - w.ideal_seconds) * 1e3;
  state.counters["overhead_pct"] = (seconds - w.ideal_seconds) / w.ideal_seconds * 100;
}

/// confut: one submit per call, the function named at the call site, results summed.
std::int64_t w2_confut(confut::ThreadPoolExecutor& ex, const std::vector<W2Call>& calls) {
  std::vector<confut::Future<int>> futures;
  for (const W2Call& call : calls) {
    futures.push_back(call.add ? ex.submit(slowadd, call.a, call.b)
                               : ex.submit(slowsub, call.a, call.b));
  }
  std::int64_t sum = 0;
  for (const auto& future : futures) sum += future.result();
  return sum;
}

template <class Runner>
std::int64_t w2_runner(Runner& runner, const std::vector<W2Call>& calls) {
  const std::vector<int> results = runner.template run_all<int>(
      calls.size(), [&calls](std::size_t i) { return calls[i].run(); });
  std::int64_t sum = 0;
  for (int value : results) sum += value;
  return sum;
}

/// Registers W2a and W2b for one system; `make` builds its runner (outside the timing).
template <class Make>
void register_w2(const std::string& system, Side side, std::size_t workers, Make make) {
  for (const W2Variant& w : variants()) {
    const std::string name =
        w.id + "/" + system + (workers > 0 ? "/workers:" + std::to_string(workers) : "");
    register_timed(name, [&w, side, workers, make](benchmark::State& state) {
      auto runner = make();
      const double s = measure(
          state, side, [&] { return runner(w.calls); },
          [&w](std::int64_t sum) { return expect_equal(sum, w.checksum); }, /*warmup=*/false);
      w2_counters(state, w, workers, s);
    }, 1);
  }
}

/// Adapts a peer runner to "calls in, checksum out", owning it.
template <class Runner>
auto peer(std::size_t workers) {
  return [workers] {
    return [runner = std::make_shared<Runner>(workers)](const std::vector<W2Call>& calls) {
      return w2_runner(*runner, calls);
    };
  };
}

void register_all() {
  constexpr std::size_t workers = kW2Workers;
  register_w2("confut_threads", Side::confut, workers, [] {
    return [ex = std::make_shared<confut::ThreadPoolExecutor>(kW2Workers)](
               const std::vector<W2Call>& calls) { return w2_confut(*ex, calls); };
  });
#if CONFUT_HAVE_TBB
  register_w2("tbb_task_group", Side::peer, workers, peer<TbbRunner>(workers));
#endif
#if CONFUT_HAVE_BOOST
  register_w2("asio_thread_pool", Side::peer, workers, peer<AsioRunner>(workers));
#endif
#if CONFUT_HAVE_OPENMP
  register_w2("openmp_tasks", Side::peer, workers, peer<OpenMpRunner>(workers));
#endif
  register_w2("std_async", Side::peer, 0, peer<StdAsyncRunner>(0));
}

}  // namespace

int main(int argc, char** argv) { return bench_main(argc, argv, {}, register_all); }
