#!/bin/sh
# SPDX-License-Identifier: MIT
# run-tests.sh BUILD - run every test program in BUILD/tests and the ABI
# check; print each case and the closing line "N passed, N failed, N skipped".
#
# Where /dev/kvm works, the programs run here.  The emulated machine
# (tests/vm) adds what this host lacks: two NUMA nodes, private memory, an
# IOMMU with a DMA device, a KVM that boots Linux; the programs that need
# those (VM_PROGRAMS below) run there too, on every host.  Where /dev/kvm
# is missing, every program runs in the emulated machine.  GMEM_TEST_VM=no
# keeps everything here (the KVM cases then skip and say why);
# GMEM_TEST_VM=all runs everything there, as on a host without /dev/kvm.
#
# A program that crashes, or exits non-zero without saying FAIL, counts as
# a failure, and so does an emulated machine that never reports.
# GMEM_TEST_WRAP (e.g. "valgrind ...") wraps each program, here or in the
# emulated machine; GMEM_TEST_ONLY="test_a test_b" runs only those programs
# (and "man" or "vmm-boot" those checks).
build=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "$build" && pwd)
log=$(mktemp)
trap 'rm -f "$log" "$log.abi" "$log.man"' EXIT

# Where this host has KVM: programs that also run in the emulated machine
# (it has two NUMA nodes, and a KVM that counts its faults: PROGRAM:CASE
# runs one case), and programs that run only there (no host here has
# private memory, an IOMMU with a DMA device, or a KVM that boots Linux).
VM_PROGRAMS=${GMEM_VM_PROGRAMS-"test_numa test_populate test_devproc test_guest:huge_backing_means_fewer_faults"}
VM_ONLY_PROGRAMS=${GMEM_VM_ONLY_PROGRAMS-"test_private test_dma"}

# The test programs, filtered by GMEM_TEST_ONLY.
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

# Each program between "== NAME" and "== status NAME RC".
run_here() { # PROGRAM...
	for name in "$@"; do
		echo "== $name"
		t0=$(date +%s)
		# shellcheck disable=SC2086
		timeout 900 ${GMEM_TEST_WRAP:-} "$build/tests/$name" 2>&1
		echo "== status $name $? $(($(date +%s) - t0))"
	done
}

run_in_vm() { # LABEL PROGRAM...
	label=$1
	shift
	[ $# -gt 0 ] || return 0
	echo "== $label: running $* in the emulated machine (tests/vm)" >&2
	# test_cli checks gmemctl's JSON against its schema, beside the build.
	extra="${GMEM_VM_EXTRA:-} $(cd "$here/.." && pwd)/docs/json.md"
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
		for t in $*; do
			prog=\${t%%:*}
			one=\${t#\$prog}
			echo \"== \$t ($label)\"
			t0=\$(date +%s)
			timeout 900 ${GMEM_TEST_WRAP:-} ./tests/\$prog \${one#:} 2>&1
			echo \"== status \$t \$? \$((\$(date +%s) - t0))\"
		done"
	rc=$?
	if [ "$rc" -ne 0 ]; then
		echo "== vm"
		echo "FAIL vm: the emulated machine failed (tests/vm/run-in-vm.sh exited with status $rc)"
	fi
}

all=$(programs | tr '\n' ' ')
if [ "${GMEM_TEST_VM:-auto}" != all ] &&
	{ [ -e /dev/kvm ] || [ "${GMEM_TEST_VM:-auto}" = no ]; }; then
	here_list= vm=
	for p in $all; do
		case " $VM_ONLY_PROGRAMS " in
		*" $p "*)
			if [ "${GMEM_TEST_VM:-auto}" = no ]; then
				here_list="$here_list $p"
			else
				vm="$vm $p"
			fi ;;
		*)
			here_list="$here_list $p"
			for v in $VM_PROGRAMS; do
				case $v in "$p" | "$p":*) vm="$vm $v" ;; esac
			done ;;
		esac
	done
	# shellcheck disable=SC2086
	run_here $here_list >"$log"
	if [ "${GMEM_TEST_VM:-auto}" != no ]; then
		# shellcheck disable=SC2086
		run_in_vm "emulated machine" $vm >>"$log"
	fi
else
	echo "== /dev/kvm is missing here; running the tests in an emulated machine with KVM (tests/vm)"
	# shellcheck disable=SC2086
	run_in_vm "emulated machine" $all >"$log"
fi

# gmem-vmm boots Linux, on every host in the emulated machine (one CPU
# there: nested Linux guests are unreliable on two).
if [ "${GMEM_TEST_VM:-auto}" != no ] && [ -x "$build/gmem-vmm" ]; then
	case " ${GMEM_TEST_ONLY:-vmm-boot} " in
	*" vmm-boot "*)
		{
			echo "== vmm-boot"
			t0=$(date +%s)
			VMM_BOOTS=${VMM_BOOTS:-quick} \
				sh "$here/../vmm/boot-test.sh" "$build" 2>&1
			echo "== status vmm-boot $? $(($(date +%s) - t0))"
		} >>"$log" ;;
	esac
fi

sh "$here/check-abi.sh" "$build" >"$log.abi" 2>&1
echo "== status abi $?" >>"$log.abi"
{ echo "== abi"; cat "$log.abi"; } >>"$log"

# The manual pages against the library, gmem.h and the tools (its own
# closing line is left out: this script prints the one that counts).
case " ${GMEM_TEST_ONLY:-man} " in
*" man "*)
	sh "$here/check-man.sh" "$build" >"$log.man" 2>&1
	echo "== status man $?" >>"$log.man"
	{ echo "== man"; grep -v '^[0-9]* passed, [0-9]* failed' "$log.man"; } >>"$log" ;;
esac

# Install into a scratch prefix and build an outside program against it
# (not for a sanitizer build: its library wants its runtime loaded first).
if [ -z "${GMEM_TEST_ONLY:-}" ] &&
	! nm -D "$build/libgmem.so" 2>/dev/null | grep -q __asan_init; then
	{
		echo "== install"
		sh "$here/check-install.sh" "$build" 2>&1
		echo "== status install $?"
	} >>"$log"
fi

# Print the cases and count them; a bad status without a FAIL is a failure.
awk '
	/^== status / {
		if ($4 != 0 && $4 != 77 && !failed) {
			print "  FAIL " $3 ": exited with status " $4
			fail++
		}
		if ($5 != "")
			print "  (" $5 " s)"
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
