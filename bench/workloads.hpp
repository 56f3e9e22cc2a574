#pragma once
/// @file workloads.hpp
/// The reference workloads W1-W7 of /shared/WORKLOADS.md, exactly as defined there: the
/// task functions, the inputs and the expected answers. Every benchmark program and every
/// peer (std::async, oneTBB, Boost.Asio, OpenMP) runs these same functions, so a figure
/// measures the scheduler and nothing else. bench/python/workloads.py mirrors this file.

#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <thread>
#include <vector>

namespace confut_bench {

// ---- splitmix64 (Steele, Lea and Flood): the generator of W4 and W5 ----

struct SplitMix64 {
  std::uint64_t state;  // the seed
  std::uint64_t next() {
    std::uint64_t z = (state += 0x9e3779b97f4a7c15);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9;
    z = (z ^ (z >> 27)) * 0x94d049bb133111eb;
    return z ^ (z >> 31);
  }
  /// Uniform in [0, 1): the top 53 bits.
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
};

// ---- W1: task overhead ----

inline int ident(int i) { return i; }

inline constexpr int kW1ThreadTasks = 200'000;   // thread executors
inline constexpr int kW1ProcessTasks = 20'000;   // process executors
/// The checksum: the sum of ident(i) for i < n.
constexpr std::int64_t w1_checksum(std::int64_t n) { return n * (n - 1) / 2; }

// ---- W2: slowadd / slowsub, sleep-bound ----

inline constexpr auto kW2Delay = std::chrono::milliseconds(100);
inline constexpr std::size_t kW2Workers = 4;

inline int slowadd(int a, int b) {
  std::this_thread::sleep_for(kW2Delay);
  return a + b;
}
inline int slowsub(int a, int b) {
  std::this_thread::sleep_for(kW2Delay);
  return a - b;
}

/// One call of W2: slowadd(a, b) or slowsub(a, b).
struct W2Call {
  int a, b;
  bool add;
  int run() const { return add ? slowadd(a, b) : slowsub(a, b); }
};

/// W2a: slowadd(i, i) for i = 0..7. Ideal 0.2 s on 4 workers; checksum 56.
inline std::vector<W2Call> w2a_calls() {
  std::vector<W2Call> calls;
  for (int i = 0; i < 8; ++i) calls.push_back({i, i, true});
  return calls;
}
/// W2b: the 5x5 exercise, i < j: slowadd, i > j: slowsub. Ideal 0.5 s on 4 workers; 60.
inline std::vector<W2Call> w2b_calls() {
  std::vector<W2Call> calls;
  for (int i = 0; i < 5; ++i) {
    for (int j = 0; j < 5; ++j) {
      if (i < j) calls.push_back({i, j, true});
      if (i > j) calls.push_back({i, j, false});
    }
  }
  return calls;
}
inline constexpr std::int64_t kW2aChecksum = 56;
inline constexpr std::int64_t kW2bChecksum = 60;
inline constexpr double kW2aIdealSeconds = 0.2;
inline constexpr double kW2bIdealSeconds = 0.5;

// ---- W3: tree sum with dependency chaining (delay 0: pure scheduling cost) ----

inline int inc(int x) { return x + 1; }
inline int dbl(int x) { return 2 * x; }
inline int add(int x, int y) { return x + y; }

inline constexpr int kW3Leaves = 256;
inline constexpr int kW3Tasks = 1'023;   // 3 * 256 chain tasks + 255 additions
inline constexpr std::int64_t kW3Answer = 98'688;
inline constexpr int kW3dTasks = 1'279;  // 4 * 256 + 255
inline constexpr std::int64_t kW3dAnswer = 98'944;

/// The W3 answer computed without any executor, to check the constants above.
inline std::int64_t w3_sequential() {
  std::int64_t total = 0;
  for (int i = 0; i < kW3Leaves; ++i) {
    const int x = inc(i);
    total += add(x, dbl(x));
  }
  return total;
}

// ---- W4: pairwise correlation ----

inline constexpr int kW4Series = 64;
inline constexpr int kW4Length = 20'000;
inline constexpr int kW4BestA = 11;
inline constexpr int kW4BestB = 49;
inline constexpr double kW4BestR = 0.973665288402;  // to 12 decimals

/// Series k: v[0] = 100, v[t] = v[t-1] + u(t) - 0.5, u from splitmix64 seeded with k.
inline std::vector<double> random_walk(int k) {
  SplitMix64 rng{static_cast<std::uint64_t>(k)};
  std::vector<double> v(kW4Length);
  v[0] = 100.0;
  for (int t = 1; t < kW4Length; ++t) v[t] = v[t - 1] + rng.uniform() - 0.5;
  return v;
}

/// The 64 series every W4 task reads. Empty until build_w4_series() runs: in the benchmark
/// process before its first W4 run, and in each worker process from the pool's initializer
/// (worker processes build their own copy instead of receiving 320 KB per task).
inline std::vector<std::vector<double>>& w4_series() {
  static std::vector<std::vector<double>> series;
  return series;
}
inline void build_w4_series() {
  auto& series = w4_series();
  if (series.size() == kW4Series) return;
  series.clear();
  for (int k = 0; k < kW4Series; ++k) series.push_back(random_walk(k));
}

inline double pearson(const std::vector<double>& x, const std::vector<double>& y) {
  const auto n = static_cast<double>(x.size());
  double mean_x = 0, mean_y = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    mean_x += x[i];
    mean_y += y[i];
  }
  mean_x /= n;
  mean_y /= n;
  double sxy = 0, sxx = 0, syy = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double dx = x[i] - mean_x;
    const double dy = y[i] - mean_y;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  return sxy / std::sqrt(sxx * syy);
}

/// The W4 task: the correlation of series a and b (two ints in, one double out).
inline double correlation(int a, int b) { return pearson(w4_series()[a], w4_series()[b]); }

/// Every ordered pair (a, b), a != b, a-major: 4,032 of them, as two parallel lists.
struct W4Pairs {
  std::vector<int> a, b;
};
inline W4Pairs w4_pairs() {
  W4Pairs pairs;
  for (int a = 0; a < kW4Series; ++a) {
    for (int b = 0; b < kW4Series; ++b) {
      if (a == b) continue;
      pairs.a.push_back(a);
      pairs.b.push_back(b);
    }
  }
  return pairs;
}

struct W4Best {
  int a = -1, b = -1;
  double r = -2;
};
/// The largest r; on a tie the first pair in a-major order (hence the strict >).
inline W4Best w4_best(const W4Pairs& pairs, const std::vector<double>& rs) {
  W4Best best;
  for (std::size_t i = 0; i < rs.size(); ++i) {
    if (rs[i] > best.r) best = {pairs.a[i], pairs.b[i], rs[i]};
  }
  return best;
}
/// True when `best` is (11, 49) with r = 0.973665288402 to 12 decimals.
inline bool w4_correct(const W4Best& best) {
  return best.a == kW4BestA && best.b == kW4BestB && std::abs(best.r - kW4BestR) < 5e-13;
}

// ---- W5: Monte Carlo pi ----

inline constexpr int kW5Tasks = 4;
inline constexpr std::int64_t kW5Samples = 10'000'000;  // per task
inline constexpr std::int64_t kW5Hits = 31'418'298;     // all tasks together

/// Task k: of n points (x, then y, from splitmix64 seeded with k), how many have
/// x*x + y*y <= 1.
inline std::int64_t count_hits(std::uint64_t seed, std::int64_t n) {
  SplitMix64 rng{seed};
  std::int64_t hits = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    const double x = rng.uniform();
    const double y = rng.uniform();
    if (x * x + y * y <= 1.0) ++hits;
  }
  return hits;
}

// ---- W6: primality by trial division ----

inline const std::vector<std::uint64_t>& w6_numbers() {
  static const std::vector<std::uint64_t> numbers = {112272535095293, 112582705942171,
                                                     112272535095293, 115280095190773,
                                                     115797848077099, 1099726899285419};
  return numbers;
}
inline const std::vector<bool>& w6_expected() {
  static const std::vector<bool> expected = {true, true, true, true, true, false};
  return expected;
}

/// The largest r with r * r <= n (a double's square root can be off by one at this size).
inline std::uint64_t isqrt(std::uint64_t n) {
  auto r = static_cast<std::uint64_t>(std::sqrt(static_cast<double>(n)));
  while (r * r > n) --r;
  while ((r + 1) * (r + 1) <= n) ++r;
  return r;
}

inline bool is_prime(std::uint64_t n) {
  if (n < 2) return false;
  if (n % 2 == 0) return n == 2;
  const std::uint64_t limit = isqrt(n);
  for (std::uint64_t i = 3; i <= limit; i += 2) {
    if (n % i == 0) return false;
  }
  return true;
}

}  // namespace confut_bench
