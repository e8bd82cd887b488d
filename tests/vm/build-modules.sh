#!/bin/bash
# SPDX-License-Identifier: MIT
# build-modules.sh - build and cache the emulated machine's KVM modules with private memory, and iommufd with a matching VFIO.
#
# Usage: tests/vm/build-modules.sh        (setup.sh calls it; idempotent)
#
# Debian's kernels lack CONFIG_KVM_SW_PROTECTED_VM (private memory without
# SEV/TDX) and CONFIG_IOMMUFD.  Both only need modules rebuilt: MODVERSIONS
# is off, so modules built from the same source and config with the option
# turned on load into the stock kernel (unsigned, which only taints).
#
# The first run downloads linux-source and the kernel's headers, builds
#   kvm.ko, kvm-amd.ko                    with KVM_SW_PROTECTED_VM=y
#   iommufd.ko, vfio.ko, vfio_iommu_type1.ko, vfio-pci-core.ko, vfio-pci.ko
#                                         with IOMMUFD=m, VFIO_DEVICE_CDEV=y
# (1.5-2 minutes on 2 idle cores) and keeps only the stripped, xz-compressed
# modules (no debug info, no module BTF).  Later runs only look at the cache.  Layout, keyed by the kernel
# release KREL of the cached kernel:
#   CACHE/modules/KREL/features     private=yes|no (reason), iommufd=yes|no (reason)
#   CACHE/modules/KREL/ko/...       the rebuilt modules, at their tree paths
#   CACHE/modules/KREL/tree-kvm/lib/modules/KREL   stock tree + rebuilt kvm
#   CACHE/modules/KREL/tree-all/lib/modules/KREL   ... + iommufd and its vfio
#   CACHE/modules/KREL/build.log    the build's output (kept on failure)
# The trees are hard-linked copies of the stock module tree with depmod run.
# A feature that cannot be built is recorded as "no (reason)" and not tried
# again until GMEM_VM_REBUILD_MODULES=1; run-in-vm.sh shows the reason inside
# the machine so tests can fail with it.
#
# Env:
#   GMEM_VM_KERNEL, GMEM_VM_CACHE   as in setup.sh
#   GMEM_VM_REBUILD_MODULES=1       build again even if the cache has a result
#   GMEM_VM_BUILD_IOMMUFD=0         do not try iommufd (records iommufd=no)
#   GMEM_VM_BUILD_JOBS=2            make -j
#   GMEM_VM_BUILD_DIR=/var/tmp      where the ~1 GB build tree goes (removed after)
set -eu

export DEBIAN_FRONTEND=noninteractive LC_ALL=C
me=build-modules.sh
log() { echo "$me: $*" >&2; }
die() { log "error: $*"; exit 1; }

if [ "$(id -u)" = 0 ]; then
	SUDO=
	CACHE=${GMEM_VM_CACHE:-/var/cache/gmem-vm}
else
	SUDO=sudo
	CACHE=${GMEM_VM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gmem-vm}
fi
SUITE=${GMEM_VM_KERNEL:-trixie-backports}
JOBS=${GMEM_VM_BUILD_JOBS:-2}
HOST_SUITE=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")

kroot=$CACHE/$SUITE
[ -L "$kroot" ] || die "no kernel cached for $SUITE in $CACHE; run tests/vm/setup.sh first"
krel=$(ls "$kroot/lib/modules" 2>/dev/null | head -n 1)
stock=$kroot/lib/modules/$krel
# Newer Debian kernels ship their config next to the modules, older ones in /boot.
kconfig=$stock/config
[ -f "$kconfig" ] || kconfig=$kroot/boot/config-$krel
[ -n "$krel" ] && [ -f "$stock/modules.dep" ] && [ -f "$kconfig" ] ||
	die "the kernel in $kroot is incomplete (no modules.dep or config); run tests/vm/setup.sh with GMEM_VM_REFRESH=1"

out=$CACHE/modules/$krel

# The fast path: a finished result (good or failed) is there.
if [ "${GMEM_VM_REBUILD_MODULES:-0}" != 1 ] && [ -f "$out/features" ]; then
	exit 0
fi

mkdir -p "$CACHE/modules"
# Several worktrees may run setup at once: one builds, the others wait.
exec 9>"$CACHE/modules/.lock"
if ! flock -n 9; then
	log "another build of the modules is running; waiting for it"
	flock 9
	if [ "${GMEM_VM_REBUILD_MODULES:-0}" != 1 ] && [ -f "$out/features" ]; then
		exit 0
	fi
fi

started=$(date +%s)
work=
tmpout=$out.tmp.$$
cleanup() {
	[ -z "$work" ] || rm -rf "$work"
	rm -rf "$tmpout"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
rm -rf "$tmpout"
mkdir -p "$tmpout/ko"
blog=$tmpout/build.log
: >"$blog"

private_st='' iommufd_st=''

# Write the result and publish it atomically.  Reasons go into the features
# file verbatim; run-in-vm.sh copies it into the machine.
finish() {
	local d
	{
		echo "# modules rebuilt by tests/vm/build-modules.sh for $krel on $(date -u +%Y-%m-%dT%H:%M:%SZ)"
		echo "private=$private_st"
		echo "iommufd=$iommufd_st"
		echo "build_seconds=$(($(date +%s) - started))"
	} >"$tmpout/features"
	# Swap, so a reader sees the old or the new result, briefly neither.
	[ ! -e "$out" ] || mv "$out" "$out.old.$$"
	mv "$tmpout" "$out"
	rm -rf "$out.old.$$"
	# Drop results for kernels no longer cached.
	for d in "$CACHE"/modules/*/; do
		d=${d%/}
		case $d in *.tmp.* | *.old.*) continue ;; esac
		[ -d "$d" ] || continue
		if ! ls -d "$CACHE"/unpacked/*/lib/modules/"$(basename "$d")" >/dev/null 2>&1; then
			rm -rf "$d"
		fi
	done
	log "$(grep -v '^#' "$out/features" | tr '\n' ' ')"
}

# Record that nothing could be built, with the reason, and stop.
give_up() { # REASON
	log "cannot build the modules: $1 (recorded in $out/features; GMEM_VM_REBUILD_MODULES=1 tries again)"
	[ -n "$private_st" ] || private_st="no ($1)"
	[ -n "$iommufd_st" ] || iommufd_st="no ($1)"
	finish
	exit 0
}

# --- what this kernel needs ------------------------------------------------
# "# CONFIG_X is not set" is written for every option the kernel's Kconfig
# offers; no line at all means the option does not exist in this version.
cfg_state() { # OPTION -> y | m | off | absent
	if grep -q "^CONFIG_$1=y" "$kconfig"; then echo y
	elif grep -q "^CONFIG_$1=m" "$kconfig"; then echo m
	elif grep -q "^# CONFIG_$1 is not set" "$kconfig"; then echo off
	else echo absent
	fi
}
want_kvm=1 want_iommufd=1
case $(cfg_state KVM_SW_PROTECTED_VM) in
y) private_st="yes (stock kernel)"; want_kvm=0 ;;
absent) private_st="no (kernel $krel has no CONFIG_KVM_SW_PROTECTED_VM; needs 6.8 or later)"; want_kvm=0 ;;
esac
case $(cfg_state IOMMUFD) in
y | m) iommufd_st="yes (stock kernel)"; want_iommufd=0 ;;
absent) iommufd_st="no (kernel $krel has no CONFIG_IOMMUFD)"; want_iommufd=0 ;;
esac
if [ "$(cfg_state KVM_AMD)" != m ]; then
	private_st=${private_st:-"no (kvm_amd is not a module in $krel)"}
	want_kvm=0
fi
if [ "${GMEM_VM_BUILD_IOMMUFD:-1}" = 0 ] && [ "$want_iommufd" = 1 ]; then
	iommufd_st="no (not built: GMEM_VM_BUILD_IOMMUFD=0)"
	want_iommufd=0
fi
[ "$want_kvm" = 1 ] || [ "$want_iommufd" = 1 ] || give_up "nothing to rebuild for $krel"

# --- host tools --------------------------------------------------------------
# bison/flex for Kconfig, libelf-dev for objtool, dwarves (pahole) for module
# BTF, libssl-dev for the sign-file host tool, bc for generated headers.
PKGS="make gcc libc6-dev bison flex libelf-dev dwarves libssl-dev bc xz-utils kmod binutils"
missing=
for p in $PKGS; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' ||
		missing="$missing $p"
done
if [ -n "$missing" ]; then
	log "installing build tools:$missing"
	# shellcheck disable=SC2086
	if ! { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends $missing; } >>"$blog" 2>&1; then
		give_up "apt-get install$missing failed (see $out/build.log)"
	fi
fi

# --- packages: source, headers, kbuild, from the kernel's own suite ----------
if [ "$SUITE" = "$HOST_SUITE" ] || [ ! -f "$CACHE/apt/$SUITE/sources.list" ]; then
	aptopts=""
else
	d=$CACHE/apt/$SUITE
	aptopts="-o Dir::Etc::SourceList=$d/sources.list -o Dir::Etc::SourceParts=/nonexistent"
	aptopts="$aptopts -o Dir::State::Lists=$d/lists -o Dir::Cache=$d -o APT::Sandbox::User=root"
fi
# shellcheck disable=SC2086
apt_cache() { apt-cache $aptopts "$@" 2>/dev/null; }

hdr=linux-headers-$krel
# The exact version of the cached kernel's packages; source must match it.
ver=$(apt_cache show "linux-image-$krel" | awk '/^Version:/ { print $2; exit }')
if [ -z "$ver" ]; then
	# The private list may be stale; refresh it once (setup.sh keeps it).
	# shellcheck disable=SC2086
	apt-get $aptopts update -qq >>"$blog" 2>&1 || true
	ver=$(apt_cache show "linux-image-$krel" | awk '/^Version:/ { print $2; exit }')
fi
[ -n "$ver" ] || give_up "linux-image-$krel is not in the $SUITE package lists any more (run setup.sh with GMEM_VM_REFRESH=1)"
# linux-headers-KREL depends on linux-headers-ABI-common and linux-kbuild-ABI.
deps=$(apt_cache depends --important "$hdr=$ver" |
	awk '/Depends: linux-(headers-.*-common|kbuild-)/ { print $2 }' | sort -u | tr '\n' ' ')
mm=$(echo "$krel" | sed -n 's/^\([0-9]*\.[0-9]*\).*/\1/p')
src=linux-source-$mm
case $deps in *common*kbuild* | *kbuild*common*) ;; *)
	give_up "cannot tell the common headers and kbuild packages of $hdr=$ver in $SUITE" ;;
esac
pkgs="$hdr=$ver $src=$ver"
for p in $deps; do pkgs="$pkgs $p=$ver"; done

need_mb=1500
work_parent=${GMEM_VM_BUILD_DIR:-/var/tmp}
avail_mb=$(df -Pm "$work_parent" | awk 'NR == 2 { print $4 }')
if [ "${avail_mb:-0}" -lt "$need_mb" ]; then
	give_up "only ${avail_mb:-?} MB free in $work_parent, the build needs about $need_mb MB (set GMEM_VM_BUILD_DIR)"
fi
work=$(mktemp -d "$work_parent/gmem-kbuild.XXXXXX")

log "downloading $pkgs"
# shellcheck disable=SC2086
if ! (cd "$work" && apt-get $aptopts download -qq -o APT::Sandbox::User=root $pkgs) >>"$blog" 2>&1; then
	give_up "apt-get download $pkgs from $SUITE failed (see $out/build.log)"
fi
for deb in "$work"/*.deb; do
	dpkg-deb -x "$deb" "$work/pkg" || give_up "dpkg-deb -x $(basename "$deb") failed"
done
rm -f "$work"/*.deb
tarball=$(ls "$work"/pkg/usr/src/linux-source-*.tar.* 2>/dev/null | head -n 1)
[ -n "$tarball" ] || give_up "$src has no source tarball"
hdir=$work/pkg/usr/src/$hdr
[ -f "$hdir/.config" ] && [ -f "$hdir/Module.symvers" ] || give_up "$hdr lacks .config or Module.symvers"

log "unpacking $(basename "$tarball") (t=$(($(date +%s) - started))s)"
# Outside the directories built below, only Kconfig files, Makefiles, the
# top-level headers, scripts, objtool and x86 are needed; leaving out other
# sources (drivers except iommu and vfio, other architectures, sound, fs,
# net, docs, selftests) writes a third of the tree, and deleting it is
# quicker too.  Patterns match across "/" (GNU tar's default for excludes).
mkdir -p "$work/src"
pfx=$(basename "$tarball"); pfx=${pfx%%.tar*}
set --
for pat in "drivers/[!iv]*.[ch]" "drivers/i[!o]*.[ch]" "drivers/v[!f]*.[ch]" \
	"arch/[!x]*.[chS]" "arch/xtensa" "sound/*.[ch]" "fs/*.[ch]" "net/*.[ch]" \
	"Documentation/*.rst" "Documentation/*.yaml" "Documentation/*.txt" \
	"tools/testing" "tools/perf" "samples/*.[ch]" "drivers/gpu/drm/amd/include"; do
	set -- "$@" --exclude="$pfx/$pat"
done
if ! xz -T"$JOBS" -dc "$tarball" | tar -x -C "$work/src" "$@"; then
	give_up "unpacking $(basename "$tarball") failed (disk full?)"
fi
rm -f "$tarball"
ksrc=$work/src/$pfx
[ -f "$ksrc/Makefile" ] || give_up "$(basename "$tarball") did not unpack to $pfx/"

# -g0: no debug info.  The modules are stripped anyway, and compiling
# without -g is about a fifth faster.  (Turning DEBUG_INFO off in the config
# instead would change struct module, whose BTF fields depend on it, and the
# kernel would refuse the modules as "invalid module format".)
kmake() { make -C "$ksrc" -j"$JOBS" KERNELRELEASE="$krel" KCFLAGS=-g0 "$@"; }

# --- configure: the kernel's own config plus the two options ------------------
cp "$hdir/.config" "$ksrc/.config"
opts=
[ "$want_kvm" = 1 ] && opts="$opts --enable KVM_SW_PROTECTED_VM"
# Keep the type1 container (the stock path) and add the cdev next to it.
[ "$want_iommufd" = 1 ] &&
	opts="$opts --module IOMMUFD --enable VFIO_GROUP --enable VFIO_CONTAINER --enable VFIO_DEVICE_CDEV --disable IOMMUFD_VFIO_CONTAINER"
# shellcheck disable=SC2086
"$ksrc/scripts/config" --file "$ksrc/.config" $opts
log "make olddefconfig modules_prepare (t=$(($(date +%s) - started))s)"
if ! kmake olddefconfig modules_prepare >>"$blog" 2>&1; then
	give_up "make modules_prepare failed for $krel (see $out/build.log)"
fi
if [ "$want_kvm" = 1 ] && ! grep -q '^CONFIG_KVM_SW_PROTECTED_VM=y' "$ksrc/.config"; then
	private_st="no (olddefconfig dropped CONFIG_KVM_SW_PROTECTED_VM; a dependency is missing in $krel)"
	want_kvm=0
fi
if [ "$want_iommufd" = 1 ] && ! { grep -q '^CONFIG_IOMMUFD=m' "$ksrc/.config" &&
	grep -q '^CONFIG_VFIO_DEVICE_CDEV=y' "$ksrc/.config"; }; then
	iommufd_st="no (olddefconfig did not keep IOMMUFD=m and VFIO_DEVICE_CDEV=y in $krel)"
	want_iommufd=0
fi
# modpost resolves against the stock kernel's exports.  The headers' vmlinux
# (BTF only) is deliberately not copied: without it kbuild skips module BTF,
# which -g0 leaves nothing to build from, and a module without BTF loads
# fine, while BTF from Debian 12's older pahole might not (this kernel has
# MODULE_ALLOW_BTF_MISMATCH off).
cp "$hdir/Module.symvers" "$ksrc/Module.symvers"

stock_vermagic=$(modinfo -F vermagic "$(find "$stock/kernel/arch/x86/kvm" -name 'kvm.ko*' | head -n 1)")

# Strip, check vermagic, compress like the stock modules (see
# scripts/Makefile.modinst: crc32 check, 1 MiB dictionary) into the result.
keep_module() { # BUILT.ko TREE-RELATIVE-DIR
	local ko=$1 dst=$tmpout/ko/$2 name vm
	name=$(basename "$ko")
	vm=$(modinfo -F vermagic "$ko")
	[ "$vm" = "$stock_vermagic" ] || { log "$name: vermagic '$vm' is not '$stock_vermagic'"; return 1; }
	mkdir -p "$dst"
	strip --strip-debug -o "$dst/$name" "$ko" &&
		xz --check=crc32 --lzma2=dict=1MiB -f "$dst/$name"
}

# The undefined-symbol lines modpost printed, for the reason text.
modpost_missing() {
	grep -o "symbol '[^']*' undefined" "$blog" | sed "s/symbol '\\(.*\\)' undefined/\\1/" |
		sort -u | tr '\n' ' ' | sed 's/ $//'
}

# --- kvm.ko and kvm-amd.ko ------------------------------------------------------
if [ "$want_kvm" = 1 ]; then
	log "building kvm.ko and kvm-amd.ko (t=$(($(date +%s) - started))s)"
	# CONFIG_KVM_INTEL= on the command line skips kvm-intel.ko (a third of the
	# work); it only changes what make builds, not the C config kvm.ko sees.
	if ! kmake M=arch/x86/kvm CONFIG_KVM_INTEL= modules >>"$blog" 2>&1; then
		miss=$(modpost_missing)
		private_st="no (make M=arch/x86/kvm failed${miss:+; undefined: $miss}; see $out/build.log)"
	elif keep_module "$ksrc/arch/x86/kvm/kvm.ko" kernel/arch/x86/kvm >>"$blog" 2>&1 &&
		keep_module "$ksrc/arch/x86/kvm/kvm-amd.ko" kernel/arch/x86/kvm >>"$blog" 2>&1; then
		private_st=yes
	else
		private_st="no (the built kvm modules do not match the stock kernel; see $out/build.log)"
	fi
fi

# --- iommufd.ko and the vfio modules that must match it --------------------------
if [ "$want_iommufd" = 1 ]; then
	log "building iommufd.ko and vfio (t=$(($(date +%s) - started))s)"
	# Two things iommufd.ko needs are built into vmlinux only when IOMMUFD is
	# set there, so the stock kernel lacks them: interval_tree_span_iter_*
	# (lib/interval_tree.c under CONFIG_INTERVAL_TREE_SPAN_ITER) and
	# iova_bitmap_* (obj-y under CONFIG_IOMMUFD_DRIVER).  Both are
	# self-contained, so they are linked into iommufd.ko: the span iterator
	# privately (its file's exports would clash with the kernel's own
	# interval_tree_*), iova_bitmap with its exports, which vfio.ko uses.
	d=$ksrc/drivers/iommu/iommufd
	cat >"$d/gmem-interval-tree-span.c" <<-'EOF'
	// SPDX-License-Identifier: GPL-2.0-only
	/* Generated by gmem's tests/vm/build-modules.sh: lib/interval_tree.c without its exports, for iommufd.ko. */
	#include <linux/export.h>
	#undef EXPORT_SYMBOL_GPL
	#define EXPORT_SYMBOL_GPL(sym)
	#include "../../../lib/interval_tree.c"
	EOF
	cat >"$d/Kbuild" <<-'EOF'
	# Generated by gmem's tests/vm/build-modules.sh: iommufd.ko for a kernel built without IOMMUFD.
	include $(src)/Makefile
	iommufd-y += gmem-interval-tree-span.o iova_bitmap.o
	EOF
	# The built-in parts (iova_bitmap.o, driver.o) are not wanted as such.
	nobuiltin="CONFIG_IOMMUFD_DRIVER= CONFIG_IOMMUFD_DRIVER_CORE="
	# shellcheck disable=SC2086
	if ! kmake M=drivers/iommu/iommufd $nobuiltin modules >>"$blog" 2>&1; then
		miss=$(modpost_missing)
		iommufd_st="no (make M=drivers/iommu/iommufd failed${miss:+; symbols the stock kernel does not export: $miss}; see $out/build.log)"
	elif ! kmake M=drivers/vfio $nobuiltin KBUILD_EXTRA_SYMBOLS="$d/Module.symvers" modules >>"$blog" 2>&1; then
		miss=$(modpost_missing)
		iommufd_st="no (make M=drivers/vfio failed${miss:+; undefined: $miss}; see $out/build.log)"
	else
		iommufd_st=yes
		for m in drivers/iommu/iommufd/iommufd.ko drivers/vfio/vfio.ko drivers/vfio/vfio_iommu_type1.ko \
			drivers/vfio/pci/vfio-pci-core.ko drivers/vfio/pci/vfio-pci.ko; do
			if ! keep_module "$ksrc/$m" "kernel/$(dirname "$m")" >>"$blog" 2>&1; then
				iommufd_st="no ($m does not match the stock kernel; see $out/build.log)"
				break
			fi
		done
	fi
fi

log "removing the build tree (t=$(($(date +%s) - started))s)"
rm -rf "$work"
work=

# --- module trees: the stock tree hard-linked, rebuilt modules replacing ------------
# tree-kvm: private-memory kvm only; tree-all: also iommufd and its vfio.
make_tree() { # NAME MODULE.ko.xz...
	local name=$1 t m rel f
	shift
	t=$tmpout/$name/lib/modules/$krel
	mkdir -p "$(dirname "$t")"
	cp -al "$stock" "$t" 2>/dev/null || cp -a "$stock" "$t"
	# depmod must not write through hard links into the stock tree.
	for f in "$t"/modules.*; do
		cp --remove-destination "$stock/${f##*/}" "$f"
	done
	for m in "$@"; do
		rel=${m#"$tmpout/ko/"}
		rm -f "$t/$rel"
		mkdir -p "$(dirname "$t/$rel")"
		cp "$m" "$t/$rel"
	done
	# The stock kvm-intel.ko does not fit a rebuilt kvm.ko (other struct
	# layouts); it is not built, and TCG has no VMX anyway.
	[ -z "$kvm_kos" ] || rm -f "$t"/kernel/arch/x86/kvm/kvm-intel.ko*
	depmod -b "$tmpout/$name" "$krel"
}
kvm_kos=
all_kos=
if [ "$private_st" = yes ]; then
	kvm_kos=$(find "$tmpout/ko/kernel/arch/x86/kvm" -name '*.ko.xz')
fi
if [ "$iommufd_st" = yes ]; then
	all_kos=$(find "$tmpout/ko/kernel/drivers" -name '*.ko.xz')
fi
# shellcheck disable=SC2086
[ -z "$kvm_kos" ] || make_tree tree-kvm $kvm_kos
# shellcheck disable=SC2086
[ -z "$kvm_kos$all_kos" ] || make_tree tree-all $kvm_kos $all_kos
# Keep the log only when something failed.
case "$private_st $iommufd_st" in
*"no ("*"build.log"*) ;;
*) rm -f "$blog" ;;
esac
finish
log "done in $(($(date +%s) - started)) s"
