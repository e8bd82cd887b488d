// SPDX-License-Identifier: MIT
/* tool.c - run gmemctl as a user would, and check that JSON parses. */
#include <ctype.h>
#include <libgen.h>
#include <limits.h>
#include <pty.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

char t_out[1 << 16];

/* build/tests/test_x -> build/gmemctl */
static void gmemctl_path(char *buf, size_t len)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	self[n > 0 ? n : 0] = '\0';
	snprintf(buf, len, "%s/../gmemctl", dirname(self));
}

/* argv for execv: gmemctl's path, then args up to their NULL (15 at most). */
static void gmemctl_argv(const char *const *args, char *path, size_t len,
			 const char **argv)
{
	gmemctl_path(path, len);
	argv[0] = path;
	for (int i = 0; i < 15; i++)
		if (!(argv[i + 1] = args[i]))
			break;
	argv[15] = NULL;
}

/* Everything fd gives until EOF or an error into t_out; the exit status. */
static int collect(int fd, pid_t pid)
{
	size_t n = 0;
	ssize_t r;
	int status;

	while (n < sizeof(t_out) - 1 &&
	       (r = read(fd, t_out + n, sizeof(t_out) - 1 - n)) > 0)
		n += (size_t)r;
	t_out[n] = '\0';
	close(fd);
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

int t_gmemctl(const char *const *args)
{
	char path[PATH_MAX];
	const char *argv[16];
	int pipefd[2];
	pid_t pid;

	gmemctl_argv(args, path, sizeof(path), argv);
	if (pipe(pipefd) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		dup2(pipefd[1], 1);
		dup2(pipefd[1], 2);
		close(pipefd[0]);
		execv(path, (char *const *)argv);
		_exit(127);
	}
	close(pipefd[1]);
	return collect(pipefd[0], pid);
}

/* The same on a terminal: stdout and stderr are a pseudo-terminal. */
int t_gmemctl_tty(const char *const *args)
{
	char path[PATH_MAX];
	const char *argv[16];
	int master;
	pid_t pid;

	gmemctl_argv(args, path, sizeof(path), argv);
	pid = forkpty(&master, NULL, NULL, NULL);
	if (pid < 0)
		return -1;
	if (pid == 0) {
		execv(path, (char *const *)argv);
		_exit(127);
	}
	/* Reads end in EIO once the child has gone and the terminal hangs up. */
	return collect(master, pid);
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

bool t_json_valid(const char *s)
{
	const char *end = json_value(s);

	return end && *skip_ws(end) == '\0';
}

unsigned long long t_out_value(const char *key)
{
	char pat[80];
	const char *p;

	snprintf(pat, sizeof(pat), "\n%s:", key);
	p = strstr(t_out, pat);
	if (!p && !strncmp(t_out, pat + 1, strlen(pat + 1)))
		p = t_out - 1;
	if (!p)
		return ~0ULL;
	return strtoull(p + strlen(pat), NULL, 10);
}
