#!/bin/sh
# SPDX-License-Identifier: MIT
# boot-test.sh BUILD - the boot test of gmem-vmm: Debian's kernel boots on
# guest_memfd, memfd and hugetlb RAM, the guest writes a pattern over its
# memmap window, gmem-vmm discards part of it, and the guest checks every
# page.  Prints PASS/FAIL/SKIP lines for tests/run-tests.sh to count.
#
# Bad-input cases run here; the boots run in the emulated machine of
# tests/vm (QEMU TCG with nested SVM), on every kind of host, because a
# stock Linux does not boot under this project's nested PVM KVM.  Times
# printed for the boots are the emulated machine's, so they measure the
# emulator, not gmem.
#
# Env: VMM_KERNEL (bzImage; default the tests/vm cache's, which is fetched
# if missing), VMM_BOOT_TIMEOUT (seconds per boot, 40), VMM_BOOTS=quick
# (the test suite's choice: one boot per backend, without the preallocated
# guest_memfd and the 1 GiB page that make boot adds), and tests/vm's
# GMEM_VM_* knobs.
set -u

# ---- inside the emulated machine ------------------------------------------
# Each boot: name, then gmem-vmm's options.  512 MiB of RAM with a 64 MiB
# window at 256 MiB; a 1 GiB page leaves no room for a hole with pattern
# around it in a window that size, so that boot is checked without one.
APPEND="console=ttyS0 acpi=off panic=-1 quiet"
WINDOW="memmap=64M!256M"

# boot_once NAME APPEND OPTIONS... : one boot; sets why (empty if it passed),
# times, and reported (the guest's check program said anything at all).
boot_once() {
	name=$1 append=$2
	shift 2
	out=/tmp/$name.out err=/tmp/$name.err
	timeout "${VMM_BOOT_TIMEOUT:-40}" ./gmem-vmm --kernel "$KERNEL" \
		--initrd initramfs.cpio --append "$append" \
		--stats-dir /tmp/gmem-stats "$@" >"$out" 2>"$err" &
	pid=$!
	[ "$name" = guest_memfd ] && [ -z "$stats_done" ] && stats_check "$pid"
	wait "$pid"
	rc=$?
	tr -d '\r' <"$out" >"$out.txt"
	init=$(sed -n 's/.*guest init started \([0-9.]*\) s.*/\1/p' "$err")
	total=$(sed -n 's/.*stopped \([0-9.]*\) s after.*/\1/p' "$err")
	pf=$(sed -n 's/.*KVM at guest init: pf_taken \([0-9]*\).*/\1/p' "$err")
	times="init at ${init:-?} s, stopped at ${total:-?} s, pf_taken ${pf:-?} by init"
	# The lines that show what happened, for the log.
	grep -h -E '^gmem-check: |^gmem-vmm: (preallocated|guest init|KVM|RAM|discarded|stopped|guest powered|guest reset|error)' \
		"$out.txt" "$err" | sed 's/^/    /'
	reported=$(grep -c '^gmem-check: ' "$out.txt")
	why=
	if [ "$rc" = 143 ] || [ "$rc" = 124 ]; then
		why="no power-off within ${VMM_BOOT_TIMEOUT:-40} s ($(grep -o 'the vCPU at rip 0x[0-9a-f]*' "$err"))"
	elif ! grep -q '^gmem-check: RESULT PASS' "$out.txt"; then
		why=$(grep -m1 '^gmem-check: FAIL' "$out.txt")
		[ -n "$why" ] || why=$(grep -m1 'error' "$err")
		[ -n "$why" ] || why="the guest never reported (status $rc)"
	elif [ "$rc" != 0 ]; then
		why="gmem-vmm exited with status $rc"
	fi
	[ -z "$why" ] || tail -n 12 "$out.txt" | sed 's/^/    console: /'
}

# boot NAME APPEND OPTIONS... : a boot, judged on what the guest said.
#
# Nested guests in this emulated machine sometimes hang or oops on their
# own (QEMU -accel kvm -cpu qemu64 there does the same under a CPU-bound
# guest), so a boot that dies before its check program says anything is
# tried once more, and the line says so.  A check that fails is final.
boot() {
	boot_once "$@"
	first=
	if [ -n "$why" ] && [ "$reported" = 0 ]; then
		first="; the first attempt failed before the check ran: $why"
		echo "    (booting $1 again)"
		boot_once "$@"
	fi
	if [ -n "$why" ]; then
		echo "FAIL boot-$1: $why$first"
	else
		echo "PASS boot-$1: $times (emulated time)$first"
	fi
}

# While a boot runs, gmemctl stats --pid must see its RAM.
stats_check() {
	file=/tmp/gmem-stats/$1.stats
	for _ in $(seq 100); do
		[ -s "$file" ] && break
		sleep 0.1
	done
	stats_done=1
	if ! [ -x ./gmemctl ]; then
		echo "SKIP stats-export: no gmemctl in this build"
	elif ./gmemctl stats --pid "$1" --dir /tmp/gmem-stats >/tmp/stats.out 2>&1 &&
		grep -q '^GmemSize: *524288 kB' /tmp/stats.out &&
		grep -q '^GmemGuestMemfd: *[1-9][0-9]* kB' /tmp/stats.out; then
		echo "PASS stats-export: gmemctl stats --pid $1 shows $(grep -E '^Gmem(Size|GuestMemfd):' /tmp/stats.out | tr -s ' ' | paste -sd, -)"
	else
		echo "FAIL stats-export: gmemctl stats --pid $1 said: $(head -c 300 /tmp/stats.out)"
	fi
}

inside() {
	KERNEL=$1
	stats_done=
	if ! [ -c /dev/kvm ]; then
		echo "SKIP boot: the emulated machine has no /dev/kvm"
		return 0
	fi
	# 2 MiB pages for the 512 MiB hugetlb boot; the 1 GiB page was
	# reserved on the machine's command line.
	echo 260 >/proc/sys/vm/nr_hugepages
	boot guest_memfd "$APPEND $WINDOW" -m 512M
	[ "$BOOTS" = quick ] ||
		boot guest_memfd-prealloc "$APPEND $WINDOW" -m 512M --prealloc
	boot memfd-interleave "$APPEND $WINDOW" -m 512M \
		--mem-backend memfd --prealloc --policy interleave --host-nodes 0-1
	boot hugetlb-2M "$APPEND $WINDOW" -m 512M --mem-backend hugetlb \
		--hugepage-size 2M
	if [ "$BOOTS" = quick ]; then
		:
	elif [ "$(cat /sys/kernel/mm/hugepages/hugepages-1048576kB/free_hugepages 2>/dev/null)" = 1 ]; then
		boot hugetlb-1G "$APPEND" -m 1G --mem-backend hugetlb \
			--hugepage-size 1G
	else
		echo "SKIP boot-hugetlb-1G: no free 1 GiB page in the emulated machine"
	fi
}

if [ "${1:-}" = --inside ]; then
	VMM_BOOT_TIMEOUT=$3
	BOOTS=${4:-all}
	inside "$2"
	exit 0
fi

# ---- on the host ----------------------------------------------------------
build=${1:-build}
here=$(cd "$(dirname "$0")/.." && pwd)
vmm=$build/gmem-vmm
check=$build/vmm/gmem-check
initramfs=$build/vmm/initramfs.cpio
# Where tests/vm keeps its kernel (see tests/vm/setup.sh).
if [ "$(id -u)" = 0 ]; then
	cache=${GMEM_VM_CACHE:-/var/cache/gmem-vm}
else
	cache=${GMEM_VM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gmem-vm}
fi
suite=${GMEM_VM_KERNEL:-trixie-backports}
cached_kernel() { ls "$cache/$suite"/boot/vmlinuz-* 2>/dev/null | head -n 1; }

for f in "$vmm" "$check"; do
	[ -x "$f" ] || { echo "FAIL boot: $f is missing (run make first)"; exit 1; }
done
kernel=${VMM_KERNEL:-$(cached_kernel)}
if [ -z "$kernel" ]; then
	# The emulated machine needs this set-up anyway; it is idempotent.
	"$here/tests/vm/setup.sh" >&2 && kernel=$(cached_kernel)
fi
if [ -z "$kernel" ] || ! [ -f "$kernel" ]; then
	echo "SKIP boot: no kernel; tests/vm/setup.sh could not fetch Debian's"
	exit 0
fi
# The test guest's pmem drivers come from the same kernel's module tree.
if ! [ -f "$initramfs" ]; then
	krel=${kernel##*/vmlinuz-}
	sh "$here/vmm/mkinitramfs.sh" "$initramfs" "$check" \
		"$cache/$suite/lib/modules/$krel" ||
		{ echo "FAIL boot: cannot build $initramfs"; exit 1; }
fi
# run-in-vm.sh copies paths as they are: give it the file, not a link.
kernel=$(readlink -f "$kernel")
tmp=$(mktemp -d /tmp/gmem-boot.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fails=0

# expect NAME WANT-TEXT gmem-vmm ARGS... : must exit 2 saying WANT-TEXT.
expect() {
	name=$1 want=$2
	shift 2
	"$vmm" "$@" >"$tmp/out" 2>&1
	rc=$?
	if [ "$rc" = 2 ] && grep -q -- "$want" "$tmp/out"; then
		echo "PASS bad-input-$name: $(head -n 1 "$tmp/out")"
	else
		echo "FAIL bad-input-$name: status $rc, said: $(head -c 200 "$tmp/out")"
		fails=$((fails + 1))
	fi
}

head -c 1048576 "$kernel" >"$tmp/truncated"
cp "$kernel" "$tmp/corrupt"
printf 'XXXX' | dd of="$tmp/corrupt" bs=1 seek=514 conv=notrunc 2>/dev/null
truncate -s 40M "$tmp/big-initrd"
expect missing-kernel "No such file" --kernel "$tmp/none"
expect corrupt-kernel "not a bzImage" --kernel "$tmp/corrupt"
expect truncated-kernel "truncated" --kernel "$tmp/truncated"
expect not-a-kernel "not a bzImage" --kernel "$initramfs"
expect small-ram "too little" --kernel "$kernel" -m 64M
expect initrd-too-big "and the initrd" --kernel "$kernel" -m 100M \
	--initrd "$tmp/big-initrd"
expect long-cmdline "takes at most" --kernel "$kernel" \
	--append "$(head -c 3000 /dev/zero | tr '\0' x)"
expect bad-backend "use guest_memfd" --kernel "$kernel" --mem-backend tmpfs
expect bad-size "not a size" --kernel "$kernel" -m 12Q
expect bad-option "unknown option" --kernel "$kernel" --smp 4
expect lone-policy "go together" --kernel "$kernel" --policy bind

# The boots: one emulated machine as tests/run-tests.sh makes it, with two
# NUMA nodes and a 1 GiB page (which needs a node of more than 2 GiB).
dir=$tmp/run
mkdir -p "$dir"
cp "$vmm" "$initramfs" "$0" "$dir/"
[ -x "$build/gmemctl" ] && cp "$build/gmemctl" "$dir/"
start=$(date +%s)
# One emulated CPU: with two, nested guests there oops in interrupt entry
# (a garbage per-CPU base) or hang, under gmem-vmm and QEMU alike, within
# seconds of CPU-bound work; with one, none did.
GMEM_VM_SMP=${GMEM_VM_SMP:-1} \
GMEM_VM_MEM=${GMEM_VM_MEM:-6G} GMEM_VM_TIMEOUT=${GMEM_VM_TIMEOUT:-600} \
GMEM_VM_APPEND=${GMEM_VM_APPEND-hugepagesz=1G hugepages=1} \
GMEM_VM_QEMU_ARGS=${GMEM_VM_QEMU_ARGS-"-object memory-backend-ram,id=m0,size=3G -object memory-backend-ram,id=m1,size=3G -numa node,nodeid=0,memdev=m0 -numa node,nodeid=1,memdev=m1"} \
GMEM_VM_EXTRA="$kernel" \
	"$here/tests/vm/run-in-vm.sh" "$dir" -- sh boot-test.sh --inside "$kernel" "${VMM_BOOT_TIMEOUT:-40}" \
	"${VMM_BOOTS:-all}" >"$tmp/vm.log"
rc=$?
# The emulated machine's own KVM complains about the guest's probe of
# AMD's legacy performance counters; say whose line it is.
sed 's/^\(\[ *[0-9.]*\] kvm \[\)/    emulated machine: \1/' "$tmp/vm.log"
if [ "$rc" != 0 ] || ! grep -q '^PASS boot-\|^FAIL boot-\|^SKIP boot' "$tmp/vm.log"; then
	echo "FAIL boot: the emulated machine failed (tests/vm/run-in-vm.sh status $rc)"
	fails=$((fails + 1))
fi
fails=$((fails + $(grep -c '^FAIL ' "$tmp/vm.log")))
echo "boot test: $(($(date +%s) - start)) s for the emulated machine's run, its own boot included"
[ "$fails" = 0 ]
