// primes: CPU-bound work in worker processes (workload W6).
//
// Trial division of six 15- and 16-digit numbers. Each call is pure computation on its own
// input, so the numbers can be checked in separate processes at the same time; with
// processes, unlike threads in Python, nothing is shared and a crash would stay in its worker.
// The program checks the numbers one after another, then in a ProcessPoolExecutor twice: one
// submit() per number, and with map().
//
// Python equivalent (the ProcessPoolExecutor example of the concurrent.futures docs):
//     with ProcessPoolExecutor() as ex:
//         for number, prime in zip(PRIMES, ex.map(is_prime, PRIMES)):
//             print('%d is prime: %s' % (number, prime))

#include <confut/confut.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

// The workload function (is_prime, by trial division) and the W6 numbers come from
// bench/workloads.hpp: the one definition shared by the examples, the benchmarks and the tour.
#include "../bench/workloads.hpp"

namespace w = confut_bench;
using Clock = std::chrono::steady_clock;
using Millis = std::chrono::duration<double, std::milli>;

std::vector<bool> run_sequential() {
  std::vector<bool> primes;
  for (std::uint64_t n : w::w6_numbers()) primes.push_back(w::is_prime(n));
  return primes;
}

std::vector<bool> run_submit(confut::ProcessPoolExecutor& ex) {
  std::vector<confut::Future<bool>> futures;
  for (std::uint64_t n : w::w6_numbers()) futures.push_back(ex.submit(w::is_prime, n));
  std::vector<bool> primes;
  for (const auto& future : futures) primes.push_back(future.result());
  return primes;
}

// Each call takes milliseconds, so one number per task (the default chunksize of 1).
std::vector<bool> run_map(confut::ProcessPoolExecutor& ex) {
  std::vector<bool> primes;
  for (bool prime : ex.map(w::is_prime, w::w6_numbers())) primes.push_back(prime);
  return primes;
}

std::string letters(const std::vector<bool>& primes) {
  std::string text;
  for (bool prime : primes) text += prime ? 'T' : 'F';
  return text;
}

constexpr int kRepetitions = 5;

struct Timing {
  std::vector<bool> answer;
  Millis median;
  bool correct;
};

// Runs `fn` kRepetitions times; the median wall time, and whether every run was right.
template <class Fn>
Timing measure(Fn&& fn) {
  Timing timing{{}, Millis{}, true};
  std::vector<Millis> times;
  for (int rep = 0; rep < kRepetitions; ++rep) {
    const auto start = Clock::now();
    timing.answer = fn();
    times.push_back(Clock::now() - start);
    timing.correct = timing.correct && timing.answer == w::w6_expected();
  }
  std::sort(times.begin(), times.end());
  timing.median = times[times.size() / 2];
  return timing;
}

int main(int argc, char** argv) {
  confut::Runtime runtime(argc, argv);  // first: the pool's fork server may start here
  confut::ProcessPoolExecutor ex;  // one worker process per hardware thread
  // One untimed round first: the workers are forked in the background, and the table should
  // compare the work, not the start of the pool.
  (void)run_submit(ex);

  std::printf("primes: W6, trial division of %zu numbers; %zu worker processes, "
              "hardware_concurrency %u; median of %d runs\n\n",
              w::w6_numbers().size(), ex.max_workers(), std::thread::hardware_concurrency(),
              kRepetitions);

  const Timing sequential = measure(run_sequential);
  const Timing submitted = measure([&] { return run_submit(ex); });
  const Timing mapped = measure([&] { return run_map(ex); });

  std::printf("%-18s %-6s\n", "number", "prime");
  for (std::size_t i = 0; i < w::w6_numbers().size(); ++i) {
    std::printf("%-18llu %-6s\n", static_cast<unsigned long long>(w::w6_numbers()[i]),
                mapped.answer[i] ? "yes" : "no");
  }

  std::printf("\n%-30s %-10s %10s %9s\n", "method", "answer", "wall ms", "speedup");
  bool all_correct = true;
  const struct {
    const char* name;
    const Timing& timing;
  } rows[] = {{"sequential", sequential},
              {"ProcessPool, submit each", submitted},
              {"ProcessPool, map", mapped}};
  for (const auto& row : rows) {
    std::printf("%-30s %-6s %-3s %10.2f %8.2fx\n", row.name, letters(row.timing.answer).c_str(),
                row.timing.correct ? "ok" : "BAD", row.timing.median.count(),
                sequential.median / row.timing.median);
    if (!row.timing.correct) {
      std::fprintf(stderr, "%s: wrong answer %s, expected %s\n", row.name,
                   letters(row.timing.answer).c_str(), letters(w::w6_expected()).c_str());
    }
    all_correct = all_correct && row.timing.correct;
  }
  // The five primes cost about the same and the composite little: w workers need about
  // ceil(5 / w) rounds of one prime each.
  const std::size_t rounds = (5 + ex.max_workers() - 1) / ex.max_workers();
  std::printf("\n(with %zu workers expect about %.2fx: 5 similar tasks take %zu rounds)\n",
              ex.max_workers(), 5.0 / static_cast<double>(rounds), rounds);
  return all_correct ? 0 : 1;
}
