// SPDX-License-Identifier: MIT
/* test_file.c - creating guest-memory files, and every bad way to ask. */
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/kvm.h>

#include "harness.h"

static struct gmem_file_args memfd_args(uint64_t size)
{
	struct gmem_file_args a = { 0 };

	a.size = size;
	a.backend = GMEM_BACKEND_MEMFD;
	return a;
}

static void memfd_file_roundtrip(void)
{
	struct gmem_file_args a = memfd_args(1 << 20);
	struct gmem_file *f;
	struct stat st;
	uint8_t *p;
	int fds = t_count_fds();

	a.name = "roundtrip";
	CHECK_OK(gmem_file_create(&a, &f));
	CHECK(gmem_file_backend(f) == GMEM_BACKEND_MEMFD);
	CHECK(gmem_file_size(f) == 1 << 20);
	CHECK(gmem_file_page_size(f) == 4096);
	CHECK(fstat(gmem_file_fd(f), &st) == 0 && st.st_size == 1 << 20);
	CHECK(fcntl(gmem_file_fd(f), F_GETFD) & FD_CLOEXEC);
	p = gmem_file_host_addr(f);
	CHECK(p != NULL);
	p[0] = 0x5a;
	p[(1 << 20) - 1] = 0xa5;
	CHECK(pread(gmem_file_fd(f), p + 4096, 1, 0) == 1 && p[4096] == 0x5a);
	CHECK_OK(gmem_file_close(f));
	CHECK(t_count_fds() == fds);
}

/* A memfd file exists before any VM, as the seed asks. */
static void memfd_needs_no_vm(void)
{
	struct gmem_file_args a = memfd_args(4096);
	struct gmem_file *f;

	CHECK(a.vm == NULL);
	CHECK_OK(gmem_file_create(&a, &f));
	CHECK_OK(gmem_file_close(f));
}

/* Nobody (a device process included) can change the size under a guest. */
static void memfd_size_is_sealed(void)
{
	struct gmem_file_args a = memfd_args(8192);
	struct gmem_file *f;
	int fd;

	CHECK_OK(gmem_file_create(&a, &f));
	fd = gmem_file_fd(f);
	CHECK(ftruncate(fd, 4096) < 0 && errno == EPERM);
	CHECK(ftruncate(fd, 16384) < 0 && errno == EPERM);
	CHECK_OK(gmem_file_close(f));
}

static void auto_without_vm_is_memfd(void)
{
	struct gmem_file_args a = { 0 };
	struct gmem_file *f;

	a.size = 4096;
	a.backend = GMEM_BACKEND_AUTO;
	CHECK_OK(gmem_file_create(&a, &f));
	CHECK(gmem_file_backend(f) == GMEM_BACKEND_MEMFD);
	CHECK_OK(gmem_file_close(f));
}

/* AUTO with what no backend takes: ENODEV, quoting the last refusal. */
static void auto_finds_no_backend(void)
{
	struct gmem_file_args a = memfd_args(4096);
	struct gmem_file *f = NULL;

	a.backend = GMEM_BACKEND_AUTO;
	a.flags = GMEM_FILE_NO_HOST_MAP;	/* guest_memfd only, no VM */
	CHECK_ERR(gmem_file_create(&a, &f), ENODEV);
	CHECK(strstr(gmem_last_error(), "no backend is usable"));
	CHECK(strstr(gmem_last_error(), "only for guest_memfd"));
	CHECK(f == NULL);
}

static void bad_size_zero(void)
{
	struct gmem_file_args a = memfd_args(0);
	struct gmem_file *f = NULL;

	CHECK_ERR(gmem_file_create(&a, &f), EINVAL);
	CHECK(f == NULL);
	CHECK(strstr(gmem_last_error(), "size is 0"));
}

static void bad_size_unaligned(void)
{
	struct gmem_file_args a = memfd_args(4097);
	struct gmem_file *f = NULL;

	CHECK_ERR(gmem_file_create(&a, &f), EINVAL);
	CHECK(strstr(gmem_last_error(), "multiple of"));
}

static void bad_size_too_large(void)
{
	struct gmem_file_args a = memfd_args(~0ULL << 12);
	struct gmem_file *f = NULL;

	CHECK_ERR(gmem_file_create(&a, &f), EFBIG);
}

static void bad_backend(void)
{
	struct gmem_file_args a = memfd_args(4096);
	struct gmem_file *f = NULL;

	a.backend = GMEM_BACKEND_COUNT;
	CHECK_ERR(gmem_file_create(&a, &f), EINVAL);
	a.backend = 0xdead;
	CHECK_ERR(gmem_file_create(&a, &f), EINVAL);
	CHECK(strstr(gmem_last_error(), "unknown backend"));
}

static void bad_reserved_nonzero(void)
{
	struct gmem_file_args a = memfd_args(4096);
	struct gmem_file *f = NULL;

	a.reserved[3] = 1;
	CHECK_ERR(gmem_file_create(&a, &f), EINVAL);
	CHECK(strstr(gmem_last_error(), "reserved"));
}

static void bad_flags(void)
{
	struct gmem_file_args a = memfd_args(4096);
	struct gmem_file *f = NULL;

	a.flags = 1U << 30;
	CHECK_ERR(gmem_file_create(&a, &f), EINVAL);
	CHECK(strstr(gmem_last_error(), "unknown flags"));
}

static void bad_null_arguments(void)
{
	struct gmem_file_args a = memfd_args(4096);
	struct gmem_import_args ia = { .fd = -1 };
	struct gmem_file *f = NULL;

	CHECK_ERR(gmem_file_create(NULL, &f), EINVAL);
	CHECK_ERR(gmem_file_create(&a, NULL), EINVAL);
	CHECK_ERR(gmem_file_close(NULL), EINVAL);
	CHECK_ERR(gmem_file_stats(NULL, NULL), EINVAL);
	CHECK(gmem_file_host_addr(NULL) == NULL);
	CHECK(gmem_file_size(NULL) == 0);
	CHECK_ERR(gmem_file_fd(NULL), EINVAL);
	CHECK_OK(gmem_file_create(&a, &f));
	CHECK_ERR(gmem_file_stats(f, NULL), EINVAL);
	CHECK_ERR(gmem_file_host_map(f, NULL), EINVAL);
	CHECK_OK(gmem_file_close(f));
	CHECK_ERR(gmem_file_import(&ia, NULL), EINVAL);
}

static void bad_memfd_without_host_map(void)
{
	struct gmem_file_args a = memfd_args(4096);
	struct gmem_file *f = NULL;

	a.flags = GMEM_FILE_NO_HOST_MAP;
	CHECK_ERR(gmem_file_create(&a, &f), EINVAL);
	CHECK(strstr(gmem_last_error(), "only for guest_memfd"));
}

static void bad_page_size_for_memfd(void)
{
	struct gmem_file_args a = memfd_args(4096);
	struct gmem_file *f = NULL;

	a.page_size = 2 << 20;
	CHECK_ERR(gmem_file_create(&a, &f), EINVAL);
	CHECK(strstr(gmem_last_error(), "only for the hugetlb"));
}

static void bad_guest_memfd_without_vm(void)
{
	struct gmem_file_args a = memfd_args(4096);
	struct gmem_file *f = NULL;

	a.backend = GMEM_BACKEND_GUEST_MEMFD;
	CHECK_ERR(gmem_file_create(&a, &f), EINVAL);
	CHECK(strstr(gmem_last_error(), "belongs to a VM"));
}

static void bad_hugetlb_page_size(void)
{
	struct gmem_file_args a = memfd_args(8 << 20);
	struct gmem_file *f = NULL;

	a.backend = GMEM_BACKEND_HUGETLB;
	a.page_size = 4 << 20;	/* no x86 pool has 4 MiB pages */
	CHECK_ERR(gmem_file_create(&a, &f), EINVAL);
	CHECK(strstr(gmem_last_error(), "not one this host offers"));
	a.page_size = 3 << 20;	/* not even a power of two */
	CHECK_ERR(gmem_file_create(&a, &f), EINVAL);
}

/* An empty or short pool fails at creation, naming needed and free pages. */
static void bad_hugetlb_pool_too_small(void)
{
	struct gmem_host h;
	struct gmem_file_args a = memfd_args(0);
	struct gmem_file *f = NULL;
	char want[64];

	/* Other test runs must not change the pool between probe and create. */
	t_lock_host("hugetlb");
	gmem_probe(&h);
	if (!h.memfd_hugetlb || !h.nr_hugepage_sizes) {
		t_skip("no hugetlb support on this host");
		return;
	}
	a.backend = GMEM_BACKEND_HUGETLB;
	a.page_size = h.hugepages[0].page_size;
	a.size = (h.hugepages[0].free + 1) * a.page_size;
	CHECK_ERR(gmem_file_create(&a, &f), ENOMEM);
	snprintf(want, sizeof(want), "need %llu pages",
		 (unsigned long long)(h.hugepages[0].free + 1));
	CHECK(strstr(gmem_last_error(), want));
	CHECK(strstr(gmem_last_error(), "available"));
}

static void backend_names_roundtrip(void)
{
	enum gmem_backend b;

	for (int i = GMEM_BACKEND_AUTO; i < GMEM_BACKEND_COUNT; i++) {
		CHECK_OK(gmem_backend_parse(gmem_backend_name(i), &b));
		CHECK((int)b == i);
	}
	CHECK_ERR(gmem_backend_parse("tmpfs", &b), EINVAL);
	CHECK(strstr(gmem_last_error(), "unknown backend"));
	CHECK_ERR(gmem_backend_parse(NULL, &b), EINVAL);
	CHECK_ERR(gmem_backend_parse("memfd", NULL), EINVAL);
	CHECK(strcmp(gmem_backend_name(GMEM_BACKEND_COUNT), "unknown") == 0);
}

/*
 * A reason belongs to the call that failed: the next call clears it, so a
 * success never shows a stale one (AUTO trying guest_memfd first, say).
 */
static void success_leaves_no_stale_reason(void)
{
	struct gmem_file_args a = memfd_args(4096);
	struct gmem_file *f;
	struct gmem_vm *vm = NULL;

	CHECK_ERR(gmem_file_create(NULL, &f), EINVAL);
	CHECK_OK(gmem_file_create(&a, &f));
	CHECK(gmem_last_error()[0] == '\0');
	CHECK_ERR(gmem_populate(f, 1, 4096), EINVAL);
	CHECK_OK(gmem_populate(f, 0, 4096));
	CHECK(gmem_last_error()[0] == '\0');
	CHECK_OK(gmem_file_close(f));
	if (gmem_vm_create(&vm) == 0) {
		/* AUTO with a VM tries guest_memfd first; memfd_args' size
		 * is fine for both.  Whichever wins, no reason is left. */
		a.backend = GMEM_BACKEND_AUTO;
		a.vm = vm;
		CHECK_OK(gmem_file_create(&a, &f));
		CHECK(gmem_last_error()[0] == '\0');
		CHECK_OK(gmem_file_close(f));
		CHECK_OK(gmem_vm_close(vm));
	}
}

struct maker {
	struct gmem_vm *vm;
	volatile bool stop;
	int made;
};

static void *make_guest_memfds(void *arg)
{
	struct gmem_file_args a = { .size = 4096,
				    .backend = GMEM_BACKEND_GUEST_MEMFD };
	struct maker *m = arg;
	struct gmem_file *f;

	a.vm = m->vm;
	while (!m->stop && gmem_file_create(&a, &f) == 0) {
		gmem_file_close(f);
		m->made++;
	}
	return NULL;
}

/* In a forked child: is any guest_memfd fd missing FD_CLOEXEC? */
static int child_sees_inheritable_gmem(void)
{
	char link[64], target[64];
	int bad = 0;

	for (int fd = 3; fd < 1024; fd++) {
		ssize_t n;
		int fl = fcntl(fd, F_GETFD);

		if (fl < 0 || (fl & FD_CLOEXEC))
			continue;
		snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
		n = readlink(link, target, sizeof(target) - 1);
		if (n > 0 && (target[n] = '\0', strstr(target, "gmem")))
			bad++;
	}
	return bad;
}

/*
 * KVM makes guest_memfd without O_CLOEXEC.  A fork() in another thread
 * while files are being made must never find one that an exec would
 * leak: the library holds fork off until the flag is set.
 */
static void guest_memfd_never_inheritable(void)
{
	struct maker m = { 0 };
	pthread_t th;
	int leaks = 0;

	T_SKIP_UNLESS(t_need_guest_memfd_mmap());
	CHECK_OK(gmem_vm_create(&m.vm));
	CHECK(pthread_create(&th, NULL, make_guest_memfds, &m) == 0);
	for (int i = 0; i < 300; i++) {
		int status;
		pid_t pid = fork();

		/*
		 * The child leaves by exec: a leak checker (valgrind) would
		 * count the file the other thread was making as lost, since
		 * that thread does not exist in the child.
		 */
		if (pid == 0) {
			execl("/bin/sh", "sh", "-c",
			      child_sees_inheritable_gmem() ? "exit 1"
							    : "exit 0",
			      (char *)NULL);
			_exit(2);
		}
		if (pid < 0 || waitpid(pid, &status, 0) != pid)
			break;
		leaks += WIFEXITED(status) && WEXITSTATUS(status) == 1;
	}
	m.stop = true;
	pthread_join(th, NULL);
	CHECK(m.made > 0);
	CHECK(leaks == 0);
	CHECK_OK(gmem_vm_close(m.vm));
}

/* Private memory is a guest_memfd thing; other backends refuse the flag. */
static void bad_flags_for_backend(void)
{
	struct gmem_file_args a = memfd_args(2 << 20);
	struct gmem_file *f = NULL;

	a.flags = GMEM_FILE_PRIVATE;
	CHECK_ERR(gmem_file_create(&a, &f), EINVAL);
	CHECK(strstr(gmem_last_error(), "guest_memfd"));
	a.backend = GMEM_BACKEND_HUGETLB;
	CHECK_ERR(gmem_file_create(&a, &f), EINVAL);
	CHECK(f == NULL);
}

/*
 * An fd the VMM already has becomes a gmem file: the library works on a
 * window of it through a duplicate, and the caller's fd stays its own.
 */
static void import_memfd_window(void)
{
	struct gmem_import_args a = { .offset = 1 << 20, .size = 2 << 20 };
	struct gmem_file *f;
	struct stat st;
	uint8_t b = 0;
	uint8_t *p;
	int fd, fds = t_count_fds();

	fd = memfd_create("vmm-ram", MFD_CLOEXEC);
	CHECK(fd >= 0 && ftruncate(fd, 4 << 20) == 0);
	CHECK(pwrite(fd, "x", 1, (1 << 20) + 5) == 1);
	a.fd = fd;
	CHECK_OK(gmem_file_import(&a, &f));
	CHECK(gmem_file_backend(f) == GMEM_BACKEND_MEMFD);
	CHECK(gmem_file_size(f) == 2 << 20);
	p = gmem_file_host_addr(f);
	CHECK(p && p[5] == 'x');
	/* Populate and discard land at the window's place in the fd. */
	CHECK_OK(gmem_populate(f, 0, 2 << 20));
	CHECK(fstat(fd, &st) == 0 && st.st_blocks * 512 == 2 << 20);
	CHECK_OK(gmem_discard(f, 0, 4096));
	CHECK(pread(fd, &b, 1, (1 << 20) + 5) == 1 && b == 0);
	CHECK_OK(gmem_file_close(f));
	/* The caller's fd is still open, and still the caller's. */
	CHECK(fcntl(fd, F_GETFD) >= 0);
	close(fd);
	CHECK(t_count_fds() == fds);
}

/* Given over with GMEM_IMPORT_CLOSE, the fd goes with the file. */
static void import_takes_the_fd_when_asked(void)
{
	struct gmem_import_args a = { .flags = GMEM_IMPORT_CLOSE };
	struct gmem_file *f;
	int fds = t_count_fds();

	a.fd = memfd_create("given", MFD_CLOEXEC);
	CHECK(a.fd >= 0 && ftruncate(a.fd, 1 << 20) == 0);
	CHECK_OK(gmem_file_import(&a, &f));
	CHECK(gmem_file_fd(f) == a.fd);
	CHECK_OK(gmem_file_close(f));
	CHECK(fcntl(a.fd, F_GETFD) < 0 && errno == EBADF);
	CHECK(t_count_fds() == fds);
}

static void bad_imports(void)
{
	struct gmem_import_args a = { 0 };
	struct gmem_file *f = NULL;
	int fds, fd = memfd_create("small", MFD_CLOEXEC);

	CHECK(fd >= 0 && ftruncate(fd, 1 << 20) == 0);
	fds = t_count_fds();
	a.fd = -1;
	CHECK_ERR(gmem_file_import(&a, &f), EBADF);
	a.fd = fd;
	a.offset = 4096 + 1;
	CHECK_ERR(gmem_file_import(&a, &f), EINVAL);
	a.offset = 1 << 20;
	CHECK_ERR(gmem_file_import(&a, &f), ERANGE);
	a.offset = 0;
	a.size = 2 << 20;
	CHECK_ERR(gmem_file_import(&a, &f), ERANGE);
	a.size = 0;
	a.flags = GMEM_FILE_PRIVATE;
	CHECK_ERR(gmem_file_import(&a, &f), EINVAL);
	a.flags = 1U << 20;
	CHECK_ERR(gmem_file_import(&a, &f), EINVAL);
	a.flags = 0;
	a.reserved[0] = 1;
	CHECK_ERR(gmem_file_import(&a, &f), EINVAL);
	a.reserved[0] = 0;
	/*
	 * Not guest memory at all: a pipe.  (Any tmpfs file is shmem, as a
	 * memfd is, and imports like one: QEMU's memory in /dev/shm does.)
	 */
	{
		int p[2];

		CHECK(pipe(p) == 0);
		a.fd = p[0];
		CHECK_ERR(gmem_file_import(&a, &f), EINVAL);
		CHECK(strstr(gmem_last_error(), "neither a memfd"));
		close(p[0]);
		close(p[1]);
	}
	CHECK_ERR(gmem_file_import(NULL, &f), EINVAL);
	CHECK(f == NULL && t_count_fds() == fds);
	close(fd);
}

/* A guest_memfd made outside the library, imported for its VM, bound. */
static void import_guest_memfd(void)
{
	struct gmem_import_args a = { 0 };
	struct gmem_bind_args b = { .length = 2 << 20, .slot = GMEM_SLOT_ANY };
	struct {
		uint64_t size, flags, reserved[6];
	} req = { 2 << 20, GMEM_KVM_GUEST_MEMFD_FLAG_MMAP |
			   GMEM_KVM_GUEST_MEMFD_FLAG_INIT_SHARED };
	struct gmem_binding *bd;
	struct gmem_file *f;
	struct gmem_vm *vm;
	int fd;

	T_SKIP_UNLESS(t_need_guest_memfd_mmap());
	CHECK_OK(gmem_vm_create(&vm));
	fd = ioctl(gmem_vm_fd(vm), _IOWR(KVMIO, 0xd4, req), &req);
	CHECK(fd >= 0);
	a.fd = fd;
	CHECK_ERR(gmem_file_import(&a, &f), EINVAL);	/* no VM given */
	a.vm = vm;
	CHECK_OK(gmem_file_import(&a, &f));
	CHECK(gmem_file_backend(f) == GMEM_BACKEND_GUEST_MEMFD);
	CHECK(gmem_file_host_addr(f) != NULL);
	CHECK_OK(gmem_bind(vm, f, &b, &bd));
	CHECK_OK(gmem_populate(f, 0, 2 << 20));
	CHECK_OK(gmem_unbind(bd));
	CHECK_OK(gmem_file_close(f));
	close(fd);
	CHECK_OK(gmem_vm_close(vm));
}

/*
 * guest_memfds that cannot be imported as asked: private memory for a VM
 * that has none, and shared use of one made without GUEST_MEMFD_FLAG_MMAP
 * (mmap's own error, with a hint for private memory).
 */
static void bad_guest_memfd_imports(void)
{
	struct gmem_import_args a = { 0 };
	struct {
		uint64_t size, flags, reserved[6];
	} req = { 2 << 20, 0 };
	struct gmem_file *f = NULL;
	struct gmem_vm_caps caps;
	struct gmem_vm *vm;
	int fd, fds;

	T_SKIP_UNLESS(t_need_kvm());
	CHECK_OK(gmem_vm_create(&vm));
	CHECK_OK(gmem_vm_get_caps(vm, &caps));
	if (!caps.guest_memfd) {
		CHECK_OK(gmem_vm_close(vm));
		t_skip("needs KVM_CAP_GUEST_MEMFD (Linux 6.8+)");
		return;
	}
	fd = ioctl(gmem_vm_fd(vm), _IOWR(KVMIO, 0xd4, req), &req);
	CHECK(fd >= 0);
	fds = t_count_fds();
	a.fd = fd;
	a.vm = vm;
	a.flags = GMEM_FILE_PRIVATE;
	CHECK_ERR(gmem_file_import(&a, &f), EOPNOTSUPP);
	CHECK(strstr(gmem_last_error(), "no private memory"));
	a.flags = 0;
	CHECK_ERR(gmem_file_import(&a, &f), ENODEV);
	CHECK(strstr(gmem_last_error(), "GMEM_FILE_PRIVATE"));
	CHECK(f == NULL && t_count_fds() == fds);
	close(fd);
	CHECK_OK(gmem_vm_close(vm));
}

/*
 * With no descriptor left, the calls that need one fail with EMFILE and
 * say which call it was.  (Each case runs in a process of its own, so the
 * limit goes with it.)
 */
static void no_descriptor_left(void)
{
	struct gmem_file_args a = memfd_args(1 << 20);
	struct gmem_import_args ia = { 0 };
	struct gmem_populate_job *j = NULL;
	struct gmem_file *f, *g = NULL;
	struct rlimit rl;

	CHECK_OK(gmem_file_create(&a, &f));
	ia.fd = gmem_file_fd(f);
	CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0);
	if (rl.rlim_cur > 256)
		rl.rlim_cur = 256;
	CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0);
	while (open("/dev/null", O_RDONLY | O_CLOEXEC) >= 0)
		;
	CHECK(errno == EMFILE);
	CHECK_ERR(gmem_file_create(&a, &g), EMFILE);
	CHECK(strstr(gmem_last_error(), "memfd_create"));
	CHECK_ERR(gmem_file_import(&ia, &g), EMFILE);
	CHECK(strstr(gmem_last_error(), "duplicating"));
	CHECK_ERR(gmem_populate_start(f, 0, 1 << 20, NULL, &j), EMFILE);
	CHECK(strstr(gmem_last_error(), "eventfd"));
	CHECK(!g && !j);
	CHECK_OK(gmem_file_close(f));
}

/* Where there is no host mapping, the library says why. */
static void host_map_says_why(void)
{
	struct gmem_file_args a = memfd_args(1 << 20);
	struct gmem_file *f;
	struct gmem_vm *vm;
	void *p = NULL;

	CHECK_OK(gmem_file_create(&a, &f));
	CHECK_OK(gmem_file_host_map(f, &p));
	CHECK(p == gmem_file_host_addr(f) && p);
	CHECK_OK(gmem_file_close(f));
	CHECK_ERR(gmem_file_host_map(NULL, &p), EINVAL);
	T_SKIP_UNLESS(t_need_guest_memfd_mmap());
	CHECK_OK(gmem_vm_create(&vm));
	a.backend = GMEM_BACKEND_GUEST_MEMFD;
	a.flags = GMEM_FILE_NO_HOST_MAP;
	a.vm = vm;
	CHECK_OK(gmem_file_create(&a, &f));
	CHECK_ERR(gmem_file_host_map(f, &p), ENXIO);
	CHECK(p == NULL && strstr(gmem_last_error(), "NO_HOST_MAP"));
	CHECK_OK(gmem_file_close(f));
	CHECK_OK(gmem_vm_close(vm));
}

static const struct t_case cases[] = {
	T_CASE(memfd_file_roundtrip),
	T_CASE(memfd_needs_no_vm),
	T_CASE(memfd_size_is_sealed),
	T_CASE(auto_without_vm_is_memfd),
	T_CASE(auto_finds_no_backend),
	T_CASE(bad_size_zero),
	T_CASE(bad_size_unaligned),
	T_CASE(bad_size_too_large),
	T_CASE(bad_backend),
	T_CASE(bad_reserved_nonzero),
	T_CASE(bad_flags),
	T_CASE(bad_flags_for_backend),
	T_CASE(bad_null_arguments),
	T_CASE(bad_memfd_without_host_map),
	T_CASE(bad_page_size_for_memfd),
	T_CASE(bad_guest_memfd_without_vm),
	T_CASE(bad_hugetlb_page_size),
	T_CASE(bad_hugetlb_pool_too_small),
	T_CASE(backend_names_roundtrip),
	T_CASE(success_leaves_no_stale_reason),
	T_CASE(guest_memfd_never_inheritable),
	T_CASE(import_memfd_window),
	T_CASE(import_takes_the_fd_when_asked),
	T_CASE(bad_imports),
	T_CASE(import_guest_memfd),
	T_CASE(bad_guest_memfd_imports),
	T_CASE(no_descriptor_left),
	T_CASE(host_map_says_why),
};
T_MAIN(cases)
