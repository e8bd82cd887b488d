#!/bin/sh
# SPDX-License-Identifier: MIT
# run-tests.sh BUILD - run every test program in BUILD/tests and the ABI
# check; print each case and the closing line "N passed, N failed, N skipped".
# A program that crashes or exits non-zero without saying FAIL counts as a
# failure.  GMEM_TEST_WRAP (e.g. "valgrind ...") wraps each program.
build=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
pass=0 fail=0 skip=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

count() {
	p=$(grep -c '^PASS ' "$log")
	f=$(grep -c '^FAIL ' "$log")
	s=$(grep -c '^SKIP ' "$log")
	pass=$((pass + p)) fail=$((fail + f)) skip=$((skip + s))
	if [ "$1" -ne 0 ] && [ "$1" -ne 77 ] && [ "$f" -eq 0 ]; then
		echo "FAIL $2: exited with status $1"
		fail=$((fail + 1))
	fi
}

for t in "$build"/tests/test_*; do
	[ -x "$t" ] || continue
	name=$(basename "$t")
	echo "== $name"
	# shellcheck disable=SC2086
	timeout 600 $GMEM_TEST_WRAP "$t" >"$log" 2>&1
	rc=$?
	sed 's/^/  /' "$log"
	count "$rc" "$name"
done

echo "== abi"
sh "$here/check-abi.sh" "$build" >"$log" 2>&1
rc=$?
sed 's/^/  /' "$log"
count "$rc" abi

echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
