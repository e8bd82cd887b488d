#!/bin/bash
# SPDX-License-Identifier: MIT
# smoke.sh - build the smoke programs (static) and run them in one boot of the emulated machine; exits non-zero if any failed.
#
# Usage: tests/vm/smoke.sh [kvm] [private] [dma]     (default: all three)
#   kvm      kvm-smoke.c: /dev/kvm works, real-mode, long-mode and guest_memfd guests
#   private  private-smoke.c: private memory on a type-1 VM (rebuilt kvm.ko)
#   dma      dma-smoke.c: edu DMA through VFIO type1 and iommufd (GMEM_VM_IOMMU=1)
# Each program prints PASS/FAIL/SKIP lines and a closing count.
set -eu
here=$(cd "$(dirname "$0")" && pwd -P)
progs=${*:-kvm private dma}
for p in $progs; do
	case $p in
	kvm | private | dma) ;;
	*) echo "smoke.sh: unknown smoke program '$p' (kvm, private, dma)" >&2; exit 2 ;;
	esac
done
out=$(mktemp -d /tmp/gmem-vm-smoke.XXXXXX)
trap 'rm -rf "$out"' EXIT
"$here/setup.sh"
cmd=
for p in $progs; do
	${CC:-gcc} -std=c11 -O2 -Wall -Wextra -static -o "$out/$p-smoke" "$here/$p-smoke.c" ||
		{ echo "smoke.sh: building $p-smoke.c failed" >&2; exit 1; }
	cmd="$cmd ./$p-smoke || rc=1;"
done
set +e
"$here/run-in-vm.sh" "$out" -- sh -c "rc=0; $cmd exit \$rc"
exit $?
