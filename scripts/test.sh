#!/usr/bin/env bash
# confut's test command: builds and tests up to three configurations.
#   debug  g++, Debug; also examples, benchmarks and the header self-check
#   tsan   ThreadSanitizer (clang++ if it works with this libstdc++, else g++)
#   asan   g++, AddressSanitizer + UndefinedBehaviorSanitizer
#   fuzz   clang++ libFuzzer + ASan + UBSan over the decoder, about a minute in all
#          (tests/fuzz/run.sh; CONFUT_FUZZ_SECONDS sets the total); each type counts as a test
# CONFUT_CONFIGS picks a subset, e.g.  CONFUT_CONFIGS=debug bash scripts/test.sh
# CONFUT_TSAN_CXX forces the TSan compiler.
# Stops at the first failure; the last line is always "N passed, M failed".
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

configs=${CONFUT_CONFIGS:-debug tsan asan fuzz}
build_jobs=$(nproc 2>/dev/null || echo 2)
passed=0
failed=0
probe_dir=$(mktemp -d)

# Always end with the summary. A failure outside ctest (dependencies,
# configure, build) counts as one failed test, so a failing run never reads
# "0 failed".
on_exit() {
  local rc=$?
  rm -rf "$probe_dir"
  if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
    failed=1
  fi
  echo "$passed passed, $failed failed"
}
trap on_exit EXIT

step() { echo; echo "=== $* ==="; }

# --- Sanitizer probes --------------------------------------------------------
# A two-thread program for probing what the sanitizer runtimes need here.
cat > "$probe_dir/threads.cpp" <<'CPP'
#include <thread>
int main() {
  int value = 0;
  std::thread t([&] { value = 1; });
  t.join();
  return value == 1 ? 0 : 1;
}
CPP

# probe <source> <cxx> <flags...>: build $probe_dir/probe; quiet on failure.
probe() {
  local source=$1 cxx=$2; shift 2
  command -v "$cxx" >/dev/null 2>&1 &&
    "$cxx" -std=c++20 -g -Iinclude "$@" "$source" -o "$probe_dir/probe" -pthread \
      >"$probe_dir/compile.log" 2>&1
}

# Prints the compiler for the TSan build: clang++ when it compiles real confut
# code (the header-only consumer) against this libstdc++ and its TSan runs,
# else g++. clang 14 cannot compile all of libstdc++ 12 (e.g. <ranges> views),
# so the answer depends on what confut uses. CONFUT_TSAN_CXX overrides.
pick_tsan_cxx() {
  if [ -n "${CONFUT_TSAN_CXX:-}" ]; then
    echo "$CONFUT_TSAN_CXX"
  elif probe tests/consumers/header_only/main.cpp clang++ -fsanitize=thread &&
       "$probe_dir/probe" >/dev/null 2>&1; then
    echo clang++
  else
    if command -v clang++ >/dev/null 2>&1; then
      echo "test.sh: note: clang++ cannot build or run confut with TSan here:" >&2
      head -n 5 "$probe_dir/compile.log" >&2
    fi
    echo g++
  fi
}

# Older TSan runtimes abort ("unexpected memory mapping") on kernels with more
# ASLR entropy; running without address randomization fixes that. Sets the
# array run_prefix to what the TSan binaries must be run under.
pick_tsan_prefix() {
  run_prefix=()
  probe "$probe_dir/threads.cpp" "$1" -fsanitize=thread || { cat "$probe_dir/compile.log"; return 1; }
  if "$probe_dir/probe" >/dev/null 2>&1; then
    return 0
  fi
  if setarch "$(uname -m)" -R "$probe_dir/probe" >/dev/null 2>&1; then
    echo "test.sh: TSan needs ASLR off here; running TSan binaries under setarch -R"
    run_prefix=(setarch "$(uname -m)" -R)
    return 0
  fi
  echo "test.sh: a ThreadSanitizer program does not run with $1 on this machine" >&2
  return 1
}

# LeakSanitizer cannot run where ptrace is forbidden (some containers); keep
# ASan and UBSan there rather than failing every test.
pick_detect_leaks() {
  probe "$probe_dir/threads.cpp" g++ -fsanitize=address,undefined || { cat "$probe_dir/compile.log"; return 1; }
  if ASAN_OPTIONS=detect_leaks=1 "$probe_dir/probe" >/dev/null 2>&1; then
    detect_leaks=1
  else
    echo "test.sh: WARNING: LeakSanitizer does not work here; leak detection is off"
    detect_leaks=0
  fi
}

# --- Configure, build, test ---------------------------------------------------
# run_ctest <build dir> <command prefix...>: runs ctest, adds its counts to the totals.
run_ctest() {
  local dir=$1; shift
  local log="$dir/ctest.log"
  local rc=0
  "$@" ctest --test-dir "$dir" --output-on-failure -j2 --no-tests=error 2>&1 \
    | tee "$log" || rc=${PIPESTATUS[0]}
  # e.g. "93% tests passed, 2 tests failed out of 30"
  local counts
  counts=$(sed -nE 's/^[0-9]+% tests passed, ([0-9]+) tests? failed out of ([0-9]+).*/\1 \2/p' "$log" | tail -n1)
  if [ -n "$counts" ]; then
    local nfailed=${counts% *} total=${counts#* }
    passed=$((passed + total - nfailed))
    failed=$((failed + nfailed))
  elif [ "$rc" -ne 0 ]; then
    failed=$((failed + 1))
  fi
  return "$rc"
}

# run_fuzz: tests/fuzz/run.sh, whose last line "fuzz: N passed, M failed" (one per fuzzed
# type) adds to the totals.
run_fuzz() {
  local log=build/fuzz.log
  local rc=0
  mkdir -p build
  bash tests/fuzz/run.sh 2>&1 | tee "$log" || rc=${PIPESTATUS[0]}
  local counts
  counts=$(sed -nE 's/^fuzz: ([0-9]+) passed, ([0-9]+) failed$/\1 \2/p' "$log" | tail -n1)
  if [ -n "$counts" ]; then
    passed=$((passed + ${counts% *}))
    failed=$((failed + ${counts#* }))
  elif [ "$rc" -ne 0 ]; then
    failed=$((failed + 1))
  fi
  return "$rc"
}

# build_config <name> <cmake args...>: a fresh configure (so a changed compiler
# or option always takes effect), then an incremental build.
build_config() {
  local name=$1; shift
  step "$name: configure"
  cmake --fresh -S . -B "build/$name" -G Ninja -DCONFUT_WARNINGS_AS_ERRORS=ON "$@"
  step "$name: build"
  # Test discovery runs the test binaries during the build, so it needs the prefix too.
  "${run_prefix[@]}" cmake --build "build/$name" -j "$build_jobs"
}

step "dependencies"
# The debug build also checks the HTML report in headless Chromium.
if [[ " $configs " == *" debug "* ]]; then
  bash scripts/install_deps.sh --browser
else
  bash scripts/install_deps.sh
fi

for config in $configs; do
  start=$SECONDS
  run_prefix=()
  case $config in
    debug)
      build_config debug -DCMAKE_CXX_COMPILER=g++ -DCMAKE_BUILD_TYPE=Debug \
        -DCONFUT_BUILD_EXAMPLES=ON -DCONFUT_BUILD_BENCHMARKS=ON -DCONFUT_TEST_BROWSER=ON \
        -DCONFUT_REQUIRE_MPI=ON
      step "debug: every header compiles on its own"
      cmake --build build/debug --target all_verify_interface_header_sets -j "$build_jobs"
      step "debug: test"
      run_ctest build/debug
      ;;
    tsan)
      tsan_cxx=$(pick_tsan_cxx)
      echo "test.sh: TSan build uses $tsan_cxx"
      pick_tsan_prefix "$tsan_cxx"
      # -O1 keeps TSan runs quick; Debug keeps assertions on.
      build_config tsan -DCMAKE_CXX_COMPILER="$tsan_cxx" -DCMAKE_BUILD_TYPE=Debug \
        -DCMAKE_CXX_FLAGS_DEBUG="-g -O1" -DCONFUT_SANITIZE=thread \
        -DCONFUT_BUILD_EXAMPLES=OFF -DCONFUT_BUILD_BENCHMARKS=OFF \
        -DCMAKE_DISABLE_FIND_PACKAGE_MPI=ON  # OpenMPI is not built for TSan: reports in it
      step "tsan: test"
      run_ctest build/tsan env \
        TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/tests/sanitizers/tsan.supp" \
        "${run_prefix[@]}"
      ;;
    asan)
      pick_detect_leaks
      build_config asan -DCMAKE_CXX_COMPILER=g++ -DCMAKE_BUILD_TYPE=Debug \
        -DCMAKE_CXX_FLAGS_DEBUG="-g -O1" -DCONFUT_SANITIZE=address \
        -DCONFUT_BUILD_EXAMPLES=OFF -DCONFUT_BUILD_BENCHMARKS=OFF -DCONFUT_REQUIRE_MPI=ON
      step "asan: test"
      run_ctest build/asan env \
        ASAN_OPTIONS="detect_leaks=$detect_leaks:abort_on_error=1" \
        UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
      ;;
    fuzz)
      step "fuzz: the decoder under libFuzzer"
      run_fuzz
      ;;
    *)
      echo "test.sh: unknown configuration '$config' (known: debug tsan asan fuzz)" >&2
      exit 2
      ;;
  esac
  echo "test.sh: $config done in $((SECONDS - start)) s"
done
