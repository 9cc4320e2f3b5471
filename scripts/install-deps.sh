#!/usr/bin/env bash
# Installs the Debian packages tapegrad needs, only those that are missing.
#
# Each dependency is detected by the file the build uses, not by package name, so a machine
# that has it from elsewhere (another distribution, a source install) is left alone and no
# network is needed there. Missing ones are installed with apt-get when run as root; otherwise
# the script names them and fails.
#
# Usage: scripts/install-deps.sh [--bench] [--clang] [--fuzz]
#   --bench: OpenBLAS too, the comparison point, and BLIS, libtorch and PyTorch (optional:
#            bench_libtorch is built only where libtorch is found; the PyTorch export test of
#            make test runs only where python3-torch is installed)
#   --clang: clang and libomp (make test-clang)
#   --fuzz:  clang, its libFuzzer and sanitizer runtimes and libomp (make fuzz)
set -euo pipefail

want_bench=0 want_fuzz=0 want_clang=0
for arg in "$@"; do
  case $arg in
    --bench) want_bench=1 ;;
    --fuzz) want_fuzz=1 want_clang=1 ;;
    --clang) want_clang=1 ;;
    *) echo "install-deps.sh: unknown flag $arg (use --bench, --clang, --fuzz)" >&2; exit 2 ;;
  esac
done

missing=()
optional=()
# TG_DEPS_PREFIX: a folder staged by scripts/stage-deps.sh, for a machine without network.
have_header() {
  [[ -f /usr/include/$1 || -f /usr/local/include/$1 ||
    (-n ${TG_DEPS_PREFIX:-} && -f ${TG_DEPS_PREFIX:-}/include/$1) ]]
}
have_cmake_pkg() {
  local d
  for d in /usr/lib/cmake /usr/lib/x86_64-linux-gnu/cmake /usr/lib/aarch64-linux-gnu/cmake \
    /usr/local/lib/cmake /usr/share/cmake /usr/lib64/cmake; do
    [[ -d $d/$1 ]] && return 0
  done
  return 1
}

command -v cmake >/dev/null || missing+=(cmake)
command -v g++ >/dev/null || missing+=(g++)
command -v make >/dev/null || missing+=(make)
have_header doctest/doctest.h || missing+=(doctest-dev)
have_cmake_pkg benchmark || missing+=(libbenchmark-dev)
have_header zlib.h || missing+=(zlib1g-dev)
have_header nlohmann/json.hpp || missing+=(nlohmann-json3-dev)
have_header CLI/CLI.hpp || missing+=(libcli11-dev)
have_header omp.h || compgen -G "/usr/lib/gcc/*/*/include/omp.h" >/dev/null || missing+=(libgomp1)
if ((want_bench)); then
  # OpenBLAS's own cblas.h: a bare x86_64-linux-gnu/cblas.h can be the reference BLAS's
  # (libblas-dev, which libtorch-dev pulls in), and bench/ would then build without OpenBLAS.
  have_header openblas/cblas.h || have_header openblas-pthread/cblas.h ||
    compgen -G "/usr/include/*/openblas*/cblas.h" >/dev/null || missing+=(libopenblas-dev)
  # BLIS, bench_gemm's second anchor (its blis/* rows); optional like the rest below.
  compgen -G "/usr/include/*/blis.h" >/dev/null || have_header blis.h || optional+=(libblis-dev)
  # libtorch (C++, oneDNN inside) for bench_libtorch; big, so optional: without it that program
  # is not built and the rest of the benchmarks run.
  have_cmake_pkg Torch || optional+=(libtorch-dev)
  # PyTorch for bench/pytorch_mlp.py and for the test that loads our exports in PyTorch
  # (tests/io/torch_export_check.py, skipped without it).
  /usr/bin/python3 -c "import torch" 2>/dev/null || optional+=(python3-torch)
fi
if ((want_clang)); then
  command -v clang++ >/dev/null || missing+=(clang)
  echo '#include <omp.h>' | clang++ -fopenmp -x c++ -fsyntax-only - 2>/dev/null ||
    missing+=(libomp-dev)
fi
if ((want_fuzz)); then
  # clang prints the bare name back when it has no such runtime library.
  fuzzer_lib=$(clang++ -print-file-name=libclang_rt.fuzzer-$(uname -m).a 2>/dev/null || true)
  [[ $fuzzer_lib == /* ]] || missing+=(libclang-rt-dev)
fi
# The second built-in data set; tests that need it say they are skipped where it is absent.
[[ -d /usr/share/datasets/fashion-mnist ]] || optional+=(dataset-fashion-mnist)

all=("${missing[@]}" "${optional[@]}")
((${#all[@]} == 0)) && exit 0

if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
  if ((${#missing[@]})); then
    echo "tapegrad: missing packages: ${missing[*]}" >&2
    echo "  install them (as root: apt-get install ${missing[*]}) and run make again" >&2
    exit 1
  fi
  echo "tapegrad: optional package not installed: ${optional[*]} (its tests will be skipped)" >&2
  exit 0
fi

echo "tapegrad: installing ${all[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq || echo "tapegrad: apt-get update failed; trying the cached lists" >&2
if ! apt-get install -y -qq --no-install-recommends "${all[@]}" >/dev/null; then
  # Optional packages may be unavailable (no network on a GPU box): retry with the required ones.
  if ((${#missing[@]})); then
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  echo "tapegrad: could not install ${optional[*]} (its tests will be skipped)" >&2
fi
