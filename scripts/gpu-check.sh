#!/usr/bin/env bash
# The one command to run on a GPU machine: build with the CUDA backend, run the CUDA tests
# (plain, then under compute-sanitizer's memcheck and racecheck), train on MNIST on the GPU and
# on the CPU, and time the GPU benchmarks beside PyTorch. Every step runs under `timeout`, logs
# to its own file and goes on after a failure; summary.txt gets one line per step.
#
# Usage: scripts/gpu-check.sh [--bundle] OUTDIR [STEP...]
#   OUTDIR/<step>.log, the benchmarks' JSON, the trainer's CSV/JSON, and OUTDIR/summary.txt:
#   one line per step (ok / failed / timeout / skipped, seconds), then the lines that matter
#   from the logs (test counts, sanitizer summaries, epoch times, test accuracy).
#   --bundle: keep the logs in a scratch folder and leave in OUTDIR only summary.txt and
#   gpu-check-logs.tar.gz (all logs), both refreshed after every step. For a device tool that
#   brings back only a few files from OUTDIR:  scripts/gpu-check.sh --bundle "$OUT"
#   STEP...: run only these steps (after nvidia-smi, env, configure and build, which take
#   seconds when the build is up to date). Steps, in the order they run:
#     ctest-cuda bench-train-cuda pytorch-eager pytorch-graph train-cuda train-cuda-nograph
#     train-cpu train-cuda-extra memcheck racecheck bench-gemm-cuda ctest-all
#   (train-cuda-extra: one epoch on the GPU, with the CUDA Graph, for each other --opt (adam,
#   adamw, rmsprop, lamb: their multi-tensor kernels and device hyper-parameters) and for
#   --model cnn (the conv ladder's CUDA kernels and batchnorm in training).)
#   The order is by priority: when the time budget runs out, the last steps are skipped.
# Run from anywhere; it works in the repository root. MNIST must be in data/mnist (git-ignored:
# carry it to the GPU machine), and so must build-deps/ (scripts/stage-deps.sh: nlohmann-json
# and CLI11, which the GPU machine lacks and cannot download). Environment:
#   GPU_CHECK_BUDGET  seconds for the whole run (default 540, under a 10-minute command limit);
#                     each step gets at most what is left, and a step that finds under 15 s left
#                     is skipped
#   BUILD_DIR         build folder (default build-gpu)
#   GEMM_REPS         bench_gemm_cuda repetitions (default 3)
#   TRAIN_EPOCHS      trainer epochs (default 8, the trainer's default)
set -uo pipefail

bundle=0
if [[ ${1:-} == --bundle ]]; then
  bundle=1
  shift
fi
if [[ $# -lt 1 || $1 == -h || $1 == --help ]]; then
  sed -n '2,30p' "$0" | sed 's/^# \{0,1\}//'
  [[ $# -lt 1 ]] && exit 1 || exit 0
fi
outdir=$1
shift
selected=("$@")
all_steps=" ctest-cuda bench-train-cuda pytorch-eager pytorch-graph train-cuda train-cuda-nograph
  train-cpu train-cuda-extra memcheck racecheck bench-gemm-cuda ctest-all "
for s in "${selected[@]}"; do
  if [[ $all_steps != *[[:space:]]"$s"[[:space:]]* ]]; then
    echo "gpu-check: unknown step '$s'; the steps are:$all_steps" >&2
    exit 2
  fi
done

mkdir -p "$outdir" || exit 1
outdir=$(cd "$outdir" && pwd)
cd "$(dirname "$0")/.." || exit 1
root=$(pwd)

if ((bundle)); then
  logdir=$(mktemp -d /tmp/gpu-check.XXXXXX)
else
  logdir=$outdir
fi
summary=$outdir/summary.txt
build=${BUILD_DIR:-build-gpu}
[[ $build == /* ]] || build=$root/$build
budget=${GPU_CHECK_BUDGET:-540}
gemm_reps=${GEMM_REPS:-3}
train_epochs=${TRAIN_EPOCHS:-8}
ncpu=$(nproc 2>/dev/null || echo 4)
deadline=$((SECONDS + budget))
export PYTHONUNBUFFERED=1

now() { printf '%s' "${EPOCHREALTIME:-$(date +%s.%N)}"; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

steps_file=$(mktemp /tmp/gpu-check-steps.XXXXXX)
scratch=$(mktemp /tmp/gpu-check-sanitizer.XXXXXX)
trap 'rm -f "$steps_file" "$scratch"' EXIT

# The summary: the step table so far, then the highlights of the logs. Rewritten after every
# step, so that a run stopped from outside still leaves one.
write_summary() {
  {
    echo "gpu-check $(date -u '+%Y-%m-%d %H:%M:%S UTC'), $root, build $build, budget ${budget}s"
    printf '%-20s %-9s %8s  %s\n' step result seconds note
    cat "$steps_file"
    echo
    echo "--- highlights"
    highlight "$logdir/nvidia-smi.log" '^name, |^NVIDIA|, [0-9]+ MiB'
    highlight "$logdir/ctest-cuda.log" 'tests passed|tests failed|\(Failed\)|\(SEGFAULT\)|\(Timeout\)|\*\*\*'
    highlight "$logdir/bench-train-cuda.log" '^BM_cuda|ERROR OCCURRED|skipped'
    highlight "$logdir/pytorch-eager.log" '^torch |^course |^wide |Error'
    highlight "$logdir/pytorch-graph.log" '^torch |^course |^wide |Error'
    highlight "$logdir/train-cuda.log" 'test_accuracy|total_seconds|rror'
    highlight "$logdir/train-cuda-nograph.log" 'test_accuracy|total_seconds|rror'
    highlight "$logdir/train-cpu.log" 'test_accuracy|total_seconds|rror'
    highlight "$logdir/train-cuda-extra.log" '^train-cuda-extra '
    highlight "$logdir/memcheck.log" '^memcheck '
    highlight "$logdir/racecheck.log" '^racecheck '
    highlight "$logdir/bench-gemm-cuda.log" '_median|ERROR OCCURRED|no usable'
    highlight "$logdir/ctest-all.log" 'tests passed|tests failed|\(Failed\)|\(SEGFAULT\)|\(Timeout\)'
  } >"$summary.tmp" && mv "$summary.tmp" "$summary"
  if ((bundle)); then
    tar -czf "$outdir/gpu-check-logs.tar.gz.tmp" -C "$logdir" . &&
      mv "$outdir/gpu-check-logs.tar.gz.tmp" "$outdir/gpu-check-logs.tar.gz"
  fi
}

highlight() {  # file regex: the file's matching lines, prefixed with its name
  [[ -f $1 ]] || return 0
  grep -E -- "$2" "$1" 2>/dev/null | head -n 60 | sed "s|^|$(basename "$1" .log): |"
}

record() {  # step result seconds note
  printf '%-20s %-9s %8s  %s\n' "$1" "$2" "$3" "${4:-}" >>"$steps_file"
  write_summary
}

wanted() {
  ((${#selected[@]} == 0)) && return 0
  local s
  for s in "${selected[@]}"; do [[ $s == "$1" ]] && return 0; done
  return 1
}

# run_step NAME LIMIT COMMAND...: COMMAND under `timeout`, output to NAME.log. A COMMAND that
# is a function of this script gets the limit in step_limit and times its own parts.
run_step() {
  local name=$1 limit=$2
  shift 2
  local left=$((deadline - SECONDS))
  if ((left < 15)); then
    record "$name" skipped 0 "no time left in the ${budget}s budget"
    return 0
  fi
  ((limit > left - 5)) && limit=$((left - 5))
  local log=$logdir/$name.log t0 rc=0
  {
    printf '$'
    printf ' %q' "$@"
    printf '\n# limit %ss, started %s\n' "$limit" "$(date -u '+%H:%M:%S UTC')"
  } >"$log"
  echo "gpu-check: $name (limit ${limit}s)"
  t0=$(now)
  if declare -F "$1" >/dev/null; then
    step_limit=$limit "$@" >>"$log" 2>&1 || rc=$?
  else
    timeout -k 10 "$limit" "$@" >>"$log" 2>&1 || rc=$?
  fi
  local secs
  secs=$(elapsed "$t0")
  echo "# exit code $rc after ${secs}s" >>"$log"
  if ((rc == 0)); then
    record "$name" ok "$secs"
  elif ((rc == 124 || rc == 137)); then
    record "$name" timeout "$secs" "stopped at the ${limit}s limit; see $name.log"
  else
    record "$name" failed "$secs" "exit code $rc; see $name.log"
  fi
}

# Setup steps ------------------------------------------------------------------------------

# Read-only queries: the card's settings are left as they are.
gpu_info() {
  timeout 20 nvidia-smi || return
  echo
  timeout 20 nvidia-smi --format=csv --query-gpu=name,driver_version,memory.total,memory.used,\
clocks.sm,clocks.max.sm,power.draw,temperature.gpu,utilization.gpu || true
}

env_info() {
  uname -a
  echo "cores: $ncpu"
  grep -m1 'model name' /proc/cpuinfo
  g++ --version | head -n 1
  cmake --version | head -n 1
  echo "ninja $(ninja --version 2>&1)"
  for nvcc in nvcc /usr/local/cuda/bin/nvcc; do
    if command -v "$nvcc" >/dev/null; then
      "$nvcc" --version | tail -n 2
      break
    fi
  done
  echo "compute-sanitizer: ${sanitizer:-not found}"
  [[ -n ${sanitizer:-} ]] && timeout 20 "$sanitizer" --version | head -n 2
  timeout 60 python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())'
  if [[ -f data/mnist/train-images-idx3-ubyte || -f data/mnist/train-images-idx3-ubyte.gz ]]; then
    echo "data/mnist: present"
  else
    echo "data/mnist: MISSING (carry it: the trainer steps will fail, the benchmarks use random data)"
  fi
  git rev-parse HEAD 2>/dev/null && git status --short 2>/dev/null | head -n 40
  return 0
}

sanitizer=
for s in /usr/local/cuda/bin/compute-sanitizer /usr/local/cuda/compute-sanitizer/compute-sanitizer \
  "$(command -v compute-sanitizer 2>/dev/null)"; do
  if [[ -n $s && -x $s ]]; then
    sanitizer=$s
    break
  fi
done

# slice END MAX: the seconds one part of a step may run, in cap: MAX, or what is left before
# END (in SECONDS) if that is less; fails when under 5 s are left.
slice() {
  local left=$(($1 - SECONDS))
  ((left < 5)) && return 1
  cap=$((left < $2 ? left : $2))
}

# One epoch on the GPU (CUDA Graph on) for each optimizer besides the default SGD and for the
# CNN, each under its own share of the step's time. Prints "train-cuda-extra <run>:
# test_accuracy ... total_seconds ..." per run; fails if any run did.
train_extra() {
  local bin=$build/bin/tapegrad-train status=0 rc name cap flag value
  [[ -x $bin ]] || { echo "$bin not built"; return 1; }
  local end=$((SECONDS + ${step_limit:-150}))
  local runs=("opt adam" "opt adamw" "opt rmsprop" "opt lamb" "model cnn")
  for run in "${runs[@]}"; do
    read -r flag value <<<"$run"
    name="--$flag $value"
    if ! slice "$end" 60; then
      echo "train-cuda-extra $name: not run (the step's time is used up)"
      status=1
      continue
    fi
    echo "=== $name (limit ${cap}s)"
    rc=0
    timeout -k 10 "$cap" "$bin" --device cuda --epochs 1 --data data/mnist "--$flag" "$value" \
      --summary "$logdir/train-cuda-$value.json" >"$scratch" 2>&1 || rc=$?
    cat "$scratch"
    echo "train-cuda-extra $name: $(grep -E 'test_accuracy|total_seconds' "$scratch" |
      paste -sd ' ' -) (exit $rc)"
    ((rc != 0)) && status=1
  done
  return $status
}

# compute-sanitizer over test_cuda, one run per test source file (doctest's --source-file
# filter), each under its own timeout, so a slow file cannot cost the others their summaries.
# Prints "<tool> <file>: <summary line>" for each; fails if any run did.
sanitize() {
  local tool=$1 bin=$build/bin/test_cuda status=0 f base t0 rc cap
  if [[ -z $sanitizer ]]; then
    echo "compute-sanitizer not found (looked in /usr/local/cuda/bin, /usr/local/cuda/compute-sanitizer, PATH)"
    return 1
  fi
  [[ -x $bin ]] || { echo "$bin not built"; return 1; }
  local end=$((SECONDS + ${step_limit:-300}))
  for f in tests/cuda/*.cpp; do
    base=$(basename "$f")
    if ! slice "$end" 120; then
      echo "$tool $base: not run (the step's time is used up)"
      status=1
      continue
    fi
    echo "=== $tool $base (limit ${cap}s)"
    t0=$(now)
    rc=0
    # memcheck: --report-api-errors no, because some tests provoke failing CUDA calls on
    # purpose (an impossible allocation, a checked error); kernel memory errors still count.
    local opts=(--tool "$tool" --error-exitcode 99 --print-limit 20)
    [[ $tool == memcheck ]] && opts+=(--leak-check no --report-api-errors no)
    timeout -k 10 "$cap" "$sanitizer" "${opts[@]}" "$bin" "--source-file=*$base" \
      >"$scratch" 2>&1 || rc=$?
    cat "$scratch"
    local line
    line=$(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY|test cases:' "$scratch" |
      tr -s ' =' ' ' | paste -sd ';' -)
    ((rc == 124 || rc == 137)) && line="TIMEOUT after ${cap}s; $line"
    echo "$tool $base: ${line:-no summary} (exit $rc, $(elapsed "$t0")s)"
    ((rc != 0)) && status=1
  done
  return $status
}

echo "gpu-check: logs in $logdir, summary in $summary, budget ${budget}s"
run_step nvidia-smi 30 gpu_info
run_step env 60 env_info
# Header-only dependencies staged by scripts/stage-deps.sh (the GPU machine has no network).
deps_args=()
if [[ -d $root/build-deps ]]; then
  export TG_DEPS_PREFIX=$root/build-deps
  deps_args=(-DCMAKE_PREFIX_PATH="$root/build-deps")
fi
run_step configure 120 cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTG_NATIVE=ON \
  "${deps_args[@]}" \
  -DTG_CUDA=ON
# -k 0: a target that fails to compile does not stop the others (the trainer, the benchmarks).
run_step build 330 cmake --build "$build" -j "$ncpu" -- -k 0

bin=$build/bin
wanted ctest-cuda &&
  run_step ctest-cuda 120 ctest --test-dir "$build" -L cuda --output-on-failure -j "$ncpu" \
    --timeout 120
wanted bench-train-cuda &&
  run_step bench-train-cuda 150 "$bin/bench_train" --benchmark_filter=cuda \
    "--benchmark_out=$logdir/bench_train_cuda.json" --benchmark_out_format=json
wanted pytorch-eager &&
  run_step pytorch-eager 120 python3 bench/pytorch_mlp.py --device cuda --epochs 5
wanted pytorch-graph &&
  run_step pytorch-graph 90 python3 bench/pytorch_mlp.py --device cuda --cuda-graph --epochs 5
wanted train-cuda &&
  run_step train-cuda 90 "$bin/tapegrad-train" --device cuda --epochs "$train_epochs" \
    --data data/mnist --log-csv "$logdir/train-cuda.csv" --summary "$logdir/train-cuda.json"
wanted train-cuda-nograph &&
  run_step train-cuda-nograph 120 "$bin/tapegrad-train" --device cuda --no-cuda-graph \
    --epochs "$train_epochs" --data data/mnist --log-csv "$logdir/train-cuda-nograph.csv" \
    --summary "$logdir/train-cuda-nograph.json"
wanted train-cpu &&
  run_step train-cpu 120 "$bin/tapegrad-train" --device cpu --epochs "$train_epochs" \
    --data data/mnist --log-csv "$logdir/train-cpu.csv" --summary "$logdir/train-cpu.json"
wanted train-cuda-extra && run_step train-cuda-extra 150 train_extra
wanted memcheck && run_step memcheck 240 sanitize memcheck
wanted racecheck && run_step racecheck 180 sanitize racecheck
wanted bench-gemm-cuda &&
  run_step bench-gemm-cuda 240 "$bin/bench_gemm_cuda" "--benchmark_repetitions=$gemm_reps" \
    --benchmark_display_aggregates_only=true "--benchmark_out=$logdir/bench_gemm_cuda.json" \
    --benchmark_out_format=json
wanted ctest-all &&
  run_step ctest-all 180 ctest --test-dir "$build" --output-on-failure -j "$ncpu" --timeout 120

write_summary
echo
cat "$summary"
# Exit 1 when a step failed or timed out (skipped steps alone do not fail the run).
! grep -qE '^[^ ]+ +(failed|timeout) ' "$steps_file"
