#!/usr/bin/env bash
# test.sh - the second README command (and .ci/run): installs what is missing, then
# builds and runs the whole Criterion suite three times: plain, under AddressSanitizer
# with UndefinedBehaviorSanitizer, and under ThreadSanitizer. Exits non-zero on any
# failure. SP_TEST_QUICK=1 runs the plain build only.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh

run_suite() { # name dir cmake-args...
  local name=$1 dir=$2
  shift 2
  echo "=== $name: building in $dir"
  ./scripts/build.sh "$dir" "$@"
  echo "=== $name: running the suite"
  (cd "$dir" && ctest --output-on-failure --timeout 900)
}

run_suite plain build
if [ "${SP_TEST_QUICK:-0}" != 1 ]; then
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  export LSAN_OPTIONS=suppressions=$PWD/tests/lsan.supp
  run_suite "address+undefined sanitizers" build-asan -DSP_SANITIZE=address,undefined
  export TSAN_OPTIONS="halt_on_error=1 suppressions=$PWD/tests/tsan.supp"
  run_suite "thread sanitizer" build-tsan -DSP_SANITIZE=thread
fi
echo "=== all suites passed"
