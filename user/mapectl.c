// SPDX-License-Identifier: MIT
/*
 * mapectl - MAP-E gateway control: derive MAP parameters, load and attach
 * the data path, show state. One binary, a table of subcommands, each with
 * --help; errors are one line on stderr and a non-zero exit.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <getopt.h>
#include "input.h"
#include "cmd.h"

static const struct mape_cmd cmds[] = {
	{ "calc", cmd_calc, "derive the MAP parameters of a CE from a prefix and rules" },
	{ "up", cmd_up, "load, attach and configure the CE data path" },
	{ "down", cmd_down, "remove exactly what up added" },
	{ "status", cmd_status, "configuration, attachments, port-set usage" },
	{ "stats", cmd_stats, "per-reason packet counters" },
	{ "sessions", cmd_sessions, "NAPT sessions with state, age and time left" },
	{ "forward", cmd_forward, "publish LAN servers on ports of the set: add | del | list" },
	{ "daemon", cmd_daemon, "the router service: up from the config, follow prefix changes" },
	{ "update", cmd_update, "tell the instance (or its daemon) a new delegated prefix" },
	{ "br", cmd_br, "Border Relay mode: br up | br down | br stats" },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: mapectl COMMAND [OPTIONS]   (mapectl COMMAND --help for its options)\n"
		   "       mapectl --version\n\n"
		   "commands:\n");
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		fprintf(f, "  %-10s %s\n", cmds[i].name, cmds[i].help);
}

int mape_errorf(const char *fmt, ...)
{
	va_list ap;

	fputs("mapectl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

int mape_usage_error(int argc, char **argv)
{
	const char *bad = optind > 0 && optind <= argc ? argv[optind - 1] : "?";

	mape_errorf("bad option or missing value '%s' (mapectl %s --help lists them)", bad,
		    argv[0]);
	return 2;
}

int main(int argc, char **argv)
{
	opterr = 0;	/* getopt's own messages are not one line of ours */
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
		printf("mapectl %s\n", MAPE_VERSION);
		return 0;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcmp(argv[1], cmds[i].name))
			return cmds[i].fn(argc - 1, argv + 1);
	mape_errorf("unknown command '%s' (mapectl --help lists them)", argv[1]);
	return 2;
}
