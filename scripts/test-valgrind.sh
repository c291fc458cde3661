#!/usr/bin/env bash
# The GoogleTest suite under Valgrind memcheck: fails on any memory error (invalid read or
# write, use of uninitialised values, bad free) and on definitely lost blocks.
#   npm run test:valgrind        builds build-cpp/ (as npm run test:cpp does) and runs
#   valgrind --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite build-cpp/cpc_core_tests
# The last line printed is "valgrind: ok, N tests, 0 errors, 0 bytes definitely lost" or the failure.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

build_dir="${CPC_BUILD_DIR:-build-cpp}"
command -v valgrind > /dev/null || { echo "valgrind: not installed (apt-get install valgrind)"; exit 1; }
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCPC_SANITIZE=OFF > /dev/null \
  && cmake --build "$build_dir" -j2 > /dev/null || { echo "valgrind: build failed"; exit 1; }

log="$build_dir/valgrind.log"
valgrind --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite \
  "$build_dir/cpc_core_tests" "$@" > "$log" 2>&1
rc=$?
tests=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) tests\?\./\1/p' "$log" | tail -n1)
errors=$(sed -n 's/^==[0-9]*== ERROR SUMMARY: \([0-9]*\) errors.*/\1/p' "$log" | tail -n1)
lost=$(sed -n 's/^==[0-9]*==    definitely lost: \([0-9,]*\) bytes.*/\1/p' "$log" | tail -n1)
if (( rc == 0 )); then
  echo "valgrind: ok, ${tests:-?} tests, ${errors:-?} errors, ${lost:-0} bytes definitely lost (log: $log)"
else
  grep -E '^\[  FAILED  \]|^==[0-9]+== (Invalid|Conditional|Use of|Mismatched|[0-9,]+ bytes in)' "$log" | head -n 40
  echo "valgrind: FAILED (exit $rc): ${errors:-?} errors, ${lost:-?} bytes definitely lost; see $log"
fi
exit $rc
