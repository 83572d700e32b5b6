// SPDX-License-Identifier: MIT
/* fuzz_rule.c - --rule strings (one or several, OpenWrt's $MAPE spelling
 * too) and --prefix, as calc and up read them, then the computation.
 * Input: "PREFIX\nRULES" (no newline: the rules, with a fixed prefix). */
#include "fuzz.h"
#include "input.h"
#include "mape.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_str(data, size), *nl, err[MAPE_ERRLEN];
	struct mape_ruleset rs;
	struct mape_input in;
	struct mape_prefix pfx;
	struct mape_result res;

	if (!s)
		return 0;
	mape_input_init(&in);
	nl = strchr(s, '\n');
	if (nl) {
		*nl = 0;
		in.prefix = s;
		in.rules[in.n_rules++] = nl + 1;
	} else {
		in.prefix = "2001:db8:12:3400::/56";
		in.rules[in.n_rules++] = s;
	}
	mape_ruleset_init(&rs);
	if (!mape_input_rules(&in, &rs, err) && !mape_parse_prefix6(in.prefix, &pfx, err)) {
		for (int iid = -1; iid <= 1; iid++) {
			memset(&res, 0, sizeof(res));
			if (!mape_compute(&rs, &pfx, iid, &res, err))
				mape_result_free(&res);
		}
	}
	mape_ruleset_free(&rs);
	free(s);
	return 0;
}
