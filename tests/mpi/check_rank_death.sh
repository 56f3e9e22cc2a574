#!/usr/bin/env bash
# A worker rank killed by its task (SIGKILL) must end the whole MPI job with a non-zero exit
# status, promptly, and the output must name the rank. Usage: check_rank_death.sh <mpirun
# command...>; prints how long the job took after the task was submitted.
set -uo pipefail
log=$(mktemp)
trap 'rm -f "$log"' EXIT
start=$(date +%s%N)
timeout 60 "$@" "[rank_death]" >"$log" 2>&1
status=$?
end=$(date +%s%N)
cat "$log"
echo "check_rank_death: exit status $status after $(( (end - start) / 1000000 )) ms"
if [ "$status" -eq 0 ]; then
  echo "check_rank_death: FAILED: the job exited with status 0" >&2
  exit 1
fi
if [ "$status" -eq 124 ]; then
  echo "check_rank_death: FAILED: the job was still running after 60 s" >&2
  exit 1
fi
if ! grep -Eq "process rank [1-9][0-9]* .*(signal 9|Killed)" "$log"; then
  echo "check_rank_death: FAILED: no line names the dead rank" >&2
  exit 1
fi
echo "check_rank_death: passed"
