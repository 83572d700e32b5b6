/* SPDX-License-Identifier: MIT */
/*
 * conf.h - the configuration file (/etc/mape/mape.conf, --config FILE),
 * an INI file read with libinih:
 *
 *   # every option of `up` (and `daemon`), its name without the dashes
 *   wan = eth0
 *   lan = br-lan           # repeatable options: one line each
 *   preset = auto
 *   max-sessions = 65536
 *
 *   [forwards]
 *   web = tcp 4112 192.168.1.10:80 from 203.0.113.0/24,198.51.100.7
 *
 * Options before any section or in [mape]. Errors are one line,
 * "FILE:LINE: ...". Options given on the command line override the file's.
 */
#ifndef MAPE_CONF_H
#define MAPE_CONF_H

#include <getopt.h>
#include "fwd.h"

#define MAPE_CONF_DEFAULT "/etc/mape/mape.conf"

struct mape_conf {
	const char *path;
	int argc;		/* "--name" "value" words of the file's options */
	char **argv;
	int *lines;		/* the line of each word pair */
	struct mape_fwd_set fwds;	/* [forwards], origin MAPE_FWD_CONFIG */
};

/* Read path; known: the options the file may set (a getopt_long table,
 * ending with a zero entry); help and config themselves are refused. */
int mape_conf_load(const char *path, const struct option *known, struct mape_conf *c, char *err);
void mape_conf_free(struct mape_conf *c);

/*
 * The command line the file and argv make together: argv[0], then the
 * file's options that argv does not give (a repeatable option given on the
 * command line replaces all of the file's; a rule source, --preset, --rule,
 * --dhcpv6-hex or --provisioning, replaces the file's), then argv[1..]. The strings
 * are borrowed from c and argv; free the array with free().
 */
char **mape_conf_merge(const struct mape_conf *c, int argc, char **argv, int *out_argc);

/* An error about an option the file gave (its "--name" in err, and argv
 * does not override it): err becomes "FILE:LINE: err". */
void mape_conf_where(const struct mape_conf *c, int argc, char **argv, char *err);

/* The value of --config in argv (also --config=FILE), or NULL. */
const char *mape_conf_arg(int argc, char **argv);
/* argv without its --config option; free the array with free(). */
char **mape_conf_strip(int argc, char **argv, int *out_argc);

/* Parse a forward as written in [forwards]: "PROTO EXT[-LAST] HOST[:PORT]
 * [from CIDR[,CIDR...]]"; name becomes its comment. */
int mape_conf_forward(const char *name, const char *value, struct mape_fwd_rule *r, char *err);

#endif
