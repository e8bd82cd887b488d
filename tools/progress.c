// SPDX-License-Identifier: MIT
/* progress.c - a progress bar for gmemctl's long-running work. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gmem.h"
#include "gmemctl.h"

#define BAR_WIDTH 30
#define REDRAW_SECONDS 0.1

void progress_begin(struct progress *p, const char *what, uint64_t total)
{
	const char *on = getenv("GMEMCTL_PROGRESS");
	const char *after = getenv("GMEMCTL_PROGRESS_AFTER");
	char *end;

	memset(p, 0, sizeof(*p));
	p->what = what;
	p->total = total;
	p->start = now_seconds();
	p->after = 1.0;
	if (after) {
		double v = strtod(after, &end);

		if (end != after && !*end && v >= 0)
			p->after = v;
	}
	p->enabled = on ? strcmp(on, "0") != 0 : isatty(STDERR_FILENO);
}

void progress_update(struct progress *p, uint64_t done)
{
	double now = now_seconds(), elapsed = now - p->start, frac;
	char a[32], b[32];
	int fill;

	if (!p->enabled || elapsed < p->after || !p->total ||
	    (p->drawn && now - p->last_draw < REDRAW_SECONDS))
		return;
	frac = done >= p->total ? 1.0 : (double)done / (double)p->total;
	fill = (int)(frac * BAR_WIDTH);
	fprintf(stderr, "\r%s [%.*s%*s] %3d%% ", p->what, fill,
		"##############################", BAR_WIDTH - fill, "",
		(int)(frac * 100));
	if (p->unit)
		fprintf(stderr, "%llu of %llu %s", (unsigned long long)done,
			(unsigned long long)p->total, p->unit);
	else
		fprintf(stderr, "%s of %s", format_size(done, a, sizeof(a)),
			format_size(p->total, b, sizeof(b)));
	if (!p->unit && elapsed > 0)
		fprintf(stderr, ", %s/s",
			format_size((uint64_t)((double)done / elapsed), a,
				    sizeof(a)));
	if (p->note)
		fprintf(stderr, ", now %s", p->note);
	fprintf(stderr, "\033[K");	/* clear what a longer line left */
	fflush(stderr);
	p->drawn = true;
	p->last_draw = now;
}

void progress_end(struct progress *p)
{
	if (p->drawn) {
		fprintf(stderr, "\r\033[K");	/* erase the bar's line */
		fflush(stderr);
	}
	p->drawn = false;
}

int populate_with_progress(struct gmem_file *file, uint64_t offset,
			   uint64_t length,
			   const struct gmem_populate_args *args)
{
	struct gmem_populate_job *job;
	struct progress p;
	struct pollfd pfd;
	uint64_t done = 0;
	int ret;

	progress_begin(&p, "populate", length);
	if (!p.enabled)
		return gmem_populate_with(file, offset, length, args);
	ret = gmem_populate_start(file, offset, length, args, &job);
	if (ret < 0)
		return ret;
	pfd.fd = gmem_populate_fd(job);
	pfd.events = POLLIN;
	/* The job's fd wakes us when it ends; the timeout only redraws. */
	while (gmem_populate_poll(job, &done) == 0) {
		progress_update(&p, done);
		if (poll(&pfd, 1, (int)(REDRAW_SECONDS * 1000)) < 0 &&
		    errno != EINTR)
			break;
	}
	progress_end(&p);
	return gmem_populate_wait(job);
}
