#!/usr/bin/env bash
# The whole test suite (the README's test command, via `make test`):
#   1. every test, plain build (build/)
#   2. every test under AddressSanitizer+UndefinedBehaviorSanitizer (build-asan/)
#   3. the tests labelled `tsan` under ThreadSanitizer (build-tsan/)
#   4. each libFuzzer driver for a bounded time, clang build (build-fuzz/)
# Prints one closing line "suite: N passed, N failed" (tests counted across the parts) and
# exits non-zero if anything failed or did not build.
set -uo pipefail
cd "$(dirname "$0")/.."
bash deploy/install-deps.sh || exit 1
# playwright-core for the headless Chromium tests (tests/browser/package-lock.json)
# and kubernetes-models for the manifest checks (tests/deploy/package-lock.json)
for d in tests/browser tests/deploy; do
    if [ ! -d "$d/node_modules" ]; then
        (cd "$d" && npm ci --no-audit --no-fund --loglevel=error) || echo "=== npm ci in $d failed: its tests will fail"
    fi
done
JOBS=$(nproc 2>/dev/null || echo 2)
FUZZ_SECONDS=${MM_FUZZ_SECONDS:-15}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}

passed=0
failed=0
broken=0

build_tree() { # dir cmake-args...
    local dir=$1
    shift
    mkdir -p "$dir"
    if ! cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >"$dir/configure.log" 2>&1 ||
       ! cmake --build "$dir" -j "$JOBS" >"$dir/build.log" 2>&1; then
        tail -n 60 "$dir/configure.log" "$dir/build.log" 2>/dev/null
        echo "=== $dir: BUILD FAILED"
        broken=1
        return 1
    fi
}

run_ctest() { # name dir ctest-args...
    local name=$1 dir=$2
    shift 2
    echo "=== $name: test"
    (cd "$dir" && ctest --output-on-failure -j "$JOBS" "$@") 2>&1 | tee "$dir/ctest.log"
    local line
    line=$(grep -E 'tests passed, [0-9]+ tests failed out of [0-9]+' "$dir/ctest.log" | tail -n 1)
    if [ -z "$line" ]; then
        broken=1
        return
    fi
    local f t
    f=$(sed -E 's/.* ([0-9]+) tests failed out of ([0-9]+).*/\1/' <<<"$line")
    t=$(sed -E 's/.* ([0-9]+) tests failed out of ([0-9]+).*/\2/' <<<"$line")
    passed=$((passed + t - f))
    failed=$((failed + f))
}

echo "=== plain: build"
build_tree build && run_ctest plain build
echo "=== address+undefined: build"
build_tree build-asan -DMM_SANITIZE=address && run_ctest address+undefined build-asan
echo "=== thread: build"
build_tree build-tsan -DMM_SANITIZE=thread && run_ctest thread build-tsan -L tsan

echo "=== fuzz: build (clang)"
if CC=clang build_tree build-fuzz -DMM_FUZZ=ON; then
    for f in build-fuzz/tests/fuzz_*; do
        name=$(basename "$f")
        corpus="build-fuzz/corpus-$name"
        mkdir -p "$corpus"
        if "$f" -max_total_time="$FUZZ_SECONDS" -seed=1 -print_final_stats=0 -artifact_prefix="build-fuzz/$name-" "$corpus" >"build-fuzz/$name.log" 2>&1; then
            echo "fuzz $name: $(grep -oE 'Done [0-9]+ runs' "build-fuzz/$name.log" | tail -n 1), no crash"
            passed=$((passed + 1))
        else
            tail -n 40 "build-fuzz/$name.log"
            echo "fuzz $name: FAILED (crash input saved as build-fuzz/$name-crash-*)"
            failed=$((failed + 1))
        fi
    done
fi

if [ $broken -ne 0 ]; then
    echo "a build or a test run did not complete"
    failed=$((failed + 1))
fi
echo "suite: $passed passed, $failed failed"
[ $failed -eq 0 ]
