// SPDX-License-Identifier: MIT
/*
 * test_private.c - private memory, run for real on a VM type that has it
 * (the emulated machine's KVM is built with KVM_SW_PROTECTED_VM): VM types
 * and their capabilities, memslots with a shared and a private side, what
 * a guest sees after each conversion, conversions the guest asks for, the
 * figures by kind, and that the host never sees private bytes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <linux/kvm.h>

#include "harness.h"
#include "runner.h"

#define KIB (1ULL << 10)
#define MIB (1ULL << 20)
#define GIB (1ULL << 30)

#define AREA GIB		/* the two-sided binding */
#define AREA_LEN (4 * MIB)
#define SEED_SHARED 0x5a5a
#define SEED_PRIVATE 0xa5a5

/* A type-1 VM running memcmd, with a two-sided binding at AREA. */
struct pvm {
	struct guest g;
	struct gmem_file *shared;	/* memfd */
	struct gmem_file *private;	/* GMEM_FILE_PRIVATE guest_memfd */
	struct gmem_binding *b;
};

static int make(struct gmem_vm *vm, enum gmem_backend backend, uint32_t flags,
		uint64_t size, struct gmem_file **f)
{
	struct gmem_file_args a = { .size = size, .backend = backend,
				    .flags = flags, .vm = vm };

	return gmem_file_create(&a, f);
}

static int bind2(struct gmem_vm *vm, struct gmem_file *shared,
		 struct gmem_file *private, uint64_t gpa, uint64_t len,
		 struct gmem_binding **b)
{
	struct gmem_bind_args a = { .length = len, .gpa = gpa,
				    .slot = GMEM_SLOT_ANY,
				    .private_file = private };

	return gmem_bind(vm, shared, &a, b);
}

static bool pvm_start(struct pvm *p)
{
	struct guest_config cfg = { .backend = GMEM_BACKEND_MEMFD,
				    .ram_size = 8 * MIB,
				    .vm_type = GMEM_VM_TYPE_SW_PROTECTED };

	memset(p, 0, sizeof(*p));
	if (!t_need_private())
		return false;
	if (guest_create(&p->g, &cfg) < 0) {
		t_fail(__FILE__, __LINE__, "guest_create: %s", p->g.error);
		return false;
	}
	if (make(NULL, GMEM_BACKEND_MEMFD, 0, AREA_LEN, &p->shared) < 0 ||
	    make(p->g.vm, GMEM_BACKEND_GUEST_MEMFD, GMEM_FILE_PRIVATE,
		 AREA_LEN, &p->private) < 0 ||
	    bind2(p->g.vm, p->shared, p->private, AREA, AREA_LEN, &p->b) < 0) {
		t_fail(__FILE__, __LINE__, "%s", gmem_last_error());
		return false;
	}
	guest_host_fill_pages(gmem_file_host_addr(p->shared), AREA_LEN,
			      SEED_SHARED, 0);
	if (guest_memcmd_start(&p->g) < 0) {
		t_fail(__FILE__, __LINE__, "%s", p->g.error);
		return false;
	}
	return true;
}

static void pvm_stop(struct pvm *p)
{
	if (p->b)
		gmem_unbind(p->b);
	if (p->shared)
		gmem_file_close(p->shared);
	if (p->private)
		gmem_file_close(p->private);
	guest_destroy(&p->g);
}

#define MEMCMD(p, op, a, b, c, d, res)					\
	do {								\
		if (guest_memcmd(&(p)->g, op, a, b, c, d, res) < 0) {	\
			t_fail(__FILE__, __LINE__, "memcmd %s: %s", #op,	\
			       (p)->g.error);				\
			pvm_stop(p);					\
			return;						\
		}							\
	} while (0)

/* The guest's view of [gpa, gpa + len) holds pattern seed (0: zeros). */
#define GUEST_SEES(p, gpa, len, seed, base)				\
	do {								\
		uint64_t __r;						\
		if (seed)						\
			MEMCMD(p, MEMCMD_CHECK_PAGES, gpa, len, seed, base, \
			       &__r);					\
		else							\
			MEMCMD(p, MEMCMD_CHECK_ZERO_PAGES, gpa, len, base, 0, \
			       &__r);					\
		CHECK(__r == GUEST_CHECK_OK);				\
	} while (0)

/*
 * KVM's conversion call, intercepted (the Makefile links this program with
 * --wrap=ioctl): split_next makes the next one convert only its first half
 * for real and then fail, reporting the progress as KVM does, by moving
 * the address on.
 */
static bool split_next;

int __real_ioctl(int fd, unsigned long req, void *arg);
int __wrap_ioctl(int fd, unsigned long req, void *arg);
int __wrap_ioctl(int fd, unsigned long req, void *arg)
{
	struct {
		uint64_t address, size, attributes, flags;
	} *attrs = arg, first;

	if (!split_next || _IOC_TYPE(req) != KVMIO || _IOC_NR(req) != 0xd2)
		return __real_ioctl(fd, req, arg);
	split_next = false;
	first = *attrs;
	first.size = attrs->size / 2;
	if (__real_ioctl(fd, req, &first) < 0)
		return -1;
	attrs->address += first.size;
	attrs->size -= first.size;
	errno = EAGAIN;
	return -1;
}

/* ---- VM types ---- */

static void vm_types_and_their_caps(void)
{
	struct gmem_vm_caps dflt, prot, mine;
	struct gmem_host h;
	struct gmem_vm *vm;

	T_SKIP_UNLESS(t_need_private());
	CHECK_OK(gmem_probe(&h));
	CHECK(h.cap_vm_types & (1 << GMEM_VM_TYPE_SW_PROTECTED));
	CHECK_OK(gmem_probe_vm_type(GMEM_VM_TYPE_DEFAULT, &dflt));
	CHECK_OK(gmem_probe_vm_type(GMEM_VM_TYPE_SW_PROTECTED, &prot));
	CHECK(dflt.supported && prot.supported);
	CHECK(!(dflt.memory_attributes & GMEM_MEMORY_ATTRIBUTE_PRIVATE));
	CHECK(prot.memory_attributes & GMEM_MEMORY_ATTRIBUTE_PRIVATE);
	/* Private guest_memfd starts private: no INIT_SHARED on that type. */
	CHECK(!(prot.guest_memfd_flags & GMEM_KVM_GUEST_MEMFD_FLAG_INIT_SHARED));
	CHECK_OK(gmem_vm_create_type(GMEM_VM_TYPE_SW_PROTECTED, &vm));
	CHECK_OK(gmem_vm_get_caps(vm, &mine));
	CHECK(mine.type == GMEM_VM_TYPE_SW_PROTECTED);
	CHECK(mine.memory_attributes == prot.memory_attributes);
	CHECK_OK(gmem_vm_close(vm));
	CHECK(!strcmp(gmem_vm_type_name(GMEM_VM_TYPE_SW_PROTECTED),
		      "sw_protected"));
	/* Types the kernel lacks are data to the probe, errors to create. */
	for (uint32_t t = GMEM_VM_TYPE_SEV; t < GMEM_VM_TYPE_COUNT; t++) {
		struct gmem_vm_caps c;

		CHECK_OK(gmem_probe_vm_type(t, &c));
		if (!(h.cap_vm_types & (1ULL << t))) {
			CHECK(!c.supported);
			CHECK_ERR(gmem_vm_create_type(t, &vm), EOPNOTSUPP);
		}
	}
	CHECK_ERR(gmem_vm_create_type(GMEM_VM_TYPE_COUNT, &vm), EINVAL);
	CHECK_ERR(gmem_probe_vm_type(GMEM_VM_TYPE_COUNT, &prot), EINVAL);
}

/* ---- one memslot, two sides ---- */

/*
 * Page by page the attribute picks the side: the private side starts
 * empty, the shared side keeps its own bytes, private data survives a
 * round trip until it is discarded.
 */
static void guest_sees_each_side_by_attribute(void)
{
	struct gmem_file_stats st;
	struct pvm p;
	uint64_t run;

	T_SKIP_UNLESS(pvm_start(&p));
	GUEST_SEES(&p, AREA, AREA_LEN, SEED_SHARED, 0);
	CHECK_OK(gmem_convert(p.g.vm, AREA, 2 * MIB, GMEM_MEMORY_PRIVATE,
			      GMEM_CONVERT_KEEP));
	CHECK(gmem_memory_kind(p.g.vm, AREA, AREA_LEN, &run) ==
	      GMEM_MEMORY_PRIVATE && run == 2 * MIB);
	CHECK(gmem_memory_kind(p.g.vm, AREA + 2 * MIB, AREA_LEN, &run) ==
	      GMEM_MEMORY_SHARED && run == AREA_LEN);
	GUEST_SEES(&p, AREA, 2 * MIB, 0, 0);
	MEMCMD(&p, MEMCMD_FILL_PAGES, AREA, 2 * MIB, SEED_PRIVATE, 0, NULL);
	GUEST_SEES(&p, AREA, 2 * MIB, SEED_PRIVATE, 0);
	/* The shared side still holds its own bytes, the rest is shared. */
	CHECK(guest_host_check_pages(gmem_file_host_addr(p.shared), AREA_LEN,
				     SEED_SHARED, 0, false) == GUEST_CHECK_OK);
	GUEST_SEES(&p, AREA + 2 * MIB, 2 * MIB, SEED_SHARED, 2 * MIB);
	/* Back and forth, keeping both sides: each shows its own bytes. */
	CHECK_OK(gmem_convert(p.g.vm, AREA, 2 * MIB, GMEM_MEMORY_SHARED,
			      GMEM_CONVERT_KEEP));
	GUEST_SEES(&p, AREA, 2 * MIB, SEED_SHARED, 0);
	CHECK_OK(gmem_convert(p.g.vm, AREA, 2 * MIB, GMEM_MEMORY_PRIVATE,
			      GMEM_CONVERT_KEEP));
	GUEST_SEES(&p, AREA, 2 * MIB, SEED_PRIVATE, 0);
	/* A discard of the private side zeroes what the guest sees. */
	CHECK_OK(gmem_discard(p.private, MIB, MIB));
	GUEST_SEES(&p, AREA + MIB, MIB, 0, MIB);
	GUEST_SEES(&p, AREA, MIB, SEED_PRIVATE, 0);
	/* Without KEEP the side left behind is freed. */
	CHECK_OK(gmem_convert(p.g.vm, AREA, 2 * MIB, GMEM_MEMORY_SHARED, 0));
	CHECK_OK(gmem_file_stats(p.private, &st));
	CHECK(st.resident_bytes == 0 && st.private_bytes == 0);
	GUEST_SEES(&p, AREA, 2 * MIB, SEED_SHARED, 0);
	CHECK_OK(gmem_convert(p.g.vm, AREA, 2 * MIB, GMEM_MEMORY_PRIVATE, 0));
	CHECK(guest_host_check_pages(gmem_file_host_addr(p.shared), 2 * MIB,
				     0, 0, true) == GUEST_CHECK_OK);
	GUEST_SEES(&p, AREA, 2 * MIB, 0, 0);
	CHECK(guest_memcmd_stop(&p.g) == 0);
	pvm_stop(&p);
}

/* Does any mapping of this process show the file fd?  (By inode.) */
static bool mapped_anywhere(int fd)
{
	char line[512];
	struct stat st;
	bool found = false;
	FILE *maps;

	if (fstat(fd, &st) < 0 || !(maps = fopen("/proc/self/maps", "re")))
		return true;	/* cannot tell: count it as seen */
	while (!found && fgets(line, sizeof(line), maps)) {
		unsigned int major, minor;
		unsigned long inode;

		if (sscanf(line, "%*s %*s %*s %x:%x %lu", &major, &minor,
			   &inode) == 3 && inode == st.st_ino &&
		    makedev(major, minor) == st.st_dev)
			found = true;
	}
	fclose(maps);
	return found;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/*
 * What the guest writes to private memory shows in no mapping the library
 * gives the VMM.  The guest makes the secret itself from a seed (what the
 * host passes travels through shared memory), and the host looks for each
 * of its words in every library mapping.
 */
static void host_never_sees_private_bytes(void)
{
	const uint64_t seed = 0x5ec2e7 ^ (uint64_t)getpid();
	const uint64_t pages = AREA_LEN / 4096;
	const uint8_t *maps[2];
	uint64_t sizes[2], *secret, res;
	struct pvm p;

	T_SKIP_UNLESS(pvm_start(&p));
	CHECK(gmem_file_host_addr(p.private) == NULL);
	/* The private file is in no mapping of the process at all, while
	 * the shared one is (so the search can find one). */
	CHECK(mapped_anywhere(gmem_file_fd(p.shared)));
	CHECK(!mapped_anywhere(gmem_file_fd(p.private)));
	{
		void *addr = &p;

		CHECK_ERR(gmem_file_host_map(p.private, &addr), ENXIO);
		CHECK(addr == NULL && strstr(gmem_last_error(), "private"));
	}
	CHECK_OK(gmem_convert(p.g.vm, AREA, AREA_LEN, GMEM_MEMORY_PRIVATE,
			      GMEM_CONVERT_KEEP));
	MEMCMD(&p, MEMCMD_FILL_PAGES, AREA, AREA_LEN, seed, 0, NULL);
	/* The guest reads its secret: it is there, only not for the host. */
	GUEST_SEES(&p, AREA, AREA_LEN, seed, 0);
	secret = calloc(pages, sizeof(*secret));
	CHECK(secret);
	for (uint64_t k = 0; k < pages; k++)
		secret[k] = guest_pattern(seed, k * 512 +
					  guest_page_word(k * 4096));
	qsort(secret, pages, sizeof(*secret), cmp_u64);
	maps[0] = gmem_file_host_addr(p.shared);
	sizes[0] = AREA_LEN;
	maps[1] = p.g.ram_host;
	sizes[1] = 8 * MIB;
	for (int m = 0; m < 2 && !t_failed(); m++)
		for (uint64_t i = 0; i < sizes[m] / 8; i++)
			if (bsearch(&((const uint64_t *)maps[m])[i], secret,
				    pages, sizeof(*secret), cmp_u64)) {
				t_fail(__FILE__, __LINE__, "a private word of "
				       "the guest's is in library mapping %d "
				       "at 0x%llx", m,
				       (unsigned long long)i * 8);
				break;
			}
	free(secret);
	MEMCMD(&p, MEMCMD_CHECK_PAGES, AREA, AREA_LEN, seed, 0, &res);
	CHECK(res == GUEST_CHECK_OK);
	CHECK(!mapped_anywhere(gmem_file_fd(p.private)));
	CHECK(guest_memcmd_stop(&p.g) == 0);
	pvm_stop(&p);
}

/* Bad combinations get a clear error and change nothing. */
static void bad_two_sided_bindings(void)
{
	struct gmem_file *small, *other_priv, *plain_gmem = NULL, *s2;
	struct gmem_vm *vm, *other, *dflt;
	struct gmem_bind_args a = { .length = 2 * MIB, .gpa = AREA,
				    .slot = 5 };
	struct gmem_binding *b;
	int fds;

	T_SKIP_UNLESS(t_need_private());
	CHECK_OK(gmem_vm_create_type(GMEM_VM_TYPE_SW_PROTECTED, &vm));
	CHECK_OK(gmem_vm_create_type(GMEM_VM_TYPE_SW_PROTECTED, &other));
	CHECK_OK(gmem_vm_create(&dflt));
	CHECK_OK(make(NULL, GMEM_BACKEND_MEMFD, 0, 4 * MIB, &s2));
	CHECK_OK(make(vm, GMEM_BACKEND_GUEST_MEMFD, GMEM_FILE_PRIVATE, MIB,
		      &small));
	CHECK_OK(make(other, GMEM_BACKEND_GUEST_MEMFD, GMEM_FILE_PRIVATE,
		      4 * MIB, &other_priv));
	fds = t_count_fds();
	/* A private side smaller than the slot. */
	a.private_file = small;
	CHECK_ERR(gmem_bind(vm, s2, &a, &b), ERANGE);
	CHECK(strstr(gmem_last_error(), "private side"));
	/* Unaligned private offset. */
	a.private_file = other_priv;
	a.private_offset = 4096 + 1;
	CHECK_ERR(gmem_bind(vm, s2, &a, &b), EINVAL);
	/* Another VM's private file. */
	a.private_offset = 0;
	CHECK_ERR(gmem_bind(vm, s2, &a, &b), EXDEV);
	/* Private memory on a VM without it: no such file, no such side. */
	CHECK_ERR(make(dflt, GMEM_BACKEND_GUEST_MEMFD, GMEM_FILE_PRIVATE,
		       MIB, &plain_gmem), EOPNOTSUPP);
	CHECK(strstr(gmem_last_error(), "no private memory") ||
	      strstr(gmem_last_error(), "has none"));
	CHECK_ERR(gmem_bind(dflt, s2, &a, &b), EOPNOTSUPP);
	/* Shared guest_memfd on this type: no INIT_SHARED, so no host view. */
	CHECK_ERR(make(vm, GMEM_BACKEND_GUEST_MEMFD, 0, MIB, &plain_gmem),
		  EOPNOTSUPP);
	CHECK(strstr(gmem_last_error(), "GMEM_FILE_NO_HOST_MAP"));
	/* A shared file as the private side. */
	a.private_file = s2;
	CHECK_ERR(gmem_bind(vm, s2, &a, &b), EINVAL);
	CHECK(strstr(gmem_last_error(), "GMEM_FILE_PRIVATE"));
	/* private_offset without a private file. */
	a.private_file = NULL;
	a.private_offset = 4096;
	CHECK_ERR(gmem_bind(vm, s2, &a, &b), EINVAL);
	/* Nothing changed: no fd, and slot 5 binds. */
	CHECK(t_count_fds() == fds);
	a.private_offset = 0;
	a.private_file = small;
	a.length = MIB;
	CHECK_OK(gmem_bind(vm, s2, &a, &b));
	CHECK(gmem_binding_slot(b) == 5);
	CHECK_OK(gmem_unbind(b));
	CHECK_OK(gmem_file_close(small));
	CHECK_OK(gmem_file_close(other_priv));
	CHECK_OK(gmem_file_close(s2));
	CHECK_OK(gmem_vm_close(vm));
	CHECK_OK(gmem_vm_close(other));
	CHECK_OK(gmem_vm_close(dflt));
}

/* A conversion must lie inside one binding that has the side asked for. */
static void bad_conversions(void)
{
	struct gmem_file *f2;
	struct gmem_binding *b2, *b3;
	struct gmem_vm *dflt;
	struct pvm p;
	uint64_t run;

	T_SKIP_UNLESS(pvm_start(&p));
	CHECK_OK(make(NULL, GMEM_BACKEND_MEMFD, 0, 4 * MIB, &f2));
	/* Right after the two-sided one, a shared-only binding. */
	CHECK_OK(bind2(p.g.vm, f2, NULL, AREA + AREA_LEN, 2 * MIB, &b2));
	CHECK_ERR(gmem_convert(p.g.vm, AREA + 1, 4096, GMEM_MEMORY_PRIVATE,
			       0), EINVAL);
	CHECK_ERR(gmem_convert(p.g.vm, AREA, 0, GMEM_MEMORY_PRIVATE, 0),
		  EINVAL);
	CHECK_ERR(gmem_convert(p.g.vm, 3 * GIB, 4096, GMEM_MEMORY_PRIVATE, 0),
		  ENOENT);
	CHECK(strstr(gmem_last_error(), "not bound"));
	CHECK_ERR(gmem_convert(p.g.vm, AREA + AREA_LEN - 4096, 8192,
			       GMEM_MEMORY_PRIVATE, 0), ERANGE);
	CHECK(strstr(gmem_last_error(), "crosses"));
	CHECK_ERR(gmem_convert(p.g.vm, AREA + AREA_LEN + 2 * MIB - 4096, 8192,
			       GMEM_MEMORY_SHARED, 0), ERANGE);
	CHECK(strstr(gmem_last_error(), "runs past"));
	CHECK_ERR(gmem_convert(p.g.vm, AREA + AREA_LEN, 4096,
			       GMEM_MEMORY_PRIVATE, 0), EINVAL);
	CHECK(strstr(gmem_last_error(), "no private side"));
	CHECK_ERR(gmem_convert(p.g.vm, AREA, 4096, 7, 0), EINVAL);
	CHECK_ERR(gmem_convert(p.g.vm, AREA, 4096, GMEM_MEMORY_PRIVATE, 8),
		  EINVAL);
	CHECK_ERR(gmem_convert(NULL, AREA, 4096, GMEM_MEMORY_PRIVATE, 0),
		  EINVAL);
	CHECK_ERR(gmem_memory_kind(p.g.vm, AREA, 4096, NULL), EINVAL);
	/* None of it changed the map. */
	CHECK(gmem_memory_kind(p.g.vm, AREA, 8 * MIB, &run) ==
	      GMEM_MEMORY_SHARED && run == 8 * MIB);
	/* A hugetlb-free way to check "whole pages": none here; on a VM
	 * without private memory, private is refused, shared is a no-op. */
	CHECK_OK(gmem_vm_create(&dflt));
	CHECK_OK(bind2(dflt, f2, NULL, 0, 2 * MIB, &b3));
	CHECK_ERR(gmem_convert(dflt, 0, 4096, GMEM_MEMORY_PRIVATE, 0),
		  EOPNOTSUPP);
	CHECK_OK(gmem_convert(dflt, 0, 4096, GMEM_MEMORY_SHARED, 0));
	CHECK_OK(gmem_unbind(b3));
	CHECK_OK(gmem_vm_close(dflt));
	CHECK_OK(gmem_unbind(b2));
	CHECK_OK(gmem_file_close(f2));
	CHECK(guest_memcmd_stop(&p.g) == 0);
	pvm_stop(&p);
}

/*
 * If KVM converts only part of a range, the map says exactly that part,
 * and the guest sees it so: the map stays the truth.
 */
static void partial_conversion_is_recorded(void)
{
	struct pvm p;
	uint64_t run;

	T_SKIP_UNLESS(pvm_start(&p));
	split_next = true;
	CHECK_ERR(gmem_convert(p.g.vm, AREA, 2 * MIB, GMEM_MEMORY_PRIVATE,
			       GMEM_CONVERT_KEEP), EAGAIN);
	CHECK(strstr(gmem_last_error(), "0x100000 converted"));
	CHECK(gmem_memory_kind(p.g.vm, AREA, AREA_LEN, &run) ==
	      GMEM_MEMORY_PRIVATE && run == MIB);
	CHECK(gmem_memory_kind(p.g.vm, AREA + MIB, AREA_LEN, &run) ==
	      GMEM_MEMORY_SHARED && run == AREA_LEN);
	GUEST_SEES(&p, AREA, MIB, 0, 0);
	GUEST_SEES(&p, AREA + MIB, MIB, SEED_SHARED, MIB);
	/* The same goes back: only what KVM did is undone. */
	split_next = true;
	CHECK_ERR(gmem_convert(p.g.vm, AREA, MIB, GMEM_MEMORY_SHARED,
			       GMEM_CONVERT_KEEP), EAGAIN);
	CHECK(gmem_memory_kind(p.g.vm, AREA, AREA_LEN, &run) ==
	      GMEM_MEMORY_SHARED && run == MIB / 2);
	CHECK(gmem_memory_kind(p.g.vm, AREA + MIB / 2, AREA_LEN, &run) ==
	      GMEM_MEMORY_PRIVATE && run == MIB / 2);
	GUEST_SEES(&p, AREA, MIB / 2, SEED_SHARED, 0);
	GUEST_SEES(&p, AREA + MIB / 2, MIB / 2, 0, MIB / 2);
	CHECK(guest_memcmd_stop(&p.g) == 0);
	pvm_stop(&p);
}

/*
 * What KVM did not convert goes back to what it was, private parts
 * included: [1.5, 2) MiB was private before a conversion of [0, 2) MiB
 * of which KVM did only the first half.
 */
static void failed_conversion_keeps_what_was_private(void)
{
	struct pvm p;
	uint64_t run;

	T_SKIP_UNLESS(pvm_start(&p));
	CHECK_OK(gmem_convert(p.g.vm, AREA + 3 * MIB / 2, MIB / 2,
			      GMEM_MEMORY_PRIVATE, GMEM_CONVERT_KEEP));
	split_next = true;
	CHECK_ERR(gmem_convert(p.g.vm, AREA, 2 * MIB, GMEM_MEMORY_PRIVATE,
			       GMEM_CONVERT_KEEP), EAGAIN);
	CHECK(gmem_memory_kind(p.g.vm, AREA, AREA_LEN, &run) ==
	      GMEM_MEMORY_PRIVATE && run == MIB);
	CHECK(gmem_memory_kind(p.g.vm, AREA + MIB, AREA_LEN, &run) ==
	      GMEM_MEMORY_SHARED && run == MIB / 2);
	CHECK(gmem_memory_kind(p.g.vm, AREA + 3 * MIB / 2, AREA_LEN, &run) ==
	      GMEM_MEMORY_PRIVATE && run == MIB / 2);
	/* The guest, through KVM's own attributes, agrees. */
	GUEST_SEES(&p, AREA, MIB, 0, 0);
	GUEST_SEES(&p, AREA + MIB, MIB / 2, SEED_SHARED, MIB);
	GUEST_SEES(&p, AREA + 3 * MIB / 2, MIB / 2, 0, 0);
	CHECK(guest_memcmd_stop(&p.g) == 0);
	pvm_stop(&p);
}

/*
 * A hugetlb shared side is freed only in whole huge pages: a smaller
 * conversion must keep it; a whole page goes back to the pool.
 */
static void hugetlb_shared_side_frees_whole_pages(void)
{
	struct gmem_file *huge, *priv;
	struct gmem_binding *b;
	struct gmem_vm *vm;
	uint64_t free0;

	T_SKIP_UNLESS(t_need_private());
	T_SKIP_UNLESS(t_hugepool_set(2 * MIB, 2));
	CHECK_OK(gmem_vm_create_type(GMEM_VM_TYPE_SW_PROTECTED, &vm));
	CHECK_OK(make(NULL, GMEM_BACKEND_HUGETLB, 0, 4 * MIB, &huge));
	CHECK_OK(make(vm, GMEM_BACKEND_GUEST_MEMFD, GMEM_FILE_PRIVATE,
		      4 * MIB, &priv));
	CHECK_OK(bind2(vm, huge, priv, AREA, 4 * MIB, &b));
	CHECK_OK(gmem_populate(huge, 0, 4 * MIB));
	free0 = t_hugepool_read(2 * MIB, "free_hugepages");
	CHECK_ERR(gmem_convert(vm, AREA, 4096, GMEM_MEMORY_PRIVATE, 0), EINVAL);
	CHECK(strstr(gmem_last_error(), "GMEM_CONVERT_KEEP"));
	CHECK_OK(gmem_convert(vm, AREA, 4096, GMEM_MEMORY_PRIVATE,
			      GMEM_CONVERT_KEEP));
	CHECK(t_hugepool_read(2 * MIB, "free_hugepages") == free0);
	CHECK_OK(gmem_convert(vm, AREA + 2 * MIB, 2 * MIB, GMEM_MEMORY_PRIVATE,
			      0));
	CHECK(t_hugepool_read(2 * MIB, "free_hugepages") == free0 + 1);
	CHECK_OK(gmem_unbind(b));
	CHECK_OK(gmem_file_close(huge));
	CHECK_OK(gmem_file_close(priv));
	CHECK_OK(gmem_vm_close(vm));
}

/* Shared and private bytes, per file, per VM and for the process. */
static void figures_by_kind(void)
{
	const char *dir = t_tmpdir();
	const char *args[] = { "stats", "--dir", dir, NULL };
	struct gmem_file_stats st;
	struct gmem_stats all;
	struct pvm p;

	T_SKIP_UNLESS(pvm_start(&p));
	CHECK_OK(gmem_populate(p.private, 0, MIB));
	CHECK_OK(gmem_file_stats(p.private, &st));
	CHECK(st.private_bytes == MIB && st.shared_bytes == 0);
	CHECK(st.resident_bytes == MIB && st.populated_bytes == MIB);
	CHECK_OK(gmem_file_stats(p.shared, &st));
	CHECK(st.private_bytes == 0 && st.shared_bytes == st.resident_bytes);
	CHECK_OK(gmem_vm_stats(p.g.vm, &st));
	CHECK(st.private_bytes == MIB);
	CHECK_OK(gmem_stats(&all));
	CHECK(all.total.private_bytes == MIB);
	CHECK(all.backend[GMEM_BACKEND_GUEST_MEMFD].private_bytes == MIB);
	CHECK_OK(gmem_stats_export_start(dir, 1000));
	CHECK(t_gmemctl(args) == 0);
	CHECK(t_out_value("GmemPrivate") == 1024);
	CHECK_OK(gmem_stats_export_stop());
	/* A discard of the private side takes it back out of the figures. */
	CHECK_OK(gmem_discard(p.private, 0, MIB));
	CHECK_OK(gmem_file_stats(p.private, &st));
	CHECK(st.private_bytes == 0);
	CHECK(guest_memcmd_stop(&p.g) == 0);
	pvm_stop(&p);
}

/* ---- conversions the guest asks for ---- */

struct seen {
	int calls;
	struct gmem_conversion last;
	int answer;		/* 0: convert */
	bool make_shared;	/* convert to shared whatever was asked */
};

static int record_and_convert(struct gmem_vm *vm,
			      const struct gmem_conversion *req, void *opaque)
{
	struct seen *s = opaque;

	s->calls++;
	s->last = *req;
	if (s->answer)
		return s->answer;
	return gmem_convert(vm, req->gpa, req->length,
			    s->make_shared ? GMEM_MEMORY_SHARED : req->to,
			    GMEM_CONVERT_KEEP);
}

/*
 * The guest converts by hypercall (KVM_HC_MAP_GPA_RANGE): the default
 * handler converts and frees the other side; a VMM's handler sees the
 * request and can refuse it, and the guest gets the answer.
 */
static void guest_converts_by_hypercall(void)
{
	struct seen s = { 0 };
	struct pvm p;
	uint64_t res, run;

	T_SKIP_UNLESS(pvm_start(&p));
	CHECK_OK(gmem_vm_enable_conversion_exits(p.g.vm));
	p.g.handle_conversions = true;
	MEMCMD(&p, MEMCMD_MAP_GPA_RANGE, AREA, MIB, 1, 0, &res);
	CHECK(res == 0);
	CHECK(gmem_memory_kind(p.g.vm, AREA, AREA_LEN, &run) ==
	      GMEM_MEMORY_PRIVATE && run == MIB);
	GUEST_SEES(&p, AREA, MIB, 0, 0);
	MEMCMD(&p, MEMCMD_FILL_PAGES, AREA, MIB, SEED_PRIVATE, 0, NULL);
	/* The default handler freed the shared side of that megabyte. */
	CHECK(guest_host_check_pages(gmem_file_host_addr(p.shared), MIB, 0, 0,
				     true) == GUEST_CHECK_OK);
	MEMCMD(&p, MEMCMD_MAP_GPA_RANGE, AREA, MIB, 0, 0, &res);
	CHECK(res == 0);
	GUEST_SEES(&p, AREA, MIB, 0, 0);	/* shared, and freed: zeros */
	GUEST_SEES(&p, AREA + MIB, MIB, SEED_SHARED, MIB);
	/* The VMM's own handler: sees the request, here converts and keeps. */
	CHECK_OK(gmem_vm_set_conversion_handler(p.g.vm, record_and_convert,
						&s));
	MEMCMD(&p, MEMCMD_MAP_GPA_RANGE, AREA + MIB, MIB, 1, 0, &res);
	CHECK(res == 0 && s.calls == 1);
	CHECK(s.last.gpa == AREA + MIB && s.last.length == MIB);
	CHECK(s.last.to == GMEM_MEMORY_PRIVATE);
	CHECK(s.last.source == GMEM_CONVERSION_MAP_GPA_RANGE);
	MEMCMD(&p, MEMCMD_FILL_PAGES, AREA + MIB, MIB, SEED_PRIVATE, MIB, NULL);
	MEMCMD(&p, MEMCMD_MAP_GPA_RANGE, AREA + MIB, MIB, 0, 0, &res);
	GUEST_SEES(&p, AREA + MIB, MIB, SEED_SHARED, MIB);	/* kept */
	MEMCMD(&p, MEMCMD_MAP_GPA_RANGE, AREA + MIB, MIB, 1, 0, &res);
	GUEST_SEES(&p, AREA + MIB, MIB, SEED_PRIVATE, MIB);	/* kept */
	/* Refused: the guest is told, nothing changes. */
	s.answer = -EPERM;
	MEMCMD(&p, MEMCMD_MAP_GPA_RANGE, AREA + 2 * MIB, MIB, 1, 0, &res);
	CHECK(res == (uint64_t)-EPERM);
	CHECK(gmem_memory_kind(p.g.vm, AREA + 2 * MIB, MIB, &run) ==
	      GMEM_MEMORY_SHARED);
	CHECK(p.g.conversion_exits == 6);
	CHECK(guest_memcmd_stop(&p.g) == 0);
	pvm_stop(&p);
}

/* Mark a range private behind the library's back (for a memory fault). */
static int raw_private(struct gmem_vm *vm, uint64_t gpa, uint64_t len)
{
	struct {
		uint64_t address, size, attributes, flags;
	} attrs = { gpa, len, GMEM_MEMORY_ATTRIBUTE_PRIVATE, 0 };

	return ioctl(gmem_vm_fd(vm), _IOW(KVMIO, 0xd2, attrs), &attrs);
}

/*
 * A guest touching private memory a memslot cannot serve exits with a
 * memory fault: the library decodes it for the VMM's handler, and the
 * default handler says why it cannot help, instead of looping.
 */
static void memory_fault_exits(void)
{
	struct gmem_binding *b2;
	struct gmem_file *f2;
	struct seen s = { .make_shared = true };
	struct pvm p;
	uint64_t v, gpa = AREA + AREA_LEN;

	T_SKIP_UNLESS(pvm_start(&p));
	CHECK_OK(make(NULL, GMEM_BACKEND_MEMFD, 0, 2 * MIB, &f2));
	*(uint64_t *)gmem_file_host_addr(f2) = 0x1234;
	CHECK_OK(bind2(p.g.vm, f2, NULL, gpa, 2 * MIB, &b2));
	p.g.handle_conversions = true;
	CHECK(raw_private(p.g.vm, gpa, 4096) == 0);
	CHECK_OK(gmem_vm_set_conversion_handler(p.g.vm, record_and_convert,
						&s));
	MEMCMD(&p, MEMCMD_READ64, gpa, 0, 0, 0, &v);
	CHECK(v == 0x1234);
	CHECK(s.calls == 1 && s.last.source == GMEM_CONVERSION_MEMORY_FAULT);
	CHECK(s.last.gpa == gpa && s.last.to == GMEM_MEMORY_PRIVATE);
	/* Only shared memory can serve it here: the handler chose that. */
	CHECK(s.last.length >= 4096);
	CHECK(raw_private(p.g.vm, gpa, 4096) == 0);
	CHECK_OK(gmem_vm_set_conversion_handler(p.g.vm, NULL, NULL));
	CHECK(guest_memcmd(&p.g, MEMCMD_READ64, gpa, 0, 0, 0, &v) < 0);
	CHECK(strstr(p.g.error, "no private side"));
	CHECK_OK(gmem_unbind(b2));
	CHECK_OK(gmem_file_close(f2));
	pvm_stop(&p);
}

/* Imported like created: no host view on a private VM means private. */
static void import_without_host_view_is_private(void)
{
	struct gmem_import_args ia = { .flags = GMEM_FILE_NO_HOST_MAP };
	struct gmem_file *made, *imported;
	struct gmem_vm *vm;
	void *addr = NULL;

	T_SKIP_UNLESS(t_need_private());
	CHECK_OK(gmem_vm_create_type(GMEM_VM_TYPE_SW_PROTECTED, &vm));
	CHECK_OK(make(vm, GMEM_BACKEND_GUEST_MEMFD, GMEM_FILE_PRIVATE, 2 * MIB,
		      &made));
	ia.fd = gmem_file_fd(made);
	ia.vm = vm;
	CHECK_OK(gmem_file_import(&ia, &imported));
	CHECK_ERR(gmem_file_host_map(imported, &addr), ENXIO);
	CHECK(strstr(gmem_last_error(), "private memory"));
	CHECK(!addr);
	CHECK_OK(gmem_file_close(imported));
	CHECK_OK(gmem_file_close(made));
	CHECK_OK(gmem_vm_close(vm));
}

/* ---- the private side as a file ---- */

/* Populate, discard and NUMA work on private memory too. */
static void private_side_populate_discard_numa(void)
{
	struct gmem_numa_policy pol;
	struct gmem_file_stats st;
	struct pvm p;
	char node[8];

	T_SKIP_UNLESS(pvm_start(&p));
	snprintf(node, sizeof(node), "%d", 0);
	CHECK_OK(gmem_numa_policy_parse("bind", node, &pol));
	CHECK_OK(gmem_file_set_numa_policy(p.private, 0, AREA_LEN, &pol));
	/* No mapping to store it in: the populating thread carries it. */
	CHECK(gmem_file_numa_method(p.private) == GMEM_NUMA_VIA_THREAD);
	CHECK_OK(gmem_populate(p.private, 0, 2 * MIB));
	CHECK_OK(gmem_file_stats(p.private, &st));
	CHECK(st.populated_bytes == 2 * MIB && st.resident_bytes == 2 * MIB);
	CHECK(st.node_bytes[0] + st.unknown_node_bytes == 2 * MIB);
	CHECK(st.touched_bytes == GMEM_STATS_UNKNOWN);
	CHECK_OK(gmem_convert(p.g.vm, AREA, 2 * MIB, GMEM_MEMORY_PRIVATE,
			      GMEM_CONVERT_KEEP));
	GUEST_SEES(&p, AREA, 2 * MIB, 0, 0);	/* populated reads zero */
	MEMCMD(&p, MEMCMD_FILL_PAGES, AREA, 2 * MIB, SEED_PRIVATE, 0, NULL);
	CHECK_OK(gmem_discard(p.private, 0, 2 * MIB));
	CHECK_OK(gmem_file_stats(p.private, &st));
	CHECK(st.populated_bytes == 0 && st.resident_bytes == 0);
	GUEST_SEES(&p, AREA, 2 * MIB, 0, 0);
	CHECK(guest_memcmd_stop(&p.g) == 0);
	pvm_stop(&p);
}

/* ---- lifetime on a private VM ---- */

enum obj { VM, SHARED, PRIVATE, BINDING };

static int close_obj(enum obj o, struct gmem_vm *vm, struct gmem_file *s,
		     struct gmem_file *p, struct gmem_binding *b)
{
	switch (o) {
	case VM:
		return gmem_vm_close(vm);
	case SHARED:
		return gmem_file_close(s);
	case PRIVATE:
		return gmem_file_close(p);
	default:
		return gmem_unbind(b);
	}
}

/*
 * Every order of closing the VM, both files and the binding (24), after
 * populating and converting; and the seed's sequences, close the VM then
 * punch a hole.
 */
static void every_close_order_private(void)
{
	enum obj o[4] = { VM, SHARED, PRIVATE, BINDING };
	int fds, orders = 0;

	T_SKIP_UNLESS(t_need_private());
	fds = t_count_fds();
	/* Heap's algorithm: all 24 permutations, one per round. */
	for (int c[4] = { 0 }, i = 0; i < 4 && !t_failed();) {
		struct gmem_vm *vm;
		struct gmem_file *s, *p;
		struct gmem_binding *b;

		if (orders == 0 || c[i] < i) {
			if (orders) {
				enum obj t;
				int j = i % 2 ? c[i] : 0;

				t = o[j], o[j] = o[i], o[i] = t;
				c[i]++;
				i = 0;
			}
			CHECK_OK(gmem_vm_create_type(GMEM_VM_TYPE_SW_PROTECTED,
						     &vm));
			CHECK_OK(make(NULL, GMEM_BACKEND_MEMFD, 0, 2 * MIB, &s));
			CHECK_OK(make(vm, GMEM_BACKEND_GUEST_MEMFD,
				      GMEM_FILE_PRIVATE, 2 * MIB, &p));
			CHECK_OK(bind2(vm, s, p, 0, 2 * MIB, &b));
			CHECK_OK(gmem_populate(p, 0, MIB));
			CHECK_OK(gmem_convert(vm, 0, MIB, GMEM_MEMORY_PRIVATE,
					      0));
			for (int k = 0; k < 4; k++)
				CHECK_OK(close_obj(o[k], vm, s, p, b));
			orders++;
			CHECK(t_count_fds() == fds);
		} else {
			c[i] = 0;
			i++;
		}
	}
	CHECK(orders == 24);
}

static void seed_sequences_private(void)
{
	struct gmem_vm *vm;
	struct gmem_file *s, *p;
	struct gmem_binding *b;
	int fds;

	T_SKIP_UNLESS(t_need_private());
	fds = t_count_fds();
	/* 1: create VM, gmem, bind, close VM, punch. */
	CHECK_OK(gmem_vm_create_type(GMEM_VM_TYPE_SW_PROTECTED, &vm));
	CHECK_OK(make(NULL, GMEM_BACKEND_MEMFD, 0, 2 * MIB, &s));
	CHECK_OK(make(vm, GMEM_BACKEND_GUEST_MEMFD, GMEM_FILE_PRIVATE,
		      2 * MIB, &p));
	CHECK_OK(bind2(vm, s, p, 0, 2 * MIB, &b));
	CHECK_OK(gmem_populate(p, 0, 2 * MIB));
	CHECK_OK(gmem_vm_close(vm));
	CHECK_ERR(gmem_binding_slot(b), ENOTCONN);
	CHECK_OK(gmem_discard(p, 0, 2 * MIB));
	CHECK_OK(gmem_unbind(b));
	CHECK_OK(gmem_file_close(p));
	CHECK_OK(gmem_file_close(s));
	/* 2: the same without the bind. */
	CHECK_OK(gmem_vm_create_type(GMEM_VM_TYPE_SW_PROTECTED, &vm));
	CHECK_OK(make(vm, GMEM_BACKEND_GUEST_MEMFD, GMEM_FILE_PRIVATE,
		      2 * MIB, &p));
	CHECK_OK(gmem_vm_close(vm));
	CHECK_OK(gmem_discard(p, 0, 2 * MIB));
	CHECK_OK(gmem_file_close(p));
	CHECK(t_count_fds() == fds);
}

/* Closing the VM handle under a live vCPU ends both sides' memslot. */
static void close_under_live_vcpu_private(void)
{
	struct gmem_file_stats st;
	struct pvm p;

	T_SKIP_UNLESS(pvm_start(&p));
	CHECK_OK(gmem_convert(p.g.vm, AREA, MIB, GMEM_MEMORY_PRIVATE, 0));
	CHECK_OK(gmem_vm_close(p.g.vm));
	p.g.owns_vm = false;
	CHECK_ERR(gmem_binding_slot(p.b), ENOTCONN);
	CHECK_OK(gmem_file_stats(p.private, &st));
	CHECK(st.bindings == 0);
	/* The files outlive the VM and still take a discard. */
	CHECK_OK(gmem_discard(p.private, 0, AREA_LEN));
	CHECK_OK(gmem_discard(p.shared, 0, AREA_LEN));
	CHECK_OK(gmem_unbind(p.b));
	p.b = NULL;
	gmem_unbind(p.g.ram_binding);
	p.g.ram_binding = NULL;
	pvm_stop(&p);
}

/* gmemctl demo --private runs its guest and every check holds. */
static void demo_private_passes(void)
{
	const char *args[] = { "demo", "--private", "--size", "8M", "--json",
			       NULL };

	T_SKIP_UNLESS(t_need_private());
	CHECK(t_gmemctl(args) == 0);
	CHECK(t_json_valid(t_out));
	CHECK(strstr(t_out, "\"pass\": true"));
	CHECK(strstr(t_out, "\"conversions\": 3,"));
}

/*
 * What needs no private memory to check, checked on a default VM so that
 * it runs on any KVM: bad conversion arguments (before the VM is asked
 * anything), private memory refused, and the exit calls' NULLs.
 */
static void conversion_arguments_on_any_vm(void)
{
	uint8_t run[4096] = { 0 };
	struct gmem_vm_caps caps;
	struct gmem_file *f = NULL;
	struct gmem_vm *vm;
	uint64_t len;

	T_SKIP_UNLESS(t_need_kvm());
	CHECK_OK(gmem_vm_create(&vm));
	CHECK_ERR(gmem_convert(NULL, 0, 4096, GMEM_MEMORY_SHARED, 0), EINVAL);
	CHECK_ERR(gmem_convert(vm, 0, 0, GMEM_MEMORY_SHARED, 0), EINVAL);
	CHECK_ERR(gmem_convert(vm, 1, 4096, GMEM_MEMORY_SHARED, 0), EINVAL);
	CHECK_ERR(gmem_convert(vm, 0, 4097, GMEM_MEMORY_SHARED, 0), EINVAL);
	CHECK_ERR(gmem_convert(vm, ~0ULL << 12, 8192, GMEM_MEMORY_SHARED, 0),
		  EOVERFLOW);
	CHECK_ERR(gmem_convert(vm, 0, 4096, 7, 0), EINVAL);
	CHECK_ERR(gmem_convert(vm, 0, 4096, GMEM_MEMORY_SHARED, 8), EINVAL);
	CHECK_ERR(gmem_convert(vm, 0, 4096, GMEM_MEMORY_PRIVATE, 0),
		  EOPNOTSUPP);
	CHECK(strstr(gmem_last_error(), "no private memory"));
	CHECK_ERR(gmem_memory_kind(NULL, 0, 4096, &len), EINVAL);
	CHECK_ERR(gmem_memory_kind(vm, 0, 4096, NULL), EINVAL);
	CHECK_ERR(gmem_memory_kind(vm, 0, 0, &len), EINVAL);
	CHECK_ERR(gmem_memory_kind(vm, 4095, 4096, &len), EINVAL);
	CHECK_ERR(gmem_memory_kind(vm, ~0ULL << 12, 8192, &len), EOVERFLOW);
	CHECK_ERR(gmem_vcpu_handle_exit(NULL, run, 0), EINVAL);
	CHECK_ERR(gmem_vcpu_handle_exit(vm, NULL, 0), EINVAL);
	CHECK_ERR(gmem_vm_set_conversion_handler(NULL, NULL, NULL), EINVAL);
	CHECK_ERR(gmem_vm_enable_conversion_exits(NULL), EINVAL);
	/* A private guest_memfd needs a VM with private memory. */
	CHECK_OK(gmem_vm_get_caps(vm, &caps));
	if (caps.guest_memfd &&
	    !(caps.memory_attributes & GMEM_MEMORY_ATTRIBUTE_PRIVATE)) {
		CHECK_ERR(make(vm, GMEM_BACKEND_GUEST_MEMFD, GMEM_FILE_PRIVATE,
			       2 * MIB, &f), EOPNOTSUPP);
		CHECK(strstr(gmem_last_error(), "GMEM_FILE_PRIVATE"));
	}
	CHECK(f == NULL);
	CHECK_OK(gmem_vm_close(vm));
}

static const struct t_case cases[] = {
	T_CASE(vm_types_and_their_caps),
	T_CASE(conversion_arguments_on_any_vm),
	T_CASE(guest_sees_each_side_by_attribute),
	T_CASE(host_never_sees_private_bytes),
	T_CASE(bad_two_sided_bindings),
	T_CASE(bad_conversions),
	T_CASE(partial_conversion_is_recorded),
	T_CASE(failed_conversion_keeps_what_was_private),
	T_CASE(hugetlb_shared_side_frees_whole_pages),
	T_CASE(figures_by_kind),
	T_CASE(guest_converts_by_hypercall),
	T_CASE(memory_fault_exits),
	T_CASE(import_without_host_view_is_private),
	T_CASE(private_side_populate_discard_numa),
	T_CASE(every_close_order_private),
	T_CASE(seed_sequences_private),
	T_CASE(close_under_live_vcpu_private),
	T_CASE(demo_private_passes),
};
T_MAIN(cases)
