// SPDX-License-Identifier: MIT
/* gmemctl.c - the command-line tool: one subcommand per file, dispatched here. */
#include <stdio.h>
#include <string.h>

#include "gmem.h"
#include "gmemctl.h"

struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
};

static const struct command commands[] = {
	{ "probe", cmd_probe, "show what this host offers for guest memory" },
	{ "demo", cmd_demo, "run a guest on gmem memory, discard, check, report" },
	{ "stats", cmd_stats, "show the guest memory processes hold, meminfo-style" },
	{ "bench", cmd_bench, "time populate, discard and guest walks side by side" },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: gmemctl COMMAND [OPTIONS]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\n'gmemctl COMMAND --help' describes each command.\n");
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
		/* The library's own version: it is what does the work. */
		printf("gmemctl %s (libgmem %s)\n", gmem_version(),
		       gmem_version());
		return 0;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].run(argc - 1, argv + 1);
	fprintf(stderr, "gmemctl: unknown command '%s' (see gmemctl help)\n",
		argv[1]);
	return EXIT_USAGE;
}
