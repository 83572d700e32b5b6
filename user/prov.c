// SPDX-License-Identifier: MIT
/*
 * prov.c - provisioning JSON, with json-c. Two forms:
 *  - HB46PP (v6mig-prov spec s3.4): a "map_e" object {version, mesh, br,
 *    rules[{ipv6, ipv4, ea_length, psid_offset}]}, at top level or under
 *    "map_e". version 0 (or absent) = draft-03 IID, 1 = RFC 7597; mesh
 *    makes every rule an FMR (RFC 7597 s5). Other envelope keys are ignored.
 *  - OCN rule API (Cisco "jp01"): top-level "basicMapRules" list of
 *    {ipv6Prefix, ipv6PrefixLength, ipv4Prefix, ipv4PrefixLength,
 *    eaBitLength, psIdOffset, brIpv6Address}; draft-03 IID, BR per rule.
 * Numbers may be JSON integers or decimal strings (OCN sends strings).
 * Unknown keys inside a rule are errors: a typo must not go unnoticed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include "mape.h"

#define PROV_MAX_FILE (64 << 20)

enum field { F_IP6, F_IP6LEN, F_IP4, F_IP4LEN, F_EALEN, F_OFFSET, F_PSIDLEN, F_BR, F_IGNORE, F_N };

struct key {
	const char *name;
	enum field f;
};

/* A rule list: its name, its keys (first spelling of a field names it in
 * errors), the fields it needs, and whether prefixes and lengths are split. */
struct form {
	const char *list;
	const struct key *keys;
	unsigned int required;	/* 1 << F_* */
	int split;
};

static const struct key hb_keys[] = {
	{ "ipv6", F_IP6 }, { "ipv4", F_IP4 }, { "ea_length", F_EALEN },
	{ "psid_offset", F_OFFSET },
	{ "psid_len", F_PSIDLEN }, { "psid_length", F_PSIDLEN },	/* lw4o6 spelling */
	{ NULL, F_N },
};

static const struct form hb_form = {
	"rules", hb_keys,
	1 << F_IP6 | 1 << F_IP4 | 1 << F_EALEN | 1 << F_OFFSET, 0,
};

static const struct key ocn_keys[] = {
	{ "ipv6Prefix", F_IP6 }, { "ipv6PrefixLength", F_IP6LEN },
	{ "ipv4Prefix", F_IP4 }, { "ipv4PrefixLength", F_IP4LEN },
	{ "eaBitLength", F_EALEN }, { "psIdOffset", F_OFFSET },
	{ "brIpv6Address", F_BR },
	/* Seen on per-CE ("static") rules: the CE's own PSID, which the EA
	 * bits give as well, and its DNS name. Informational. */
	{ "psId", F_IGNORE }, { "hostName", F_IGNORE },
	{ NULL, F_N },
};

static const struct form ocn_form = {
	"basicMapRules", ocn_keys,
	1 << F_IP6 | 1 << F_IP6LEN | 1 << F_IP4 | 1 << F_IP4LEN | 1 << F_EALEN | 1 << F_OFFSET, 1,
};

static const char *type_name(struct json_object *v)
{
	return json_type_to_name(json_object_get_type(v));
}

/* A JSON integer or a decimal string, 0..max. */
static int get_uint(struct json_object *v, const char *where, unsigned long max,
		    unsigned long *out, char *err)
{
	const char *s;
	int64_t n;

	switch (json_object_get_type(v)) {
	case json_type_int:
		n = json_object_get_int64(v);
		if (n >= 0 && (uint64_t)n <= max) {
			*out = n;
			return 0;
		}
		snprintf(err, MAPE_ERRLEN, "provisioning: %s: %lld: must be an integer 0..%lu",
			 where, (long long)n, max);
		return -EINVAL;
	case json_type_string:
		s = json_object_get_string(v);
		if (*s && strlen(s) <= 9 && strspn(s, "0123456789") == strlen(s) &&
		    strtoul(s, NULL, 10) <= max) {
			*out = strtoul(s, NULL, 10);
			return 0;
		}
		snprintf(err, MAPE_ERRLEN, "provisioning: %s: '%.64s': must be an integer 0..%lu",
			 where, s, max);
		return -EINVAL;
	default:
		snprintf(err, MAPE_ERRLEN, "provisioning: %s: must be an integer 0..%lu, not %s",
			 where, max, type_name(v));
		return -EINVAL;
	}
}

static int get_str(struct json_object *v, const char *where, const char **out, char *err)
{
	if (!json_object_is_type(v, json_type_string)) {
		snprintf(err, MAPE_ERRLEN, "provisioning: %s: must be a string, not %s", where,
			 type_name(v));
		return -EINVAL;
	}
	*out = json_object_get_string(v);
	return 0;
}


static int get_bool(struct json_object *v, const char *where, int *out, char *err)
{
	const char *s = json_object_get_string(v);

	switch (json_object_get_type(v)) {
	case json_type_boolean:
		*out = json_object_get_boolean(v);
		return 0;
	case json_type_int:
	case json_type_string:
		if (!strcmp(s, "1") || !strcmp(s, "true")) {
			*out = 1;
			return 0;
		}
		if (!strcmp(s, "0") || !strcmp(s, "false")) {
			*out = 0;
			return 0;
		}
		break;
	default:
		break;
	}
	snprintf(err, MAPE_ERRLEN, "provisioning: %s: '%.64s': must be true, false, 1 or 0", where,
		 s ? s : "null");
	return -EINVAL;
}

enum addr_kind { A_IP6, A_IP4, A_PFX6, A_PFX4 };

/* An address or prefix string, parsed by addr.c; its message follows the key. */
static int get_addr(struct json_object *v, const char *where, enum addr_kind kind, void *out,
		    unsigned int *len, char *err)
{
	struct mape_prefix p;
	char e[MAPE_ERRLEN];
	const char *s;
	int ret;

	if (get_str(v, where, &s, err))
		return -EINVAL;
	switch (kind) {
	case A_IP6:
		ret = mape_parse_ip6(s, out, e);
		break;
	case A_IP4:
		ret = mape_parse_ip4(s, out, e);
		break;
	case A_PFX6:
		ret = mape_parse_prefix6(s, &p, e);
		memcpy(out, p.addr, 16);
		*len = p.len;
		break;
	default:
		ret = mape_parse_prefix4(s, out, len, e);
		break;
	}
	if (ret)
		snprintf(err, MAPE_ERRLEN, "provisioning: %s: %.180s", where, e);
	return ret;
}

/* "list[idx].key" into buf, for errors. */
static const char *at(char *buf, const struct form *fm, size_t idx, const char *key)
{
	snprintf(buf, 96, "%s[%zu].%s", fm->list, idx, key);
	return buf;
}

/* One rule object of a list (fields as in the tables above). */
static int parse_rule(struct json_object *obj, const struct form *fm, size_t idx,
		      struct mape_rule *r, char *err)
{
	struct json_object *val[F_N] = { 0 };
	const char *nm[F_N] = { 0 };
	unsigned int seen = 0, missing, l6 = 0, l4 = 0;
	const struct key *k;
	char w[96], src[64];
	unsigned long n;

	memset(r, 0, sizeof(*r));
	snprintf(src, sizeof(src), "provisioning: %s[%zu]", fm->list, idx);
	if (!json_object_is_type(obj, json_type_object)) {
		snprintf(err, MAPE_ERRLEN, "%s: must be an object, not %s", src, type_name(obj));
		return -EINVAL;
	}
	json_object_object_foreach(obj, name, jv) {
		for (k = fm->keys; k->name && strcmp(k->name, name); k++)
			;
		if (!k->name) {
			snprintf(err, MAPE_ERRLEN, "provisioning: unknown key '%.64s' in %s[%zu]",
				 name, fm->list, idx);
			return -EINVAL;
		}
		if (k->f != F_IGNORE && (seen & 1u << k->f)) {
			snprintf(err, MAPE_ERRLEN, "%s: '%s' and '%s' both given", src, nm[k->f],
				 k->name);
			return -EINVAL;
		}
		seen |= 1u << k->f;
		val[k->f] = jv;
		nm[k->f] = k->name;
	}
	missing = fm->required & ~seen;
	if (missing) {
		for (k = fm->keys; !(missing & 1u << k->f); k++)
			;
		snprintf(err, MAPE_ERRLEN, "%s lacks '%s'", src, k->name);
		return -EINVAL;
	}
	if (fm->split) {
		if (get_addr(val[F_IP6], at(w, fm, idx, nm[F_IP6]), A_IP6, r->ip6, NULL, err) ||
		    get_uint(val[F_IP6LEN], at(w, fm, idx, nm[F_IP6LEN]), 128, &n, err))
			return -EINVAL;
		l6 = n;
		if (get_addr(val[F_IP4], at(w, fm, idx, nm[F_IP4]), A_IP4, &r->ipv4, NULL, err) ||
		    get_uint(val[F_IP4LEN], at(w, fm, idx, nm[F_IP4LEN]), 32, &n, err))
			return -EINVAL;
		l4 = n;
	} else if (get_addr(val[F_IP6], at(w, fm, idx, nm[F_IP6]), A_PFX6, r->ip6, &l6, err) ||
		   get_addr(val[F_IP4], at(w, fm, idx, nm[F_IP4]), A_PFX4, &r->ipv4, &l4, err)) {
		return -EINVAL;
	}
	r->ip6_len = l6;
	r->ip4_len = l4;
	if (get_uint(val[F_EALEN], at(w, fm, idx, nm[F_EALEN]), 48, &n, err))
		return -EINVAL;
	r->ea_len = n;
	if (get_uint(val[F_OFFSET], at(w, fm, idx, nm[F_OFFSET]), 15, &n, err))
		return -EINVAL;
	r->psid_offset = n;
	if (seen & 1u << F_PSIDLEN) {
		if (get_uint(val[F_PSIDLEN], at(w, fm, idx, nm[F_PSIDLEN]), 16, &n, err))
			return -EINVAL;
		r->psid_len = n;	/* 0 = not given: the EA bits decide */
	}
	if (seen & 1u << F_BR) {
		if (get_addr(val[F_BR], at(w, fm, idx, nm[F_BR]), A_IP6, r->br, NULL, err))
			return -EINVAL;
		r->flags |= MAPE_RULE_HAS_BR;
	}
	return mape_rule_finish(r, r->psid_len > 0, 0, src, err);
}

static int parse_list(struct json_object *list, const struct form *fm, int mesh,
		      struct mape_ruleset *rs, char *err)
{
	struct mape_rule r;
	size_t i, n;
	int ret;

	if (!json_object_is_type(list, json_type_array)) {
		snprintf(err, MAPE_ERRLEN, "provisioning: %s: must be a list, not %s", fm->list,
			 type_name(list));
		return -EINVAL;
	}
	n = json_object_array_length(list);
	if (!n) {
		snprintf(err, MAPE_ERRLEN, "provisioning: %s: empty list: no mapping rule",
			 fm->list);
		return -EINVAL;
	}
	for (i = 0; i < n; i++) {
		ret = parse_rule(json_object_array_get_idx(list, i), fm, i, &r, err);
		if (ret)
			return ret;
		if (mesh)
			r.flags |= MAPE_RULE_FMR;
		if ((r.flags & MAPE_RULE_HAS_BR) && !rs->has_br) {
			memcpy(rs->br, r.br, 16);
			rs->has_br = 1;
		}
		ret = mape_ruleset_add(rs, &r, err);
		if (ret)
			return ret;
	}
	return 0;
}

/* HB46PP map_e (v6mig-prov s3.4). Unknown keys are ignored (the spec lets
 * CPEs ignore them) since this object may be the whole envelope. */
static int parse_map_e(struct json_object *me, struct mape_ruleset *rs, char *err)
{
	struct json_object *v;
	unsigned long version = 0;
	int mesh = 0;

	if (json_object_object_get_ex(me, "version", &v) &&
	    get_uint(v, "map_e.version", 1, &version, err))
		return -EINVAL;
	if (json_object_object_get_ex(me, "mesh", &v) && get_bool(v, "map_e.mesh", &mesh, err))
		return -EINVAL;
	if (json_object_object_get_ex(me, "br", &v)) {
		if (get_addr(v, "map_e.br", A_IP6, rs->br, NULL, err))
			return -EINVAL;
		rs->has_br = 1;
	}
	if (!json_object_object_get_ex(me, "rules", &v)) {
		snprintf(err, MAPE_ERRLEN, "provisioning: map_e lacks 'rules'");
		return -EINVAL;
	}
	rs->iid = version ? MAPE_IID_RFC7597 : MAPE_IID_DRAFT03;
	return parse_list(v, &hb_form, mesh, rs, err);
}

static int parse_root(struct json_object *root, const char *what, struct mape_ruleset *rs,
		      char *err)
{
	struct json_object *me = NULL, *bmr = NULL;
	int has_me, has_bmr;

	if (!json_object_is_type(root, json_type_object)) {
		snprintf(err, MAPE_ERRLEN,
			 "provisioning: %.150s: top level must be an object, not %s", what,
			 type_name(root));
		return -EINVAL;
	}
	has_me = json_object_object_get_ex(root, "map_e", &me);
	has_bmr = json_object_object_get_ex(root, "basicMapRules", &bmr);
	if (has_me && has_bmr) {
		snprintf(err, MAPE_ERRLEN,
			 "provisioning: %.150s: both 'map_e' and 'basicMapRules': which one?", what);
		return -EINVAL;
	}
	if (has_bmr) {
		rs->iid = MAPE_IID_DRAFT03;
		return parse_list(bmr, &ocn_form, 0, rs, err);
	}
	if (has_me) {
		if (!json_object_is_type(me, json_type_object)) {
			snprintf(err, MAPE_ERRLEN, "provisioning: map_e: must be an object, not %s",
				 type_name(me));
			return -EINVAL;
		}
		return parse_map_e(me, rs, err);
	}
	if (json_object_object_get_ex(root, "rules", NULL))
		return parse_map_e(root, rs, err);
	snprintf(err, MAPE_ERRLEN,
		 "provisioning: %.150s: no 'map_e' object, 'rules' list or 'basicMapRules' list",
		 what);
	return -EINVAL;
}

/* Parse len bytes of JSON text; what (a path, or "input") names it in errors. */
static int parse_text(const char *text, size_t len, const char *what, struct mape_ruleset *rs,
		      char *err)
{
	struct mape_ruleset saved = *rs;
	struct json_tokener *tok = json_tokener_new();
	struct json_object *root = NULL;
	enum json_tokener_error jerr;
	size_t end;
	int ret = -EINVAL;

	if (!tok) {
		snprintf(err, MAPE_ERRLEN, "out of memory");
		return -ENOMEM;
	}
	root = json_tokener_parse_ex(tok, text, len);
	jerr = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	if (!root) {
		snprintf(err, MAPE_ERRLEN, "provisioning: %.150s: not JSON: %s at offset %zu", what,
			 jerr == json_tokener_continue ? "unexpected end of input" :
			 json_tokener_error_desc(jerr), end);
		goto out;
	}
	end += strspn(text + end, " \t\r\n");
	if (end < len) {
		snprintf(err, MAPE_ERRLEN,
			 "provisioning: %.150s: not JSON: trailing data at offset %zu", what, end);
		goto out;
	}
	ret = parse_root(root, what, rs, err);
	if (ret) {
		/* Leave the set as it was; the rules array may have moved. */
		saved.rules = rs->rules;
		saved.cap = rs->cap;
		*rs = saved;
	}
out:
	json_object_put(root);
	json_tokener_free(tok);
	return ret;
}

int mape_parse_provisioning(const char *json, struct mape_ruleset *rs, char *err)
{
	return parse_text(json ? json : "", json ? strlen(json) : 0, "input", rs, err);
}

int mape_parse_provisioning_file(const char *path, struct mape_ruleset *rs, char *err)
{
	size_t len = 0, cap = 0, n;
	char *buf = NULL, *nb;
	int ret = -EIO;
	FILE *f;

	f = fopen(path, "r");
	if (!f) {
		ret = -errno;
		snprintf(err, MAPE_ERRLEN, "provisioning: cannot open %.150s: %s", path,
			 strerror(errno));
		return ret;
	}
	for (;;) {
		if (len == cap) {
			if (cap >= PROV_MAX_FILE) {
				snprintf(err, MAPE_ERRLEN,
					 "provisioning: %.150s: larger than %d MiB", path,
					 PROV_MAX_FILE >> 20);
				ret = -EFBIG;
				goto out;
			}
			cap = cap ? cap * 2 : 65536;
			nb = realloc(buf, cap + 1);
			if (!nb) {
				snprintf(err, MAPE_ERRLEN, "out of memory");
				ret = -ENOMEM;
				goto out;
			}
			buf = nb;
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
		if (ferror(f)) {
			snprintf(err, MAPE_ERRLEN, "provisioning: cannot read %.150s: %s", path,
				 strerror(errno));
			goto out;
		}
		if (!n)
			break;
	}
	buf[len] = 0;
	if (strlen(buf) != len) {
		snprintf(err, MAPE_ERRLEN, "provisioning: %.150s: not JSON: NUL byte at offset %zu",
			 path, strlen(buf));
		ret = -EINVAL;
		goto out;
	}
	ret = parse_text(buf, len, path, rs, err);
out:
	free(buf);
	fclose(f);
	return ret;
}
