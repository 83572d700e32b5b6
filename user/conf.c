// SPDX-License-Identifier: MIT
/* conf.c - the configuration file, read with libinih (see conf.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ini.h>
#include "conf.h"

#define CONF_MAX_VALUE 190	/* libinih reads lines of up to 200 characters */

struct conf_parse {
	struct mape_conf *c;
	const struct option *known;
	FILE *f;
	int line;		/* of the entry being handled (counted by read_line) */
	char err[MAPE_ERRLEN];	/* the first error */
	int failed;
};

static const struct option *find_opt(const struct option *known, const char *name)
{
	for (const struct option *o = known; o->name; o++)
		if (!strcmp(o->name, name))
			return o;
	return NULL;
}

static int push(struct mape_conf *c, const char *name, const char *value, char *err)
{
	char **argv = realloc(c->argv, (c->argc + 2) * sizeof(*argv));
	char *opt = malloc(strlen(name) + 3), *val = value ? strdup(value) : NULL;

	if (argv)
		c->argv = argv;
	if (!argv || !opt || (value && !val)) {
		free(opt);
		free(val);
		snprintf(err, MAPE_ERRLEN, "out of memory");
		return -ENOMEM;
	}
	sprintf(opt, "--%s", name);
	c->argv[c->argc++] = opt;
	c->argv[c->argc++] = val;	/* NULL for a flag */
	return 0;
}

/* "yes"/"no" of a flag option */
static int flag_value(const char *v)
{
	if (!strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "on") || !strcmp(v, "1"))
		return 1;
	if (!strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "off") || !strcmp(v, "0"))
		return 0;
	return -1;
}

int mape_conf_forward(const char *name, const char *value, struct mape_fwd_rule *r, char *err)
{
	char buf[CONF_MAX_VALUE + 16], *w[6], *save = NULL;
	int n = 0, port;

	memset(r, 0, sizeof(*r));
	snprintf(buf, sizeof(buf), "%s", value);
	for (char *t = strtok_r(buf, " \t", &save); t; t = strtok_r(NULL, " \t", &save)) {
		if (n == 5) {
			snprintf(err, MAPE_ERRLEN, "forward %s: unexpected '%s' (want PROTO EXT "
				 "HOST[:PORT] [from CIDR,...])", name, t);
			return -EINVAL;
		}
		w[n++] = t;
	}
	if (n != 3 && !(n == 5 && !strcmp(w[3], "from"))) {
		snprintf(err, MAPE_ERRLEN, "forward %s: want PROTO EXT[-LAST] HOST[:PORT] [from "
			 "CIDR,...], got '%s'", name, value);
		return -EINVAL;
	}
	if (mape_fwd_parse_proto(w[0], &r->protos, err) ||
	    mape_fwd_parse_ports(w[1], &r->ext, &r->ext_last, err) ||
	    mape_fwd_parse_target(w[2], &r->host, &port, err))
		return -EINVAL;
	r->port = port < 0 ? r->ext : port;
	if (n == 5) {
		save = NULL;
		for (char *t = strtok_r(w[4], ",", &save); t; t = strtok_r(NULL, ",", &save)) {
			if (r->n_from == MAPE_FWD_MAX_FROM) {
				snprintf(err, MAPE_ERRLEN, "forward %s: more than %d sources", name,
					 MAPE_FWD_MAX_FROM);
				return -EINVAL;
			}
			if (mape_fwd_parse_from(t, &r->from[r->n_from], &r->from_len[r->n_from],
						err))
				return -EINVAL;
			r->n_from++;
		}
	}
	if (strlen(name) >= MAPE_FWD_COMMENT) {
		snprintf(err, MAPE_ERRLEN, "forward name '%s' longer than %d bytes", name,
			 MAPE_FWD_COMMENT - 1);
		return -EINVAL;
	}
	snprintf(r->comment, sizeof(r->comment), "%s", name);
	r->origin = MAPE_FWD_CONFIG;
	return 0;
}

static int on_entry(void *user, const char *section, const char *name, const char *value)
{
	struct conf_parse *p = user;
	struct mape_conf *c = p->c;
	const struct option *o;
	int ret = 0, *lines;
	char *err = p->err;

	if (p->failed)
		return 1;	/* only the first error is reported */
	if (strlen(value) >= CONF_MAX_VALUE) {
		snprintf(err, MAPE_ERRLEN, "the value of '%s' is too long (at most %d characters; "
			 "long rules belong in a --provisioning file)", name, CONF_MAX_VALUE - 1);
		goto fail;
	}
	if (!strcmp(section, "forwards")) {
		struct mape_fwd_rule r;

		ret = mape_conf_forward(name, value, &r, err);
		if (!ret)
			ret = mape_fwd_check_new(&c->fwds, &r, 0, err);
		if (!ret)
			ret = mape_fwd_set_add(&c->fwds, &r, err);
		if (ret)
			goto fail;
		return 1;
	}
	if (*section && strcmp(section, "mape")) {
		snprintf(err, MAPE_ERRLEN, "unknown section [%s] (want [mape] or [forwards])",
			 section);
		goto fail;
	}
	o = find_opt(p->known, name);
	if (!o || !strcmp(name, "help") || !strcmp(name, "config")) {
		snprintf(err, MAPE_ERRLEN, "unknown key '%s' (the options of mapectl up, without "
			 "the dashes)", name);
		goto fail;
	}
	if (o->has_arg == no_argument) {
		int f = flag_value(value);

		if (f < 0) {
			snprintf(err, MAPE_ERRLEN, "bad value '%s' of '%s': want yes or no", value,
				 name);
			goto fail;
		}
		if (!f)
			return 1;	/* "no": nothing to give up, no line to keep */
		ret = push(c, name, NULL, err);
	} else {
		if (!*value) {
			snprintf(err, MAPE_ERRLEN, "'%s' without a value", name);
			goto fail;
		}
		ret = push(c, name, value, err);
	}
	if (ret)
		goto fail;
	lines = realloc(c->lines, (c->argc / 2) * sizeof(*lines));
	if (!lines) {
		snprintf(err, MAPE_ERRLEN, "out of memory");
		goto fail;
	}
	c->lines = lines;
	c->lines[c->argc / 2 - 1] = p->line;
	return 1;
fail:
	p->failed = 1;
	return 0;
}

/* libinih's reader: fgets, counting lines for the handler */
static char *read_line(char *str, int num, void *stream)
{
	struct conf_parse *p = stream;
	char *r = fgets(str, num, p->f);

	if (r)
		p->line++;
	return r;
}

int mape_conf_load(const char *path, const struct option *known, struct mape_conf *c, char *err)
{
	struct conf_parse p = { .c = c, .known = known };
	int rc;

	memset(c, 0, sizeof(*c));
	c->path = path;
	p.f = fopen(path, "re");
	if (!p.f) {
		rc = -errno;
		snprintf(err, MAPE_ERRLEN, "cannot read %s: %s", path, strerror(errno));
		return rc;
	}
	rc = ini_parse_stream(read_line, &p, on_entry, &p);
	fclose(p.f);
	if (rc == -2) {
		snprintf(err, MAPE_ERRLEN, "%s: out of memory", path);
		mape_conf_free(c);
		return -ENOMEM;
	}
	if (rc) {
		/* libinih names the line; a line it could not parse has no message */
		snprintf(err, MAPE_ERRLEN, "%s:%d: %s", path, rc,
			 p.failed ? p.err : "not 'key = value', '[section]' or a comment");
		mape_conf_free(c);
		return -EINVAL;
	}
	return 0;
}

void mape_conf_free(struct mape_conf *c)
{
	for (int i = 0; i < c->argc; i++)
		free(c->argv[i]);
	free(c->argv);
	free(c->lines);
	mape_fwd_set_free(&c->fwds);
	c->argv = NULL;
	c->lines = NULL;
	c->argc = 0;
}

/* Does argv give option "--name" (also --name=...)? */
static int given(int argc, char **argv, const char *opt)
{
	size_t n = strlen(opt);

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--"))
			return 0;
		if (!strncmp(argv[i], opt, n) && (!argv[i][n] || argv[i][n] == '='))
			return 1;
	}
	return 0;
}

/* The rule source is one choice: one on the command line replaces the file's. */
static const char *const rule_sources[] = { "--preset", "--rule", "--dhcpv6-hex",
					    "--provisioning", NULL };

static int overridden(int argc, char **argv, const char *opt)
{
	int src = 0, cli = 0;

	if (given(argc, argv, opt))
		return 1;
	for (const char *const *r = rule_sources; *r; r++) {
		src |= !strcmp(opt, *r);
		cli |= given(argc, argv, *r);
	}
	return src && cli;
}

void mape_conf_where(const struct mape_conf *c, int argc, char **argv, char *err)
{
	char msg[MAPE_ERRLEN];

	for (int i = 0; c->path && i + 1 < c->argc; i += 2) {
		const char *at = strstr(err, c->argv[i]);
		size_t n = strlen(c->argv[i]);

		/* the option's own name, not a longer one it begins */
		if (!at || (at[n] && (at[n] == '-' || (at[n] >= 'a' && at[n] <= 'z'))) ||
		    overridden(argc, argv, c->argv[i]))
			continue;
		snprintf(msg, sizeof(msg), "%s:%d: %s", c->path, c->lines[i / 2], err);
		snprintf(err, MAPE_ERRLEN, "%s", msg);
		return;
	}
}

char **mape_conf_merge(const struct mape_conf *c, int argc, char **argv, int *out_argc)
{
	char **v = calloc(argc + c->argc + 1, sizeof(*v));
	int n = 0;

	if (!v)
		return NULL;
	v[n++] = argv[0];
	for (int i = 0; i + 1 < c->argc; i += 2) {
		if (overridden(argc, argv, c->argv[i]))
			continue;
		v[n++] = c->argv[i];
		if (c->argv[i + 1])
			v[n++] = c->argv[i + 1];
	}
	for (int i = 1; i < argc; i++)
		v[n++] = argv[i];
	v[n] = NULL;
	*out_argc = n;
	return v;
}

const char *mape_conf_arg(int argc, char **argv)
{
	const char *path = NULL;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--"))
			break;
		if (!strcmp(argv[i], "--config") && i + 1 < argc)
			path = argv[++i];
		else if (!strncmp(argv[i], "--config=", 9))
			path = argv[i] + 9;
	}
	return path;
}

char **mape_conf_strip(int argc, char **argv, int *out_argc)
{
	char **v = calloc(argc + 1, sizeof(*v));
	int n = 0;

	if (!v)
		return NULL;
	for (int i = 0; i < argc; i++) {
		if (i && !strcmp(argv[i], "--config") && i + 1 < argc) {
			i++;
			continue;
		}
		if (i && !strncmp(argv[i], "--config=", 9))
			continue;
		v[n++] = argv[i];
	}
	*out_argc = n;
	return v;
}
