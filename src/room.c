// SPDX-License-Identifier: MIT
/*
 * room.c - is there room for an allocation?  Populating past a memory
 * cgroup's limit wakes the cgroup's OOM killer, which ends the whole VMM
 * with SIGKILL; a short hugetlb pool or hugetlb cgroup fails too.  So
 * before each piece of a populate, the library reads the limits that apply
 * to the calling thread and refuses with the numbers instead.  It is a
 * guard, not a reservation: another allocator can still race it.  It runs
 * before every piece, so levels without a limit cost one read each.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define MIB (1ULL << 20)

/* One cgroup hierarchy that has the controller we want. */
struct hierarchy {
	bool v2;
	char mount[PATH_MAX];		/* where it is mounted */
	char root[PATH_MAX];		/* the part of the hierarchy mounted */
};

static bool has_word(const char *list, const char *want, char sep)
{
	size_t n = strlen(want);

	for (const char *p = list; (p = strstr(p, want)); p += n)
		if ((p == list || p[-1] == sep) &&
		    (p[n] == sep || p[n] == '\0' || p[n] == '\n'))
			return true;
	return false;
}

/* Is controller enabled in the v2 hierarchy mounted at mnt? */
static bool v2_has(const char *mnt, const char *controller)
{
	char path[PATH_MAX + 32], buf[512] = "";
	FILE *f;

	snprintf(path, sizeof(path), "%s/cgroup.controllers", mnt);
	f = fopen(path, "re");
	if (!f)
		return false;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = '\0';
	fclose(f);
	return has_word(buf, controller, ' ');
}

/* Find the v1 hierarchy of controller, else a v2 one that has it. */
static bool find_hierarchy(const char *controller, struct hierarchy *h)
{
	char line[2 * PATH_MAX], root[PATH_MAX], mnt[PATH_MAX];
	bool have_v2 = false;
	FILE *f = fopen("/proc/self/mountinfo", "re");

	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		char *sep = strstr(line, " - "), type[32], opts[512];

		if (!sep || sscanf(line, "%*s %*s %*s %4095s %4095s", root,
				   mnt) != 2 ||
		    sscanf(sep + 3, "%31s %*s %511s", type, opts) != 2)
			continue;
		if (!strcmp(type, "cgroup") && has_word(opts, controller, ',')) {
			h->v2 = false;
			snprintf(h->mount, sizeof(h->mount), "%s", mnt);
			snprintf(h->root, sizeof(h->root), "%s", root);
			fclose(f);
			return true;
		}
		if (!strcmp(type, "cgroup2") && !have_v2 &&
		    v2_has(mnt, controller)) {
			h->v2 = true;
			snprintf(h->mount, sizeof(h->mount), "%s", mnt);
			snprintf(h->root, sizeof(h->root), "%s", root);
			have_v2 = true;
		}
	}
	fclose(f);
	return have_v2;
}

/*
 * Hierarchies are mounted once at boot, so each is looked up in mountinfo
 * once, and again only when the thread's cgroup is not found in it.  A
 * controller not found is looked for again next time.
 */
static pthread_mutex_t found_lock = PTHREAD_MUTEX_INITIALIZER;
static struct found {
	const char *controller;
	bool known;
	struct hierarchy h;
} found[] = { { "memory" }, { "hugetlb" } };

static bool cached_hierarchy(const char *controller, struct hierarchy *h,
			     bool again)
{
	struct found *c = NULL;
	bool ok = true;

	for (size_t i = 0; i < sizeof(found) / sizeof(found[0]); i++)
		if (!strcmp(found[i].controller, controller))
			c = &found[i];
	if (!c)
		return find_hierarchy(controller, h);
	/* Looked up outside the lock: a fork meanwhile must not inherit it
	 * held. */
	pthread_mutex_lock(&found_lock);
	if (!again && c->known)
		*h = c->h;
	else
		ok = false;
	pthread_mutex_unlock(&found_lock);
	if (ok)
		return true;
	if (!find_hierarchy(controller, h))
		return false;
	pthread_mutex_lock(&found_lock);
	c->h = *h;
	c->known = true;
	pthread_mutex_unlock(&found_lock);
	return true;
}

/*
 * The directory of this thread's cgroup in h, or false when the thread's
 * cgroup is outside what is mounted (a container that sees only its part).
 * Read on every check: threads move between cgroups.
 */
static bool thread_cgroup_dir(const char *controller,
			      const struct hierarchy *h, char *dir,
			      size_t len)
{
	char buf[8192], *line, *next;
	const char *rel = NULL;
	size_t rootlen;
	ssize_t n;

	n = gmem_read_text("/proc/thread-self/cgroup", buf, sizeof(buf));
	if (n <= 0)
		n = gmem_read_text("/proc/self/cgroup", buf, sizeof(buf));
	/* Nothing read, or more than fits: the line wanted may be cut. */
	if (n <= 0 || (size_t)n >= sizeof(buf) - 1)
		return false;
	for (line = buf; line && *line && !rel; line = next) {
		char *c1 = strchr(line, ':'), *c2;

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		if (!c2)
			continue;
		*c2 = '\0';
		/* v2 is the line "0::path"; v1 lines name controllers. */
		if (h->v2 ? c1 == line + 1 && line[0] == '0' && c1[1] == '\0'
			  : has_word(c1 + 1, controller, ','))
			rel = c2 + 1;
	}
	if (!rel)
		return false;
	/* The mounted root is a prefix of the path, unless it is "/". */
	rootlen = strcmp(h->root, "/") ? strlen(h->root) : 0;
	if (strncmp(rel, h->root, rootlen))
		return false;
	snprintf(dir, len, "%s%s", h->mount, rel + rootlen);
	return true;
}

/* A limit file: a number, or "max" (v2) for none. */
static uint64_t read_limit(const char *dir, const char *name)
{
	char path[PATH_MAX + 64], buf[32];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (gmem_read_text(path, buf, sizeof(buf)) <= 0 ||
	    !strncmp(buf, "max", 3))
		return UINT64_MAX;
	return strtoull(buf, NULL, 10);
}

/* No limit at all, or one so high (v1's "unlimited") it is none. */
static bool unlimited(uint64_t limit)
{
	return limit == UINT64_MAX || limit >= (1ULL << 62);
}

static uint64_t read_value(const char *dir, const char *name)
{
	char path[PATH_MAX + 64];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return gmem_read_u64(path, 0);
}

/* Sum of the named keys of a memory.stat file. */
static uint64_t stat_sum(const char *dir, const char *k1, const char *k2)
{
	char path[PATH_MAX + 64], key[64];
	unsigned long long v;
	uint64_t sum = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/memory.stat", dir);
	f = fopen(path, "re");
	while (f && fscanf(f, "%63s %llu", key, &v) == 2)
		if (!strcmp(key, k1) || !strcmp(key, k2))
			sum += v;
	if (f)
		fclose(f);
	return sum;
}

/* The tightest level of the hierarchy, found walking up from dir. */
struct tightest {
	char dir[PATH_MAX];
	uint64_t limit;
	uint64_t usage;
	uint64_t reclaimable;
	uint64_t room;
};

typedef void (*level_fn)(const struct hierarchy *h, const char *dir,
			 const void *arg, struct tightest *t);

static bool walk_levels(const char *controller, level_fn fn, const void *arg,
			struct tightest *t)
{
	struct hierarchy h;
	char dir[PATH_MAX];
	size_t mlen;

	if (!cached_hierarchy(controller, &h, false))
		return false;
	if (!thread_cgroup_dir(controller, &h, dir, sizeof(dir)) &&
	    (!cached_hierarchy(controller, &h, true) ||
	     !thread_cgroup_dir(controller, &h, dir, sizeof(dir))))
		return false;
	mlen = strlen(h.mount);
	t->room = UINT64_MAX;
	for (;;) {
		char *slash;

		fn(&h, dir, arg, t);
		if (strlen(dir) <= mlen)
			break;
		slash = strrchr(dir, '/');
		if (!slash || (size_t)(slash - dir) < mlen)
			break;
		*slash = '\0';
		if (strlen(dir) < mlen)
			break;
	}
	return t->room != UINT64_MAX;
}

static void consider(const char *dir, uint64_t limit, uint64_t usage,
		     uint64_t reclaimable, struct tightest *t)
{
	uint64_t room;

	if (unlimited(limit))
		return;
	room = limit + reclaimable > usage ? limit + reclaimable - usage : 0;
	if (room < t->room) {
		snprintf(t->dir, sizeof(t->dir), "%s", dir);
		t->limit = limit;
		t->usage = usage;
		t->reclaimable = reclaimable;
		t->room = room;
	}
}

/* Usage and reclaimable are read only where there is a limit. */
static void memcg_level(const struct hierarchy *h, const char *dir,
			const void *arg, struct tightest *t)
{
	uint64_t limit;

	(void)arg;
	limit = read_limit(dir, h->v2 ? "memory.max"
				      : "memory.limit_in_bytes");
	if (unlimited(limit))
		return;
	if (h->v2)
		consider(dir, limit, read_value(dir, "memory.current"),
			 stat_sum(dir, "inactive_file", "active_file"), t);
	else
		consider(dir, limit, read_value(dir, "memory.usage_in_bytes"),
			 stat_sum(dir, "total_inactive_file",
				  "total_active_file"), t);
}

/* Leave a little for what the kernel charges besides the pages. */
static bool fits(uint64_t need, uint64_t room)
{
	return need + need / 64 + MIB / 2 <= room;
}

int gmem_room_memcg(uint64_t need, const char *what)
{
	struct tightest t;

	if (!need || !walk_levels("memory", memcg_level, NULL, &t) ||
	    fits(need, t.room))
		return 0;
	return gmem_fail(ENOMEM, "%s: %llu KiB more would not fit in memory "
			 "cgroup %s (limit %llu KiB, in use %llu KiB, %llu KiB "
			 "reclaimable); its OOM killer would end the process",
			 what, (unsigned long long)(need >> 10), t.dir,
			 (unsigned long long)(t.limit >> 10),
			 (unsigned long long)(t.usage >> 10),
			 (unsigned long long)(t.reclaimable >> 10));
}

/* hugetlb cgroup files are named by page size: "2MB", "1GB". */
static void huge_size_name(uint64_t page_size, char *buf, size_t len)
{
	if (page_size >= (1ULL << 30))
		snprintf(buf, len, "%lluGB",
			 (unsigned long long)(page_size >> 30));
	else if (page_size >= MIB)
		snprintf(buf, len, "%lluMB",
			 (unsigned long long)(page_size >> 20));
	else
		snprintf(buf, len, "%lluKB",
			 (unsigned long long)(page_size >> 10));
}

static void hugetlb_level(const struct hierarchy *h, const char *dir,
			  const void *arg, struct tightest *t)
{
	const char *size = arg;
	char lim[64], use[64];

	snprintf(lim, sizeof(lim), "hugetlb.%s.%s", size,
		 h->v2 ? "max" : "limit_in_bytes");
	snprintf(use, sizeof(use), "hugetlb.%s.%s", size,
		 h->v2 ? "current" : "usage_in_bytes");
	uint64_t limit = read_limit(dir, lim);

	if (!unlimited(limit))
		consider(dir, limit, read_value(dir, use), 0, t);
}

int gmem_room_hugetlb(uint64_t page_size, uint64_t pages, const char *what)
{
	uint64_t free_pages = gmem_hugepool_read(page_size, "free_hugepages");
	struct tightest t;
	char size[16];

	if (!pages)
		return 0;
	/* Pages this file reserved when it was mapped count as free. */
	if (pages > free_pages)
		return gmem_fail(ENOMEM, "%s: %llu pages of %llu KiB are "
				 "needed and the hugetlb pool has %llu free; "
				 "raise nr_hugepages", what,
				 (unsigned long long)pages,
				 (unsigned long long)(page_size >> 10),
				 (unsigned long long)free_pages);
	huge_size_name(page_size, size, sizeof(size));
	if (!walk_levels("hugetlb", hugetlb_level, size, &t) ||
	    pages * page_size <= t.room)
		return 0;
	return gmem_fail(ENOMEM, "%s: %llu pages of %llu KiB would not fit in "
			 "hugetlb cgroup %s (limit %llu KiB, in use %llu KiB)",
			 what, (unsigned long long)pages,
			 (unsigned long long)(page_size >> 10), t.dir,
			 (unsigned long long)(t.limit >> 10),
			 (unsigned long long)(t.usage >> 10));
}
