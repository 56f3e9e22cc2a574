#!/usr/bin/env python3
"""The Python reference: workloads W1-W7 with concurrent.futures (threads and processes) and
Dask futures (a LocalCluster in this process, dashboard off), written as their tutorials
write them. Prints one row per (workload, system, workers), like the C++ benchmarks, and
writes them all as JSON with --json.

    /usr/bin/python3 bench/python/bench.py [--workers N] [--repetitions R] [--json FILE]
                                           [--no-dask] [--only W1,W3,...]

Run with Debian's python3 (/usr/bin/python3): Dask (python3-distributed) and numpy come
from Debian packages. Each figure is the median of R timed runs after an untimed one.
Dask is slow per task (milliseconds on a 2-core VM), so to keep its part to a couple of
minutes it runs W1 with 1,000 tasks (stated in the row's `n`) and at most 3 timed runs with
no untimed one; every other size is WORKLOADS.md's.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import workloads as w  # noqa: E402

DASK_W1_TASKS = 1_000
DASK_REPETITIONS = 3  # at most: Dask runs take seconds each
HANG_TIMEOUT_S = 3.0


class Results:
    """Collects rows; prints each as it comes."""

    def __init__(self):
        self.rows = []
        self.failed = False

    def add(self, row):
        self.rows.append(row)
        if row.get("ok") is False:
            self.failed = True
        figures = " ".join(
            "%s=%s" % (k, _fmt(v)) for k, v in row.items()
            if k not in ("workload", "system", "workers", "times_s", "ok", "error", "answer",
                         "median_s"))
        status = "ok" if row.get("ok") else "FAILED: %s" % row.get("error")
        median = row.get("median_s")
        print("%-4s %-22s workers=%-2s %12s  %s  %s" % (
            row["workload"], row["system"], row.get("workers", "-"),
            "%.3f ms" % (median * 1e3) if median is not None else "-", figures, status),
            flush=True)


def _fmt(value):
    if isinstance(value, float):
        return "%.4g" % value
    return str(value)


def measure(run, check, repetitions, warmup=True):
    """Runs `run` once untimed (if warmup), then `repetitions` timed times. Returns
    (times, error): error is None when every answer passed `check` (None = right)."""
    if warmup:
        problem = check(run())
        if problem:
            return [], problem
    times = []
    for _ in range(repetitions):
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
        problem = check(result)
        if problem:
            return times, problem
    return times, None


def expect(expected):
    return lambda value: None if value == expected else "got %r, expected %r" % (value, expected)


def row_from(workload, system, workers, times, error, **figures):
    row = {"workload": workload, "system": system, "workers": workers, "times_s": times,
           "ok": error is None}
    if error is not None:
        row["error"] = error
    if times:
        row["median_s"] = statistics.median(times)
    row.update(figures)
    return row


# ---------------------------------------------------------------------------------------
# W1: empty tasks
# ---------------------------------------------------------------------------------------

def w1_submit(ex, n):
    futures = [ex.submit(w.ident, i) for i in range(n)]
    return sum(f.result() for f in futures)


def w1_map(ex, n):
    return sum(ex.map(w.ident, range(n), chunksize=256))


def w1_dask(client, n):
    futures = [client.submit(w.ident, i, pure=False) for i in range(n)]
    return sum(client.gather(futures))


def w1_row(results, system, workers, n, run, reps, warmup=True):
    times, error = measure(run, expect(w.w1_checksum(n)), reps, warmup)
    figures = {"n": n}
    if times:
        median = statistics.median(times)
        figures.update(ns_per_task=median * 1e9 / n, tasks_per_s=n / median)
    results.add(row_from("W1", system, workers, times, error, **figures))


# ---------------------------------------------------------------------------------------
# W2: sleep-bound
# ---------------------------------------------------------------------------------------

def w2_executor(ex, calls):
    futures = [ex.submit(f, a, b) for f, a, b in calls]
    return sum(f.result() for f in futures)


def w2_dask(client, calls):
    futures = [client.submit(f, a, b, pure=False) for f, a, b in calls]
    return sum(client.gather(futures))


def warm_up(ex, workers):
    """Starts an executor's workers (ProcessPoolExecutor starts them on demand)."""
    list(ex.map(w.ident, range(4 * workers)))


def w2_rows(results, system, run_on, reps):
    for workload, (make_calls, checksum, ideal) in w.W2.items():
        calls = make_calls()
        times, error = measure(lambda: run_on(calls), expect(checksum), reps, warmup=False)
        figures = {"ideal_ms": ideal * 1e3}
        if times:
            median = statistics.median(times)
            figures.update(wall_ms=median * 1e3, overhead_ms=(median - ideal) * 1e3,
                           overhead_pct=(median - ideal) / ideal * 100)
        results.add(row_from(workload, system, w.W2_WORKERS, times, error, **figures))


# ---------------------------------------------------------------------------------------
# W3: tree sum with dependencies
# ---------------------------------------------------------------------------------------

def w3_threads(ex):
    """concurrent.futures cannot take futures as arguments: a dependent task blocks on its
    inputs' result(), which is safe here because every input was submitted before it."""
    level = []
    for i in range(w.W3_LEAVES):
        x = ex.submit(w.inc, i)
        y = ex.submit(lambda x=x: w.dbl(x.result()))
        level.append(ex.submit(lambda x=x, y=y: w.add(x.result(), y.result())))
    while len(level) > 1:
        nxt = [ex.submit(lambda a=level[i], b=level[i + 1]: w.add(a.result(), b.result()))
               for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0].result()


def w3_dask(client):
    """The Dask futures tutorial: futures passed to submit as arguments."""
    zs = []
    for i in range(w.W3_LEAVES):
        x = client.submit(w.inc, i, pure=False)
        y = client.submit(w.dbl, x, pure=False)
        zs.append(client.submit(w.add, x, y, pure=False))
    while len(zs) > 1:
        nxt = [client.submit(w.add, zs[i], zs[i + 1], pure=False)
               for i in range(0, len(zs) - 1, 2)]
        if len(zs) % 2:
            nxt.append(zs[-1])
        zs = nxt
    return zs[0].result()


def w3d_dask(client):
    """The Dask tutorial's dynamic reduction: add the first two to finish, via as_completed."""
    from dask.distributed import as_completed
    zs = []
    for i in range(w.W3_LEAVES):
        x = client.submit(w.inc, i, pure=False)
        y = client.submit(w.dbl, x, pure=False)
        zs.append(client.submit(w.add, x, y, pure=False))
    zs2 = client.map(w.inc, zs, pure=False)
    seq = as_completed(zs2)
    while seq.count() > 1:
        a = next(seq)
        b = next(seq)
        seq.add(client.submit(w.add, a, b, pure=False))
    return next(seq).result()


def w3_row(results, workload, system, workers, tasks, answer, run, reps, warmup=True):
    times, error = measure(run, expect(answer), reps, warmup)
    figures = {"tasks": tasks}
    if times:
        median = statistics.median(times)
        figures.update(graph_ms=median * 1e3, tasks_per_s=tasks / median)
    results.add(row_from(workload, system, workers, times, error, **figures))


# ---------------------------------------------------------------------------------------
# W4-W6: CPU-bound, speedup over sequential
# ---------------------------------------------------------------------------------------

W4_A, W4_B = w.w4_pairs()


def w4_sequential():
    return [w.correlation(a, b) for a, b in zip(W4_A, W4_B)]


def w4_executor(ex, chunksize=1):
    return list(ex.map(w.correlation, W4_A, W4_B, chunksize=chunksize))


def w4_dask(client):
    return client.gather(client.map(w.correlation, W4_A, W4_B, pure=False))


def w5_sequential():
    return sum(w.count_hits(k, w.W5_SAMPLES) for k in range(w.W5_TASKS))


def w5_executor(ex):
    futures = [ex.submit(w.count_hits, k, w.W5_SAMPLES) for k in range(w.W5_TASKS)]
    return sum(f.result() for f in futures)


def w5_dask(client):
    futures = client.map(w.count_hits, range(w.W5_TASKS), [w.W5_SAMPLES] * w.W5_TASKS,
                         pure=False)
    return sum(client.gather(futures))


def w6_sequential():
    return [w.is_prime(n) for n in w.PRIMES]


def w6_executor(ex):
    return list(ex.map(w.is_prime, w.PRIMES))


def w6_dask(client):
    # pure=False: PRIMES holds one number twice, which Dask would otherwise compute once.
    return client.gather(client.map(w.is_prime, w.PRIMES, pure=False))


COMPUTE = {
    "W4": (w4_sequential, lambda rs: w.w4_check(rs)),
    "W5": (w5_sequential, expect(w.W5_HITS)),
    "W6": (w6_sequential, expect(w.W6_EXPECTED)),
}


def compute_row(results, workload, system, workers, run, reps, baselines, warmup=True):
    _, check = COMPUTE[workload]
    times, error = measure(run, check, reps, warmup)
    figures = {"sequential_ms": baselines[workload] * 1e3}
    if times:
        figures["speedup"] = baselines[workload] / statistics.median(times)
    results.add(row_from(workload, system, workers, times, error, **figures))


# ---------------------------------------------------------------------------------------
# W7: waiting inside tasks, each case in a fresh interpreter with a time limit
# ---------------------------------------------------------------------------------------

def probe_w7a_threads():
    ex = ThreadPoolExecutor(max_workers=1)

    def outer():
        return ex.submit(w.inc, 41).result()  # the only worker waits for a queued task
    return ex.submit(outer).result()


def probe_w7b_threads():
    import threading
    ex = ThreadPoolExecutor(max_workers=2)
    handles = {}
    ready = threading.Event()

    def task(other):
        ready.wait()
        return handles[other].result() + 1
    handles["a"] = ex.submit(task, "b")
    handles["b"] = ex.submit(task, "a")
    ready.set()
    return handles["a"].result() + handles["b"].result()


def probe_w7a_dask():
    """Dask's documented way to wait inside a task: worker_client() secedes the thread."""
    from dask.distributed import Client, LocalCluster, worker_client

    def outer():
        with worker_client() as client:
            return client.submit(w.inc, 41).result()
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        return client.submit(outer).result()


PROBES = {
    "w7a-threads": probe_w7a_threads,
    "w7b-threads": probe_w7b_threads,
    "w7a-dask": probe_w7a_dask,
}


def run_probe(name, timeout):
    start = time.perf_counter()
    try:
        out = subprocess.run([sys.executable, os.path.abspath(__file__), "--probe", name],
                             capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"outcome": "hang", "label": "hang (killed after %g s)" % timeout}
    elapsed = time.perf_counter() - start
    try:
        return json.loads(out.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        return {"outcome": "failed", "label": "failed (exit %d): %s" % (
            out.returncode, out.stderr.strip()[-200:]), "seconds": elapsed}


def probe_main(name):
    start = time.perf_counter()
    try:
        value = PROBES[name]()
        outcome = {"outcome": "completed", "value": value, "label": "completed: %r" % value}
    except Exception as error:  # noqa: BLE001 - reported as the outcome
        outcome = {"outcome": "exception", "label": "%s: %s" % (type(error).__name__, error)}
    outcome["ms"] = (time.perf_counter() - start) * 1e3
    print(json.dumps(outcome), flush=True)
    os._exit(0)  # do not wait for a pool whose threads may still be blocked


# ---------------------------------------------------------------------------------------

def dask_client(threads):
    import logging
    from dask.distributed import Client, LocalCluster
    logging.getLogger("distributed").setLevel(logging.ERROR)
    cluster = LocalCluster(n_workers=1, threads_per_worker=threads, processes=False,
                           dashboard_address=None)
    return cluster, Client(cluster)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="the most workers (W4/W5 run 1..N; others use N)")
    parser.add_argument("--repetitions", type=int, default=5)
    parser.add_argument("--json", help="write every row to this file")
    parser.add_argument("--no-dask", action="store_true")
    parser.add_argument("--only", help="comma-separated workloads, e.g. W1,W3")
    parser.add_argument("--probe", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.probe:
        probe_main(args.probe)

    only = set(args.only.split(",")) if args.only else None

    def wanted(workload):
        return only is None or workload in only

    reps = args.repetitions
    workers = args.workers
    results = Results()
    print("Python %s, %d CPUs, %d workers, median of %d runs" % (
        platform.python_version(), os.cpu_count() or 1, workers, reps), flush=True)
    started = time.perf_counter()
    have_dask = not args.no_dask
    if have_dask:
        try:
            import dask.distributed  # noqa: F401
        except ImportError:
            print("Dask (python3-distributed) is not installed: Dask rows are skipped")
            have_dask = False

    if wanted("W1"):
        n = w.W1_THREAD_TASKS
        with ThreadPoolExecutor(max_workers=workers) as ex:
            w1_row(results, "py_threads", workers, n, lambda: w1_submit(ex, n), reps)
        n = w.W1_PROCESS_TASKS
        with ProcessPoolExecutor(max_workers=workers) as ex:
            w1_row(results, "py_processes", workers, n, lambda: w1_submit(ex, n), reps)
            w1_row(results, "py_processes_map256", workers, n, lambda: w1_map(ex, n), reps)

    if wanted("W2"):
        with ThreadPoolExecutor(max_workers=w.W2_WORKERS) as ex:
            warm_up(ex, w.W2_WORKERS)
            w2_rows(results, "py_threads", lambda calls: w2_executor(ex, calls), reps)
        with ProcessPoolExecutor(max_workers=w.W2_WORKERS) as ex:
            warm_up(ex, w.W2_WORKERS)
            w2_rows(results, "py_processes", lambda calls: w2_executor(ex, calls), reps)

    if wanted("W3"):
        with ThreadPoolExecutor(max_workers=workers) as ex:
            w3_row(results, "W3", "py_threads", workers, w.W3_TASKS, w.W3_ANSWER,
                   lambda: w3_threads(ex), reps)

    baselines = {}
    compute = [k for k in ("W4", "W5", "W6") if wanted(k)]
    if compute:
        w.build_series()
    for workload in compute:
        sequential, check = COMPUTE[workload]
        times, error = measure(sequential, check, reps)
        baselines[workload] = statistics.median(times) if times else float("nan")
        results.add(row_from(workload, "sequential", 1, times, error,
                             sequential_ms=baselines[workload] * 1e3, speedup=1.0))
    executor_code = {
        "W4": (lambda ex: w4_executor(ex), lambda ex: w4_executor(ex, chunksize=w.W4_SERIES - 1)),
        "W5": (w5_executor, w5_executor),
        "W6": (w6_executor, w6_executor),
    }
    for workload in compute:
        on_threads, on_processes = executor_code[workload]
        # W4 and W5 scale from 1 to `workers`; W6 runs at `workers` only.
        counts = range(1, workers + 1) if workload in ("W4", "W5") else [workers]
        for count in counts:
            with ThreadPoolExecutor(max_workers=count) as ex:
                compute_row(results, workload, "py_threads", count,
                            lambda: on_threads(ex), reps, baselines)
            with ProcessPoolExecutor(max_workers=count, initializer=w.build_series) as ex:
                compute_row(results, workload, "py_processes", count,
                            lambda: on_processes(ex), reps, baselines)

    if have_dask and any(wanted(k) for k in ("W1", "W2", "W3", "W4", "W5", "W6")):
        dask_reps = min(reps, DASK_REPETITIONS)
        cluster, client = dask_client(workers)
        try:
            client.submit(w.inc, 1, pure=False).result()  # the cluster is up and warm
            if wanted("W1"):
                n = DASK_W1_TASKS
                w1_row(results, "dask_futures", workers, n, lambda: w1_dask(client, n),
                       dask_reps, warmup=False)
            if wanted("W3"):
                w3_row(results, "W3", "dask_futures", workers, w.W3_TASKS, w.W3_ANSWER,
                       lambda: w3_dask(client), dask_reps, warmup=False)
                w3_row(results, "W3d", "dask_futures", workers, w.W3D_TASKS, w.W3D_ANSWER,
                       lambda: w3d_dask(client), dask_reps, warmup=False)
            for workload, code in (("W4", w4_dask), ("W5", w5_dask), ("W6", w6_dask)):
                if workload in compute:
                    compute_row(results, workload, "dask_futures", workers,
                                lambda code=code: code(client), dask_reps, baselines,
                                warmup=False)
        finally:
            client.close()
            cluster.close()
        if wanted("W2"):
            cluster, client = dask_client(w.W2_WORKERS)
            try:
                client.submit(w.inc, 1, pure=False).result()
                w2_rows(results, "dask_futures", lambda calls: w2_dask(client, calls),
                        dask_reps)
            finally:
                client.close()
                cluster.close()

    if wanted("W7"):
        cases = [("W7a", "py_threads", 1, "w7a-threads", HANG_TIMEOUT_S),
                 ("W7b", "py_threads", 2, "w7b-threads", HANG_TIMEOUT_S)]
        if have_dask:
            cases.append(("W7a", "dask_futures", 1, "w7a-dask", 60.0))
        for workload, system, count, probe, timeout in cases:
            outcome = run_probe(probe, timeout)
            results.add({"workload": workload, "system": system, "workers": count,
                         "ok": True, "outcome": outcome["outcome"],
                         "label": outcome["label"]})

    print("python reference: %d rows in %.0f s" % (len(results.rows),
                                                   time.perf_counter() - started))
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"context": {"python": platform.python_version(),
                                   "executable": sys.executable,
                                   "cpus": os.cpu_count(), "workers": workers,
                                   "repetitions": reps,
                                   "dask_w1_tasks": DASK_W1_TASKS,
                                   "dask_repetitions": min(reps, DASK_REPETITIONS)},
                       "rows": results.rows}, out, indent=1)
    return 1 if results.failed else 0


if __name__ == "__main__":
    sys.exit(main())
