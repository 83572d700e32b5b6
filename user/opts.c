// SPDX-License-Identifier: MIT
/* opts.c - getopt_long arrays and --help option lists from one table (opts.h). */
#include <string.h>
#include "opts.h"

#define OPTS_MAX 64
#define HELP_COL 20	/* where the help text starts */

const struct mape_opt mape_help_opts[] = {
	{ "help", 'h', NULL, "this text" },
	MAPE_OPT_END,
};

int mape_opts_longopts(const struct mape_opt *const *v, struct option *out, int cap)
{
	int n = 0;

	for (; *v; v++) {
		for (const struct mape_opt *o = *v; o->name; o++) {
			if (n + 1 >= cap)
				return -1;
			out[n].name = o->name;
			out[n].has_arg = o->arg ? required_argument : no_argument;
			out[n].flag = NULL;
			out[n].val = o->val;
			n++;
		}
	}
	memset(&out[n], 0, sizeof(out[n]));
	return n;
}

int mape_getopt(int argc, char **argv, const char *shortopts, const struct mape_opt *const *v)
{
	static struct option lo[OPTS_MAX];

	if (mape_opts_longopts(v, lo, OPTS_MAX) < 0)
		return '?';	/* a table larger than OPTS_MAX: caught by the unit tests */
	return getopt_long(argc, argv, shortopts, lo, NULL);
}

void mape_opts_help(FILE *f, const struct mape_opt *const *v)
{
	for (; *v; v++) {
		for (const struct mape_opt *o = *v; o->name; o++) {
			const char *h = o->help, *nl;
			int w;

			if (!h)
				continue;
			w = fprintf(f, "  --%s%s%s", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
			if (w >= HELP_COL - 1) {
				fputc('\n', f);
				w = 0;
			}
			for (;;) {
				nl = strchr(h, '\n');
				fprintf(f, "%*s%.*s\n", HELP_COL - w, "", nl ? (int)(nl - h) : (int)strlen(h),
					h);
				if (!nl)
					break;
				h = nl + 1;
				w = 0;
			}
		}
	}
}
