#!/usr/bin/env bash
# Runs every benchmark program in BUILD_DIR/bin (bench_*) and prints its results; each also
# writes JSON to BUILD_DIR/bench-results/<name>.json for docs/benchmarks.md.
#
# Usage: scripts/run-bench.sh BUILD_DIR [google-benchmark flags...]
#   scripts/run-bench.sh build --benchmark_filter='gemm|openblas'
# Threads: OMP_NUM_THREADS, OPENBLAS_NUM_THREADS and BLIS_NUM_THREADS default to 2 (override
# from the environment). Repetitions default to 3: the console shows their mean, median and stddev, the
# JSON keeps every run, and a last table gives each benchmark's median and best GFLOP/s (the
# best is the one to quote on a shared, noisy machine). BENCH_REPETITIONS=1: a quick look.
set -euo pipefail

if [[ $# -lt 1 || $1 == -h || $1 == --help ]]; then
  sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
  [[ $# -lt 1 ]] && exit 1 || exit 0
fi
build=$1
shift

export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-2}
export BLIS_NUM_THREADS=${BLIS_NUM_THREADS:-2}
reps=${BENCH_REPETITIONS:-3}

shopt -s nullglob
benches=("$build"/bin/bench_*)
if ((${#benches[@]} == 0)); then
  echo "run-bench: no bench_* programs in $build/bin (build with TG_BUILD_BENCH=ON)" >&2
  exit 1
fi

out_dir=$build/bench-results
mkdir -p "$out_dir"
echo "run-bench: OMP_NUM_THREADS=$OMP_NUM_THREADS OPENBLAS_NUM_THREADS=$OPENBLAS_NUM_THREADS" \
  "BLIS_NUM_THREADS=$BLIS_NUM_THREADS" \
  "repetitions=$reps, $(date -u '+%Y-%m-%d %H:%M UTC')"
lscpu 2>/dev/null | grep -E '^(Model name|CPU\(s\)):' | sed 's/^/run-bench: /' || true

# GFLOP/s per benchmark, median and best over the repetitions, from the JSON output.
summarize() {
  [[ -f $1 ]] && command -v python3 >/dev/null || return 0
  python3 - "$1" <<'PY'
import json, statistics, sys
try:
    benchmarks = json.load(open(sys.argv[1]))["benchmarks"]
except (ValueError, KeyError):  # nothing ran (a filter that matched nothing)
    sys.exit(0)
runs = {}
for b in benchmarks:
    if b.get("run_type") == "iteration" and "GFLOP/s" in b:
        name = b["run_name"]
        name = name[: -len("/real_time")] if name.endswith("/real_time") else name
        runs.setdefault(name, []).append(b["GFLOP/s"])
if runs:
    print(f"\n{'benchmark':<40} {'median GFLOP/s':>15} {'best GFLOP/s':>13}")
    for name, v in runs.items():
        print(f"{name:<40} {statistics.median(v):>15.1f} {max(v):>13.1f}")
PY
}

status=0
for bench in "${benches[@]}"; do
  [[ -x $bench && -f $bench ]] || continue
  name=$(basename "$bench")
  echo
  echo "=== $name"
  flags=("--benchmark_out=$out_dir/$name.json" --benchmark_out_format=json)
  if ((reps > 1)); then
    flags+=("--benchmark_repetitions=$reps" --benchmark_display_aggregates_only=true)
  fi
  # A program that is not a Google Benchmark binary may refuse these flags: run it bare.
  if "$bench" --help 2>&1 | grep -q benchmark_filter; then
    "$bench" "${flags[@]}" "$@" || { echo "run-bench: $name failed" >&2; status=1; }
  else
    "$bench" || { echo "run-bench: $name failed" >&2; status=1; }
    continue
  fi
  summarize "$out_dir/$name.json"
done
exit $status
