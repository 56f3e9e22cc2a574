// bench_mpi: MPIPoolExecutor next to a raw MPI master/worker loop, in one MPI job.
//
//   mpirun -np 3 bench_mpi [Google Benchmark flags]     (rank 0 reports; ranks 1.. work)
//
// Two phases, because a worker rank serves either the raw loop or confut, not both at once:
//   1. raw/...   MPI alone (no confut): rank 0 sends W1's tiny tasks (ident(i), as ints) to
//                the worker ranks with 1 or 16 messages in flight per worker, or in chunks
//                of 256; and an 8-byte ping-pong with one worker (the round trip).
//   2. confut/... then confut::Runtime makes ranks 1.. MPIPoolExecutor workers: W1 by
//                submit + result (20,000 tasks), W1 by map(chunksize 256), one submit ->
//                result on an idle executor, and W3 (the 1,023-task graph).
// Each benchmark reports ns_per_task (or ns per round trip); compare the two phases' medians
// (--benchmark_repetitions) as ratios. The transport is whatever mpirun picks (shared memory
// on one host); `--mca btl self,tcp` forces TCP.

#include <mpi.h>

#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include <confut/confut.hpp>
#include <confut/mpi.hpp>

#include "../workloads.hpp"

using namespace confut_bench;

namespace {

constexpr int kTasks = kW1ProcessTasks;  // 20,000, as for process executors
constexpr int kTagTask = 11;
constexpr int kTagStop = 12;

int world_rank() {
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  return rank;
}
int world_size() {
  int size = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  return size;
}

void per_task(benchmark::State& state, double seconds, int tasks) {
  state.counters["ns_per_task"] = seconds * 1e9 / tasks;
  state.counters["tasks"] = tasks;
}

template <class Run>
void timed(benchmark::State& state, Run&& run, std::int64_t expected, int tasks) {
  if (run() != expected) state.SkipWithError("wrong answer (untimed run)");
  double total = 0;
  for (auto _ : state) {
    const auto start = std::chrono::steady_clock::now();
    const std::int64_t answer = run();
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    state.SetIterationTime(seconds);
    total += seconds;
    if (answer != expected) state.SkipWithError("wrong answer");
  }
  if (state.iterations() > 0) per_task(state, total / static_cast<double>(state.iterations()), tasks);
}

// ---- phase 1: raw MPI ----

/// A worker rank's raw loop: every message is a list of ints; it answers with ident of each.
void raw_worker() {
  std::vector<int> buffer;
  while (true) {
    MPI_Status status;
    MPI_Probe(0, MPI_ANY_TAG, MPI_COMM_WORLD, &status);
    int count = 0;
    MPI_Get_count(&status, MPI_INT, &count);
    buffer.resize(static_cast<std::size_t>(count));
    MPI_Recv(buffer.data(), count, MPI_INT, 0, status.MPI_TAG, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    if (status.MPI_TAG == kTagStop) return;
    for (int& value : buffer) value = ident(value);
    MPI_Send(buffer.data(), count, MPI_INT, 0, kTagTask, MPI_COMM_WORLD);
  }
}

/// W1 over raw MPI: `chunk` tasks per message, `depth` messages in flight per worker.
std::int64_t raw_w1(int depth, int chunk) {
  const int workers = world_size() - 1;
  std::int64_t sum = 0;
  int next = 0;        // the next task to send
  int outstanding = 0;  // messages in flight
  std::vector<std::vector<int>> sent(static_cast<std::size_t>(workers * depth));
  std::vector<int> reply(static_cast<std::size_t>(chunk));
  std::vector<MPI_Request> sends;
  const auto send_to = [&](int worker, std::vector<int>& message) {
    message.clear();
    for (int k = 0; k < chunk && next < kTasks; ++k) message.push_back(next++);
    MPI_Send(message.data(), static_cast<int>(message.size()), MPI_INT, worker + 1, kTagTask,
             MPI_COMM_WORLD);
    ++outstanding;
  };
  for (int slot = 0; slot < workers * depth && next < kTasks; ++slot) {
    send_to(slot % workers, sent[static_cast<std::size_t>(slot)]);
  }
  while (outstanding > 0) {
    MPI_Status status;
    MPI_Recv(reply.data(), chunk, MPI_INT, MPI_ANY_SOURCE, kTagTask, MPI_COMM_WORLD, &status);
    --outstanding;
    int count = 0;
    MPI_Get_count(&status, MPI_INT, &count);
    for (int k = 0; k < count; ++k) sum += reply[static_cast<std::size_t>(k)];
    if (next < kTasks) send_to(status.MPI_SOURCE - 1, sent[0]);
  }
  return sum;
}

/// 8-byte round trips with worker rank 1; returns the sum of what came back.
std::int64_t raw_pings(int rounds) {
  std::int64_t sum = 0;
  for (int round = 0; round < rounds; ++round) {
    int message[2] = {round, 0};  // 8 bytes
    MPI_Send(message, 2, MPI_INT, 1, kTagTask, MPI_COMM_WORLD);
    MPI_Recv(message, 2, MPI_INT, 1, kTagTask, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    sum += message[0];
  }
  return sum;
}

constexpr int kRounds = 2000;

void register_raw() {
  for (const auto& [name, depth, chunk] :
       {std::tuple{"raw/W1_depth1", 1, 1}, std::tuple{"raw/W1_depth16", 16, 1},
        std::tuple{"raw/W1_chunks256", 1, 256}}) {
    const int d = depth, c = chunk;
    benchmark::RegisterBenchmark(name, [d, c](benchmark::State& state) {
      timed(state, [&] { return raw_w1(d, c); }, w1_checksum(kTasks), kTasks);
    })->UseManualTime()->Unit(benchmark::kMillisecond)->Iterations(10);
  }
  benchmark::RegisterBenchmark("raw/roundtrip_8B", [](benchmark::State& state) {
    timed(state, [] { return raw_pings(kRounds); }, w1_checksum(kRounds), kRounds);
  })->UseManualTime()->Unit(benchmark::kMillisecond)->Iterations(10);
}

// ---- phase 2: confut ----

std::int64_t confut_w1(confut::MPIPoolExecutor& ex) {
  std::vector<confut::Future<int>> futures;
  futures.reserve(kTasks);
  for (int i = 0; i < kTasks; ++i) futures.push_back(ex.submit(ident, i));
  std::int64_t sum = 0;
  for (const auto& future : futures) sum += future.result();
  return sum;
}

std::int64_t confut_w1_map(confut::MPIPoolExecutor& ex, const std::vector<int>& inputs) {
  std::int64_t sum = 0;
  for (int value : ex.map(ident, inputs, {.chunksize = 256})) sum += value;
  return sum;
}

std::int64_t confut_w3(confut::MPIPoolExecutor& ex) {
  std::vector<confut::Future<int>> level;
  for (int i = 0; i < kW3Leaves; ++i) {
    auto x = ex.submit(inc, i);
    auto y = ex.submit(dbl, x);
    level.push_back(ex.submit(add, x, y));
  }
  while (level.size() > 1) {
    std::vector<confut::Future<int>> next;
    for (std::size_t i = 0; i + 1 < level.size(); i += 2) {
      next.push_back(ex.submit(add, level[i], level[i + 1]));
    }
    level = std::move(next);
  }
  return level.front().result();
}

/// Phase 2 starts with the first confut benchmark: the worker ranks leave the raw loop and
/// enter confut::Runtime, rank 0 follows and creates the executor.
struct ConfutPhase {
  ConfutPhase(int& argc, char**& argv) {
    for (int rank = 1; rank < world_size(); ++rank) {
      MPI_Send(nullptr, 0, MPI_INT, rank, kTagStop, MPI_COMM_WORLD);
    }
    runtime = std::make_unique<confut::Runtime>(argc, argv);
    executor = std::make_unique<confut::MPIPoolExecutor>();
    for (int i = 0; i < kTasks; ++i) inputs.push_back(i);
  }
  ~ConfutPhase() {
    executor.reset();  // before the Runtime, which lets the worker ranks go
    runtime.reset();
  }
  std::unique_ptr<confut::Runtime> runtime;
  std::unique_ptr<confut::MPIPoolExecutor> executor;
  std::vector<int> inputs;
};

int* saved_argc = nullptr;
char*** saved_argv = nullptr;
std::unique_ptr<ConfutPhase>& confut_phase() {
  static std::unique_ptr<ConfutPhase> phase;
  if (!phase) phase = std::make_unique<ConfutPhase>(*saved_argc, *saved_argv);
  return phase;
}
confut::MPIPoolExecutor& executor() { return *confut_phase()->executor; }

void register_confut() {
  benchmark::RegisterBenchmark("confut/W1_submit", [](benchmark::State& state) {
    auto& ex = executor();
    timed(state, [&] { return confut_w1(ex); }, w1_checksum(kTasks), kTasks);
  })->UseManualTime()->Unit(benchmark::kMillisecond)->Iterations(10);
  benchmark::RegisterBenchmark("confut/W1_map256", [](benchmark::State& state) {
    auto& ex = executor();
    const auto& inputs = confut_phase()->inputs;
    timed(state, [&] { return confut_w1_map(ex, inputs); }, w1_checksum(kTasks), kTasks);
  })->UseManualTime()->Unit(benchmark::kMillisecond)->Iterations(10);
  benchmark::RegisterBenchmark("confut/roundtrip", [](benchmark::State& state) {
    auto& ex = executor();
    timed(state,
          [&] {
            std::int64_t sum = 0;
            for (int i = 0; i < kRounds; ++i) sum += ex.submit(ident, i).result();
            return sum;
          },
          w1_checksum(kRounds), kRounds);
  })->UseManualTime()->Unit(benchmark::kMillisecond)->Iterations(10);
  benchmark::RegisterBenchmark("confut/W3", [](benchmark::State& state) {
    auto& ex = executor();
    timed(state, [&] { return confut_w3(ex); }, kW3Answer, kW3Tasks);
  })->UseManualTime()->Unit(benchmark::kMillisecond)->Iterations(10);
}

}  // namespace

int main(int argc, char** argv) {
  // MPI first, by hand, for the raw phase; confut::Runtime finds it initialized.
  int provided = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_SERIALIZED, &provided);
  if (world_size() < 2) {
    std::fprintf(stderr, "bench_mpi: run it with mpirun -np 3 (rank 0 and two workers)\n");
    MPI_Finalize();
    return 2;
  }
  saved_argc = &argc;
  saved_argv = &argv;
  if (world_rank() != 0) {
    raw_worker();
    confut::Runtime runtime(argc, argv);  // serves confut's tasks, then ends the process
    return 0;
  }
  benchmark::Initialize(&argc, argv);
  // In registration order (phase 1, then phase 2): no --benchmark_enable_random_interleaving.
  register_raw();
  register_confut();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  confut_phase().reset();  // starts phase 2 if no confut benchmark did: the ranks leave
  MPI_Finalize();
  return 0;
}
