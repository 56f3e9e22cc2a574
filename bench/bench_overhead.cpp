// bench_overhead: what a task costs (W1), what a graph of tiny dependent tasks costs (W3,
// W3d), the memory a pending task holds, and the CPU an idle pool burns.
//
// W1: N empty tasks ident(i), submitted one by one, results collected in submission order;
//     counters ns_per_task and tasks_per_s. Thread executors N = 200,000; process executors
//     N = 20,000. std::async runs a thread per call: it is tried at N = 200,000 (where it
//     usually runs out of threads, reported as failed) and also measured at N = 20,000.
// W3: 256 chains inc -> dbl -> add built from futures, then a pairwise reduction: 1,023
//     tasks, answer 98,688; counters graph_ms and tasks_per_s. Each peer expresses the
//     dependencies its own way: oneTBB flow graph nodes and edges, OpenMP depend clauses,
//     Boost.Asio continuations (a finished task posts the dependents it completes),
//     std::async with shared_futures.
// memory: 1,000,000 tasks queued behind a blocked worker; peak RSS growth / N
//     (bytes_per_task), measured in a fresh process.
// idle: CPU time the process uses over 1 s while the pool has no work, as % of one core
//     (idle_cpu_pct), measured in a fresh process.
//
// Usage: bench_overhead [--workers=N] [Google Benchmark flags]

#include <confut/confut.hpp>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <future>
#include <memory>
#include <string>
#include <system_error>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "harness.hpp"
#include "peers.hpp"
#include "workloads.hpp"

#if CONFUT_HAVE_TBB
#include <oneapi/tbb/flow_graph.h>
#endif

using namespace confut_bench;

namespace {

std::string workers_suffix(std::size_t workers) { return "/workers:" + std::to_string(workers); }

// ---------------------------------------------------------------------------------------
// W1
// ---------------------------------------------------------------------------------------

/// Reports W1's figures from the mean seconds per iteration.
void w1_counters(benchmark::State& state, int n, std::size_t workers, double seconds) {
  state.counters["n"] = n;
  state.counters["workers"] = static_cast<double>(workers);
  if (seconds <= 0) return;
  state.counters["ns_per_task"] = seconds * 1e9 / n;
  state.counters["tasks_per_s"] = n / seconds;
}

auto w1_check(int n) {
  return [n](std::int64_t sum) { return expect_equal(sum, w1_checksum(n)); };
}

/// confut, either executor: one submit per call, then result() in submission order.
template <class Executor>
std::int64_t w1_confut_submit(Executor& ex, int n) {
  std::vector<confut::Future<int>> futures;
  futures.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) futures.push_back(ex.submit(ident, i));
  std::int64_t sum = 0;
  for (const auto& future : futures) sum += future.result();
  return sum;
}

/// confut, either executor: map with 256 calls per task.
template <class Executor>
std::int64_t w1_confut_map(Executor& ex, const std::vector<int>& inputs) {
  std::int64_t sum = 0;
  for (int value : ex.map(ident, inputs, {.chunksize = 256})) sum += value;
  return sum;
}

std::vector<int> iota_inputs(int n) {
  std::vector<int> inputs(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) inputs[static_cast<std::size_t>(i)] = i;
  return inputs;
}

template <class Runner>
std::int64_t w1_runner(Runner& runner, int n) {
  const std::vector<int> results =
      runner.template run_all<int>(static_cast<std::size_t>(n),
                                   [](std::size_t i) { return ident(static_cast<int>(i)); });
  std::int64_t sum = 0;
  for (int value : results) sum += value;
  return sum;
}

void register_w1() {
  const std::size_t workers = max_workers();
  const std::string w = workers_suffix(workers);
  constexpr int kThreads = kW1ThreadTasks;
  constexpr int kProcesses = kW1ProcessTasks;
  const std::string n_threads = "/n:" + std::to_string(kThreads);
  const std::string n_processes = "/n:" + std::to_string(kProcesses);

  register_timed("W1/confut_threads" + n_threads + w, [=](benchmark::State& state) {
    confut::ThreadPoolExecutor ex(workers);
    const double s = measure(state, Side::confut, [&] { return w1_confut_submit(ex, kThreads); },
                             w1_check(kThreads));
    w1_counters(state, kThreads, workers, s);
  }, 10);

  // The cost of the always-on statistics (off here) and of the task-stream recorder (on).
  register_timed("W1/confut_threads_nostats" + n_threads + w, [=](benchmark::State& state) {
    confut::ThreadPoolExecutor ex({.max_workers = workers, .statistics = false});
    const double s = measure(state, Side::confut, [&] { return w1_confut_submit(ex, kThreads); },
                             w1_check(kThreads));
    w1_counters(state, kThreads, workers, s);
  }, 10);

  register_timed("W1/confut_threads_recording" + n_threads + w, [=](benchmark::State& state) {
    confut::ThreadPoolExecutor ex(workers);
    const double s = measure(state, Side::confut, [&] {
      ex.start_recording();
      const std::int64_t sum = w1_confut_submit(ex, kThreads);
      const confut::TaskStream stream = ex.stop_recording();
      if (stream.tasks.size() != static_cast<std::size_t>(kThreads)) return std::int64_t{-1};
      return sum;
    }, w1_check(kThreads));
    w1_counters(state, kThreads, workers, s);
  }, 10);

  register_timed("W1/confut_threads_map256" + n_threads + w, [=](benchmark::State& state) {
    confut::ThreadPoolExecutor ex(workers);
    const std::vector<int> inputs = iota_inputs(kThreads);
    const double s = measure(state, Side::confut, [&] { return w1_confut_map(ex, inputs); },
                             w1_check(kThreads));
    w1_counters(state, kThreads, workers, s);
  }, 10);

  register_timed("W1/confut_processes" + n_processes + w, [=](benchmark::State& state) {
    confut::ProcessPoolExecutor ex(workers);
    const double s = measure(state, Side::confut,
                             [&] { return w1_confut_submit(ex, kProcesses); },
                             w1_check(kProcesses));
    w1_counters(state, kProcesses, workers, s);
  }, 3);

  register_timed("W1/confut_processes_map256" + n_processes + w, [=](benchmark::State& state) {
    confut::ProcessPoolExecutor ex(workers);
    const std::vector<int> inputs = iota_inputs(kProcesses);
    const double s = measure(state, Side::confut, [&] { return w1_confut_map(ex, inputs); },
                             w1_check(kProcesses));
    w1_counters(state, kProcesses, workers, s);
  }, 10);

#if CONFUT_HAVE_TBB
  register_timed("W1/tbb_task_group" + n_threads + w, [=](benchmark::State& state) {
    TbbRunner runner(workers);
    const double s = measure(state, Side::peer, [&] { return w1_runner(runner, kThreads); },
                             w1_check(kThreads));
    w1_counters(state, kThreads, workers, s);
  }, 10);
#else
  std::fprintf(stderr, "bench_overhead: oneTBB not found, its W1 and W3 are skipped\n");
#endif

#if CONFUT_HAVE_BOOST
  register_timed("W1/asio_thread_pool" + n_threads + w, [=](benchmark::State& state) {
    AsioRunner runner(workers);
    const double s = measure(state, Side::peer, [&] { return w1_runner(runner, kThreads); },
                             w1_check(kThreads));
    w1_counters(state, kThreads, workers, s);
  }, 3);
#else
  std::fprintf(stderr, "bench_overhead: Boost not found, Boost.Asio's W1 and W3 are skipped\n");
#endif

#if CONFUT_HAVE_OPENMP
  register_timed("W1/openmp_tasks" + n_threads + w, [=](benchmark::State& state) {
    OpenMpRunner runner(workers);
    const double s = measure(state, Side::peer, [&] { return w1_runner(runner, kThreads); },
                             w1_check(kThreads));
    w1_counters(state, kThreads, workers, s);
  }, 10);
#else
  std::fprintf(stderr, "bench_overhead: OpenMP not found, its W1 and W3 are skipped\n");
#endif

  // std::async starts a thread per call and keeps it until its future is read: at N =
  // 200,000 it normally fails with EAGAIN once the kernel's thread limit is reached. Both
  // runs are slow (seconds), hence one iteration and fewer repetitions.
  register_timed("W1/std_async" + n_processes, [=](benchmark::State& state) {
    StdAsyncRunner runner;
    const double s = measure(state, Side::peer, [&] { return w1_runner(runner, kProcesses); },
                             w1_check(kProcesses), /*warmup=*/false);
    w1_counters(state, kProcesses, 0, s);
  }, 1, 3);
  register_timed("W1/std_async" + n_threads, [=](benchmark::State& state) {
    StdAsyncRunner runner;
    const double s = measure(state, Side::peer, [&] { return w1_runner(runner, kThreads); },
                             w1_check(kThreads), /*warmup=*/false);
    w1_counters(state, kThreads, 0, s);
  }, 1, 1);
}

// ---------------------------------------------------------------------------------------
// W3
// ---------------------------------------------------------------------------------------

void w3_counters(benchmark::State& state, int tasks, std::size_t workers, double seconds) {
  state.counters["tasks"] = tasks;
  state.counters["workers"] = static_cast<double>(workers);
  if (seconds <= 0) return;
  state.counters["graph_ms"] = seconds * 1e3;
  state.counters["tasks_per_s"] = tasks / seconds;
}

auto w3_check(std::int64_t expected) {
  return [expected](std::int64_t answer) { return expect_equal(answer, expected); };
}

/// W3 with confut: futures passed as arguments, the whole graph submitted without waiting.
std::int64_t w3_confut(confut::ThreadPoolExecutor& ex) {
  std::vector<confut::Future<int>> level;
  level.reserve(kW3Leaves);
  for (int i = 0; i < kW3Leaves; ++i) {
    auto x = ex.submit(inc, i);
    auto y = ex.submit(dbl, x);
    level.push_back(ex.submit(add, x, y));
  }
  while (level.size() > 1) {
    std::vector<confut::Future<int>> next;
    next.reserve(level.size() / 2 + 1);
    for (std::size_t i = 0; i + 1 < level.size(); i += 2) {
      next.push_back(ex.submit(add, level[i], level[i + 1]));
    }
    if (level.size() % 2 == 1) next.push_back(level.back());
    level = std::move(next);
  }
  return level.front().result();
}

/// W3d with confut: inc on each z, then add the first two to finish, via as_completed.
std::int64_t w3d_confut(confut::ThreadPoolExecutor& ex) {
  std::vector<confut::Future<int>> zs2;
  zs2.reserve(kW3Leaves);
  for (int i = 0; i < kW3Leaves; ++i) {
    auto x = ex.submit(inc, i);
    auto y = ex.submit(dbl, x);
    auto z = ex.submit(add, x, y);
    zs2.push_back(ex.submit(inc, z));
  }
  auto seq = confut::as_completed(zs2);
  while (seq.count() > 1) {
    auto a = seq.next();
    auto b = seq.next();
    seq.add(ex.submit(add, a, b));
  }
  return seq.next().result();
}

#if CONFUT_HAVE_TBB
/// W3 as a oneTBB flow graph: a function_node per task, a join_node in front of every add.
std::int64_t w3_tbb_flow_graph() {
  namespace flow = tbb::flow;
  using Pair = std::tuple<int, int>;
  using IntNode = flow::function_node<int, int>;
  using JoinNode = flow::join_node<Pair, flow::queueing>;
  using AddNode = flow::function_node<Pair, int>;

  flow::graph graph;  // declared first: destroyed after its nodes
  std::vector<std::unique_ptr<IntNode>> unary_nodes;
  std::vector<std::unique_ptr<JoinNode>> joins;
  std::vector<std::unique_ptr<AddNode>> adds;
  unary_nodes.reserve(2 * kW3Leaves);
  joins.reserve(kW3Tasks);
  adds.reserve(kW3Tasks);

  auto add_node = [&](flow::sender<int>& left, flow::sender<int>& right) -> AddNode& {
    auto& join = *joins.emplace_back(std::make_unique<JoinNode>(graph));
    auto& sum = *adds.emplace_back(std::make_unique<AddNode>(
        graph, flow::unlimited, [](const Pair& p) { return add(std::get<0>(p), std::get<1>(p)); }));
    flow::make_edge(left, flow::input_port<0>(join));
    flow::make_edge(right, flow::input_port<1>(join));
    flow::make_edge(join, sum);
    return sum;
  };

  std::vector<IntNode*> roots;
  std::vector<flow::sender<int>*> level;
  for (int i = 0; i < kW3Leaves; ++i) {
    auto& x = *unary_nodes.emplace_back(
        std::make_unique<IntNode>(graph, flow::unlimited, [](int v) { return inc(v); }));
    auto& y = *unary_nodes.emplace_back(
        std::make_unique<IntNode>(graph, flow::unlimited, [](int v) { return dbl(v); }));
    flow::make_edge(x, y);
    level.push_back(&add_node(x, y));
    roots.push_back(&x);
  }
  while (level.size() > 1) {
    std::vector<flow::sender<int>*> next;
    for (std::size_t i = 0; i + 1 < level.size(); i += 2) {
      next.push_back(&add_node(*level[i], *level[i + 1]));
    }
    if (level.size() % 2 == 1) next.push_back(level.back());
    level = std::move(next);
  }
  int answer = 0;
  flow::function_node<int, flow::continue_msg> sink(graph, flow::serial, [&answer](int v) {
    answer = v;
    return flow::continue_msg();
  });
  flow::make_edge(*level.front(), sink);
  for (int i = 0; i < kW3Leaves; ++i) roots[static_cast<std::size_t>(i)]->try_put(i);
  graph.wait_for_all();
  return answer;
}
#endif

#if CONFUT_HAVE_BOOST
/// W3 on a boost::asio::thread_pool in continuation-passing style: each node counts its
/// missing inputs; a finished task hands its value to its dependents and posts those it
/// completes. The last node fulfils a promise.
class AsioTreeSum {
 public:
  explicit AsioTreeSum(boost::asio::thread_pool& pool) : pool_(pool) {}

  std::int64_t run() {
    std::vector<Node> nodes(kW3Tasks);  // in place: nodes hold atomics
    std::size_t used = 0;
    std::vector<Node*> level;
    std::vector<Node*> roots;
    for (int i = 0; i < kW3Leaves; ++i) {
      Node& x = nodes[used++];
      Node& y = nodes[used++];
      Node& z = nodes[used++];
      x.unary = inc;
      x.input[0] = i;
      y.unary = dbl;
      y.missing.store(1, std::memory_order_relaxed);
      z.missing.store(2, std::memory_order_relaxed);
      x.next = {{&y, 0}, {&z, 0}};
      y.next = {{&z, 1}};
      roots.push_back(&x);
      level.push_back(&z);
    }
    while (level.size() > 1) {
      std::vector<Node*> next;
      for (std::size_t i = 0; i + 1 < level.size(); i += 2) {
        Node& sum = nodes[used++];
        sum.missing.store(2, std::memory_order_relaxed);
        level[i]->next = {{&sum, 0}};
        level[i + 1]->next = {{&sum, 1}};
        next.push_back(&sum);
      }
      if (level.size() % 2 == 1) next.push_back(level.back());
      level = std::move(next);
    }
    std::promise<int> done;
    std::future<int> answer = done.get_future();
    done_ = &done;
    for (Node* root : roots) boost::asio::post(pool_, [this, root] { execute(*root); });
    return answer.get();
  }

 private:
  struct Node {
    int (*unary)(int) = nullptr;  // inc or dbl; nullptr: add
    int input[2]{};
    std::atomic<int> missing{0};
    std::vector<std::pair<Node*, int>> next;  // dependents, and which input this feeds
  };

  void execute(Node& node) {
    const int value = node.unary != nullptr ? node.unary(node.input[0])
                                            : add(node.input[0], node.input[1]);
    if (node.next.empty()) {
      done_->set_value(value);
      return;
    }
    for (auto [dependent, slot] : node.next) {
      dependent->input[slot] = value;
      if (dependent->missing.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        boost::asio::post(pool_, [this, dependent = dependent] { execute(*dependent); });
      }
    }
  }

  boost::asio::thread_pool& pool_;
  std::promise<int>* done_ = nullptr;
};
#endif

#if CONFUT_HAVE_OPENMP
/// W3 with OpenMP tasks whose order comes from depend clauses. The reduction is a heap:
/// z_i at tree[256 + i], node k = tree[2k] + tree[2k + 1], the answer at tree[1]; pairing
/// neighbours level by level, as the other systems do.
std::int64_t w3_openmp(int workers) {
  std::vector<int> xs(kW3Leaves), ys(kW3Leaves), tree(2 * kW3Leaves);
  int* x = xs.data();
  int* y = ys.data();
  int* t = tree.data();
#pragma omp parallel num_threads(workers)
#pragma omp single
  {
    for (int i = 0; i < kW3Leaves; ++i) {
#pragma omp task depend(out : x[i]) firstprivate(i)
      x[i] = inc(i);
#pragma omp task depend(in : x[i]) depend(out : y[i]) firstprivate(i)
      y[i] = dbl(x[i]);
#pragma omp task depend(in : x[i], y[i]) depend(out : t[kW3Leaves + i]) firstprivate(i)
      t[kW3Leaves + i] = add(x[i], y[i]);
    }
    for (int k = kW3Leaves - 1; k >= 1; --k) {
#pragma omp task depend(in : t[2 * k], t[2 * k + 1]) depend(out : t[k]) firstprivate(k)
      t[k] = add(t[2 * k], t[2 * k + 1]);
    }
  }  // the barrier at the end of `single` waits for every task
  return t[1];
}
#endif

/// W3 with std::async: a thread per task; each dependent blocks on its inputs'
/// shared_futures.
std::int64_t w3_std_async() {
  std::vector<std::shared_future<int>> level;
  for (int i = 0; i < kW3Leaves; ++i) {
    std::shared_future<int> x = std::async(std::launch::async, inc, i).share();
    std::shared_future<int> y =
        std::async(std::launch::async, [x] { return dbl(x.get()); }).share();
    level.push_back(
        std::async(std::launch::async, [x, y] { return add(x.get(), y.get()); }).share());
  }
  while (level.size() > 1) {
    std::vector<std::shared_future<int>> next;
    for (std::size_t i = 0; i + 1 < level.size(); i += 2) {
      next.push_back(std::async(std::launch::async, [a = level[i], b = level[i + 1]] {
                       return add(a.get(), b.get());
                     }).share());
    }
    if (level.size() % 2 == 1) next.push_back(level.back());
    level = std::move(next);
  }
  return level.front().get();
}

void register_w3() {
  const std::size_t workers = max_workers();
  const std::string w = workers_suffix(workers);

  register_timed("W3/confut_threads" + w, [=](benchmark::State& state) {
    confut::ThreadPoolExecutor ex(workers);
    const double s =
        measure(state, Side::confut, [&] { return w3_confut(ex); }, w3_check(kW3Answer));
    w3_counters(state, kW3Tasks, workers, s);
  }, 100);

  register_timed("W3d/confut_threads" + w, [=](benchmark::State& state) {
    confut::ThreadPoolExecutor ex(workers);
    const double s =
        measure(state, Side::confut, [&] { return w3d_confut(ex); }, w3_check(kW3dAnswer));
    w3_counters(state, kW3dTasks, workers, s);
  }, 100);

#if CONFUT_HAVE_TBB
  register_timed("W3/tbb_flow_graph" + w, [=](benchmark::State& state) {
    TbbRunner runner(workers);
    const double s = measure(
        state, Side::peer,
        [&] { return runner.arena().execute([] { return w3_tbb_flow_graph(); }); },
        w3_check(kW3Answer));
    w3_counters(state, kW3Tasks, workers, s);
  }, 100);
#endif

#if CONFUT_HAVE_BOOST
  register_timed("W3/asio_thread_pool" + w, [=](benchmark::State& state) {
    AsioRunner runner(workers);
    AsioTreeSum tree(runner.pool());
    const double s =
        measure(state, Side::peer, [&] { return tree.run(); }, w3_check(kW3Answer));
    w3_counters(state, kW3Tasks, workers, s);
  }, 100);
#endif

#if CONFUT_HAVE_OPENMP
  register_timed("W3/openmp_tasks" + w, [=](benchmark::State& state) {
    const double s = measure(
        state, Side::peer, [&] { return w3_openmp(static_cast<int>(workers)); },
        w3_check(kW3Answer));
    w3_counters(state, kW3Tasks, workers, s);
  }, 100);
#endif

  register_timed("W3/std_async", [=](benchmark::State& state) {
    const double s =
        measure(state, Side::peer, [&] { return w3_std_async(); }, w3_check(kW3Answer));
    w3_counters(state, kW3Tasks, 0, s);
  }, 5);
}

// ---------------------------------------------------------------------------------------
// Memory per pending task, and idle CPU: each measured in a fresh process (--probe=...)
// ---------------------------------------------------------------------------------------

constexpr int kPendingTasks = 1'000'000;

/// Prints the probe's result lines: RSS before, peak, bytes per pending task.
void print_memory(long long before, long long peak, long long after) {
  std::printf("rss_before=%lld\nrss_peak=%lld\nrss_after=%lld\nbytes_per_task=%.1f\n", before,
              peak, after, static_cast<double>(peak - before) / kPendingTasks);
}

/// Opens when set; the blocked worker waits on it.
struct Gate {
  std::atomic<bool> open{false};
  std::atomic<bool> entered{false};
  void block() {
    entered.store(true);
    while (!open.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  void wait_entered() const {
    while (!entered.load()) std::this_thread::yield();
  }
};

int probe_memory_confut() {
  confut::ThreadPoolExecutor ex(1);
  Gate gate;
  auto blocker = ex.submit([&gate] {
    gate.block();
    return 0;
  });
  gate.wait_entered();
  // The caller's vector of futures is allocated and touched before the baseline: only what
  // the pool holds for each pending task is counted.
  std::vector<confut::Future<int>> futures(kPendingTasks);
  if (!reset_peak_rss()) std::printf("warning=cannot reset VmHWM\n");
  const long long before = proc_status_bytes("VmRSS");
  for (int i = 0; i < kPendingTasks; ++i) {
    futures[static_cast<std::size_t>(i)] = ex.submit(ident, i);
  }
  const long long peak = proc_status_bytes("VmHWM");
  const long long after = proc_status_bytes("VmRSS");
  gate.open.store(true);
  std::int64_t sum = blocker.result();
  for (const auto& future : futures) sum += future.result();
  print_memory(before, peak, after);
  std::printf("ok=%d\n", sum == w1_checksum(kPendingTasks) ? 1 : 0);
  return 0;
}

#if CONFUT_HAVE_TBB
int probe_memory_tbb() {
  // Two slots: a worker thread blocked in a task, and this thread spawning the rest.
  TbbRunner runner(2);
  std::int64_t sum = 0;
  runner.arena().execute([&] {
    tbb::task_group group;
    Gate gate;
    group.run([&gate] { gate.block(); });
    gate.wait_entered();
    std::vector<Slot<int>> results(kPendingTasks);
    reset_peak_rss();
    const long long before = proc_status_bytes("VmRSS");
    for (int i = 0; i < kPendingTasks; ++i) {
      group.run([&results, i] { results[static_cast<std::size_t>(i)].value = ident(i); });
    }
    const long long peak = proc_status_bytes("VmHWM");
    const long long after = proc_status_bytes("VmRSS");
    gate.open.store(true);
    group.wait();
    for (const auto& slot : results) sum += slot.value;
    print_memory(before, peak, after);
  });
  std::printf("ok=%d\n", sum == w1_checksum(kPendingTasks) ? 1 : 0);
  return 0;
}
#endif

#if CONFUT_HAVE_BOOST
int probe_memory_asio() {
  AsioRunner runner(1);
  Gate gate;
  boost::asio::post(runner.pool(), [&gate] { gate.block(); });
  gate.wait_entered();
  std::vector<std::future<int>> futures(kPendingTasks);
  reset_peak_rss();
  const long long before = proc_status_bytes("VmRSS");
  for (int i = 0; i < kPendingTasks; ++i) {
    std::packaged_task<int()> task([i] { return ident(i); });
    futures[static_cast<std::size_t>(i)] = task.get_future();
    boost::asio::post(runner.pool(), std::move(task));
  }
  const long long peak = proc_status_bytes("VmHWM");
  const long long after = proc_status_bytes("VmRSS");
  gate.open.store(true);
  std::int64_t sum = 0;
  for (auto& future : futures) sum += future.get();
  print_memory(before, peak, after);
  std::printf("ok=%d\n", sum == w1_checksum(kPendingTasks) ? 1 : 0);
  return 0;
}
#endif

/// CPU time the whole process uses over 1 s of idling, after the pool has done some work
/// and had 100 ms to settle; printed as % of one core.
template <class Warm>
int idle_probe(Warm&& warm) {
  warm();
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const double cpu_before = process_cpu_seconds();
  const auto start = Clock::now();
  std::this_thread::sleep_for(std::chrono::seconds(1));
  const double cpu = process_cpu_seconds() - cpu_before;
  const double wall = Seconds(Clock::now() - start).count();
  std::printf("idle_cpu_pct=%.3f\nwall_s=%.3f\n", 100.0 * cpu / wall, wall);
  return 0;
}

int probe_idle_confut() {
  confut::ThreadPoolExecutor ex(max_workers());
  return idle_probe([&] { (void)w1_confut_submit(ex, 10'000); });
}
#if CONFUT_HAVE_TBB
int probe_idle_tbb() {
  TbbRunner runner(max_workers());
  return idle_probe([&] { (void)w1_runner(runner, 10'000); });
}
#endif
#if CONFUT_HAVE_BOOST
int probe_idle_asio() {
  AsioRunner runner(max_workers());
  return idle_probe([&] { (void)w1_runner(runner, 10'000); });
}
#endif
#if CONFUT_HAVE_OPENMP
int probe_idle_openmp() {
  OpenMpRunner runner(max_workers());
  return idle_probe([&] { (void)w1_runner(runner, 10'000); });
}
#endif

/// Runs a probe in a fresh process and reports `counter` (a number it prints) as a counter.
void register_probe(const std::string& name, const std::string& probe, const std::string& counter,
                    Side side) {
  register_timed(name, [=](benchmark::State& state) {
    for (auto _ : state) {
      const ProbeResult result = run_probe(probe, std::chrono::seconds(60));
      state.SetIterationTime(result.seconds);
      const std::string value = probe_value(result.output, counter);
      const bool ok = probe_value(result.output, "ok", "1") == "1";
      if (result.timed_out || !result.exited || result.exit_code != 0 || value.empty() || !ok) {
        const std::string message = "probe " + probe + " did not report " + counter +
                                    (result.timed_out ? " (timed out)" : "") +
                                    (ok ? "" : " (wrong checksum)");
        if (side == Side::confut) {
          fail_wrong_answer(state, message);
        } else {
          fail_peer(state, message);
        }
        return;
      }
      state.counters[counter] = std::stod(value);
      if (counter == "bytes_per_task") state.counters["n"] = kPendingTasks;
      if (counter == "idle_cpu_pct") state.counters["workers"] = static_cast<double>(max_workers());
    }
  }, 1, 3);
}

void register_resources() {
  register_probe("memory/confut_threads/workers:1", "memory-confut", "bytes_per_task",
                 Side::confut);
#if CONFUT_HAVE_TBB
  register_probe("memory/tbb_task_group/workers:1", "memory-tbb", "bytes_per_task", Side::peer);
#endif
#if CONFUT_HAVE_BOOST
  register_probe("memory/asio_thread_pool/workers:1", "memory-asio", "bytes_per_task",
                 Side::peer);
#endif
  const std::string w = workers_suffix(max_workers());
  register_probe("idle/confut_threads" + w, "idle-confut", "idle_cpu_pct", Side::confut);
#if CONFUT_HAVE_TBB
  register_probe("idle/tbb_task_group" + w, "idle-tbb", "idle_cpu_pct", Side::peer);
#endif
#if CONFUT_HAVE_BOOST
  register_probe("idle/asio_thread_pool" + w, "idle-asio", "idle_cpu_pct", Side::peer);
#endif
#if CONFUT_HAVE_OPENMP
  register_probe("idle/openmp_tasks" + w, "idle-openmp", "idle_cpu_pct", Side::peer);
#endif
}

void register_all() {
  register_w1();
  register_w3();
  register_resources();
}

}  // namespace

int main(int argc, char** argv) {
  confut::Runtime runtime(argc, argv);  // first: the pool's fork server may start here
  const std::map<std::string, ProbeFunction> probes = {
      {"memory-confut", probe_memory_confut},
      {"idle-confut", probe_idle_confut},
#if CONFUT_HAVE_TBB
      {"memory-tbb", probe_memory_tbb},
      {"idle-tbb", probe_idle_tbb},
#endif
#if CONFUT_HAVE_BOOST
      {"memory-asio", probe_memory_asio},
      {"idle-asio", probe_idle_asio},
#endif
#if CONFUT_HAVE_OPENMP
      {"idle-openmp", probe_idle_openmp},
#endif
  };
  return bench_main(argc, argv, probes, register_all);
}
