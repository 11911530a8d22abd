# cellgraph: the commands people run. CMake does the building; this file only strings steps together.
#   make run    install dependencies, build (release), train on the real data (a fixed step budget)
#   make test   install dependencies, run the whole test suite twice: release build, then a debug build
#               under AddressSanitizer + UndefinedBehaviorSanitizer
#   make bench  build (release) and run the benchmarks in bench/
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
RELEASE := build/release
DEBUG := build/debug

.PHONY: all deps build build-debug run test test-release test-debug bench clean

all: build

deps:
	@scripts/install-deps.sh

build: deps
	cmake -S . -B $(RELEASE) -DCMAKE_BUILD_TYPE=Release
	cmake --build $(RELEASE) -j $(JOBS)

build-debug: deps
	cmake -S . -B $(DEBUG) -DCMAKE_BUILD_TYPE=Debug -DCG_SANITIZE=ON
	cmake --build $(DEBUG) -j $(JOBS)

# The main job on the real default data: train HeteroCell (configs/hetero_cell.json) for the config's
# fixed step budget (train.max_steps: the model it leaves is the same on a fast, slow or busy machine, only
# the time differs; the graph and dataset are built from the raw yeast files on the first run and cached
# in runs/cache), print the test metrics beside the baselines, and predict with the checkpoint it leaves.
RUN ?= runs/make-run
run: build
	$(RELEASE)/cellgraph train --config configs/hetero_cell.json --out $(RUN)
	$(RELEASE)/cellgraph predict --checkpoint $(RUN)/checkpoint_best.safetensors CYS3
	$(RELEASE)/cellgraph predict --checkpoint $(RUN)/checkpoint_best.safetensors CYS3 TFC3

test: test-release test-debug

test-release: build
	cd $(RELEASE) && ctest --output-on-failure -j $(JOBS)

test-debug: build-debug
	cd $(DEBUG) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp \
		ctest --output-on-failure -j $(JOBS)

bench: build
	$(RELEASE)/bench/engine
	$(RELEASE)/bench/graph

clean:
	rm -rf build
