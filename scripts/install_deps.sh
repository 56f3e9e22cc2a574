#!/usr/bin/env bash
# Installs the Debian packages confut's build needs, only those missing.
# Used by scripts/test.sh and scripts/demo.sh; safe to run again.
#   --browser  also Chromium, for the headless check of the HTML performance report
set -euo pipefail

packages=(
  cmake             # >= 3.25 (Debian 12)
  ninja-build
  g++               # >= 12, C++20
  clang             # the TSan build prefers clang++ (scripts/test.sh); same choice locally and in CI
  libclang-rt-14-dev  # clang's sanitizer and libFuzzer runtimes: the decoder fuzzer (tests/fuzz/run.sh)
  catch2            # Catch2 2.x: tests
  libbenchmark-dev  # Google Benchmark: bench/
  libopenmpi-dev    # MPI for confut::mpi (MPIPoolExecutor): its tests, examples and benchmark
  openmpi-bin       # mpirun
)
if [ "${1:-}" = "--browser" ]; then
  packages+=(chromium)  # tests/report/check_report.sh (CONFUT_TEST_BROWSER)
fi

if ! command -v dpkg-query >/dev/null 2>&1; then
  echo "install_deps: no dpkg here; assuming ${packages[*]} (or equivalents) are installed" >&2
  exit 0
fi

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "install_deps: installing ${missing[*]}"
if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  sudo=(sudo -n)
else
  echo "install_deps: missing ${missing[*]}; run as root or: apt-get install ${missing[*]}" >&2
  exit 1
fi

# CI has no terminal: never let apt or debconf ask a question.
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y -q --no-install-recommends "${missing[@]}"
