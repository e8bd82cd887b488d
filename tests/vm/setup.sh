#!/bin/bash
# setup.sh - idempotently install QEMU/busybox and unpack a Debian kernel (with kvm_amd) for run-in-vm.sh.
#
# Env:
#   GMEM_VM_CACHE       where the unpacked kernel lives
#                       (default /var/cache/gmem-vm as root, else ~/.cache/gmem-vm)
#   GMEM_VM_KERNEL_PKG  Debian kernel metapackage (default linux-image-cloud-amd64;
#                       linux-image-amd64 also works, it is just bigger)
#   GMEM_VM_REFRESH=1   re-resolve the kernel package even if one is cached
set -eu

export DEBIAN_FRONTEND=noninteractive

if [ "$(id -u)" = 0 ]; then
	SUDO=
	CACHE=${GMEM_VM_CACHE:-/var/cache/gmem-vm}
else
	SUDO=sudo
	CACHE=${GMEM_VM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gmem-vm}
fi
KPKG=${GMEM_VM_KERNEL_PKG:-linux-image-cloud-amd64}

log() { echo "setup.sh: $*" >&2; }

# Host tools: qemu (TCG), a static busybox for the initramfs, cpio to pack it,
# kmod for depmod/modinfo, gcc + libc6-dev to build the (static) smoke test.
PKGS="qemu-system-x86 busybox-static cpio kmod gcc libc6-dev"

missing=
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
		missing="$missing $p"
	fi
done

kernel_ok() {
	[ -L "$CACHE/current" ] &&
		ls "$CACHE"/current/boot/vmlinuz-* >/dev/null 2>&1 &&
		[ -n "$(find "$CACHE/current/lib/modules" -name 'kvm-amd.ko*' 2>/dev/null)" ] &&
		ls "$CACHE"/current/lib/modules/*/modules.dep >/dev/null 2>&1
}

need_kernel=0
if [ "${GMEM_VM_REFRESH:-0}" = 1 ] || ! kernel_ok; then
	need_kernel=1
fi

if [ -z "$missing" ] && [ "$need_kernel" = 0 ]; then
	log "nothing to do (kernel: $(readlink "$CACHE/current"))"
	exit 0
fi

log "apt-get update"
$SUDO apt-get update -qq

if [ -n "$missing" ]; then
	log "installing:$missing"
	# shellcheck disable=SC2086
	$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

if [ "$need_kernel" = 1 ]; then
	# The metapackage depends on the versioned image, e.g. linux-image-6.1.0-56-cloud-amd64.
	img=$(apt-cache depends --important "$KPKG" 2>/dev/null |
		awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
	if [ -z "$img" ]; then
		log "cannot resolve the kernel image behind $KPKG"
		exit 1
	fi
	if [ -L "$CACHE/current" ] && [ "$(readlink "$CACHE/current")" = "$img" ] && kernel_ok; then
		log "kernel $img already unpacked"
	else
		# Download and unpack rather than install: installing a kernel would
		# run initramfs/bootloader hooks on this host, which we do not want.
		log "downloading and unpacking $img into $CACHE"
		$SUDO mkdir -p "$CACHE"
		[ -z "$SUDO" ] || $SUDO chown "$(id -u):$(id -g)" "$CACHE"
		dl=$(mktemp -d /tmp/gmem-vm-dl.XXXXXX)
		trap 'rm -rf "$dl"' EXIT
		(cd "$dl" && apt-get download -qq -o APT::Sandbox::User=root "$img")
		rm -rf "$CACHE/$img.tmp"
		dpkg-deb -x "$dl"/"$img"_*.deb "$CACHE/$img.tmp"
		krel=$(ls "$CACHE/$img.tmp/lib/modules")
		depmod -b "$CACHE/$img.tmp" "$krel"
		rm -rf "${CACHE:?}/$img"
		mv "$CACHE/$img.tmp" "$CACHE/$img"
		ln -sfn "$img" "$CACHE/current"
		# Drop older unpacked kernels.
		for d in "$CACHE"/linux-image-*; do
			if [ -d "$d" ] && [ "$(basename "$d")" != "$img" ]; then
				rm -rf "$d"
			fi
		done
	fi
fi

kernel_ok || { log "kernel unpack looks incomplete in $CACHE/current"; exit 1; }
log "ready (kernel: $(readlink "$CACHE/current"))"
