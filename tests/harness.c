// SPDX-License-Identifier: MIT
/* harness.c - run a table of test cases and report each one. */
#include <dirent.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

enum { T_PASS, T_FAIL, T_SKIP };

static int state;
static char reason[512];

void t_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (state == T_FAIL)
		return;
	state = T_FAIL;
	n = snprintf(reason, sizeof(reason), "%s:%d: ", file, line);
	va_start(ap, fmt);
	vsnprintf(reason + n, sizeof(reason) - (size_t)n, fmt, ap);
	va_end(ap);
}

void t_skip(const char *fmt, ...)
{
	va_list ap;

	if (state != T_PASS)
		return;
	state = T_SKIP;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
}

bool t_failed(void)
{
	return state == T_FAIL;
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

int t_main(int argc, char **argv, const struct t_case *cases, size_t n)
{
	int passed = 0, failed = 0, skipped = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (size_t i = 0; i < n; i++) {
		if (argc > 1 && strcmp(argv[1], cases[i].name) != 0)
			continue;
		state = T_PASS;
		reason[0] = '\0';
		cases[i].fn();
		switch (state) {
		case T_PASS:
			printf("PASS %s\n", cases[i].name);
			passed++;
			break;
		case T_FAIL:
			printf("FAIL %s: %s\n", cases[i].name, reason);
			failed++;
			break;
		default:
			printf("SKIP %s: %s\n", cases[i].name, reason);
			skipped++;
		}
	}
	if (failed)
		return 1;
	return passed == 0 && skipped > 0 ? 77 : 0;
}
