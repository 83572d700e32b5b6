// SPDX-License-Identifier: MIT
/* fuzz_dhcpv6.c - RFC 7598 options (94/95 containers with 89, 90, 93) as a
 * DHCPv6 client hands them over, binary and as --dhcpv6-hex text, then
 * the computation with the rules they gave. */
#include "fuzz.h"
#include "mape.h"

static void compute(const struct mape_ruleset *rs)
{
	static const char *const prefixes[] = { "2001:db8:12:3400::/56", "240b:10:1234:5600::/56",
						"2404:7a80:1:2::/64" };
	char err[MAPE_ERRLEN];

	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		struct mape_prefix pfx;
		struct mape_result res;

		memset(&res, 0, sizeof(res));
		if (!mape_parse_prefix6(prefixes[i], &pfx, err) &&
		    !mape_compute(rs, &pfx, -1, &res, err))
			mape_result_free(&res);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[MAPE_ERRLEN], *s;
	struct mape_ruleset rs;

	mape_ruleset_init(&rs);
	if (!mape_parse_dhcpv6(data, size, &rs, err))
		compute(&rs);
	mape_ruleset_free(&rs);
	s = fuzz_str(data, size);
	if (s) {
		mape_ruleset_init(&rs);
		if (!mape_parse_dhcpv6_hex(s, &rs, err))
			compute(&rs);
		mape_ruleset_free(&rs);
		free(s);
	}
	return 0;
}
