// SPDX-License-Identifier: MIT
/*
 * rule.c - mapping rules: the OpenWrt-style rule string, validation of
 * every parameter (RFC 7597 s5), rule sets, and the computation of a CE's
 * parameters from its end-user prefix (BMR = longest matching rule).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "mape.h"

void mape_ruleset_init(struct mape_ruleset *rs)
{
	memset(rs, 0, sizeof(*rs));
	rs->iid = MAPE_IID_RFC7597;
}

void mape_ruleset_free(struct mape_ruleset *rs)
{
	free(rs->rules);
	rs->rules = NULL;
	rs->n = rs->cap = 0;
}

int mape_ruleset_add(struct mape_ruleset *rs, const struct mape_rule *r, char *err)
{
	if (rs->n >= MAPE_MAX_RULES) {
		snprintf(err, MAPE_ERRLEN, "too many rules (more than %d)", MAPE_MAX_RULES);
		return -E2BIG;
	}
	if (rs->n == rs->cap) {
		size_t cap = rs->cap ? rs->cap * 2 : 16;
		struct mape_rule *n = realloc(rs->rules, cap * sizeof(*n));

		if (!n) {
			snprintf(err, MAPE_ERRLEN, "out of memory");
			return -ENOMEM;
		}
		rs->rules = n;
		rs->cap = cap;
	}
	rs->rules[rs->n++] = *r;
	return 0;
}

const char *mape_iid_name(int iid)
{
	return iid == MAPE_IID_DRAFT03 ? "draft03" : "rfc7597";
}

int mape_iid_parse(const char *s, int *iid, char *err)
{
	if (s && (!strcmp(s, "draft03") || !strcmp(s, "legacy"))) {
		*iid = MAPE_IID_DRAFT03;
		return 0;
	}
	if (s && (!strcmp(s, "rfc7597") || !strcmp(s, "rfc"))) {
		*iid = MAPE_IID_RFC7597;
		return 0;
	}
	snprintf(err, MAPE_ERRLEN, "bad interface-identifier layout '%s': want draft03 or rfc7597",
		 s ? s : "");
	return -EINVAL;
}

int mape_rule_finish(struct mape_rule *r, int psid_len_given, int psid_given, const char *src,
		     char *err)
{
	unsigned int p, q;

	if (r->ip6_len > 64) {
		snprintf(err, MAPE_ERRLEN, "%s: IPv6 prefix length %u: must be 0..64", src,
			 r->ip6_len);
		return -EINVAL;
	}
	if (r->ip4_len > 32) {
		snprintf(err, MAPE_ERRLEN, "%s: IPv4 prefix length %u: must be 0..32", src,
			 r->ip4_len);
		return -EINVAL;
	}
	if (r->ea_len > 48) {
		snprintf(err, MAPE_ERRLEN, "%s: EA-bits length %u: must be 0..48", src, r->ea_len);
		return -EINVAL;
	}
	if (r->ip6_len + r->ea_len > 64) {
		snprintf(err, MAPE_ERRLEN,
			 "%s: IPv6 prefix length %u + EA-bits length %u = %u: must be <= 64", src,
			 r->ip6_len, r->ea_len, r->ip6_len + r->ea_len);
		return -EINVAL;
	}
	p = mape_rule_p(r);
	q = mape_rule_q(r);
	if (q > 16) {
		snprintf(err, MAPE_ERRLEN,
			 "%s: EA-bits length %u leaves %u PSID bits after the %u IPv4 bits: must be <= 16",
			 src, r->ea_len, q, p);
		return -EINVAL;
	}
	if (q > 0) {
		if (psid_len_given && r->psid_len != q) {
			snprintf(err, MAPE_ERRLEN,
				 "%s: PSID length %u contradicts EA-bits length %u - (32 - IPv4 prefix length %u) = %u",
				 src, r->psid_len, r->ea_len, r->ip4_len, q);
			return -EINVAL;
		}
		/* psid=0 without psidlen is ignored, as OpenWrt ignores a psid
		 * without psidlen: the PSID is the EA bits' (docs/cli.md) */
		if (psid_given && (r->psid || psid_len_given)) {
			snprintf(err, MAPE_ERRLEN,
				 "%s: psid=%u given but the EA bits already carry the PSID", src,
				 r->psid);
			return -EINVAL;
		}
		r->psid_len = q;
		r->psid = 0;
	} else {
		if (!psid_len_given)
			r->psid_len = 0;
		if (r->psid_len > 0 && r->ip4_len + p < 32) {
			snprintf(err, MAPE_ERRLEN,
				 "%s: PSID length %u needs a full IPv4 address, but IPv4 prefix length %u + EA-bits length %u < 32",
				 src, r->psid_len, r->ip4_len, r->ea_len);
			return -EINVAL;
		}
		if (r->psid_len > 0 && !psid_given) {
			snprintf(err, MAPE_ERRLEN,
				 "%s: PSID length %u but the EA bits carry no PSID: give the PSID explicitly",
				 src, r->psid_len);
			return -EINVAL;
		}
		if (r->psid_len > 16 || (r->psid_len < 16 && r->psid >> r->psid_len)) {
			snprintf(err, MAPE_ERRLEN, "%s: PSID %u does not fit in PSID length %u",
				 src, r->psid, r->psid_len);
			return -EINVAL;
		}
		if (r->psid_len == 0)
			r->psid = 0;
	}
	if (r->psid_offset > 15 || r->psid_offset + r->psid_len > 16) {
		snprintf(err, MAPE_ERRLEN, "%s: PSID offset %u + PSID length %u = %u: must be <= 16",
			 src, r->psid_offset, r->psid_len, r->psid_offset + r->psid_len);
		return -EINVAL;
	}
	mape_mask_prefix6(r->ip6, r->ip6_len);
	r->ipv4 &= mape_mask32(r->ip4_len);
	return 0;
}

static int parse_bool(const char *key, const char *v, int *out, char *err)
{
	if (!v || !strcmp(v, "1") || !strcmp(v, "true") || !strcmp(v, "yes")) {
		*out = 1;
		return 0;
	}
	if (!strcmp(v, "0") || !strcmp(v, "false") || !strcmp(v, "no")) {
		*out = 0;
		return 0;
	}
	snprintf(err, MAPE_ERRLEN, "bad value '%s' for %s: want 1 or 0", v, key);
	return -EINVAL;
}

enum rule_key {
	K_TYPE, K_IP6, K_IP6LEN, K_IP4, K_IP4LEN, K_EALEN, K_OFFSET, K_PSIDLEN, K_PSID, K_BR,
	K_FMR, K_RATIO, K_PD, K_PDLEN, K_NKEYS
};

/* ratio, pd and pdlen come with OpenWrt's $MAPE strings (odhcp6c): the
 * sharing ratio and the delegated prefix it saw. Checked, not used: the
 * EA bits and --prefix decide. */
static const char *const rule_keys[K_NKEYS] = {
	"type", "ipv6prefix", "prefix6len", "ipv4prefix", "prefix4len", "ealen",
	"offset", "psidlen", "psid", "br", "fmr", "ratio", "pd", "pdlen",
};

/* Value of one numeric key into *out, bounded by max. */
static int rule_num(const char *key, const char *v, unsigned long max, unsigned long *out,
		    char *err)
{
	char what[48];

	snprintf(what, sizeof(what), "%s", key);
	if (mape_parse_uint(what, v, max, out, err)) {
		snprintf(err, MAPE_ERRLEN, "bad rule value %s=%s: must be an integer 0..%lu", key,
			 v ? v : "", max);
		return -EINVAL;
	}
	return 0;
}

int mape_parse_rule(const char *s, struct mape_rule *r, char *err)
{
	char *dup, *tok, *save = NULL;
	const char *val[K_NKEYS] = { 0 };
	int seen[K_NKEYS] = { 0 };
	unsigned long v;
	int fmr = 0, ret = -EINVAL;
	struct mape_prefix p6;
	unsigned int l4;
	char src[220];

	memset(r, 0, sizeof(*r));
	if (!s || !*s) {
		snprintf(err, MAPE_ERRLEN, "empty rule");
		return -EINVAL;
	}
	dup = strdup(s);
	if (!dup) {
		snprintf(err, MAPE_ERRLEN, "out of memory");
		return -ENOMEM;
	}
	for (tok = strtok_r(dup, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');
		int k;

		if (eq)
			*eq++ = 0;
		for (k = 0; k < K_NKEYS; k++)
			if (!strcmp(tok, rule_keys[k]))
				break;
		if (k == K_NKEYS) {
			snprintf(err, MAPE_ERRLEN, "unknown key '%s' in rule '%s'", tok, s);
			goto out;
		}
		if (seen[k]) {
			snprintf(err, MAPE_ERRLEN, "key '%s' given twice in rule '%s'", tok, s);
			goto out;
		}
		if (!eq && k != K_FMR) {
			snprintf(err, MAPE_ERRLEN, "key '%s' needs a value in rule '%s'", tok, s);
			goto out;
		}
		seen[k] = 1;
		val[k] = eq;
	}
	/* Values point into dup: every use below happens before free. */
	if (seen[K_TYPE] && strcmp(val[K_TYPE], "map") && strcmp(val[K_TYPE], "map-e") &&
	    strcmp(val[K_TYPE], "mape")) {
		snprintf(err, MAPE_ERRLEN, "unsupported rule type '%s': only map (MAP-E)",
			 val[K_TYPE]);
		goto out;
	}
	for (int k = K_IP6; k <= K_EALEN; k++) {
		if ((k == K_IP6LEN && seen[K_IP6] && strchr(val[K_IP6], '/')) ||
		    (k == K_IP4LEN && seen[K_IP4] && strchr(val[K_IP4], '/')))
			continue;
		if (!seen[k]) {
			snprintf(err, MAPE_ERRLEN, "rule '%s' lacks %s=", s, rule_keys[k]);
			goto out;
		}
	}
	if (strchr(val[K_IP6], '/')) {
		if (seen[K_IP6LEN]) {
			snprintf(err, MAPE_ERRLEN, "rule '%s': give ipv6prefix=ADDR/LEN or prefix6len=, not both", s);
			goto out;
		}
		if (mape_parse_prefix6(val[K_IP6], &p6, err))
			goto out;
	} else {
		if (mape_parse_ip6(val[K_IP6], p6.addr, err) ||
		    rule_num("prefix6len", val[K_IP6LEN], 128, &v, err))
			goto out;
		p6.len = v;
	}
	memcpy(r->ip6, p6.addr, 16);
	r->ip6_len = p6.len > 255 ? 255 : p6.len;
	if (strchr(val[K_IP4], '/')) {
		if (seen[K_IP4LEN]) {
			snprintf(err, MAPE_ERRLEN, "rule '%s': give ipv4prefix=ADDR/LEN or prefix4len=, not both", s);
			goto out;
		}
		if (mape_parse_prefix4(val[K_IP4], &r->ipv4, &l4, err))
			goto out;
	} else {
		if (mape_parse_ip4(val[K_IP4], &r->ipv4, err) ||
		    rule_num("prefix4len", val[K_IP4LEN], 32, &v, err))
			goto out;
		l4 = v;
	}
	r->ip4_len = l4;
	if (rule_num("ealen", val[K_EALEN], 48, &v, err))
		goto out;
	r->ea_len = v;
	r->psid_offset = 6;	/* RFC 7597 s5.1 default */
	if (seen[K_OFFSET]) {
		if (rule_num("offset", val[K_OFFSET], 15, &v, err))
			goto out;
		r->psid_offset = v;
	}
	if (seen[K_PSIDLEN]) {
		if (rule_num("psidlen", val[K_PSIDLEN], 16, &v, err))
			goto out;
		r->psid_len = v;
	}
	if (seen[K_PSID]) {
		if (rule_num("psid", val[K_PSID], 65535, &v, err))
			goto out;
		r->psid = v;
	}
	if (seen[K_BR]) {
		if (mape_parse_ip6(val[K_BR], r->br, err))
			goto out;
		r->flags |= MAPE_RULE_HAS_BR;
	}
	if (seen[K_FMR]) {
		if (parse_bool("fmr", val[K_FMR], &fmr, err))
			goto out;
		if (fmr)
			r->flags |= MAPE_RULE_FMR;
	}
	if (seen[K_RATIO] && (rule_num("ratio", val[K_RATIO], 65536, &v, err) || !v ||
			      (v & (v - 1)))) {
		snprintf(err, MAPE_ERRLEN, "bad rule value ratio=%s: a power of 2, 1..65536",
			 val[K_RATIO]);
		goto out;
	}
	if (seen[K_PD] && mape_parse_ip6(val[K_PD], p6.addr, err))
		goto out;
	if (seen[K_PDLEN] && rule_num("pdlen", val[K_PDLEN], 128, &v, err))
		goto out;
	snprintf(src, sizeof(src), "rule '%.200s'", s);
	ret = mape_rule_finish(r, seen[K_PSIDLEN], seen[K_PSID], src, err);
out:
	free(dup);
	return ret;
}

int mape_find_bmr(const struct mape_ruleset *rs, const struct mape_prefix *pfx)
{
	int best = -ENOENT;

	for (size_t i = 0; i < rs->n; i++) {
		const struct mape_rule *r = &rs->rules[i];

		if (pfx->len < r->ip6_len || !mape_rule_match6(r, pfx->addr))
			continue;
		if (best < 0 || r->ip6_len > rs->rules[best].ip6_len)
			best = (int)i;
	}
	return best;
}

void mape_result_free(struct mape_result *res)
{
	free(res->fmrs);
	res->fmrs = NULL;
	res->n_fmrs = 0;
}

int mape_compute(const struct mape_ruleset *rs, const struct mape_prefix *pfx, int iid,
		 struct mape_result *res, char *err)
{
	char a[64], b[64];
	const struct mape_rule *r;
	__u64 ea;
	int bi;

	memset(res, 0, sizeof(*res));
	mape_fmt_ip6(pfx->addr, a, sizeof(a));
	if (pfx->len > 64) {
		snprintf(err, MAPE_ERRLEN,
			 "prefix %s/%u: an end-user prefix must be /64 or shorter", a, pfx->len);
		return -EINVAL;
	}
	if (rs->n == 0) {
		snprintf(err, MAPE_ERRLEN, "no mapping rule given");
		return -EINVAL;
	}
	bi = mape_find_bmr(rs, pfx);
	if (bi < 0) {
		if (rs->n == 1) {
			mape_fmt_ip6(rs->rules[0].ip6, b, sizeof(b));
			snprintf(err, MAPE_ERRLEN, "prefix %s/%u is not inside rule %s/%u", a,
				 pfx->len, b, rs->rules[0].ip6_len);
		} else {
			snprintf(err, MAPE_ERRLEN, "prefix %s/%u is not inside any of the %zu rules",
				 a, pfx->len, rs->n);
		}
		return -ENOENT;
	}
	r = &rs->rules[bi];
	if (pfx->len < r->ip6_len + r->ea_len) {
		mape_fmt_ip6(r->ip6, b, sizeof(b));
		snprintf(err, MAPE_ERRLEN,
			 "prefix %s/%u is shorter than rule %s/%u + %u EA bits = /%u", a, pfx->len,
			 b, r->ip6_len, r->ea_len, r->ip6_len + r->ea_len);
		return -EINVAL;
	}
	res->bmr = *r;
	res->prefix = *pfx;
	res->iid = iid >= 0 ? iid : rs->iid;
	res->service = rs->service;
	ea = mape_ea_bits(r, pfx->addr);
	res->ipv4 = mape_ea_ipv4(r, ea);
	res->ipv4_len = mape_rule_ce_ip4_len(r);
	res->ps = mape_rule_portset(r, mape_ea_psid(r, ea));
	mape_ce_addr(res->ce, pfx->addr, pfx->len, res->ipv4, res->ps.psid, res->iid);
	if (r->flags & MAPE_RULE_HAS_BR) {
		memcpy(res->br, r->br, 16);
		res->has_br = 1;
	} else if (rs->has_br) {
		memcpy(res->br, rs->br, 16);
		res->has_br = 1;
	}
	for (size_t i = 0; i < rs->n; i++)
		if (rs->rules[i].flags & MAPE_RULE_FMR)
			res->n_fmrs++;
	if (res->n_fmrs) {
		res->fmrs = calloc(res->n_fmrs, sizeof(*res->fmrs));
		if (!res->fmrs) {
			snprintf(err, MAPE_ERRLEN, "out of memory");
			return -ENOMEM;
		}
		res->n_fmrs = 0;
		for (size_t i = 0; i < rs->n; i++)
			if (rs->rules[i].flags & MAPE_RULE_FMR)
				res->fmrs[res->n_fmrs++] = rs->rules[i];
	}
	return 0;
}
