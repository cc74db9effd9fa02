#!/usr/bin/env bash
# The whole suite in two lanes at once, to keep it short on two cores: the tests of the lab's
# machines (test/lab, test/e2e) one file at a time, since they share the lab's loopback addresses
# and its state, and beside them the tests that use no lab machine (test/unit, test/workflow),
# also one file at a time. Each lane's output stays whole: the second lane's is printed once the
# first has ended. Each lab file's time is printed at the end, so a slower suite shows where.
# Fails when either lane fails. A file of the second lane whose process never ended (the file
# itself timed out, not one of its tests failing) is run once more, and said so: the runner's child
# process has been seen to hang before any test of a pure file ran; a real hang hangs again.
set -u
cd "$(dirname "$0")/.."
lane() { node --import tsx --test --test-concurrency=1 --test-timeout=600000 "$@"; }
side_output=$(mktemp)
times=$(mktemp)
trap 'rm -f "$side_output" "$times"' EXIT
lane test/unit/*.test.ts test/workflow/*.test.ts >"$side_output" 2>&1 &
side=$!
machines=0
for file in test/lab/*.test.ts test/e2e/*.test.ts; do
  started=$(date +%s)
  lane "$file" || machines=1
  printf '%5d s  %s\n' "$(($(date +%s) - started))" "$file" >>"$times"
done
wait "$side"
others=$?
# Files whose whole run timed out: a `not ok` naming the file, with a timeout as its failure type.
timed_out=$(awk '/^not ok [0-9]+ - \/.*\.test\.ts$/ { file = $NF; n = 0; next }
  file != "" && /failureType: .testTimeoutFailure./ { print file; file = "" }
  file != "" && ++n > 8 { file = "" }' "$side_output")
# Every failure of the first run, at any depth: the second run stands in only when those files are all.
failures=$(grep -cE '^ *not ok ' "$side_output" || true)
if [ "$others" -ne 0 ] && [ -n "$timed_out" ] && [ "$failures" -eq "$(wc -w <<<"$timed_out")" ]; then
  printf '\n== these files never ended and are run once more:\n%s\n' "$timed_out" >>"$side_output"
  # shellcheck disable=SC2086
  lane $timed_out >>"$side_output" 2>&1
  rerun=$?
  [ "$rerun" -eq 0 ] && others=0
  printf '== the second run of those files: exit %s\n' "$rerun" >>"$side_output"
fi
printf '\n== the tests that use no lab machine (test/unit, test/workflow), run beside the ones above\n'
cat "$side_output"
printf '\n== time of each lab and end-to-end test file\n'
cat "$times"
printf '\n== lab and end-to-end tests: exit %s; unit and workflow tests: exit %s\n' "$machines" "$others"
[ "$machines" -eq 0 ] && [ "$others" -eq 0 ]
