# Thin wrapper over CMake. `make` builds into build/; `make test` runs the whole suite
# (plain, ASan+UBSan, TSan); `make run` starts the local stack; `make baseline` measures.
JOBS ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: all build deps test run baseline clean

all: build

deps:
	@bash deploy/install-deps.sh

build: deps
	@cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build build -j $(JOBS)

test: deps
	@bash tests/run_all.sh

run: deps
	@bash deploy/run-local.sh

# The performance baseline (bench/baseline.sh): writes docs/PERFORMANCE.md; about 7-15 minutes.
baseline: deps
	@bash bench/baseline.sh

clean:
	rm -rf build build-asan build-tsan
