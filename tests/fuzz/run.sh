#!/usr/bin/env bash
# Builds the decoder fuzzer (tests/fuzz/fuzz_decoder.cpp) with clang++ and libFuzzer, and
# fuzzes each type of fuzz_types.hpp in turn, starting from the seed corpus in
# tests/fuzz/corpus/<type>/. A crash, a sanitizer report, an exception other than
# DecodeError, a round-trip mismatch, a hang (-timeout) or an allocation past -rss_limit_mb
# fails that type; the reproducer is saved as build/fuzz/findings/<type>-crash-... .
#
#   CONFUT_FUZZ_SECONDS=60        total time over all types, split evenly (default 60)
#   CONFUT_FUZZ_TYPES="map node"  only these types (default: every folder in the corpus)
#   CONFUT_FUZZ_BUILD=build/fuzz  the build folder
#   bash tests/fuzz/run.sh --make-corpus   rewrites tests/fuzz/corpus from make_corpus.cpp
#
# Reproduce a finding: CONFUT_FUZZ_TYPE=<type> build/fuzz/fuzz_decoder <file>.
# New inputs the fuzzer finds go to build/fuzz/work/<type>/, never into the repository.
# The last line is "fuzz: N passed, M failed" (one per type).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

build=${CONFUT_FUZZ_BUILD:-build/fuzz}
total_seconds=${CONFUT_FUZZ_SECONDS:-60}
corpus=tests/fuzz/corpus

mkdir -p "$build"
cmake -S tests/fuzz -B "$build" -G Ninja -DCMAKE_CXX_COMPILER="${CONFUT_FUZZ_CXX:-clang++}" \
  >"$build/configure.log" 2>&1 || { cat "$build/configure.log"; echo "fuzz: 0 passed, 1 failed"; exit 1; }
cmake --build "$build" -j "${CONFUT_FUZZ_JOBS:-$(nproc 2>/dev/null || echo 2)}" || { echo "fuzz: 0 passed, 1 failed"; exit 1; }

if [ "${1:-}" = "--make-corpus" ]; then
  rm -rf "$corpus"
  "$build/make_corpus" "$corpus"
  exit 0
fi

types=${CONFUT_FUZZ_TYPES:-$(ls "$corpus")}
count=$(echo "$types" | wc -w)
per_type=$(( (total_seconds + count - 1) / count ))
mkdir -p "$build/findings"
passed=0
failed=0
for type in $types; do
  mkdir -p "$build/work/$type"
  log="$build/$type.log"
  rc=0
  # Inputs up to 4 KiB, but 1 MiB for Node (a chain deep enough to overflow a stack takes
  # hundreds of KiB) and 64 KiB for big_optionals (whose 1-byte elements take 4 KiB of
  # memory each: 1 MiB of them is 4 GB, over -rss_limit_mb, legitimately).
  case $type in
    node) max_len=1048576 ;;
    big_optionals) max_len=65536 ;;
    *) max_len=4096 ;;
  esac
  CONFUT_FUZZ_TYPE=$type "$build/fuzz_decoder" \
    -max_total_time="$per_type" -timeout=25 -rss_limit_mb=2048 -max_len="$max_len" \
    -print_final_stats=1 -artifact_prefix="$build/findings/$type-" \
    "$build/work/$type" "$corpus/$type" >"$log" 2>&1 || rc=$?
  runs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+).*/\1/p' "$log" | tail -n1)
  if [ "$rc" -eq 0 ]; then
    passed=$((passed + 1))
    echo "fuzz: $type passed: ${runs:-?} inputs in $per_type s"
  else
    failed=$((failed + 1))
    echo "fuzz: $type FAILED (exit $rc) after ${runs:-?} inputs; the end of $log:"
    tail -n 40 "$log"
  fi
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
