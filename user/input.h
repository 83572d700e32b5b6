/* SPDX-License-Identifier: MIT */
/*
 * input.h - the rule-input options shared by `calc`, `up` and `br up`:
 * --prefix, --preset, --rule (repeatable), --dhcpv6-hex, --provisioning,
 * --iid, --br. Exactly one rule source is allowed; everything is checked
 * before a command changes anything.
 */
#ifndef MAPE_INPUT_H
#define MAPE_INPUT_H

#include <getopt.h>
#include "mape.h"
#include "opts.h"

enum {
	OPT_PREFIX = 0x100, OPT_PRESET, OPT_RULE, OPT_DHCPV6, OPT_PROV, OPT_IID, OPT_BR,
	OPT_JSON, OPT_INPUT_END
};

/* The rule-input options with their help (opts.h), for calc's and up's tables. */
extern const struct mape_opt mape_input_opts[];

#define MAPE_MAX_CLI_RULES 64

struct mape_input {
	const char *prefix, *preset, *dhcpv6, *prov, *br;
	const char *rules[MAPE_MAX_CLI_RULES];
	int n_rules;
	int iid;		/* -1: the source's layout */
	int need_prefix;	/* calc/up: a CE needs its prefix */
};

void mape_input_init(struct mape_input *in);
/* 1 if opt was an input option (consumed), 0 if not, <0 on error. */
int mape_input_option(struct mape_input *in, int opt, const char *arg, char *err);
/* Parse the chosen source into rs (caller inits/frees rs). */
int mape_input_rules(const struct mape_input *in, struct mape_ruleset *rs, char *err);
/* Rules + prefix -> CE parameters (res freed with mape_result_free). */
int mape_input_resolve(const struct mape_input *in, struct mape_ruleset *rs,
		       struct mape_result *res, char *err);

/* Output of calc (also used by `status`). */
int mape_print_result(const struct mape_result *res, int json);

#endif
