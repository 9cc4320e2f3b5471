#!/usr/bin/env bash
# A SIGINT in the middle of a run: tapegrad-train must stop after the batch in flight, print
# the result line, write the CSV and a summary marked interrupted, keep the last epoch's state
# for --resume, and exit 130.
#
# Usage: interrupt_check.sh TRAINER OUT_DIR DATA_DIR   (prints SKIPPED without DATA_DIR)
set -u
trainer=$1 dir=$2 data=$3
[[ -d $data ]] || { echo "SKIPPED: the folder $data is not there, and this test needs it"; exit 0; }
rm -rf "$dir" && mkdir -p "$dir"
"$trainer" --data "$data" --limit 2000 --limit-valid 500 --epochs 500 --save-last "$dir/last.st" \
  --summary "$dir/summary.json" --log-csv "$dir/history.csv" >"$dir/out.txt" 2>&1 &
pid=$!
# The first epoch's state on disk means the fit is under way; then interrupt it.
for _ in $(seq 1 1200); do
  [[ -s $dir/last.st ]] && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.05
done
kill -INT "$pid"
wait "$pid"
rc=$?
cat "$dir/out.txt"
fail() { echo "FAIL: $*"; exit 1; }
[[ $rc == 130 ]] || fail "exit status $rc, expected 130"
grep -q "^interrupted by SIGINT after [0-9]* epochs\? of 500; --resume $dir/last.st continues" \
  "$dir/out.txt" || fail "no 'interrupted by SIGINT ...' line"
grep -q "^test_accuracy 0\.[0-9]*" "$dir/out.txt" || fail "no test_accuracy line"
grep -q '"interrupted": "SIGINT"' "$dir/summary.json" || fail "the summary is not marked interrupted"
[[ $(wc -l <"$dir/history.csv") -ge 2 ]] || fail "the CSV has no epoch rows"
grep -q "SIGINT" "$dir/out.txt" && echo "interrupted cleanly"
