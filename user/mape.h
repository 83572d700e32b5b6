/* SPDX-License-Identifier: MIT */
/*
 * mape.h - mapectl's rule engine: parsing of every rule source (rule
 * strings, built-in presets, RFC 7598 DHCPv6 options, provisioning JSON),
 * validation, and the computation of a CE's MAP parameters. The arithmetic
 * itself lives in include/mape_map.h and is shared with the BPF programs.
 *
 * Conventions: functions return 0 or a negative errno; on error they write
 * one line naming the offending value into err (MAPE_ERRLEN bytes).
 */
#ifndef MAPE_USER_H
#define MAPE_USER_H

#include <stddef.h>
#include "mape_map.h"

#define MAPE_ERRLEN 256
#define MAPE_MAX_RULES 4096

/* An IPv6 prefix as typed by a user: "2001:db8:12:3400::/56". */
struct mape_prefix {
	__u8 addr[16];
	unsigned int len;
};

/* What a rule source yields: rules plus domain-wide settings. */
struct mape_ruleset {
	struct mape_rule *rules;
	size_t n, cap;
	int iid;		/* layout the source implies (MAPE_IID_*) */
	const char *service;	/* preset name, or NULL */
	__u8 br[16];		/* domain BR (DHCPv6 option 90, JSON "br", --br) */
	int has_br;
};

/* The parameters of one CE, computed from a prefix and a rule set. */
struct mape_result {
	struct mape_rule bmr;
	struct mape_prefix prefix;	/* end-user prefix, host bits masked */
	__u32 ipv4;			/* host order */
	unsigned int ipv4_len;		/* 32 unless the CE gets an IPv4 prefix */
	struct mape_portset ps;
	__u8 ce[16];			/* CE IPv6 address */
	__u8 br[16];
	int has_br;
	int iid;
	const char *service;
	struct mape_rule *fmrs;		/* owned copy; mape_result_free() */
	size_t n_fmrs;
};

/* addr.c: address parsing and formatting */
int mape_parse_ip6(const char *s, __u8 out[16], char *err);
int mape_parse_ip4(const char *s, __u32 *out, char *err);	/* host order */
int mape_parse_prefix6(const char *s, struct mape_prefix *p, char *err);
int mape_parse_prefix4(const char *s, __u32 *addr, unsigned int *len, char *err);
int mape_parse_uint(const char *what, const char *s, unsigned long max, unsigned long *out,
		    char *err);
void mape_fmt_ip6(const __u8 a[16], char *buf, size_t len);	/* buf >= 46 */
void mape_fmt_ip4(__u32 ipv4, char *buf, size_t len);		/* buf >= 16 */
void mape_mask_prefix6(__u8 a[16], unsigned int len);

/* rule.c: rule strings, validation, rule sets, the computation */
void mape_ruleset_init(struct mape_ruleset *rs);
void mape_ruleset_free(struct mape_ruleset *rs);
int mape_ruleset_add(struct mape_ruleset *rs, const struct mape_rule *r, char *err);
/*
 * Fill a rule from its parts and check it: prefixes masked, psid_len
 * derived from the EA bits or checked against them, offset + length <= 16,
 * n + o <= 64, PSID fits. `src` names the rule in errors ("rule 2").
 */
int mape_rule_finish(struct mape_rule *r, int psid_len_given, int psid_given, const char *src,
		     char *err);
/* OpenWrt mapcalc syntax; psid= is right-aligned (see docs/cli.md). */
int mape_parse_rule(const char *s, struct mape_rule *r, char *err);
/* Longest-prefix rule containing the prefix; -ENOENT when none does. */
int mape_find_bmr(const struct mape_ruleset *rs, const struct mape_prefix *pfx);
/*
 * Compute a CE's parameters. iid < 0 keeps the rule set's layout. FMRs are
 * the rules flagged MAPE_RULE_FMR (the parsers set the flag by source).
 */
int mape_compute(const struct mape_ruleset *rs, const struct mape_prefix *pfx, int iid,
		 struct mape_result *res, char *err);
void mape_result_free(struct mape_result *res);
const char *mape_iid_name(int iid);
int mape_iid_parse(const char *s, int *iid, char *err);

/* dhcpv6.c: RFC 7598 options 94 (container), 89 (rule), 90 (BR), 93 (port params) */
int mape_parse_dhcpv6_hex(const char *hex, struct mape_ruleset *rs, char *err);
int mape_parse_dhcpv6(const __u8 *buf, size_t len, struct mape_ruleset *rs, char *err);

/* prov.c: provisioning JSON: HB46PP "map_e" object, or OCN "basicMapRules" */
int mape_parse_provisioning_file(const char *path, struct mape_ruleset *rs, char *err);
int mape_parse_provisioning(const char *json, struct mape_ruleset *rs, char *err);

/* preset.c: built-in JP service tables (generated from data/jp-mape-rules.json) */
/* name: a service name or "auto" (find the service from the prefix). */
int mape_preset_load(const char *name, const struct mape_prefix *pfx, struct mape_ruleset *rs,
		     char *err);
/* Comma-separated list of service names, for --help and errors. */
const char *mape_preset_names(void);

#endif
