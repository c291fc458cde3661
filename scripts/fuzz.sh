#!/usr/bin/env bash
# libFuzzer targets of test/fuzz (response_fuzz, connection_fuzz, config_fuzz), built with
# clang (CPC_FUZZ=ON: ASan + UBSan + coverage) in build-cpp-fuzz/ and run one after the other.
#
#   npm run fuzz                               each target for 20 s (what CI runs)
#   npm run fuzz -- -max_total_time=600        each target for 10 minutes
#   FUZZ_TARGETS=response_fuzz npm run fuzz -- -runs=0    replay one target's corpus
#   CPC_FUZZ_TOLERATE=status-range npm run fuzz ...       skip a check named in a known bug
#
# Arguments go to every target (libFuzzer flags). Each run starts from the committed seeds in
# test/fuzz/corpus/<target>/ (read only) plus build-cpp-fuzz/corpus/<target>/, where new
# inputs accumulate between runs. A crash, leak, sanitizer report, failed check or an input
# slower than -timeout (default 10 s) fails the target; its input is saved under
# build-cpp-fuzz/artifacts/<target>/ — commit it as test/fuzz/corpus/<target>/regress-<what>
# once the bug is fixed. The last lines printed are one summary line per target and a total.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

build_dir=build-cpp-fuzz
read -r -a targets <<< "${FUZZ_TARGETS:-response_fuzz connection_fuzz config_fuzz}"

CC="${CC_FUZZ:-clang}" CXX="${CXX_FUZZ:-clang++}" cmake -S . -B "$build_dir" \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCPC_FUZZ=ON -DCPC_BUILD_TESTS=OFF > "$build_dir.configure.log" 2>&1 \
  || { cat "$build_dir.configure.log"; echo "fuzz: cmake configure failed"; exit 1; }
cmake --build "$build_dir" -j2 --target "${targets[@]}" || { echo "fuzz: build failed"; exit 1; }

args=("$@")
has_limit=0
has_timeout=0
for a in "${args[@]}"; do
  case "$a" in
    -max_total_time=*|-runs=*) has_limit=1 ;;
    -timeout=*) has_timeout=1 ;;
  esac
done
(( has_limit )) || args+=("-max_total_time=20")
(( has_timeout )) || args+=("-timeout=10")

summary=()
failed=0
for t in "${targets[@]}"; do
  bin="$build_dir/test/fuzz/$t"
  work="$build_dir/corpus/$t"
  artifacts="$build_dir/artifacts/$t"
  log="$build_dir/logs/$t.log"
  mkdir -p "$work" "$artifacts" "$(dirname "$log")"
  dict=()
  case "$t" in
    response_fuzz|connection_fuzz) dict=("-dict=test/fuzz/http.dict") ;;
    config_fuzz) dict=("-dict=test/fuzz/config.dict") ;;
  esac
  echo "== $t ${args[*]} (log: $log)"
  start=$(date +%s)
  ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}" \
  UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}" \
    "$bin" -artifact_prefix="$artifacts/" -print_final_stats=1 "${dict[@]}" "${args[@]}" \
      "$work" "test/fuzz/corpus/$t" > "$log" 2>&1
  rc=$?
  secs=$(( $(date +%s) - start ))
  grep -E '^#[0-9]+[[:space:]]+(INITED|DONE)' "$log" | sed 's/^/   /'
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n1)
  cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -n1 | cut -d' ' -f2)
  ft=$(grep -oE 'ft: [0-9]+' "$log" | tail -n1 | cut -d' ' -f2)
  corp=$(grep -oE 'corp: [0-9]+' "$log" | tail -n1 | cut -d' ' -f2)
  if (( rc == 0 )); then
    summary+=("fuzz $t: ok, ${execs:-?} execs in ${secs}s (${rate:-?}/s), cov ${cov:-?}, ft ${ft:-?}, corpus ${corp:-?}")
  else
    failed=$((failed + 1))
    echo "-- $t failed (exit $rc); the end of its log:"
    tail -n 60 "$log"
    summary+=("fuzz $t: FAILED (exit $rc) after ${execs:-?} execs; input saved in $artifacts/")
  fi
done

printf '%s\n' "${summary[@]}"
echo "fuzz: $(( ${#targets[@]} - failed )) of ${#targets[@]} targets passed"
(( failed == 0 ))
