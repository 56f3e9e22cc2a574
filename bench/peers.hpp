#pragma once
/// @file peers.hpp
/// The other C++ ways of running independent tasks, each written the way its users write
/// it, behind one small interface so that W1, W2, W4, W5 and W6 run the same calls on all:
///
///   Runner runner(workers);                        // outside the timed region
///   std::vector<R> results = runner.run_all(n, [](std::size_t i) { return call(i); });
///
/// - std::async: one std::async(std::launch::async, ...) per call, futures collected in order
///   (no worker count: a thread per call).
/// - oneTBB: a tbb::task_group in a tbb::task_arena of `workers` slots (the calling thread
///   takes one, as TBB's own wait does); results written in place, as TBB has no futures.
/// - Boost.Asio: a boost::asio::thread_pool, one std::packaged_task posted per call.
/// - OpenMP: `#pragma omp task` per call inside `parallel num_threads(workers)` + `single`.
///
/// Each peer is compiled only where CMake found it (CONFUT_HAVE_TBB, CONFUT_HAVE_BOOST,
/// CONFUT_HAVE_OPENMP).

#include <algorithm>
#include <cstddef>
#include <future>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#if CONFUT_HAVE_TBB
#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/task_arena.h>
#include <oneapi/tbb/task_group.h>
#endif

#if CONFUT_HAVE_BOOST
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#endif

#if CONFUT_HAVE_OPENMP
#include <omp.h>
#endif

namespace confut_bench {

/// One result slot per task: a plain vector<R> would pack bools into shared words.
template <class R>
struct Slot {
  R value{};
};

template <class R>
std::vector<R> unpack(const std::vector<Slot<R>>& slots) {
  std::vector<R> values;
  values.reserve(slots.size());
  for (const Slot<R>& slot : slots) values.push_back(slot.value);
  return values;
}

class StdAsyncRunner {
 public:
  explicit StdAsyncRunner(std::size_t /*workers: std::async has no such notion*/ = 0) {}

  template <class R, class F>
  std::vector<R> run_all(std::size_t n, F call) {
    std::vector<std::future<R>> futures;
    futures.reserve(n);
    try {
      for (std::size_t i = 0; i < n; ++i) {
        futures.push_back(std::async(std::launch::async, call, i));
      }
    } catch (const std::system_error& error) {
      // Typically EAGAIN: every unread future keeps its finished thread, so the kernel's
      // thread limit is reached (the threads started so far are joined on the way out).
      throw std::runtime_error("std::async could not start thread " +
                               std::to_string(futures.size() + 1) + " of " +
                               std::to_string(n) + ": " + error.what());
    }
    std::vector<R> results;
    results.reserve(n);
    for (auto& future : futures) results.push_back(future.get());
    return results;
  }
};

#if CONFUT_HAVE_TBB
/// A task_arena with `workers` slots. The global_control lets TBB start more worker threads
/// than hardware threads (W2 asks for 4 workers on any machine).
class TbbRunner {
 public:
  explicit TbbRunner(std::size_t workers)
      : control_(tbb::global_control::max_allowed_parallelism,
                 std::max<std::size_t>(workers, std::thread::hardware_concurrency())),
        arena_(static_cast<int>(workers)) {
    arena_.initialize();
  }

  template <class R, class F>
  std::vector<R> run_all(std::size_t n, F call) {
    std::vector<Slot<R>> slots(n);
    arena_.execute([&] {
      tbb::task_group group;
      for (std::size_t i = 0; i < n; ++i) {
        group.run([&slots, &call, i] { slots[i].value = call(i); });
      }
      group.wait();
    });
    return unpack(slots);
  }

  tbb::task_arena& arena() { return arena_; }

 private:
  tbb::global_control control_;
  tbb::task_arena arena_;
};
#endif

#if CONFUT_HAVE_BOOST
class AsioRunner {
 public:
  explicit AsioRunner(std::size_t workers) : pool_(workers) {}
  ~AsioRunner() { pool_.join(); }
  AsioRunner(const AsioRunner&) = delete;
  AsioRunner& operator=(const AsioRunner&) = delete;

  template <class R, class F>
  std::vector<R> run_all(std::size_t n, F call) {
    std::vector<std::future<R>> futures;
    futures.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
      std::packaged_task<R()> task([call, i] { return call(i); });
      futures.push_back(task.get_future());
      boost::asio::post(pool_, std::move(task));
    }
    std::vector<R> results;
    results.reserve(n);
    for (auto& future : futures) results.push_back(future.get());
    return results;
  }

  boost::asio::thread_pool& pool() { return pool_; }

 private:
  boost::asio::thread_pool pool_;
};
#endif

#if CONFUT_HAVE_OPENMP
class OpenMpRunner {
 public:
  explicit OpenMpRunner(std::size_t workers) : workers_(static_cast<int>(workers)) {}

  template <class R, class F>
  std::vector<R> run_all(std::size_t n, F call) {
    std::vector<Slot<R>> slots(n);
#pragma omp parallel num_threads(workers_)
#pragma omp single
    {
      for (std::size_t i = 0; i < n; ++i) {
#pragma omp task firstprivate(i) shared(slots, call)
        slots[i].value = call(i);
      }
    }  // the barrier at the end of `single` waits for every task
    return unpack(slots);
  }

  int workers() const { return workers_; }

 private:
  int workers_;
};
#endif

}  // namespace confut_bench
