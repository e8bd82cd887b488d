// SPDX-License-Identifier: MIT
/*
 * gmem-check.c - the guest's half of the boot test: write a pattern over a
 * window of RAM the kernel keeps as /dev/pmem0, have gmem-vmm discard part
 * of it, and check, every page, that the hole reads zero and the rest kept
 * the pattern.  Also marks the start of init and powers the machine off,
 * both through gmem-vmm's control port (../ctl.h).
 *
 * Built static with gcc; it runs from the initramfs as root.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/io.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <linux/fs.h>

#include "../ctl.h"

#define PAGE		4096ULL
#define CHUNK		(1ULL << 20)	/* one O_DIRECT transfer */
#define SEED		0xa5c3000000000000ULL	/* high bits: never zero */
#define MAX_REPORTED	5		/* bad pages printed per check */

struct window {
	const char *dev;
	uint64_t start;		/* guest-physical */
	uint64_t size;
	uint64_t hole;		/* guest-physical start of the discard */
	uint64_t hole_size;
	int fd;
	uint64_t *buf;
};

static int failures;

static void report(bool ok, const char *what, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void report(bool ok, const char *what, const char *fmt, ...)
{
	va_list ap;

	printf("gmem-check: %s %s: ", ok ? "PASS" : "FAIL", what);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
	if (!ok)
		failures++;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int ctl_open(void)
{
	if (ioperm(CTL_PORT_BASE, CTL_PORT_COUNT, 1) < 0) {
		printf("gmem-check: ioperm(0x%x): %s\n", CTL_PORT_BASE,
		       strerror(errno));
		return -1;
	}
	if (inl(CTL_PORT_BASE + CTL_REG_MAGIC) != CTL_MAGIC) {
		printf("gmem-check: no gmem-vmm control port at 0x%x\n",
		       CTL_PORT_BASE);
		return -1;
	}
	return 0;
}

/* The window: the first "Persistent Memory" range in /proc/iomem. */
static int find_window(struct window *w)
{
	char line[256];
	unsigned long long a, b;
	FILE *f = fopen("/proc/iomem", "re");
	int ret = -1;

	if (!f) {
		report(false, "window", "/proc/iomem: %s", strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		if (!strstr(line, "Persistent Memory") ||
		    sscanf(line, " %llx-%llx", &a, &b) != 2)
			continue;
		w->start = a;
		w->size = b - a + 1;
		ret = 0;
		break;
	}
	fclose(f);
	if (ret < 0)
		report(false, "window", "no Persistent Memory in /proc/iomem: "
		       "is memmap=SIZE!START on the command line?");
	return ret;
}

/*
 * nd_pmem binds after insmod returns, and the node can appear before the
 * disk opens (ENXIO while the namespace is still being probed): give it
 * ten seconds.
 */
static int open_device(struct window *w)
{
	uint64_t bytes = 0;

	for (int i = 0; i < 200; i++) {
		w->fd = open(w->dev, O_RDWR | O_DIRECT | O_CLOEXEC);
		if (w->fd >= 0 || (errno != ENOENT && errno != ENXIO))
			break;
		usleep(50000);
	}
	if (w->fd < 0) {
		report(false, "window", "%s: %s", w->dev, strerror(errno));
		return -1;
	}
	if (ioctl(w->fd, BLKGETSIZE64, &bytes) < 0 || bytes != w->size) {
		report(false, "window", "%s has %" PRIu64 " bytes, the "
		       "window %" PRIu64, w->dev, bytes, w->size);
		return -1;
	}
	return 0;
}

/*
 * The hole: a quarter of the window from its middle, in whole units of
 * what gmem-vmm can discard (its RAM's page size).
 */
static int pick_hole(struct window *w, uint64_t unit)
{
	uint64_t end = w->start + w->size;

	if (unit < PAGE)
		unit = PAGE;
	w->hole = (w->start + w->size / 2) / unit * unit;
	w->hole_size = (w->size / 4 + unit - 1) / unit * unit;
	if (w->hole < w->start || w->hole + w->hole_size > end ||
	    (w->hole == w->start && w->hole + w->hole_size == end)) {
		report(false, "window", "0x%" PRIx64 "+0x%" PRIx64 " has no "
		       "room for a hole of whole %" PRIu64 " KiB pages with "
		       "pattern around it", w->start, w->size, unit >> 10);
		return -1;
	}
	return 0;
}

/* Each 8-byte word says where it is, so a misplaced page shows too. */
static uint64_t pattern(uint64_t gpa)
{
	return SEED ^ gpa;
}

static int write_pattern(struct window *w)
{
	for (uint64_t off = 0; off < w->size; off += CHUNK) {
		uint64_t len = w->size - off < CHUNK ? w->size - off : CHUNK;

		for (uint64_t i = 0; i < len / 8; i++)
			w->buf[i] = pattern(w->start + off + i * 8);
		if (pwrite(w->fd, w->buf, len, (off_t)off) != (ssize_t)len) {
			report(false, "pattern", "write at 0x%" PRIx64 ": %s",
			       off, strerror(errno));
			return -1;
		}
	}
	return 0;
}

/*
 * Read the window back, straight from RAM (O_DIRECT), and check every word
 * of every page: zero inside the hole (if there is one yet), the pattern
 * elsewhere.  Counts the pages that are right in *hole_ok and *rest_ok.
 */
static int check_window(struct window *w, bool hole, uint64_t *hole_ok,
			uint64_t *rest_ok, const char *what)
{
	int reported = 0;

	*hole_ok = *rest_ok = 0;
	for (uint64_t off = 0; off < w->size; off += CHUNK) {
		uint64_t len = w->size - off < CHUNK ? w->size - off : CHUNK;

		if (pread(w->fd, w->buf, len, (off_t)off) != (ssize_t)len) {
			report(false, what, "read at 0x%" PRIx64 ": %s", off,
			       strerror(errno));
			return -1;
		}
		for (uint64_t p = 0; p < len; p += PAGE) {
			uint64_t gpa = w->start + off + p;
			bool in_hole = hole && gpa >= w->hole &&
				       gpa < w->hole + w->hole_size;
			const uint64_t *word = w->buf + p / 8;
			uint64_t i;

			for (i = 0; i < PAGE / 8; i++)
				if (word[i] != (in_hole ? 0 :
						pattern(gpa + i * 8)))
					break;
			if (i == PAGE / 8) {
				(*(in_hole ? hole_ok : rest_ok))++;
			} else if (reported++ < MAX_REPORTED) {
				printf("gmem-check: %s: page 0x%" PRIx64
				       " word %" PRIu64 " is 0x%016" PRIx64
				       ", expected 0x%016" PRIx64 "\n", what,
				       gpa, i, word[i],
				       in_hole ? 0 : pattern(gpa + i * 8));
			}
		}
	}
	return 0;
}

static int discard(const struct window *w)
{
	uint32_t err;

	outl((uint32_t)(w->hole >> CTL_UNIT_SHIFT), CTL_PORT_BASE +
	     CTL_REG_ADDR);
	outl((uint32_t)(w->hole_size >> CTL_UNIT_SHIFT), CTL_PORT_BASE +
	     CTL_REG_LEN);
	outl(CTL_CMD_DISCARD, CTL_PORT_BASE + CTL_REG_CMD);
	err = inl(CTL_PORT_BASE + CTL_REG_CMD);
	report(err == 0, "discard", "gmem-vmm discarded 0x%" PRIx64 "+0x%"
	       PRIx64 ": %s", w->hole, w->hole_size,
	       err ? strerror((int)err) : "done");
	return err ? -1 : 0;
}

static void print_memtotal(void)
{
	char line[128];
	FILE *f = fopen("/proc/meminfo", "re");

	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "MemTotal:", 9))
			printf("gmem-check: %s", line);
	if (f)
		fclose(f);
}

/* Does the command line reserve a window (memmap=SIZE!START)? */
static bool window_asked(void)
{
	char line[4096] = "";
	FILE *f = fopen("/proc/cmdline", "re");

	if (f) {
		if (!fgets(line, sizeof(line), f))
			line[0] = '\0';
		fclose(f);
	}
	for (char *p = strstr(line, "memmap="); p; p = strstr(p + 1, "memmap="))
		if (strcspn(p, " \n") > strcspn(p, "!"))
			return true;
	return false;
}

/* The figures that show the guest used its RAM, then the verdict. */
static int finish(struct window *w)
{
	print_memtotal();
	/* gmem-vmm prints what the RAM file holds now. */
	outl(CTL_CMD_REPORT, CTL_PORT_BASE + CTL_REG_CMD);
	free(w->buf);
	if (w->fd >= 0)
		close(w->fd);
	printf("gmem-check: RESULT %s\n", failures ? "FAIL" : "PASS");
	fflush(stdout);
	return failures ? 1 : 0;
}

static int run(const char *dev)
{
	struct window w = { .dev = dev, .fd = -1 };
	uint64_t pages, hole_pages, hole_ok, rest_ok;
	double t;

	if (ctl_open() < 0)
		return 2;
	if (!window_asked()) {
		printf("gmem-check: SKIP window: no memmap=SIZE!START on the "
		       "command line, so only the boot is checked\n");
		return finish(&w);
	}
	if (find_window(&w) < 0 || open_device(&w) < 0 ||
	    pick_hole(&w, inl(CTL_PORT_BASE + CTL_REG_PAGE)) < 0)
		return finish(&w);
	if (posix_memalign((void **)&w.buf, PAGE, CHUNK)) {
		report(false, "window", "no memory for a buffer");
		return finish(&w);
	}
	pages = w.size / PAGE;
	hole_pages = w.hole_size / PAGE;
	printf("gmem-check: window 0x%" PRIx64 "+%" PRIu64 " MiB (%s), hole "
	       "0x%" PRIx64 "+%" PRIu64 " MiB\n", w.start, w.size >> 20, dev,
	       w.hole, w.hole_size >> 20);

	t = now();
	if (write_pattern(&w) < 0 ||
	    check_window(&w, false, &hole_ok, &rest_ok, "pattern") < 0)
		return finish(&w);
	report(rest_ok == pages, "pattern", "%" PRIu64 " of %" PRIu64
	       " pages read back as written (%.2f s guest time)", rest_ok,
	       pages, now() - t);

	if (discard(&w) < 0)
		return finish(&w);
	t = now();
	if (check_window(&w, true, &hole_ok, &rest_ok, "after discard") < 0)
		return finish(&w);
	report(hole_ok == hole_pages, "hole", "%" PRIu64 " of %" PRIu64
	       " discarded pages read zero", hole_ok, hole_pages);
	report(rest_ok == pages - hole_pages, "rest", "%" PRIu64 " of %"
	       PRIu64 " other pages kept the pattern (%.2f s guest time)",
	       rest_ok, pages - hole_pages, now() - t);

	return finish(&w);
}

static void usage(void)
{
	fprintf(stderr,
		"usage: gmem-check run [DEVICE]   check the memmap window "
		"(default /dev/pmem0)\n"
		"       gmem-check init           tell gmem-vmm init started\n"
		"       gmem-check poweroff N     power off with status N\n");
}

int main(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "run"))
		return run(argc >= 3 ? argv[2] : "/dev/pmem0");
	if (argc == 2 && !strcmp(argv[1], "init")) {
		if (ctl_open() < 0)
			return 2;
		outl(CTL_CMD_INIT, CTL_PORT_BASE + CTL_REG_CMD);
		return 0;
	}
	if (argc == 3 && !strcmp(argv[1], "poweroff")) {
		if (ctl_open() < 0)
			return 2;
		sync();
		outl((uint32_t)atoi(argv[2]) & 0xff, CTL_PORT_BASE +
		     CTL_REG_EXIT);
		/* Not reached: the machine is gone. */
		return 0;
	}
	usage();
	return 2;
}
