// SPDX-License-Identifier: MIT
/*
 * dhcpv6.c - RFC 7598 MAP-E options, as raw bytes or as a hex dump:
 * S46_CONT_MAPE (94) containers holding S46_RULE (89, with S46_PORTPARAMS
 * 93 as a sub-option) and S46_BR (90). Each container is one MAP domain
 * (RFC 7598 s5); its BR is copied into its rules so that several domains
 * keep their own BR. Bare 89/90 options at top level form one implicit
 * domain. Unknown options are skipped (RFC 7598 s4).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "mape.h"

enum {
	OPT_S46_RULE = 89,
	OPT_S46_BR = 90,
	OPT_S46_PORTPARAMS = 93,
	OPT_S46_CONT_MAPE = 94,
};

/* One option: code, length and data; off is its header's offset in the input. */
struct opt {
	unsigned int code, len;
	const __u8 *data;
	size_t off;
};

struct ctx {
	const __u8 *base;		/* start of the input, for offsets in errors */
	struct mape_ruleset *rs;
	int nrules;			/* S46_RULEs seen so far: "DHCPv6 rule N" */
	char *err;
};

static const char *opt_name(unsigned int code)
{
	switch (code) {
	case OPT_S46_RULE:
		return "S46_RULE";
	case OPT_S46_BR:
		return "S46_BR";
	case OPT_S46_PORTPARAMS:
		return "S46_PORTPARAMS";
	case OPT_S46_CONT_MAPE:
		return "S46_CONT_MAPE";
	default:
		return "unknown";
	}
}

/* Next option in [*p, end): 1 and *o filled, 0 at the end, -EINVAL if truncated. */
static int next_opt(struct ctx *c, const __u8 **p, const __u8 *end, struct opt *o)
{
	size_t left = end - *p;

	if (!left)
		return 0;
	o->off = *p - c->base;
	if (left < 4) {
		snprintf(c->err, MAPE_ERRLEN,
			 "DHCPv6: %zu byte(s) at offset %zu: too short for an option header (4 bytes)",
			 left, o->off);
		return -EINVAL;
	}
	o->code = (*p)[0] << 8 | (*p)[1];
	o->len = (*p)[2] << 8 | (*p)[3];
	if (o->len > left - 4) {
		snprintf(c->err, MAPE_ERRLEN,
			 "DHCPv6: option %u (%s) at offset %zu: length %u runs past the end (%zu bytes left)",
			 o->code, opt_name(o->code), o->off, o->len, left - 4);
		return -EINVAL;
	}
	o->data = *p + 4;
	*p = o->data + o->len;
	return 1;
}

/*
 * S46_RULE (RFC 7598 s4.2): flags | ea-len | prefix4-len | ipv4-prefix(4) |
 * prefix6-len | ipv6-prefix(ceil(prefix6-len / 8)) | sub-options, of which
 * S46_PORTPARAMS (s4.5): offset | PSID-len | PSID (16 bits, left-aligned).
 */
static int parse_rule(struct ctx *c, const struct opt *o)
{
	const __u8 *d = o->data, *p, *end = o->data + o->len;
	struct mape_rule r = { 0 };
	unsigned int plen6, nbytes, k = 0, seen93 = 0;
	int psid_given = 0, ret;
	__u16 psid = 0;
	struct opt sub;
	char src[32];

	snprintf(src, sizeof(src), "DHCPv6 rule %d", ++c->nrules);
	if (o->len < 8) {
		snprintf(c->err, MAPE_ERRLEN,
			 "%s (option 89 at offset %zu): length %u is shorter than its fixed fields (8 bytes)",
			 src, o->off, o->len);
		return -EINVAL;
	}
	plen6 = d[7];
	nbytes = (plen6 + 7) / 8;
	if (d[2] > 32) {
		snprintf(c->err, MAPE_ERRLEN, "%s: prefix4-len %u: must be 0..32", src, d[2]);
		return -EINVAL;
	}
	if (plen6 > 128) {
		snprintf(c->err, MAPE_ERRLEN, "%s: prefix6-len %u: must be 0..128", src, plen6);
		return -EINVAL;
	}
	if (8 + nbytes > o->len) {
		snprintf(c->err, MAPE_ERRLEN,
			 "%s: prefix6-len %u needs %u prefix bytes, option 89 length %u leaves %u",
			 src, plen6, nbytes, o->len, o->len - 8);
		return -EINVAL;
	}
	r.flags = (d[0] & 0x01) ? MAPE_RULE_FMR : 0;	/* F flag; other bits reserved */
	r.ea_len = d[1];
	r.ip4_len = d[2];
	r.ipv4 = (__u32)d[3] << 24 | d[4] << 16 | d[5] << 8 | d[6];
	r.ip6_len = plen6;
	memcpy(r.ip6, d + 8, nbytes);
	r.psid_offset = 6;	/* RFC 7597 s5.1 default when 93 is absent */

	for (p = d + 8 + nbytes; (ret = next_opt(c, &p, end, &sub)) > 0;) {
		if (sub.code != OPT_S46_PORTPARAMS)
			continue;
		if (seen93++) {
			snprintf(c->err, MAPE_ERRLEN, "%s: option 93 (S46_PORTPARAMS) given twice",
				 src);
			return -EINVAL;
		}
		if (sub.len != 4) {
			snprintf(c->err, MAPE_ERRLEN,
				 "%s: option 93 (S46_PORTPARAMS) length %u: must be 4", src, sub.len);
			return -EINVAL;
		}
		k = sub.data[1];
		psid = sub.data[2] << 8 | sub.data[3];
		if (k > 16) {
			snprintf(c->err, MAPE_ERRLEN, "%s: option 93 PSID-len %u: must be 0..16",
				 src, k);
			return -EINVAL;
		}
		if (k < 16 && (psid & (0xffffu >> k))) {
			snprintf(c->err, MAPE_ERRLEN,
				 "%s: option 93 PSID 0x%04x has bits set beyond PSID-len %u (the PSID is left-aligned)",
				 src, psid, k);
			return -EINVAL;
		}
		r.psid_offset = sub.data[0];
	}
	if (ret < 0)
		return ret;
	/* PSID-len 0 means "not given": the EA-derived length stands. */
	if (k) {
		r.psid_len = k;
		r.psid = psid >> (16 - k);
		/* The explicit PSID counts when the EA bits carry none; a
		 * nonzero one next to EA-carried PSID bits is a contradiction. */
		psid_given = mape_rule_q(&r) == 0 || r.psid;
	}
	ret = mape_rule_finish(&r, k > 0, psid_given, src, c->err);
	if (ret)
		return ret;
	return mape_ruleset_add(c->rs, &r, c->err);
}

/* S46_BR (RFC 7598 s4.3): one IPv6 address. */
static int parse_br(struct ctx *c, const struct opt *o, const __u8 **br)
{
	if (o->len != 16) {
		snprintf(c->err, MAPE_ERRLEN,
			 "DHCPv6: option 90 (S46_BR) at offset %zu: length %u: must be 16", o->off,
			 o->len);
		return -EINVAL;
	}
	if (!*br)
		*br = o->data;
	if (!c->rs->has_br) {
		memcpy(c->rs->br, o->data, 16);
		c->rs->has_br = 1;
	}
	return 0;
}

/*
 * One MAP domain: the data of an S46_CONT_MAPE (RFC 7598 s4.1), or the top
 * level (cont NULL), where 94 options are skipped here and parsed later.
 */
static int parse_domain(struct ctx *c, const __u8 *p, const __u8 *end, const struct opt *cont)
{
	size_t first = c->rs->n;
	const __u8 *br = NULL;
	struct opt o;
	int ret;

	while ((ret = next_opt(c, &p, end, &o)) > 0) {
		if (o.code == OPT_S46_RULE)
			ret = parse_rule(c, &o);
		else if (o.code == OPT_S46_BR)
			ret = parse_br(c, &o, &br);
		if (ret < 0)
			return ret;
	}
	if (ret < 0)
		return ret;
	if (cont && c->rs->n == first) {
		snprintf(c->err, MAPE_ERRLEN,
			 "DHCPv6: option 94 (S46_CONT_MAPE) at offset %zu holds no S46_RULE (89)",
			 cont->off);
		return -EINVAL;
	}
	for (size_t i = first; br && i < c->rs->n; i++) {
		memcpy(c->rs->rules[i].br, br, 16);
		c->rs->rules[i].flags |= MAPE_RULE_HAS_BR;
	}
	return 0;
}

int mape_parse_dhcpv6(const __u8 *buf, size_t len, struct mape_ruleset *rs, char *err)
{
	struct ctx c = { .base = buf, .rs = rs, .err = err };
	const __u8 *p = buf, *end = buf + len;
	size_t n0 = rs->n;
	int had_br = rs->has_br, ret;
	struct opt o;

	/* Bare 89/90 first (one implicit domain), then each container. */
	ret = parse_domain(&c, buf, end, NULL);
	if (ret)
		goto fail;
	while ((ret = next_opt(&c, &p, end, &o)) > 0) {
		if (o.code != OPT_S46_CONT_MAPE)
			continue;
		ret = parse_domain(&c, o.data, o.data + o.len, &o);
		if (ret)
			goto fail;
	}
	if (ret)
		goto fail;
	if (rs->n == n0) {
		snprintf(err, MAPE_ERRLEN,
			 "DHCPv6: no S46_RULE (89): want S46_CONT_MAPE (94) options, or bare 89/90 options");
		ret = -EINVAL;
		goto fail;
	}
	rs->iid = MAPE_IID_RFC7597;	/* RFC 7598 carries RFC 7597 domains */
	return 0;
fail:
	rs->n = n0;
	rs->has_br = had_br;
	return ret;
}

static int hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	ch |= 0x20;
	return ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

int mape_parse_dhcpv6_hex(const char *hex, struct mape_ruleset *rs, char *err)
{
	size_t n = 0, i;
	int hi = -1, ret = -EINVAL;
	__u8 *buf;

	if (!hex)
		hex = "";
	buf = malloc(strlen(hex) / 2 + 1);
	if (!buf) {
		snprintf(err, MAPE_ERRLEN, "out of memory");
		return -ENOMEM;
	}
	for (i = 0; hex[i]; i++) {
		unsigned char ch = hex[i];
		int v = hexval(ch);

		if (v >= 0) {
			if (hi < 0) {
				hi = v;
			} else {
				buf[n++] = hi << 4 | v;
				hi = -1;
			}
		} else if (!strchr(" \t\r\n:", ch)) {
			if (ch >= 0x20 && ch < 0x7f)
				snprintf(err, MAPE_ERRLEN,
					 "DHCPv6 hex: bad character '%c' at position %zu: want hex digits, spaces or ':'",
					 ch, i);
			else
				snprintf(err, MAPE_ERRLEN,
					 "DHCPv6 hex: bad byte 0x%02x at position %zu: want hex digits, spaces or ':'",
					 ch, i);
			goto out;
		} else if (hi >= 0) {
			snprintf(err, MAPE_ERRLEN,
				 "DHCPv6 hex: separator at position %zu splits a byte: digits come in pairs",
				 i);
			goto out;
		}
	}
	if (hi >= 0) {
		snprintf(err, MAPE_ERRLEN, "DHCPv6 hex: odd number of hex digits (%zu)", 2 * n + 1);
		goto out;
	}
	if (!n) {
		snprintf(err, MAPE_ERRLEN, "DHCPv6 hex: no bytes given");
		goto out;
	}
	ret = mape_parse_dhcpv6(buf, n, rs, err);
out:
	free(buf);
	return ret;
}
