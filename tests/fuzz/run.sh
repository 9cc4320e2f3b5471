#!/usr/bin/env bash
# Runs the libFuzzer harnesses of a TG_FUZZ build, one after the other, each for SECONDS, with
# the project's limits: any input may give a tg::Error, but a crash, another exception, more
# than 1 GiB in one allocation or 2 GiB resident, or 5 s on one input is a finding.
#
# Usage: tests/fuzz/run.sh BUILD_DIR SECONDS [HARNESS...]   (default: every harness)
# Each harness grows a working corpus in BUILD_DIR/fuzz-corpus/<harness>, seeded from the
# committed tests/fuzz/corpus/<harness> (left untouched); findings go to
# BUILD_DIR/fuzz-artifacts/<harness>/, the log to BUILD_DIR/fuzz-logs/<harness>.log, whose
# last line ("Done N runs in S second(s)") is what docs/fuzzing.md records. Extra libFuzzer
# flags: FUZZ_FLAGS='-jobs=2 -workers=2'.
set -euo pipefail

build=${1:?usage: run.sh BUILD_DIR SECONDS [HARNESS...]}
seconds=${2:?usage: run.sh BUILD_DIR SECONDS [HARNESS...]}
shift 2
here=$(cd "$(dirname "$0")" && pwd)
harnesses=("$@")
((${#harnesses[@]})) || harnesses=(idx idx_gz safetensors json)

status=0
for h in "${harnesses[@]}"; do
  bin=$build/bin/fuzz_$h
  [[ -x $bin ]] || { echo "run.sh: $bin not built (configure with -DTG_FUZZ=ON)" >&2; exit 1; }
  corpus=$build/fuzz-corpus/$h artifacts=$build/fuzz-artifacts/$h log=$build/fuzz-logs/$h.log
  mkdir -p "$corpus" "$artifacts" "$(dirname "$log")"
  cp -n "$here/corpus/$h"/* "$corpus"/ 2>/dev/null || true
  echo "fuzz_$h: ${seconds}s, log $log"
  # -max_len: libFuzzer's default is the largest seed (a few hundred bytes); 4 KiB lets a
  # harness build files with larger headers and still stay fast.
  if ! nice "$bin" "$corpus" -max_total_time="$seconds" -timeout=5 -rss_limit_mb=2048 \
    -malloc_limit_mb=1024 -max_len=4096 -print_final_stats=1 \
    -artifact_prefix="$artifacts/" ${FUZZ_FLAGS:-} >"$log" 2>&1; then
    echo "fuzz_$h: FOUND something, see $log and $artifacts/" >&2
    status=1
  fi
  grep -E "^(stat::number_of_executed_units|stat::average_exec_per_sec|Done)" "$log" | tr '\n' ' '
  echo
done
exit $status
