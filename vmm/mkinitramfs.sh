#!/bin/sh
# SPDX-License-Identifier: MIT
# mkinitramfs.sh OUT CHECK MODDIR - build the test guest's initramfs: static
# busybox, gmem-check, /init and the pmem drivers (nd_e820, nd_pmem and what
# they need) from the kernel module tree MODDIR, as an uncompressed cpio.
set -eu
out=$1 check=$2 moddir=$3
busybox=${BUSYBOX:-/bin/busybox}
here=$(cd "$(dirname "$0")" && pwd)

[ -f "$moddir/modules.dep" ] || {
	echo "mkinitramfs.sh: no kernel module tree at $moddir (run tests/vm/setup.sh)" >&2
	exit 1
}
if ldd "$busybox" >/dev/null 2>&1; then
	echo "mkinitramfs.sh: $busybox is not static; install busybox-static" >&2
	exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
root=$tmp/root
mkdir -p "$root/bin" "$root/etc" "$root/proc" "$root/sys" "$root/dev" \
	"$root/tmp" "$root/lib/modules"
cp "$busybox" "$root/bin/busybox"
cp "$check" "$root/bin/gmem-check"
cp "$here/guest/init" "$root/init"
chmod 755 "$root/init"

# modules.dep lists each module's dependencies, the nearest first: load
# them in reverse, then the module, each once.
: >"$root/etc/modules"
for want in nd_pmem nd_e820; do
	line=$(grep -E "(^|/)$want\.ko[^:]*:" "$moddir/modules.dep") || {
		echo "mkinitramfs.sh: $want is not in $moddir" >&2
		exit 1
	}
	order=
	for dep in ${line#*:}; do order="$dep $order"; done
	for path in $order ${line%%:*}; do
		ko=$(basename "$path")
		ko=${ko%.xz}
		ko=${ko%.zst}
		ko=${ko%.gz}
		grep -qx "$ko" "$root/etc/modules" && continue
		# busybox insmod wants the plain .ko.
		case $path in
		*.xz) xz -dc "$moddir/$path" ;;
		*.zst) zstd -qdc "$moddir/$path" ;;
		*.gz) gzip -dc "$moddir/$path" ;;
		*) cat "$moddir/$path" ;;
		esac >"$root/lib/modules/$ko"
		echo "$ko" >>"$root/etc/modules"
	done
done

(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) >"$out.tmp"
mv "$out.tmp" "$out"
