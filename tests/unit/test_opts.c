// SPDX-License-Identifier: MIT
/* test_opts.c - option tables (user/opts.c): the getopt_long array and the
 * --help list come from the same entries. */
#include <stdlib.h>
#include "opts.h"
#include "test.h"

static const struct mape_opt t1[] = {
	{ "wan", 1, "IF", "the uplink" },
	{ "flag", 2, NULL, "a switch" },
	{ "hidden", 3, "X", NULL },
	MAPE_OPT_END,
};

static const struct mape_opt t2[] = {
	{ "a-very-long-option-name", 4, "VALUE", "first line\nsecond line" },
	MAPE_OPT_END,
};

static const struct mape_opt *const v[] = { t1, t2, mape_help_opts, NULL };

TEST(opts_longopts_from_tables)
{
	struct option lo[8];

	CHECK_EQ(mape_opts_longopts(v, lo, 8), 5);
	CHECK_STR(lo[0].name, "wan");
	CHECK_EQ(lo[0].has_arg, required_argument);
	CHECK_EQ(lo[1].has_arg, no_argument);
	CHECK_EQ(lo[2].val, 3);			/* hidden: accepted */
	CHECK_STR(lo[3].name, "a-very-long-option-name");
	CHECK_STR(lo[4].name, "help");
	CHECK_EQ(lo[4].val, 'h');
	CHECK(lo[5].name == NULL);
	CHECK_EQ(mape_opts_longopts(v, lo, 5), -1);	/* no room for the terminator */
}

TEST(opts_getopt_parses_tables)
{
	char *argv[] = { "cmd", "--wan", "eth0", "--flag", "--a-very-long-option-name=7", "rest",
			 NULL };
	int c, seen = 0;

	optind = 1;
	while ((c = mape_getopt(6, argv, "h", v)) != -1) {
		if (c == 1) {
			CHECK_STR(optarg, "eth0");
			seen |= 1;
		} else if (c == 2) {
			seen |= 2;
		} else if (c == 4) {
			CHECK_STR(optarg, "7");
			seen |= 4;
		} else {
			test_fail(__FILE__, __LINE__, "unexpected %d", c);
		}
	}
	CHECK_EQ(seen, 7);
	CHECK_EQ(optind, 5);
}

TEST(opts_help_lists_what_getopt_takes)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	mape_opts_help(f, v);
	fclose(f);
	CHECK_STR(buf, "  --wan IF          the uplink\n"
		       "  --flag            a switch\n"
		       "  --a-very-long-option-name VALUE\n"
		       "                    first line\n"
		       "                    second line\n"
		       "  --help            this text\n");
	free(buf);
}
