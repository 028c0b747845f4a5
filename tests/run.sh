#!/usr/bin/env bash
# The whole test suite: installs dependencies, then builds and runs every unit and integration
# test twice — once in a normal build (warnings are errors) and once under AddressSanitizer and
# UndefinedBehaviorSanitizer. Exits non-zero if anything fails.
#   tests/run.sh            both builds
#   LZ_SKIP_SANITIZE=1 ...  normal build only (quick local runs)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
jobs=$(nproc 2>/dev/null || echo 2)

"$root/deploy/install-deps.sh"

run_build() {
	local dir=$1
	shift
	cmake -S "$root" -B "$dir" "$@" >/dev/null
	cmake --build "$dir" -j"$jobs"
	(cd "$dir" && ctest --output-on-failure -j"$jobs" --timeout 600)
}

echo "== release build (-Werror) =="
run_build "$root/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLZ_WERROR=ON -DLZ_SANITIZE=OFF

if [ "${LZ_SKIP_SANITIZE:-0}" != "1" ]; then
	echo "== ASan + UBSan build =="
	export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
	export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
	run_build "$root/build-asan" -DCMAKE_BUILD_TYPE=Debug -DLZ_WERROR=ON -DLZ_SANITIZE=ON
fi
