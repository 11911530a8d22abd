# cellgraph: the commands people run. CMake does the building; this file only strings steps together.
#   make run    install dependencies, build (release), run the main job
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

# The main job. Until the training issue lands this builds everything, shows the tool and runs the
# engine benchmark; it will become `cellgraph train` on the real yeast data.
run: build
	$(RELEASE)/cellgraph --version
	$(RELEASE)/cellgraph --help
	$(RELEASE)/bench/engine

test: test-release test-debug

test-release: build
	cd $(RELEASE) && ctest --output-on-failure -j $(JOBS)

test-debug: build-debug
	cd $(DEBUG) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		ctest --output-on-failure -j $(JOBS)

bench: build
	$(RELEASE)/bench/engine

clean:
	rm -rf build
