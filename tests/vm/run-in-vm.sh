#!/bin/bash
# run-in-vm.sh - run CMD inside a TCG-emulated QEMU VM (AMD SVM CPU) whose kernel has kvm_amd loaded, so /dev/kvm is real.
#
# Usage: tests/vm/run-in-vm.sh DIR -- CMD [ARG...]
#
# DIR (test binaries, static or dynamic) is copied into the VM at the same
# absolute path and CMD runs there as root with DIR as its working directory
# (DIR is also appended to PATH).  CMD's stdout+stderr are printed on stdout;
# the script exits with CMD's exit status, 124 on timeout, 125 if the VM
# failed before reporting a status.  Harness messages go to stderr.
#
# Env (all optional):
#   GMEM_VM_TIMEOUT=600        hard limit in seconds for one VM boot + run
#   GMEM_VM_MEM=2G  GMEM_VM_SMP=2
#   GMEM_VM_CPU=max            QEMU -cpu model (must expose svm under TCG)
#   GMEM_VM_KVM_AMD_PARAMS=    e.g. "npt=0" or "nested=0"
#   GMEM_VM_KVM_PARAMS=        parameters for kvm.ko
#   GMEM_VM_MODULES=           extra kernel modules to load (deps resolved)
#   GMEM_VM_EXTRA=             extra host files/dirs copied at the same path
#                              (ELF files get their shared libraries too)
#   GMEM_VM_APPEND=            extra kernel command line
#   GMEM_VM_QEMU_ARGS=         extra QEMU arguments (word-split)
#   GMEM_VM_TCG_THREAD=single  TCG threading (multi = MTTCG, see boot_vm)
#   GMEM_VM_BOOT_RETRIES=2     reboots allowed if the VM dies before CMD starts
#   GMEM_VM_VERBOSE=1          echo the whole boot log to stderr
#   GMEM_VM_KERNEL=trixie-backports  Debian suite of the VM kernel (see setup.sh);
#                              "bookworm" for Debian 12's 6.1
#   GMEM_VM_CACHE              as in setup.sh
#   GMEM_VM_REBUILT_MODULES=all  which modules rebuilt by build-modules.sh to
#                              use: all (kvm with private memory, iommufd and
#                              its vfio), kvm (only kvm), stock (none)
#   GMEM_VM_IOMMU=1            q35 with intel-iommu and an edu device bound to
#                              vfio-pci (0: the plain pc machine, no IOMMU)
#   GMEM_VM_Q35_OPTS=max-ram-below-4g=1G  -M q35 properties (IOMMU=1 only)
#
# Inside the machine /etc/gmem-vm-features (also $GMEM_VM_FEATURES) says what
# is there, one key=value a line, "no (reason)" for what is missing:
#   private=yes|no (reason)     VM type 1 with private memory (rebuilt kvm)
#   iommu=intel-iommu|no (reason)
#   vfio=type1|no (reason)      /dev/vfio/vfio with the type1 backend
#   iommufd=yes|no (reason)     /dev/iommu and /dev/vfio/devices/vfioN
#   edu=<pci address>|no (reason), edu_group=/dev/vfio/N, edu_cdev=/dev/vfio/devices/vfioN
set -u

here=$(cd "$(dirname "$0")" && pwd -P)
me=run-in-vm.sh
log() { echo "$me: $*" >&2; }

usage() {
	echo "usage: $0 DIR -- CMD [ARG...]" >&2
	exit 125
}

[ $# -ge 3 ] && [ "$2" = "--" ] || usage
[ -d "$1" ] || { log "not a directory: $1"; exit 125; }
workdir=$(cd "$1" && pwd -P)
shift 2
[ "$workdir" != / ] || { log "DIR must not be /"; exit 125; }

if [ "$(id -u)" = 0 ]; then
	CACHE=${GMEM_VM_CACHE:-/var/cache/gmem-vm}
else
	CACHE=${GMEM_VM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gmem-vm}
fi
export GMEM_VM_CACHE=$CACHE

suite=${GMEM_VM_KERNEL:-trixie-backports}
host_suite=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")

# Make sure tools and kernel are there (setup.sh is idempotent).
if ! command -v qemu-system-x86_64 >/dev/null || ! [ -x /bin/busybox ] ||
	! command -v cpio >/dev/null || ! [ -L "$CACHE/$suite" ]; then
	"$here/setup.sh" || { log "setup.sh failed"; exit 125; }
fi
if ! [ -L "$CACHE/$suite" ] && [ -L "$CACHE/$host_suite" ]; then
	log "warning: no $suite kernel; using the $host_suite one"
	suite=$host_suite
fi

kroot=$CACHE/$suite
krel=$(ls "$kroot/lib/modules" | head -n 1)
kernel=$kroot/boot/vmlinuz-$krel
moddir=$kroot/lib/modules/$krel
[ -f "$kernel" ] && [ -f "$moddir/modules.dep" ] || {
	log "no usable kernel in $kroot (run $here/setup.sh)"
	exit 125
}

# --- which module tree: stock, or with the modules build-modules.sh rebuilt ------
mcache=$CACHE/modules/$krel
if [ ! -f "$mcache/features" ] && [ -x "$here/build-modules.sh" ]; then
	log "no rebuilt modules cached for $krel yet; building them (about 2 minutes, once)"
	GMEM_VM_KERNEL=$suite "$here/build-modules.sh" || log "warning: build-modules.sh failed"
fi
feature() { # KEY: the cached build result for KEY, or why there is none
	local v
	v=$(sed -n "s/^$1=//p" "$mcache/features" 2>/dev/null | head -n 1)
	echo "${v:-no (no modules rebuilt for $krel in $mcache: run tests/vm/setup.sh)}"
}
host_private=$(feature private)
host_iommufd=$(feature iommufd)
rebuilt=${GMEM_VM_REBUILT_MODULES:-all}
case $rebuilt in
all) tree=$mcache/tree-all ;;
kvm)
	tree=$mcache/tree-kvm
	[ "$host_iommufd" != yes ] || host_iommufd="no (not used: GMEM_VM_REBUILT_MODULES=kvm)"
	;;
stock)
	tree=
	[ "$host_private" != yes ] || host_private="no (not used: GMEM_VM_REBUILT_MODULES=stock)"
	[ "$host_iommufd" != yes ] || host_iommufd="no (not used: GMEM_VM_REBUILT_MODULES=stock)"
	;;
*) log "GMEM_VM_REBUILT_MODULES must be all, kvm or stock, not '$rebuilt'"; exit 125 ;;
esac
if [ -n "$tree" ] && [ -f "$tree/lib/modules/$krel/modules.dep" ]; then
	moddir=$tree/lib/modules/$krel
fi
iommu=${GMEM_VM_IOMMU:-1}
case $iommu in 0 | 1) ;; *) log "GMEM_VM_IOMMU must be 0 or 1, not '$iommu'"; exit 125 ;; esac

tmp=$(mktemp -d /tmp/gmem-vm.XXXXXX) || exit 125
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
root=$tmp/root
mkdir -p "$root"/bin "$root"/etc "$root"/proc "$root"/sys "$root"/dev \
	"$root"/tmp "$root"/run "$root"/root "$root"/mods

# --- busybox --------------------------------------------------------------
cp /bin/busybox "$root/bin/busybox"
if ldd /bin/busybox >/dev/null 2>&1; then
	log "/bin/busybox is dynamically linked; install busybox-static"
	exit 125
fi

# --- kernel modules, in load order ------------------------------------------
# modules.dep lists the full dependency closure of each module, nearest first,
# so loading the list backwards and then the module itself is a valid order.
: >"$root/etc/gmem-modules"
add_module() { # NAME [PARAMS]
	local name=$1 params=${2:-} entry main order="" d
	entry=$(awk -v want="$name" '
		{ m = $1; sub(":$", "", m); sub(".*/", "", m); sub("\\.ko.*$", "", m)
		  gsub("-", "_", m); w = want; gsub("-", "_", w)
		  if (m == w) { print; exit } }' "$moddir/modules.dep")
	[ -n "$entry" ] || { log "module $name not found in $krel"; exit 125; }
	main=${entry%%:*}
	for d in ${entry#*:}; do order="$d $order"; done
	for d in $order $main; do
		grep -q "^$d\( \|\$\)" "$root/etc/gmem-modules" && continue
		# Newer Debian kernels ship compressed modules; busybox insmod wants plain .ko.
		ko=$(basename "$d")
		case $ko in
		*.ko.xz) xz -dc "$moddir/$d" >"$root/mods/${ko%.xz}" ;;
		*.ko.zst) zstd -qdc "$moddir/$d" >"$root/mods/${ko%.zst}" ;;
		*.ko.gz) gzip -dc "$moddir/$d" >"$root/mods/${ko%.gz}" ;;
		*) cp "$moddir/$d" "$root/mods/" ;;
		esac || { log "cannot unpack module $d"; exit 125; }
		if [ "$d" = "$main" ]; then
			echo "$d $params" >>"$root/etc/gmem-modules"
		else
			echo "$d" >>"$root/etc/gmem-modules"
		fi
	done
}
add_module kvm "${GMEM_VM_KVM_PARAMS:-}"
add_module kvm_amd "${GMEM_VM_KVM_AMD_PARAMS:-}"
if [ "$iommu" = 1 ]; then
	# The rebuilt vfio needs iommufd anyway; load it wherever the tree has it.
	if grep -q '/iommufd\.ko' "$moddir/modules.dep"; then add_module iommufd; fi
	add_module vfio
	add_module vfio_iommu_type1
	add_module vfio_pci
fi
for m in ${GMEM_VM_MODULES:-}; do add_module "$m"; done

# --- the test directory, extra files, and shared libraries ---------------------
mkdir -p "$root$workdir"
cp -a "$workdir/." "$root$workdir/"
for x in ${GMEM_VM_EXTRA:-}; do
	mkdir -p "$root$(dirname "$x")"
	cp -a "$x" "$root$x"
done

is_elf() { [ "$(head -c 4 "$1" 2>/dev/null | od -An -c | tr -d ' ')" = '177ELF' ]; }
: >"$tmp/libs"
# shellcheck disable=SC2086
find "$workdir" ${GMEM_VM_EXTRA:-} -type f 2>/dev/null | while IFS= read -r f; do
	is_elf "$f" || continue
	# "libx.so => /path/libx.so (0x...)" or "/lib64/ld-linux-x86-64.so.2 (0x...)"
	ldd "$f" >"$tmp/ldd.out" 2>/dev/null || continue
	grep -o '/[^ ]*' "$tmp/ldd.out" >>"$tmp/libs"
	grep 'not found' "$tmp/ldd.out" | sed "s|^[[:space:]]*|$me: warning: $f: |" >&2
done
sort -u "$tmp/libs" | while IFS= read -r lib; do
	[ -e "$root$lib" ] && continue
	mkdir -p "$root$(dirname "$lib")"
	cp -L "$lib" "$root$lib"
done
# No ld.so.cache in the VM: point the loader at every directory we copied into.
libpath=$(sort -u "$tmp/libs" | xargs -r -n1 dirname | sort -u | paste -sd: -)

printf 'root:x:0:0:root:/root:/bin/sh\n' >"$root/etc/passwd"
printf 'root:x:0:\n' >"$root/etc/group"

# --- the command and the init script ------------------------------------------
quote() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }
{
	printf 'exec'
	for a in "$@"; do printf ' %s' "$(quote "$a")"; done
	printf '\n'
} >"$root/etc/gmem-cmd"

nonce=$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
{
	printf 'NONCE=%s\n' "$nonce"
	printf 'WORKDIR=%s\n' "$(quote "$workdir")"
	printf 'LIBPATH=%s\n' "$(quote "$libpath")"
	printf 'IOMMU=%s\n' "$iommu"
	printf 'HOST_PRIVATE=%s\n' "$(quote "$host_private")"
	printf 'HOST_IOMMUFD=%s\n' "$(quote "$host_iommufd")"
	printf 'REBUILT=%s\n' "$(quote "$rebuilt")"
} >"$root/etc/gmem-vm.conf"

cat >"$root/init" <<'EOF'
#!/bin/busybox sh
# /init of the gmem test VM: mount, load kvm modules, run the command, report its status, power off.
/bin/busybox --install -s /bin
# The console is a terminal, but what runs here is read back as text (a
# report, a CSV): gmemctl draws no progress bar into it.
export PATH=/bin HOME=/root GMEMCTL_PROGRESS=0
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
. /etc/gmem-vm.conf
stty -F /dev/console -onlcr 2>/dev/null

: >/tmp/insmod-failed
while read -r ko params; do
	# shellcheck disable=SC2086
	ko=${ko##*/}
	ko=${ko%.ko*}.ko
	if ! err=$(insmod "/mods/$ko" $params 2>&1); then
		echo "gmem-vm: warning: insmod $ko $params failed: $err"
		echo "${ko%.ko} $err" >>/tmp/insmod-failed
	fi
done </etc/gmem-modules
if [ -c /dev/kvm ]; then
	chmod 666 /dev/kvm
	npt=$(cat /sys/module/kvm_amd/parameters/npt 2>/dev/null)
	echo "gmem-vm: /dev/kvm ready (kvm_amd npt=${npt:-?}, kernel $(uname -r))"
else
	echo "gmem-vm: warning: no /dev/kvm; kernel log:"
	dmesg | grep -i -E 'kvm|svm' | sed 's/^/gmem-vm:   /'
fi
insmod_error() { # MODULE: why it failed to load, if it did
	grep "^$1 " /tmp/insmod-failed | head -n 1 | cut -d' ' -f2-
}

# What this machine offers, for tests to read (see run-in-vm.sh's header).
# The host says what was built; here each claim is checked.
if [ ! -c /dev/kvm ]; then
	e=$(insmod_error kvm)$(insmod_error kvm_amd)
	private="no (/dev/kvm is missing: ${e:-kvm or kvm_amd did not load})"
elif [ "$HOST_PRIVATE" = "yes (stock kernel)" ]; then
	private=yes	# a future Debian kernel with the option set
elif [ "$HOST_PRIVATE" != yes ]; then
	private=$HOST_PRIVATE
elif grep -q E /sys/module/kvm/taint 2>/dev/null; then
	private=yes	# E: unsigned module, i.e. the rebuilt kvm.ko is the one loaded
else
	private="no (the loaded kvm.ko is not the rebuilt one)"
fi
edu=
for d in /sys/bus/pci/devices/*; do
	[ "$(cat "$d/vendor" 2>/dev/null)" = 0x1234 ] && [ "$(cat "$d/device" 2>/dev/null)" = 0x11e8 ] &&
		edu=${d##*/} && break
done
edu_group= edu_cdev=
if [ "$IOMMU" != 1 ]; then
	iommu="no (machine without IOMMU: GMEM_VM_IOMMU=0)"
	vfio="no (machine without IOMMU: GMEM_VM_IOMMU=0)"
	iommufd="no (machine without IOMMU: GMEM_VM_IOMMU=0)"
	edu="no (machine without IOMMU: GMEM_VM_IOMMU=0)"
else
	if ls /sys/class/iommu 2>/dev/null | grep -q dmar; then
		iommu=intel-iommu
	else
		iommu="no (intel-iommu did not come up: $(dmesg | grep -i -m1 -E 'DMAR|IOMMU' || echo 'no DMAR lines in dmesg'))"
	fi
	if [ -c /dev/vfio/vfio ] && [ -d /sys/module/vfio_iommu_type1 ]; then
		vfio=type1
	else
		e=$(insmod_error vfio_iommu_type1)$(insmod_error vfio)
		vfio="no (${e:-/dev/vfio/vfio or vfio_iommu_type1 missing})"
	fi
	if [ "$HOST_IOMMUFD" != yes ] && [ "$HOST_IOMMUFD" != "yes (stock kernel)" ]; then
		iommufd=$HOST_IOMMUFD
	elif [ -c /dev/iommu ]; then
		iommufd=yes
	else
		e=$(insmod_error iommufd)
		iommufd="no (${e:-/dev/iommu is missing})"
	fi
	if [ -z "$edu" ]; then
		edu="no (no 1234:11e8 PCI device)"
	elif [ ! -d /sys/bus/pci/drivers/vfio-pci ]; then
		edu="no (vfio-pci did not load; edu is at $edu)"
	else
		# driver_override makes vfio-pci (which has no ID table) take it.
		echo vfio-pci >"/sys/bus/pci/devices/$edu/driver_override"
		echo "$edu" >/sys/bus/pci/drivers_probe 2>/dev/null
		drv=$(readlink "/sys/bus/pci/devices/$edu/driver" 2>/dev/null)
		g=$(readlink "/sys/bus/pci/devices/$edu/iommu_group" 2>/dev/null)
		if [ "${drv##*/}" != vfio-pci ]; then
			edu="no (binding edu $edu to vfio-pci failed: driver is '${drv##*/}')"
		else
			[ -z "$g" ] || [ ! -c "/dev/vfio/${g##*/}" ] || edu_group=/dev/vfio/${g##*/}
			for c in "/sys/bus/pci/devices/$edu"/vfio-dev/vfio*; do
				[ -c "/dev/vfio/devices/${c##*/}" ] && edu_cdev=/dev/vfio/devices/${c##*/}
			done
		fi
	fi
fi
{
	echo "kernel=$(uname -r)"
	echo "modules=$REBUILT"
	echo "private=$private"
	echo "iommu=$iommu"
	echo "vfio=$vfio"
	echo "iommufd=$iommufd"
	echo "edu=$edu"
	[ -z "$edu_group" ] || echo "edu_group=$edu_group"
	[ -z "$edu_cdev" ] || echo "edu_cdev=$edu_cdev"
} >/etc/gmem-vm-features
export GMEM_VM_FEATURES=/etc/gmem-vm-features
echo "gmem-vm: features: $(grep -v -e '^kernel=' -e '^edu_' /etc/gmem-vm-features | tr '\n' ' ')"

# Keep kernel errors (e.g. DMAR faults a DMA test provokes) off the console,
# which carries the command's output; warnings are collected below.
dmesg -n 3
kmsg_before=$(dmesg | wc -l)
[ -n "$LIBPATH" ] && export LD_LIBRARY_PATH="$LIBPATH"
export PATH="/bin:$WORKDIR"
echo "GMEM-VM-BEGIN $NONCE"
cd "$WORKDIR" && sh /etc/gmem-cmd </dev/null 2>&1
rc=$?
# Surface kernel warnings the command may have triggered (console loglevel hides them).
dmesg | tail -n +$((kmsg_before + 1)) | grep -E 'WARNING|BUG|Oops|Call Trace|general protection' |
	sed 's/^/gmem-vm: kmsg: /' >/tmp/kmsg
echo "VM-EXIT-STATUS=$rc $NONCE"
cat /tmp/kmsg
sync
poweroff -f
EOF
chmod +x "$root/init"

(cd "$root" && find . | cpio -o -H newc --quiet) >"$tmp/initrd.cpio" || exit 125

# --- boot ----------------------------------------------------------------------
append="console=ttyS0 loglevel=1 quiet panic=-1 rdinit=/init mitigations=off"
machine=
if [ "$iommu" = 1 ]; then
	# intel-iommu comes first so it sees the devices created after it;
	# interrupt remapping on, or VFIO_SET_IOMMU refuses (unsafe interrupts).
	# max-ram-below-4g=1G: q35 otherwise keeps 2 GiB below 4 GiB, the
	# initramfs lands at its top, and node 0 has no free aligned 1 GiB for
	# a boot-time gigantic page (it then goes to node 1, unlike on pc).
	q35opts=${GMEM_VM_Q35_OPTS-max-ram-below-4g=1G}
	machine="-M q35${q35opts:+,$q35opts} -device intel-iommu,intremap=on -device edu"
	append="$append intel_iommu=on"
fi
append="$append ${GMEM_VM_APPEND:-}"
status_file=$tmp/status
begun_file=$tmp/begun
mkfifo "$tmp/console"
qpid='' apid=''
stop_vm() { # EXIT-CODE: kill QEMU, let the reader drain, then exit (EXIT trap cleans up)
	[ -n "$qpid" ] && kill "$qpid" 2>/dev/null && wait "$qpid" 2>/dev/null
	[ -n "$apid" ] && wait "$apid" 2>/dev/null
	exit "$1"
}
trap 'stop_vm 130' INT
trap 'stop_vm 143' TERM

# One boot.  Boot noise goes to a log; the command's output (between the
# markers) to stdout.  Sets qemu_rc.
boot_vm() {
	rm -f "$status_file" "$begun_file"
	# thread=single: multi-threaded TCG occasionally oopses the guest kernel
	# (int3 during boot-time code patching on another vCPU); single is as fast here.
	# shellcheck disable=SC2086
	timeout -k 10 "${GMEM_VM_TIMEOUT:-600}" \
		qemu-system-x86_64 -nodefaults -no-user-config -nographic \
		-accel "tcg,thread=${GMEM_VM_TCG_THREAD:-single}" -cpu "${GMEM_VM_CPU:-max}" \
		-m "${GMEM_VM_MEM:-2G}" -smp "${GMEM_VM_SMP:-2}" \
		-monitor none -serial stdio -no-reboot \
		-kernel "$kernel" -initrd "$tmp/initrd.cpio" -append "$append" \
		$machine ${GMEM_VM_QEMU_ARGS:-} </dev/null >"$tmp/console" 2>"$tmp/qemu.err" &
	qpid=$!
	awk -v nonce="$nonce" -v status_file="$status_file" -v begun_file="$begun_file" \
		-v verbose="${GMEM_VM_VERBOSE:-0}" -v bootlog="$tmp/boot.log" '
	BEGIN { state = 0 }   # 0 booting, 1 command running, 2 after the command
	{
		if (state == 1) {
			if (match($0, "VM-EXIT-STATUS=[0-9]+ " nonce)) {
				if (RSTART > 1) printf "%s", substr($0, 1, RSTART - 1)
				st = substr($0, RSTART + 15)
				sub(" .*", "", st)
				print st > status_file
				close(status_file)
				state = 2
			} else
				print
		} else {
			print > bootlog
			if (verbose == 1) print > "/dev/stderr"
			else if (match($0, /gmem-vm: .*/)) print substr($0, RSTART) > "/dev/stderr"
			if (state == 0 && index($0, "GMEM-VM-BEGIN " nonce) == 1) {
				state = 1
				print "" > begun_file
				close(begun_file)
			}
		}
		fflush()
	}' <"$tmp/console" &
	apid=$!
	# Waiting with the builtin (not a foreground pipeline) lets the traps fire at once.
	wait "$apid"
	wait "$qpid"
	qemu_rc=$?
	qpid='' apid=''
}

report_failure() {
	if [ "${GMEM_VM_VERBOSE:-0}" != 1 ]; then
		log "last boot log lines:"
		tail -n 30 "$tmp/boot.log" 2>/dev/null | sed 's/^/  /' >&2
	fi
	[ -s "$tmp/qemu.err" ] && sed 's/^/qemu: /' "$tmp/qemu.err" >&2
}

# A VM that dies before the command started (guest kernel oops under TCG) is
# booted again; once the command has started it is never re-run.
attempt=0
while :; do
	attempt=$((attempt + 1))
	boot_vm
	if [ -s "$status_file" ]; then
		exit "$(cat "$status_file")"
	fi
	if [ "$qemu_rc" = 124 ] || [ "$qemu_rc" = 137 ]; then
		log "timed out after ${GMEM_VM_TIMEOUT:-600}s"
		report_failure
		exit 124
	fi
	if [ ! -e "$begun_file" ] && [ "$attempt" -le "${GMEM_VM_BOOT_RETRIES:-2}" ]; then
		log "warning: VM died while booting (qemu exit $qemu_rc); booting again"
		report_failure
		continue
	fi
	log "VM ended without reporting a status (qemu exit $qemu_rc)"
	report_failure
	exit 125
done
