#!/usr/bin/env python3
"""Turns one benchmark run into results: a JSON file with every raw result, a Markdown
table, and PNG plots.

    /usr/bin/python3 bench/report.py --raw build/bench/raw --out bench/results/DATE-HOST

reads from --raw: bench_*.json (Google Benchmark's JSON output, aggregates of repetitions),
python.json (bench/python/bench.py --json) and meta.json (the machine and the versions, from
scripts/bench.sh); writes OUT.json, OUT.md and OUT-*.png. Every confut figure is also given
as a ratio to each peer measured in the same run. Standard library only, plus matplotlib for
the plots (Debian's python3-matplotlib: run with /usr/bin/python3); without matplotlib the
plots are skipped with a message.
"""

import argparse
import glob
import json
import math
import os
import statistics
import sys
from collections import defaultdict

# ---------------------------------------------------------------------------------------
# Systems
# ---------------------------------------------------------------------------------------

SYSTEMS = {
    "confut_threads": "confut ThreadPoolExecutor",
    "confut_threads_map256": "confut ThreadPoolExecutor, map(chunksize=256)",
    "confut_threads_nostats": "confut ThreadPoolExecutor, statistics off",
    "confut_threads_recording": "confut ThreadPoolExecutor, recording the task stream",
    "confut_processes": "confut ProcessPoolExecutor",
    "confut_processes_map256": "confut ProcessPoolExecutor, map(chunksize=256)",
    "tbb_task_group": "oneTBB task_group",
    "tbb_flow_graph": "oneTBB flow graph",
    "asio_thread_pool": "Boost.Asio thread_pool",
    "openmp_tasks": "OpenMP tasks",
    "std_async": "std::async",
    "sequential": "sequential C++",
    "py_sequential": "sequential Python",
    "py_threads": "Python ThreadPoolExecutor",
    "py_processes": "Python ProcessPoolExecutor",
    "py_processes_map256": "Python ProcessPoolExecutor, map(chunksize=256)",
    "dask_futures": "Dask futures (LocalCluster, threads)",
}


def system_name(system):
    return SYSTEMS.get(system, system)


def is_confut(record):
    return record["system"].startswith("confut_")


# ---------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------

IGNORED_PARAMS = {"iterations", "repeats", "manual_time", "real_time", "min_time"}
GBENCH_FIELDS = {"name", "run_name", "run_type", "repetitions", "repetition_index", "threads",
                 "iterations", "real_time", "cpu_time", "time_unit", "family_index",
                 "per_family_instance_index", "aggregate_name", "aggregate_unit", "label",
                 "error_occurred", "error_message"}
TIME_UNITS = {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1e3}


def parse_run_name(run_name):
    parts = run_name.split("/")
    params = {}
    for part in parts[2:]:
        key, _, value = part.partition(":")
        if key not in IGNORED_PARAMS and value:
            params[key] = value
    return parts[0], parts[1] if len(parts) > 1 else "", params


def load_gbench(path):
    """One record per benchmark: the median aggregate, or the median of its runs when it had
    one repetition, or the error it reported."""
    with open(path) as f:
        doc = json.load(f)
    program = os.path.splitext(os.path.basename(path))[0]
    runs = defaultdict(lambda: {"runs": [], "aggregates": {}})
    order = []
    for entry in doc.get("benchmarks", []):
        run_name = entry.get("run_name", entry["name"])
        if run_name not in runs:
            order.append(run_name)
        if entry.get("run_type") == "aggregate":
            runs[run_name]["aggregates"][entry.get("aggregate_name")] = entry
        else:
            runs[run_name]["runs"].append(entry)
    records = []
    for run_name in order:
        data = runs[run_name]
        workload, system, params = parse_run_name(run_name)
        errors = [e for e in data["runs"] if e.get("error_occurred")]
        errors += [e for e in data["aggregates"].values() if e.get("error_occurred")]
        good = [e for e in data["runs"] if not e.get("error_occurred")]
        entry = data["aggregates"].get("median")
        record = {"lang": "C++", "program": program, "workload": workload, "system": system,
                  "run_name": run_name, "ok": not errors and (entry is not None or bool(good))}
        if errors:
            record["error"] = errors[0].get("error_message", "error")
        counters = {}
        if entry is not None:
            record["time_ms"] = entry["real_time"] * TIME_UNITS[entry.get("time_unit", "ns")]
            counters = {k: v for k, v in entry.items()
                        if k not in GBENCH_FIELDS and isinstance(v, (int, float))}
            record["repetitions"] = entry.get("repetitions")
        elif good:
            record["time_ms"] = statistics.median(
                e["real_time"] * TIME_UNITS[e.get("time_unit", "ns")] for e in good)
            keys = {k for e in good for k, v in e.items()
                    if k not in GBENCH_FIELDS and isinstance(v, (int, float))}
            counters = {k: statistics.median(e[k] for e in good if k in e) for k in keys}
            record["repetitions"] = len(good)
        labels = [e.get("label") for e in data["runs"] + list(data["aggregates"].values())
                  if e.get("label")]
        if labels:
            record["label"] = labels[0]
        record.update(counters)
        if "workers" in params:
            record["workers"] = int(params["workers"])
        elif "workers" in record:
            record["workers"] = int(record["workers"])
        if "n" in params:
            record["n"] = int(params["n"])
        records.append(record)
    return doc, records


def speedups_from_medians(records):
    """Sets each C++ speedup to the sequential run's median time over this median time. The
    programs' own speedup counters divide by the sequential times seen so far, which with
    interleaved repetitions may be none or a few; the medians of the whole run are fair."""
    sequential = {r["workload"]: r["time_ms"] for r in records
                  if r["lang"] == "C++" and r["system"] == "sequential" and r.get("time_ms")}
    for r in records:
        if r["lang"] == "C++" and "speedup" in r and r.get("time_ms") and \
                r["workload"] in sequential:
            r["speedup"] = sequential[r["workload"]] / r["time_ms"]


def load_python(path):
    with open(path) as f:
        doc = json.load(f)
    records = []
    for row in doc.get("rows", []):
        record = {k: v for k, v in row.items() if k not in ("times_s", "median_s")}
        record["lang"] = "Python"
        if record["system"] == "sequential":
            record["system"] = "py_sequential"
        if row.get("median_s") is not None:
            record["time_ms"] = row["median_s"] * 1e3
        record["repetitions"] = len(row.get("times_s", []))
        records.append(record)
    return doc, records


# ---------------------------------------------------------------------------------------
# Formatting
# ---------------------------------------------------------------------------------------

def fmt_number(value, digits=3):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 1e6:
        return "%.2f M" % (value / 1e6)
    if magnitude >= 1e4:
        return "{:,.0f}".format(value)
    if magnitude >= 100:
        return "%.0f" % value
    decimals = max(0, digits - 1 - int(math.floor(math.log10(magnitude))))
    return "%.*f" % (min(decimals, 4), value)


def fmt_ratio(confut_value, peer_value):
    """confut ÷ peer for a lower-is-better figure, with which is faster."""
    if confut_value is None or peer_value is None or peer_value <= 0 or confut_value <= 0:
        return "–"
    ratio = confut_value / peer_value
    if ratio < 1:
        return "%s× (%s× better)" % (fmt_number(ratio), fmt_number(1 / ratio))
    if ratio > 1:
        return "%s× (%s× worse)" % (fmt_number(ratio), fmt_number(ratio))
    return "1.00× (equal)"


def table(headers, rows):
    lines = ["| " + " | ".join(headers) + " |",
             "| " + " | ".join("---" for _ in headers) + " |"]
    for row in rows:
        lines.append("| " + " | ".join(str(cell) for cell in row) + " |")
    return "\n".join(lines)


def workers_text(record):
    workers = record.get("workers")
    if workers in (None, 0):
        return "a thread per task" if record["system"] == "std_async" else "–"
    return str(int(workers))


def status_text(record):
    if record.get("ok"):
        return ""
    error = record.get("error", "")
    for prefix in ("failed: ", "exception: "):
        if error.startswith(prefix):
            error = error[len(prefix):]
    return " **failed**: %s" % error.replace("|", "\\|")


def system_order(record):
    """confut first, then the peers, then the sequential baselines; by workers within."""
    names = list(SYSTEMS)
    system = record["system"]
    rank = names.index(system) if system in names else len(names)
    return (not is_confut(record), "sequential" in system, rank, record.get("workers") or 0)


# ---------------------------------------------------------------------------------------
# The sections
# ---------------------------------------------------------------------------------------

class Report:
    def __init__(self, records):
        self.records = records
        self.lines = []

    def of(self, workload):
        return [r for r in self.records if r["workload"] == workload]

    def find(self, workload, system, workers=None):
        for r in self.of(workload):
            if r["system"] == system and (workers is None or r.get("workers") == workers):
                return r
        return None

    def add(self, text=""):
        self.lines.append(text)

    def ratio_table(self, records, figure, what, match_workers=False):
        """Each confut record against each peer record: confut's figure ÷ the peer's."""
        confut = [r for r in records if is_confut(r)]
        peers = []
        seen = set()
        for r in records:
            if not is_confut(r) and r["system"] not in seen:
                seen.add(r["system"])
                peers.append(r["system"])
        if not confut or not peers:
            return
        self.add("confut as a ratio to each peer of this run (%s: confut's ÷ the peer's; "
                 "below 1: confut is better):" % what)
        self.add()
        rows = []
        for c in confut:
            label = system_name(c["system"])
            if match_workers and c.get("workers"):
                label += ", %d worker%s" % (c["workers"], "" if c["workers"] == 1 else "s")
            cells = [label]
            for peer in peers:
                candidates = [r for r in records if r["system"] == peer]
                if match_workers:
                    same = [r for r in candidates if r.get("workers") == c.get("workers")]
                    candidates = same or candidates
                p = candidates[0]
                if not p.get("ok"):
                    cells.append("peer failed")
                elif not c.get("ok"):
                    cells.append("confut failed")
                else:
                    cells.append(fmt_ratio(figure(c), figure(p)))
            rows.append(cells)
        headers = ["confut"] + [system_name(p) for p in peers]
        self.add(table(headers, rows))
        self.add()

    def w1(self):
        records = sorted(self.of("W1"), key=lambda r: r.get("ns_per_task") or float("inf"))
        if not records:
            return
        self.add("## W1: task overhead (empty tasks, submit + result each)")
        self.add()
        rows = []
        for r in records:
            rows.append([system_name(r["system"]) + status_text(r), r["lang"],
                         fmt_number(r.get("n")), workers_text(r),
                         fmt_number(r.get("ns_per_task")), fmt_number(r.get("tasks_per_s")),
                         fmt_number(r.get("time_ms"))])
        self.add(table(["System", "Language", "N", "Workers", "ns per task", "tasks/s",
                        "ms per run"], rows))
        self.add()
        self.ratio_table(records, lambda r: r.get("ns_per_task"), "ns per task")

    def w2(self):
        for workload in ("W2a", "W2b"):
            records = self.of(workload)
            if not records:
                continue
            ideal = records[0].get("ideal_ms")
            self.add("## %s: sleep-bound tasks on 4 workers (ideal %s ms)" % (
                workload, fmt_number(ideal)))
            self.add()
            rows = [[system_name(r["system"]) + status_text(r), r["lang"], workers_text(r),
                     fmt_number(r.get("wall_ms")), fmt_number(r.get("overhead_ms")),
                     fmt_number(r.get("overhead_pct"))] for r in records]
            self.add(table(["System", "Language", "Workers", "Wall ms", "Overhead ms",
                            "Overhead %"], rows))
            self.add()
            if any(r["system"] == "std_async" for r in records):
                self.add("std::async starts a thread per call, so it is not held to 4 workers "
                         "and can beat the 4-worker ideal.")
                self.add()
            self.ratio_table(
                records, lambda r: r.get("overhead_ms") if (r.get("overhead_ms") or 0) > 0
                else None, "overhead over the ideal")

    def w3(self):
        records = self.of("W3") + self.of("W3d")
        if not records:
            return
        self.add("## W3: tree sum of 1,023 dependent tasks (W3d: 1,279, reduced in "
                 "completion order)")
        self.add()
        records.sort(key=lambda r: (r["workload"], r.get("graph_ms") or float("inf")))
        rows = [[r["workload"], system_name(r["system"]) + status_text(r), r["lang"],
                 workers_text(r), fmt_number(r.get("graph_ms")),
                 fmt_number(r.get("tasks_per_s"))] for r in records]
        self.add(table(["Workload", "System", "Language", "Workers", "Graph ms", "tasks/s"],
                       rows))
        self.add()
        self.add("Dependencies: confut and Dask pass futures as arguments; oneTBB a flow graph "
                 "(function and join nodes); OpenMP depend clauses; Boost.Asio continuations (a "
                 "finished task posts the dependents it completes); std::async and Python's "
                 "ThreadPoolExecutor block on the inputs' futures inside the task.")
        self.add()
        for workload in ("W3", "W3d"):
            subset = [r for r in records if r["workload"] == workload]
            if any(is_confut(r) for r in subset) and any(not is_confut(r) for r in subset):
                self.add("**%s**" % workload)
                self.add()
                self.ratio_table(subset, lambda r: r.get("graph_ms"), "graph time")

    def compute(self):
        titles = {"W4": "W4: pairwise correlation (4,032 tasks)",
                  "W5": "W5: Monte Carlo pi (4 tasks of 10 M samples)",
                  "W6": "W6: primality by trial division (6 tasks)"}
        for workload, title in titles.items():
            records = self.of(workload)
            if not records:
                continue
            self.add("## " + title)
            self.add()
            records.sort(key=system_order)
            rows = [[system_name(r["system"]) + status_text(r), r["lang"], workers_text(r),
                     fmt_number(r.get("time_ms")), fmt_number(r.get("speedup")) + "×"
                     if r.get("speedup") else "–"] for r in records]
            self.add(table(["System", "Language", "Workers", "ms per run",
                            "Speedup over sequential (same language)"], rows))
            self.add()
            self.ratio_table(records, lambda r: r.get("time_ms"),
                             "time per run, at the same number of workers where the peer has "
                             "it", match_workers=True)

    def w7(self):
        records = self.of("W7a") + self.of("W7b")
        if not records:
            return
        self.add("## W7: waiting inside tasks (a hang is the wrong answer)")
        self.add()
        self.add("W7a: a task on a 1-worker pool submits a task to the same pool and waits for "
                 "it. W7b: two tasks on a 2-worker pool wait for each other. Each case runs in "
                 "a fresh process, killed after 3 s.")
        self.add()
        rows = [[r["workload"], system_name(r["system"]), r["lang"], workers_text(r),
                 (r.get("label") or r.get("outcome") or "").replace("|", "\\|")
                 + status_text(r)] for r in records]
        self.add(table(["Workload", "System", "Language", "Workers", "What happens"], rows))
        self.add()

    def resources(self):
        memory = self.of("memory")
        idle = self.of("idle")
        if memory:
            self.add("## Memory per pending task")
            self.add()
            self.add("1,000,000 tasks queued behind a blocked worker of a 1-worker pool: peak "
                     "RSS growth (VmHWM − VmRSS before) ÷ N, in a fresh process. The caller's "
                     "vector of futures is allocated beforehand and not counted.")
            self.add()
            rows = [[system_name(r["system"]) + status_text(r),
                     fmt_number(r.get("bytes_per_task"))] for r in memory]
            self.add(table(["System", "Bytes per pending task"], rows))
            self.add()
            self.ratio_table(memory, lambda r: r.get("bytes_per_task"), "bytes per task")
        if idle:
            self.add("## Idle CPU")
            self.add()
            self.add("CPU time of the whole process over 1 s while the pool has no work (after "
                     "some work and 100 ms to settle), as % of one core, in a fresh process.")
            self.add()
            rows = [[system_name(r["system"]) + status_text(r), workers_text(r),
                     fmt_number(r.get("idle_cpu_pct"))] for r in idle]
            self.add(table(["System", "Workers", "Idle CPU, % of a core"], rows))
            self.add()
            self.ratio_table(idle, lambda r: r.get("idle_cpu_pct"), "idle CPU")


# ---------------------------------------------------------------------------------------
# Targets
# ---------------------------------------------------------------------------------------

def evaluate_targets(report, workers):
    """The project's performance targets, each checked against this run."""
    targets = []

    def get(workload, system, key, w=None):
        r = report.find(workload, system, w)
        if r is None or not r.get("ok"):
            return None
        return r.get(key)

    def check(text, measured, passed):
        targets.append({"target": text, "measured": measured,
                        "met": None if passed is None else bool(passed)})

    def both(a, b):
        return a is not None and b is not None

    t1 = get("W1", "confut_threads", "ns_per_task")
    omp = get("W1", "openmp_tasks", "ns_per_task")
    tbb = get("W1", "tbb_task_group", "ns_per_task")
    py = get("W1", "py_threads", "ns_per_task")
    check("W1 threads: ns per task <= OpenMP tasks",
          "%s vs %s ns" % (fmt_number(t1), fmt_number(omp)), t1 <= omp if both(t1, omp) else None)
    check("W1 threads: ns per task <= 1/2 of oneTBB task_group",
          "%s vs %s ns" % (fmt_number(t1), fmt_number(tbb)),
          t1 <= tbb / 2 if both(t1, tbb) else None)
    check("W1 threads: >= 100x faster than Python ThreadPoolExecutor",
          "%sx" % fmt_number(py / t1) if both(t1, py) else "–",
          py / t1 >= 100 if both(t1, py) else None)
    t1_off = get("W1", "confut_threads_nostats", "ns_per_task")
    check("W1 threads: always-on statistics cost < 5% per task",
          "%s vs %s ns with them off (%s%%)" % (
              fmt_number(t1), fmt_number(t1_off),
              fmt_number(100.0 * (t1 - t1_off) / t1_off) if both(t1, t1_off) else "–"),
          t1 <= 1.05 * t1_off if both(t1, t1_off) else None)
    g = get("W3", "confut_threads", "graph_ms")
    fg = get("W3", "tbb_flow_graph", "graph_ms")
    dask = get("W3", "dask_futures", "graph_ms")
    check("W3: graph time <= oneTBB flow graph",
          "%s vs %s ms" % (fmt_number(g), fmt_number(fg)), g <= fg if both(g, fg) else None)
    check("W3: >= 5000x faster than Dask", "%sx" % fmt_number(dask / g) if both(g, dask) else "–",
          dask / g >= 5000 if both(g, dask) else None)
    w = 2 if workers >= 2 else workers
    for workload in ("W4", "W5"):
        st = get(workload, "confut_threads", "speedup", w)
        sp = get(workload, "confut_processes", "speedup", w)
        check("%s: speedup >= 1.9x with threads, %d workers" % (workload, w),
              "%s×" % fmt_number(st), st >= 1.9 if st is not None else None)
        check("%s: speedup >= 1.8x with processes, %d workers" % (workload, w),
              "%s×" % fmt_number(sp), sp >= 1.8 if sp is not None else None)
    p1 = get("W1", "confut_processes", "ns_per_task")
    pp = get("W1", "py_processes", "ns_per_task")
    pm = get("W1", "confut_processes_map256", "ns_per_task")
    check("W1 processes: <= 3 us per task (single submits)", "%s ns" % fmt_number(p1),
          p1 <= 3000 if p1 is not None else None)
    check("W1 processes: >= 40x faster than Python ProcessPoolExecutor",
          "%sx" % fmt_number(pp / p1) if both(p1, pp) else "–",
          pp / p1 >= 40 if both(p1, pp) else None)
    check("W1 processes map(chunksize=256): within 3x of the thread pool per task",
          "%s vs %s ns (%sx)" % (fmt_number(pm), fmt_number(t1),
                                 fmt_number(pm / t1) if both(pm, t1) else "–"),
          pm <= 3 * t1 if both(pm, t1) else None)
    m = get("memory", "confut_threads", "bytes_per_task")
    check("memory: <= 256 bytes per pending task", "%s bytes" % fmt_number(m),
          m <= 256 if m is not None else None)
    i = get("idle", "confut_threads", "idle_cpu_pct")
    check("idle pool: < 1% of a core", "%s %%" % fmt_number(i), i < 1 if i is not None else None)
    return targets


# ---------------------------------------------------------------------------------------
# Plots
# ---------------------------------------------------------------------------------------

COLORS = {"confut": "#1f77b4", "C++": "#7f7f7f", "Python": "#ff7f0e"}


def family(record):
    return "confut" if is_confut(record) else record["lang"]


def bar_plot(plt, records, value_key, title, xlabel, path, label_of):
    records = [r for r in records]
    if not records:
        return None
    records.sort(key=lambda r: (r.get(value_key) or float("inf")), reverse=True)
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(records) + 1.6))
    labels = [label_of(r) for r in records]
    values = [r.get(value_key) if r.get("ok") and r.get(value_key) else 0 for r in records]
    positive = [v for v in values if v > 0]
    bars = ax.barh(range(len(records)), values, color=[COLORS[family(r)] for r in records])
    ax.set_yticks(range(len(records)))
    ax.set_yticklabels(labels, fontsize=8)
    ax.set_xscale("log")
    if positive:
        ax.set_xlim(min(positive) / 2, max(positive) * 8)
    for bar, r, v in zip(bars, records, values):
        text = fmt_number(v) if v > 0 else "failed"
        x = v if v > 0 else (min(positive) / 2 if positive else 1)
        ax.text(x * 1.08, bar.get_y() + bar.get_height() / 2, text, va="center", fontsize=8)
    ax.set_xlabel(xlabel)
    ax.set_title(title, fontsize=10)
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in COLORS.values()]
    # The longest bars are at the bottom: the legend goes top right, over the short ones.
    ax.legend(handles, ["confut", "C++ peers", "Python"], loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def speedup_plot(plt, records, workload, title, path, max_workers):
    by_system = defaultdict(list)
    for r in records:
        if r.get("ok") and r.get("speedup") and r["system"] not in ("sequential",
                                                                   "py_sequential"):
            if r.get("workers"):
                by_system[(r["lang"], r["system"])].append((r["workers"], r["speedup"]))
    if not by_system:
        return None
    fig, ax = plt.subplots(figsize=(7, 4.6))
    top = max(max_workers, max(w for points in by_system.values() for w, _ in points))
    ax.plot([1, top], [1, top], linestyle="--", color="#999999", linewidth=1, label="ideal")
    for (lang, system), points in sorted(by_system.items(), key=lambda kv: (kv[0][0] != "C++",
                                                                            kv[0][1])):
        points.sort()
        xs = [p[0] for p in points]
        ys = [p[1] for p in points]
        style = "-" if system.startswith("confut") else ("--" if lang == "C++" else ":")
        width = 2.2 if system.startswith("confut") else 1.2
        ax.plot(xs, ys, style, marker="o", linewidth=width, label=system_name(system))
    ax.set_xlabel("workers")
    ax.set_ylabel("speedup over sequential (same language)")
    ax.set_xticks(range(1, top + 1))
    ax.set_ylim(bottom=0)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, loc="upper left")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def make_plots(records, out, max_workers):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("report: matplotlib is not installed (Debian: python3-matplotlib, run with "
              "/usr/bin/python3): no plots", file=sys.stderr)
        return []
    made = []

    def label_with(r, extra=""):
        n = r.get("n")
        return system_name(r["system"]) + (" (N=%s)" % fmt_number(n) if n else "") + extra

    w1 = [r for r in records if r["workload"] == "W1"]
    made.append(bar_plot(plt, w1, "ns_per_task", "W1: cost of one empty task, submit + result "
                         "(lower is better)", "ns per task (log scale)",
                         out + "-w1-per-task.png", label_with))
    w3 = [r for r in records if r["workload"] in ("W3", "W3d")]
    made.append(bar_plot(plt, w3, "graph_ms", "W3: whole-graph time, 1,023 dependent tasks (W3d: 1,279, "
                         "as_completed); lower is better",
                         "ms per graph (log scale)", out + "-w3-graph-time.png",
                         lambda r: system_name(r["system"])
                         + (" [W3d]" if r["workload"] == "W3d" else "")))
    for workload, title in (("W4", "W4: pairwise correlation, speedup by workers"),
                            ("W5", "W5: Monte Carlo pi, speedup by workers")):
        subset = [r for r in records if r["workload"] == workload]
        made.append(speedup_plot(plt, subset, workload, title,
                                 out + "-%s-speedup.png" % workload.lower(), max_workers))
    return [p for p in made if p]


# ---------------------------------------------------------------------------------------

def busy_note(meta):
    """A warning when other work ran on the machine: the 1-minute load average before or
    after the run above half the cores (a benchmark alone keeps it below that)."""
    try:
        cores = int(meta.get("nproc") or 0)
        loads = [float(str(meta.get(key, "")).split()[0])
                 for key in ("load_before", "load_after") if meta.get(key)]
    except (ValueError, IndexError):
        return ""
    if cores and loads and max(loads) > cores / 2 + 0.5:
        return ("**Warning: the machine was busy** (1-minute load average up to %.1f on %d "
                "cores): other processes competed for the CPUs, so times are inflated and "
                "speedups understated; rerun on an idle machine for figures to quote." % (
                    max(loads), cores))
    return ""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw", required=True, help="folder with the run's raw JSON files")
    parser.add_argument("--out", required=True, help="output path without extension")
    args = parser.parse_args()

    meta = {}
    meta_path = os.path.join(args.raw, "meta.json")
    if os.path.exists(meta_path):
        with open(meta_path) as f:
            meta = json.load(f)
    programs = {}
    records = []
    for path in sorted(glob.glob(os.path.join(args.raw, "bench_*.json"))):
        try:
            doc, recs = load_gbench(path)
        except (OSError, ValueError) as error:
            print("report: cannot read %s: %s" % (path, error), file=sys.stderr)
            continue
        programs[os.path.splitext(os.path.basename(path))[0]] = doc
        records += recs
    speedups_from_medians(records)
    python_doc = None
    python_path = os.path.join(args.raw, "python.json")
    if os.path.exists(python_path):
        python_doc, recs = load_python(python_path)
        records += recs
    if not records:
        print("report: no results in %s" % args.raw, file=sys.stderr)
        return 1

    workers = int(meta.get("workers") or os.cpu_count() or 1)
    report = Report(records)
    targets = evaluate_targets(report, workers)

    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    plots = make_plots(records, args.out, workers)

    r = report
    r.add("# confut benchmarks: %s on %s" % (meta.get("date", "?"), meta.get("host", "?")))
    r.add()
    r.add("Produced by `bash scripts/bench.sh`: Google Benchmark programs built in Release "
          "(`build/bench`), each figure the median of %s repetitions (fewer where a row says "
          "so; a program's repetitions run interleaved in random order, so that a passing "
          "disturbance slows every system alike), and the Python reference `bench/python/bench.py`, all in one run on one "
          "machine. Raw results: `%s.json`." % (meta.get("repetitions", "?"),
                                                 os.path.basename(args.out)))
    r.add()
    machine = [("CPU", meta.get("cpu")), ("Cores", meta.get("nproc")),
               ("Memory", meta.get("memory")), ("Kernel", meta.get("kernel")),
               ("Compiler", meta.get("compiler")), ("Workers", workers),
               ("Load average before / after the run", "%s / %s" % (
                   meta.get("load_before", "?"), meta.get("load_after", "?"))),
               ("confut", meta.get("commit")), ("Peers", meta.get("peers")),
               ("Python", meta.get("python"))]
    r.add(table(["", ""], [[k, v] for k, v in machine if v is not None]))
    r.add()
    r.add("Every workload is defined in `/shared/WORKLOADS.md`; every answer was checked (a "
          "wrong answer fails the run). Ratios compare figures from this run only.")
    r.add()
    busy = busy_note(meta)
    if busy:
        r.add(busy)
        r.add()
    if targets:
        r.add("## Targets")
        r.add()
        rows = [[t["target"], t["measured"],
                 "met" if t["met"] else ("not met" if t["met"] is False else "not measured")]
                for t in targets]
        r.add(table(["Target", "Measured", ""], rows))
        r.add()
    r.w1()
    r.w2()
    r.w3()
    r.compute()
    r.resources()
    r.w7()
    if plots:
        r.add("## Plots")
        r.add()
        for plot in plots:
            name = os.path.basename(plot)
            r.add("![%s](%s)" % (name, name))
            r.add()
    failures = [rec for rec in records if not rec.get("ok")]
    if failures:
        r.add("## Failures")
        r.add()
        for rec in failures:
            r.add("- %s %s (%s): %s" % (rec["workload"], system_name(rec["system"]),
                                       rec["lang"], rec.get("error", "failed")))
        r.add()

    with open(args.out + ".md", "w") as f:
        f.write("\n".join(r.lines).rstrip() + "\n")
    with open(args.out + ".json", "w") as f:
        json.dump({"meta": meta, "targets": targets, "records": records,
                   "google_benchmark": programs, "python": python_doc}, f, indent=1)
    print("report: wrote %s.md, %s.json%s" % (
        args.out, args.out, "".join(", " + p for p in plots)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
