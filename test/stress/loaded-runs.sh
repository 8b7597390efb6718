#!/usr/bin/env bash
# The stability proof of issue 14: RUNS times in a row (default 5), each in a fresh clone of this
# repository's HEAD, CI's own entry point (`CI=true .ci/run`, no stdin: packages, `npm ci`, `npm test`)
# while test/stress/busy.sh keeps both cores busy. Stops at the first failing run.
# Prints each run's closing line (`total: N passed, M failed`) and its wall time; the full logs stay in
# the printed directory.
#
#   bash test/stress/loaded-runs.sh [RUNS]
set -euo pipefail
RUNS=${1:-5}
repo=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d /tmp/unicorn-loaded-XXXXXX)
# mktemp makes it 0700; a clone elsewhere is world-readable, which the tests that switch the workers to
# nobody need (the workers read the runtime and the fixture apps as that user).
chmod 755 "$work"
echo "loaded runs: $(git -C "$repo" log -1 --format='%h %s' | cut -c1-100)"
echo "logs: $work"

# Longer than five runs can take; busy.sh stops nginx and wrk itself when killed or done.
bash "$repo/test/stress/busy.sh" $((RUNS * 1800)) >"$work/busy.log" 2>&1 &
busy_pid=$!
trap 'kill "$busy_pid" 2>/dev/null || true; wait "$busy_pid" 2>/dev/null || true' EXIT

status=0
for i in $(seq "$RUNS"); do
  start=$(date +%s)
  rm -rf "$work/clone"
  git clone -q "$repo" "$work/clone"
  if (cd "$work/clone" && CI=true bash .ci/run >"$work/run$i.log" 2>&1 </dev/null); then rc=0; else rc=$?; fi
  line=$(grep -E '^total: ' "$work/run$i.log" | tail -1 || true)
  echo "run $i/$RUNS: ${line:-no summary line} (exit $rc, $(( $(date +%s) - start )) s)"
  if [ "$rc" -ne 0 ]; then
    grep -E '^\s*✖' "$work/run$i.log" | head -20 || true
    status=1
    break
  fi
done
exit "$status"
