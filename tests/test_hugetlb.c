// SPDX-License-Identifier: MIT
/*
 * test_hugetlb.c - the hugetlb backend against the kernel's pool counters:
 * reservation at creation (so no guest meets SIGBUS later), population,
 * pages back to the pool on discard, alignment errors, 2 MiB and 1 GiB.
 * Pools are resized for each case and restored when it ends.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "harness.h"

#define MIB (1ULL << 20)
#define GIB (1ULL << 30)

static uint64_t pool_free(uint64_t psz)
{
	return t_hugepool_read(psz, "free_hugepages");
}

static uint64_t pool_resv(uint64_t psz)
{
	return t_hugepool_read(psz, "resv_hugepages");
}

static int make_huge(uint64_t size, uint64_t psz, struct gmem_file **f)
{
	struct gmem_file_args a = { 0 };

	a.size = size;
	a.backend = GMEM_BACKEND_HUGETLB;
	a.page_size = psz;
	return gmem_file_create(&a, f);
}

static void lifecycle(uint64_t psz, uint64_t pages, uint64_t pool)
{
	struct gmem_file_stats st;
	struct gmem_file *f;
	uint64_t free0, resv0, size = pages * psz;
	uint8_t *p;

	T_SKIP_UNLESS(t_hugepool_set(psz, pool));
	free0 = pool_free(psz);
	resv0 = pool_resv(psz);
	CHECK_OK(make_huge(size, psz, &f));
	CHECK(gmem_file_page_size(f) == psz);
	/* Creation reserves every page; none is taken yet. */
	CHECK(pool_resv(psz) == resv0 + pages);
	CHECK(pool_free(psz) == free0);
	CHECK_OK(gmem_populate(f, 0, size));
	CHECK(pool_free(psz) == free0 - pages);
	CHECK(pool_resv(psz) == resv0);
	CHECK_OK(gmem_file_stats(f, &st));
	CHECK(st.hugepages == pages && st.populated_bytes == size);
	p = gmem_file_host_addr(f);
	memset(p, 0x5a, size);
	/* Discard hands the page back to the pool and reads zero. */
	CHECK_OK(gmem_discard(f, 0, psz));
	CHECK(pool_free(psz) == free0 - pages + 1);
	CHECK_OK(gmem_file_stats(f, &st));
	CHECK(st.hugepages == pages - 1 && st.discarded_bytes == psz);
	CHECK(st.populated_bytes == size - psz);
	if (pages > 1)
		CHECK(p[psz] == 0x5a && p[size - 1] == 0x5a);
	/* Reading the hole faults a fresh zeroed page in from the pool. */
	CHECK(p[0] == 0 && p[psz - 1] == 0);
	CHECK(pool_free(psz) == free0 - pages);
	CHECK_OK(gmem_file_stats(f, &st));
	CHECK(st.hugepages == pages && st.touched_bytes == size);
	CHECK_OK(gmem_file_close(f));
	CHECK(pool_free(psz) == free0 && pool_resv(psz) == resv0);
}

static void lifecycle_2m(void)
{
	lifecycle(2 * MIB, 4, 5);
}

static void lifecycle_1g(void)
{
	lifecycle(GIB, 1, 1);
}

/* A pool too small is refused at creation, with the numbers. */
static void pool_too_small_names_pages(void)
{
	struct gmem_file *f = NULL;

	T_SKIP_UNLESS(t_hugepool_set(2 * MIB, 2));
	CHECK_ERR(make_huge(8 * MIB, 2 * MIB, &f), ENOMEM);
	CHECK(strstr(gmem_last_error(), "need 4 pages of 2048 KiB"));
	CHECK(strstr(gmem_last_error(), "has 2 available"));
	CHECK(f == NULL);
}

/* Once created, the file's pages are its own: another file cannot take
 * them, and touching every page (as a guest would) cannot SIGBUS. */
static void reservation_protects_the_guest(void)
{
	struct gmem_file *f, *g = NULL;

	T_SKIP_UNLESS(t_hugepool_set(2 * MIB, 4));
	CHECK_OK(make_huge(8 * MIB, 2 * MIB, &f));
	CHECK_ERR(make_huge(2 * MIB, 2 * MIB, &g), ENOMEM);
	memset(gmem_file_host_addr(f), 1, 8 * MIB);
	CHECK_OK(gmem_file_close(f));
	CHECK_OK(make_huge(2 * MIB, 2 * MIB, &g));
	CHECK_OK(gmem_file_close(g));
}

static void bad_alignment(void)
{
	struct gmem_file *f = NULL;

	T_SKIP_UNLESS(t_hugepool_set(2 * MIB, 2));
	CHECK_ERR(make_huge(3 * MIB, 2 * MIB, &f), EINVAL);
	CHECK(strstr(gmem_last_error(), "multiple of the hugetlb page size"));
	CHECK_OK(make_huge(4 * MIB, 2 * MIB, &f));
	CHECK_ERR(gmem_populate(f, MIB, 2 * MIB), EINVAL);
	CHECK_ERR(gmem_discard(f, 0, MIB), EINVAL);
	CHECK_ERR(gmem_discard(f, 2 * MIB, 4 * MIB), ERANGE);
	CHECK_OK(gmem_file_close(f));
}

#define SHMEM_THP "/sys/kernel/mm/transparent_hugepage/shmem_enabled"

static bool shmem_thp_set(const char *mode)
{
	return t_knob_set(SHMEM_THP, mode);
}

static uint64_t meminfo_kb(const char *key)
{
	char line[256];
	unsigned long long kb = 0;
	FILE *f = fopen("/proc/meminfo", "re");

	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, key, strlen(key)))
			sscanf(line + strlen(key) + 1, "%llu", &kb);
	if (f)
		fclose(f);
	return kb;
}

/* With shmem THP off, the THP option says why; on, it gets huge pages. */
static void memfd_thp(void)
{
	struct gmem_file_args a = { 0 };
	struct gmem_file *f = NULL;
	uint64_t huge0;

	a.size = 16 * MIB;
	a.backend = GMEM_BACKEND_MEMFD;
	a.flags = GMEM_FILE_THP;
	T_SKIP_UNLESS(shmem_thp_set("never"));
	CHECK_ERR(gmem_file_create(&a, &f), EOPNOTSUPP);
	CHECK(strstr(gmem_last_error(), "shmem_enabled=never"));
	T_SKIP_UNLESS(shmem_thp_set("advise"));
	huge0 = meminfo_kb("ShmemHugePages");
	CHECK_OK(gmem_file_create(&a, &f));
	CHECK((uintptr_t)gmem_file_host_addr(f) % (2 * MIB) == 0);
	CHECK_OK(gmem_populate(f, 0, 16 * MIB));
	/* Direct allocation of huge pages can fall short when memory is
	 * fragmented; most of them must be huge. */
	CHECK(meminfo_kb("ShmemHugePages") - huge0 >= 8 * 1024);
	CHECK_OK(gmem_discard(f, 0, 16 * MIB));
	CHECK(meminfo_kb("ShmemHugePages") == huge0);
	CHECK_OK(gmem_file_close(f));
	a.backend = GMEM_BACKEND_HUGETLB;
	CHECK_ERR(gmem_file_create(&a, &f), EINVAL);
	CHECK(strstr(gmem_last_error(), "only for the memfd backend"));
}

/*
 * KVM maps a THP memfd with 2 MiB pages only where the guest address and
 * the file offset agree modulo 2 MiB; a binding that breaks that would
 * silently get 4 KiB pages, so it is refused with the reason.
 */
static void thp_binding_needs_congruent_addresses(void)
{
	struct gmem_file_args a = { .size = 8 * MIB,
				    .backend = GMEM_BACKEND_MEMFD,
				    .flags = GMEM_FILE_THP };
	struct gmem_bind_args b = { .length = 2 * MIB,
				    .slot = GMEM_SLOT_ANY };
	struct gmem_binding *bd = NULL;
	struct gmem_file *f;
	struct gmem_vm *vm;

	T_SKIP_UNLESS(t_need_kvm());
	T_SKIP_UNLESS(shmem_thp_set("advise"));
	CHECK_OK(gmem_vm_create(&vm));
	CHECK_OK(gmem_file_create(&a, &f));
	b.offset = 2 * MIB;
	b.gpa = 1ULL << 30;
	CHECK_OK(gmem_bind(vm, f, &b, &bd));
	CHECK_OK(gmem_unbind(bd));
	b.gpa += 4096;
	CHECK_ERR(gmem_bind(vm, f, &b, &bd), EINVAL);
	CHECK(strstr(gmem_last_error(), "modulo 2 MiB"));
	b.offset = 4096;
	b.gpa = (1ULL << 30) + 4096;
	CHECK_OK(gmem_bind(vm, f, &b, &bd));
	CHECK_OK(gmem_unbind(bd));
	CHECK_OK(gmem_file_close(f));
	CHECK_OK(gmem_vm_close(vm));
}

struct racer {
	struct gmem_file *f;
	int seed;
	int err;
};

static void *race_pages(void *arg)
{
	struct racer *r = arg;
	unsigned int x = (unsigned int)r->seed;

	for (int i = 0; i < 200 && !r->err; i++) {
		uint64_t off = (uint64_t)(rand_r(&x) % 8) * 2 * MIB;

		r->err = (rand_r(&x) & 1) ? gmem_populate(r->f, off, 2 * MIB)
					  : gmem_discard(r->f, off, 2 * MIB);
	}
	return NULL;
}

/*
 * Threads populate and discard the same pages at once; afterwards the
 * library's figures equal the pool's: the range lock keeps each syscall
 * and its books together.
 */
static void racing_ranges_match_the_pool(void)
{
	struct gmem_file_args a = { .size = 16 * MIB,
				    .backend = GMEM_BACKEND_HUGETLB };
	struct gmem_file_stats st;
	struct racer r[3];
	pthread_t th[3];
	struct gmem_file *f;
	uint64_t free0;

	T_SKIP_UNLESS(t_hugepool_set(2 * MIB, 8));
	free0 = pool_free(2 * MIB);
	CHECK_OK(gmem_file_create(&a, &f));
	for (int round = 0; round < 5; round++) {
		for (int i = 0; i < 3; i++) {
			r[i] = (struct racer){ f, round * 3 + i, 0 };
			CHECK(pthread_create(&th[i], NULL, race_pages,
					     &r[i]) == 0);
		}
		for (int i = 0; i < 3; i++) {
			pthread_join(th[i], NULL);
			CHECK(r[i].err == 0);
		}
		CHECK_OK(gmem_file_stats(f, &st));
		CHECK(st.populated_bytes == st.hugepages * 2 * MIB);
		CHECK(st.hugepages == free0 - pool_free(2 * MIB));
	}
	CHECK_OK(gmem_file_close(f));
}

/* A hugetlbfs fd imported: its page size comes from the filesystem. */
static void import_hugetlb_fd(void)
{
	struct gmem_import_args a = { 0 };
	struct gmem_file *f;
	uint64_t free0;

	T_SKIP_UNLESS(t_hugepool_set(2 * MIB, 2));
	a.fd = memfd_create("vmm-huge", MFD_CLOEXEC | MFD_HUGETLB);
	CHECK(a.fd >= 0 && ftruncate(a.fd, 4 * MIB) == 0);
	free0 = pool_free(2 * MIB);
	a.offset = 2 * MIB;
	CHECK_OK(gmem_file_import(&a, &f));
	CHECK(gmem_file_backend(f) == GMEM_BACKEND_HUGETLB);
	CHECK(gmem_file_page_size(f) == 2 * MIB && gmem_file_size(f) == 2 * MIB);
	CHECK_OK(gmem_populate(f, 0, 2 * MIB));
	CHECK(pool_free(2 * MIB) == free0 - 1);
	a.offset = MIB;
	CHECK_OK(gmem_file_close(f));
	CHECK_ERR(gmem_file_import(&a, &f), EINVAL);	/* not whole pages */
	close(a.fd);
	/* A window the pool cannot back is refused at import, as at create. */
	a.fd = memfd_create("vmm-huge", MFD_CLOEXEC | MFD_HUGETLB);
	CHECK(a.fd >= 0 && ftruncate(a.fd, 6 * MIB) == 0);
	a.offset = 0;
	CHECK_ERR(gmem_file_import(&a, &f), ENOMEM);
	CHECK(strstr(gmem_last_error(), "cannot back the window"));
	close(a.fd);
}

static const struct t_case cases[] = {
	T_CASE(lifecycle_2m),
	T_CASE(lifecycle_1g),
	T_CASE(pool_too_small_names_pages),
	T_CASE(reservation_protects_the_guest),
	T_CASE(bad_alignment),
	T_CASE(memfd_thp),
	T_CASE(thp_binding_needs_congruent_addresses),
	T_CASE(racing_ranges_match_the_pool),
	T_CASE(import_hugetlb_fd),
};
T_MAIN(cases)
