// SPDX-License-Identifier: MIT
/* calc.c - `mapectl calc`: MAP parameters of a CE, no root needed. */
#include <getopt.h>
#include <stdio.h>
#include "cmd.h"
#include "input.h"

static const struct mape_opt calc_opts[] = {
	{ "json", OPT_JSON, NULL, "one JSON object" },
	MAPE_OPT_END,
};

static const struct mape_opt *const calc_optv[] = { mape_input_opts, calc_opts, mape_help_opts, NULL };

static void calc_usage(void)
{
	printf("usage: mapectl calc [--json] --prefix PREFIX\n"
	       "         (--preset NAME | --rule RULE [--rule RULE...] | --dhcpv6-hex HEX |\n"
	       "          --provisioning FILE) [--iid draft03|rfc7597] [--br ADDR]\n"
	       "\n");
	mape_opts_help(stdout, calc_optv);
	printf("\npresets: %s\n", mape_preset_names());
}

int cmd_calc(int argc, char **argv)
{
	struct mape_input in;
	struct mape_ruleset rs;
	struct mape_result res = { 0 };
	char err[MAPE_ERRLEN];
	int json = 0, c, ret;

	mape_input_init(&in);
	optind = 1;
	while ((c = mape_getopt(argc, argv, "h", calc_optv)) != -1) {
		if (c == 'h') {
			calc_usage();
			return 0;
		}
		if (c == OPT_JSON) {
			json = 1;
			continue;
		}
		ret = mape_input_option(&in, c, optarg, err);
		if (ret < 0)
			return mape_errorf("%s", err);
		if (ret == 0)
			return mape_usage_error(argc, argv);
	}
	if (optind < argc)
		return mape_errorf("unexpected argument '%s'", argv[optind]);
	mape_ruleset_init(&rs);
	ret = mape_input_resolve(&in, &rs, &res, err);
	if (!ret)
		mape_print_result(&res, json);
	mape_result_free(&res);
	mape_ruleset_free(&rs);
	return ret ? mape_errorf("%s", err) : 0;
}
