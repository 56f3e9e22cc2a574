"""The reference workloads W1-W7 (/shared/WORKLOADS.md) in Python: the same task functions,
inputs and answers as bench/workloads.hpp.

Only W4 and W5 deviate from plain Python, and only in how they compute, not in what: the
correlation uses numpy (as any Python user would), and the Monte Carlo draws of W5 use a
vectorised splitmix64 in numpy, since 40 million draws of a pure-Python generator would take
minutes. Both give the exact answers of the C++ code.
"""

import math
import time

import numpy as np

# ---- splitmix64 ----

MASK64 = (1 << 64) - 1
GAMMA = 0x9E3779B97F4A7C15


class SplitMix64:
    def __init__(self, seed):
        self.state = seed & MASK64

    def next(self):
        self.state = (self.state + GAMMA) & MASK64
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        return z ^ (z >> 31)

    def uniform(self):
        return (self.next() >> 11) * 2.0 ** -53


# ---- W1 ----

def ident(i):
    return i


W1_THREAD_TASKS = 200_000
W1_PROCESS_TASKS = 20_000


def w1_checksum(n):
    return n * (n - 1) // 2


# ---- W2 ----

W2_DELAY = 0.1
W2_WORKERS = 4


def slowadd(a, b, delay=W2_DELAY):
    time.sleep(delay)
    return a + b


def slowsub(a, b, delay=W2_DELAY):
    time.sleep(delay)
    return a - b


def w2a_calls():
    """(function, a, b): 8 calls slowadd(i, i); ideal 0.2 s on 4 workers; checksum 56."""
    return [(slowadd, i, i) for i in range(8)]


def w2b_calls():
    """The 5x5 exercise: 20 calls; ideal 0.5 s on 4 workers; checksum 60."""
    calls = []
    for i in range(5):
        for j in range(5):
            if i < j:
                calls.append((slowadd, i, j))
            elif i > j:
                calls.append((slowsub, i, j))
    return calls


W2 = {
    "W2a": (w2a_calls, 56, 0.2),
    "W2b": (w2b_calls, 60, 0.5),
}

# ---- W3 ----


def inc(x):
    return x + 1


def dbl(x):
    return 2 * x


def add(x, y):
    return x + y


W3_LEAVES = 256
W3_TASKS = 1_023
W3_ANSWER = 98_688
W3D_TASKS = 1_279
W3D_ANSWER = 98_944

# ---- W4 ----

W4_SERIES = 64
W4_LENGTH = 20_000
W4_BEST = (11, 49, 0.973665288402)

SERIES = []  # built once per process: build_series()


def random_walk(k):
    rng = SplitMix64(k)
    v = [0.0] * W4_LENGTH
    v[0] = 100.0
    for t in range(1, W4_LENGTH):
        v[t] = v[t - 1] + rng.uniform() - 0.5
    return np.array(v)


def build_series():
    """The initializer of W4's worker processes (a no-op where the series exist)."""
    if len(SERIES) != W4_SERIES:
        SERIES[:] = [random_walk(k) for k in range(W4_SERIES)]


def correlation(a, b):
    """Pearson correlation of series a and b, in numpy. Written out rather than
    np.corrcoef, whose rounding makes r(a, b) and r(b, a) differ in the last bit: here, as in
    the C++ code, they are equal, so the tie goes to the first pair in a-major order."""
    dx = SERIES[a] - SERIES[a].mean()
    dy = SERIES[b] - SERIES[b].mean()
    return float(np.dot(dx, dy) / np.sqrt(np.dot(dx, dx) * np.dot(dy, dy)))


def w4_pairs():
    pairs = [(a, b) for a in range(W4_SERIES) for b in range(W4_SERIES) if a != b]
    return [a for a, _ in pairs], [b for _, b in pairs]


def w4_check(rs):
    """None when the best pair is (11, 49) with r = 0.973665288402, else what is wrong."""
    as_, bs = w4_pairs()
    best = (-1, -1, -2.0)
    for a, b, r in zip(as_, bs, rs):
        if r > best[2]:
            best = (a, b, r)
    if len(rs) == len(as_) and best[:2] == W4_BEST[:2] and abs(best[2] - W4_BEST[2]) < 5e-13:
        return None
    return "best pair (%d, %d) r = %.12f, expected (11, 49) r = 0.973665288402" % best


# ---- W5 ----

W5_TASKS = 4
W5_SAMPLES = 10_000_000
W5_HITS = 31_418_298


def count_hits(seed, n, block=1_000_000):
    """Of n points (x, then y, from splitmix64 seeded with `seed`), how many fall in the
    quarter circle. Draw j (from 1) is mix(seed + j * GAMMA), computed for a block at once."""
    with np.errstate(over="ignore"):
        hits = 0
        done = 0
        gamma = np.uint64(GAMMA)
        while done < n:
            m = min(block, n - done)
            j = np.arange(2 * done + 1, 2 * (done + m) + 1, dtype=np.uint64)
            z = np.uint64(seed) + j * gamma
            z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
            z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
            z = z ^ (z >> np.uint64(31))
            u = (z >> np.uint64(11)).astype(np.float64) * 2.0 ** -53
            x = u[0::2]
            y = u[1::2]
            hits += int(np.count_nonzero(x * x + y * y <= 1.0))
            done += m
        return hits


# ---- W6: the ProcessPoolExecutor example of the concurrent.futures docs ----

PRIMES = [112272535095293, 112582705942171, 112272535095293, 115280095190773,
          115797848077099, 1099726899285419]
W6_EXPECTED = [True, True, True, True, True, False]


def is_prime(n):
    if n < 2:
        return False
    if n == 2:
        return True
    if n % 2 == 0:
        return False
    sqrt_n = math.isqrt(n)
    for i in range(3, sqrt_n + 1, 2):
        if n % i == 0:
            return False
    return True
