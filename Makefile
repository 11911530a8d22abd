# cellgraph: the commands people run. CMake does the building; this file only strings steps together.
#   make run    install dependencies, build (release), train on the real data (a fixed step budget)
#   make test   install dependencies, run the whole test suite twice: release build, then a debug build
#               under AddressSanitizer + UndefinedBehaviorSanitizer; then fuzz-smoke
#   make fuzz   build the libFuzzer harnesses (clang, build/fuzz) and run each for FUZZ_SECONDS (60) from its
#               seed corpus, after replaying its regression inputs; fails on any crash (docs/reliability.md)
#   make fuzz-smoke   the same for FUZZ_SMOKE_SECONDS (10) per harness (part of make test)
#   make bench  build (release) and run the benchmarks in bench/
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
RELEASE := build/release
DEBUG := build/debug
FUZZ := build/fuzz
FUZZ_SECONDS ?= 60
FUZZ_SMOKE_SECONDS ?= 10

.PHONY: all deps build build-debug build-fuzz run test test-release test-debug fuzz fuzz-smoke bench clean

all: build

deps:
	@scripts/install-deps.sh

build: deps
	cmake -S . -B $(RELEASE) -DCMAKE_BUILD_TYPE=Release
	cmake --build $(RELEASE) -j $(JOBS)

build-debug: deps
	cmake -S . -B $(DEBUG) -DCMAKE_BUILD_TYPE=Debug -DCG_SANITIZE=ON
	cmake --build $(DEBUG) -j $(JOBS)

# the library and the harnesses of fuzz/ with clang, -fsanitize=fuzzer,address,undefined
build-fuzz: deps
	cmake -S . -B $(FUZZ) -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug -DCG_FUZZ=ON
	cmake --build $(FUZZ) -j $(JOBS)

# The main job on the real default data: train HeteroCell (configs/hetero_cell.json) for the config's
# fixed step budget (train.max_steps: the model it leaves is the same on a fast, slow or busy machine, only
# the time differs; the graph and dataset are built from the raw yeast files on the first run and cached
# in runs/cache), print the test metrics beside the baselines, and predict with the checkpoint it leaves.
RUN ?= runs/make-run
run: build
	$(RELEASE)/cellgraph train --config configs/hetero_cell.json --out $(RUN)
	$(RELEASE)/cellgraph predict --checkpoint $(RUN)/checkpoint_best.safetensors CYS3
	$(RELEASE)/cellgraph predict --checkpoint $(RUN)/checkpoint_best.safetensors CYS3 TFC3

test: test-release test-debug fuzz-smoke

test-release: build
	cd $(RELEASE) && ctest --output-on-failure -j $(JOBS)

test-debug: build-debug
	cd $(DEBUG) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp \
		ctest --output-on-failure -j $(JOBS)

fuzz: build-fuzz
	scripts/fuzz.sh $(FUZZ) $(FUZZ_SECONDS)

fuzz-smoke: build-fuzz
	scripts/fuzz.sh $(FUZZ) $(FUZZ_SMOKE_SECONDS)

bench: build
	$(RELEASE)/bench/engine
	$(RELEASE)/bench/graph

clean:
	rm -rf build
