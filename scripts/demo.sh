#!/usr/bin/env bash
# confut's demo command: a Release build of the examples and benchmarks, then
# every example program, in the order listed below: first the guided tour, which
# also writes an HTML performance report and a Chrome trace (build/release/tour/).
# CONFUT_DEMO_ONLY_TOUR=1 runs the tour alone.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Examples in the order a newcomer should see them. Programs in examples/ that
# are not listed here run afterwards, in alphabetical order.
demo_order=(tour tree_sum slowadd deadlock primes pairwise_correlation pi crash_isolation unsafe_library)

# No example should take this long; a hang must not stall the demo.
example_timeout=${CONFUT_EXAMPLE_TIMEOUT:-120}

bash scripts/install_deps.sh

build=build/release
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCONFUT_BUILD_TESTS=OFF -DCONFUT_BUILD_EXAMPLES=ON -DCONFUT_BUILD_BENCHMARKS=ON
cmake --build "$build" -j "$(nproc 2>/dev/null || echo 2)"

names=("${demo_order[@]}")
[ "${CONFUT_DEMO_ONLY_TOUR:-0}" = 1 ] && names=(tour)
for source in examples/*.cpp; do
  [ -e "$source" ] || continue
  name=$(basename "$source" .cpp)
  case " ${demo_order[*]} " in
    *" $name "*) ;;
    *) [ "${CONFUT_DEMO_ONLY_TOUR:-0}" = 1 ] || names+=("$name") ;;
  esac
done

failures=0
for name in "${names[@]}"; do
  program="$build/examples/$name"
  if [ ! -x "$program" ]; then
    echo "(note: example '$name' is not built yet; skipping)"
    continue
  fi
  echo
  echo "=== example: $name ==="
  rc=0
  args=()
  [ "$name" = tour ] && args=("$build/tour")  # where the report and the trace go
  timeout "$example_timeout" "$program" "${args[@]}" || rc=$?
  if [ "$rc" -ne 0 ]; then
    echo "=== example $name exited with status $rc ===" >&2
    failures=$((failures + 1))
  fi
done

# The MPI examples, under mpirun with 3 ranks (rank 0 submits, ranks 1 and 2 work).
# As root mpirun needs the two variables; beyond the cores, oversubscription.
if [ "${CONFUT_DEMO_ONLY_TOUR:-0}" != 1 ]; then
  for name in mpi_tree_sum mpi_pairwise_correlation mpi_pi; do
    program="$build/examples/mpi/$name"
    if [ ! -x "$program" ]; then
      echo "(note: MPI example '$name' is not built: no MPI found)"
      continue
    fi
    echo
    echo "=== example: $name (mpirun -np 3) ==="
    rc=0
    OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 \
      timeout "$example_timeout" mpirun --oversubscribe --bind-to none -np 3 "$program" || rc=$?
    if [ "$rc" -ne 0 ]; then
      echo "=== example $name exited with status $rc ===" >&2
      failures=$((failures + 1))
    fi
  done
fi

# Keep showing the remaining examples after one fails, but report it.
[ "$failures" -eq 0 ]
