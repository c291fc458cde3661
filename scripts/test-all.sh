#!/usr/bin/env bash
# `npm test`: every suite CI runs, in order, each to the end even when an earlier one fails:
#   1. Jest (test/*.test.js, --runInBand): unit, behaviour, property and fault-injection tests
#   2. the C++ GoogleTest suite (ctest)                        scripts/test-cpp.sh
#   3. the same suite under ASan + UBSan                       CPC_SANITIZE=ON scripts/test-cpp.sh
#   4. the same suite under Valgrind memcheck                  scripts/test-valgrind.sh
#   5. each libFuzzer target for FUZZ_SECONDS (20) seconds     scripts/fuzz.sh
#   6. a SOAK_SECONDS (60) second soak                         test/soak/soak.js
# The last lines printed are each runner's own summary; the exit status is 1 if any failed.
# About 5–6 minutes on a 2-core machine, from clean build dirs (see README.md, "Hardening").
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Fuzz checks of core bugs that are reported but not fixed yet (CPC_FUZZ_TOLERATE, see
# scripts/fuzz.sh); each has a skipped regression test marked "core bug:". Remove a name
# here when its fix lands, so the fuzz run enforces it again.
#   (none: "status-range", llhttp 8.1 taking status codes that are not three digits,
#    is fixed in response_parser.cc)
KNOWN_CORE_BUGS=""

log_dir="${TEST_LOG_DIR:-build-cpp-logs}"
mkdir -p "$log_dir"
summaries=()
failed=0

# run <name> <summary-regex> <command...>: prints the output live, keeps the lines that
# match the regex (the runner's own summary) for the end.
run() {
  local name="$1" pattern="$2"
  shift 2
  local log="$log_dir/$name.log" start rc
  echo
  echo "======== $name: $*"
  start=$(date +%s)
  "$@" 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  local secs=$(( $(date +%s) - start ))
  local lines
  lines=$(grep -aE "$pattern" "$log" | tail -n 8)
  [[ -n "$lines" ]] || lines="(no summary line)"
  if (( rc == 0 )); then
    summaries+=("[$name: ok, ${secs}s]" "$lines")
  else
    failed=$((failed + 1))
    summaries+=("[$name: FAILED (exit $rc), ${secs}s]" "$lines")
  fi
}

run jest '^(Tests|Test Suites):' npx jest --runInBand
run cpp '^[0-9]+% tests passed' bash scripts/test-cpp.sh
run sanitize '^[0-9]+% tests passed' env CPC_SANITIZE=ON bash scripts/test-cpp.sh
run valgrind '^valgrind:' bash scripts/test-valgrind.sh
run fuzz '^fuzz[ :]' env CPC_FUZZ_TOLERATE="$KNOWN_CORE_BUGS" bash scripts/fuzz.sh "-max_total_time=${FUZZ_SECONDS:-20}"
run soak '^soak:' node --expose-gc test/soak/soak.js --seconds "${SOAK_SECONDS:-60}"

echo
echo "======== summary"
printf '%s\n' "${summaries[@]}"
(( failed == 0 )) && echo "all 6 suites passed" || echo "$failed of 6 suites FAILED"
(( failed == 0 ))
