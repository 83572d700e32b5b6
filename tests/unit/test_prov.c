// SPDX-License-Identifier: MIT
/* test_prov.c - provisioning JSON (user/prov.c): HB46PP map_e, OCN basicMapRules, errors. */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>
#include "mape.h"
#include "test.h"

/* JSON written with ' for " to keep the samples readable. */
static int parse_sq(const char *sq, struct mape_ruleset *rs, char *err)
{
	char *json = strdup(sq);
	int ret;

	for (char *p = json; *p; p++)
		if (*p == '\'')
			*p = '"';
	mape_ruleset_init(rs);
	err[0] = 0;
	ret = mape_parse_provisioning(json, rs, err);
	free(json);
	return ret;
}

static void fmt6(const __u8 a[16], char *buf)
{
	mape_fmt_ip6(a, buf, 64);
}

/* Compute for prefix s; res is freed by the caller. */
static int compute(const struct mape_ruleset *rs, const char *s, int iid, struct mape_result *res)
{
	struct mape_prefix pfx;
	char err[MAPE_ERRLEN];

	CHECK_EQ(mape_parse_prefix6(s, &pfx, err), 0);
	return mape_compute(rs, &pfx, iid, res, err);
}

/* The example of the v6mig-prov spec s3.4, envelope and all. */
static const char hb46pp_spec[] =
	"{ 'enabler_name': 'A VNE', 'service_name': 'Highspeed 4over6', 'isp_name': 'ISP-A',"
	"  'ttl': 86400, 'auth': 'ok', 'order': [ '464xlat', 'map_e', 'dslite' ],"
	"  'token': '640756965820d3b9025b6941f9590af6802830ba58663fe8f043dc92b576f17a',"
	"  'map_e': { 'version': 0, 'mesh': true, 'br': '2001:db8:1::1',"
	"    'rules': [ { 'ipv6': '2001:db8:1:2000::/52', 'ipv4': '203.0.113.0/24',"
	"                 'ea_length': 12, 'psid_offset': 4 } ] },"
	"  'dslite': { 'aftr': 'aftr.example.net' },"
	"  'lw4o6': { 'lwaftr': 'lwaftr.example.net', 'ipv6': '2001:db8:3:100::/56',"
	"             'ipv4': '203.0.113.16', 'psid': 3, 'psid_length': 8, 'psid_offset': 6 },"
	"  'map_t': { 'dmr': '2001:db8:5::/64', 'rules': [ { 'ipv6': '2001:db8:5:100::/56',"
	"             'ipv4': '203.0.113.32/28', 'ea_length': 8, 'psid_offset': 4 } ] },"
	"  '464xlat': { 'nat64prefix': '2001:db8:6::/96' },"
	"  'ipip': [ { 'ipv6_local': '2001:db8:7:100::7', 'ipv6_remote': '2001:db8:7::1',"
	"              'ipv4': '203.0.113.0/29' } ] }";

TEST(prov_hb46pp_spec_example)
{
	struct mape_ruleset rs;
	struct mape_result res;
	char err[MAPE_ERRLEN], s[64];
	const struct mape_rule *r;

	CHECK_EQ(parse_sq(hb46pp_spec, &rs, err), 0);
	CHECK_STR(err, "");
	CHECK_EQ(rs.n, 1);
	if (rs.n != 1)
		return;
	r = &rs.rules[0];
	CHECK_EQ(rs.iid, MAPE_IID_DRAFT03);
	CHECK(rs.has_br);
	fmt6(rs.br, s);
	CHECK_STR(s, "2001:db8:1::1");
	fmt6(r->ip6, s);
	CHECK_STR(s, "2001:db8:1:2000::");
	CHECK_EQ(r->ip6_len, 52);
	CHECK_EQ(r->ipv4, 0xcb007100);
	CHECK_EQ(r->ip4_len, 24);
	CHECK_EQ(r->ea_len, 12);
	CHECK_EQ(r->psid_offset, 4);
	CHECK_EQ(r->psid_len, 4);
	CHECK_EQ(r->flags, MAPE_RULE_FMR);	/* mesh */

	CHECK_EQ(compute(&rs, "2001:db8:1:2ab5::/64", -1, &res), 0);
	mape_fmt_ip4(res.ipv4, s, sizeof(s));
	CHECK_STR(s, "203.0.113.171");
	CHECK_EQ(res.ps.psid, 5);
	CHECK_EQ(res.n_fmrs, 1);
	fmt6(res.br, s);
	CHECK_STR(s, "2001:db8:1::1");
	mape_result_free(&res);
	mape_ruleset_free(&rs);
}

/* version 0 (and no version at all) = draft-03 IID: the v6plus vector. */
TEST(prov_hb46pp_v0)
{
	static const char *const docs[] = {
		"{ 'map_e': { 'version': 0, 'br': '2404:9200:225:100::64', 'rules': [ { 'ipv6':"
		" '240b:10::/31', 'ipv4': '106.72.0.0/15', 'ea_length': 25, 'psid_offset': 4 } ] } }",
		"{ 'br': '2404:9200:225:100::64', 'mesh': false, 'rules': [ { 'ipv6': '240b:10::/31',"
		" 'ipv4': '106.72.0.0/15', 'ea_length': '25', 'psid_offset': '4' } ] }",
	};
	struct mape_ruleset rs;
	struct mape_result res;
	char err[MAPE_ERRLEN], s[64];

	for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
		CHECK_EQ(parse_sq(docs[i], &rs, err), 0);
		CHECK_STR(err, "");
		CHECK_EQ(rs.iid, MAPE_IID_DRAFT03);
		CHECK_EQ(rs.n, 1);
		CHECK_EQ(compute(&rs, "240b:10:1234:5600::/56", -1, &res), 0);
		mape_fmt_ip4(res.ipv4, s, sizeof(s));
		CHECK_STR(s, "106.72.18.52");
		CHECK_EQ(res.ps.psid, 0x56);
		CHECK_EQ(res.ps.len, 8);
		CHECK_EQ(res.ps.offset, 4);
		CHECK_EQ(res.n_fmrs, 0);
		fmt6(res.ce, s);
		CHECK_STR(s, "240b:10:1234:5600:6a:4812:3400:5600");
		fmt6(res.br, s);
		CHECK_STR(s, "2404:9200:225:100::64");
		mape_result_free(&res);
		mape_ruleset_free(&rs);
	}
}

/* version 1 = RFC 7597 IID; the map_e object at top level; strings for numbers. */
TEST(prov_hb46pp_v1)
{
	struct mape_ruleset rs;
	struct mape_result res;
	char err[MAPE_ERRLEN], s[64];

	CHECK_EQ(parse_sq("{ 'version': '1', 'mesh': 1, 'br': '2404:9200:225:100::64', 'rules': ["
			  " { 'ipv6': '240b:10::/31', 'ipv4': '106.72.0.0/15', 'ea_length': '25',"
			  "   'psid_offset': '4', 'psid_len': 8 },"
			  " { 'ipv6': '240b:12::/31', 'ipv4': '14.8.0.0/15', 'ea_length': 25,"
			  "   'psid_offset': 4, 'psid_length': '8' },"
			  " { 'ipv6': '240b:250::/31', 'ipv4': '14.10.0.0/15', 'ea_length': 25,"
			  "   'psid_offset': 4, 'psid_len': 0 } ] }", &rs, err), 0);
	CHECK_STR(err, "");
	CHECK_EQ(rs.iid, MAPE_IID_RFC7597);
	CHECK_EQ(rs.n, 3);
	for (size_t i = 0; i < rs.n; i++) {
		CHECK_EQ(rs.rules[i].flags, MAPE_RULE_FMR);
		CHECK_EQ(rs.rules[i].psid_len, 8);
	}
	CHECK_EQ(compute(&rs, "240b:10:1234:5600::/56", -1, &res), 0);
	fmt6(res.ce, s);
	CHECK_STR(s, "240b:10:1234:5600:0:6a48:1234:56");
	CHECK_EQ(res.n_fmrs, 3);
	mape_result_free(&res);
	CHECK_EQ(compute(&rs, "240b:10:1234:5600::/56", MAPE_IID_DRAFT03, &res), 0);
	fmt6(res.ce, s);
	CHECK_STR(s, "240b:10:1234:5600:6a:4812:3400:5600");
	mape_result_free(&res);
	mape_ruleset_free(&rs);
}

TEST(prov_mesh_values)
{
	static const struct {
		const char *v;
		int fmr;
	} cases[] = {
		{ "true", 1 }, { "1", 1 }, { "'true'", 1 }, { "'1'", 1 },
		{ "false", 0 }, { "0", 0 }, { "'false'", 0 }, { "'0'", 0 },
	};
	struct mape_ruleset rs;
	char err[MAPE_ERRLEN], doc[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(doc, sizeof(doc), "{ 'map_e': { 'mesh': %s, 'rules': [ { 'ipv6': "
			 "'2001:db8::/40', 'ipv4': '192.0.2.0/24', 'ea_length': 16, "
			 "'psid_offset': 6 } ] } }", cases[i].v);
		CHECK_EQ(parse_sq(doc, &rs, err), 0);
		CHECK_EQ(rs.n, 1);
		if (rs.n == 1)
			CHECK_EQ(rs.rules[0].flags, cases[i].fmr ? MAPE_RULE_FMR : 0);
		CHECK_EQ(rs.has_br, 0);		/* no br: left to --br */
		mape_ruleset_free(&rs);
	}
}

/* The OCN rule API: string values, a BR per rule; extra keys of real replies. */
static const char ocn_doc[] =
	"{ 'hostName': 'ce-192-0-2-1.example', 'basicMapRules': ["
	"  { 'brIpv6Address': '2001:380:a120::9', 'eaBitLength': '23',"
	"    'ipv4Prefix': '153.240.0.0', 'ipv4PrefixLength': '15',"
	"    'ipv6Prefix': '2400:4050::', 'ipv6PrefixLength': '33', 'psIdOffset': '6' },"
	"  { 'brIpv6Address': '2001:380:a120::10', 'eaBitLength': 20,"
	"    'ipv4Prefix': '153.242.0.0', 'ipv4PrefixLength': 18,"
	"    'ipv6Prefix': '2400:4051::', 'ipv6PrefixLength': 36, 'psIdOffset': 6 },"
	"  { 'brIpv6Address': '2001:380:a120::11', 'eaBitLength': '8',"
	"    'ipv4Prefix': '10.248.34.177', 'ipv4PrefixLength': '32',"
	"    'ipv6Prefix': '2400:4152::', 'ipv6PrefixLength': '32', 'psIdOffset': '4',"
	"    'psId': '24', 'hostName': 'ce-10.248.34.177.example' } ] }";

TEST(prov_ocn)
{
	struct mape_ruleset rs;
	struct mape_result res;
	char err[MAPE_ERRLEN], s[64];

	CHECK_EQ(parse_sq(ocn_doc, &rs, err), 0);
	CHECK_STR(err, "");
	CHECK_EQ(rs.iid, MAPE_IID_DRAFT03);
	CHECK_EQ(rs.n, 3);
	if (rs.n != 3)
		return;
	for (size_t i = 0; i < rs.n; i++)
		CHECK_EQ(rs.rules[i].flags, MAPE_RULE_HAS_BR);
	CHECK_EQ(rs.rules[0].psid_len, 6);
	CHECK_EQ(rs.rules[1].ip6_len, 36);
	CHECK_EQ(rs.rules[2].psid_len, 8);
	fmt6(rs.br, s);
	CHECK_STR(s, "2001:380:a120::9");

	CHECK_EQ(compute(&rs, "2400:4050:1234:5600::/56", -1, &res), 0);
	mape_fmt_ip4(res.ipv4, s, sizeof(s));
	CHECK_STR(s, "153.240.72.209");
	CHECK_EQ(res.ps.psid, 0x16);
	CHECK_EQ(res.ps.len, 6);
	CHECK_EQ(res.ps.offset, 6);
	CHECK_EQ(mape_ps_count(&res.ps), 1008);
	fmt6(res.br, s);
	CHECK_STR(s, "2001:380:a120::9");
	CHECK_EQ(res.n_fmrs, 0);
	mape_result_free(&res);

	CHECK_EQ(compute(&rs, "2400:4051:234:5600::/56", -1, &res), 0);
	mape_fmt_ip4(res.ipv4, s, sizeof(s));
	CHECK_STR(s, "153.242.8.209");
	CHECK_EQ(res.ps.psid, 0x16);
	fmt6(res.br, s);
	CHECK_STR(s, "2001:380:a120::10");
	mape_result_free(&res);
	mape_ruleset_free(&rs);
}

#define RULE_OK                                                                                  \
	"{ 'ipv6': '2001:db8::/40', 'ipv4': '192.0.2.0/24', 'ea_length': 16, 'psid_offset': 6 }"
#define OCN_OK                                                                                   \
	"{ 'ipv6Prefix': '2400:4050::', 'ipv6PrefixLength': '33', 'ipv4Prefix': '153.240.0.0',"  \
	" 'ipv4PrefixLength': '15', 'eaBitLength': '23', 'psIdOffset': '6' }"

TEST(prov_errors)
{
	static const struct {
		const char *doc, *msg;
	} cases[] = {
		{ "{ 'br': '::1', 'rules': [ " RULE_OK ", " RULE_OK ", { 'ipv6': '2001:db8::/40',"
		  " 'ipv4': '192.0.2.0/24', 'ea_length': 99, 'psid_offset': 6 } ] }",
		  "provisioning: rules[2].ea_length: 99: must be an integer 0..48" },
		{ "{ 'rules': [ { 'ipv6': '2001:db8::/40', 'ipv4': '192.0.2.0/24', 'ea_length': 'abc',"
		  " 'psid_offset': 6 } ] }",
		  "provisioning: rules[0].ea_length: 'abc': must be an integer 0..48" },
		{ "{ 'rules': [ { 'ipv6': '2001:db8::/40', 'ipv4': '192.0.2.0/24', 'ea_length': 16.5,"
		  " 'psid_offset': 6 } ] }",
		  "provisioning: rules[0].ea_length: must be an integer 0..48, not double" },
		{ "{ 'rules': [ { 'ipv6': '2001:db8::/40', 'ipv4': '192.0.2.0/24', 'ea_length': -1,"
		  " 'psid_offset': 6 } ] }", "rules[0].ea_length: -1: must be" },
		{ "{ 'rules': [ { 'ipv6': '2001:db8::/40', 'ipv4': '192.0.2.0/24', 'ea_length': '-1',"
		  " 'psid_offset': 6 } ] }", "rules[0].ea_length: '-1': must be" },
		{ "{ 'rules': [ { 'ipv6': '2001:db8::/40', 'ipv4': '192.0.2.0/24', 'ea_length': ' 16',"
		  " 'psid_offset': 6 } ] }", "rules[0].ea_length: ' 16': must be" },
		{ "{ 'rules': [ { 'ipv6': '2001:db8::/40', 'ipv4': '192.0.2.0/24', 'ea_length': null,"
		  " 'psid_offset': 6 } ] }", "rules[0].ea_length: must be an integer 0..48, not null" },
		{ "{ 'rules': [ { 'ipv6': '2001:db8::/40', 'ipv4': '192.0.2.0/24', 'ea_length': 16,"
		  " 'psid_offset': 16 } ] }", "rules[0].psid_offset: 16: must be an integer 0..15" },
		{ "{ 'rules': [ { 'ipv6': '2001:db8::/40', 'ipv4': '192.0.2.0/24', 'ea_length': 16,"
		  " 'psid_offset': 6, 'x': 1 } ] }", "provisioning: unknown key 'x' in rules[0]" },
		{ "{ 'rules': [ { 'ipv6': '2001:db8::/40', 'ipv4': '192.0.2.0/24',"
		  " 'psid_offset': 6 } ] }", "provisioning: rules[0] lacks 'ea_length'" },
		{ "{ 'rules': [ { 'ipv6': '2001:db8::', 'ipv4': '192.0.2.0/24', 'ea_length': 16,"
		  " 'psid_offset': 6 } ] }",
		  "provisioning: rules[0].ipv6: bad IPv6 prefix '2001:db8::': want ADDR/LEN" },
		{ "{ 'rules': [ { 'ipv6': 42, 'ipv4': '192.0.2.0/24', 'ea_length': 16,"
		  " 'psid_offset': 6 } ] }", "provisioning: rules[0].ipv6: must be a string, not int" },
		{ "{ 'rules': [ { 'ipv6': '2001:db8::/40', 'ipv4': '192.0.2.300/24', 'ea_length': 16,"
		  " 'psid_offset': 6 } ] }", "provisioning: rules[0].ipv4: bad IPv4 prefix" },
		{ "{ 'rules': [ { 'ipv6': '2001:db8::/60', 'ipv4': '192.0.2.0/24', 'ea_length': 12,"
		  " 'psid_offset': 6 } ] }",
		  "provisioning: rules[0]: IPv6 prefix length 60 + EA-bits length 12 = 72" },
		{ "{ 'rules': [ { 'ipv6': '2001:db8::/40', 'ipv4': '192.0.2.0/24', 'ea_length': 16,"
		  " 'psid_offset': 6, 'psid_len': 6 } ] }",
		  "provisioning: rules[0]: PSID length 6 contradicts" },
		{ "{ 'rules': [ { 'ipv6': '2001:db8::/40', 'ipv4': '192.0.2.0/24', 'ea_length': 16,"
		  " 'psid_offset': 6, 'psid_len': 8, 'psid_length': 8 } ] }",
		  "provisioning: rules[0]: 'psid_len' and 'psid_length' both given" },
		{ "{ 'rules': [ { 'ipv6': '2001:db8::/40', 'ipv4': '192.0.2.0/24', 'ea_length': 8,"
		  " 'psid_offset': 6, 'psid_len': 4 } ] }",
		  "provisioning: rules[0]: PSID length 4 but the EA bits carry no PSID" },
		{ "{ 'map_e': { 'version': 2, 'rules': [ " RULE_OK " ] } }",
		  "provisioning: map_e.version: 2: must be an integer 0..1" },
		{ "{ 'map_e': { 'mesh': 'maybe', 'rules': [ " RULE_OK " ] } }",
		  "provisioning: map_e.mesh: 'maybe': must be true, false, 1 or 0" },
		{ "{ 'map_e': { 'mesh': 2, 'rules': [ " RULE_OK " ] } }", "map_e.mesh: '2'" },
		{ "{ 'map_e': { 'br': 'nope', 'rules': [ " RULE_OK " ] } }",
		  "provisioning: map_e.br: bad IPv6 address 'nope'" },
		{ "{ 'map_e': { 'rules': { } } }", "provisioning: rules: must be a list, not object" },
		{ "{ 'map_e': { 'rules': [ ] } }", "provisioning: rules: empty list" },
		{ "{ 'map_e': { 'rules': [ 1 ] } }", "provisioning: rules[0]: must be an object, not int" },
		{ "{ 'map_e': { 'br': '::1' } }", "provisioning: map_e lacks 'rules'" },
		{ "{ 'map_e': [ ] }", "provisioning: map_e: must be an object, not array" },
		{ "{ 'map_e': { 'rules': [ ] }, 'basicMapRules': [ ] }",
		  "provisioning: input: both 'map_e' and 'basicMapRules'" },
		{ "{ 'order': [ 'dslite' ], 'dslite': { 'aftr': 'x' } }",
		  "provisioning: input: no 'map_e' object, 'rules' list or 'basicMapRules' list" },
		{ "{", "provisioning: input: not JSON: unexpected end of input" },
		{ "", "provisioning: input: not JSON" },
		{ "{ 'a': }", "provisioning: input: not JSON" },
		{ "{ } x", "provisioning: input: not JSON: trailing data at offset 4" },
		{ "[ ]", "provisioning: input: top level must be an object, not array" },
		{ "{ 'basicMapRules': [ " OCN_OK ", { 'foo': 1 } ] }",
		  "provisioning: unknown key 'foo' in basicMapRules[1]" },
		{ "{ 'basicMapRules': [ { 'ipv6Prefix': '2400:4050::', 'ipv6PrefixLength': '33',"
		  " 'ipv4Prefix': '153.240.0.0', 'eaBitLength': '23', 'psIdOffset': '6' } ] }",
		  "provisioning: basicMapRules[0] lacks 'ipv4PrefixLength'" },
		{ "{ 'basicMapRules': [ { 'ipv6Prefix': '2400:4050::', 'ipv6PrefixLength': '129',"
		  " 'ipv4Prefix': '153.240.0.0', 'ipv4PrefixLength': '15', 'eaBitLength': '23',"
		  " 'psIdOffset': '6' } ] }",
		  "provisioning: basicMapRules[0].ipv6PrefixLength: '129': must be an integer 0..128" },
		{ "{ 'basicMapRules': [ { 'ipv6Prefix': '2400:4050::/33', 'ipv6PrefixLength': '33',"
		  " 'ipv4Prefix': '153.240.0.0', 'ipv4PrefixLength': '15', 'eaBitLength': '23',"
		  " 'psIdOffset': '6' } ] }",
		  "provisioning: basicMapRules[0].ipv6Prefix: bad IPv6 address '2400:4050::/33'" },
		{ "{ 'basicMapRules': [ { 'ipv6Prefix': '2400:4050::', 'ipv6PrefixLength': '33',"
		  " 'ipv4Prefix': '153.240.0.0', 'ipv4PrefixLength': '15', 'eaBitLength': '23',"
		  " 'psIdOffset': '6', 'brIpv6Address': '2001:380:a120::9::1' } ] }",
		  "provisioning: basicMapRules[0].brIpv6Address: bad IPv6 address" },
		{ "{ 'basicMapRules': [ { 'ipv6Prefix': '2400:4050::', 'ipv6PrefixLength': '28',"
		  " 'ipv4Prefix': '153.240.0.0', 'ipv4PrefixLength': '15', 'eaBitLength': '34',"
		  " 'psIdOffset': '6' } ] }",
		  "provisioning: basicMapRules[0]: EA-bits length 34 leaves 17 PSID bits" },
		{ "{ 'basicMapRules': { } }", "provisioning: basicMapRules: must be a list, not object" },
	};
	struct mape_ruleset rs;
	char err[MAPE_ERRLEN];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		CHECK_EQ(parse_sq(cases[i].doc, &rs, err), -EINVAL);
		CHECK_HAS(err, cases[i].msg);
		CHECK(!strchr(err, '\n'));
		CHECK_EQ(rs.n, 0);
		CHECK_EQ(rs.has_br, 0);
		mape_ruleset_free(&rs);
	}
	mape_ruleset_init(&rs);
	CHECK_EQ(mape_parse_provisioning(NULL, &rs, err), -EINVAL);
}

/* An error leaves a set that already holds rules as it was. */
TEST(prov_error_keeps_set)
{
	struct mape_ruleset rs;
	struct mape_rule r;
	char err[MAPE_ERRLEN];

	mape_ruleset_init(&rs);
	CHECK_EQ(mape_parse_rule("type=map,ipv6prefix=2001:db8::/40,"
				 "ipv4prefix=192.0.2.0/24,ealen=16", &r, err), 0);
	CHECK_EQ(mape_ruleset_add(&rs, &r, err), 0);
	CHECK_EQ(mape_parse_provisioning(
			 "{\"map_e\": {\"version\": 0, \"br\": \"::1\", \"rules\": ["
			 " {\"ipv6\": \"2001:db8::/40\", \"ipv4\": \"192.0.2.0/24\","
			 " \"ea_length\": 16, \"psid_offset\": 6}, 7 ] } }", &rs, err), -EINVAL);
	CHECK_HAS(err, "rules[1]: must be an object");
	CHECK_EQ(rs.n, 1);
	CHECK_EQ(rs.has_br, 0);
	CHECK_EQ(rs.iid, MAPE_IID_RFC7597);
	mape_ruleset_free(&rs);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	CHECK(f != NULL);
	if (!f)
		return;
	fputs(text, f);
	fclose(f);
}

TEST(prov_file)
{
	char path[] = "/tmp/mape-prov-XXXXXX", dir[] = "/tmp/mape-provdir-XXXXXX";
	char err[MAPE_ERRLEN], *doc = strdup(ocn_doc);
	struct mape_ruleset rs;
	int fd = mkstemp(path);

	CHECK(fd >= 0);
	if (fd < 0)
		return;
	close(fd);
	for (char *p = doc; *p; p++)
		if (*p == '\'')
			*p = '"';
	write_file(path, doc);
	free(doc);
	mape_ruleset_init(&rs);
	CHECK_EQ(mape_parse_provisioning_file(path, &rs, err), 0);
	CHECK_EQ(rs.n, 3);
	mape_ruleset_free(&rs);

	write_file(path, "<html>502 Bad Gateway</html>\n");
	CHECK_EQ(mape_parse_provisioning_file(path, &rs, err), -EINVAL);
	CHECK_HAS(err, "provisioning: /tmp/mape-prov-");
	CHECK_HAS(err, ": not JSON: ");
	mape_ruleset_free(&rs);

	write_file(path, "");
	CHECK_EQ(mape_parse_provisioning_file(path, &rs, err), -EINVAL);
	CHECK_HAS(err, ": not JSON: unexpected end of input");
	mape_ruleset_free(&rs);
	unlink(path);

	CHECK_EQ(mape_parse_provisioning_file("/nonexistent/rules.json", &rs, err), -ENOENT);
	CHECK_STR(err, "provisioning: cannot open /nonexistent/rules.json: No such file or directory");

	CHECK(mkdtemp(dir) != NULL);
	CHECK_EQ(mape_parse_provisioning_file(dir, &rs, err), -EIO);
	CHECK_HAS(err, "provisioning: cannot read /tmp/mape-provdir-");
	rmdir(dir);
	mape_ruleset_free(&rs);
}
