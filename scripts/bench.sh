#!/usr/bin/env bash
# confut's benchmark command: installs what is missing, builds the benchmarks in Release
# (build/bench), runs every bench/bench_*.cpp program and the Python reference, and writes
#   bench/results/<date>-<host>.json   every raw result
#   bench/results/<date>-<host>.md     the tables, with confut's ratios to each peer
#   bench/results/<date>-<host>-*.png  plots
# Takes about 10 minutes on a 2-core machine. Not part of scripts/test.sh (CI only builds
# the benchmark programs).
#
# Settings (environment):
#   CONFUT_BENCH_REPETITIONS  repetitions per benchmark, medians reported (default 5)
#   CONFUT_BENCH_WORKERS      the most workers; W4/W5 scale from 1 to it (default: nproc)
#   CONFUT_BENCH_FILTER       a Google Benchmark --benchmark_filter regex (default: all)
#   CONFUT_BENCH_PYTHON=0     skip the Python reference
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

repetitions=${CONFUT_BENCH_REPETITIONS:-5}
workers=${CONFUT_BENCH_WORKERS:-$(nproc 2>/dev/null || echo 2)}
filter=${CONFUT_BENCH_FILTER:-}
run_python=${CONFUT_BENCH_PYTHON:-1}
build=build/bench
raw=$build/raw
stamp="$(date +%Y-%m-%d)-$(hostname -s 2>/dev/null || hostname)"
out=bench/results/$stamp
# Debian's interpreter: python3-matplotlib, python3-distributed and numpy install there
# (a python3 earlier on PATH, e.g. pyenv's, does not see them).
python=/usr/bin/python3
[ -x "$python" ] || python=python3
start=$SECONDS

step() { echo; echo "=== $* ==="; }

# --- 1. What is missing --------------------------------------------------------
step "dependencies"
bash scripts/install_deps.sh
bench_packages=(libtbb-dev libboost-dev python3-distributed python3-numpy python3-matplotlib)
missing=()
if command -v dpkg-query >/dev/null 2>&1; then
  for package in "${bench_packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
      missing+=("$package")
    fi
  done
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "bench.sh: installing ${missing[*]}"
  if [ "$(id -u)" -eq 0 ]; then
    sudo=()
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo=(sudo -n)
  else
    sudo=(false)
  fi
  if ! { "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q &&
         "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
           apt-get install -y -q --no-install-recommends "${missing[@]}"; }; then
    # The run goes on: a missing peer is skipped with a message, not a failure.
    echo "bench.sh: WARNING: could not install ${missing[*]}; their rows will be missing" >&2
  fi
fi

# --- 2. Build ----------------------------------------------------------------------
step "build ($build, Release)"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCONFUT_BUILD_TESTS=OFF -DCONFUT_BUILD_EXAMPLES=OFF -DCONFUT_BUILD_BENCHMARKS=ON
cmake --build "$build" -j "$(nproc 2>/dev/null || echo 2)"

# --- 3. Run ------------------------------------------------------------------------
rm -rf "$raw"
mkdir -p "$raw" bench/results
load() { cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo "?"; }
load_before=$(load)
failures=0

# The deadlock checks are outcomes, not timings: one repetition each (some cases wait out
# a 3 s hang limit). The repetitions of a program's benchmarks run interleaved in random
# order: a machine that is disturbed for a while (a neighbour on a VM host) then slows
# every system a little instead of one system a lot, and the ratios stay fair.
for program in "$build"/bench/bench_*; do
  [ -x "$program" ] || continue
  name=$(basename "$program")
  reps=$repetitions
  [ "$name" = bench_deadlock ] && reps=1
  step "$name (--workers=$workers, $reps repetitions)"
  args=(--workers="$workers" --benchmark_repetitions="$reps"
        --benchmark_report_aggregates_only=true --benchmark_enable_random_interleaving=true
        --benchmark_out="$raw/$name.json" --benchmark_out_format=json)
  [ -n "$filter" ] && args+=(--benchmark_filter="$filter")
  if ! "$program" "${args[@]}"; then
    echo "bench.sh: $name FAILED (a wrong answer or a crash; see above)" >&2
    failures=$((failures + 1))
  fi
done

# MPIPoolExecutor next to raw MPI loops (bench/mpi/bench_mpi.cpp), 3 ranks, over shared
# memory and over TCP. Its two phases run in order (no random interleaving). The raw JSON
# goes to $raw/mpi_*.json (the tables are printed here; report.py does not read them yet).
mpi_program=$build/bench/mpi/bench_mpi
if [ -x "$mpi_program" ]; then
  for transport in shm tcp; do
    btl=(--mca btl self,vader,tcp)
    [ "$transport" = tcp ] && btl=(--mca btl self,tcp --mca btl_tcp_if_include lo)
    step "bench_mpi over $transport (mpirun -np 3, $repetitions repetitions)"
    mpi_args=(--benchmark_repetitions="$repetitions" --benchmark_report_aggregates_only=true
              --benchmark_out="$raw/mpi_$transport.json" --benchmark_out_format=json)
    [ -n "$filter" ] && mpi_args+=(--benchmark_filter="$filter")
    if ! OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 timeout 600 \
        mpirun --oversubscribe --bind-to none "${btl[@]}" -np 3 "$mpi_program" "${mpi_args[@]}"; then
      echo "bench.sh: bench_mpi over $transport FAILED" >&2
      failures=$((failures + 1))
    fi
  done
else
  echo "bench.sh: bench_mpi not built (no MPI found); its benchmarks are skipped"
fi

if [ "$run_python" != 0 ]; then
  step "Python reference (bench/python/bench.py, $python)"
  if ! "$python" bench/python/bench.py --workers "$workers" --repetitions "$repetitions" \
      --json "$raw/python.json"; then
    echo "bench.sh: the Python reference FAILED" >&2
    failures=$((failures + 1))
  fi
fi
load_after=$(load)

# --- 4. Report ---------------------------------------------------------------------
step "report ($out.*)"
json_string() { "$python" -c 'import json, sys; print(json.dumps(sys.argv[1]))' "$1"; }
version_of() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo "not installed"; }
commit="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
git diff --quiet HEAD -- include 2>/dev/null || commit="$commit (include/ modified)"
cat > "$raw/meta.json" <<EOF
{
  "date": $(json_string "$(date +%Y-%m-%d)"),
  "host": $(json_string "$(hostname -s 2>/dev/null || hostname)"),
  "cpu": $(json_string "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)"),
  "nproc": $(nproc),
  "memory": $(json_string "$(free -h 2>/dev/null | awk '/^Mem:/ {print $2}')"),
  "kernel": $(json_string "$(uname -sr)"),
  "compiler": $(json_string "$(c++ --version | head -n1), -O3 (CMake Release)"),
  "workers": $workers,
  "repetitions": $repetitions,
  "load_before": $(json_string "$load_before"),
  "load_after": $(json_string "$load_after"),
  "commit": $(json_string "$commit"),
  "peers": $(json_string "oneTBB $(version_of libtbb-dev), Boost $(version_of libboost-dev), OpenMP (libgomp $(version_of libgomp1)), Google Benchmark $(version_of libbenchmark-dev)"),
  "python": $(json_string "$("$python" --version 2>&1), Dask $(version_of python3-distributed), numpy $(version_of python3-numpy)")
}
EOF
"$python" bench/report.py --raw "$raw" --out "$out" || failures=$((failures + 1))

echo
echo "bench.sh: done in $((SECONDS - start)) s; results in $out.md"
if [ "$failures" -ne 0 ]; then
  echo "bench.sh: $failures part(s) failed" >&2
  exit 1
fi
