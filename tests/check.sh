#!/usr/bin/env bash
# make check: three builds, every test. Runs on 2 cores in well under 25 min.
set -uo pipefail
cd "$(dirname "$0")/.."
J=$(nproc)
rc=0
step() { echo; echo "=== $* ==="; }

step "release build (gcc, -Werror)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null || exit 1
cmake --build build -j "$J" || exit 1
step "release: unit, simulation and integration tests"
(cd build && ctest --output-on-failure -j "$J" -LE fuzz --timeout 900) || rc=1

step "sanitizer build (ASan + UBSan)"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DNORN_SANITIZE=ON >/dev/null || exit 1
cmake --build build-asan -j "$J" || exit 1
step "sanitizer: unit and simulation tests"
(cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
   UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
   ctest --output-on-failure -j "$J" -L 'unit|sim' --timeout 900) || rc=1

step "fuzz build (clang, libFuzzer)"
cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNORN_FUZZ=ON >/dev/null || exit 1
cmake --build build-fuzz -j "$J" || exit 1
step "fuzz: every decoder, bounded runs"
(cd build-fuzz && ctest --output-on-failure -j "$J" -L fuzz --timeout 300) || rc=1

echo
[ $rc -eq 0 ] && echo "make check: all passed" || echo "make check: FAILED"
exit $rc
