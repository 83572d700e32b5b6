// SPDX-License-Identifier: MIT
/* calc.c - `mapectl calc`: MAP parameters of a CE, no root needed. */
#include <getopt.h>
#include <stdio.h>
#include "cmd.h"
#include "input.h"

static const char calc_usage[] =
	"usage: mapectl calc [--json] --prefix PREFIX\n"
	"         (--preset NAME | --rule RULE [--rule RULE...] | --dhcpv6-hex HEX |\n"
	"          --provisioning FILE) [--iid draft03|rfc7597] [--br ADDR]\n"
	"\n"
	"  --prefix P        delegated IPv6 prefix (or the /64 of an RA-only line)\n"
	"  --preset NAME     built-in service: %s\n"
	"  --rule R          ipv6prefix=ADDR,prefix6len=N,ipv4prefix=ADDR,prefix4len=N,\n"
	"                    ealen=N[,offset=N][,psidlen=N][,psid=N][,br=ADDR][,fmr]\n"
	"                    (psid= is right-aligned); several: longest match is the BMR,\n"
	"                    the others are FMRs\n"
	"  --dhcpv6-hex HEX  RFC 7598 options (94 container, or 89/90/93) as hex\n"
	"  --provisioning F  HB46PP JSON (map_e object) or OCN basicMapRules JSON\n"
	"  --iid LAYOUT      interface identifier: draft03 or rfc7597 (default: the source's)\n"
	"  --br ADDR         BR address (overrides the source's)\n"
	"  --json            one JSON object\n";

int cmd_calc(int argc, char **argv)
{
	static const struct option opts[] = {
		MAPE_INPUT_LONGOPTS,
		{ "json", no_argument, NULL, OPT_JSON },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct mape_input in;
	struct mape_ruleset rs;
	struct mape_result res = { 0 };
	char err[MAPE_ERRLEN];
	int json = 0, c, ret;

	mape_input_init(&in);
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'h') {
			printf(calc_usage, mape_preset_names());
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
