/* SPDX-License-Identifier: MIT */
/* cmd.h - mapectl's subcommands: each takes (argc, argv) from its own name on. */
#ifndef MAPE_CMD_H
#define MAPE_CMD_H

#include <stdarg.h>
#include <stdio.h>
#include "opts.h"

struct mape_cmd {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *help;
};

/* Prints "mapectl: <message>" on stderr; returns 1 (the exit code). */
int mape_errorf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* getopt returned '?': one line naming the option, exit code 2. */
int mape_usage_error(int argc, char **argv);

int cmd_calc(int argc, char **argv);
int cmd_up(int argc, char **argv);	/* cmd_up.c */
int cmd_down(int argc, char **argv);
int cmd_status(int argc, char **argv);	/* cmd_show.c */
int cmd_stats(int argc, char **argv);
int cmd_sessions(int argc, char **argv);
int cmd_br(int argc, char **argv);	/* cmd_br.c */
int cmd_forward(int argc, char **argv);	/* cmd_fwd.c */
int cmd_daemon(int argc, char **argv);	/* cmd_daemon.c */
int cmd_update(int argc, char **argv);
/* mapectl daemon's own options (cmd_daemon.c), with their help: up accepts
 * them only to name them in its error (getopt value MAPE_OPT_DAEMON_ONLY). */
#define MAPE_OPT_DAEMON_ONLY 0x4ff
extern const struct mape_opt mape_daemon_opts[];
/* Is --name (name without dashes, up to '=' or its end) one of them? */
int mape_is_daemon_opt(const char *name);

/* Save the options of a successful up, for update without a daemon. */
int mape_up_save_args(const char *pin_dir, int argc, char **argv);

#endif
