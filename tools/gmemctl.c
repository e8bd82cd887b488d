// SPDX-License-Identifier: MIT
/* gmemctl.c - the command-line tool: one subcommand per file, dispatched here. */
#include <stdio.h>
#include <string.h>

#include "gmem.h"
#include "gmemctl.h"

struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const struct option *options;
	const char *summary;
};

static const struct command commands[] = {
	{ "probe", cmd_probe, probe_options,
	  "show what this host offers for guest memory" },
	{ "demo", cmd_demo, demo_options,
	  "run a guest on gmem memory, discard, check, report" },
	{ "stats", cmd_stats, stats_options,
	  "show the guest memory processes hold, meminfo-style or live" },
	{ "bench", cmd_bench, bench_options,
	  "time populate, discard and guest walks side by side" },
};

#define NR_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *f)
{
	fprintf(f, "usage: gmemctl COMMAND [OPTIONS]\n"
		   "       gmemctl --version | --help\n\ncommands:\n");
	for (size_t i = 0; i < NR_COMMANDS; i++)
		fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\n'gmemctl COMMAND --help' lists each command's options; "
		   "gmemctl(1) has them all.\n");
}

/*
 * "gmemctl complete [COMMAND]": the words the shell may complete, one per
 * line, from the same tables getopt_long uses, so completion cannot drift
 * from the options the tool takes.  An option that takes a value ends in
 * '='.
 */
static int complete(int argc, char **argv)
{
	if (argc < 2) {
		for (size_t i = 0; i < NR_COMMANDS; i++)
			printf("%s\n", commands[i].name);
		printf("--help\n--version\n");
		return 0;
	}
	for (size_t i = 0; i < NR_COMMANDS; i++) {
		if (strcmp(argv[1], commands[i].name))
			continue;
		for (const struct option *o = commands[i].options; o->name; o++)
			printf("--%s%s\n", o->name,
			       o->has_arg == required_argument ? "=" : "");
		return 0;
	}
	return EXIT_USAGE;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "help") || !strcmp(argv[1], "--help") ||
	    !strcmp(argv[1], "-h")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version")) {
		/* Built against one header, maybe running another library. */
		printf("gmemctl %d.%d.%d (libgmem %s)\n", GMEM_VERSION_MAJOR,
		       GMEM_VERSION_MINOR, GMEM_VERSION_PATCH, gmem_version());
		return 0;
	}
	if (!strcmp(argv[1], "complete"))
		return complete(argc - 1, argv + 1);
	for (size_t i = 0; i < NR_COMMANDS; i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].run(argc - 1, argv + 1);
	fprintf(stderr, "gmemctl: unknown command '%s' (the commands are probe, "
		"demo, stats and bench; see gmemctl --help)\n", argv[1]);
	return EXIT_USAGE;
}
