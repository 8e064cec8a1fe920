#!/usr/bin/env bash
# test.sh - the second README command (and .ci/run): installs what is missing, then
# builds and runs the suite plain and the whole suite under AddressSanitizer with
# UndefinedBehaviorSanitizer, then the threaded harness under ThreadSanitizer. The
# end-to-end programs labelled "slow" (pipeline, exactly_once, exactly_once_cluster: most
# of the time) run once, in the sanitizer build, which checks more. Exits non-zero on any
# failure. SP_TEST_QUICK=1 runs the plain build only, slow tests included.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh

passed=0
failed=0
run_suite() { # name dir ctest-args -- cmake-args...
  local name=$1 dir=$2 ctest_args=$3 out
  shift 4
  echo "=== $name: building in $dir"
  ./scripts/build.sh "$dir" "$@"
  echo "=== $name: running the suite"
  out=$(mktemp)
  # shellcheck disable=SC2086
  if ! (cd "$dir" && ctest --output-on-failure --timeout 900 $ctest_args) | tee "$out"; then
    tally "$out"
    echo "$passed passed, $failed failed"
    exit 1
  fi
  tally "$out"
  rm -f "$out"
}
tally() { # adds ctest's "N% tests passed, F tests failed out of T" to the totals
  local line f t
  line=$(grep -E 'tests failed out of [0-9]+' "$1" | tail -n 1)
  f=$(sed -E 's/.* ([0-9]+) tests failed out of.*/\1/' <<<"$line")
  t=$(sed -E 's/.*out of ([0-9]+).*/\1/' <<<"$line")
  passed=$((passed + ${t:-0} - ${f:-0}))
  failed=$((failed + ${f:-0}))
}

if [ "${SP_TEST_QUICK:-0}" = 1 ]; then
  run_suite plain build "" --
else
  run_suite plain build "-LE slow" --
fi
if [ "${SP_TEST_QUICK:-0}" != 1 ]; then
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  export LSAN_OPTIONS=suppressions=$PWD/tests/lsan.supp
  run_suite "address+undefined sanitizers" build-asan "" -- -DSP_SANITIZE=address,undefined
  # ThreadSanitizer: Debian's librdkafka uses C11 threads, which TSan cannot follow, so
  # the TSan build links librdkafka rebuilt from Debian's source with pthreads. Criterion
  # cannot start under TSan (Snaipe/Criterion#274): the TSan build runs the threaded
  # harness (label "threads"), which drives the real pipeline thread.
  ./scripts/build-rdkafka-tsan.sh build-deps/rdkafka-pthreads
  export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$PWD/tests/tsan.supp"
  PKG_CONFIG_PATH=$PWD/build-deps/rdkafka-pthreads/lib/pkgconfig \
    run_suite "thread sanitizer" build-tsan "-L threads" -- -DSP_SANITIZE=thread \
    -DCMAKE_BUILD_RPATH=$PWD/build-deps/rdkafka-pthreads/lib
fi
echo "=== all suites passed (test programs, counted per build)"
echo "$passed passed, $failed failed"
