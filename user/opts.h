/* SPDX-License-Identifier: MIT */
/*
 * opts.h - a command's options, written once: one table gives getopt_long
 * its array and --help its option list, so the two cannot drift apart.
 * A command's options are a NULL-terminated list of tables (its own, and
 * shared ones such as the rule options of input.h); each table ends with
 * an entry whose name is NULL.
 */
#ifndef MAPE_OPTS_H
#define MAPE_OPTS_H

#include <getopt.h>
#include <stdio.h>

struct mape_opt {
	const char *name;	/* the long option, without dashes */
	int val;		/* what getopt_long returns for it */
	const char *arg;	/* its argument's name in the help; NULL: takes none */
	const char *help;	/* lines separated by '\n'; NULL: accepted, not listed */
};

#define MAPE_OPT_END { NULL, 0, NULL, NULL }

/* --help (getopt value 'h'): the last table of every command. */
extern const struct mape_opt mape_help_opts[];

/* The getopt_long array of a command's tables, into out (cap entries with
 * the terminator). Returns the number of options, or -1 if out is short. */
int mape_opts_longopts(const struct mape_opt *const *v, struct option *out, int cap);

/* getopt_long over a command's tables (short options: shortopts). */
int mape_getopt(int argc, char **argv, const char *shortopts, const struct mape_opt *const *v);

/* The option list of --help: "  --name ARG" and its help, aligned. */
void mape_opts_help(FILE *f, const struct mape_opt *const *v);

#endif
