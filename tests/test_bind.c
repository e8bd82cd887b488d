// SPDX-License-Identifier: MIT
/*
 * test_bind.c - bindings: memslots made and removed exactly, the caller's
 * slots left alone, and every bad binding refused with nothing changed.
 */
#include <fcntl.h>
#include <sched.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/kvm.h>

#include "harness.h"

#define MIB (1ULL << 20)

struct fixture {
	struct gmem_vm *vm;
	struct gmem_file *f;
};

static bool setup(struct fixture *x, enum gmem_backend backend, uint64_t size)
{
	struct gmem_file_args a = { 0 };

	memset(x, 0, sizeof(*x));
	if (!t_need_kvm())
		return false;
	if (backend == GMEM_BACKEND_GUEST_MEMFD && !t_need_guest_memfd_mmap())
		return false;
	if (gmem_vm_create(&x->vm) < 0) {
		t_fail(__FILE__, __LINE__, "vm: %s", gmem_last_error());
		return false;
	}
	a.size = size;
	a.backend = backend;
	a.vm = x->vm;
	if (gmem_file_create(&a, &x->f) < 0) {
		t_fail(__FILE__, __LINE__, "file: %s", gmem_last_error());
		gmem_vm_close(x->vm);
		return false;
	}
	return true;
}

static void teardown(struct fixture *x)
{
	if (x->f)
		gmem_file_close(x->f);
	if (x->vm)
		gmem_vm_close(x->vm);
}

static struct gmem_bind_args bargs(uint64_t off, uint64_t len, uint64_t gpa)
{
	struct gmem_bind_args a = { 0 };

	a.offset = off;
	a.length = len;
	a.gpa = gpa;
	a.slot = GMEM_SLOT_ANY;
	return a;
}

static uint32_t live_bindings(struct gmem_file *f)
{
	struct gmem_file_stats st;

	gmem_file_stats(f, &st);
	return st.bindings;
}

static void bind_unbind_is_symmetric(enum gmem_backend backend)
{
	struct fixture x;
	struct gmem_binding *b;
	struct gmem_bind_args a = bargs(0, 4 * MIB, 1ULL << 30);
	int slot;

	T_SKIP_UNLESS(setup(&x, backend, 4 * MIB));
	CHECK_OK(gmem_bind(x.vm, x.f, &a, &b));
	slot = gmem_binding_slot(b);
	CHECK(slot >= 0);
	CHECK(live_bindings(x.f) == 1);
	CHECK_OK(gmem_unbind(b));
	CHECK(live_bindings(x.f) == 0);
	/* The same slot and range are free again, in the library and in KVM. */
	a.slot = slot;
	CHECK_OK(gmem_bind(x.vm, x.f, &a, &b));
	CHECK(gmem_binding_slot(b) == slot);
	CHECK_OK(gmem_unbind(b));
	teardown(&x);
}

static void bind_unbind_memfd(void)
{
	bind_unbind_is_symmetric(GMEM_BACKEND_MEMFD);
}

static void bind_unbind_guest_memfd(void)
{
	bind_unbind_is_symmetric(GMEM_BACKEND_GUEST_MEMFD);
}

static void one_file_backs_several_slots(void)
{
	struct fixture x;
	struct gmem_binding *b[3];
	struct gmem_bind_args a;

	T_SKIP_UNLESS(setup(&x, GMEM_BACKEND_MEMFD, 8 * MIB));
	for (int i = 0; i < 3; i++) {
		/* Overlapping file ranges are fine; guest ranges are not. */
		a = bargs((uint64_t)i * 2 * MIB, 4 * MIB,
			  (1ULL << 32) + (uint64_t)i * 64 * MIB);
		CHECK_OK(gmem_bind(x.vm, x.f, &a, &b[i]));
	}
	CHECK(gmem_binding_slot(b[0]) != gmem_binding_slot(b[1]));
	CHECK(gmem_binding_slot(b[1]) != gmem_binding_slot(b[2]));
	CHECK(live_bindings(x.f) == 3);
	for (int i = 0; i < 3; i++)
		CHECK_OK(gmem_unbind(b[i]));
	teardown(&x);
}

/* Each bad binding fails with its errno, a reason, and no change. */
static void bad_bindings_change_nothing(void)
{
	struct fixture x;
	struct gmem_binding *b, *out = NULL;
	struct gmem_bind_args a;
	int fds;

	T_SKIP_UNLESS(setup(&x, GMEM_BACKEND_MEMFD, 4 * MIB));
	a = bargs(0, 2 * MIB, 0);
	CHECK_OK(gmem_bind(x.vm, x.f, &a, &b));
	fds = t_count_fds();

	a = bargs(1, 4096, 16 * MIB);
	CHECK_ERR(gmem_bind(x.vm, x.f, &a, &out), EINVAL);	/* offset */
	a = bargs(0, 4095, 16 * MIB);
	CHECK_ERR(gmem_bind(x.vm, x.f, &a, &out), EINVAL);	/* length */
	a = bargs(0, 0, 16 * MIB);
	CHECK_ERR(gmem_bind(x.vm, x.f, &a, &out), EINVAL);	/* empty */
	a = bargs(0, 4096, 16 * MIB + 512);
	CHECK_ERR(gmem_bind(x.vm, x.f, &a, &out), EINVAL);	/* gpa */
	CHECK(strstr(gmem_last_error(), "guest address"));
	a = bargs(~0ULL << 12, 8192, 16 * MIB);
	CHECK_ERR(gmem_bind(x.vm, x.f, &a, &out), EOVERFLOW);	/* off+len */
	a = bargs(0, 8192, ~0ULL << 12);
	CHECK_ERR(gmem_bind(x.vm, x.f, &a, &out), EOVERFLOW);	/* gpa+len */
	CHECK(strstr(gmem_last_error(), "wraps"));
	a = bargs(2 * MIB, 4 * MIB, 16 * MIB);
	CHECK_ERR(gmem_bind(x.vm, x.f, &a, &out), ERANGE);	/* past end */
	a = bargs(0, 4096, 2 * MIB - 4096);
	CHECK_ERR(gmem_bind(x.vm, x.f, &a, &out), EEXIST);	/* overlap */
	CHECK(strstr(gmem_last_error(), "overlaps slot"));
	a = bargs(0, 4096, 16 * MIB);
	a.slot = gmem_binding_slot(b);
	CHECK_ERR(gmem_bind(x.vm, x.f, &a, &out), EBUSY);	/* slot used */
	a.slot = 1 << 20;
	CHECK_ERR(gmem_bind(x.vm, x.f, &a, &out), ERANGE);	/* slot range */
	a.slot = -7;
	CHECK_ERR(gmem_bind(x.vm, x.f, &a, &out), ERANGE);
	a = bargs(0, 4096, 16 * MIB);
	a.flags = 1;
	CHECK_ERR(gmem_bind(x.vm, x.f, &a, &out), EINVAL);	/* flags */
	a.flags = 0;
	a.reserved[0] = 1;
	CHECK_ERR(gmem_bind(x.vm, x.f, &a, &out), EINVAL);	/* reserved */
	a.reserved[0] = 0;
	CHECK_ERR(gmem_bind(NULL, x.f, &a, &out), EINVAL);
	CHECK_ERR(gmem_bind(x.vm, NULL, &a, &out), EINVAL);
	CHECK_ERR(gmem_bind(x.vm, x.f, NULL, &out), EINVAL);
	CHECK_ERR(gmem_bind(x.vm, x.f, &a, NULL), EINVAL);
	CHECK_ERR(gmem_unbind(NULL), EINVAL);
	CHECK_ERR(gmem_binding_slot(NULL), EINVAL);

	CHECK(out == NULL);
	CHECK(live_bindings(x.f) == 1);
	CHECK(t_count_fds() == fds);
	CHECK_OK(gmem_unbind(b));
	teardown(&x);
}

static void no_free_slot(void)
{
	struct fixture x;
	struct gmem_vm *borrowed;
	struct gmem_binding *b1, *b2 = NULL;
	struct gmem_bind_args a;

	T_SKIP_UNLESS(setup(&x, GMEM_BACKEND_MEMFD, 4 * MIB));
	CHECK_OK(gmem_vm_open(gmem_vm_fd(x.vm), 5, 1, &borrowed));
	a = bargs(0, 4096, 0);
	CHECK_OK(gmem_bind(borrowed, x.f, &a, &b1));
	CHECK(gmem_binding_slot(b1) == 5);
	a = bargs(4096, 4096, 1 * MIB);
	CHECK_ERR(gmem_bind(borrowed, x.f, &a, &b2), ENOSPC);
	CHECK(strstr(gmem_last_error(), "in use"));
	CHECK_OK(gmem_unbind(b1));
	CHECK_OK(gmem_vm_close(borrowed));
	teardown(&x);
}

static void guest_memfd_binds_only_to_its_vm(void)
{
	struct fixture x;
	struct gmem_vm *other;
	struct gmem_binding *b = NULL;
	struct gmem_bind_args a = bargs(0, 4096, 0);

	T_SKIP_UNLESS(setup(&x, GMEM_BACKEND_GUEST_MEMFD, 4 * MIB));
	CHECK_OK(gmem_vm_create(&other));
	CHECK_ERR(gmem_bind(other, x.f, &a, &b), EXDEV);
	CHECK(strstr(gmem_last_error(), "another VM"));
	CHECK(b == NULL);
	CHECK_OK(gmem_vm_close(other));
	teardown(&x);
}

/* A raw memslot of the caller's, at slot s over [gpa, gpa + len). */
static int caller_slot(int vm_fd, uint32_t s, uint64_t gpa, uint64_t len,
		       void *mem)
{
	struct kvm_userspace_memory_region r = {
		.slot = s,
		.guest_phys_addr = gpa,
		.memory_size = len,
		.userspace_addr = (uintptr_t)mem,
	};

	return ioctl(vm_fd, KVM_SET_USER_MEMORY_REGION, &r);
}

/* The library uses only the slots it was given and leaves the rest alone. */
static void borrowed_vm_leaves_callers_slots_alone(void)
{
	struct fixture x;
	struct gmem_vm *vm;
	struct gmem_binding *b, *clash = NULL;
	struct gmem_bind_args a;
	void *mem;
	int vm_fd;

	T_SKIP_UNLESS(setup(&x, GMEM_BACKEND_MEMFD, 4 * MIB));
	vm_fd = gmem_vm_fd(x.vm);
	mem = mmap(NULL, 2 * MIB, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(mem != MAP_FAILED);
	CHECK(caller_slot(vm_fd, 0, 0, 2 * MIB, mem) == 0);

	CHECK_OK(gmem_vm_open(vm_fd, 10, 4, &vm));
	a = bargs(0, 2 * MIB, 64 * MIB);
	CHECK_OK(gmem_bind(vm, x.f, &a, &b));
	CHECK(gmem_binding_slot(b) == 10);
	/* Overlapping the caller's slot is refused by KVM, and said so. */
	a = bargs(0, 4096, 4096);
	CHECK_ERR(gmem_bind(vm, x.f, &a, &clash), EEXIST);
	CHECK(strstr(gmem_last_error(), "does not manage"));
	CHECK_OK(gmem_vm_close(vm));
	CHECK_OK(gmem_unbind(b));

	/* Our slot is gone (the range is free), the caller's is still there. */
	CHECK(caller_slot(vm_fd, 11, 64 * MIB, 2 * MIB, mem) == 0);
	CHECK(caller_slot(vm_fd, 12, 0, 2 * MIB, mem) < 0 && errno == EEXIST);
	CHECK(fcntl(vm_fd, F_GETFD) >= 0);	/* a borrowed fd stays open */
	munmap(mem, 2 * MIB);
	teardown(&x);
}

static void bad_vm_open(void)
{
	struct gmem_vm *vm = NULL;
	int nr, kvm_fd, vm_fd, fd;

	T_SKIP_UNLESS(t_need_kvm());
	CHECK_ERR(gmem_vm_open(-1, 0, 1, &vm), EBADF);
	CHECK_ERR(gmem_vm_open(1000, 0, 1, &vm), EBADF);
	fd = open("/dev/null", O_RDONLY);
	CHECK_ERR(gmem_vm_open(fd, 0, 1, &vm), ENOTTY);
	CHECK(strstr(gmem_last_error(), "not a KVM VM fd"));
	close(fd);
	kvm_fd = open("/dev/kvm", O_RDWR);
	CHECK_ERR(gmem_vm_open(kvm_fd, 0, 1, &vm), ENOTTY);
	vm_fd = ioctl(kvm_fd, KVM_CREATE_VM, 0);
	CHECK(vm_fd >= 0);
	nr = ioctl(vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_MEMSLOTS);
	CHECK_ERR(gmem_vm_open(vm_fd, 0, 0, &vm), EINVAL);
	CHECK_ERR(gmem_vm_open(vm_fd, (unsigned int)nr, 1, &vm), ERANGE);
	CHECK_ERR(gmem_vm_open(vm_fd, 1, (unsigned int)nr, &vm), ERANGE);
	CHECK_ERR(gmem_vm_open(vm_fd, 0, 1, NULL), EINVAL);
	CHECK_ERR(gmem_vm_close(NULL), EINVAL);
	CHECK(vm == NULL);
	close(vm_fd);
	close(kvm_fd);
}

/* The other VM calls refuse what they cannot use. */
static void bad_vm_arguments(void)
{
	struct gmem_vm *vm = NULL, *vm2 = NULL;
	struct gmem_vm_caps c;

	CHECK_ERR(gmem_vm_create(NULL), EINVAL);
	CHECK_ERR(gmem_vm_create_type(GMEM_VM_TYPE_DEFAULT, NULL), EINVAL);
	CHECK_ERR(gmem_vm_create_type(GMEM_VM_TYPE_COUNT, &vm2), EINVAL);
	CHECK(strstr(gmem_last_error(), "unknown VM type"));
	CHECK_ERR(gmem_probe_vm_type(GMEM_VM_TYPE_COUNT, &c), EINVAL);
	CHECK_ERR(gmem_probe_vm_type(GMEM_VM_TYPE_DEFAULT, NULL), EINVAL);
	CHECK_ERR(gmem_vm_get_caps(NULL, &c), EINVAL);
	CHECK_ERR(gmem_vm_fd(NULL), EINVAL);
	CHECK(vm2 == NULL);
	T_SKIP_UNLESS(t_need_kvm());
	CHECK_OK(gmem_vm_create(&vm));
	CHECK_ERR(gmem_vm_get_caps(vm, NULL), EINVAL);
	CHECK_OK(gmem_vm_close(vm));
}

/*
 * A jailed VMM has no /proc: the library tells a VM fd by asking KVM.
 * The child hides /proc behind an empty tmpfs in a mount namespace of its
 * own, then opens, binds and closes.
 */
static void vm_open_without_proc(void)
{
	struct gmem_file_args fa = { .size = 2 * MIB,
				     .backend = GMEM_BACKEND_MEMFD };
	int status;
	pid_t pid;

	T_SKIP_UNLESS(t_need_kvm());
	/* KVM serves a VM only to the process that made it: all in the child. */
	pid = fork();
	if (pid == 0) {
		struct gmem_bind_args ba = bargs(0, 2 * MIB, 0);
		struct gmem_binding *b;
		struct gmem_file *f;
		struct gmem_vm *vm;
		int kvm_fd, vm_fd;

		if (unshare(CLONE_NEWNS) < 0 ||
		    mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) < 0 ||
		    mount("tmpfs", "/proc", "tmpfs", 0, NULL) < 0)
			_exit(77);
		if (access("/proc/self/fd", F_OK) == 0)
			_exit(3);
		kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
		vm_fd = ioctl(kvm_fd, KVM_CREATE_VM, 0);
		if (gmem_vm_open(vm_fd, 0, 4, &vm) < 0 ||
		    gmem_file_create(&fa, &f) < 0 ||
		    gmem_bind(vm, f, &ba, &b) < 0 || gmem_unbind(b) < 0 ||
		    gmem_file_close(f) < 0 || gmem_vm_close(vm) < 0) {
			fprintf(stderr, "# %s\n", gmem_last_error());
			_exit(1);
		}
		_exit(0);
	}
	CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 77) {
		t_skip("cannot make a mount namespace here");
		return;
	}
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static const struct t_case cases[] = {
	T_CASE(bind_unbind_memfd),
	T_CASE(bind_unbind_guest_memfd),
	T_CASE(one_file_backs_several_slots),
	T_CASE(bad_bindings_change_nothing),
	T_CASE(no_free_slot),
	T_CASE(guest_memfd_binds_only_to_its_vm),
	T_CASE(borrowed_vm_leaves_callers_slots_alone),
	T_CASE(bad_vm_open),
	T_CASE(bad_vm_arguments),
	T_CASE(vm_open_without_proc),
};
T_MAIN(cases)
