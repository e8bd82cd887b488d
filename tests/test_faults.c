// SPDX-License-Identifier: MIT
/*
 * test_faults.c - every call the library makes to the kernel or the
 * allocator fails in turn, and each time the operation either fails with a
 * reason that names the call, leaving the library and the kernel as they
 * were (no fd, mapping, memslot or figure changed), or gets by without it.
 * The calls are intercepted with the linker's --wrap (see the Makefile),
 * so the library itself carries no test hooks.
 */
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/kvm.h>

#include "harness.h"

#define MIB (1ULL << 20)

/* ---- the interposer ---- */

static struct {
	bool armed;
	const char *only;	/* count only calls of this name, or NULL */
	long calls;		/* intercepted calls since arming */
	long fail_at;		/* fail the call with this number */
	bool fired;
	char name[64];		/* what was failed */
	long kvm_create_vm;	/* KVM_CREATE_VM calls, armed or not */
	bool numa_enosys;	/* NUMA syscalls say ENOSYS (no CONFIG_NUMA) */
	bool cachestat_enosys;	/* cachestat() says ENOSYS (before 6.5) */
	int fail_errno;		/* errno to inject; 0: the call's own */
} fi;

/* Should this call fail?  Counts it; names it if it does. */
static bool inject(const char *name)
{
	if (!fi.armed || (fi.only && strcmp(fi.only, name)) ||
	    ++fi.calls != fi.fail_at)
		return false;
	fi.fired = true;
	snprintf(fi.name, sizeof(fi.name), "%s", name);
	return true;
}

static const char *ioctl_name(unsigned long req)
{
	switch (req) {
	case KVM_CREATE_VM:
		return "KVM_CREATE_VM";
	case KVM_CHECK_EXTENSION:
		return "KVM_CAP";	/* a missing capability names it */
	case KVM_GET_API_VERSION:
		return "KVM_GET_API_VERSION";
	case KVM_SET_USER_MEMORY_REGION:
		return "KVM_SET_USER_MEMORY_REGION";
	default:
		break;
	}
	if (_IOC_TYPE(req) == KVMIO && _IOC_NR(req) == 0x49)
		return "KVM_SET_USER_MEMORY_REGION2";
	if (_IOC_TYPE(req) == KVMIO && _IOC_NR(req) == 0xd4)
		return "KVM_CREATE_GUEST_MEMFD";
	return "ioctl";
}

int __real_ioctl(int fd, unsigned long req, void *arg);
int __wrap_ioctl(int fd, unsigned long req, ...);
int __wrap_ioctl(int fd, unsigned long req, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (req == KVM_CREATE_VM)
		fi.kvm_create_vm++;
	if (inject(ioctl_name(req))) {
		errno = EIO;
		return -1;
	}
	return __real_ioctl(fd, req, arg);
}

#define WRAP_SYSCALL(ret_t, name, fail_value, err, proto, args)	\
	ret_t __real_##name proto;					\
	ret_t __wrap_##name proto;					\
	ret_t __wrap_##name proto					\
	{								\
		if (inject(#name)) {					\
			errno = fi.fail_errno ? fi.fail_errno : err;	\
			return fail_value;				\
		}							\
		return __real_##name args;				\
	}

WRAP_SYSCALL(int, fallocate, -1, EIO, (int fd, int mode, off_t off, off_t len),
	     (fd, mode, off, len))
WRAP_SYSCALL(void *, mmap, MAP_FAILED, ENOMEM,
	     (void *a, size_t l, int p, int f, int fd, off_t o),
	     (a, l, p, f, fd, o))
WRAP_SYSCALL(int, memfd_create, -1, EMFILE, (const char *n, unsigned int f),
	     (n, f))
WRAP_SYSCALL(int, ftruncate, -1, EIO, (int fd, off_t len), (fd, len))
WRAP_SYSCALL(int, madvise, -1, EIO, (void *a, size_t l, int adv), (a, l, adv))
WRAP_SYSCALL(void *, calloc, NULL, ENOMEM, (size_t n, size_t s), (n, s))
WRAP_SYSCALL(void *, realloc, NULL, ENOMEM, (void *p, size_t s), (p, s))

int __real_fcntl(int fd, int cmd, void *arg);
int __wrap_fcntl(int fd, int cmd, ...);
int __wrap_fcntl(int fd, int cmd, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, cmd);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (inject("fcntl")) {
		errno = EIO;
		return -1;
	}
	return __real_fcntl(fd, cmd, arg);
}

static bool numa_call(long nr)
{
	return nr == SYS_mbind || nr == SYS_set_mempolicy ||
	       nr == SYS_get_mempolicy || nr == SYS_move_pages;
}

long __real_syscall(long nr, long a, long b, long c, long d, long e, long f);
long __wrap_syscall(long nr, ...);
long __wrap_syscall(long nr, ...)
{
	long a[6];
	va_list ap;

	va_start(ap, nr);
	for (int i = 0; i < 6; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);
	if ((fi.numa_enosys && numa_call(nr)) ||
	    (fi.cachestat_enosys && nr == 451)) {
		errno = ENOSYS;
		return -1;
	}
	if (inject(nr == SYS_mbind ? "mbind" : nr == SYS_set_mempolicy ?
		   "set_mempolicy" : nr == SYS_get_mempolicy ?
		   "get_mempolicy" : "syscall")) {
		errno = EIO;
		return -1;
	}
	return __real_syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
}

static void arm_only(const char *name, long n)
{
	fi.only = name;
	fi.calls = 0;
	fi.fail_at = n;
	fi.fired = false;
	fi.name[0] = '\0';
	fi.armed = true;
}

static void arm(long n)
{
	fi.only = NULL;
	fi.calls = 0;
	fi.fail_at = n;
	fi.fired = false;
	fi.name[0] = '\0';
	fi.armed = true;
}

static void disarm(void)
{
	fi.armed = false;
}

/* ---- what must not change ---- */

struct snapshot {
	int fds;
	int maps;
	struct gmem_stats stats;
};

/*
 * Shared mappings: the library's own kind (files of guest memory).  The
 * private ones come and go with the allocator (ASan's especially).
 */
static int count_maps(void)
{
	char line[512], perms[8];
	int n = 0;
	FILE *f = fopen("/proc/self/maps", "re");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "%*s %7s", perms) == 1 && perms[3] == 's')
			n++;
	if (f)
		fclose(f);
	return n;
}

static void snap(struct snapshot *s)
{
	s->maps = count_maps();
	s->fds = t_count_fds();
	gmem_stats(&s->stats);
}

/* The state now is the state of s; the reason names the failed call. */
static bool unchanged(const struct snapshot *s, int ret, const char *what)
{
	struct snapshot now;
	char why[320];

	/* Before snap(): the stats call clears the reason. */
	snprintf(why, sizeof(why), "%s", gmem_last_error());
	snap(&now);
	if (now.fds != s->fds || now.maps != s->maps ||
	    now.stats.files != s->stats.files ||
	    now.stats.total.size != s->stats.total.size ||
	    now.stats.total.bindings != s->stats.total.bindings ||
	    now.stats.total.populated_bytes != s->stats.total.populated_bytes) {
		t_fail(__FILE__, __LINE__, "%s failed at %s (%d) and changed "
		       "things: fds %d->%d, maps %d->%d, files %u->%u, "
		       "populated %llu->%llu", what, fi.name, ret, s->fds,
		       now.fds, s->maps, now.maps, s->stats.files,
		       now.stats.files,
		       (unsigned long long)s->stats.total.populated_bytes,
		       (unsigned long long)now.stats.total.populated_bytes);
		return false;
	}
	if (!strstr(why, fi.name) &&
	    !((!strcmp(fi.name, "calloc") || !strcmp(fi.name, "realloc")) &&
	      strstr(why, "out of memory"))) {
		t_fail(__FILE__, __LINE__, "%s failed at %s, but the reason "
		       "does not say so: %s", what, fi.name, why);
		return false;
	}
	return true;
}

/*
 * Run op with its n-th intercepted call failing, for n = 1, 2, ... until
 * it runs without reaching n.  undo() releases what a success made.
 */
typedef int (*op_fn)(void *ctx);

static int try_each_failure(const char *what, op_fn op, op_fn undo,
			    void *ctx)
{
	int failures = 0;

	for (long n = 1; n < 1000 && !t_failed(); n++) {
		struct snapshot s;
		int ret;

		snap(&s);
		arm(n);
		ret = op(ctx);
		disarm();
		if (!fi.fired) {
			if (ret < 0)
				t_fail(__FILE__, __LINE__, "%s failed with "
				       "nothing injected: %s", what,
				       gmem_last_error());
			else
				undo(ctx);
			return failures;
		}
		if (ret >= 0) {
			/* It got by without that call (a probe, say). */
			undo(ctx);
			continue;
		}
		failures++;
		if (!unchanged(&s, ret, what))
			return failures;
	}
	return failures;
}

/* ---- operations ---- */

struct file_op {
	struct gmem_file_args args;
	struct gmem_file *f;
};

static int create_file(void *ctx)
{
	struct file_op *o = ctx;

	return gmem_file_create(&o->args, &o->f);
}

static int close_file(void *ctx)
{
	struct file_op *o = ctx;

	return gmem_file_close(o->f);
}

static void file_creation_fails_cleanly(enum gmem_backend backend)
{
	struct file_op o = { { 0 } };
	struct gmem_vm *vm = NULL;

	if (backend == GMEM_BACKEND_GUEST_MEMFD) {
		T_SKIP_UNLESS(t_need_guest_memfd_mmap());
		CHECK_OK(gmem_vm_create(&vm));
	}
	if (backend == GMEM_BACKEND_HUGETLB)
		T_SKIP_UNLESS(t_hugepool_set(2 * MIB, 2));
	o.args.size = 4 * MIB;
	o.args.backend = backend;
	o.args.vm = vm;
	CHECK(try_each_failure("gmem_file_create", create_file, close_file,
			       &o) >= 3);
	if (vm)
		CHECK_OK(gmem_vm_close(vm));
}

static void create_memfd(void)
{
	file_creation_fails_cleanly(GMEM_BACKEND_MEMFD);
}

static void create_guest_memfd(void)
{
	file_creation_fails_cleanly(GMEM_BACKEND_GUEST_MEMFD);
}

static void create_hugetlb(void)
{
	file_creation_fails_cleanly(GMEM_BACKEND_HUGETLB);
}

struct bind_op {
	struct gmem_vm *vm;
	struct gmem_file *f;
	struct gmem_binding *b;
};

static int do_bind(void *ctx)
{
	struct bind_op *o = ctx;
	struct gmem_bind_args a = { .length = 4 * MIB, .slot = 3 };

	return gmem_bind(o->vm, o->f, &a, &o->b);
}

static int do_unbind(void *ctx)
{
	struct bind_op *o = ctx;

	return gmem_unbind(o->b);
}

/* A failed bind leaves no memslot: the same slot binds afterwards. */
static void bind_fails_cleanly(void)
{
	struct gmem_file_args a = { .size = 4 * MIB,
				    .backend = GMEM_BACKEND_MEMFD };
	struct bind_op o = { 0 };

	T_SKIP_UNLESS(t_need_kvm());
	CHECK_OK(gmem_vm_create(&o.vm));
	CHECK_OK(gmem_file_create(&a, &o.f));
	CHECK(try_each_failure("gmem_bind", do_bind, do_unbind, &o) >= 2);
	CHECK_OK(do_bind(&o));
	CHECK_OK(gmem_unbind(o.b));
	CHECK_OK(gmem_file_close(o.f));
	CHECK_OK(gmem_vm_close(o.vm));
}

/*
 * When KVM refuses to delete a memslot, unbind and VM close keep the
 * binding attached and its file mapped (the guest may still use it), say
 * why, and work when called again.
 */
static void failed_memslot_delete_keeps_the_binding(void)
{
	struct gmem_file_args a = { .size = 4 * MIB,
				    .backend = GMEM_BACKEND_MEMFD };
	struct gmem_file_stats st;
	struct bind_op o = { 0 };
	volatile uint8_t *p;

	T_SKIP_UNLESS(t_need_kvm());
	CHECK_OK(gmem_vm_create(&o.vm));
	CHECK_OK(gmem_file_create(&a, &o.f));
	CHECK_OK(do_bind(&o));
	p = gmem_file_host_addr(o.f);
	CHECK_OK(gmem_file_close(o.f));
	arm_only("KVM_SET_USER_MEMORY_REGION2", 1);
	CHECK_ERR(gmem_unbind(o.b), EIO);
	disarm();
	CHECK(strstr(gmem_last_error(), "deleting memslot 3"));
	CHECK(gmem_binding_slot(o.b) == 3);
	arm_only("KVM_SET_USER_MEMORY_REGION2", 1);
	CHECK_ERR(gmem_vm_close(o.vm), EIO);
	disarm();
	CHECK(gmem_binding_slot(o.b) == 3);
	CHECK_OK(gmem_vm_stats(o.vm, &st));
	CHECK(st.bindings == 1);
	p[0] = 1;	/* still mapped: no use-after-unmap for the guest */
	CHECK_OK(gmem_vm_close(o.vm));
	CHECK_ERR(gmem_binding_slot(o.b), ENOTCONN);
	CHECK_OK(gmem_unbind(o.b));
}

/* Running out of memory in VM close changes nothing, and never deadlocks
 * with a stats call. */
static void vm_close_out_of_memory(void)
{
	struct gmem_file_args a = { .size = 4 * MIB,
				    .backend = GMEM_BACKEND_MEMFD };
	struct gmem_file_stats st;
	struct bind_op o = { 0 };

	T_SKIP_UNLESS(t_need_kvm());
	CHECK_OK(gmem_vm_create(&o.vm));
	CHECK_OK(gmem_file_create(&a, &o.f));
	CHECK_OK(do_bind(&o));
	arm_only("calloc", 1);
	CHECK_ERR(gmem_vm_close(o.vm), ENOMEM);
	disarm();
	CHECK(!strcmp(fi.name, "calloc"));
	CHECK_OK(gmem_vm_stats(o.vm, &st));
	CHECK(st.bindings == 1 && gmem_binding_slot(o.b) == 3);
	CHECK_OK(gmem_vm_close(o.vm));
	CHECK_OK(gmem_unbind(o.b));
	CHECK_OK(gmem_file_close(o.f));
}

struct range_op {
	struct gmem_file *f;
	uint64_t off, len;
};

static int do_discard(void *ctx)
{
	struct range_op *o = ctx;

	return gmem_discard(o->f, o->off, o->len);
}

/*
 * What the kernel holds of f: st_blocks for memfd and hugetlbfs; guest_memfd
 * keeps st_blocks at 0, so its page cache, asked directly (not through the
 * wrapper, which may be playing a kernel without cachestat).
 */
static uint64_t kernel_bytes(struct gmem_file *f)
{
	struct { uint64_t off, len; } range = { 0, gmem_file_size(f) };
	uint64_t cs[5] = { 0 };
	struct stat sb;

	if (gmem_file_backend(f) == GMEM_BACKEND_GUEST_MEMFD)
		return __real_syscall(451, gmem_file_fd(f), (long)&range,
				      (long)cs, 0, 0, 0) < 0 ? ~0ULL
							    : cs[0] * 4096;
	return fstat(gmem_file_fd(f), &sb) < 0 ? ~0ULL
					      : (uint64_t)sb.st_blocks * 512;
}

/*
 * The books agree with the kernel after every failure.  (valgrind knows
 * no cachestat: there a guest_memfd's holdings cannot be asked, and the
 * runs outside it check them.)
 */
static void books_match_blocks(struct gmem_file *f)
{
	struct gmem_file_stats st;
	uint64_t held = kernel_bytes(f);
	int asked = held == ~0ULL ? errno : 0;

	CHECK_OK(gmem_file_stats(f, &st));
	if (asked == ENOSYS)
		return;
	if (held != st.populated_bytes)
		t_fail(__FILE__, __LINE__, "%s: after a failure at %s: the "
		       "kernel holds %llu bytes, the books say %llu",
		       gmem_backend_name(gmem_file_backend(f)), fi.name,
		       (unsigned long long)held,
		       (unsigned long long)st.populated_bytes);
}

/*
 * A populate that fails part way keeps (and accounts) the pieces before:
 * the figures equal st_blocks whichever call failed, and a discard that
 * fails changes nothing.
 */
/*
 * One populate way (allocate-only by fallocate, or ready by faults), on a
 * kernel with or without cachestat(), one thread so the n-th call is
 * always the same one.
 */
static void populate_and_discard_fail(enum gmem_backend backend,
				      struct gmem_vm *vm, bool with_cachestat,
				      bool ready)
{
	struct gmem_file_args a = { .size = 64 * MIB, .backend = backend,
				    .vm = vm };
	struct gmem_populate_args pa = { .threads = 1 };
	struct range_op o = { 0 };
	struct gmem_file_stats st;
	int failures = 0;
	uint64_t calls;

	fi.cachestat_enosys = !with_cachestat;
	if (!ready)
		pa.flags = GMEM_POPULATE_NO_ZERO;
	CHECK_OK(gmem_file_create(&a, &o.f));
	for (long n = 1; n < 200; n++) {
		char why[320];
		int ret;

		CHECK_OK(gmem_discard(o.f, 0, 64 * MIB));
		arm(n);
		ret = gmem_populate_with(o.f, 0, 64 * MIB, &pa);
		disarm();
		snprintf(why, sizeof(why), "%s", gmem_last_error());
		books_match_blocks(o.f);
		if (!fi.fired) {
			CHECK(ret == 0);
			break;
		}
		if (ret < 0) {
			failures++;
			if (!strstr(why, fi.name))
				t_fail(__FILE__, __LINE__, "populate failed at "
				       "%s: %s", fi.name, why);
		}
	}
	/* At least once per piece: a 64 MiB range on one thread is four. */
	CHECK(failures >= 4);
	CHECK_OK(gmem_file_stats(o.f, &st));
	CHECK(st.populated_bytes == 64 * MIB);
	calls = st.discard_calls;
	o.off = 16 * MIB;
	o.len = 16 * MIB;
	arm_only("fallocate", 1);
	CHECK_ERR(do_discard(&o), EIO);
	disarm();
	books_match_blocks(o.f);
	CHECK_OK(gmem_file_stats(o.f, &st));
	CHECK(st.populated_bytes == 64 * MIB && st.discard_calls == calls);
	CHECK_OK(gmem_file_close(o.f));
}

static void populate_and_discard_fail_cleanly(void)
{
	/* And on a kernel without cachestat() (Linux 6.5), or in valgrind. */
	for (int i = 0; i < 4 && !t_failed(); i++)
		populate_and_discard_fail(GMEM_BACKEND_MEMFD, NULL, i & 1,
					  i & 2);
}

/* The same on hugetlb (its pool's pages) and on guest_memfd. */
static void populate_and_discard_fail_hugetlb(void)
{
	T_SKIP_UNLESS(t_hugepool_set(2 * MIB, 32));
	populate_and_discard_fail(GMEM_BACKEND_HUGETLB, NULL, true, true);
}

static void populate_and_discard_fail_guest_memfd(void)
{
	struct gmem_vm *vm;

	T_SKIP_UNLESS(t_need_guest_memfd_mmap());
	CHECK_OK(gmem_vm_create(&vm));
	for (int i = 0; i < 4 && !t_failed(); i++)
		populate_and_discard_fail(GMEM_BACKEND_GUEST_MEMFD, vm, i & 1,
					  i & 2);
	CHECK_OK(gmem_vm_close(vm));
}

/* Making a file never creates a KVM VM behind the caller's back (a VMM
 * under seccomp would be killed for it). */
static void no_hidden_vm_creation(void)
{
	struct gmem_file_args a = { .size = 4 * MIB };
	struct gmem_file *f;
	struct gmem_vm *vm;
	long before;

	T_SKIP_UNLESS(t_need_guest_memfd_mmap());
	CHECK_OK(gmem_vm_create(&vm));
	before = fi.kvm_create_vm;
	for (int b = GMEM_BACKEND_AUTO; b < GMEM_BACKEND_COUNT; b++) {
		if (b == GMEM_BACKEND_HUGETLB)
			continue;
		a.backend = (uint32_t)b;
		a.vm = b == GMEM_BACKEND_MEMFD ? NULL : vm;
		CHECK_OK(gmem_file_create(&a, &f));
		CHECK_OK(gmem_populate(f, 0, MIB));
		CHECK_OK(gmem_discard(f, 0, MIB));
		CHECK_OK(gmem_file_close(f));
	}
	CHECK(fi.kvm_create_vm == before);
}

/* Without NUMA in the kernel (ENOSYS), policies say so and the rest works. */
static void no_numa_in_the_kernel(void)
{
	struct gmem_file_args a = { .size = 4 * MIB,
				    .backend = GMEM_BACKEND_MEMFD };
	struct gmem_numa_policy p = { .mode = GMEM_NUMA_BIND, .nodes = 1 };
	struct gmem_numa_policy dflt = { 0 };
	struct gmem_file *f;

	fi.numa_enosys = true;
	CHECK_OK(gmem_file_create(&a, &f));
	CHECK_ERR(gmem_file_set_numa_policy(f, 0, 4 * MIB, &p), EOPNOTSUPP);
	CHECK(strstr(gmem_last_error(), "CONFIG_NUMA"));
	CHECK_OK(gmem_file_set_numa_policy(f, 0, 4 * MIB, &dflt));
	CHECK_OK(gmem_populate(f, 0, 4 * MIB));
	CHECK_OK(gmem_file_close(f));
	/* Parsing and a thread's policy say the same. */
	CHECK_ERR(gmem_numa_policy_parse("bind", "0", &p), EOPNOTSUPP);
	CHECK(strstr(gmem_last_error(), "CONFIG_NUMA"));
	CHECK_ERR(gmem_numa_bind_thread(&p), EOPNOTSUPP);
	CHECK_OK(gmem_numa_policy_parse("default", NULL, &p));
}

/*
 * A signal is no error: a piece of a populate that it interrupts (EINTR
 * from fallocate, or from madvise on the zeroing way) is tried again in
 * halves and the populate finishes whole; a discard is tried again as
 * it was.  Forced here, since a real signal rarely lands inside a call.
 */
static void interrupted_piece_is_retried(void)
{
	struct gmem_file_args a = { .size = 8 * MIB,
				    .backend = GMEM_BACKEND_MEMFD };
	struct gmem_populate_args pa = { .threads = 1,
					 .flags = GMEM_POPULATE_NO_ZERO };
	const char *calls[2] = { "fallocate", "madvise" };
	struct gmem_file_stats st;
	struct gmem_file *f;
	long n;
	int ret;

	CHECK_OK(gmem_file_create(&a, &f));
	fi.fail_errno = EINTR;
	for (int i = 0; i < 2; i++) {
		pa.flags = i ? 0 : GMEM_POPULATE_NO_ZERO;
		arm_only(calls[i], 1);
		ret = gmem_populate_with(f, 0, 8 * MIB, &pa);
		n = fi.calls;
		disarm();
		CHECK_OK(ret);
		/* The piece that was hit, then its two halves (at least). */
		CHECK(fi.fired && n >= 3);
		CHECK_OK(gmem_file_stats(f, &st));
		CHECK(st.populated_bytes == 8 * MIB);
		arm_only("fallocate", 1);
		ret = gmem_discard(f, 0, 8 * MIB);
		n = fi.calls;
		disarm();
		CHECK_OK(ret);
		CHECK(fi.fired && n == 2);
		CHECK_OK(gmem_file_stats(f, &st));
		CHECK(st.populated_bytes == 0);
	}
	fi.fail_errno = 0;
	CHECK_OK(gmem_file_close(f));
}

/*
 * A gmem_vm_close() that failed (KVM kept a memslot) leaves the handle
 * valid, but the VM is closing: it takes no new binding, guest_memfd
 * file, conversion, device process or IOMMU address space.
 */
static void closing_vm_takes_nothing_new(void)
{
	struct gmem_file_args a = { .size = 4 * MIB,
				    .backend = GMEM_BACKEND_MEMFD };
	struct gmem_bind_args ba = { .length = 4 * MIB, .gpa = 1ULL << 30,
				     .slot = GMEM_SLOT_ANY };
	struct gmem_devproc_args da = { 0 };
	struct gmem_binding *b2 = NULL;
	struct gmem_devproc *d = NULL;
	struct gmem_dma *dma = NULL;
	struct gmem_file *g = NULL;
	struct bind_op o = { 0 };
	int sv[2];

	T_SKIP_UNLESS(t_need_kvm());
	CHECK_OK(gmem_vm_create(&o.vm));
	CHECK_OK(gmem_file_create(&a, &o.f));
	CHECK_OK(do_bind(&o));
	arm_only("KVM_SET_USER_MEMORY_REGION2", 1);
	CHECK_ERR(gmem_vm_close(o.vm), EIO);
	disarm();
	CHECK_ERR(gmem_bind(o.vm, o.f, &ba, &b2), ESHUTDOWN);
	a.backend = GMEM_BACKEND_GUEST_MEMFD;
	a.vm = o.vm;
	CHECK_ERR(gmem_file_create(&a, &g), ESHUTDOWN);
	CHECK_ERR(gmem_convert(o.vm, 0, 4096, GMEM_MEMORY_SHARED, 0),
		  ESHUTDOWN);
	CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0);
	da.sock_fd = sv[0];
	CHECK_ERR(gmem_devproc_add(o.vm, &da, &d), ESHUTDOWN);
	/* Any open fd will do: the VM is refused before the fd is asked. */
	CHECK_ERR(gmem_dma_open_vfio(o.vm, sv[0], &dma), ESHUTDOWN);
	CHECK_ERR(gmem_dma_open_iommufd(o.vm, sv[0], 1, &dma), ESHUTDOWN);
	close(sv[0]);
	close(sv[1]);
	CHECK(!b2 && !g && !d && !dma);
	/* The binding KVM kept is still there; closing again ends it. */
	CHECK(gmem_binding_slot(o.b) == 3);
	CHECK_OK(gmem_vm_close(o.vm));
	CHECK_OK(gmem_unbind(o.b));
	CHECK_OK(gmem_file_close(o.f));
}

/*
 * Out of memory in the calls the cases above do not reach: each fails
 * with ENOMEM and a reason, and leaves no fd, job or figure behind.
 */
static void out_of_memory_in_files(void)
{
	struct gmem_file_args a = { .size = 4 * MIB,
				    .backend = GMEM_BACKEND_MEMFD };
	struct gmem_populate_args pa = { .threads = 1 };
	struct gmem_memtable_args ma = { .timeout_ms = 50 };
	struct gmem_numa_policy dflt = { 0 };
	struct gmem_import_args ia = { 0 };
	struct gmem_populate_job *j = NULL;
	struct gmem_memtable *mt = NULL;
	struct gmem_file *f, *g = NULL;
	struct gmem_file_stats fst;
	struct gmem_stats st;
	int fds, sv[2];

	CHECK_OK(gmem_file_create(&a, &f));
	CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0);
	fds = t_count_fds();
	ia.fd = gmem_file_fd(f);
	arm_only("calloc", 1);
	CHECK_ERR(gmem_file_import(&ia, &g), ENOMEM);
	arm_only("calloc", 1);
	CHECK_ERR(gmem_populate_start(f, 0, 4 * MIB, NULL, &j), ENOMEM);
	arm_only("calloc", 1);
	CHECK_ERR(gmem_file_set_numa_policy(f, 0, 4 * MIB, &dflt), ENOMEM);
	arm_only("calloc", 1);
	CHECK_ERR(gmem_stats(&st), ENOMEM);
	ma.sock_fd = sv[1];
	arm_only("calloc", 1);
	CHECK_ERR(gmem_memtable_open(&ma, &mt), ENOMEM);
	/* A new file's books grow on its first populate or discard. */
	arm_only("realloc", 1);
	CHECK_ERR(gmem_populate_with(f, 0, 4 * MIB, &pa), ENOMEM);
	CHECK(strstr(gmem_last_error(), "out of memory"));
	arm_only("realloc", 1);
	CHECK_ERR(gmem_discard(f, 0, 4 * MIB), ENOMEM);
	disarm();
	CHECK(!g && !j && !mt && t_count_fds() == fds);
	CHECK_OK(gmem_file_stats(f, &fst));
	CHECK(fst.populated_bytes == 0 && fst.populate_calls == 1 &&
	      fst.discard_calls == 0);
	close(sv[0]);
	close(sv[1]);
	CHECK_OK(gmem_file_close(f));
}

static void out_of_memory_in_vms(void)
{
	struct gmem_devproc_args da = { .timeout_ms = 50 };
	struct gmem_vm *vm, *vm2 = NULL;
	struct gmem_devproc *d = NULL;
	struct gmem_file_stats st;
	int fds, sv[2];

	T_SKIP_UNLESS(t_need_kvm());
	CHECK_OK(gmem_vm_create(&vm));
	CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0);
	fds = t_count_fds();
	arm_only("calloc", 1);
	CHECK_ERR(gmem_vm_create(&vm2), ENOMEM);
	arm_only("calloc", 1);
	CHECK_ERR(gmem_vm_open(gmem_vm_fd(vm), 0, 1, &vm2), ENOMEM);
	arm_only("calloc", 1);
	CHECK_ERR(gmem_vm_stats(vm, &st), ENOMEM);
	da.sock_fd = sv[0];
	arm_only("calloc", 1);
	CHECK_ERR(gmem_devproc_add(vm, &da, &d), ENOMEM);
	disarm();
	CHECK(!vm2 && !d && t_count_fds() == fds);
	close(sv[0]);
	close(sv[1]);
	CHECK_OK(gmem_vm_close(vm));
}

/*
 * A kernel call that fails in the calls the cases above do not reach:
 * the call fails with the kernel's error and a reason that names it.
 */
static void kernel_refusals_in_files(void)
{
	struct gmem_file_args a = { .size = 4 * MIB,
				    .backend = GMEM_BACKEND_MEMFD };
	uint64_t nodes[GMEM_MAX_NUMA_NODES] = { 0 };
	struct gmem_numa_policy dflt = { 0 };
	struct gmem_import_args ia = { 0 };
	struct gmem_file *f, *g = NULL;
	int64_t found;
	int ret, fds;

	CHECK_OK(gmem_file_create(&a, &f));
	fds = t_count_fds();
	/* mbind runs only where the kernel has NUMA. */
	arm_only("mbind", 1);
	ret = gmem_file_set_numa_policy(f, 0, 4 * MIB, &dflt);
	disarm();
	if (fi.fired)
		CHECK(ret == -EIO && strstr(gmem_last_error(), "mbind"));
	else
		CHECK_OK(ret);
	arm_only("set_mempolicy", 1);
	CHECK_ERR(gmem_numa_bind_thread(&dflt), EIO);
	CHECK(strstr(gmem_last_error(), "set_mempolicy"));
	/* move_pages goes by syscall(), as the interposer names it. */
	arm_only("syscall", 1);
	found = gmem_file_query_nodes(f, 0, 4 * MIB, nodes);
	disarm();
	CHECK(found == -EIO && strstr(gmem_last_error(), "move_pages"));
	ia.fd = gmem_file_fd(f);
	arm_only("fcntl", 1);
	CHECK_ERR(gmem_file_import(&ia, &g), EIO);
	disarm();
	CHECK(strstr(gmem_last_error(), "duplicating"));
	CHECK(!g && t_count_fds() == fds);
	CHECK_OK(gmem_file_close(f));
}

static void kernel_refusals_in_vms(void)
{
	struct gmem_vm_caps caps;
	struct gmem_vm *vm, *vm2 = NULL;
	int ret;

	T_SKIP_UNLESS(t_need_kvm());
	arm_only("KVM_CREATE_VM", 1);
	CHECK_ERR(gmem_vm_create(&vm2), EIO);
	CHECK(strstr(gmem_last_error(), "KVM_CREATE_VM"));
	/* The probe: a type KVM lacks is data, but a failing KVM is an
	 * error, with its reason. */
	arm_only("KVM_CREATE_VM", 1);
	ret = gmem_probe_vm_type(GMEM_VM_TYPE_DEFAULT, &caps);
	disarm();
	CHECK(ret == -EIO && strstr(gmem_last_error(), "KVM_CREATE_VM"));
	CHECK(!vm2);
	CHECK_OK(gmem_vm_create(&vm));
	arm_only("KVM_CAP", 1);
	CHECK_ERR(gmem_prefault(vm, -1, 0, 4096), EIO);
	CHECK(strstr(gmem_last_error(), "KVM_CHECK_EXTENSION"));
	arm_only("KVM_CAP", 1);
	CHECK_ERR(gmem_vm_enable_conversion_exits(vm), EIO);
	disarm();
	/* KVM_ENABLE_CAP, where this KVM passes the hypercall on at all. */
	arm_only("ioctl", 1);
	ret = gmem_vm_enable_conversion_exits(vm);
	disarm();
	if (ret != -EOPNOTSUPP)
		CHECK(ret == -EIO && strstr(gmem_last_error(),
					    "KVM_ENABLE_CAP"));
	CHECK_OK(gmem_vm_close(vm));
}

static const struct t_case cases[] = {
	T_CASE(create_memfd),
	T_CASE(create_guest_memfd),
	T_CASE(create_hugetlb),
	T_CASE(bind_fails_cleanly),
	T_CASE(failed_memslot_delete_keeps_the_binding),
	T_CASE(vm_close_out_of_memory),
	T_CASE(populate_and_discard_fail_cleanly),
	T_CASE(populate_and_discard_fail_hugetlb),
	T_CASE(populate_and_discard_fail_guest_memfd),
	T_CASE(no_hidden_vm_creation),
	T_CASE(no_numa_in_the_kernel),
	T_CASE(interrupted_piece_is_retried),
	T_CASE(closing_vm_takes_nothing_new),
	T_CASE(out_of_memory_in_files),
	T_CASE(out_of_memory_in_vms),
	T_CASE(kernel_refusals_in_files),
	T_CASE(kernel_refusals_in_vms),
};
T_MAIN(cases)
