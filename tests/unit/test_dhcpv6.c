// SPDX-License-Identifier: MIT
/* test_dhcpv6.c - RFC 7598 option parsing (user/dhcpv6.c), hex input, errors, end to end. */
#include <errno.h>
#include <stdlib.h>
#include "mape.h"
#include "test.h"

/* The v6plus-like example of docs/MAPE-FACTS.md s4. */
#define EXAMPLE                                                                                  \
	"005e002c 0059001401190f6a4800001f240b0010 005d0004 04000000 "                           \
	"005a0010 24049200022501000000000000000064"

/* A byte buffer built from options, for the cases the example does not cover. */
struct buf {
	__u8 b[512];
	size_t n;
};

static void raw(struct buf *b, const char *hex)
{
	for (const char *p = hex; *p; p++) {
		unsigned int v;

		if (*p == ' ')
			continue;
		sscanf(p, "%2x", &v);
		b->b[b->n++] = v;
		p++;
	}
}

/* Open an option: returns where its data starts, for end(). */
static size_t begin(struct buf *b, unsigned int code)
{
	b->b[b->n++] = code >> 8;
	b->b[b->n++] = code;
	b->n += 2;
	return b->n;
}

static void end(struct buf *b, size_t start)
{
	size_t len = b->n - start;

	b->b[start - 2] = len >> 8;
	b->b[start - 1] = len;
}

static void opt(struct buf *b, unsigned int code, const char *hex)
{
	size_t s = begin(b, code);

	raw(b, hex);
	end(b, s);
}

static int parse(const struct buf *b, struct mape_ruleset *rs, char *err)
{
	mape_ruleset_init(rs);
	err[0] = 0;
	return mape_parse_dhcpv6(b->b, b->n, rs, err);
}

static void fmt6(const __u8 a[16], char *buf)
{
	mape_fmt_ip6(a, buf, 64);
}

static void check_example(const struct mape_ruleset *rs)
{
	const struct mape_rule *r = &rs->rules[0];
	char s[64];

	CHECK_EQ(rs->n, 1);
	if (rs->n != 1)
		return;
	fmt6(r->ip6, s);
	CHECK_STR(s, "240b:10::");
	CHECK_EQ(r->ip6_len, 31);
	CHECK_EQ(r->ipv4, 0x6a480000);
	CHECK_EQ(r->ip4_len, 15);
	CHECK_EQ(r->ea_len, 25);
	CHECK_EQ(r->psid_offset, 4);
	CHECK_EQ(r->psid_len, 8);
	CHECK_EQ(r->flags, MAPE_RULE_FMR | MAPE_RULE_HAS_BR);
	fmt6(r->br, s);
	CHECK_STR(s, "2404:9200:225:100::64");
	CHECK(rs->has_br);
	fmt6(rs->br, s);
	CHECK_STR(s, "2404:9200:225:100::64");
	CHECK_EQ(rs->iid, MAPE_IID_RFC7597);
}

TEST(dhcpv6_example)
{
	struct mape_ruleset rs;
	char err[MAPE_ERRLEN] = "";

	mape_ruleset_init(&rs);
	CHECK_EQ(mape_parse_dhcpv6_hex(EXAMPLE, &rs, err), 0);
	CHECK_STR(err, "");
	check_example(&rs);
	mape_ruleset_free(&rs);
}

TEST(dhcpv6_hex_spellings)
{
	static const char *const forms[] = {
		"005E002C0059001401190F6A4800001F240B0010005D000404000000005A0010"
		"24049200022501000000000000000064",
		"00:5e:00:2c:00:59:00:14:01:19:0f:6a:48:00:00:1f:24:0b:00:10:"
		"00:5d:00:04:04:00:00:00:00:5a:00:10:24:04:92:00:02:25:01:00:"
		"00:00:00:00:00:00:00:64",
		"  005e002c\n0059001401190f6a4800001f240b0010\r\n005d0004\t04000000\n"
		"005a0010 2404 9200 0225 0100 0000 0000 0000 0064\n",
	};
	struct mape_ruleset rs;
	char err[MAPE_ERRLEN];

	for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		mape_ruleset_init(&rs);
		CHECK_EQ(mape_parse_dhcpv6_hex(forms[i], &rs, err), 0);
		check_example(&rs);
		mape_ruleset_free(&rs);
	}
}

TEST(dhcpv6_hex_errors)
{
	static const struct {
		const char *in, *msg;
	} cases[] = {
		{ "005e002", "odd number of hex digits (7)" },
		{ "005e 002c 0", "odd number of hex digits (9)" },
		{ "005e0g2c", "bad character 'g' at position 5" },
		{ "0x005e002c", "bad character 'x' at position 1" },
		{ "005e-002c", "bad character '-' at position 4" },
		{ "005e\x01", "bad byte 0x01 at position 4" },
		{ "00 5 e002c", "separator at position 4 splits a byte" },
		{ "", "no bytes given" },
		{ " : \n", "no bytes given" },
	};
	struct mape_ruleset rs;
	char err[MAPE_ERRLEN];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		mape_ruleset_init(&rs);
		err[0] = 0;
		CHECK_EQ(mape_parse_dhcpv6_hex(cases[i].in, &rs, err), -EINVAL);
		CHECK_HAS(err, cases[i].msg);
		CHECK_EQ(rs.n, 0);
		mape_ruleset_free(&rs);
	}
	mape_ruleset_init(&rs);
	CHECK_EQ(mape_parse_dhcpv6_hex(NULL, &rs, err), -EINVAL);
}

/* Every prefix of the example is truncated somewhere: always an error, never a crash.
 * Each length gets its own exact-size heap copy so that ASan sees any overread. */
TEST(dhcpv6_truncation)
{
	struct mape_ruleset rs;
	char err[MAPE_ERRLEN];
	struct buf b = { .n = 0 };

	raw(&b, "005e002c 0059001401190f6a4800001f240b0010 005d0004 04000000 "
		"005a0010 24049200022501000000000000000064");
	CHECK_EQ(b.n, 48);
	for (size_t len = 0; len < b.n; len++) {
		__u8 *copy = malloc(len ? len : 1);

		memcpy(copy, b.b, len);
		mape_ruleset_init(&rs);
		err[0] = 0;
		CHECK_EQ(mape_parse_dhcpv6(copy, len, &rs, err), -EINVAL);
		CHECK(err[0] != 0);
		CHECK_EQ(rs.n, 0);
		CHECK_EQ(rs.has_br, 0);
		mape_ruleset_free(&rs);
		free(copy);
	}
	mape_ruleset_init(&rs);
	CHECK_EQ(mape_parse_dhcpv6(b.b, b.n, &rs, err), 0);
	mape_ruleset_free(&rs);
}

/* Bare options: prefixes ending on an option boundary parse, all others fail. */
TEST(dhcpv6_truncation_bare)
{
	struct mape_ruleset rs;
	char err[MAPE_ERRLEN];
	struct buf b = { .n = 0 };

	raw(&b, "0059001401190f6a4800001f240b0010 005d0004 04000000 "
		"005a0010 24049200022501000000000000000064");
	CHECK_EQ(b.n, 44);
	for (size_t len = 0; len <= b.n; len++) {
		__u8 *copy = malloc(len ? len : 1);
		int want = len == 24 || len == 44 ? 0 : -EINVAL;

		memcpy(copy, b.b, len);
		mape_ruleset_init(&rs);
		CHECK_EQ(mape_parse_dhcpv6(copy, len, &rs, err), want);
		CHECK_EQ(rs.n, want ? 0 : 1);
		mape_ruleset_free(&rs);
		free(copy);
	}
}

TEST(dhcpv6_truncation_messages)
{
	struct mape_ruleset rs;
	char err[MAPE_ERRLEN];
	struct buf b = { .n = 0 };

	raw(&b, "005e002c 0059001401190f6a4800001f240b0010 005d0004 04000000 "
		"005a0010 24049200022501000000000000000064");
	mape_ruleset_init(&rs);
	CHECK_EQ(mape_parse_dhcpv6(b.b, 2, &rs, err), -EINVAL);
	CHECK_HAS(err, "2 byte(s) at offset 0: too short for an option header");
	CHECK_EQ(mape_parse_dhcpv6(b.b, 47, &rs, err), -EINVAL);
	CHECK_HAS(err, "option 94 (S46_CONT_MAPE) at offset 0: length 44 runs past the end (43");
	CHECK_EQ(mape_parse_dhcpv6(b.b, 0, &rs, err), -EINVAL);
	CHECK_HAS(err, "no S46_RULE (89)");
	/* The container shrunk by one byte cuts the BR option short. */
	b.b[3] = 0x2b;
	CHECK_EQ(mape_parse_dhcpv6(b.b, 47, &rs, err), -EINVAL);
	CHECK_HAS(err, "option 90 (S46_BR) at offset 28: length 16 runs past the end (15");
	/* A rule whose 93 sub-option runs past the rule. */
	b.b[3] = 0x2c;
	b.b[23] = 0x05;
	CHECK_EQ(mape_parse_dhcpv6(b.b, 48, &rs, err), -EINVAL);
	CHECK_HAS(err, "option 93 (S46_PORTPARAMS) at offset 20: length 5 runs past the end (4");
	CHECK_EQ(rs.n, 0);
	mape_ruleset_free(&rs);
}

TEST(dhcpv6_compute_example)
{
	struct mape_ruleset rs;
	struct mape_prefix pfx;
	struct mape_result res;
	char err[MAPE_ERRLEN], s[64];

	mape_ruleset_init(&rs);
	CHECK_EQ(mape_parse_dhcpv6_hex(EXAMPLE, &rs, err), 0);
	CHECK_EQ(mape_parse_prefix6("240b:10:1234:5600::/56", &pfx, err), 0);
	CHECK_EQ(mape_compute(&rs, &pfx, -1, &res, err), 0);
	mape_fmt_ip4(res.ipv4, s, sizeof(s));
	CHECK_STR(s, "106.72.18.52");
	CHECK_EQ(res.ipv4_len, 32);
	CHECK_EQ(res.ps.psid, 0x56);
	CHECK_EQ(res.ps.len, 8);
	CHECK_EQ(res.ps.offset, 4);
	CHECK_EQ(mape_ps_count(&res.ps), 240);
	CHECK_EQ(res.iid, MAPE_IID_RFC7597);
	fmt6(res.ce, s);
	CHECK_STR(s, "240b:10:1234:5600:0:6a48:1234:56");
	CHECK(res.has_br);
	fmt6(res.br, s);
	CHECK_STR(s, "2404:9200:225:100::64");
	CHECK_EQ(res.n_fmrs, 1);
	mape_result_free(&res);

	CHECK_EQ(mape_compute(&rs, &pfx, MAPE_IID_DRAFT03, &res, err), 0);
	fmt6(res.ce, s);
	CHECK_STR(s, "240b:10:1234:5600:6a:4812:3400:5600");
	mape_result_free(&res);
	mape_ruleset_free(&rs);
}

/* Two containers = two domains, each keeping its own BR; a rule without
 * option 93 takes offset 6 (RFC 7597 s5.1) and its EA-derived PSID length. */
TEST(dhcpv6_two_containers)
{
	struct mape_ruleset rs;
	struct mape_prefix pfx;
	struct mape_result res;
	char err[MAPE_ERRLEN], s[64];
	struct buf b = { .n = 0 };
	size_t c;

	opt(&b, 23, "20010db8000000000000000000000053");	/* DNS servers: skipped */
	c = begin(&b, 94);
	raw(&b, "005900140119 0f 6a480000 1f 240b0010 005d0004 04000000");
	opt(&b, 90, "24049200022501000000000000000064");
	end(&b, c);
	c = begin(&b, 94);
	opt(&b, 91, "abcdef");				/* unknown inside: skipped */
	opt(&b, 89, "00 10 18 c0000200 28 20010db800");	/* RFC 7597 A.1, no 93 */
	opt(&b, 90, "20010db8ffff00000000000000000001");
	opt(&b, 90, "20010db8ffff00000000000000000002");	/* a second BR: first wins */
	end(&b, c);

	CHECK_EQ(parse(&b, &rs, err), 0);
	CHECK_STR(err, "");
	CHECK_EQ(rs.n, 2);
	if (rs.n != 2)
		return;
	fmt6(rs.br, s);
	CHECK_STR(s, "2404:9200:225:100::64");
	fmt6(rs.rules[1].br, s);
	CHECK_STR(s, "2001:db8:ffff::1");
	CHECK_EQ(rs.rules[1].flags, MAPE_RULE_HAS_BR);
	CHECK_EQ(rs.rules[1].psid_offset, 6);
	CHECK_EQ(rs.rules[1].psid_len, 8);

	CHECK_EQ(mape_parse_prefix6("2001:db8:12:3400::/56", &pfx, err), 0);
	CHECK_EQ(mape_compute(&rs, &pfx, -1, &res, err), 0);
	mape_fmt_ip4(res.ipv4, s, sizeof(s));
	CHECK_STR(s, "192.0.2.18");
	CHECK_EQ(res.ps.psid, 0x34);
	fmt6(res.ce, s);
	CHECK_STR(s, "2001:db8:12:3400:0:c000:212:34");
	fmt6(res.br, s);
	CHECK_STR(s, "2001:db8:ffff::1");
	CHECK_EQ(res.n_fmrs, 1);	/* only the first domain's rule has F set */
	mape_result_free(&res);
	mape_ruleset_free(&rs);
}

/* EA length 0: the full IPv4 address and the PSID come from the rule and option 93. */
TEST(dhcpv6_explicit_psid)
{
	struct mape_ruleset rs;
	struct mape_prefix pfx;
	struct mape_result res;
	char err[MAPE_ERRLEN], s[64];
	struct buf b = { .n = 0 };
	size_t c, r;

	c = begin(&b, 94);
	r = begin(&b, 89);
	raw(&b, "00 00 20 c0000201 40 20010db800010002");
	opt(&b, 1, "0000");			/* unknown sub-option: skipped */
	opt(&b, 93, "06 08 3400");		/* PSID 0x34, left-aligned */
	end(&b, r);
	opt(&b, 90, "20010db8ffff00000000000000000001");
	end(&b, c);

	CHECK_EQ(parse(&b, &rs, err), 0);
	CHECK_STR(err, "");
	CHECK_EQ(rs.n, 1);
	if (rs.n != 1)
		return;
	CHECK_EQ(rs.rules[0].psid, 0x34);
	CHECK_EQ(rs.rules[0].psid_len, 8);
	CHECK_EQ(rs.rules[0].psid_offset, 6);
	CHECK_EQ(rs.rules[0].flags, MAPE_RULE_HAS_BR);
	CHECK_EQ(mape_parse_prefix6("2001:db8:1:2::/64", &pfx, err), 0);
	CHECK_EQ(mape_compute(&rs, &pfx, -1, &res, err), 0);
	mape_fmt_ip4(res.ipv4, s, sizeof(s));
	CHECK_STR(s, "192.0.2.1");
	CHECK_EQ(res.ps.psid, 0x34);
	CHECK_EQ(res.ps.len, 8);
	fmt6(res.ce, s);
	CHECK_STR(s, "2001:db8:1:2:0:c000:201:34");
	mape_result_free(&res);
	mape_ruleset_free(&rs);

	/* PSID length 16: the whole field is the PSID. */
	b.n = 0;
	r = begin(&b, 89);
	raw(&b, "00 00 20 c0000201 20 20010db8");
	opt(&b, 93, "00 10 beef");
	end(&b, r);
	CHECK_EQ(parse(&b, &rs, err), 0);
	CHECK_EQ(rs.rules[0].psid, 0xbeef);
	CHECK_EQ(rs.rules[0].psid_len, 16);
	CHECK_EQ(rs.rules[0].psid_offset, 0);
	CHECK_EQ(rs.has_br, 0);
	mape_ruleset_free(&rs);

	/* PSID-len 0 in 93 means "not given": the EA bits decide (here: none). */
	b.n = 0;
	r = begin(&b, 89);
	raw(&b, "00 00 20 c0000201 20 20010db8");
	opt(&b, 93, "05 00 0000");
	end(&b, r);
	CHECK_EQ(parse(&b, &rs, err), 0);
	CHECK_EQ(rs.rules[0].psid_len, 0);
	CHECK_EQ(rs.rules[0].psid_offset, 5);
	mape_ruleset_free(&rs);

	/* A PSID-len equal to the EA-derived one is fine. */
	b.n = 0;
	r = begin(&b, 89);
	raw(&b, "01 19 0f 6a480000 1f 240b0010");
	opt(&b, 93, "04 08 0000");
	end(&b, r);
	CHECK_EQ(parse(&b, &rs, err), 0);
	CHECK_EQ(rs.rules[0].psid_len, 8);
	CHECK_EQ(rs.rules[0].flags, MAPE_RULE_FMR);
	mape_ruleset_free(&rs);
}

/* Bare 89/90 at top level form one implicit domain; containers keep theirs. */
TEST(dhcpv6_bare_options)
{
	struct mape_ruleset rs;
	char err[MAPE_ERRLEN], s[64];
	struct buf b = { .n = 0 };
	size_t c;

	c = begin(&b, 94);
	opt(&b, 89, "00 10 18 c0000200 28 20010db800");
	end(&b, c);
	opt(&b, 89, "01 19 0f 6a480000 1f 240b0010");
	opt(&b, 90, "24049200022501000000000000000064");
	CHECK_EQ(parse(&b, &rs, err), 0);
	CHECK_EQ(rs.n, 2);
	if (rs.n != 2)
		return;
	/* Bare rules come first; the container's rule has no BR of its own. */
	CHECK_EQ(rs.rules[0].ip6_len, 31);
	CHECK_EQ(rs.rules[0].flags, MAPE_RULE_FMR | MAPE_RULE_HAS_BR);
	CHECK_EQ(rs.rules[1].ip6_len, 40);
	CHECK_EQ(rs.rules[1].flags, 0);
	CHECK_EQ(rs.rules[0].psid_offset, 6);
	fmt6(rs.br, s);
	CHECK_STR(s, "2404:9200:225:100::64");
	mape_ruleset_free(&rs);

	/* A bare BR next to containers is the domain-wide default. */
	b.n = 0;
	opt(&b, 90, "24049200022501000000000000000064");
	c = begin(&b, 94);
	opt(&b, 89, "00 10 18 c0000200 28 20010db800");
	end(&b, c);
	CHECK_EQ(parse(&b, &rs, err), 0);
	CHECK_EQ(rs.n, 1);
	CHECK(rs.has_br);
	CHECK_EQ(rs.rules[0].flags, 0);
	mape_ruleset_free(&rs);
}

/* One bad option body per case, each inside a container after a good rule. */
TEST(dhcpv6_errors)
{
	static const struct {
		unsigned int code;
		const char *data, *sub93, *msg;
	} cases[] = {
		{ 89, "00 10 18 c0000200", NULL,
		  "DHCPv6 rule 2 (option 89 at offset 20): length 7 is shorter than its fixed fields" },
		{ 89, "00 10 18 c0000200 81", NULL,
		  "DHCPv6 rule 2: prefix6-len 129: must be 0..128" },
		{ 89, "00 10 21 c0000200 28 20010db800", NULL,
		  "DHCPv6 rule 2: prefix4-len 33: must be 0..32" },
		{ 89, "00 10 18 c0000200 40 20010db8", NULL,
		  "DHCPv6 rule 2: prefix6-len 64 needs 8 prefix bytes, option 89 length 12 leaves 4" },
		{ 89, "00 10 18 c0000200 41 20010db80000000000", NULL,
		  "DHCPv6 rule 2: IPv6 prefix length 65: must be 0..64" },
		{ 89, "00 31 18 c0000200 08 20", NULL, "DHCPv6 rule 2: EA-bits length 49" },
		{ 89, "00 10 18 c0000200 28 20010db800", "06 08 00",
		  "option 93 (S46_PORTPARAMS) length 3: must be 4" },
		{ 89, "00 10 18 c0000200 28 20010db800", "06 11 0000",
		  "option 93 PSID-len 17: must be 0..16" },
		{ 89, "00 10 18 c0000200 28 20010db800", "06 06 0000",
		  "DHCPv6 rule 2: PSID length 6 contradicts EA-bits length 16" },
		{ 89, "00 10 18 c0000200 28 20010db800", "06 08 3400",
		  "DHCPv6 rule 2: psid=52 given but the EA bits already carry the PSID" },
		{ 89, "00 00 20 c0000201 20 20010db8", "06 08 3480",
		  "option 93 PSID 0x3480 has bits set beyond PSID-len 8" },
		{ 89, "00 00 20 c0000201 20 20010db8", "0c 08 3400",
		  "DHCPv6 rule 2: PSID offset 12 + PSID length 8 = 20: must be <= 16" },
		{ 89, "00 00 18 c0000200 20 20010db8", "06 08 3400",
		  "PSID length 8 needs a full IPv4 address" },
		{ 90, "2001", NULL, "option 90 (S46_BR) at offset 20: length 2: must be 16" },
	};
	struct mape_ruleset rs;
	char err[MAPE_ERRLEN];
	struct buf b;
	size_t c, r;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		b.n = 0;
		c = begin(&b, 94);
		opt(&b, 89, "01 19 0f 6a480000 1f 240b0010");
		r = begin(&b, cases[i].code);
		raw(&b, cases[i].data);
		if (cases[i].sub93)
			opt(&b, 93, cases[i].sub93);
		end(&b, r);
		end(&b, c);
		CHECK_EQ(parse(&b, &rs, err), -EINVAL);
		CHECK_HAS(err, cases[i].msg);
		CHECK_EQ(rs.n, 0);
		mape_ruleset_free(&rs);
	}

	/* 93 twice */
	b.n = 0;
	r = begin(&b, 89);
	raw(&b, "00 10 18 c0000200 28 20010db800");
	opt(&b, 93, "06 00 0000");
	opt(&b, 93, "06 00 0000");
	end(&b, r);
	CHECK_EQ(parse(&b, &rs, err), -EINVAL);
	CHECK_HAS(err, "DHCPv6 rule 1: option 93 (S46_PORTPARAMS) given twice");
	mape_ruleset_free(&rs);

	/* A container with only a BR */
	b.n = 0;
	opt(&b, 94, "005a0010 24049200022501000000000000000064");
	CHECK_EQ(parse(&b, &rs, err), -EINVAL);
	CHECK_HAS(err, "option 94 (S46_CONT_MAPE) at offset 0 holds no S46_RULE (89)");
	CHECK_EQ(rs.has_br, 0);
	mape_ruleset_free(&rs);

	/* An empty container after a good one */
	b.n = 0;
	opt(&b, 94, "0059000d 0010 18 c0000200 28 20010db800");
	opt(&b, 94, "");
	CHECK_EQ(parse(&b, &rs, err), -EINVAL);
	CHECK_HAS(err, "option 94 (S46_CONT_MAPE) at offset 21 holds no S46_RULE (89)");
	CHECK_EQ(rs.n, 0);
	mape_ruleset_free(&rs);

	/* Only options that are not MAP-E, or a lone bare BR */
	b.n = 0;
	opt(&b, 23, "20010db8000000000000000000000053");
	opt(&b, 95, "");
	CHECK_EQ(parse(&b, &rs, err), -EINVAL);
	CHECK_HAS(err, "no S46_RULE (89)");
	mape_ruleset_free(&rs);
	b.n = 0;
	opt(&b, 90, "24049200022501000000000000000064");
	CHECK_EQ(parse(&b, &rs, err), -EINVAL);
	CHECK_HAS(err, "no S46_RULE (89)");
	CHECK_EQ(rs.has_br, 0);
	mape_ruleset_free(&rs);
}

/* An error leaves a set that already holds rules as it was. */
TEST(dhcpv6_error_keeps_set)
{
	struct mape_ruleset rs;
	struct mape_rule r;
	char err[MAPE_ERRLEN];

	mape_ruleset_init(&rs);
	CHECK_EQ(mape_parse_rule("type=map,ipv6prefix=2001:db8::/40,"
				 "ipv4prefix=192.0.2.0/24,ealen=16", &r, err), 0);
	CHECK_EQ(mape_ruleset_add(&rs, &r, err), 0);
	CHECK_EQ(mape_parse_dhcpv6_hex("005e0016 0059000d 0010 18 c0000200 28 20010db800 "
				       "005a0001 00", &rs, err), -EINVAL);
	CHECK_HAS(err, "length 1: must be 16");
	CHECK_EQ(rs.n, 1);
	CHECK_EQ(rs.has_br, 0);
	mape_ruleset_free(&rs);
}

/* Every byte of the example set to a few odd values: never a crash, and an
 * error always comes with a message and leaves the set empty. */
TEST(dhcpv6_mutations)
{
	static const __u8 vals[] = { 0x00, 0x01, 0x7f, 0x80, 0xff };
	struct mape_ruleset rs;
	char err[MAPE_ERRLEN];
	struct buf b = { .n = 0 };

	raw(&b, "005e002c 0059001401190f6a4800001f240b0010 005d0004 04000000 "
		"005a0010 24049200022501000000000000000064");
	for (size_t i = 0; i < b.n; i++) {
		for (size_t v = 0; v < sizeof(vals); v++) {
			__u8 *copy = malloc(b.n);
			int ret;

			memcpy(copy, b.b, b.n);
			copy[i] = vals[v];
			mape_ruleset_init(&rs);
			err[0] = 0;
			ret = mape_parse_dhcpv6(copy, b.n, &rs, err);
			CHECK(ret == 0 ? rs.n == 1 : err[0] != 0 && rs.n == 0);
			mape_ruleset_free(&rs);
			free(copy);
		}
	}
}
