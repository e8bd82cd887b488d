#!/bin/bash
# setup.sh - idempotently install QEMU/busybox, unpack a Debian kernel (with kvm_amd) and build its extra modules for run-in-vm.sh.
#
# The kernel is downloaded with apt-get and unpacked into a cache, not
# installed, so no initramfs/bootloader hooks run on this host.
#
# Env:
#   GMEM_VM_KERNEL      Debian suite to take the kernel from (default
#                       trixie-backports: Linux 7.x, guest_memfd usable on
#                       default VMs).  "bookworm" gives Debian 12's 6.1 (no
#                       guest_memfd).  Suites other than the host's own are
#                       read through a private apt list under the cache; the
#                       host's apt configuration is not changed.
#   GMEM_VM_KERNEL_PKG  kernel metapackage (default linux-image-cloud-amd64;
#                       linux-image-amd64 also works, it is 3x bigger)
#   GMEM_VM_CACHE       default /var/cache/gmem-vm as root, else ~/.cache/gmem-vm
#   GMEM_VM_MIRROR      Debian mirror for private lists (default: the one the
#                       host's apt already uses for its own suite)
#   GMEM_VM_REFRESH=1   re-resolve the kernel even if one is cached
# Then build-modules.sh builds (once, cached) kvm with private memory and
# iommufd for that kernel; see its header for its knobs.
# If the requested suite cannot be fetched, falls back to the host's suite.
set -eu

export DEBIAN_FRONTEND=noninteractive

if [ "$(id -u)" = 0 ]; then
	SUDO=
	CACHE=${GMEM_VM_CACHE:-/var/cache/gmem-vm}
else
	SUDO=sudo
	CACHE=${GMEM_VM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gmem-vm}
fi
SUITE=${GMEM_VM_KERNEL:-trixie-backports}
KPKG=${GMEM_VM_KERNEL_PKG:-linux-image-cloud-amd64}
HOST_SUITE=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")

log() { echo "setup.sh: $*" >&2; }

# Host tools: qemu (TCG), a static busybox for the initramfs, cpio to pack it,
# kmod for depmod, xz/zstd for compressed modules, gcc + libc6-dev to build
# the static smoke test.
PKGS="qemu-system-x86 busybox-static cpio kmod xz-utils zstd gcc libc6-dev"

missing=
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
		missing="$missing $p"
	fi
done

kernel_ok() { # SUITE
	local d=$CACHE/$1
	[ -L "$d" ] &&
		ls "$d"/boot/vmlinuz-* >/dev/null 2>&1 &&
		[ -n "$(find "$d/lib/modules" -name 'kvm-amd.ko*' 2>/dev/null)" ] &&
		ls "$d"/lib/modules/*/modules.dep >/dev/null 2>&1
}

here=$(cd "$(dirname "$0")" && pwd -P)

# The kernel's modules rebuilt with private memory and iommufd (cached; a
# failure is recorded there with its reason, see build-modules.sh).
build_modules() {
	GMEM_VM_KERNEL=$SUITE GMEM_VM_CACHE=$CACHE "$here/build-modules.sh" ||
		{ log "build-modules.sh failed unexpectedly; see its messages above"; exit 1; }
}

if [ -z "$missing" ] && [ "${GMEM_VM_REFRESH:-0}" != 1 ] && kernel_ok "$SUITE"; then
	build_modules
	log "nothing to do (kernel: $(readlink "$CACHE/$SUITE"))"
	exit 0
fi

apt_updated=0
if [ -n "$missing" ]; then
	log "apt-get update"
	$SUDO apt-get update -qq
	apt_updated=1
	log "installing:$missing"
	# shellcheck disable=SC2086
	$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

$SUDO mkdir -p "$CACHE"
[ -z "$SUDO" ] || $SUDO chown "$(id -u):$(id -g)" "$CACHE"

# Print apt options that read SUITE's package lists (private lists for
# suites other than the host's own), refreshing those lists.
apt_opts_for() { # SUITE
	local suite=$1 dir mirror
	if [ "$suite" = "$HOST_SUITE" ]; then
		if [ "$apt_updated" = 0 ]; then
			log "apt-get update"
			$SUDO apt-get update -qq >&2
			apt_updated=1
		fi
		return 0
	fi
	mirror=${GMEM_VM_MIRROR:-$(apt-cache policy 2>/dev/null |
		awk -v s="$HOST_SUITE/main" '$3 == s && $2 ~ /^https?:/ { print $2; exit }')}
	[ -n "$mirror" ] || { log "cannot tell which Debian mirror apt uses; set GMEM_VM_MIRROR"; return 1; }
	dir=$CACHE/apt/$suite
	mkdir -p "$dir/lists/partial" "$dir/archives/partial"
	echo "deb $mirror $suite main" >"$dir/sources.list"
	apt_opts_base "$dir"
	log "apt-get update ($suite, private list)"
	# shellcheck disable=SC2046
	apt-get $(apt_opts_base "$dir") update -qq >&2
}
apt_opts_base() { # DIR
	echo "-o Dir::Etc::SourceList=$1/sources.list -o Dir::Etc::SourceParts=/nonexistent" \
		"-o Dir::State::Lists=$1/lists -o Dir::Cache=$1 -o APT::Sandbox::User=root"
}

fetch_kernel() { # SUITE
	local suite=$1 opts img abi pkgs dl dest krel
	opts=$(apt_opts_for "$suite") || return 1
	# The metapackage depends on the versioned image, e.g.
	# linux-image-7.3.4+deb13-cloud-amd64 (6.1: linux-image-6.1.0-56-cloud-amd64).
	# shellcheck disable=SC2086
	img=$(apt-cache $opts depends --important "$KPKG" 2>/dev/null |
		awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
	[ -n "$img" ] || { log "cannot resolve $KPKG in $suite"; return 1; }
	if [ "${GMEM_VM_REFRESH:-0}" != 1 ] && [ "$(readlink "$CACHE/$suite" 2>/dev/null)" = "unpacked/$img" ] &&
		kernel_ok "$suite"; then
		log "kernel $img already unpacked"
		return 0
	fi
	# Newer Debian kernels split the image into linux-{base,binary,modules}-ABI.
	abi=${img#linux-image-}
	# shellcheck disable=SC2086
	pkgs="$img $(apt-cache $opts depends --important "$img" 2>/dev/null |
		awk -v abi="$abi" '/Depends: linux-[a-z]+-/ && substr($2, length($2) - length(abi) + 1) == abi { print $2 }' |
		sort -u | tr '\n' ' ')"
	log "downloading $pkgs($suite)"
	dl=$(mktemp -d /tmp/gmem-vm-dl.XXXXXX)
	# shellcheck disable=SC2086
	if ! (cd "$dl" && apt-get $opts download -qq -o APT::Sandbox::User=root $pkgs); then
		rm -rf "$dl"
		return 1
	fi
	dest=$CACHE/unpacked/$img
	rm -rf "$dest.tmp"
	mkdir -p "$dest.tmp"
	for deb in "$dl"/*.deb; do dpkg-deb -x "$deb" "$dest.tmp"; done
	rm -rf "$dl"
	# Normalise to lib/modules/KREL and boot/vmlinuz-KREL.
	if [ ! -d "$dest.tmp/lib/modules" ] && [ -d "$dest.tmp/usr/lib/modules" ]; then
		mkdir -p "$dest.tmp/lib"
		mv "$dest.tmp/usr/lib/modules" "$dest.tmp/lib/"
	fi
	krel=$(ls "$dest.tmp/lib/modules" | head -n 1)
	mkdir -p "$dest.tmp/boot"
	if [ ! -e "$dest.tmp/boot/vmlinuz-$krel" ] && [ -f "$dest.tmp/lib/modules/$krel/vmlinuz" ]; then
		ln -s "../lib/modules/$krel/vmlinuz" "$dest.tmp/boot/vmlinuz-$krel"
	fi
	rm -rf "$dest.tmp/usr/share"
	depmod -b "$dest.tmp" "$krel"
	rm -rf "$dest"
	mv "$dest.tmp" "$dest"
	ln -sfn "unpacked/$img" "$CACHE/$suite"
	kernel_ok "$suite" || { log "unpacked $img looks incomplete"; return 1; }
	# Drop unpacked kernels no suite link points at any more.
	for d in "$CACHE"/unpacked/*; do
		[ -d "$d" ] || continue
		if ! find "$CACHE" -maxdepth 1 -type l -lname "unpacked/$(basename "$d")" | grep -q .; then
			rm -rf "$d"
		fi
	done
	log "kernel $img ready as $CACHE/$suite"
}

if ! fetch_kernel "$SUITE"; then
	if [ "$SUITE" = "$HOST_SUITE" ]; then
		log "could not fetch a kernel"
		exit 1
	fi
	log "warning: could not fetch a kernel from $SUITE; falling back to $HOST_SUITE"
	fetch_kernel "$HOST_SUITE" || { log "could not fetch a kernel"; exit 1; }
	SUITE=$HOST_SUITE
fi
build_modules
