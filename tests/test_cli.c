// SPDX-License-Identifier: MIT
/*
 * test_cli.c - gmemctl as its users meet it: sizes, QEMU's words for
 * memory options, help that lists every option, completion words, the
 * progress bar on a terminal only, and the live stats view.
 */
#include <ctype.h>
#include <libgen.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gmem.h"
#include "harness.h"

#define MIB (1ULL << 20)

static void sizes_are_decimal_with_binary_suffixes(void)
{
	const char *octal[] = { "demo", "--backend", "memfd", "--size", "010M",
				"--json", NULL };
	const char *fraction[] = { "demo", "--backend", "memfd", "--size",
				   "4.5M", "--json", NULL };

	/* 010M is ten MiB, never eight. */
	CHECK(t_gmemctl(octal) == 0);
	CHECK(t_json_valid(t_out));
	CHECK(strstr(t_out, "\"size\": 10485760,"));
	CHECK(t_gmemctl(fraction) == 0);
	CHECK(strstr(t_out, "\"size\": 4718592,"));
}

static void bad_sizes_say_what_a_size_is(void)
{
	static const char *const bad[] = {
		"0x10M", "1.3K", "1..5M", "1.M", "12Q", "-1M", "M", "", "4 M",
		"1.0000000000000001G",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *args[] = { "demo", "--size", bad[i], NULL };

		CHECK(t_gmemctl(args) == 2);
		CHECK(strstr(t_out, "is not a size: give whole bytes in decimal"));
		CHECK(strstr(t_out, "--size"));
	}
	{
		const char *huge[] = { "demo", "--size", "99999999999T", NULL };
		const char *wide[] = { "demo", "--size",
				       "184467440737095516160", NULL };

		CHECK(t_gmemctl(huge) == 2);
		CHECK(strstr(t_out, "larger than 16 EiB"));
		CHECK(t_gmemctl(wide) == 2);
		CHECK(strstr(t_out, "larger than 16 EiB"));
	}
}

/* QEMU's memory-backend words: host-nodes, policy, prealloc-threads. */
static void qemu_words_for_memory_options(void)
{
	const char *threads[] = { "demo", "--backend", "memfd", "--size", "8M",
				  "--prealloc-threads=3", "--host-nodes=0",
				  "--policy=preferred", "--json", NULL };
	const char *zero[] = { "demo", "--prealloc-threads", "0", NULL };
	const char *many[] = { "demo", "--prealloc-threads", "65", NULL };
	const char *word[] = { "demo", "--prealloc-threads", "four", NULL };

	CHECK(t_gmemctl(threads) == 0);
	CHECK(t_json_valid(t_out));
	CHECK(strstr(t_out, "\"prealloc_threads\": 3,"));
	CHECK(strstr(t_out, "\"policy\": \"preferred\""));
	CHECK(t_gmemctl(zero) == 2);
	CHECK(strstr(t_out, "--prealloc-threads '0' must be a whole number "
			    "from 1 to 64"));
	CHECK(t_gmemctl(many) == 2);
	CHECK(t_gmemctl(word) == 2);
}

/* Every option a command takes is in its --help; completion has them all. */
static void help_lists_every_option(void)
{
	static char commands[1024], options[4096];
	const char *list[] = { "complete", NULL };
	int checked = 0;

	CHECK(t_gmemctl(list) == 0);
	memcpy(commands, t_out, sizeof(commands) - 1);
	CHECK(strstr(commands, "demo\n") && strstr(commands, "stats\n") &&
	      strstr(commands, "probe\n") && strstr(commands, "bench\n"));
	for (char *cmd = strtok(commands, "\n"); cmd; cmd = strtok(NULL, "\n")) {
		const char *opts[] = { "complete", cmd, NULL };
		const char *help[] = { cmd, "--help", NULL };
		char *save = NULL;

		if (cmd[0] == '-')
			continue;
		CHECK(t_gmemctl(opts) == 0);
		memcpy(options, t_out, sizeof(options) - 1);
		CHECK(t_gmemctl(help) == 0);
		CHECK(strstr(t_out, "usage: gmemctl "));
		for (char *o = strtok_r(options, "\n", &save); o;
		     o = strtok_r(NULL, "\n", &save)) {
			char *eq = strchr(o, '=');

			if (eq)
				*eq = '\0';
			if (!strstr(t_out, o))
				t_fail(__FILE__, __LINE__, "gmemctl %s --help "
				       "does not mention %s", cmd, o);
			checked++;
		}
	}
	CHECK(checked > 20);
	{
		const char *nope[] = { "complete", "frobnicate", NULL };

		CHECK(t_gmemctl(nope) == 2);
	}
}

static void version_names_tool_and_library(void)
{
	const char *args[] = { "--version", NULL };
	char want[64];

	CHECK(t_gmemctl(args) == 0);
	snprintf(want, sizeof(want), "gmemctl %d.%d.%d (libgmem %s)\n",
		 GMEM_VERSION_MAJOR, GMEM_VERSION_MINOR, GMEM_VERSION_PATCH,
		 gmem_version());
	CHECK(strcmp(t_out, want) == 0);
}

/* Drawn on a terminal, erased before the report; never into a pipe. */
static void progress_bar_only_on_a_terminal(void)
{
	const char *args[] = { "demo", "--backend", "memfd", "--size", "8M",
			       NULL };

	/* Draw from the first moment, so a fast populate still shows it;
	 * whether to draw is left to the terminal test, whatever the
	 * environment said (the emulated machine turns the bar off). */
	CHECK(setenv("GMEMCTL_PROGRESS_AFTER", "0", 1) == 0);
	unsetenv("GMEMCTL_PROGRESS");
	CHECK(t_gmemctl_tty(args) == 0);
	CHECK(strstr(t_out, "\rpopulate ["));
	CHECK(strstr(t_out, "of 8 MiB"));
	CHECK(strstr(t_out, "\r\033[K"));	/* erased */
	CHECK(strstr(t_out, "result: PASS"));
	CHECK(t_gmemctl(args) == 0);
	CHECK(!strstr(t_out, "populate ["));
	CHECK(!strchr(t_out, '\r'));
	CHECK(strstr(t_out, "result: PASS"));
	unsetenv("GMEMCTL_PROGRESS_AFTER");
}

/* An 8 MiB memfd file, 6 MiB populated, and this process exporting. */
static void export_a_file(const char *dir, struct gmem_file **f)
{
	struct gmem_file_args a = { .backend = GMEM_BACKEND_MEMFD,
				    .size = 8 * MIB };

	CHECK_OK(gmem_file_create(&a, f));
	CHECK_OK(gmem_populate(*f, 0, 6 * MIB));
	CHECK_OK(gmem_stats_export_start(dir, 10));
}

static void stats_watch_is_a_live_table(void)
{
	const char *dir = t_tmpdir();
	char pid[16], row[64];
	const char *pipe[] = { "stats", "--dir", dir, "--watch", "--interval",
			       "0.1", "--count", "2", NULL };
	const char *tty[] = { "stats", "--dir", dir, "--watch", "--count", "1",
			      NULL };
	const char *one[] = { "stats", "--dir", dir, "--watch", "--count", "1",
			      "--pid", pid, NULL };
	const char *second;
	struct gmem_file *f;

	export_a_file(dir, &f);
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	CHECK(t_gmemctl(pipe) == 0);
	/* Two refreshes, each a header and a row for this process with the
	 * kernel-checked figures (test_stats compares them with the kernel). */
	second = strstr(t_out, "PID ");
	CHECK(second && strstr(second + 1, "PID "));
	snprintf(row, sizeof(row), "\n%-8s %5d %5d %10s %10s %10s", pid, 0, 1,
		 "8 MiB", "6 MiB", "6 MiB");
	CHECK(strstr(t_out, row));
	CHECK(strstr(t_out, "\ntotal "));
	CHECK(!strstr(t_out, "\033["));		/* no screen control in a pipe */
	CHECK(t_gmemctl_tty(tty) == 0);
	CHECK(strstr(t_out, "\033[H\033[J"));
	CHECK(strstr(t_out, "(q quits)"));
	CHECK(t_gmemctl(one) == 0);
	CHECK(strstr(t_out, row));
	CHECK(!strstr(t_out, "\ntotal "));
	CHECK_OK(gmem_stats_export_stop());
	CHECK_OK(gmem_file_close(f));
}

static void stats_watch_json_is_one_object_per_refresh(void)
{
	const char *dir = t_tmpdir();
	const char *args[] = { "stats", "--dir", dir, "--watch", "--count", "1",
			       "--json", NULL };
	struct gmem_file *f;
	char want[64];

	export_a_file(dir, &f);
	CHECK(t_gmemctl(args) == 0);
	CHECK(t_json_valid(t_out));
	snprintf(want, sizeof(want), "{\"Pid\": %d, ", (int)getpid());
	CHECK(strstr(t_out, want));
	CHECK(strstr(t_out, "\"GmemPopulated\": 6291456"));
	CHECK(strstr(t_out, "\"total\": {\"processes\": 1, "));
	CHECK_OK(gmem_stats_export_stop());
	CHECK_OK(gmem_file_close(f));
}

static void stats_bad_watch_options(void)
{
	static const char *const cases[][6] = {
		{ "stats", "--interval", "1", NULL },
		{ "stats", "--count", "3", NULL },
		{ "stats", "--watch", "--interval", "0", NULL },
		{ "stats", "--watch", "--interval", "soon", NULL },
		{ "stats", "--watch", "--count", "0", NULL },
		{ "stats", "--pid", "-4", NULL },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		CHECK(t_gmemctl(cases[i]) == 2);
		CHECK(strstr(t_out, "see gmemctl stats --help"));
	}
}

/* docs/json.md, found from build/tests/test_cli; NULL if unreadable. */
static char *read_json_doc(void)
{
	static char doc[1 << 16];
	char self[PATH_MAX], path[PATH_MAX + 32];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	FILE *f;
	size_t len;

	self[n > 0 ? n : 0] = '\0';
	snprintf(path, sizeof(path), "%s/../../docs/json.md", dirname(self));
	f = fopen(path, "re");
	if (!f)
		return NULL;
	len = fread(doc, 1, sizeof(doc) - 1, f);
	doc[len] = '\0';
	fclose(f);
	return doc;
}

/* Every key in t_out is in the doc; numbered keys by their stem. */
static int undocumented_keys(const char *doc, const char *what)
{
	int missing = 0;

	for (const char *p = t_out; (p = strchr(p, '"'));) {
		const char *end = strchr(p + 1, '"');
		char key[80];
		size_t len;

		if (!end)
			break;
		len = (size_t)(end - p - 1);
		if (end[1] != ':' || len >= sizeof(key) - 1) {
			p = end + 1;	/* a value, not a key */
			continue;
		}
		memcpy(key + 1, p + 1, len);
		key[0] = '`';
		while (len && (isdigit((unsigned char)key[len]) ||
			       key[len] == '_'))
			len--;		/* GmemNode1, GmemVm42_3 */
		key[len + 1] = '\0';
		if (len && !strstr(doc, key)) {
			t_fail(__FILE__, __LINE__, "%s prints %s`, which "
			       "docs/json.md does not describe", what, key);
			missing++;
		}
		p = end + 1;
	}
	return missing;
}

static void json_keys_are_documented(void)
{
	const char *dir = t_tmpdir();
	const char *probe[] = { "probe", "--json", NULL };
	const char *demo[] = { "demo", "--backend", "memfd", "--size", "8M",
			       "--json", NULL };
	const char *stats[] = { "stats", "--dir", dir, "--json", NULL };
	const char *bench[] = { "bench", "--quick", "--only", "discard,scale",
				"--json", NULL };
	const char *watch[] = { "stats", "--dir", dir, "--watch", "--count",
				"1", "--json", NULL };
	char pid[16];
	const char *one[] = { "stats", "--dir", dir, "--pid", pid, "--json",
			      NULL };
	const char *doc = read_json_doc();
	struct gmem_file *f;

	CHECK(doc);
	if (!doc)
		return;
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	CHECK(t_gmemctl(probe) == 0);
	CHECK(undocumented_keys(doc, "probe") == 0);
	CHECK(t_gmemctl(demo) == 0);
	CHECK(undocumented_keys(doc, "demo") == 0);
	CHECK(t_gmemctl(bench) == 0);
	CHECK(strstr(t_out, "\"rows\""));
	CHECK(undocumented_keys(doc, "bench") == 0);
	export_a_file(dir, &f);
	CHECK(t_gmemctl(stats) == 0);
	CHECK(strstr(t_out, "\"GmemPopulated\""));
	CHECK(undocumented_keys(doc, "stats") == 0);
	CHECK(t_gmemctl(one) == 0);
	CHECK(strstr(t_out, "\"Pid\""));
	CHECK(undocumented_keys(doc, "stats --pid") == 0);
	CHECK(t_gmemctl(watch) == 0);
	CHECK(undocumented_keys(doc, "stats --watch") == 0);
	CHECK_OK(gmem_stats_export_stop());
	CHECK_OK(gmem_file_close(f));
}

/* --private takes only --size and --json; anything else is named. */
static void demo_private_refuses_other_options(void)
{
	const char *policy[] = { "demo", "--private", "--policy", "bind",
				 NULL };
	const char *hole[] = { "demo", "--discard-size", "4M", "--private",
			       NULL };

	CHECK(t_gmemctl(policy) == 2);
	CHECK(strstr(t_out, "--policy does not apply to --private"));
	CHECK(t_gmemctl(hole) == 2);
	CHECK(strstr(t_out, "--discard-size does not apply to --private"));
}

static const struct t_case cases[] = {
	T_CASE(sizes_are_decimal_with_binary_suffixes),
	T_CASE(bad_sizes_say_what_a_size_is),
	T_CASE(qemu_words_for_memory_options),
	T_CASE(help_lists_every_option),
	T_CASE(version_names_tool_and_library),
	T_CASE(progress_bar_only_on_a_terminal),
	T_CASE(stats_watch_is_a_live_table),
	T_CASE(stats_watch_json_is_one_object_per_refresh),
	T_CASE(stats_bad_watch_options),
	T_CASE(json_keys_are_documented),
	T_CASE(demo_private_refuses_other_options),
};

T_MAIN(cases)
