// SPDX-License-Identifier: MIT
/*
 * input.c - the rule-input options of calc/up/br up, and the printing of
 * a computed CE (human and JSON).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include "input.h"

const struct mape_opt mape_input_opts[] = {
	{ "prefix", OPT_PREFIX, "P", "delegated IPv6 prefix (or the /64 of an RA-only line)" },
	{ "preset", OPT_PRESET, "NAME", "built-in service (the list: mapectl calc --help)" },
	{ "rule", OPT_RULE, "R",
	  "ipv6prefix=ADDR,prefix6len=N,ipv4prefix=ADDR,prefix4len=N,\n"
	  "ealen=N[,offset=N][,psidlen=N][,psid=N][,br=ADDR][,fmr]\n"
	  "(psid= is right-aligned); several: longest match is the BMR,\n"
	  "the others are FMRs" },
	{ "dhcpv6-hex", OPT_DHCPV6, "HEX", "RFC 7598 options (94 container, or 89/90/93) as hex" },
	{ "provisioning", OPT_PROV, "F", "HB46PP JSON (map_e object) or OCN basicMapRules JSON" },
	{ "iid", OPT_IID, "LAYOUT",
	  "interface identifier: draft03 or rfc7597 (default: the source's)" },
	{ "br", OPT_BR, "ADDR", "BR address (overrides the source's)" },
	MAPE_OPT_END,
};

void mape_input_init(struct mape_input *in)
{
	memset(in, 0, sizeof(*in));
	in->iid = -1;
	in->need_prefix = 1;
}

int mape_input_option(struct mape_input *in, int opt, const char *arg, char *err)
{
	const char **slot = opt == OPT_PREFIX ? &in->prefix : opt == OPT_PRESET ? &in->preset :
			    opt == OPT_DHCPV6 ? &in->dhcpv6 : opt == OPT_PROV ? &in->prov :
			    opt == OPT_BR ? &in->br : NULL;

	if (slot && *slot) {
		snprintf(err, MAPE_ERRLEN, "option given twice: '%s' and '%s'", *slot, arg);
		return -EINVAL;
	}
	switch (opt) {
	case OPT_PREFIX:
		in->prefix = arg;
		return 1;
	case OPT_PRESET:
		in->preset = arg;
		return 1;
	case OPT_RULE:
		if (in->n_rules >= MAPE_MAX_CLI_RULES) {
			snprintf(err, MAPE_ERRLEN, "too many --rule options (more than %d)",
				 MAPE_MAX_CLI_RULES);
			return -E2BIG;
		}
		in->rules[in->n_rules++] = arg;
		return 1;
	case OPT_DHCPV6:
		in->dhcpv6 = arg;
		return 1;
	case OPT_PROV:
		in->prov = arg;
		return 1;
	case OPT_IID:
		return mape_iid_parse(arg, &in->iid, err) ? -EINVAL : 1;
	case OPT_BR:
		in->br = arg;
		return 1;
	}
	return 0;
}

int mape_input_rules(const struct mape_input *in, struct mape_ruleset *rs, char *err)
{
	struct mape_prefix pfx;
	int sources = !!in->preset + !!in->n_rules + !!in->dhcpv6 + !!in->prov;
	int ret;

	if (sources != 1) {
		snprintf(err, MAPE_ERRLEN, "%s rule source: give one of --preset, --rule, "
			 "--dhcpv6-hex, --provisioning", sources ? "more than one" : "no");
		return -EINVAL;
	}
	if (in->need_prefix && !in->prefix) {
		snprintf(err, MAPE_ERRLEN, "missing --prefix (the delegated IPv6 prefix, e.g. "
			 "2001:db8:12:3400::/56, or the /64 of an RA-only line)");
		return -EINVAL;
	}
	if (in->prefix && mape_parse_prefix6(in->prefix, &pfx, err))
		return -EINVAL;
	if (in->preset) {
		if (!in->prefix) {
			snprintf(err, MAPE_ERRLEN, "--preset needs --prefix");
			return -EINVAL;
		}
		ret = mape_preset_load(in->preset, &pfx, rs, err);
	} else if (in->n_rules) {
		/* one --rule may hold several, separated by spaces (OpenWrt's $MAPE) */
		for (int i = 0; i < in->n_rules; i++) {
			char *dup = strdup(in->rules[i]), *save = NULL, *one;
			int n = 0;

			if (!dup) {
				snprintf(err, MAPE_ERRLEN, "out of memory");
				return -ENOMEM;
			}
			ret = 0;
			for (one = strtok_r(dup, " \t\n", &save); one && !ret;
			     one = strtok_r(NULL, " \t\n", &save), n++) {
				struct mape_rule r;

				ret = mape_parse_rule(one, &r, err);
				if (!ret)
					ret = mape_ruleset_add(rs, &r, err);
			}
			free(dup);
			if (!ret && !n) {
				snprintf(err, MAPE_ERRLEN, "empty rule");
				ret = -EINVAL;
			}
			if (ret)
				return ret;
		}
		/* Of several --rule, the ones that are not the BMR are FMRs. */
		if (rs->n > 1) {
			int bmr = in->prefix ? mape_find_bmr(rs, &pfx) : -1;

			for (size_t i = 0; i < rs->n; i++)
				if ((int)i != bmr)
					rs->rules[i].flags |= MAPE_RULE_FMR;
		}
	} else if (in->dhcpv6) {
		ret = mape_parse_dhcpv6_hex(in->dhcpv6, rs, err);
	} else {
		ret = mape_parse_provisioning_file(in->prov, rs, err);
	}
	if (ret)
		return ret;
	if (in->br) {
		/* --br overrides every BR the source named. */
		if (mape_parse_ip6(in->br, rs->br, err))
			return -EINVAL;
		rs->has_br = 1;
		for (size_t i = 0; i < rs->n; i++)
			rs->rules[i].flags &= ~MAPE_RULE_HAS_BR;
	}
	return 0;
}

int mape_input_resolve(const struct mape_input *in, struct mape_ruleset *rs,
		       struct mape_result *res, char *err)
{
	struct mape_prefix pfx;
	int ret = mape_input_rules(in, rs, err);

	if (ret)
		return ret;
	if (mape_parse_prefix6(in->prefix, &pfx, err))
		return -EINVAL;
	return mape_compute(rs, &pfx, in->iid, res, err);
}

static void fmt_rule6(const struct mape_rule *r, char *buf, size_t len)
{
	char a[64];

	mape_fmt_ip6(r->ip6, a, sizeof(a));
	snprintf(buf, len, "%s/%u", a, r->ip6_len);
}

static void fmt_rule4(const struct mape_rule *r, char *buf, size_t len)
{
	char a[32];

	mape_fmt_ip4(r->ipv4, a, sizeof(a));
	snprintf(buf, len, "%s/%u", a, r->ip4_len);
}

static json_object *rule_json(const struct mape_rule *r)
{
	json_object *o = json_object_new_object();
	char b[80];

	fmt_rule6(r, b, sizeof(b));
	json_object_object_add(o, "ipv6_prefix", json_object_new_string(b));
	fmt_rule4(r, b, sizeof(b));
	json_object_object_add(o, "ipv4_prefix", json_object_new_string(b));
	json_object_object_add(o, "ea_len", json_object_new_int(r->ea_len));
	return o;
}

/* Calls fn(first, last) for each maximal run of consecutive ports. */
static void for_each_range(const struct mape_portset *ps, void (*fn)(void *, __u32, __u32),
			   void *ctx)
{
	__u32 n = mape_ps_count(ps), first = 0, last = 0;

	for (__u32 i = 0; i < n; i++) {
		__u32 p = mape_ps_port(ps, i);

		if (i && p == last + 1) {
			last = p;
			continue;
		}
		if (i)
			fn(ctx, first, last);
		first = last = p;
	}
	if (n)
		fn(ctx, first, last);
}

static void range_json(void *ctx, __u32 first, __u32 last)
{
	json_object *pair = json_object_new_array();

	json_object_array_add(pair, json_object_new_int(first));
	json_object_array_add(pair, json_object_new_int(last));
	json_object_array_add(ctx, pair);
}

struct range_text {
	int col, count;
};

static void range_text(void *ctx, __u32 first, __u32 last)
{
	struct range_text *t = ctx;
	char b[16];
	int len = first == last ? snprintf(b, sizeof(b), "%u", first) :
				  snprintf(b, sizeof(b), "%u-%u", first, last);

	if (t->count && t->col + len + 1 > 100) {
		printf("\n             ");
		t->col = 13;
	} else if (t->count) {
		putchar(' ');
		t->col++;
	}
	fputs(b, stdout);
	t->col += len;
	t->count++;
}

int mape_print_result(const struct mape_result *res, int json)
{
	char ip4[32], ce[64], br[64], r6[80], r4[40], pfx[64];
	__u32 count = mape_ps_count(&res->ps), blocks = mape_ps_blocks(&res->ps);

	mape_fmt_ip4(res->ipv4, ip4, sizeof(ip4));
	if (res->ipv4_len < 32)
		snprintf(ip4 + strlen(ip4), sizeof(ip4) - strlen(ip4), "/%u", res->ipv4_len);
	mape_fmt_ip6(res->ce, ce, sizeof(ce));
	mape_fmt_ip6(res->br, br, sizeof(br));
	fmt_rule6(&res->bmr, r6, sizeof(r6));
	fmt_rule4(&res->bmr, r4, sizeof(r4));
	mape_fmt_ip6(res->prefix.addr, pfx, sizeof(pfx));

	if (json) {
		json_object *o = json_object_new_object(), *ranges = json_object_new_array();
		json_object *fmrs = json_object_new_array();

		json_object_object_add(o, "ipv4", json_object_new_string(ip4));
		json_object_object_add(o, "psid", json_object_new_int(res->ps.psid));
		json_object_object_add(o, "psid_len", json_object_new_int(res->ps.len));
		json_object_object_add(o, "psid_offset", json_object_new_int(res->ps.offset));
		json_object_object_add(o, "ce_ipv6", json_object_new_string(ce));
		json_object_object_add(o, "br", res->has_br ? json_object_new_string(br) : NULL);
		for_each_range(&res->ps, range_json, ranges);
		json_object_object_add(o, "port_ranges", ranges);
		json_object_object_add(o, "port_count", json_object_new_int(count));
		json_object_object_add(o, "iid", json_object_new_string(mape_iid_name(res->iid)));
		json_object_object_add(o, "service",
				       res->service ? json_object_new_string(res->service) : NULL);
		json_object_object_add(o, "rule", rule_json(&res->bmr));
		for (size_t i = 0; i < res->n_fmrs; i++)
			json_object_array_add(fmrs, rule_json(&res->fmrs[i]));
		json_object_object_add(o, "fmrs", fmrs);
		puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_SPACED |
						      JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(o);
		return 0;
	}

	struct range_text t = { .col = 13 };

	if (res->service)
		printf("service:     %s\n", res->service);
	printf("prefix:      %s/%u\n", pfx, res->prefix.len);
	printf("rule:        %s -> %s, EA bits %u\n", r6, r4, res->bmr.ea_len);
	printf("IPv4:        %s\n", ip4);
	printf("PSID:        %u (0x%x), length %u, offset %u\n", res->ps.psid, res->ps.psid,
	       res->ps.len, res->ps.offset);
	if (blocks > 1)
		printf("ports:       %u (%u blocks of %u)\n", count, blocks, count / blocks);
	else
		printf("ports:       %u\n", count);
	printf("port ranges: ");
	for_each_range(&res->ps, range_text, &t);
	putchar('\n');
	printf("CE IPv6:     %s (%s interface identifier)\n", ce, mape_iid_name(res->iid));
	printf("BR:          %s\n", res->has_br ? br : "(none: give --br)");
	printf("FMRs:        %s", res->n_fmrs ? "" : "none");
	for (size_t i = 0; i < res->n_fmrs; i++) {
		fmt_rule6(&res->fmrs[i], r6, sizeof(r6));
		fmt_rule4(&res->fmrs[i], r4, sizeof(r4));
		printf("%s%s -> %s (EA %u)", i ? "\n             " : "", r6, r4,
		       res->fmrs[i].ea_len);
	}
	putchar('\n');
	return 0;
}
