// SPDX-License-Identifier: MIT
/*
 * cmd_br.c - `mapectl br up|down|stats`: a stateless MAP-E Border Relay
 * in XDP (bpf/mape_br.bpf.c), so that a whole domain runs in network
 * namespaces. br up: the BR address goes on the IPv6 side (no DAD); a veth
 * mapebr0 gets a route for every rule's IPv4 prefix, so that kernel-routed
 * and locally generated IPv4 to the CEs (ICMP errors of the BR itself) is
 * encapsulated by its TC egress program.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <sys/stat.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <json-c/json.h>
#include "attach.h"
#include "cmd.h"
#include "netcfg.h"
#include "pin.h"
#include "veth.h"
#include "input.h"
#include "mape_br.skel.h"

#define BR_TUN "mapebr0"

enum { OPT_V6 = 0x200, OPT_V4, OPT_BR_ADDR, OPT_RULE_BR, OPT_IID_BR, OPT_PIN, OPT_MODE, OPT_J };

static const struct mape_opt br_up_opts[] = {
	{ "v6", OPT_V6, "IF", "interface towards the CEs (the BR address is added to it)" },
	{ "v4", OPT_V4, "IF", "interface towards the IPv4 internet" },
	{ "rule", OPT_RULE_BR, "R", "mapping rule (as for mapectl calc); repeat for several" },
	{ "br-addr", OPT_BR_ADDR, "A", "the BR's IPv6 address" },
	{ "iid", OPT_IID_BR, "L", "CE interface-identifier layout of the domain (default rfc7597)" },
	{ "xdp-mode", OPT_MODE, "M", "native (default) or skb (generic XDP)" },
	MAPE_OPT_END,
};

static const struct mape_opt br_stats_opts[] = {
	{ "json", OPT_J, NULL, "stats: one JSON object" },
	{ "all", 'a', NULL, "stats: list counters that are zero too (--json always does)" },
	MAPE_OPT_END,
};

static const struct mape_opt br_pin_opts[] = {
	{ "pin-dir", OPT_PIN, "DIR", "the BR's pinned maps (default " MAPE_BR_PIN_DIR ")" },
	MAPE_OPT_END,
};

static const struct mape_opt *const br_up_optv[] = { br_up_opts, br_pin_opts, mape_help_opts, NULL };
static const struct mape_opt *const br_down_optv[] = { br_pin_opts, mape_help_opts, NULL };
static const struct mape_opt *const br_stats_optv[] = { br_stats_opts, br_pin_opts,
							mape_help_opts, NULL };
static const struct mape_opt *const br_helpv[] = { br_up_opts, br_stats_opts, br_pin_opts,
						   mape_help_opts, NULL };

static void br_usage(FILE *f)
{
	fputs("usage: mapectl br up --v6 IF --v4 IF --rule RULE [--rule RULE...] --br-addr ADDR\n"
	      "                     [--iid draft03|rfc7597] [--xdp-mode native|skb] [--pin-dir DIR]\n"
	      "       mapectl br down [--pin-dir DIR]\n"
	      "       mapectl br stats [--json] [--all] [--pin-dir DIR]\n"
	      "\n", f);
	mape_opts_help(f, br_helpv);
}

static const char *const br_ctr_names[] = {
#define X(id, name, help) name,
	MAPE_BR_COUNTERS(X)
#undef X
};

static const char *const br_ctr_help[] = {
#define X(id, name, help) help,
	MAPE_BR_COUNTERS(X)
#undef X
};

static int br_usage_error(int argc, char **argv)
{
	mape_errorf("bad option or missing value '%s' (mapectl br --help lists them)",
		    optind > 0 && optind <= argc ? argv[optind - 1] : "?");
	return 2;
}

/* Native XDP redirects into both sides: a veth whose peer would drop the
 * frames is reached through the kernel instead (as for the CE, user/veth.c). */
static __u32 br_xmit_targets(const char *v6, const char *v4)
{
	return (mape_xdp_xmit_check(v6) ? 0 : MAPE_BR_NOXMIT_V6) |
	       (mape_xdp_xmit_check(v4) ? 0 : MAPE_BR_NOXMIT_V4);
}

static int br_read_cfg(const char *pin, struct mape_br_config *cfg, char *err)
{
	int fd = mape_pin_open(pin, "mape_br_cfg", err);
	__u32 zero = 0;
	int ret = 0;

	if (fd < 0)
		return fd;
	if (bpf_map_lookup_elem(fd, &zero, cfg) || !(cfg->flags & MAPE_CFG_ENABLED)) {
		snprintf(err, MAPE_ERRLEN, "not up: %s/mape_br_cfg holds no configuration", pin);
		ret = -ENOENT;
	}
	close(fd);
	return ret;
}

static void br_teardown(const struct mape_br_config *cfg, const char *v6, const char *dir)
{
	char a6[64], buf[80], err[MAPE_ERRLEN];

	for (int skb = 0; skb < 2; skb++) {
		mape_xdp_detach(cfg->v6_ifindex, skb);
		mape_xdp_detach(cfg->v4_ifindex, skb);
	}
	mape_tc_detach(cfg->v6_ifindex, 1);
	mape_fmt_ip6(cfg->br_addr, a6, sizeof(a6));
	snprintf(buf, sizeof(buf), "%s/128", a6);
	if (v6 && *v6)
		mape_ip(err, 1, "-6", "addr", "del", buf, "dev", v6, NULL);
	mape_ip(err, 1, "link", "del", "dev", BR_TUN, NULL);
	mape_unpin_dir(dir);
}

static int br_up(int argc, char **argv)
{
	const char *v6 = NULL, *v4 = NULL, *br = NULL, *pin = MAPE_BR_PIN_DIR;
	const char *rules[MAPE_MAX_CLI_RULES];
	struct mape_br_config cfg = {}, old;
	struct mape_br *skel = NULL;
	char err[MAPE_ERRLEN], dir[512], peer[IF_NAMESIZE], buf[80], a4[32];
	int n_rules = 0, iid = MAPE_IID_RFC7597, skb = 0, c, ret, have_old;
	unsigned int v6_mtu;
	struct mape_rule r[MAPE_MAX_CLI_RULES];
	__u32 zero = 0;

	optind = 1;
	while ((c = mape_getopt(argc, argv, "h", br_up_optv)) != -1) {
		switch (c) {
		case OPT_V6: v6 = optarg; break;
		case OPT_V4: v4 = optarg; break;
		case OPT_BR_ADDR: br = optarg; break;
		case OPT_PIN: pin = optarg; break;
		case OPT_RULE_BR:
			if (n_rules >= MAPE_MAX_CLI_RULES)
				return mape_errorf("too many --rule (at most %d)", MAPE_MAX_CLI_RULES);
			rules[n_rules++] = optarg;
			break;
		case OPT_IID_BR:
			if (mape_iid_parse(optarg, &iid, err))
				return mape_errorf("%s", err);
			break;
		case OPT_MODE:
			if (strcmp(optarg, "native") && strcmp(optarg, "skb"))
				return mape_errorf("bad --xdp-mode '%s': want native or skb", optarg);
			skb = !strcmp(optarg, "skb");
			break;
		case 'h':
			br_usage(stdout);
			return 0;
		default:
			return br_usage_error(argc, argv);
		}
	}
	if (optind < argc)
		return mape_errorf("unexpected argument '%s'", argv[optind]);
	/* every check before any change */
	if (!br)
		return mape_errorf("missing --br-addr");
	if (mape_parse_ip6(br, cfg.br_addr, err))
		return mape_errorf("%s", err);
	if (!n_rules)
		return mape_errorf("missing --rule (at least one mapping rule)");
	for (int i = 0; i < n_rules; i++)
		if (mape_parse_rule(rules[i], &r[i], err))
			return mape_errorf("%s", err);
	ret = mape_check_iface(v6, "--v6", err);
	if (ret < 0)
		return mape_errorf("%s", err);
	cfg.v6_ifindex = ret;
	ret = mape_check_iface(v4, "--v4", err);
	if (ret < 0)
		return mape_errorf("%s", err);
	cfg.v4_ifindex = ret;
	if (cfg.v4_ifindex == cfg.v6_ifindex)
		return mape_errorf("--v4 %s is also the --v6", v4);
	if (mape_xdp_check_free(v6, err) || mape_xdp_check_free(v4, err))
		return mape_errorf("%s", err);
	if (mape_if_mtu(v6, &v6_mtu, err))
		return mape_errorf("%s", err);
	if (geteuid() != 0)
		return mape_errorf("mapectl br up needs root");
	if (mape_pin_resolve(pin, dir, sizeof(dir), err))
		return mape_errorf("%s", err);
	have_old = br_read_cfg(pin, &old, err) == 0;
	if (have_old && old.v6_ifindex != cfg.v6_ifindex)
		return mape_errorf("a BR is already up in %s on another interface: mapectl br "
				   "down first", pin);
	if (if_nametoindex(BR_TUN) && !have_old)
		return mape_errorf("interface %s exists and is not ours", BR_TUN);

	/* apply */
	if (mkdir(dir, 0700) && errno != EEXIST)
		return mape_errorf("cannot create %s: %s", dir, strerror(errno));
	skel = mape_br__open();
	if (!skel) {
		ret = -errno;
		snprintf(err, MAPE_ERRLEN, "cannot open the BPF object");
		goto out;
	}
	ret = mape_obj_load(skel->obj, dir, err);
	if (ret)
		goto out;
	cfg.mtu = v6_mtu - 40;
	ret = mape_make_tunnel(BR_TUN, cfg.mtu, 0, err);
	if (ret)
		goto out;
	mape_tun_peer_name(BR_TUN, peer);
	cfg.tun_ifindex = if_nametoindex(BR_TUN);
	cfg.tun_peer_ifindex = if_nametoindex(peer);
	ret = mape_if_mac(BR_TUN, cfg.tun_mac, err);
	if (!ret)
		ret = mape_if_mac(peer, cfg.tun_peer_mac, err);
	if (ret)
		goto out;
	cfg.iid = iid;
	cfg.xdp_skb = skb;
	if (!skb)
		cfg.no_xdp_xmit = br_xmit_targets(v6, v4);
	cfg.flags = MAPE_CFG_ENABLED;
	if (have_old && memcmp(old.br_addr, cfg.br_addr, 16)) {
		/* a new BR address replaces the old one */
		mape_fmt_ip6(old.br_addr, buf, sizeof(buf));
		strcat(buf, "/128");
		mape_ip(err, 1, "-6", "addr", "del", buf, "dev", v6, NULL);
	}
	mape_fmt_ip6(cfg.br_addr, buf, sizeof(buf));
	strcat(buf, "/128");
	ret = mape_ip(err, 0, "-6", "addr", "replace", buf, "dev", v6, "nodad", NULL);
	if (ret)
		goto out;
	if (have_old && old.v4_ifindex != cfg.v4_ifindex) {
		/* the IPv4 side moved: our program leaves the old interface */
		mape_xdp_detach(old.v4_ifindex, 0);
		mape_xdp_detach(old.v4_ifindex, 1);
	}
	/* the routes into mapebr0 are exactly the rules' prefixes: drop old ones */
	mape_ip(err, 1, "route", "flush", "dev", BR_TUN, NULL);
	mape_map_clear(bpf_map__fd(skel->maps.mape_br_rules), sizeof(struct mape_fmr_key));
	for (int i = 0; i < n_rules; i++) {
		struct mape_fmr_key k = { .prefixlen = r[i].ip4_len, .addr = htonl(r[i].ipv4) };

		if (bpf_map_update_elem(bpf_map__fd(skel->maps.mape_br_rules), &k, &r[i], BPF_ANY)) {
			ret = -errno;
			snprintf(err, MAPE_ERRLEN, "cannot store rule %d: %s", i + 1,
				 strerror(errno));
			goto out;
		}
		mape_fmt_ip4(r[i].ipv4, a4, sizeof(a4));
		snprintf(buf, sizeof(buf), "%s/%u", a4, r[i].ip4_len);
		ret = mape_ip(err, 0, "route", "replace", buf, "dev", BR_TUN, NULL);
		if (ret)
			goto out;
	}
	ret = mape_obj_pin_progs(skel->obj, dir, err);
	if (!ret && bpf_map_update_elem(bpf_map__fd(skel->maps.mape_br_cfg), &zero, &cfg, BPF_ANY)) {
		ret = -errno;
		snprintf(err, MAPE_ERRLEN, "cannot write the configuration: %s", strerror(errno));
	}
	if (!ret)
		ret = mape_xdp_attach(cfg.v6_ifindex, bpf_program__fd(skel->progs.mape_br6), skb, v6,
				      err);
	if (!ret)
		ret = mape_xdp_attach(cfg.v4_ifindex, bpf_program__fd(skel->progs.mape_br4), skb, v4,
				      err);
	if (!ret)
		ret = mape_xdp_attach(cfg.tun_ifindex, bpf_program__fd(skel->progs.mape_brp), skb,
				      BR_TUN, err);
	if (!ret)
		ret = mape_tc_attach(cfg.tun_ifindex, bpf_program__fd(skel->progs.mape_brt), 0, BR_TUN,
				     err);
	/* the reassembly of what mape_br6 passes up (reasm.h) */
	if (!ret)
		ret = mape_tc_attach(cfg.v6_ifindex, bpf_program__fd(skel->progs.mape_brd), 1, v6,
				     err);
	if (!ret) {
		mape_fmt_ip6(cfg.br_addr, buf, sizeof(buf));
		printf("BR %s on %s, IPv4 side %s, %d rule%s\n", buf, v6, v4, n_rules,
		       n_rules > 1 ? "s" : "");
	}
out:
	if (ret && !have_old)
		br_teardown(&cfg, v6, dir);
	mape_br__destroy(skel);
	return ret ? mape_errorf("%s", err) : 0;
}

static int br_down(int argc, char **argv)
{
	const char *pin = MAPE_BR_PIN_DIR;
	char err[MAPE_ERRLEN], dir[512], v6[IF_NAMESIZE] = "";
	struct mape_br_config cfg;
	int c;

	optind = 1;
	while ((c = mape_getopt(argc, argv, "h", br_down_optv)) != -1) {
		if (c == OPT_PIN)
			pin = optarg;
		else if (c == 'h')
			return br_usage(stdout), 0;
		else
			return br_usage_error(argc, argv);
	}
	if (optind < argc)
		return mape_errorf("unexpected argument '%s'", argv[optind]);
	if (geteuid() != 0)
		return mape_errorf("mapectl br down needs root");
	if (mape_pin_resolve(pin, dir, sizeof(dir), err))
		return mape_errorf("%s", err);
	if (br_read_cfg(pin, &cfg, err)) {
		printf("nothing to do: %s\n", err);
		return 0;
	}
	if_indextoname(cfg.v6_ifindex, v6);
	br_teardown(&cfg, v6, dir);
	printf("br down: removed %s and the BR address\n", BR_TUN);
	return 0;
}

static int br_stats(int argc, char **argv)
{
	const char *pin = MAPE_BR_PIN_DIR;
	char err[MAPE_ERRLEN];
	struct mape_br_config cfg;
	struct mape_ctr sum[MAPE_BR_CTR_MAX];
	int c, json = 0, all = 0, shown = 0;
	json_object *o, *ctrs;

	optind = 1;
	while ((c = mape_getopt(argc, argv, "ha", br_stats_optv)) != -1) {
		if (c == OPT_PIN)
			pin = optarg;
		else if (c == OPT_J)
			json = 1;
		else if (c == 'a')
			all = 1;
		else if (c == 'h')
			return br_usage(stdout), 0;
		else
			return br_usage_error(argc, argv);
	}
	if (br_read_cfg(pin, &cfg, err) ||
	    mape_read_counters(pin, "mape_br_stats", MAPE_BR_CTR_MAX, sum, err))
		return mape_errorf("%s", err);
	o = json_object_new_object();
	ctrs = json_object_new_object();
	for (__u32 i = 0; i < MAPE_BR_CTR_MAX; i++) {
		__u64 pk = sum[i].packets, by = sum[i].bytes;
		json_object *e;

		if (json) {
			e = json_object_new_object();
			json_object_object_add(e, "packets", json_object_new_int64(pk));
			json_object_object_add(e, "bytes", json_object_new_int64(by));
			json_object_object_add(ctrs, br_ctr_names[i], e);
		} else if (pk || all) {
			printf("%-20s %12llu %14llu  %s\n", br_ctr_names[i], (unsigned long long)pk,
			       (unsigned long long)by, br_ctr_help[i]);
			shown++;
		}
	}
	if (!json && !shown)
		printf("all counters are zero (--all lists them)\n");
	json_object_object_add(o, "counters", ctrs);
	if (json)
		puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_SPACED));
	json_object_put(o);
	return 0;
}

int cmd_br(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		br_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (!strcmp(argv[1], "up"))
		return br_up(argc - 1, argv + 1);
	if (!strcmp(argv[1], "down"))
		return br_down(argc - 1, argv + 1);
	if (!strcmp(argv[1], "stats"))
		return br_stats(argc - 1, argv + 1);
	return mape_errorf("unknown br command '%s' (mapectl br --help)", argv[1]);
}
