// SPDX-License-Identifier: MIT
/*
 * preset.c - built-in JP service presets (table generated at build time from
 * data/jp-mape-rules.json). `auto` picks the service whose table holds the
 * longest rule prefix containing the user's prefix. Presets imply the
 * draft-03 interface identifier and carry the service's BR per rule; they
 * define no FMRs (the services are hub and spoke).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "preset.h"

const char *mape_preset_names(void)
{
	static char buf[256];
	size_t off = 0;

	if (buf[0])
		return buf;
	for (unsigned int i = 0; i < mape_n_preset_services && off < sizeof(buf); i++)
		off += snprintf(buf + off, sizeof(buf) - off, "%s, ",
				mape_preset_services[i].name);
	if (off < sizeof(buf))
		snprintf(buf + off, sizeof(buf) - off, "auto");
	return buf;
}

/* Longest rule of one service that contains the prefix, or -1. */
static int service_match(const struct mape_preset_service *s, const struct mape_prefix *pfx)
{
	int best = -1;

	for (unsigned int i = 0; i < s->n_rules; i++) {
		const struct mape_rule *r = &s->rules[i];

		if (pfx->len >= r->ip6_len && mape_rule_match6(r, pfx->addr) &&
		    (best < 0 || r->ip6_len > s->rules[best].ip6_len))
			best = (int)i;
	}
	return best;
}

int mape_preset_load(const char *name, const struct mape_prefix *pfx, struct mape_ruleset *rs,
		     char *err)
{
	const struct mape_preset_service *svc = NULL;
	char a[64];
	int ret;

	mape_fmt_ip6(pfx->addr, a, sizeof(a));
	if (!strcmp(name, "auto")) {
		int best_len = -1;

		for (unsigned int i = 0; i < mape_n_preset_services; i++) {
			const struct mape_preset_service *s = &mape_preset_services[i];
			int r = service_match(s, pfx);

			if (r >= 0 && s->rules[r].ip6_len > best_len) {
				best_len = s->rules[r].ip6_len;
				svc = s;
			}
		}
		if (!svc) {
			snprintf(err, MAPE_ERRLEN,
				 "prefix %s/%u matches no built-in service (%.100s): give --rule", a,
				 pfx->len, mape_preset_names());
			return -ENOENT;
		}
	} else {
		for (unsigned int i = 0; i < mape_n_preset_services; i++)
			if (!strcmp(name, mape_preset_services[i].name))
				svc = &mape_preset_services[i];
		if (!svc) {
			snprintf(err, MAPE_ERRLEN, "unknown preset '%.40s': want one of %.100s", name,
				 mape_preset_names());
			return -EINVAL;
		}
		if (service_match(svc, pfx) < 0) {
			snprintf(err, MAPE_ERRLEN, "prefix %s/%u is not inside any %s rule", a,
				 pfx->len, svc->name);
			return -ENOENT;
		}
	}
	rs->iid = svc->iid;
	rs->service = svc->name;
	for (unsigned int i = 0; i < svc->n_rules; i++) {
		ret = mape_ruleset_add(rs, &svc->rules[i], err);
		if (ret)
			return ret;
	}
	return 0;
}
