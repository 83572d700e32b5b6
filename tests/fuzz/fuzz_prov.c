// SPDX-License-Identifier: MIT
/* fuzz_prov.c - provisioning JSON (HB46PP "map_e", OCN "basicMapRules"),
 * then the computation with the rules it gave. */
#include "fuzz.h"
#include "mape.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[MAPE_ERRLEN], *s = fuzz_str(data, size);
	struct mape_ruleset rs;

	if (!s)
		return 0;
	mape_ruleset_init(&rs);
	if (!mape_parse_provisioning(s, &rs, err)) {
		struct mape_prefix pfx;
		struct mape_result res;

		memset(&res, 0, sizeof(res));
		if (!mape_parse_prefix6("240b:10:1234:5600::/56", &pfx, err) &&
		    !mape_compute(&rs, &pfx, -1, &res, err))
			mape_result_free(&res);
	}
	mape_ruleset_free(&rs);
	free(s);
	return 0;
}
