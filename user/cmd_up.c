// SPDX-License-Identifier: MIT
/*
 * cmd_up.c - `mapectl up` and `mapectl down`.
 *
 * up: check everything first (rules, prefix, BR, interfaces, MTU, foreign
 * XDP programs, another instance in the pin directory), then load the
 * programs with their maps pinned (an existing pin directory's maps are
 * reused, so sessions survive a re-run), create the tunnel veth with our
 * IPv4 and a default route, add the CE address to the WAN (no DAD), fill
 * mape_cfg / mape_fmr and attach. Running it again with the same input
 * changes nothing; with new input it replaces the configuration, keeping
 * the sessions while our IPv4 address and port set stay the same.
 *
 * down: removes exactly what up recorded in mape_cfg.
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
#include <linux/if_link.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "cmd.h"
#include "input.h"
#include "netcfg.h"
#include "pin.h"
#include "mape_ce.skel.h"

enum {
	OPT_WAN = OPT_INPUT_END + 1, OPT_LAN, OPT_MTU, OPT_XDP_MODE, OPT_PIN_DIR, OPT_TUN,
	OPT_FILTERING, OPT_TO_TCP_EST, OPT_TO_TCP_TRANS, OPT_TO_UDP, OPT_TO_ICMP, OPT_ICMP_RATE,
};

static const char up_usage[] =
	"usage: mapectl up --wan IF --lan IF [--lan IF...] --prefix PREFIX\n"
	"         (--preset NAME | --rule RULE... | --dhcpv6-hex HEX | --provisioning FILE)\n"
	"         [--br ADDR] [--iid draft03|rfc7597] [--mtu N] [--xdp-mode native|skb]\n"
	"         [--tun NAME] [--filtering address|endpoint] [--pin-dir DIR]\n"
	"         [--timeout-tcp-est S] [--timeout-tcp-trans S] [--timeout-udp S]\n"
	"         [--timeout-icmp S] [--icmp-rate N]\n"
	"\n"
	"  --wan IF          IPv6 uplink; the CE address is added to it\n"
	"  --lan IF          LAN interface (repeat for several, at most 8)\n"
	"  --mtu N           tunnel MTU (default 1460); TCP MSS is clamped to N - 40\n"
	"  --xdp-mode M      native (default) or skb (generic XDP)\n"
	"  --tun NAME        tunnel interface name (default mape0; its veth peer NAME-p)\n"
	"  --filtering F     inbound filtering: address (default, RFC 4787 ADF) or endpoint\n"
	"  --timeout-*       session timeouts in seconds (defaults 7440, 240, 300, 60)\n"
	"  --icmp-rate N     ICMP errors we send per second (default 10)\n"
	"  --pin-dir DIR     where maps and programs are pinned (default " MAPE_PIN_DIR ")\n"
	"  rule options      as for mapectl calc (see mapectl calc --help)\n";

struct up_opts {
	struct mape_input in;
	const char *wan, *lans[MAPE_MAX_LANS], *pin_dir, *tun;
	int n_lans, xdp_skb;
	unsigned long mtu, filtering, to[4], icmp_rate;
};

static const char *const prog_names[] = { "mape_lan", "mape_wan", "mape_tun", "mape_pass" };

static void peer_name(const char *tun, char *buf)
{
	snprintf(buf, IFNAMSIZ, "%s-p", tun);
}

static int parse_up(int argc, char **argv, struct up_opts *o, char *err)
{
	static const struct option opts[] = {
		MAPE_INPUT_LONGOPTS,
		{ "wan", required_argument, NULL, OPT_WAN },
		{ "lan", required_argument, NULL, OPT_LAN },
		{ "mtu", required_argument, NULL, OPT_MTU },
		{ "xdp-mode", required_argument, NULL, OPT_XDP_MODE },
		{ "pin-dir", required_argument, NULL, OPT_PIN_DIR },
		{ "tun", required_argument, NULL, OPT_TUN },
		{ "filtering", required_argument, NULL, OPT_FILTERING },
		{ "timeout-tcp-est", required_argument, NULL, OPT_TO_TCP_EST },
		{ "timeout-tcp-trans", required_argument, NULL, OPT_TO_TCP_TRANS },
		{ "timeout-udp", required_argument, NULL, OPT_TO_UDP },
		{ "timeout-icmp", required_argument, NULL, OPT_TO_ICMP },
		{ "icmp-rate", required_argument, NULL, OPT_ICMP_RATE },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int c, ret;

	memset(o, 0, sizeof(*o));
	mape_input_init(&o->in);
	o->pin_dir = MAPE_PIN_DIR;
	o->tun = "mape0";
	o->mtu = 1460;
	o->to[0] = 7440;	/* RFC 5382 REQ-5: at least 2 h 4 min */
	o->to[1] = 240;		/* RFC 5382: transitory 4 min */
	o->to[2] = 300;		/* RFC 4787 REQ-5: 5 min recommended */
	o->to[3] = 60;		/* RFC 5508 REQ-1 */
	o->icmp_rate = 10;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		ret = mape_input_option(&o->in, c, optarg, err);
		if (ret < 0)
			return -EINVAL;
		if (ret)
			continue;
		switch (c) {
		case 'h':
			fputs(up_usage, stdout);
			return 1;
		case OPT_WAN:
			o->wan = optarg;
			break;
		case OPT_LAN:
			if (o->n_lans >= MAPE_MAX_LANS) {
				snprintf(err, MAPE_ERRLEN, "too many --lan (at most %d)",
					 MAPE_MAX_LANS);
				return -EINVAL;
			}
			o->lans[o->n_lans++] = optarg;
			break;
		case OPT_MTU:
			if (mape_parse_uint("--mtu", optarg, 65495, &o->mtu, err))
				return -EINVAL;
			if (o->mtu < 576) {
				snprintf(err, MAPE_ERRLEN, "bad --mtu '%s': must be 576..65495",
					 optarg);
				return -EINVAL;
			}
			break;
		case OPT_XDP_MODE:
			if (strcmp(optarg, "native") && strcmp(optarg, "skb")) {
				snprintf(err, MAPE_ERRLEN, "bad --xdp-mode '%s': want native or skb",
					 optarg);
				return -EINVAL;
			}
			o->xdp_skb = !strcmp(optarg, "skb");
			break;
		case OPT_PIN_DIR:
			o->pin_dir = optarg;
			break;
		case OPT_TUN:
			o->tun = optarg;
			break;
		case OPT_FILTERING:
			if (strcmp(optarg, "address") && strcmp(optarg, "endpoint")) {
				snprintf(err, MAPE_ERRLEN,
					 "bad --filtering '%s': want address or endpoint", optarg);
				return -EINVAL;
			}
			o->filtering = !strcmp(optarg, "endpoint");
			break;
		case OPT_TO_TCP_EST:
		case OPT_TO_TCP_TRANS:
		case OPT_TO_UDP:
		case OPT_TO_ICMP:
			if (mape_parse_uint(opts[c - OPT_TO_TCP_EST + 11].name, optarg, 86400 * 7,
					    &o->to[c - OPT_TO_TCP_EST], err))
				return -EINVAL;
			if (!o->to[c - OPT_TO_TCP_EST]) {
				snprintf(err, MAPE_ERRLEN, "bad --%s '0': must be at least 1",
					 opts[c - OPT_TO_TCP_EST + 11].name);
				return -EINVAL;
			}
			break;
		case OPT_ICMP_RATE:
			if (mape_parse_uint("--icmp-rate", optarg, 100000, &o->icmp_rate, err))
				return -EINVAL;
			break;
		default:
			fputs(up_usage, stderr);
			snprintf(err, MAPE_ERRLEN, "bad usage");
			return -EINVAL;
		}
	}
	if (optind < argc) {
		snprintf(err, MAPE_ERRLEN, "unexpected argument '%s'", argv[optind]);
		return -EINVAL;
	}
	return 0;
}

/* Name of the XDP program attached to ifindex in the given mode, "" if none. */
static int xdp_attached(int ifindex, int skb_mode, char *name, size_t len)
{
	__u32 id = 0;
	struct bpf_prog_info info = {};
	__u32 ilen = sizeof(info);
	int fd;

	name[0] = 0;
	if (bpf_xdp_query_id(ifindex, skb_mode ? XDP_FLAGS_SKB_MODE : XDP_FLAGS_DRV_MODE, &id) ||
	    !id)
		return 0;
	fd = bpf_prog_get_fd_by_id(id);
	if (fd < 0)
		return -errno;
	if (!bpf_obj_get_info_by_fd(fd, &info, &ilen))
		snprintf(name, len, "%s", info.name);
	close(fd);
	return 1;
}

/* Refuse an interface whose XDP hook holds someone else's program. */
static int check_xdp_free(const char *ifname, char *err)
{
	int ifindex = if_nametoindex(ifname);
	char name[32];

	for (int skb = 0; skb < 2; skb++)
		if (xdp_attached(ifindex, skb, name, sizeof(name)) > 0 &&
		    strncmp(name, "mape_", 5)) {
			snprintf(err, MAPE_ERRLEN,
				 "interface %s already has XDP program '%s' attached: detach it first",
				 ifname, name);
			return -EBUSY;
		}
	return 0;
}

/* Detach our program from the given mode (skb 0: native, 1: generic). */
static void xdp_detach_mode(int ifindex, int skb)
{
	char name[32];

	if (ifindex > 0 && xdp_attached(ifindex, skb, name, sizeof(name)) > 0 &&
	    !strncmp(name, "mape_", 5))
		bpf_xdp_detach(ifindex, skb ? XDP_FLAGS_SKB_MODE : XDP_FLAGS_DRV_MODE, NULL);
}

static int xdp_attach(int ifindex, int prog_fd, int skb, const char *ifname, char *err)
{
	int ret;

	/* the other mode may hold our program from an earlier run */
	xdp_detach_mode(ifindex, !skb);
	ret = bpf_xdp_attach(ifindex, prog_fd, skb ? XDP_FLAGS_SKB_MODE : XDP_FLAGS_DRV_MODE,
			     NULL);
	if (ret)
		snprintf(err, MAPE_ERRLEN, "cannot attach XDP (%s mode) to %s: %s",
			 skb ? "skb" : "native", ifname, strerror(-ret));
	return ret;
}

static int tc_attach(int ifindex, int prog_fd, const char *ifname, char *err)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_EGRESS);
	DECLARE_LIBBPF_OPTS(bpf_tc_opts, opts, .handle = 1, .priority = 1, .prog_fd = prog_fd,
			    .flags = BPF_TC_F_REPLACE);
	int ret = bpf_tc_hook_create(&hook);

	if (ret && ret != -EEXIST) {
		snprintf(err, MAPE_ERRLEN, "cannot create clsact on %s: %s", ifname,
			 strerror(-ret));
		return ret;
	}
	ret = bpf_tc_attach(&hook, &opts);
	if (ret)
		snprintf(err, MAPE_ERRLEN, "cannot attach TC egress program to %s: %s", ifname,
			 strerror(-ret));
	return ret;
}

static int libbpf_quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (getenv("MAPECTL_DEBUG"))
		return vfprintf(stderr, fmt, ap);
	return 0;
}

/* Open and load the programs, their maps pinned under dir (reused if there). */
static int load(const char *dir, struct mape_ce **out, char *err)
{
	struct mape_ce *skel;
	struct bpf_map *map;
	char path[512];
	int ret;

	libbpf_set_print(libbpf_quiet);
	skel = mape_ce__open();
	if (!skel) {
		snprintf(err, MAPE_ERRLEN, "cannot open the BPF object: %s", strerror(errno));
		return -errno;
	}
	bpf_object__for_each_map(map, skel->obj) {
		snprintf(path, sizeof(path), "%s/%s", dir, bpf_map__name(map));
		bpf_map__set_pin_path(map, path);
	}
	ret = mape_ce__load(skel);
	if (ret) {
		snprintf(err, MAPE_ERRLEN,
			 "cannot load the BPF programs: %s (kernel too old, not root, or maps "
			 "pinned in %s by another version: run mapectl down; MAPECTL_DEBUG=1 "
			 "shows the verifier log)", strerror(-ret), dir);
		mape_ce__destroy(skel);
		return ret;
	}
	*out = skel;
	return 0;
}

static int pin_progs(struct mape_ce *skel, const char *dir, char *err)
{
	struct bpf_program *prog;
	char path[512];
	int ret;

	bpf_object__for_each_program(prog, skel->obj) {
		snprintf(path, sizeof(path), "%s/%s", dir, bpf_program__name(prog));
		unlink(path);
		ret = bpf_program__pin(prog, path);
		if (ret) {
			snprintf(err, MAPE_ERRLEN, "cannot pin %s: %s", path, strerror(-ret));
			return ret;
		}
	}
	return 0;
}

/* Delete every key of a hash map. */
static void map_clear(int fd, size_t key_size)
{
	char key[64], next[64];

	if (key_size > sizeof(key))
		return;
	while (!bpf_map_get_next_key(fd, NULL, next)) {
		memcpy(key, next, key_size);
		if (bpf_map_delete_elem(fd, key))
			break;
	}
}

/* Our IPv4 address or port set changed: no session is valid any more. */
static void flush_sessions(struct mape_ce *skel, const struct mape_config *old)
{
	struct mape_port zero = {};

	map_clear(bpf_map__fd(skel->maps.mape_out), sizeof(struct mape_out_key));
	map_clear(bpf_map__fd(skel->maps.mape_in), sizeof(struct mape_in_key));
	map_clear(bpf_map__fd(skel->maps.mape_bind), sizeof(struct mape_bind_key));
	map_clear(bpf_map__fd(skel->maps.mape_adf), sizeof(struct mape_adf_key));
	map_clear(bpf_map__fd(skel->maps.mape_frag), sizeof(struct mape_frag_key));
	for (__u32 p = 0; p < MAPE_P_NUM; p++)
		for (__u32 i = 0; i < old->port_count; i++) {
			__u32 slot = p * 65536 + mape_ps_port(&old->ps, i);

			bpf_map_update_elem(bpf_map__fd(skel->maps.mape_ports), &slot, &zero,
					    BPF_ANY);
		}
}

static int fill_fmrs(struct mape_ce *skel, const struct mape_result *res, char *err)
{
	int fd = bpf_map__fd(skel->maps.mape_fmr);

	map_clear(fd, sizeof(struct mape_fmr_key));
	for (size_t i = 0; i < res->n_fmrs; i++) {
		struct mape_fmr_key k = { .prefixlen = res->fmrs[i].ip4_len,
					  .addr = htonl(res->fmrs[i].ipv4) };

		if (bpf_map_update_elem(fd, &k, &res->fmrs[i], BPF_ANY)) {
			snprintf(err, MAPE_ERRLEN, "cannot store FMR %zu: %s", i, strerror(errno));
			return -errno;
		}
	}
	return 0;
}

/* Remove what cfg says an instance added (also undoes a failed first up). */
static void teardown(const struct mape_config *cfg, const char *tun, const char *wan,
		     const char *dir)
{
	char ce[64], buf[80], err[MAPE_ERRLEN], path[512];

	for (int i = 0; i < cfg->n_lans && i < MAPE_MAX_LANS; i++) {
		xdp_detach_mode(cfg->lan_ifindex[i], 0);
		xdp_detach_mode(cfg->lan_ifindex[i], 1);
	}
	xdp_detach_mode(cfg->wan_ifindex, 0);
	xdp_detach_mode(cfg->wan_ifindex, 1);
	mape_fmt_ip6(cfg->ce_addr, ce, sizeof(ce));
	snprintf(buf, sizeof(buf), "%s/128", ce);
	if (wan && *wan)
		mape_ip(err, 1, "-6", "addr", "del", buf, "dev", wan, NULL);
	if (tun && *tun)
		mape_ip(err, 1, "link", "del", "dev", tun, NULL);	/* peer, address, route */
	for (size_t i = 0; i < sizeof(prog_names) / sizeof(prog_names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, prog_names[i]);
		unlink(path);
	}
	/* unpinning the maps frees them (and cancels the session timers) */
	static const char *const maps[] = { "mape_cfg", "mape_fmr", "mape_out", "mape_in",
					    "mape_bind", "mape_ports", "mape_adf", "mape_frag",
					    "mape_stats", "mape_icmp_rl" };
	for (size_t i = 0; i < sizeof(maps) / sizeof(maps[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, maps[i]);
		unlink(path);
	}
	rmdir(dir);
}

static int check_iface(const char *name, const char *opt, char *err)
{
	int idx = name ? (int)if_nametoindex(name) : 0;

	if (!name) {
		snprintf(err, MAPE_ERRLEN, "missing %s", opt);
		return -EINVAL;
	}
	if (!idx) {
		snprintf(err, MAPE_ERRLEN, "unknown interface '%s' (%s)", name, opt);
		return -ENODEV;
	}
	return idx;
}

/* Everything that can be refused is refused here, before any change. */
static int up_check(struct up_opts *o, const struct mape_result *res, struct mape_config *old,
		    int *have_old, char *dir, char *err)
{
	unsigned int wan_mtu;
	int wan, tun, ret;

	if (!res->has_br) {
		snprintf(err, MAPE_ERRLEN, "no BR address: give --br (or br= in the rule)");
		return -EINVAL;
	}
	if (res->ipv4_len != 32) {
		snprintf(err, MAPE_ERRLEN, "the rule gives this CE an IPv4 prefix (/%u), not one "
			 "address: not supported", res->ipv4_len);
		return -EINVAL;
	}
	wan = check_iface(o->wan, "--wan", err);
	if (wan < 0)
		return wan;
	if (!o->n_lans) {
		snprintf(err, MAPE_ERRLEN, "missing --lan (at least one LAN interface)");
		return -EINVAL;
	}
	for (int i = 0; i < o->n_lans; i++) {
		ret = check_iface(o->lans[i], "--lan", err);
		if (ret < 0)
			return ret;
		if (ret == wan) {
			snprintf(err, MAPE_ERRLEN, "--lan %s is also the --wan", o->lans[i]);
			return -EINVAL;
		}
		for (int j = 0; j < i; j++)
			if (!strcmp(o->lans[i], o->lans[j])) {
				snprintf(err, MAPE_ERRLEN, "--lan %s given twice", o->lans[i]);
				return -EINVAL;
			}
		ret = check_xdp_free(o->lans[i], err);
		if (ret)
			return ret;
	}
	if (strlen(o->tun) + 2 >= IFNAMSIZ || !*o->tun || strchr(o->tun, '/')) {
		snprintf(err, MAPE_ERRLEN, "bad --tun '%s': at most %d characters", o->tun,
			 IFNAMSIZ - 3);
		return -EINVAL;
	}
	ret = mape_if_mtu(o->wan, &wan_mtu, err);
	if (ret)
		return ret;
	if (o->mtu + 40 > wan_mtu) {
		snprintf(err, MAPE_ERRLEN, "tunnel MTU %lu + 40 exceeds the MTU %u of WAN %s",
			 o->mtu, wan_mtu, o->wan);
		return -EINVAL;
	}
	ret = check_xdp_free(o->wan, err);
	if (ret)
		return ret;
	if (geteuid() != 0) {
		snprintf(err, MAPE_ERRLEN, "mapectl up needs root (CAP_NET_ADMIN and CAP_BPF)");
		return -EPERM;
	}
	ret = mape_pin_resolve(o->pin_dir, dir, 512, err);
	if (ret)
		return ret;
	*have_old = mape_read_cfg(o->pin_dir, old, err) == 0;
	if (*have_old && old->wan_ifindex != (__u32)wan) {
		char name[IF_NAMESIZE] = "?";

		if_indextoname(old->wan_ifindex, name);
		snprintf(err, MAPE_ERRLEN, "already up on WAN %s (pin dir %s): run mapectl down "
			 "first, or use another --pin-dir", name, o->pin_dir);
		return -EBUSY;
	}
	tun = if_nametoindex(o->tun);
	if (tun && tun == wan) {
		snprintf(err, MAPE_ERRLEN, "--tun %s is the WAN interface", o->tun);
		return -EINVAL;
	}
	if (tun && !(*have_old && old->tun_ifindex == (__u32)tun)) {
		snprintf(err, MAPE_ERRLEN, "interface %s exists and is not ours: pick another --tun",
			 o->tun);
		return -EEXIST;
	}
	return 0;
}

static int make_tunnel(const struct up_opts *o, char *err)
{
	char peer[IFNAMSIZ], mtu[16], path[128];
	int ret;

	peer_name(o->tun, peer);
	snprintf(mtu, sizeof(mtu), "%lu", o->mtu);
	if (!if_nametoindex(o->tun)) {
		ret = mape_ip(err, 0, "link", "add", o->tun, "type", "veth", "peer", "name", peer,
			      NULL);
		if (ret)
			return ret;
	}
	/* an IPv4-only face: no link-local, no DAD, no MLD on it */
	snprintf(path, sizeof(path), "net/ipv6/conf/%s/disable_ipv6", o->tun);
	mape_sysctl(path, "1", err);
	snprintf(path, sizeof(path), "net/ipv6/conf/%s/disable_ipv6", peer);
	mape_sysctl(path, "1", err);
	ret = mape_ip(err, 0, "link", "set", "dev", o->tun, "mtu", mtu, "arp", "off", "up", NULL);
	if (!ret)
		ret = mape_ip(err, 0, "link", "set", "dev", peer, "mtu", mtu, "arp", "off", "up",
			      NULL);
	return ret;
}

static int up_apply(struct up_opts *o, const struct mape_result *res, struct mape_config *old,
		    int have_old, const char *dir, char *err)
{
	struct mape_ce *skel = NULL;
	struct mape_config cfg = {};
	char a4[32], a6[64], buf[80], peer[IFNAMSIZ];
	__u32 zero = 0;
	int ret;

	ret = mkdir(dir, 0700);
	if (ret && errno != EEXIST) {
		snprintf(err, MAPE_ERRLEN, "cannot create pin directory %s: %s", dir,
			 strerror(errno));
		return -errno;
	}
	ret = load(dir, &skel, err);
	if (ret)
		goto out;
	ret = make_tunnel(o, err);
	if (ret)
		goto out;
	peer_name(o->tun, peer);

	/* the configuration, complete before anything is attached */
	memcpy(cfg.ce_addr, res->ce, 16);
	memcpy(cfg.br_addr, res->br, 16);
	cfg.ipv4 = htonl(res->ipv4);
	cfg.ipv4_len = res->ipv4_len;
	cfg.ps = res->ps;
	cfg.port_count = mape_ps_count(&res->ps);
	cfg.iid = res->iid;
	cfg.filtering = o->filtering;
	cfg.mtu = o->mtu;
	cfg.to_tcp_est = o->to[0];
	cfg.to_tcp_trans = o->to[1];
	cfg.to_udp = o->to[2];
	cfg.to_icmp = o->to[3];
	cfg.icmp_rate = o->icmp_rate;
	cfg.generation = have_old ? old->generation + 1 : 1;
	cfg.wan_ifindex = if_nametoindex(o->wan);
	cfg.tun_ifindex = if_nametoindex(o->tun);
	cfg.tun_peer_ifindex = if_nametoindex(peer);
	cfg.n_lans = o->n_lans;
	for (int i = 0; i < o->n_lans; i++)
		cfg.lan_ifindex[i] = if_nametoindex(o->lans[i]);
	cfg.xdp_skb = o->xdp_skb;
	cfg.bmr = res->bmr;
	ret = mape_if_mac(o->tun, cfg.tun_mac, err);
	if (!ret)
		ret = mape_if_mac(peer, cfg.tun_peer_mac, err);
	if (ret)
		goto out;
	cfg.flags = MAPE_CFG_ENABLED;

	/* addresses and route */
	mape_fmt_ip4(res->ipv4, a4, sizeof(a4));
	if (have_old && old->ipv4 != cfg.ipv4) {
		char o4[32];

		mape_fmt_ip4(ntohl(old->ipv4), o4, sizeof(o4));
		snprintf(buf, sizeof(buf), "%s/32", o4);
		mape_ip(err, 1, "addr", "del", buf, "dev", o->tun, NULL);
	}
	snprintf(buf, sizeof(buf), "%s/32", a4);
	ret = mape_ip(err, 0, "addr", "replace", buf, "dev", o->tun, NULL);
	if (!ret)
		ret = mape_ip(err, 0, "route", "replace", "default", "dev", o->tun, NULL);
	if (ret)
		goto out;
	if (have_old && memcmp(old->ce_addr, cfg.ce_addr, 16)) {
		mape_fmt_ip6(old->ce_addr, a6, sizeof(a6));
		snprintf(buf, sizeof(buf), "%s/128", a6);
		mape_ip(err, 1, "-6", "addr", "del", buf, "dev", o->wan, NULL);
	}
	mape_fmt_ip6(res->ce, a6, sizeof(a6));
	snprintf(buf, sizeof(buf), "%s/128", a6);
	ret = mape_ip(err, 0, "-6", "addr", "replace", buf, "dev", o->wan, "nodad", NULL);
	if (ret)
		goto out;

	ret = pin_progs(skel, dir, err);
	if (ret)
		goto out;
	if (have_old && (old->ipv4 != cfg.ipv4 || memcmp(&old->ps, &cfg.ps, sizeof(cfg.ps))))
		flush_sessions(skel, old);
	ret = fill_fmrs(skel, res, err);
	if (ret)
		goto out;
	if (bpf_map_update_elem(bpf_map__fd(skel->maps.mape_cfg), &zero, &cfg, BPF_ANY)) {
		ret = -errno;
		snprintf(err, MAPE_ERRLEN, "cannot write the configuration: %s", strerror(errno));
		goto out;
	}

	/* attach: WAN, LANs, the tunnel's XDP_PASS and TC egress */
	ret = xdp_attach(cfg.wan_ifindex, bpf_program__fd(skel->progs.mape_wan), o->xdp_skb,
			 o->wan, err);
	for (int i = 0; !ret && i < o->n_lans; i++)
		ret = xdp_attach(cfg.lan_ifindex[i], bpf_program__fd(skel->progs.mape_lan),
				 o->xdp_skb, o->lans[i], err);
	if (!ret)
		ret = xdp_attach(cfg.tun_ifindex, bpf_program__fd(skel->progs.mape_pass),
				 o->xdp_skb, o->tun, err);
	if (!ret)
		ret = tc_attach(cfg.tun_ifindex, bpf_program__fd(skel->progs.mape_tun), o->tun,
				err);
	if (ret)
		goto out;
	/* LANs of the previous configuration that are not LANs any more */
	for (int i = 0; have_old && i < old->n_lans && i < MAPE_MAX_LANS; i++) {
		int keep = 0;

		for (int j = 0; j < cfg.n_lans; j++)
			keep |= old->lan_ifindex[i] == cfg.lan_ifindex[j];
		if (!keep) {
			xdp_detach_mode(old->lan_ifindex[i], 0);
			xdp_detach_mode(old->lan_ifindex[i], 1);
		}
	}
	printf("%s: %s PSID %u/%u (%u ports), CE %s on %s, BR ", o->tun, a4, cfg.ps.psid,
	       cfg.ps.len, cfg.port_count, a6, o->wan);
	mape_fmt_ip6(cfg.br_addr, a6, sizeof(a6));
	printf("%s%s\n", a6, have_old ? " (reconfigured)" : "");
out:
	if (ret && !have_old) {
		/* a first up that failed leaves nothing behind */
		cfg.wan_ifindex = if_nametoindex(o->wan);
		cfg.n_lans = o->n_lans;
		for (int i = 0; i < o->n_lans; i++)
			cfg.lan_ifindex[i] = if_nametoindex(o->lans[i]);
		memcpy(cfg.ce_addr, res->ce, 16);
		teardown(&cfg, o->tun, o->wan, dir);
	}
	mape_ce__destroy(skel);
	return ret;
}

int cmd_up(int argc, char **argv)
{
	struct up_opts o;
	struct mape_ruleset rs;
	struct mape_result res = { 0 };
	struct mape_config old;
	char err[MAPE_ERRLEN], dir[512];
	int ret, have_old = 0;

	ret = parse_up(argc, argv, &o, err);
	if (ret)
		return ret > 0 ? 0 : mape_errorf("%s", err);
	mape_ruleset_init(&rs);
	ret = mape_input_resolve(&o.in, &rs, &res, err);
	if (!ret)
		ret = up_check(&o, &res, &old, &have_old, dir, err);
	if (!ret)
		ret = up_apply(&o, &res, &old, have_old, dir, err);
	mape_result_free(&res);
	mape_ruleset_free(&rs);
	return ret ? mape_errorf("%s", err) : 0;
}

int cmd_down(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "pin-dir", required_argument, NULL, OPT_PIN_DIR },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *pin_dir = MAPE_PIN_DIR;
	char err[MAPE_ERRLEN], dir[512], tun[IF_NAMESIZE] = "", wan[IF_NAMESIZE] = "";
	struct mape_config cfg;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == OPT_PIN_DIR) {
			pin_dir = optarg;
		} else if (c == 'h') {
			printf("usage: mapectl down [--pin-dir DIR]\n"
			       "  removes what mapectl up added: attachments, the tunnel interface,\n"
			       "  the CE address, the pinned maps and programs (and so all sessions)\n");
			return 0;
		} else {
			return mape_errorf("bad usage (mapectl down --help)");
		}
	}
	if (optind < argc)
		return mape_errorf("unexpected argument '%s'", argv[optind]);
	if (geteuid() != 0)
		return mape_errorf("mapectl down needs root");
	if (mape_pin_resolve(pin_dir, dir, sizeof(dir), err))
		return mape_errorf("%s", err);
	if (mape_read_cfg(pin_dir, &cfg, err)) {
		printf("nothing to do: %s\n", err);
		return 0;
	}
	if_indextoname(cfg.tun_ifindex, tun);
	if_indextoname(cfg.wan_ifindex, wan);
	teardown(&cfg, tun, wan, dir);
	printf("down: removed %s%s%s\n", tun[0] ? tun : "(tunnel gone)", wan[0] ? " and the CE "
	       "address on " : "", wan);
	return 0;
}
