# cellgraph: the commands people run. CMake does the building; this file only strings steps together.
#   make run    install dependencies, build (release), run the main job on the real data
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

# The main job on the real default data. Until the training issue lands: build the cell graph and the
# phenotype dataset from the raw yeast files, describe both, and show what a deletion does; it will
# become `cellgraph train`.
GRAPH ?= build/graph.safetensors
DATASET ?= build/dataset.safetensors
run: build
	$(RELEASE)/cellgraph graph build -o $(GRAPH)
	$(RELEASE)/cellgraph graph info $(GRAPH)
	$(RELEASE)/cellgraph graph delete --graph $(GRAPH) CYS3 TFC3
	$(RELEASE)/cellgraph data build --graph $(GRAPH) -o $(DATASET)
	$(RELEASE)/cellgraph data info $(DATASET)

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
