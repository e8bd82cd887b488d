// SPDX-License-Identifier: MIT
/*
 * harness.c - run a table of test cases, each in a child process, report
 * each one, and put back whatever host-wide state a case changed.
 */
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

enum { T_PASS, T_FAIL, T_SKIP };

#define MAX_RECORDS 8

/*
 * What a case changed on the host, kept in memory the parent shares with
 * the case's process: if the case crashes, the parent still puts it back.
 */
struct shared {
	int state;
	char reason[512];
	struct {
		char path[160];		/* "" = free slot */
		char old[256];
		char lock[64];
	} knobs[MAX_RECORDS];
	struct {
		char dir[PATH_MAX];	/* "" = none */
		char home[PATH_MAX - 64];	/* where joined ones go back */
		char mounted[PATH_MAX];	/* a mount made for the case */
		bool v2;
	} cg;
	char tmpdir[PATH_MAX];		/* removed when the case ends */
};

static struct shared *sh;
/* Host locks this process holds (fds of flock()ed files). */
static struct {
	char name[64];
	int fd;
} locks[MAX_RECORDS];

void t_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (sh->state == T_FAIL)
		return;
	sh->state = T_FAIL;
	n = snprintf(sh->reason, sizeof(sh->reason), "%s:%d: ", file, line);
	va_start(ap, fmt);
	vsnprintf(sh->reason + n, sizeof(sh->reason) - (size_t)n, fmt, ap);
	va_end(ap);
}

void t_skip(const char *fmt, ...)
{
	va_list ap;

	if (sh->state != T_PASS)
		return;
	sh->state = T_SKIP;
	va_start(ap, fmt);
	vsnprintf(sh->reason, sizeof(sh->reason), fmt, ap);
	va_end(ap);
}

bool t_failed(void)
{
	return sh->state == T_FAIL;
}

bool t_need_kvm(void)
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);

	if (fd < 0) {
		t_skip("needs /dev/kvm: %s", strerror(errno));
		return false;
	}
	close(fd);
	return true;
}

bool t_need_guest_memfd_mmap(void)
{
	struct gmem_host h;

	if (!t_need_kvm())
		return false;
	gmem_probe(&h);
	if (!h.cap_guest_memfd) {
		t_skip("needs KVM_CAP_GUEST_MEMFD (Linux 6.8+)");
		return false;
	}
	if (!(h.cap_guest_memfd_flags & GMEM_KVM_GUEST_MEMFD_FLAG_MMAP)) {
		t_skip("needs GUEST_MEMFD_FLAG_MMAP (Linux 6.18+)");
		return false;
	}
	return true;
}

bool t_need_private(void)
{
	const char *features = getenv("GMEM_VM_FEATURES");
	struct gmem_vm_caps c;
	char line[512];
	FILE *f;

	if (!t_need_kvm())
		return false;
	if (gmem_probe_vm_type(GMEM_VM_TYPE_SW_PROTECTED, &c) == 0 &&
	    (c.memory_attributes & GMEM_MEMORY_ATTRIBUTE_PRIVATE))
		return true;
	if (!features) {
		t_skip("this kernel has no VM type with private memory "
		       "(tests/vm's emulated machine has)");
		return false;
	}
	/* The emulated machine promised it: say why it is not there. */
	snprintf(line, sizeof(line), "(no private= line in %s)", features);
	f = fopen(features, "re");
	while (f && fgets(line, sizeof(line), f) && strncmp(line, "private=", 8))
		;
	if (f)
		fclose(f);
	line[strcspn(line, "\n")] = '\0';
	t_fail(__FILE__, __LINE__, "the emulated machine has no private "
	       "memory: %s", line);
	return false;
}

/* One key of the emulated machine's features file, or "" if missing. */
static void vm_feature(const char *path, const char *key, char *out,
		       size_t len)
{
	size_t klen = strlen(key);
	char line[512];
	FILE *f = fopen(path, "re");

	snprintf(out, len, "(no %s= line in %s)", key, path);
	while (f && fgets(line, sizeof(line), f)) {
		if (strncmp(line, key, klen) || line[klen] != '=')
			continue;
		line[strcspn(line, "\n")] = '\0';
		snprintf(out, len, "%s", line + klen + 1);
		break;
	}
	if (f)
		fclose(f);
}

bool t_need_edu(bool iommufd, struct t_edu *out)
{
	const char *features = getenv("GMEM_VM_FEATURES");
	char path[128];

	memset(out, 0, sizeof(*out));
	if (!features) {
		t_skip("needs a DMA device behind an IOMMU (tests/vm's "
		       "emulated machine has edu)");
		return false;
	}
	/* The emulated machine promised it: say why it is not there. */
	vm_feature(features, "edu", out->bdf, sizeof(out->bdf));
	if (strncmp(out->bdf, "0000:", 5)) {
		t_fail(__FILE__, __LINE__, "the emulated machine has no edu "
		       "for VFIO: edu=%s", out->bdf);
		return false;
	}
	vm_feature(features, iommufd ? "iommufd" : "vfio", path, sizeof(path));
	if (strcmp(path, iommufd ? "yes" : "type1")) {
		t_fail(__FILE__, __LINE__, "the emulated machine has no %s: "
		       "%s=%s", iommufd ? "iommufd" : "VFIO type1",
		       iommufd ? "iommufd" : "vfio", path);
		return false;
	}
	vm_feature(features, "edu_group", out->group, sizeof(out->group));
	vm_feature(features, "edu_cdev", out->cdev, sizeof(out->cdev));
	if (strncmp(iommufd ? out->cdev : out->group, "/dev/vfio/", 10)) {
		t_fail(__FILE__, __LINE__, "the emulated machine names no edu "
		       "%s: %s", iommufd ? "cdev" : "group",
		       iommufd ? out->cdev : out->group);
		return false;
	}
	return true;
}

int t_count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;	/* the directory's own fd */
}

/* ---- host locks ---- */

static int lock_file(const char *what)
{
	char path[128];
	int fd;

	snprintf(path, sizeof(path), "/run/lock/gmem-tests-%s.lock", what);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(path, sizeof(path), "/tmp/gmem-tests-%s.lock", what);
		fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	}
	if (fd >= 0)
		while (flock(fd, LOCK_EX) < 0 && errno == EINTR)
			;
	return fd;
}

void t_lock_host(const char *what)
{
	int free_slot = -1;

	for (int i = 0; i < MAX_RECORDS; i++) {
		if (locks[i].name[0] && !strcmp(locks[i].name, what))
			return;
		if (!locks[i].name[0] && free_slot < 0)
			free_slot = i;
	}
	if (free_slot < 0)
		return;
	snprintf(locks[free_slot].name, sizeof(locks[0].name), "%s", what);
	locks[free_slot].fd = lock_file(what);
}

static void unlock_all(void)
{
	for (int i = 0; i < MAX_RECORDS; i++) {
		if (!locks[i].name[0])
			continue;
		if (locks[i].fd >= 0)
			close(locks[i].fd);
		locks[i].name[0] = '\0';
	}
}

/* ---- knobs ---- */

static bool read_knob(const char *path, char *out, size_t len)
{
	char buf[256], *l, *r;
	FILE *f = fopen(path, "re");

	if (!f)
		return false;
	if (!fgets(buf, sizeof(buf), f)) {
		fclose(f);
		return false;
	}
	fclose(f);
	buf[strcspn(buf, "\n")] = '\0';
	/* Mode files list every choice with the current one bracketed. */
	l = strchr(buf, '[');
	r = l ? strchr(l, ']') : NULL;
	if (l && r) {
		*r = '\0';
		snprintf(out, len, "%s", l + 1);
	} else {
		snprintf(out, len, "%s", buf);
	}
	return true;
}

static int write_knob(const char *path, const char *value)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), ret = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, value, strlen(value)) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

static void lock_name_for(const char *path, char *out, size_t len)
{
	const char *base = strrchr(path, '/');

	snprintf(out, len, "knob-%s", base ? base + 1 : path);
	for (char *p = out; *p; p++)
		if (*p == '/')
			*p = '_';
}

bool t_knob_set(const char *path, const char *value)
{
	char lock[64], old[256];
	int slot = -1, ret;

	lock_name_for(path, lock, sizeof(lock));
	/* Hugetlb pool sizes share one lock with everything hugetlb. */
	if (strstr(path, "/hugepages/"))
		snprintf(lock, sizeof(lock), "hugetlb");
	t_lock_host(lock);
	for (int i = 0; i < MAX_RECORDS; i++) {
		if (!strcmp(sh->knobs[i].path, path)) {
			slot = -2;	/* already saved */
			break;
		}
		if (!sh->knobs[i].path[0] && slot == -1)
			slot = i;
	}
	if (slot != -2) {
		if (!read_knob(path, old, sizeof(old))) {
			t_skip("cannot read %s", path);
			return false;
		}
		if (slot < 0) {
			t_fail(__FILE__, __LINE__, "too many knobs changed");
			return false;
		}
		snprintf(sh->knobs[slot].old, sizeof(sh->knobs[0].old), "%s",
			 old);
		snprintf(sh->knobs[slot].lock, sizeof(sh->knobs[0].lock), "%s",
			 lock);
		snprintf(sh->knobs[slot].path, sizeof(sh->knobs[0].path), "%s",
			 path);
	}
	ret = write_knob(path, value);
	if (ret < 0) {
		t_skip("cannot set %s to %s (needs root): %s", path, value,
		       strerror(-ret));
		return false;
	}
	return true;
}

static void restore_knobs(void)
{
	for (int i = MAX_RECORDS - 1; i >= 0; i--) {
		if (!sh->knobs[i].path[0])
			continue;
		t_lock_host(sh->knobs[i].lock);
		write_knob(sh->knobs[i].path, sh->knobs[i].old);
		sh->knobs[i].path[0] = '\0';
	}
}

/* ---- hugetlb pools ---- */

static void pool_path(uint64_t page_size, const char *field, char *buf,
		      size_t len)
{
	snprintf(buf, len, "/sys/kernel/mm/hugepages/hugepages-%llukB/%s",
		 (unsigned long long)(page_size >> 10), field);
}

uint64_t t_hugepool_read(uint64_t page_size, const char *field)
{
	char path[128];
	unsigned long long v = ~0ULL;
	FILE *f;

	pool_path(page_size, field, path, sizeof(path));
	f = fopen(path, "re");
	if (!f)
		return ~0ULL;
	if (fscanf(f, "%llu", &v) != 1)
		v = ~0ULL;
	fclose(f);
	return v;
}

bool t_hugepool_set(uint64_t page_size, uint64_t n)
{
	uint64_t nr, free_pages, resv, want;
	char path[128], value[32];

	t_lock_host("hugetlb");
	nr = t_hugepool_read(page_size, "nr_hugepages");
	if (nr == ~0ULL) {
		t_skip("no pool of %llu KiB hugepages on this host",
		       (unsigned long long)(page_size >> 10));
		return false;
	}
	free_pages = t_hugepool_read(page_size, "free_hugepages");
	resv = t_hugepool_read(page_size, "resv_hugepages");
	/* Whatever others use or reserved stays theirs; add n on top. */
	want = nr - (free_pages - resv) + n;
	pool_path(page_size, "nr_hugepages", path, sizeof(path));
	snprintf(value, sizeof(value), "%llu", (unsigned long long)want);
	if (!t_knob_set(path, value))
		return false;
	free_pages = t_hugepool_read(page_size, "free_hugepages");
	resv = t_hugepool_read(page_size, "resv_hugepages");
	if (free_pages - resv != n) {
		t_skip("the kernel found only %llu of %llu free %llu KiB pages",
		       (unsigned long long)(free_pages - resv),
		       (unsigned long long)n,
		       (unsigned long long)(page_size >> 10));
		return false;
	}
	return true;
}

/* ---- memory cgroups ---- */

static bool has_word(const char *list, const char *want, char sep)
{
	size_t n = strlen(want);

	for (const char *p = list; (p = strstr(p, want)); p += n)
		if ((p == list || p[-1] == sep) &&
		    (p[n] == sep || p[n] == '\0' || p[n] == '\n'))
			return true;
	return false;
}

static bool read_line(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "re");
	bool ok;

	if (!f)
		return false;
	ok = fgets(buf, (int)len, f) != NULL;
	fclose(f);
	if (ok)
		buf[strcspn(buf, "\n")] = '\0';
	return ok;
}

/* Where a cgroup controller is mounted: v1 first, then v2. */
static bool controller_mount(const char *ctl, char *mnt, size_t len, bool *v2)
{
	char line[2 * PATH_MAX], m[PATH_MAX], path[PATH_MAX + 32], c[512];
	bool found = false;
	FILE *f = fopen("/proc/self/mountinfo", "re");

	while (f && fgets(line, sizeof(line), f)) {
		char *sep = strstr(line, " - "), type[32], opts[512];

		if (!sep || sscanf(line, "%*s %*s %*s %*s %4095s", m) != 1 ||
		    sscanf(sep + 3, "%31s %*s %511s", type, opts) != 2)
			continue;
		if (!strcmp(type, "cgroup") && has_word(opts, ctl, ',')) {
			snprintf(mnt, len, "%s", m);
			*v2 = false;
			fclose(f);
			return true;
		}
		snprintf(path, sizeof(path), "%s/cgroup.controllers", m);
		if (!found && !strcmp(type, "cgroup2") &&
		    read_line(path, c, sizeof(c)) && has_word(c, ctl, ' ')) {
			snprintf(mnt, len, "%s", m);
			*v2 = true;
			found = true;
		}
	}
	if (f)
		fclose(f);
	return found;
}

/* This process's cgroup directory under mnt. */
static bool own_cgroup(const char *ctl, const char *mnt, bool v2, char *out,
		       size_t len)
{
	char line[PATH_MAX + 64];
	FILE *f = fopen("/proc/self/cgroup", "re");
	bool found = false;

	while (f && !found && fgets(line, sizeof(line), f)) {
		char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':')
						       : NULL;

		if (!c2)
			continue;
		*c2 = '\0';
		c2[1 + strcspn(c2 + 1, "\n")] = '\0';
		if (v2 ? c1[1] == '\0' : has_word(c1 + 1, ctl, ','))
			found = snprintf(out, len, "%s%s", mnt,
					 strcmp(c2 + 1, "/") ? c2 + 1 : "") <
				(int)len;
	}
	if (f)
		fclose(f);
	return found;
}

static bool write_pid(const char *dir, pid_t pid)
{
	char path[PATH_MAX + 32], v[32];

	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	snprintf(v, sizeof(v), "%d", (int)pid);
	return write_knob(path, v) == 0;
}

/* A cgroup of the case's own with ctl, its limit file set to limit. */
static bool cgroup_create(const char *ctl, const char *limit_v1,
			  const char *limit_v2, uint64_t limit)
{
	char mnt[PATH_MAX], path[PATH_MAX + 64], v[40];
	bool v2 = false;

	if (sh->cg.dir[0]) {
		t_fail(__FILE__, __LINE__, "one cgroup per case");
		return false;
	}
	if (!controller_mount(ctl, mnt, sizeof(mnt), &v2)) {
		/* Nothing mounted (a minimal machine): mount cgroup2. */
		char tmpl[] = "/tmp/gmem-cgroup-XXXXXX";

		if (!mkdtemp(tmpl) || mount("cgroup2", tmpl, "cgroup2", 0,
					    NULL) < 0) {
			t_skip("no %s cgroup here, and mounting cgroup2 "
			       "failed: %s", ctl, strerror(errno));
			return false;
		}
		snprintf(sh->cg.mounted, sizeof(sh->cg.mounted), "%s", tmpl);
		snprintf(mnt, sizeof(mnt), "%s", tmpl);
		v2 = true;
	}
	if (!own_cgroup(ctl, mnt, v2, sh->cg.home, sizeof(sh->cg.home))) {
		t_skip("cannot find this process's %s cgroup", ctl);
		return false;
	}
	/*
	 * v1 nests under our own cgroup, so its limits still apply; v2 forbids
	 * controllers below a cgroup with processes, so it goes under the root.
	 */
	if (snprintf(sh->cg.dir, sizeof(sh->cg.dir), "%s/gmem-test-%d",
		     v2 ? mnt : sh->cg.home, (int)getpid()) >=
	    (int)sizeof(sh->cg.dir)) {
		t_skip("the cgroup path is too long");
		sh->cg.dir[0] = '\0';
		return false;
	}
	sh->cg.v2 = v2;
	if (v2) {
		snprintf(path, sizeof(path), "%s/cgroup.subtree_control", mnt);
		snprintf(v, sizeof(v), "+%s", ctl);
		write_knob(path, v);
	}
	if (mkdir(sh->cg.dir, 0755) < 0 && errno != EEXIST) {
		t_skip("cannot make a cgroup %s: %s", sh->cg.dir,
		       strerror(errno));
		sh->cg.dir[0] = '\0';
		return false;
	}
	if (limit) {
		snprintf(path, sizeof(path), "%s/%s", sh->cg.dir,
			 v2 ? limit_v2 : limit_v1);
		snprintf(v, sizeof(v), "%llu", (unsigned long long)limit);
		if (write_knob(path, v) < 0) {
			t_skip("cannot limit %s: %s", path, strerror(errno));
			return false;
		}
	}
	return true;
}

bool t_cgroup_create(uint64_t limit)
{
	return cgroup_create("memory", "memory.limit_in_bytes", "memory.max",
			     limit);
}

bool t_cgroup_create_hugetlb(uint64_t page_size, uint64_t limit)
{
	char v1[64], v2[64], size[16];

	if (page_size >= (1ULL << 30))
		snprintf(size, sizeof(size), "%lluGB",
			 (unsigned long long)(page_size >> 30));
	else
		snprintf(size, sizeof(size), "%lluMB",
			 (unsigned long long)(page_size >> 20));
	snprintf(v1, sizeof(v1), "hugetlb.%s.limit_in_bytes", size);
	snprintf(v2, sizeof(v2), "hugetlb.%s.max", size);
	return cgroup_create("hugetlb", v1, v2, limit);
}

bool t_cgroup_join(pid_t pid)
{
	if (!sh->cg.dir[0] || !write_pid(sh->cg.dir, pid)) {
		t_fail(__FILE__, __LINE__, "cannot move %d into %s", (int)pid,
		       sh->cg.dir);
		return false;
	}
	return true;
}

uint64_t t_cgroup_usage(void)
{
	char path[PATH_MAX + 32], buf[64];

	snprintf(path, sizeof(path), "%s/%s", sh->cg.dir,
		 sh->cg.v2 ? "memory.current" : "memory.usage_in_bytes");
	if (!sh->cg.dir[0] || !read_line(path, buf, sizeof(buf)))
		return ~0ULL;
	return strtoull(buf, NULL, 10);
}

uint64_t t_cgroup_stat(const char *key)
{
	char path[PATH_MAX + 32], k[64];
	unsigned long long v, found = ~0ULL;
	FILE *f;

	snprintf(path, sizeof(path), "%s/memory.stat", sh->cg.dir);
	f = sh->cg.dir[0] ? fopen(path, "re") : NULL;
	while (f && fscanf(f, "%63s %llu", k, &v) == 2)
		if (!strcmp(k, key))
			found = v;
	if (f)
		fclose(f);
	return found;
}

static void destroy_cgroup(void)
{
	char path[PATH_MAX + 32], pid[32];
	FILE *f;

	if (sh->cg.dir[0]) {
		/* Send whoever is left back home, then remove it. */
		snprintf(path, sizeof(path), "%s/cgroup.procs", sh->cg.dir);
		f = fopen(path, "re");
		while (f && fgets(pid, sizeof(pid), f))
			write_pid(sh->cg.home, (pid_t)atoi(pid));
		if (f)
			fclose(f);
		rmdir(sh->cg.dir);
		sh->cg.dir[0] = '\0';
	}
	if (sh->cg.mounted[0]) {
		umount2(sh->cg.mounted, MNT_DETACH);
		rmdir(sh->cg.mounted);
		sh->cg.mounted[0] = '\0';
	}
}

/* ---- temporary directories ---- */

const char *t_tmpdir(void)
{
	if (!sh->tmpdir[0]) {
		snprintf(sh->tmpdir, sizeof(sh->tmpdir),
			 "/tmp/gmem-test-XXXXXX");
		if (!mkdtemp(sh->tmpdir)) {
			sh->tmpdir[0] = '\0';
			return "/nonexistent";
		}
	}
	return sh->tmpdir;
}

static int remove_one(const char *path, const struct stat *st, int flag,
		      struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	remove(path);
	return 0;
}

/* ---- running cases ---- */

static void cleanup_case(void)
{
	if (sh->tmpdir[0]) {
		nftw(sh->tmpdir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
		sh->tmpdir[0] = '\0';
	}
	destroy_cgroup();
	restore_knobs();
	unlock_all();
}

static void run_child(const struct t_case *c)
{
	c->fn();
	cleanup_case();
	/* exit(), not _exit(): leak checkers report from exit handlers. */
	exit(0);
}

/* How a case's process ended, when it did not end by itself. */
static void child_status(int status)
{
	if (sh->state == T_FAIL)
		return;
	if (WIFSIGNALED(status)) {
		sh->state = T_FAIL;
		snprintf(sh->reason, sizeof(sh->reason), "killed by signal %d "
			 "(%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
	} else if (WIFEXITED(status) && WEXITSTATUS(status)) {
		sh->state = T_FAIL;
		snprintf(sh->reason, sizeof(sh->reason), "exited with status "
			 "%d (a checker such as valgrind found errors?)",
			 WEXITSTATUS(status));
	}
}

int t_main(int argc, char **argv, const struct t_case *cases, size_t n)
{
	int passed = 0, failed = 0, skipped = 0, status;

	setvbuf(stdout, NULL, _IOLBF, 0);
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	for (size_t i = 0; i < n; i++) {
		pid_t pid;

		if (argc > 1 && strcmp(argv[1], cases[i].name) != 0)
			continue;
		memset(sh, 0, sizeof(*sh));
		sh->state = T_PASS;
		fflush(NULL);
		pid = fork();
		if (pid < 0) {
			perror("fork");
			return 1;
		}
		if (pid == 0)
			run_child(&cases[i]);
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		child_status(status);
		/* A case that crashed could not put things back: do it here. */
		cleanup_case();
		switch (sh->state) {
		case T_PASS:
			printf("PASS %s\n", cases[i].name);
			passed++;
			break;
		case T_FAIL:
			printf("FAIL %s: %s\n", cases[i].name, sh->reason);
			failed++;
			break;
		default:
			printf("SKIP %s: %s\n", cases[i].name, sh->reason);
			skipped++;
		}
	}
	if (failed)
		return 1;
	return passed == 0 && skipped > 0 ? 77 : 0;
}
