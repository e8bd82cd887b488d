// SPDX-License-Identifier: MIT
/* test_gmemctl.c - the command-line tool, run as a user would run it. */
#include <ctype.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

static char gmemctl[PATH_MAX];
static char out[1 << 16];

/* Run gmemctl with args; stdout and stderr land in out; returns the status. */
static int run(const char *const *args)
{
	const char *argv[16] = { gmemctl };
	int pipefd[2], status;
	size_t n = 0;
	ssize_t r;
	pid_t pid;

	for (int i = 0; args[i] && i < 14; i++)
		argv[i + 1] = args[i];
	if (pipe(pipefd) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		dup2(pipefd[1], 1);
		dup2(pipefd[1], 2);
		close(pipefd[0]);
		execv(gmemctl, (char *const *)argv);
		_exit(127);
	}
	close(pipefd[1]);
	while (n < sizeof(out) - 1 &&
	       (r = read(pipefd[0], out + n, sizeof(out) - 1 - n)) > 0)
		n += (size_t)r;
	out[n] = '\0';
	close(pipefd[0]);
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/* A small strict JSON checker: enough to prove the output parses. */
static const char *json_value(const char *p);

static const char *skip_ws(const char *p)
{
	while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r')
		p++;
	return p;
}

static const char *json_string_end(const char *p)
{
	if (*p++ != '"')
		return NULL;
	while (*p && *p != '"') {
		if ((unsigned char)*p < 0x20)
			return NULL;
		if (*p == '\\') {
			p++;
			if (*p == 'u') {
				for (int i = 1; i <= 4; i++)
					if (!isxdigit((unsigned char)p[i]))
						return NULL;
				p += 4;
			} else if (!strchr("\"\\/bfnrt", *p)) {
				return NULL;
			}
		}
		p++;
	}
	return *p == '"' ? p + 1 : NULL;
}

static const char *json_container(const char *p, char close, bool object)
{
	p = skip_ws(p + 1);
	if (*p == close)
		return p + 1;
	for (;;) {
		if (object) {
			p = json_string_end(skip_ws(p));
			if (!p)
				return NULL;
			p = skip_ws(p);
			if (*p++ != ':')
				return NULL;
		}
		p = json_value(p);
		if (!p)
			return NULL;
		p = skip_ws(p);
		if (*p == close)
			return p + 1;
		if (*p++ != ',')
			return NULL;
	}
}

static const char *json_value(const char *p)
{
	char *end;

	p = skip_ws(p);
	if (*p == '{')
		return json_container(p, '}', true);
	if (*p == '[')
		return json_container(p, ']', false);
	if (*p == '"')
		return json_string_end(p);
	if (!strncmp(p, "true", 4) || !strncmp(p, "null", 4))
		return p + 4;
	if (!strncmp(p, "false", 5))
		return p + 5;
	if (*p == '-' || isdigit((unsigned char)*p)) {
		strtod(p, &end);
		return end;
	}
	return NULL;
}

static bool json_valid(const char *s)
{
	const char *end = json_value(s);

	return end && *skip_ws(end) == '\0';
}

static void json_checker_rejects_garbage(void)
{
	CHECK(json_valid("{\"a\": [1, 2.5, true, null, \"x\\n\"]}"));
	CHECK(!json_valid("{\"a\": }"));
	CHECK(!json_valid("{\"a\": 1,}"));
	CHECK(!json_valid("[1 2]"));
	CHECK(!json_valid("{\"a\": 1} x"));
}

static void probe_prints_every_section(void)
{
	const char *args[] = { "probe", NULL };

	CHECK(run(args) == 0);
	CHECK(strstr(out, "KVM "));
	CHECK(strstr(out, "GUEST_MEMFD"));
	CHECK(strstr(out, "NR_MEMSLOTS"));
	CHECK(strstr(out, "memfd "));
	CHECK(strstr(out, "hugepage pools"));
	CHECK(strstr(out, "THP "));
	CHECK(strstr(out, "NUMA "));
	CHECK(strstr(out, "IOMMU "));
	CHECK(strstr(out, "guest_memfd "));
}

static void probe_json_is_valid(void)
{
	const char *args[] = { "probe", "--json", NULL };

	CHECK(run(args) == 0);
	CHECK(json_valid(out));
	CHECK(strstr(out, "\"kvm\""));
	CHECK(strstr(out, "\"nr_memslots\""));
	CHECK(strstr(out, "\"hugepages\""));
	CHECK(strstr(out, "\"backends\""));
}

static void bad_command_and_options(void)
{
	const char *unknown[] = { "frobnicate", NULL };
	const char *none[] = { NULL };
	const char *probe_extra[] = { "probe", "extra", NULL };
	const char *probe_opt[] = { "probe", "--bogus", NULL };

	CHECK(run(unknown) == 2);
	CHECK(strstr(out, "unknown command 'frobnicate'"));
	CHECK(run(none) == 2);
	CHECK(strstr(out, "usage"));
	CHECK(run(probe_extra) == 2);
	CHECK(strstr(out, "unexpected argument 'extra'"));
	CHECK(run(probe_opt) == 2);
}

static void demo_rejects_bad_options(void)
{
	static const char *const cases[][4] = {
		{ "demo", "--size", "1M", NULL },
		{ "demo", "--size", "lots", NULL },
		{ "demo", "--size", "99999999999T", NULL },
		{ "demo", "--backend", "tmpfs", NULL },
		{ "demo", "--discard-offset", "0", NULL },
		{ "demo", "--discard-size", "0", NULL },
		{ "demo", "--discard-offset", "1G", NULL },
		{ "demo", "--frobnicate", NULL, NULL },
		{ "demo", "stray", NULL, NULL },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (run(cases[i]) != 2) {
			t_fail(__FILE__, __LINE__, "gmemctl %s %s: not a usage "
			       "error: %s", cases[i][1],
			       cases[i][2] ? cases[i][2] : "", out);
			return;
		}
		CHECK(strstr(out, "gmemctl demo: "));
	}
}

/* When the guest cannot start, demo says why and fails. */
static void demo_fails_clearly(void)
{
	struct gmem_host h;
	char size[32];
	const char *args[] = { "demo", "--backend", "hugetlb", "--size", size,
			       NULL };

	gmem_probe(&h);
	snprintf(size, sizeof(size), "%lluM",
		 (unsigned long long)((h.nr_hugepage_sizes ?
				       h.hugepages[0].free + 8 : 8) * 2));
	CHECK(run(args) == 1);
	CHECK(strstr(out, "could not start"));
	CHECK(strstr(out, "result: FAIL"));
	CHECK(strstr(out, "/dev/kvm") || strstr(out, "need "));
}

static void demo_runs_a_guest(const char *backend)
{
	const char *args[] = { "demo", "--size", "32M", "--backend", backend,
			       NULL };
	const char *json[] = { "demo", "--size", "16M", "--backend", backend,
			       "--json", NULL };

	if (!strcmp(backend, "guest_memfd"))
		T_SKIP_UNLESS(t_need_guest_memfd_mmap());
	T_SKIP_UNLESS(t_need_kvm());
	if (run(args) != 0) {
		t_fail(__FILE__, __LINE__, "demo failed:\n%s", out);
		return;
	}
	CHECK(strstr(out, "result: PASS"));
	CHECK(strstr(out, "guest reads zeros in the hole"));
	CHECK(!strstr(out, "FAIL"));
	CHECK(run(json) == 0);
	CHECK(json_valid(out));
	CHECK(strstr(out, "\"pass\": true"));
}

static void demo_guest_memfd(void)
{
	demo_runs_a_guest("guest_memfd");
}

static void demo_memfd(void)
{
	demo_runs_a_guest("memfd");
}

static const struct t_case cases[] = {
	T_CASE(json_checker_rejects_garbage),
	T_CASE(probe_prints_every_section),
	T_CASE(probe_json_is_valid),
	T_CASE(bad_command_and_options),
	T_CASE(demo_rejects_bad_options),
	T_CASE(demo_fails_clearly),
	T_CASE(demo_guest_memfd),
	T_CASE(demo_memfd),
};

int main(int argc, char **argv)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n < 0)
		return 1;
	self[n] = '\0';
	/* build/tests/test_gmemctl -> build/gmemctl */
	snprintf(gmemctl, sizeof(gmemctl), "%s/../gmemctl", dirname(self));
	return t_main(argc, argv, cases, sizeof(cases) / sizeof(cases[0]));
}
