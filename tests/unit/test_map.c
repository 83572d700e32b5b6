// SPDX-License-Identifier: MIT
/*
 * Rule math: RFC 7597 Appendix A, the FD.io CSIT vector, the synthetic
 * v6plus vector (MAPE-FACTS.md), invariants over every built-in preset
 * rule, and every validation error of the rule string.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include "test.h"
#include "mape.h"
#include "preset.h"

static void ip6(const char *s, __u8 *out)
{
	CHECK(inet_pton(AF_INET6, s, out) == 1);
}

static const char *fmt6(const __u8 *a)
{
	static char buf[4][64];
	static int i;

	i = (i + 1) % 4;
	mape_fmt_ip6(a, buf[i], sizeof(buf[i]));
	return buf[i];
}

/* Compute from one rule string; returns 0 and fills res. */
static int calc1(const char *rule, const char *prefix, int iid, struct mape_result *res)
{
	struct mape_ruleset rs;
	struct mape_prefix pfx;
	struct mape_rule r;
	char err[MAPE_ERRLEN] = "";
	int ret;

	mape_ruleset_init(&rs);
	ret = mape_parse_rule(rule, &r, err);
	if (!ret)
		ret = mape_ruleset_add(&rs, &r, err);
	if (!ret)
		ret = mape_parse_prefix6(prefix, &pfx, err);
	if (!ret)
		ret = mape_compute(&rs, &pfx, iid, res, err);
	mape_ruleset_free(&rs);
	return ret;
}

TEST(rfc7597_example1)
{
	struct mape_result res;
	__u8 want[16];

	CHECK_EQ(calc1("ipv6prefix=2001:db8::,prefix6len=40,ipv4prefix=192.0.2.0,prefix4len=24,"
		       "ealen=16,offset=6", "2001:db8:0012:3400::/56", -1, &res), 0);
	CHECK_EQ(res.ipv4, 0xc0000212);
	CHECK_EQ(res.ipv4_len, 32);
	CHECK_EQ(res.ps.psid, 0x34);
	CHECK_EQ(res.ps.len, 8);
	CHECK_EQ(mape_ps_count(&res.ps), 252);
	CHECK_EQ(mape_ps_blocks(&res.ps), 63);
	CHECK_EQ(mape_ps_port(&res.ps, 0), 1232);
	CHECK_EQ(mape_ps_port(&res.ps, 3), 1235);
	CHECK_EQ(mape_ps_port(&res.ps, 4), 2256);
	CHECK_EQ(mape_ps_port(&res.ps, 251), 64723);
	CHECK_EQ(mape_ps_index(&res.ps, 64720), 248);
	CHECK_EQ(mape_ps_index(&res.ps, 1236), -1);
	CHECK_EQ(mape_ps_index(&res.ps, 208), -1);	/* A = 0 block: never used */
	ip6("2001:db8:12:3400:0:c000:212:34", want);
	CHECK_STR(fmt6(res.ce), fmt6(want));
	mape_result_free(&res);
}

TEST(rfc7597_example2_br_and_fmr)
{
	struct mape_rule r;
	char err[MAPE_ERRLEN];
	__u8 out[16], want[16];

	CHECK_EQ(mape_parse_rule("ipv6prefix=2001:db8::,prefix6len=40,ipv4prefix=192.0.2.0,"
				 "prefix4len=24,ealen=16,offset=6", &r, err), 0);
	CHECK(mape_rule_match4(&r, 0xc0000212));
	mape_peer_addr(out, &r, 0xc0000212, 1232, MAPE_IID_RFC7597);
	ip6("2001:db8:12:3400:0:c000:212:34", want);
	CHECK_STR(fmt6(out), fmt6(want));
}

TEST(csit_vector)
{
	struct mape_rule r;
	char err[MAPE_ERRLEN];
	__u8 out[16], want[16];

	CHECK_EQ(mape_parse_rule("ipv6prefix=2001:db8::,prefix6len=32,ipv4prefix=20.0.0.0,"
				 "prefix4len=8,ealen=32,offset=6,psidlen=8", &r, err), 0);
	CHECK_EQ(r.psid_len, 8);
	mape_peer_addr(out, &r, (20u << 24) | (169 << 16) | (201 << 8) | 219, 1232,
		       MAPE_IID_RFC7597);
	ip6("2001:db8:a9c9:db34:0:14a9:c9db:34", want);
	CHECK_STR(fmt6(out), fmt6(want));
}

TEST(v6plus_vector_draft03)
{
	struct mape_result res;
	__u8 want[16];

	CHECK_EQ(calc1("ipv6prefix=240b:10::,prefix6len=31,ipv4prefix=106.72.0.0,prefix4len=15,"
		       "ealen=25,offset=4", "240b:10:1234:5600::/56", MAPE_IID_DRAFT03, &res), 0);
	CHECK_EQ(res.ipv4, (106u << 24) | (72 << 16) | (18 << 8) | 52);
	CHECK_EQ(res.ps.psid, 0x56);
	CHECK_EQ(mape_ps_count(&res.ps), 240);
	CHECK_EQ(mape_ps_port(&res.ps, 0), 5472);
	CHECK_EQ(mape_ps_port(&res.ps, 15), 5487);
	CHECK_EQ(mape_ps_port(&res.ps, 16), 9568);
	CHECK_EQ(mape_ps_port(&res.ps, 239), 62831);
	ip6("240b:10:1234:5600:6a:4812:3400:5600", want);
	CHECK_STR(fmt6(res.ce), fmt6(want));
	/* The reverse direction gives the same address from IPv4 + port. */
	mape_peer_addr(want, &res.bmr, res.ipv4, 62831, MAPE_IID_DRAFT03);
	CHECK_STR(fmt6(res.ce), fmt6(want));
	mape_result_free(&res);
}

TEST(ra_only_slash64_keeps_subnet_bits)
{
	struct mape_result res;
	__u8 want[16];

	CHECK_EQ(calc1("ipv6prefix=240b:10::,prefix6len=31,ipv4prefix=106.72.0.0,prefix4len=15,"
		       "ealen=25,offset=4", "240b:10:1234:56ab::/64", MAPE_IID_DRAFT03, &res), 0);
	CHECK_EQ(res.ps.psid, 0x56);
	ip6("240b:10:1234:56ab:6a:4812:3400:5600", want);
	CHECK_STR(fmt6(res.ce), fmt6(want));
	mape_result_free(&res);
}

/* psid=0 without psidlen on a rule whose EA bits carry the PSID: ignored (as
 * OpenWrt ignores a psid without psidlen), the PSID is the EA bits'; with
 * psidlen, or nonzero, it is refused. */
TEST(psid0_without_psidlen_ignored)
{
	struct mape_result res;
	struct mape_rule r;
	char err[MAPE_ERRLEN];

	CHECK_EQ(calc1("ipv6prefix=2001:db8::,prefix6len=40,ipv4prefix=192.0.2.0,prefix4len=24,"
		       "ealen=16,offset=6,psid=0", "2001:db8:12:3400::/56", -1, &res), 0);
	CHECK_EQ(res.ps.psid, 0x34);
	mape_result_free(&res);
	CHECK_EQ(mape_parse_rule("ipv6prefix=2001:db8::/40,ipv4prefix=192.0.2.0/24,ealen=16,"
				 "psidlen=8,psid=0", &r, err), -EINVAL);
	CHECK_HAS(err, "already carry");
	CHECK_EQ(mape_parse_rule("ipv6prefix=2001:db8::/40,ipv4prefix=192.0.2.0/24,ealen=16,"
				 "psid=1", &r, err), -EINVAL);
}

TEST(ea0_explicit_psid)
{
	struct mape_result res;
	__u8 want[16];

	CHECK_EQ(calc1("ipv6prefix=2001:db8:1::,prefix6len=48,ipv4prefix=192.0.2.7,prefix4len=32,"
		       "ealen=0,psidlen=4,psid=3,offset=0", "2001:db8:1:ff00::/56", -1, &res), 0);
	CHECK_EQ(res.ipv4, 0xc0000207);
	CHECK_EQ(res.ps.psid, 3);
	CHECK_EQ(mape_ps_count(&res.ps), 4096);
	CHECK_EQ(mape_ps_port(&res.ps, 0), 3 << 12);
	ip6("2001:db8:1:ff00:0:c000:207:3", want);
	CHECK_STR(fmt6(res.ce), fmt6(want));
	mape_result_free(&res);
}

TEST(offset0_psid0_skips_port0)
{
	struct mape_portset ps = { .psid = 0, .offset = 0, .len = 4 };

	CHECK_EQ(mape_ps_count(&ps), 4095);
	CHECK_EQ(mape_ps_port(&ps, 0), 1);
	CHECK_EQ(mape_ps_index(&ps, 0), -1);
	CHECK_EQ(mape_ps_index(&ps, 4095), 4094);
	CHECK_EQ(mape_ps_index(&ps, 4096), -1);
}

TEST(full_address_no_sharing)
{
	struct mape_result res;

	CHECK_EQ(calc1("ipv6prefix=2001:db8::,prefix6len=40,ipv4prefix=192.0.2.0,prefix4len=24,"
		       "ealen=8", "2001:db8:0012:3400::/56", -1, &res), 0);
	CHECK_EQ(res.ipv4, 0xc0000212);
	CHECK_EQ(res.ps.len, 0);
	CHECK_EQ(mape_ps_count(&res.ps), 65535);
	CHECK_EQ(mape_ps_index(&res.ps, 80), 79);
	mape_result_free(&res);
}

TEST(ipv4_prefix_ce)
{
	struct mape_result res;

	/* r + o = 28 < 32: the CE gets 192.0.2.48/28 */
	CHECK_EQ(calc1("ipv6prefix=2001:db8::,prefix6len=40,ipv4prefix=192.0.2.0,prefix4len=24,"
		       "ealen=4", "2001:db8:0030::/44", -1, &res), 0);
	CHECK_EQ(res.ipv4_len, 28);
	CHECK_EQ(res.ipv4, 0xc0000230);
	mape_result_free(&res);
}

/* Invariants that must hold for any prefix under any preset rule. */
static void check_rule_invariants(const struct mape_rule *r, const char *svc, unsigned int seed)
{
	struct mape_ruleset rs;
	struct mape_prefix pfx;
	struct mape_result res;
	char err[MAPE_ERRLEN];
	__u8 back[16];
	__u64 ea = ((__u64)rand_r(&seed) << 31 | rand_r(&seed)) & ((1ULL << r->ea_len) - 1);
	__u64 hi = mape_hi64(r->ip6) | (ea << (64 - r->ip6_len - r->ea_len));

	mape_ruleset_init(&rs);
	CHECK_EQ(mape_ruleset_add(&rs, r, err), 0);
	memset(&pfx, 0, sizeof(pfx));
	mape_put_hi64(pfx.addr, hi);
	pfx.len = 56;
	CHECK_EQ(r->ip6_len + r->ea_len, 56);
	rs.iid = MAPE_IID_DRAFT03;
	if (mape_compute(&rs, &pfx, -1, &res, err)) {
		test_fail(__FILE__, __LINE__, "%s: %s", svc, err);
		goto out;
	}
	CHECK(mape_rule_match4(r, res.ipv4));
	CHECK_EQ(res.ipv4_len, 32);
	CHECK_EQ(mape_ea_bits(r, res.ce), ea);
	CHECK_EQ(mape_ps_count(&res.ps),
		 ((1u << r->psid_offset) - 1) << (16 - r->psid_offset - r->psid_len));
	for (__u32 i = 0; i < mape_ps_count(&res.ps); i++) {
		__u16 port = mape_ps_port(&res.ps, i);

		if (mape_ps_index(&res.ps, port) != (int)i ||
		    mape_port_psid(r, port) != res.ps.psid || port < (1u << (16 - r->psid_offset))) {
			test_fail(__FILE__, __LINE__, "%s: index %u port %u breaks the set", svc,
				  i, port);
			break;
		}
		if (i % 61 == 0) {
			mape_peer_addr(back, r, res.ipv4, port, MAPE_IID_DRAFT03);
			if (memcmp(back, res.ce, 16))
				test_fail(__FILE__, __LINE__, "%s: reverse of port %u is %s not %s",
					  svc, port, fmt6(back), fmt6(res.ce));
		}
	}
	mape_result_free(&res);
out:
	mape_ruleset_free(&rs);
}

TEST(preset_invariants)
{
	unsigned int checked = 0;

	for (unsigned int s = 0; s < mape_n_preset_services; s++) {
		const struct mape_preset_service *svc = &mape_preset_services[s];

		CHECK(svc->n_rules > 0);
		for (unsigned int i = 0; i < svc->n_rules; i++) {
			check_rule_invariants(&svc->rules[i], svc->name, i * 7919 + s);
			checked++;
		}
	}
	CHECK(checked > 700);
}

TEST(preset_auto_v6plus)
{
	struct mape_ruleset rs;
	struct mape_prefix pfx;
	struct mape_result res;
	char err[MAPE_ERRLEN];

	mape_ruleset_init(&rs);
	CHECK_EQ(mape_parse_prefix6("240b:10:1234:5600::/56", &pfx, err), 0);
	CHECK_EQ(mape_preset_load("auto", &pfx, &rs, err), 0);
	CHECK_STR(rs.service, "v6plus");
	CHECK_EQ(mape_compute(&rs, &pfx, -1, &res, err), 0);
	CHECK_EQ(res.iid, MAPE_IID_DRAFT03);
	CHECK_EQ(res.has_br, 1);
	CHECK_EQ(res.n_fmrs, 0);
	mape_result_free(&res);
	mape_ruleset_free(&rs);
}

TEST(preset_errors)
{
	struct mape_ruleset rs;
	struct mape_prefix pfx;
	char err[MAPE_ERRLEN];

	mape_ruleset_init(&rs);
	CHECK_EQ(mape_parse_prefix6("2001:db8:12:3400::/56", &pfx, err), 0);
	CHECK(mape_preset_load("auto", &pfx, &rs, err) < 0);
	CHECK_HAS(err, "2001:db8:12:3400::/56");
	CHECK(mape_preset_load("v6plus", &pfx, &rs, err) < 0);
	CHECK_HAS(err, "v6plus");
	CHECK(mape_preset_load("nosuch", &pfx, &rs, err) < 0);
	CHECK_HAS(err, "nosuch");
	mape_ruleset_free(&rs);
}

/* Every validation error names the bad value. */
TEST(rule_errors)
{
	static const struct {
		const char *rule, *needle;
	} cases[] = {
		{ "ipv6prefix=2001:db8::,prefix6len=16,ipv4prefix=192.0.2.0,prefix4len=24,ealen=49", "49" },
		{ "ipv6prefix=2001:db8::,prefix6len=40,ipv4prefix=192.0.2.0,prefix4len=24,ealen=19,offset=6", "offset 6 + PSID length 11" },
		{ "ipv6prefix=2001:db8::,prefix6len=40,ipv4prefix=192.0.2.0,prefix4len=24,ealen=16,psidlen=6", "PSID length 6" },
		{ "ipv6prefix=2001:db8::,prefix6len=40,ipv4prefix=192.0.2.0,prefix4len=24,ealen=16,psid=3", "psid=3" },
		{ "ipv6prefix=2001:db8::,prefix6len=50,ipv4prefix=192.0.2.0,prefix4len=24,ealen=16", "50" },
		{ "ipv6prefix=2001:db8::,prefix6len=40,ipv4prefix=192.0.2.0,prefix4len=24,ealen=16,bogus=1", "'bogus'" },
		{ "ipv6prefix=2001:zz8::,prefix6len=40,ipv4prefix=192.0.2.0,prefix4len=24,ealen=16", "2001:zz8::" },
		{ "ipv6prefix=2001:db8::,prefix6len=40,ipv4prefix=192.0.2.300,prefix4len=24,ealen=16", "192.0.2.300" },
		{ "ipv6prefix=2001:db8::,prefix6len=40,ipv4prefix=192.0.2.0,prefix4len=33,ealen=16", "prefix4len=33" },
		{ "ipv6prefix=2001:db8::,prefix6len=40,ipv4prefix=192.0.2.0,prefix4len=24", "ealen" },
		{ "ipv6prefix=2001:db8::,prefix6len=40,ipv4prefix=192.0.2.0,prefix4len=24,ealen=x", "ealen=x" },
		{ "ipv6prefix=2001:db8::,prefix6len=40,ipv4prefix=192.0.2.0,prefix4len=24,ealen=16,offset=16", "offset=16" },
		{ "ipv6prefix=2001:db8::,prefix6len=40,ipv4prefix=192.0.2.0,prefix4len=32,ealen=0,psidlen=4", "PSID length 4" },
		{ "ipv6prefix=2001:db8::,prefix6len=40,ipv4prefix=192.0.2.0,prefix4len=32,ealen=0,psidlen=4,psid=16", "PSID 16" },
		{ "ipv6prefix=2001:db8::,prefix6len=40,ipv4prefix=192.0.2.0,prefix4len=24,ealen=16,ealen=16", "twice" },
		{ "ipv6prefix=2001:db8::,prefix6len=40,ipv4prefix=192.0.2.0,prefix4len=24,ealen=16,br=1::x", "1::x" },
		{ "type=map-t,ipv6prefix=2001:db8::,prefix6len=40,ipv4prefix=192.0.2.0,prefix4len=24,ealen=16", "map-t" },
		{ "ipv6prefix=2001:db8::,prefix6len=40,ipv4prefix=192.0.0.0,prefix4len=8,ealen=26", "26" },
	};
	struct mape_rule r;
	char err[MAPE_ERRLEN];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err[0] = 0;
		if (mape_parse_rule(cases[i].rule, &r, err) == 0) {
			test_fail(__FILE__, __LINE__, "accepted bad rule %s", cases[i].rule);
			continue;
		}
		CHECK_HAS(err, cases[i].needle);
		CHECK(strchr(err, '\n') == NULL);
	}
}

TEST(compute_errors)
{
	struct mape_result res;

	/* prefix outside the rule */
	CHECK(calc1("ipv6prefix=2001:db8::,prefix6len=40,ipv4prefix=192.0.2.0,prefix4len=24,ealen=16",
		    "2001:db9:12:3400::/56", -1, &res) < 0);
	/* prefix shorter than rule + EA */
	CHECK(calc1("ipv6prefix=2001:db8::,prefix6len=40,ipv4prefix=192.0.2.0,prefix4len=24,ealen=16",
		    "2001:db8:12::/48", -1, &res) < 0);
	/* longer than /64 */
	CHECK(calc1("ipv6prefix=2001:db8::,prefix6len=40,ipv4prefix=192.0.2.0,prefix4len=24,ealen=16",
		    "2001:db8:12:3400::/80", -1, &res) < 0);
}

TEST(bmr_is_longest_match_others_fmr)
{
	struct mape_ruleset rs;
	struct mape_prefix pfx;
	struct mape_rule r;
	char err[MAPE_ERRLEN];

	mape_ruleset_init(&rs);
	CHECK_EQ(mape_parse_rule("ipv6prefix=2001:db8::,prefix6len=32,ipv4prefix=198.51.100.0,"
				 "prefix4len=24,ealen=16", &r, err), 0);
	CHECK_EQ(mape_ruleset_add(&rs, &r, err), 0);
	CHECK_EQ(mape_parse_rule("ipv6prefix=2001:db8:ff00::,prefix6len=40,ipv4prefix=192.0.2.0,"
				 "prefix4len=24,ealen=16", &r, err), 0);
	CHECK_EQ(mape_ruleset_add(&rs, &r, err), 0);
	CHECK_EQ(mape_parse_prefix6("2001:db8:ff12:3400::/56", &pfx, err), 0);
	CHECK_EQ(mape_find_bmr(&rs, &pfx), 1);
	CHECK_EQ(mape_parse_prefix6("2001:db8:0012::/48", &pfx, err), 0);
	CHECK_EQ(mape_find_bmr(&rs, &pfx), 0);
	mape_ruleset_free(&rs);
}
