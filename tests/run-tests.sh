#!/bin/sh
# SPDX-License-Identifier: MIT
# run-tests.sh BUILD - run every test program in BUILD/tests and the ABI
# check; print each case and the closing line "N passed, N failed, N skipped".
#
# Where /dev/kvm is missing, the test programs run inside an emulated
# machine that has KVM (tests/vm), so the KVM tests really run; set
# GMEM_TEST_VM=no to run them here instead (they then skip).  A program that
# crashes, or exits non-zero without saying FAIL, counts as a failure.
# GMEM_TEST_WRAP (e.g. "valgrind ...") wraps each program, here or in the
# emulated machine; GMEM_TEST_ONLY="test_a test_b" runs only those programs.
build=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "$build" && pwd)
log=$(mktemp)
trap 'rm -f "$log" "$log.abi"' EXIT

# The programs, each between "== NAME" and "== status NAME RC".
programs() {
	for t in "$build"/tests/test_*; do
		case $t in *.o) continue ;; esac
		[ -x "$t" ] || continue
		name=$(basename "$t")
		if [ -n "${GMEM_TEST_ONLY:-}" ]; then
			case " $GMEM_TEST_ONLY " in *" $name "*) ;; *) continue ;; esac
		fi
		echo "$name"
	done
}

run_programs() {
	for name in $(programs); do
		t=$build/tests/$name
		echo "== $name"
		# shellcheck disable=SC2086
		timeout 900 $GMEM_TEST_WRAP "$t" 2>&1
		echo "== status $name $?"
	done
}

use_vm=no
if [ ! -e /dev/kvm ] && [ "${GMEM_TEST_VM:-auto}" != no ]; then
	use_vm=yes
fi

if [ "$use_vm" = yes ]; then
	echo "== /dev/kvm is missing here; running the tests in an emulated machine with KVM (tests/vm)"
	extra=${GMEM_VM_EXTRA:-}
	case ${GMEM_TEST_WRAP:-} in
	*valgrind*)	# valgrind, its tools and the libc symbols it needs
		extra="$extra $(command -v valgrind) $(command -v valgrind).bin /usr/libexec/valgrind /usr/lib/debug" ;;
	esac
	# Two NUMA nodes and a 1 GiB page reserved at boot, so the multi-node
	# and 1 GiB cases run there too.
	GMEM_VM_TIMEOUT=${GMEM_VM_TIMEOUT:-3000} \
	GMEM_VM_MEM=${GMEM_VM_MEM:-6G} \
	GMEM_VM_APPEND=${GMEM_VM_APPEND-hugepagesz=1G hugepages=1} \
	GMEM_VM_QEMU_ARGS=${GMEM_VM_QEMU_ARGS-"-object memory-backend-ram,id=m0,size=3G -object memory-backend-ram,id=m1,size=3G -numa node,nodeid=0,memdev=m0 -numa node,nodeid=1,memdev=m1"} \
	GMEM_VM_EXTRA="$extra" \
	"$here/vm/run-in-vm.sh" "$build" -- sh -c "
		PATH=/usr/bin:\$PATH
		for t in $(programs | tr '\n' ' '); do
			echo \"== \$t\"
			timeout 900 $GMEM_TEST_WRAP ./tests/\$t 2>&1
			echo \"== status \$t \$?\"
		done" >"$log"
	rc=$?
	if [ "$rc" -ne 0 ]; then
		echo "== vm: the emulated machine failed (status $rc); running the tests here instead"
		echo "FAIL vm: tests/vm/run-in-vm.sh exited with status $rc" >"$log.vm"
		run_programs >"$log"
		cat "$log.vm" >>"$log"
		rm -f "$log.vm"
	fi
else
	run_programs >"$log"
fi

sh "$here/check-abi.sh" "$build" >"$log.abi" 2>&1
echo "== status abi $?" >>"$log.abi"
{ echo "== abi"; cat "$log.abi"; } >>"$log"

# Print the cases and count them; a bad status without a FAIL is a failure.
awk '
	/^== status / {
		if ($4 != 0 && $4 != 77 && !failed) {
			print "  FAIL " $3 ": exited with status " $4
			fail++
		}
		next
	}
	/^== / { failed = 0; print; next }
	/^PASS / { pass++ }
	/^FAIL / { fail++; failed = 1 }
	/^SKIP / { skip++ }
	{ print "  " $0 }
	END {
		printf "%d passed, %d failed, %d skipped\n", pass, fail, skip
		exit fail ? 1 : 0
	}' "$log"
