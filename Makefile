# tapegrad's front door. As root on a fresh Debian machine:
#   make train   install what is missing, build, fetch MNIST, train the default MLP
#   make test    install what is missing, build, run every test
#   make bench   build and run the benchmarks (GEMM ladder beside OpenBLAS, conv ladder, epoch
#                times, conv shapes and epochs beside libtorch)
#   make test-clang  build and test with clang instead of g++ (CPU only; build-clang)
#   make fuzz    build the libFuzzer harnesses (clang, ASan+UBSan) in build-fuzz and run each
#                for FUZZ_TIME seconds (docs/fuzzing.md); FUZZ_HARNESSES='idx json' picks some
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
FUZZ_TIME ?= 60
FUZZ_BUILD ?= build-fuzz
FUZZ_HARNESSES ?= idx idx_gz safetensors json

.PHONY: all deps deps-bench configure build test test-clang bench asan fuzz format format-check clean data train

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

# The library and its tests built with clang (CPU only), the portability check (docs/README).
test-clang:
	@scripts/install-deps.sh --clang
	cmake --preset clang $(CMAKE_ARGS)
	cmake --build build-clang -j $(JOBS)
	ctest --test-dir build-clang --output-on-failure -j $(JOBS)

asan: deps
	cmake --preset asan
	cmake --build build-asan -j $(JOBS)
	ctest --test-dir build-asan --output-on-failure -j $(JOBS)

# The layers are instrumented too (tests/fuzz/CMakeLists.txt); only the harnesses are built.
fuzz:
	@scripts/install-deps.sh --fuzz
	CC=clang CXX=clang++ cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTG_FUZZ=ON \
	  -DTG_CUDA=OFF -DTG_BUILD_BENCH=OFF -DTG_BUILD_EXAMPLES=OFF $(CMAKE_ARGS)
	cmake --build $(FUZZ_BUILD) -j $(JOBS) --target $(addprefix fuzz_,$(FUZZ_HARNESSES))
	tests/fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_TIME) $(FUZZ_HARNESSES)

format:
	git ls-files --cached --others --exclude-standard '*.h' '*.cpp' '*.cu' '*.cuh' | xargs clang-format -i

format-check:
	git ls-files --cached --others --exclude-standard '*.h' '*.cpp' '*.cu' '*.cuh' | xargs clang-format --dry-run -Werror

clean:
	rm -rf $(BUILD) build-debug build-asan
