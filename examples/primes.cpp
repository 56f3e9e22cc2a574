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
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

using Clock = std::chrono::steady_clock;
using Millis = std::chrono::duration<double, std::milli>;

const std::vector<std::uint64_t> kNumbers = {112272535095293, 112582705942171, 112272535095293,
                                             115280095190773, 115797848077099, 1099726899285419};
const std::vector<bool> kExpected = {true, true, true, true, true, false};

// The largest r with r * r <= n (a double's square root can be off by one at this size).
std::uint64_t isqrt(std::uint64_t n) {
  auto r = static_cast<std::uint64_t>(std::sqrt(static_cast<double>(n)));
  while (r * r > n) --r;
  while ((r + 1) * (r + 1) <= n) ++r;
  return r;
}

bool is_prime(std::uint64_t n) {
  if (n < 2) return false;
  if (n % 2 == 0) return n == 2;
  const std::uint64_t limit = isqrt(n);
  for (std::uint64_t i = 3; i <= limit; i += 2) {
    if (n % i == 0) return false;
  }
  return true;
}

std::vector<bool> run_sequential() {
  std::vector<bool> primes;
  for (std::uint64_t n : kNumbers) primes.push_back(is_prime(n));
  return primes;
}

std::vector<bool> run_submit(confut::ProcessPoolExecutor& ex) {
  std::vector<confut::Future<bool>> futures;
  for (std::uint64_t n : kNumbers) futures.push_back(ex.submit(is_prime, n));
  std::vector<bool> primes;
  for (const auto& future : futures) primes.push_back(future.result());
  return primes;
}

// Each call takes milliseconds, so one number per task (the default chunksize of 1).
std::vector<bool> run_map(confut::ProcessPoolExecutor& ex) {
  std::vector<bool> primes;
  for (bool prime : ex.map(is_prime, kNumbers)) primes.push_back(prime);
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
    timing.correct = timing.correct && timing.answer == kExpected;
  }
  std::sort(times.begin(), times.end());
  timing.median = times[times.size() / 2];
  return timing;
}

int main() {
  confut::ProcessPoolExecutor ex;  // one worker process per hardware thread
  // One untimed round first: the workers are forked in the background, and the table should
  // compare the work, not the start of the pool.
  (void)run_submit(ex);

  std::printf("primes: W6, trial division of %zu numbers; %zu worker processes, "
              "hardware_concurrency %u; median of %d runs\n\n",
              kNumbers.size(), ex.max_workers(), std::thread::hardware_concurrency(),
              kRepetitions);

  const Timing sequential = measure(run_sequential);
  const Timing submitted = measure([&] { return run_submit(ex); });
  const Timing mapped = measure([&] { return run_map(ex); });

  std::printf("%-18s %-6s\n", "number", "prime");
  for (std::size_t i = 0; i < kNumbers.size(); ++i) {
    std::printf("%-18llu %-6s\n", static_cast<unsigned long long>(kNumbers[i]),
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
                   letters(row.timing.answer).c_str(), letters(kExpected).c_str());
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
