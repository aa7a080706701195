#!/usr/bin/env bash
# The whole test suite (README's test command): builds and runs every test plainly, again
# under AddressSanitizer+UndefinedBehaviorSanitizer, and the thread-labelled tests under
# ThreadSanitizer. Each build lives in its own directory. Exits non-zero if anything failed.
set -uo pipefail
cd "$(dirname "$0")/.."
bash deploy/install-deps.sh || exit 1
JOBS=$(nproc 2>/dev/null || echo 2)
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}

failed=0
run_suite() { # name builddir sanitizer ctest-args...
    local name=$1 dir=$2 san=$3
    shift 3
    echo "=== $name: build ($dir)"
    mkdir -p "$dir"
    if ! cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMM_SANITIZE="$san" >"$dir/configure.log" 2>&1 ||
       ! cmake --build "$dir" -j "$JOBS" >"$dir/build.log" 2>&1; then
        tail -n 60 "$dir/configure.log" "$dir/build.log" 2>/dev/null
        echo "=== $name: BUILD FAILED"
        failed=1
        return
    fi
    echo "=== $name: test"
    if ! (cd "$dir" && ctest --output-on-failure -j "$JOBS" "$@"); then
        failed=1
    fi
}

run_suite "plain" build "" 
run_suite "address+undefined" build-asan address
run_suite "thread" build-tsan thread -L tsan

if [ $failed -ne 0 ]; then
    echo "test suite: FAILED"
    exit 1
fi
echo "test suite: all parts passed"
