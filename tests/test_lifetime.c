// SPDX-License-Identifier: MIT
/*
 * test_lifetime.c - VMs, files and bindings closed in any order: no crash,
 * no use-after-free (run under ASan and valgrind), no leaked fd.  The two
 * sequences from the seed thread come first.
 */
#include <pthread.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>

#include <linux/kvm.h>

#include "harness.h"
#include "runner.h"

#define MIB (1ULL << 20)

static bool need(enum gmem_backend backend)
{
	if (backend == GMEM_BACKEND_GUEST_MEMFD)
		return t_need_guest_memfd_mmap();
	return t_need_kvm();
}

static int make_file(struct gmem_vm *vm, enum gmem_backend backend,
		     struct gmem_file **f)
{
	struct gmem_file_args a = { 0 };

	a.size = 4 * MIB;
	a.backend = backend;
	a.vm = vm;
	return gmem_file_create(&a, f);
}

static int make_binding(struct gmem_vm *vm, struct gmem_file *f,
			struct gmem_binding **b)
{
	struct gmem_bind_args a = { 0 };

	a.length = 4 * MIB;
	a.slot = GMEM_SLOT_ANY;
	return gmem_bind(vm, f, &a, b);
}

/* Seed 1: create VM, create gmem, bind, close VM, punch hole. */
static void seed_close_vm_then_punch(enum gmem_backend backend)
{
	struct gmem_vm *vm;
	struct gmem_file *f;
	struct gmem_binding *b;
	struct gmem_file_stats st;
	int fds;

	T_SKIP_UNLESS(need(backend));
	fds = t_count_fds();
	CHECK_OK(gmem_vm_create(&vm));
	CHECK_OK(make_file(vm, backend, &f));
	CHECK_OK(make_binding(vm, f, &b));
	CHECK_OK(gmem_populate(f, 0, 4 * MIB));
	CHECK_OK(gmem_vm_close(vm));
	/* The binding ended with its VM; the file lives on. */
	CHECK_ERR(gmem_binding_slot(b), ENOTCONN);
	CHECK_OK(gmem_discard(f, 0, 2 * MIB));
	CHECK_OK(gmem_populate(f, 0, 4 * MIB));
	CHECK_OK(gmem_file_stats(f, &st));
	CHECK(st.bindings == 0 && st.populated_bytes == 4 * MIB);
	CHECK_OK(gmem_unbind(b));
	CHECK_OK(gmem_discard(f, 0, 4 * MIB));
	CHECK_OK(gmem_file_close(f));
	CHECK(t_count_fds() == fds);
}

/* Seed 2: the same without the bind. */
static void seed_close_vm_unbound_then_punch(enum gmem_backend backend)
{
	struct gmem_vm *vm;
	struct gmem_file *f;
	int fds;

	T_SKIP_UNLESS(need(backend));
	fds = t_count_fds();
	CHECK_OK(gmem_vm_create(&vm));
	CHECK_OK(make_file(vm, backend, &f));
	CHECK_OK(gmem_vm_close(vm));
	CHECK_OK(gmem_discard(f, 0, 4 * MIB));
	CHECK_OK(gmem_file_close(f));
	CHECK(t_count_fds() == fds);
}

static void seed1_guest_memfd(void)
{
	seed_close_vm_then_punch(GMEM_BACKEND_GUEST_MEMFD);
}

static void seed1_memfd(void)
{
	seed_close_vm_then_punch(GMEM_BACKEND_MEMFD);
}

static void seed2_guest_memfd(void)
{
	seed_close_vm_unbound_then_punch(GMEM_BACKEND_GUEST_MEMFD);
}

static void seed2_memfd(void)
{
	seed_close_vm_unbound_then_punch(GMEM_BACKEND_MEMFD);
}

enum obj { VM, FILE_, BINDING };

static int close_obj(enum obj o, struct gmem_vm *vm, struct gmem_file *f,
		     struct gmem_binding *b)
{
	switch (o) {
	case VM:
		return gmem_vm_close(vm);
	case FILE_:
		return gmem_file_close(f);
	default:
		return gmem_unbind(b);
	}
}

/* All six orders of closing a VM, a file and a binding of it. */
static void every_close_order(enum gmem_backend backend)
{
	static const enum obj orders[6][3] = {
		{ VM, FILE_, BINDING }, { VM, BINDING, FILE_ },
		{ FILE_, VM, BINDING }, { FILE_, BINDING, VM },
		{ BINDING, VM, FILE_ }, { BINDING, FILE_, VM },
	};
	int fds;

	T_SKIP_UNLESS(need(backend));
	fds = t_count_fds();
	for (int i = 0; i < 6; i++) {
		struct gmem_vm *vm;
		struct gmem_file *f;
		struct gmem_binding *b;

		CHECK_OK(gmem_vm_create(&vm));
		CHECK_OK(make_file(vm, backend, &f));
		CHECK_OK(make_binding(vm, f, &b));
		for (int j = 0; j < 3; j++) {
			/* A file still bound keeps working after its close. */
			if (orders[i][j] == BINDING && j > 0 &&
			    orders[i][0] == FILE_ && orders[i][1] != VM)
				CHECK_OK(gmem_binding_slot(b));
			CHECK_OK(close_obj(orders[i][j], vm, f, b));
		}
		CHECK(t_count_fds() == fds);
	}
}

static void orders_guest_memfd(void)
{
	every_close_order(GMEM_BACKEND_GUEST_MEMFD);
}

static void orders_memfd(void)
{
	every_close_order(GMEM_BACKEND_MEMFD);
}

/* A guest keeps running on RAM whose file handle the VMM already closed. */
static void guest_runs_after_file_close(void)
{
	struct guest_config cfg = { 0 };
	struct guest g;
	uint64_t res;

	T_SKIP_UNLESS(t_need_kvm());
	cfg.backend = GMEM_BACKEND_AUTO;
	cfg.ram_size = 8 * MIB;
	CHECK(guest_create(&g, &cfg) == 0);
	CHECK_OK(gmem_file_close(g.ram));
	g.ram = NULL;
	CHECK(guest_memcmd_start(&g) == 0);
	CHECK(guest_memcmd(&g, MEMCMD_FILL_PAGES, 4 * MIB, 2 * MIB, 7, 0, NULL) == 0);
	CHECK(guest_memcmd(&g, MEMCMD_CHECK_PAGES, 4 * MIB, 2 * MIB, 7, 0, &res) == 0);
	CHECK(res == GUEST_CHECK_OK);
	CHECK(guest_memcmd_stop(&g) == 0);
	guest_destroy(&g);
}

/* Unbinding under a live vCPU ends the guest's access to that range. */
static void unbind_under_live_vcpu_ends_access(void)
{
	struct guest_config cfg = { 0 };
	struct gmem_file_args fa = { 0 };
	struct gmem_bind_args ba = { 0 };
	struct gmem_binding *b;
	struct gmem_file *f;
	struct guest g;
	uint64_t v;

	T_SKIP_UNLESS(t_need_kvm());
	cfg.backend = GMEM_BACKEND_MEMFD;
	cfg.ram_size = 4 * MIB;
	CHECK(guest_create(&g, &cfg) == 0);
	fa.size = 2 * MIB;
	fa.backend = GMEM_BACKEND_MEMFD;
	CHECK_OK(gmem_file_create(&fa, &f));
	ba.length = 2 * MIB;
	ba.gpa = 1ULL << 30;
	ba.slot = GMEM_SLOT_ANY;
	CHECK_OK(gmem_bind(g.vm, f, &ba, &b));
	CHECK(guest_memcmd_start(&g) == 0);
	CHECK(guest_memcmd(&g, MEMCMD_WRITE64, 1ULL << 30, 42, 0, 0, NULL) == 0);
	CHECK(guest_memcmd(&g, MEMCMD_READ64, 1ULL << 30, 0, 0, 0, &v) == 0);
	CHECK(v == 42);
	CHECK_OK(gmem_unbind(b));
	CHECK_OK(gmem_file_close(f));
	CHECK(guest_memcmd(&g, MEMCMD_READ64, 1ULL << 30, 0, 0, 0, &v) == -EFAULT);
	CHECK(strstr(g.error, "unbacked"));
	guest_destroy(&g);
}

/* Whether the vCPU's page walk reaches memory: KVM_TRANSLATE of gva. */
static int translates(int vcpu_fd, uint64_t gva)
{
	struct kvm_translation tr = { .linear_address = gva };

	if (ioctl(vcpu_fd, KVM_TRANSLATE, &tr) < 0)
		return -1;
	return tr.valid;
}

/*
 * Closing the VM handle while a vCPU fd still holds the kernel's VM must
 * end its memslots all the same (bind and unbind stay symmetric).  The
 * vCPU's page walk shows it: the tables lived in a slot that is gone.
 * (Running the guest there is up to KVM: it may hang, so it is not done.)
 */
static void vm_close_under_live_vcpu_ends_slots(void)
{
	struct guest_config cfg = { 0 };
	struct gmem_file_stats st;
	struct gmem_vm *vm;
	struct guest g;
	int fds;

	T_SKIP_UNLESS(t_need_kvm());
	fds = t_count_fds();
	CHECK_OK(gmem_vm_create(&vm));
	cfg.backend = GMEM_BACKEND_AUTO;
	cfg.ram_size = 4 * MIB;
	cfg.vm = vm;
	CHECK(guest_create(&g, &cfg) == 0);
	CHECK(guest_memcmd_start(&g) == 0);
	CHECK(translates(g.vcpu_fd, GUEST_CODE_GPA) == 1);
	CHECK_OK(gmem_vm_close(vm));
	CHECK_ERR(gmem_binding_slot(g.ram_binding), ENOTCONN);
	CHECK_OK(gmem_file_stats(g.ram, &st));
	CHECK(st.bindings == 0);
	CHECK(translates(g.vcpu_fd, GUEST_CODE_GPA) == 0);
	guest_destroy(&g);
	CHECK(t_count_fds() == fds);
}

static volatile int stop_reader;

static void *read_stats(void *arg)
{
	struct gmem_stats s;

	(void)arg;
	/* Pause between reads: under valgrind threads take turns, and a
	 * spinning reader would starve the closing thread. */
	while (!__atomic_load_n(&stop_reader, __ATOMIC_ACQUIRE)) {
		gmem_stats(&s);
		usleep(200);
	}
	return NULL;
}

/*
 * Process-wide figures are read while VMs, files and bindings come and
 * go in every order: no deadlock (lock order registry, VM, file) and no
 * use of a freed object (ASan and valgrind runs).
 */
static void stats_while_closing(void)
{
	pthread_t reader;
	int fds;

	T_SKIP_UNLESS(t_need_kvm());
	fds = t_count_fds();
	stop_reader = 0;
	CHECK(pthread_create(&reader, NULL, read_stats, NULL) == 0);
	for (int i = 0; i < 30 && !t_failed(); i++) {
		struct gmem_file_stats st;
		struct gmem_vm *vm;
		struct gmem_file *f;
		struct gmem_binding *b;

		if (gmem_vm_create(&vm) < 0 ||
		    make_file(vm, GMEM_BACKEND_MEMFD, &f) < 0 ||
		    make_binding(vm, f, &b) < 0) {
			t_fail(__FILE__, __LINE__, "%s", gmem_last_error());
			break;
		}
		gmem_vm_stats(vm, &st);
		if (i % 3 == 0) {
			gmem_vm_close(vm);
			gmem_file_close(f);
			gmem_unbind(b);
		} else if (i % 3 == 1) {
			gmem_file_close(f);
			gmem_unbind(b);
			gmem_vm_close(vm);
		} else {
			gmem_unbind(b);
			gmem_vm_close(vm);
			gmem_file_close(f);
		}
	}
	__atomic_store_n(&stop_reader, 1, __ATOMIC_RELEASE);
	pthread_join(reader, NULL);
	CHECK(t_count_fds() == fds);
}

static const struct t_case cases[] = {
	T_CASE(seed1_guest_memfd),
	T_CASE(seed1_memfd),
	T_CASE(seed2_guest_memfd),
	T_CASE(seed2_memfd),
	T_CASE(orders_guest_memfd),
	T_CASE(orders_memfd),
	T_CASE(guest_runs_after_file_close),
	T_CASE(unbind_under_live_vcpu_ends_access),
	T_CASE(vm_close_under_live_vcpu_ends_slots),
	T_CASE(stats_while_closing),
};
T_MAIN(cases)
