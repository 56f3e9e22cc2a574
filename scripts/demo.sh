#!/usr/bin/env bash
# confut's demo command: a Release build of the examples and benchmarks, then
# every example program, in the order listed below.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Examples in the order a newcomer should see them. Programs in examples/ that
# are not listed here run afterwards, in alphabetical order.
demo_order=(tree_sum slowadd deadlock primes pairwise_correlation pi crash_isolation unsafe_library)

# No example should take this long; a hang must not stall the demo.
example_timeout=${CONFUT_EXAMPLE_TIMEOUT:-120}

bash scripts/install_deps.sh

build=build/release
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCONFUT_BUILD_TESTS=OFF -DCONFUT_BUILD_EXAMPLES=ON -DCONFUT_BUILD_BENCHMARKS=ON
cmake --build "$build" -j "$(nproc 2>/dev/null || echo 2)"

names=("${demo_order[@]}")
for source in examples/*.cpp; do
  [ -e "$source" ] || continue
  name=$(basename "$source" .cpp)
  case " ${demo_order[*]} " in
    *" $name "*) ;;
    *) names+=("$name") ;;
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
  timeout "$example_timeout" "$program" || rc=$?
  if [ "$rc" -ne 0 ]; then
    echo "=== example $name exited with status $rc ===" >&2
    failures=$((failures + 1))
  fi
done

# Keep showing the remaining examples after one fails, but report it.
[ "$failures" -eq 0 ]
