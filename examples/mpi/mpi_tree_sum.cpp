// mpi_tree_sum: the W3 task graph (futures passed as arguments, reduced pairwise) and W3d
// (as_completed with add) on the worker ranks of an MPI job, with the same code that runs
// them on a thread pool.
//
// Usage: mpirun -np 3 mpi_tree_sum   (as root: --allow-run-as-root)

#include <confut/confut.hpp>
#include <confut/mpi.hpp>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <vector>

#include "../../bench/workloads.hpp"

namespace w = confut_bench;
using Clock = std::chrono::steady_clock;

template <confut::Executor Executor>
std::int64_t w3(Executor& ex) {
  std::vector<confut::Future<int>> level;
  for (int i = 0; i < w::kW3Leaves; ++i) {
    auto x = ex.submit(w::inc, i);
    auto y = ex.submit(w::dbl, x);
    level.push_back(ex.submit(w::add, x, y));
  }
  while (level.size() > 1) {
    std::vector<confut::Future<int>> next;
    for (std::size_t i = 0; i + 1 < level.size(); i += 2) {
      next.push_back(ex.submit(w::add, level[i], level[i + 1]));
    }
    level = std::move(next);
  }
  return level.front().result();
}

template <confut::Executor Executor>
std::int64_t w3d(Executor& ex) {
  std::vector<confut::Future<int>> zs;
  for (int i = 0; i < w::kW3Leaves; ++i) {
    auto x = ex.submit(w::inc, i);
    zs.push_back(ex.submit(w::add, x, ex.submit(w::dbl, x)));
  }
  std::vector<confut::Future<int>> zs2;
  for (auto& z : zs) zs2.push_back(ex.submit(w::inc, z));
  auto sequence = confut::as_completed(zs2);
  std::size_t left = zs2.size();
  while (left > 1) {
    auto a = sequence.next();
    auto b = sequence.next();
    sequence.add(ex.submit(w::add, a, b));
    --left;
  }
  return sequence.next().result();
}

template <class Run>
void report(const char* name, Run&& run, std::int64_t expected, int tasks) {
  const auto start = Clock::now();
  const std::int64_t answer = run();
  const double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
  std::printf("%-5s answer %lld (%s), %d tasks in %.1f ms: %.0f tasks/s\n", name,
              static_cast<long long>(answer), answer == expected ? "ok" : "BAD", tasks, ms,
              tasks / ms * 1000.0);
}

int main(int argc, char** argv) {
  confut::Runtime runtime(argc, argv);  // ranks 1..N-1 serve tasks in here
  int size = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (size < 2) {
    std::fprintf(stderr, "mpi_tree_sum: start it with mpirun -np 2 or more\n");
    return 2;
  }
  bool ok = true;
  {
    confut::MPIPoolExecutor ex;
    std::printf("MPIPoolExecutor, %zu worker ranks:\n", ex.max_workers());
    ok = w3(ex) == w::kW3Answer && w3d(ex) == w::kW3dAnswer;  // untimed: warms up
    report("W3", [&] { return w3(ex); }, w::kW3Answer, w::kW3Tasks);
    report("W3d", [&] { return w3d(ex); }, w::kW3dAnswer, w::kW3dTasks);
  }
  {
    confut::ThreadPoolExecutor ex;
    std::printf("ThreadPoolExecutor, %zu threads (the same code):\n", ex.max_workers());
    report("W3", [&] { return w3(ex); }, w::kW3Answer, w::kW3Tasks);
    report("W3d", [&] { return w3d(ex); }, w::kW3dAnswer, w::kW3dTasks);
  }
  return ok ? 0 : 1;
}
