#!/usr/bin/env bash
# C++ suite (GoogleTest via ctest) for src/core, without Node.
#   scripts/test-cpp.sh                 RelWithDebInfo build in build-cpp/
#   CPC_SANITIZE=ON scripts/test-cpp.sh ASan+UBSan build in build-cpp-asan/
# The last line printed is ctest's own summary ("100% tests passed, 0 tests failed out of N").
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

sanitize="${CPC_SANITIZE:-OFF}"
build_dir="${CPC_BUILD_DIR:-build-cpp}"
if [[ "$sanitize" == "ON" && -z "${CPC_BUILD_DIR:-}" ]]; then build_dir=build-cpp-asan; fi

cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCPC_SANITIZE="$sanitize"
cmake --build "$build_dir" -j2

# ctest prints "Total Test time" (and, on failure, the list of failed tests) after its summary
# line; hold the summary back and print it last. pipefail keeps ctest's exit status.
ctest --test-dir "$build_dir" --output-on-failure --no-tests=error "$@" \
  | awk '/^[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+/ { held = $0; next }
         { print; fflush() }
         END { if (held != "") print held }'
