# tapegrad's front door. As root on a fresh Debian machine:
#   make train   install what is missing, build, fetch MNIST, train the default MLP
#   make test    install what is missing, build, run every test
#   make bench   build and run the benchmarks (GEMM ladder beside OpenBLAS, epoch times)
# Other targets: make data, make build, make deps, make format, make asan, make clean.
# make train ARGS='--epochs 5 --plot out/mnist.svg' passes flags to build/bin/tapegrad-train.
PRESET ?= release
BUILD  ?= build
JOBS   ?= $(shell nproc)
CMAKE_ARGS ?=
# A folder of header-only dependencies staged by scripts/stage-deps.sh (machines without network).
TG_DEPS_PREFIX ?=
export TG_DEPS_PREFIX
ifneq ($(TG_DEPS_PREFIX),)
CMAKE_ARGS += -DCMAKE_PREFIX_PATH=$(abspath $(TG_DEPS_PREFIX))
endif
BENCH_ARGS ?=
ARGS ?=
DATA_DIR ?= data/mnist

.PHONY: all deps deps-bench configure build test bench asan format format-check clean data train

all: build

deps:
	@scripts/install-deps.sh

deps-bench:
	@scripts/install-deps.sh --bench

$(BUILD)/CMakeCache.txt:
	cmake --preset $(PRESET) $(CMAKE_ARGS)

configure: deps
	cmake --preset $(PRESET) $(CMAKE_ARGS)

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

test: build
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)

data:
	@scripts/fetch-mnist.sh $(DATA_DIR)

train: build data
	$(BUILD)/bin/tapegrad-train $(ARGS)

bench: deps-bench $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)
	scripts/run-bench.sh $(BUILD) $(BENCH_ARGS)

asan: deps
	cmake --preset asan
	cmake --build build-asan -j $(JOBS)
	ctest --test-dir build-asan --output-on-failure -j $(JOBS)

format:
	git ls-files '*.h' '*.cpp' '*.cu' '*.cuh' | xargs clang-format -i

format-check:
	git ls-files '*.h' '*.cpp' '*.cu' '*.cuh' | xargs clang-format --dry-run -Werror

clean:
	rm -rf $(BUILD) build-debug build-asan
