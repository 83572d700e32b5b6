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
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <sys/stat.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "cmd.h"
#include "input.h"
#include "netcfg.h"
#include "attach.h"
#include "pin.h"
#include "veth.h"
#include "fwd.h"
#include "conf.h"
#include "route.h"
#include "mape_ce.skel.h"

enum {
	OPT_WAN = OPT_INPUT_END + 1, OPT_LAN, OPT_MTU, OPT_XDP_MODE, OPT_PIN_DIR, OPT_TUN,
	OPT_FILTERING, OPT_TO_TCP_EST, OPT_TO_TCP_TRANS, OPT_TO_UDP, OPT_TO_ICMP, OPT_ICMP_RATE,
	OPT_MAX_SESSIONS, OPT_MAX_PER_HOST, OPT_MAX_PORTS_HOST, OPT_CONFIG, OPT_ROUTE, OPT_METRIC,
};
#define OPT_DAEMON MAPE_OPT_DAEMON_ONLY

/* up's options; also the keys of the configuration file (conf.h). */
static const struct mape_opt up_opts[] = {
	{ "wan", OPT_WAN, "IF", "IPv6 uplink; the CE address is added to it" },
	{ "lan", OPT_LAN, "IF", "LAN interface (repeat for several, at most 8)" },
	{ "mtu", OPT_MTU, "N", "tunnel MTU (default 1460); TCP MSS is clamped to N - 40" },
	{ "xdp-mode", OPT_XDP_MODE, "M", "native (default) or skb (generic XDP)" },
	{ "tun", OPT_TUN, "NAME", "tunnel interface name (default mape0; its veth peer NAME-p)" },
	{ "filtering", OPT_FILTERING, "F",
	  "inbound filtering: address (default, RFC 4787 ADF) or endpoint" },
	{ "timeout-tcp-est", OPT_TO_TCP_EST, "S", "established TCP timeout, seconds (default 7440)" },
	{ "timeout-tcp-trans", OPT_TO_TCP_TRANS, "S",
	  "transitory TCP timeout, seconds (default 240)" },
	{ "timeout-udp", OPT_TO_UDP, "S", "UDP timeout, seconds (default 300)" },
	{ "timeout-icmp", OPT_TO_ICMP, "S", "ICMP timeout, seconds (default 60)" },
	{ "icmp-rate", OPT_ICMP_RATE, "N", "ICMP errors we send per second (default 10)" },
	{ "max-sessions", OPT_MAX_SESSIONS, "N", "session table size (default 65536; fixed until down)" },
	{ "max-sessions-per-host", OPT_MAX_PER_HOST, "N",
	  "sessions one LAN host may hold (default: a quarter of\n"
	  "--max-sessions; 0: no limit)" },
	{ "max-ports-per-host", OPT_MAX_PORTS_HOST, "N",
	  "ports of the set one LAN host may take alone, per protocol;\n"
	  "beyond, its new flows share ports in use (default: half\n"
	  "the set; 0: no limit)" },
	{ "route", OPT_ROUTE, "R",
	  "the IPv4 default route into the tunnel: default (main table,\n"
	  "the default), 'table N', or none; a default route it replaces\n"
	  "is saved and put back by mapectl down" },
	{ "metric", OPT_METRIC, "M", "its metric (default 0)" },
	{ "config", OPT_CONFIG, "FILE",
	  "options from FILE (key = value, the options without dashes,\n"
	  "and a [forwards] section); the command line overrides it" },
	{ "pin-dir", OPT_PIN_DIR, "DIR", "where maps and programs are pinned (default " MAPE_PIN_DIR ")" },
	MAPE_OPT_END,
};

/* what up parses (mapectl daemon's options too: they are keys of the
 * configuration file, and up names them in its error), and what it lists */
static const struct mape_opt *const up_optv[] = { mape_input_opts, up_opts, mape_daemon_opts,
						  mape_help_opts, NULL };
static const struct mape_opt *const up_helpv[] = { mape_input_opts, up_opts, mape_help_opts,
						   NULL };

const struct option *mape_up_longopts(void)
{
	static struct option lo[64];

	if (!lo[0].name)
		mape_opts_longopts(up_optv, lo, 64);
	return lo;
}

static void up_usage(void)
{
	fputs("usage: mapectl up --wan IF --lan IF [--lan IF...] --prefix PREFIX\n"
	      "         (--preset NAME | --rule RULE... | --dhcpv6-hex HEX | --provisioning FILE)\n"
	      "         [--br ADDR] [--iid draft03|rfc7597] [--mtu N] [--xdp-mode native|skb]\n"
	      "         [--tun NAME] [--filtering address|endpoint] [--pin-dir DIR]\n"
	      "         [--timeout-tcp-est S] [--timeout-tcp-trans S] [--timeout-udp S]\n"
	      "         [--timeout-icmp S] [--icmp-rate N] [--max-sessions N]\n"
	      "         [--max-sessions-per-host N] [--max-ports-per-host N]\n"
	      "         [--route default|'table N'|none] [--metric M] [--config FILE]\n"
	      "\n", stdout);
	mape_opts_help(stdout, up_helpv);
}

struct up_opts {
	struct mape_input in;
	const char *wan, *lans[MAPE_MAX_LANS], *pin_dir, *tun;
	int n_lans, xdp_skb;
	unsigned long mtu, filtering, to[4], icmp_rate, max_sessions, max_per_host;
	unsigned long max_ports_host;
	int per_host_given, ports_host_given, xdp_mode_given;
	struct mape_route_opts route;
};

static int parse_up(int argc, char **argv, struct up_opts *o, char *err)
{
	static const char *const to_names[] = { "--timeout-tcp-est", "--timeout-tcp-trans",
						 "--timeout-udp", "--timeout-icmp" };
	unsigned long v;
	int c, ret;

	memset(o, 0, sizeof(*o));
	mape_input_init(&o->in);
	o->route.table = 254;	/* main */
	o->pin_dir = MAPE_PIN_DIR;
	o->tun = "mape0";
	o->mtu = 1460;
	o->to[0] = 7440;	/* RFC 5382 REQ-5: at least 2 h 4 min */
	o->to[1] = 240;		/* RFC 5382: transitory 4 min */
	o->to[2] = 300;		/* RFC 4787 REQ-5: 5 min recommended */
	o->to[3] = 60;		/* RFC 5508 REQ-1 */
	o->icmp_rate = 10;
	o->max_sessions = MAPE_MAX_SESSIONS;
	optind = 1;
	while ((c = mape_getopt(argc, argv, "h", up_optv)) != -1) {
		ret = mape_input_option(&o->in, c, optarg, err);
		if (ret < 0)
			return -EINVAL;
		if (ret)
			continue;
		switch (c) {
		case 'h':
			up_usage();
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
			o->xdp_mode_given = 1;
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
			if (mape_parse_uint(to_names[c - OPT_TO_TCP_EST], optarg, 86400 * 7,
					    &o->to[c - OPT_TO_TCP_EST], err))
				return -EINVAL;
			if (!o->to[c - OPT_TO_TCP_EST]) {
				snprintf(err, MAPE_ERRLEN, "bad %s '0': must be at least 1",
					 to_names[c - OPT_TO_TCP_EST]);
				return -EINVAL;
			}
			break;
		case OPT_MAX_SESSIONS:
			if (mape_parse_uint("--max-sessions", optarg, 1 << 24, &o->max_sessions,
					    err))
				return -EINVAL;
			if (o->max_sessions < 64) {
				snprintf(err, MAPE_ERRLEN,
					 "bad --max-sessions '%s': must be 64..16777216", optarg);
				return -EINVAL;
			}
			break;
		case OPT_ICMP_RATE:
			if (mape_parse_uint("--icmp-rate", optarg, 100000, &o->icmp_rate, err))
				return -EINVAL;
			break;
		case OPT_MAX_PER_HOST:
			if (mape_parse_uint("--max-sessions-per-host", optarg, 1 << 24,
					    &o->max_per_host, err))
				return -EINVAL;
			o->per_host_given = 1;
			break;
		case OPT_ROUTE:
			/* "--route table N" as two words too */
			if (!strcmp(optarg, "table") && optind < argc && argv[optind][0] >= '0' &&
			    argv[optind][0] <= '9') {
				char two[64];

				snprintf(two, sizeof(two), "table %s", argv[optind++]);
				if (mape_route_parse(two, &o->route, err))
					return -EINVAL;
				break;
			}
			if (mape_route_parse(optarg, &o->route, err))
				return -EINVAL;
			break;
		case OPT_METRIC:
			if (mape_parse_uint("--metric", optarg, 0xfffffffful, &v, err))
				return -EINVAL;
			o->route.metric = v;
			break;
		case OPT_CONFIG:
			break;	/* read by cmd_up before */
		case OPT_DAEMON:	/* keys of the file for mapectl daemon */
			break;
		case OPT_MAX_PORTS_HOST:
			if (mape_parse_uint("--max-ports-per-host", optarg, 65536,
					    &o->max_ports_host, err))
				return -EINVAL;
			o->ports_host_given = 1;
			break;
		default:
			return 2;	/* usage error, reported by cmd_up */
		}
	}
	if (optind < argc) {
		snprintf(err, MAPE_ERRLEN, "unexpected argument '%s'", argv[optind]);
		return -EINVAL;
	}
	/* default: a quarter of the table, so that one host cannot fill it */
	if (!o->per_host_given)
		o->max_per_host = o->max_sessions / 4;
	else if (o->max_per_host > o->max_sessions) {
		snprintf(err, MAPE_ERRLEN, "bad --max-sessions-per-host '%lu': more than "
			 "--max-sessions %lu", o->max_per_host, o->max_sessions);
		return -EINVAL;
	}
	return 0;
}

/*
 * Run the sweep program (mape_sweep). It arms sessions still waiting for
 * their timer; and when our IPv4 address or port set changed and the new
 * epoch is in force, every session of the old one must end: userspace
 * deletes none (they carry timers), the sweep makes their timers fire now,
 * and each callback releases its session's port, binding and filter
 * entries. The fragment cache holds no timers and is cleared here.
 * Returns the number of old sessions found, or -errno.
 */
static int run_sweep(struct mape_ce *skel, int new_epoch, char *err)
{
	char pkt[64] = { 0 }, out[64];
	LIBBPF_OPTS(bpf_test_run_opts, run, .data_in = pkt, .data_size_in = sizeof(pkt),
		    .data_out = out, .data_size_out = sizeof(out));
	__u32 res[2] = { 0, 0 };
	int ret;

	ret = new_epoch ? mape_map_clear(bpf_map__fd(skel->maps.mape_frag),
					 sizeof(struct mape_frag_key)) : 0;
	/* the janitor's timer is allocated on the first run; the kernel's
	 * allocator may refuse for a moment, so a few tries */
	for (int i = 0; !ret && !res[1] && i < 20; i++) {
		if (i)
			usleep(10000);
		ret = bpf_prog_test_run_opts(bpf_program__fd(skel->progs.mape_sweep), &run);
		if (!ret && run.retval != XDP_PASS)
			ret = -ENOENT;
		if (!ret)
			memcpy(res, out, sizeof(res));
	}
	if (ret) {
		snprintf(err, MAPE_ERRLEN, "cannot sweep the sessions (mape_sweep): %s",
			 strerror(-ret));
		return ret;
	}
	if (!res[1])
		fprintf(stderr, "warning: the janitor's timer could not be allocated: a session "
			"whose own timer fails waits for the next up\n");
	return (int)res[0];
}

/*
 * Native XDP redirects into the WAN and the LANs. Into a veth whose peer
 * has neither GRO nor an XDP program, the frames would be dropped: such a
 * target is reached through the kernel instead (mape_config.no_xdp_xmit),
 * and `up` says how to have the fast path. Generic XDP transmits skbs and
 * has no such limit.
 */
static __u32 xmit_targets(const struct up_opts *o)
{
	__u32 mask = 0;

	for (int i = 0; i < o->n_lans && i < MAPE_MAX_LANS; i++)
		if (!mape_xdp_xmit_check(o->lans[i]))
			mask |= 1u << i;
	if (!mape_xdp_xmit_check(o->wan))
		mask |= MAPE_NOXMIT_WAN;
	return mask;
}

struct fmr_prune_arg {
	int fd;
	const struct mape_result *res;
};

/* Remove an FMR the new rules do not have. */
static int fmr_prune(const void *key, const void *value, void *arg)
{
	const struct mape_fmr_key *k = key;
	const struct fmr_prune_arg *a = arg;

	(void)value;
	for (size_t i = 0; i < a->res->n_fmrs; i++)
		if (k->prefixlen == a->res->fmrs[i].ip4_len &&
		    k->addr == htonl(a->res->fmrs[i].ipv4))
			return 0;
	if (bpf_map_delete_elem(a->fd, k) && errno != ENOENT)
		return -errno;
	return 0;
}

/* Store the forwarding rules: new and changed ones first, then the others
 * removed, so that a rule kept across `up` is never missing. */
static int fill_fmrs(struct mape_ce *skel, const struct mape_result *res, char *err)
{
	int fd = bpf_map__fd(skel->maps.mape_fmr);
	struct fmr_prune_arg fa = { .fd = fd, .res = res };
	struct mape_fmr_key k;
	int ret;

	for (size_t i = 0; i < res->n_fmrs; i++) {
		k = (struct mape_fmr_key){ .prefixlen = res->fmrs[i].ip4_len,
					   .addr = htonl(res->fmrs[i].ipv4) };
		if (bpf_map_update_elem(fd, &k, &res->fmrs[i], BPF_ANY)) {
			snprintf(err, MAPE_ERRLEN, "cannot store FMR %zu: %s", i, strerror(errno));
			return -errno;
		}
	}
	ret = mape_map_walk(fd, sizeof(k), NULL, fmr_prune, &fa);
	if (ret)
		snprintf(err, MAPE_ERRLEN, "cannot remove an old FMR: %s", strerror(-ret));
	return ret;
}

/*
 * The forwards of the state file, for the port set now in force: those
 * whose ports left it are kept disabled (and out of the data path), those
 * whose ports came back are enabled again; each is reported. Written to
 * the maps after the switch, so never applied to ports of another set.
 */
static int apply_forwards(struct mape_ce *skel, const char *tun, const struct mape_config *cfg,
			  struct mape_fwd_set *fwds, const char *path, int dirty, char *err)
{
	struct mape_fwd_maps m = { .fwd = bpf_map__fd(skel->maps.mape_fwd),
				   .rev = bpf_map__fd(skel->maps.mape_fwd_rev),
				   .src = bpf_map__fd(skel->maps.mape_fwd_src) };
	int *was = calloc(fwds->n + 1, sizeof(int)), changed, ret;
	char d[96], why[MAPE_ERRLEN];

	if (!was) {
		snprintf(err, MAPE_ERRLEN, "out of memory");
		return -ENOMEM;
	}
	/* port mappings that ended, or whose ports left the set, go */
	dirty |= mape_fwd_drop_mappings(fwds, &cfg->ps, time(NULL), 0) > 0;
	for (size_t i = 0; i < fwds->n; i++)
		was[i] = fwds->v[i].enabled;
	changed = mape_fwd_refresh(fwds, &cfg->ps);
	ret = mape_fwd_sync(&m, fwds, err);
	if (!ret && (changed || dirty))
		ret = mape_fwd_save(path, fwds, err);
	for (size_t i = 0; !ret && i < fwds->n; i++) {
		mape_fwd_describe(&fwds->v[i], d, sizeof(d));
		if (fwds->v[i].enabled) {
			if (!was[i])
				printf("%s: forward %s enabled again: its ports are in the port set\n",
				       tun, d);
			continue;
		}
		mape_fwd_check_set(&fwds->v[i], &cfg->ps, why);
		printf("%s: forward %s disabled (kept): %s\n", tun, d, why);
	}
	free(was);
	return ret;
}

/* Remove what cfg says an instance added (also undoes a failed first up). */
static void teardown(const struct mape_config *cfg, const char *tun, const char *wan,
		     const char *dir)
{
	char ce[64], buf[80], err[MAPE_ERRLEN];

	for (int i = 0; i < cfg->n_lans && i < MAPE_MAX_LANS; i++) {
		mape_xdp_detach(cfg->lan_ifindex[i], 0);
		mape_xdp_detach(cfg->lan_ifindex[i], 1);
	}
	mape_xdp_detach(cfg->wan_ifindex, 0);
	mape_xdp_detach(cfg->wan_ifindex, 1);
	mape_tc_detach(cfg->wan_ifindex, 1);
	mape_fmt_ip6(cfg->ce_addr, ce, sizeof(ce));
	snprintf(buf, sizeof(buf), "%s/128", ce);
	if (wan && *wan)
		mape_ip(err, 1, "-6", "addr", "del", buf, "dev", wan, NULL);
	if (tun && *tun) {
		mape_ip(err, 1, "link", "del", "dev", tun, NULL);	/* peer, address, route */
		mape_conntrack_anchor(tun, 0, err);
	}
	/* unpinning the maps frees them (and cancels the session timers) */
	mape_unpin_dir(dir);
}

/* The first character of /proc/sys/<path>, or 0 when unreadable. */
static char sysctl_char(const char *fmt, const char *arg)
{
	char path[256], c = 0;
	FILE *f;

	snprintf(path, sizeof(path), fmt, arg);
	f = fopen(path, "re");
	if (f) {
		if (fread(&c, 1, 1, f) != 1)
			c = 0;
		fclose(f);
	}
	return c;
}

/* Is there an IPv6 route to addr (RTM_GETROUTE)? 1 yes, 0 no, -1 unknown. */
static int route6_exists(const __u8 addr[16])
{
	struct {
		struct nlmsghdr nh;
		struct rtmsg rt;
		struct rtattr a;
		__u8 dst[16];
	} req = { .nh = { .nlmsg_len = sizeof(req), .nlmsg_type = RTM_GETROUTE,
			  .nlmsg_flags = NLM_F_REQUEST, .nlmsg_seq = 1 },
		  .rt = { .rtm_family = AF_INET6, .rtm_dst_len = 128 },
		  .a = { .rta_len = RTA_LENGTH(16), .rta_type = RTA_DST } };
	char buf[4096];
	struct nlmsghdr *nh = (void *)buf;
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE), ret = -1;
	ssize_t n;

	memcpy(req.dst, addr, 16);
	if (fd < 0)
		return -1;
	if (send(fd, &req, sizeof(req), 0) == sizeof(req) &&
	    (n = recv(fd, buf, sizeof(buf), 0)) > 0 && NLMSG_OK(nh, n)) {
		if (nh->nlmsg_type == RTM_NEWROUTE)
			ret = ((struct rtmsg *)NLMSG_DATA(nh))->rtm_type == RTN_UNICAST;
		else if (nh->nlmsg_type == NLMSG_ERROR)
			ret = ((struct nlmsgerr *)NLMSG_DATA(nh))->error ? 0 : -1;
	}
	close(fd);
	return ret;
}

/* What will not stop up but will stop traffic: one warning line each. */
static void up_warnings(const struct up_opts *o, const struct mape_result *res)
{
	char br[64], rp_all = sysctl_char("/proc/sys/net/ipv4/conf/%s/rp_filter", "all");
	char rp_def = sysctl_char("/proc/sys/net/ipv4/conf/%s/rp_filter", "default");

	if (sysctl_char("/proc/sys/net/ipv4/ip_forward%s", "") == '0')
		fprintf(stderr, "warning: IPv4 forwarding is off (net.ipv4.ip_forward=0): the LAN's "
			"traffic will not be routed into the tunnel\n");
	if (sysctl_char("/proc/sys/net/ipv6/conf/%s/forwarding", o->wan) == '0')
		fprintf(stderr, "warning: IPv6 forwarding is off on %s (net.ipv6.conf.%s.forwarding"
			"=0): XDP's route lookups fail and every packet takes the kernel's path\n",
			o->wan, o->wan);
	mape_fmt_ip6(res->br, br, sizeof(br));
	if (route6_exists(res->br) == 0)
		fprintf(stderr, "warning: no IPv6 route to the BR %s: nothing can leave through the "
			"tunnel until there is one\n", br);
	if (o->route.mode != MAPE_ROUTE_DEFAULT && (rp_all == '1' || rp_def == '1'))
		fprintf(stderr, "warning: strict reverse-path filtering (net.ipv4.conf.%s.rp_filter"
			"=1) drops inbound packets on %s when the default route is not through it: "
			"set it to 2 (loose)\n", rp_all == '1' ? "all" : "default", o->tun);
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
	if (o->ports_host_given && o->max_ports_host > mape_ps_count(&res->ps)) {
		snprintf(err, MAPE_ERRLEN, "bad --max-ports-per-host '%lu': more than the %u ports "
			 "of the set", o->max_ports_host, mape_ps_count(&res->ps));
		return -EINVAL;
	}
	if (res->ipv4_len != 32) {
		snprintf(err, MAPE_ERRLEN, "the rule gives this CE an IPv4 prefix (/%u), not one "
			 "address: not supported", res->ipv4_len);
		return -EINVAL;
	}
	wan = mape_check_iface(o->wan, "--wan", err);
	if (wan < 0)
		return wan;
	if (!o->n_lans) {
		snprintf(err, MAPE_ERRLEN, "missing --lan (at least one LAN interface)");
		return -EINVAL;
	}
	for (int i = 0; i < o->n_lans; i++) {
		ret = mape_check_iface(o->lans[i], "--lan", err);
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
		ret = mape_xdp_check_free(o->lans[i], err);
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
	ret = mape_xdp_check_free(o->wan, err);
	if (ret)
		return ret;
	if (geteuid() != 0) {
		snprintf(err, MAPE_ERRLEN, "mapectl up needs root (CAP_NET_ADMIN and CAP_BPF)");
		return -EPERM;
	}
	ret = mape_conntrack_ready(err);
	if (ret)
		return ret;
	ret = mape_pin_resolve(o->pin_dir, dir, 512, err);
	if (ret)
		return ret;
	ret = mape_read_cfg(o->pin_dir, old, err);
	if (ret == -EXDEV)	/* another namespace's instance: not ours to change */
		return ret;
	*have_old = ret == 0;
	if (*have_old && old->wan_ifindex != (__u32)wan) {
		char name[IF_NAMESIZE] = "?";

		if_indextoname(old->wan_ifindex, name);
		snprintf(err, MAPE_ERRLEN, "already up on WAN %s (pin dir %s): run mapectl down "
			 "first, or use another --pin-dir", name, o->pin_dir);
		return -EBUSY;
	}
	if (*have_old && old->max_sessions && old->max_sessions != o->max_sessions) {
		snprintf(err, MAPE_ERRLEN, "--max-sessions %lu differs from the running %u: the "
			 "tables keep their size until mapectl down", o->max_sessions,
			 old->max_sessions);
		return -EINVAL;
	}
	up_warnings(o, res);
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

/* XDP on the WAN, the LANs and the tunnel, in o's mode; *failed names
 * the interface that refused. */
static int attach_xdp(struct mape_ce *skel, const struct mape_config *cfg,
		      const struct up_opts *o, const char **failed, char *err)
{
	int ret;

	*failed = o->wan;
	ret = mape_xdp_attach(cfg->wan_ifindex, bpf_program__fd(skel->progs.mape_wan), o->xdp_skb,
			      o->wan, err);
	for (int i = 0; !ret && i < o->n_lans; i++) {
		*failed = o->lans[i];
		ret = mape_xdp_attach(cfg->lan_ifindex[i], bpf_program__fd(skel->progs.mape_lan),
				      o->xdp_skb, o->lans[i], err);
	}
	if (!ret) {
		*failed = o->tun;
		ret = mape_xdp_attach(cfg->tun_ifindex, bpf_program__fd(skel->progs.mape_pass),
				      o->xdp_skb, o->tun, err);
	}
	return ret;
}

static int up_apply(struct up_opts *o, const struct mape_result *res, struct mape_config *old,
		    int have_old, const char *dir, struct mape_fwd_set *fwds, const char *fwd_path,
		    int fwds_dirty, char *err)
{
	struct mape_ce *skel = NULL;
	struct mape_config cfg = {};
	char a4[32], a6[64], buf[80], peer[IFNAMSIZ];
	const char *failed;
	int ret, new_epoch, ended = 0;

	/* an instance that fell back to generic mode stays there */
	if (have_old && old->xdp_skb && !o->xdp_mode_given)
		o->xdp_skb = 1;

	ret = mkdir(dir, 0700);
	if (ret && errno != EEXIST) {
		snprintf(err, MAPE_ERRLEN, "cannot create pin directory %s: %s", dir,
			 strerror(errno));
		return -errno;
	}
	ret = mape_conntrack_liberal(err);
	if (!ret)
		ret = mape_conntrack_anchor(o->tun, 1, err);
	if (ret)
		goto out;
	skel = mape_ce__open();
	if (!skel) {
		ret = -errno;
		snprintf(err, MAPE_ERRLEN, "cannot open the BPF object: %s", strerror(errno));
		goto out;
	}
	/* sessions cost one entry in each of these */
	bpf_map__set_max_entries(skel->maps.mape_out, o->max_sessions);
	bpf_map__set_max_entries(skel->maps.mape_in, o->max_sessions);
	bpf_map__set_max_entries(skel->maps.mape_bind, o->max_sessions);
	bpf_map__set_max_entries(skel->maps.mape_adf, o->max_sessions);
	ret = mape_obj_load(skel->obj, dir, err);
	if (ret)
		goto out;
	ret = mape_make_tunnel(o->tun, o->mtu, 1, err);
	if (ret)
		goto out;
	mape_tun_peer_name(o->tun, peer);

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
	cfg.max_per_host = o->max_per_host;
	/* default: half the set, so that one host cannot take every free port */
	cfg.max_ports_host = o->ports_host_given ? o->max_ports_host :
			     (cfg.port_count + 1) / 2;
	cfg.generation = have_old ? old->generation + 1 : 1;
	/* sessions stay valid unless our IPv4 or port set changes */
	new_epoch = have_old && (old->ipv4 != htonl(res->ipv4) ||
				 memcmp(&old->ps, &res->ps, sizeof(res->ps)));
	cfg.epoch = !have_old ? 1 : old->epoch + new_epoch;
	cfg.wan_ifindex = if_nametoindex(o->wan);
	cfg.tun_ifindex = if_nametoindex(o->tun);
	cfg.tun_peer_ifindex = if_nametoindex(peer);
	cfg.n_lans = o->n_lans;
	for (int i = 0; i < o->n_lans; i++)
		cfg.lan_ifindex[i] = if_nametoindex(o->lans[i]);
	cfg.xdp_skb = o->xdp_skb;
	if (!o->xdp_skb)
		cfg.no_xdp_xmit = xmit_targets(o);
	cfg.bmr = res->bmr;
	cfg.max_sessions = o->max_sessions;
	cfg.netns_ino = mape_netns_ino();
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
		ret = mape_route_apply(o->pin_dir, o->tun, &o->route, err);
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

	ret = mape_obj_pin_progs(skel->obj, dir, err);
	if (ret)
		goto out;
	ret = fill_fmrs(skel, res, err);
	if (!ret)	/* one switch: from here on every packet sees cfg only */
		ret = mape_write_cfg(bpf_map__fd(skel->maps.mape_cfg),
				     bpf_map__fd(skel->maps.mape_cfg_sel), &cfg, err);
	if (!ret)	/* also arms any session still waiting for its timer */
		ret = ended = run_sweep(skel, new_epoch, err);
	if (ret < 0)
		goto out;
	ret = apply_forwards(skel, o->tun, &cfg, fwds, fwd_path, fwds_dirty, err);
	if (ret)
		goto out;

	/* attach: WAN, LANs, the tunnel's XDP_PASS and TC egress */
	ret = attach_xdp(skel, &cfg, o, &failed, err);
	if (ret == -EOPNOTSUPP && !o->xdp_skb && !o->xdp_mode_given) {
		/* an interface without native XDP (a bridge, most Wi-Fi): the
		 * whole instance runs in generic mode, one mode for all */
		fprintf(stderr, "notice: %s has no native XDP: running in skb (generic) mode "
			"(--xdp-mode skb says so; --xdp-mode native refuses instead)\n", failed);
		o->xdp_skb = cfg.xdp_skb = 1;
		cfg.no_xdp_xmit = 0;
		cfg.generation++;
		ret = mape_write_cfg(bpf_map__fd(skel->maps.mape_cfg),
				     bpf_map__fd(skel->maps.mape_cfg_sel), &cfg, err);
		if (!ret)
			ret = attach_xdp(skel, &cfg, o, &failed, err);
	}
	if (!ret)
		ret = mape_tc_attach(cfg.tun_ifindex, bpf_program__fd(skel->progs.mape_tun), 0,
				     o->tun, err);
	/* the reassembly of what mape_wan passes up (design.md, "Fragments") */
	if (!ret)
		ret = mape_tc_attach(cfg.wan_ifindex, bpf_program__fd(skel->progs.mape_defrag), 1,
				     o->wan, err);
	if (ret)
		goto out;
	/* LANs of the previous configuration that are not LANs any more */
	for (int i = 0; have_old && i < old->n_lans && i < MAPE_MAX_LANS; i++) {
		int keep = 0;

		for (int j = 0; j < cfg.n_lans; j++)
			keep |= old->lan_ifindex[i] == cfg.lan_ifindex[j];
		if (!keep) {
			mape_xdp_detach(old->lan_ifindex[i], 0);
			mape_xdp_detach(old->lan_ifindex[i], 1);
		}
	}
	/* programs that read the old configuration before the switch may have
	 * made sessions since the first sweep: catch those too */
	if (new_epoch) {
		ret = run_sweep(skel, 1, err);
		if (ret < 0)
			goto out;
		ret = 0;
	}
	printf("%s: %s PSID %u/%u (%u ports), CE %s on %s, BR ", o->tun, a4, cfg.ps.psid,
	       cfg.ps.len, cfg.port_count, a6, o->wan);
	mape_fmt_ip6(cfg.br_addr, a6, sizeof(a6));
	printf("%s%s\n", a6, have_old ? " (reconfigured)" : "");
	if (new_epoch)
		printf("%s: IPv4 address or port set changed: %d session%s of the previous one "
		       "ending\n", o->tun, ended, ended == 1 ? "" : "s");
out:
	if (ret && !have_old) {
		/* a first up that failed leaves nothing behind */
		cfg.wan_ifindex = if_nametoindex(o->wan);
		cfg.n_lans = o->n_lans;
		for (int i = 0; i < o->n_lans; i++)
			cfg.lan_ifindex[i] = if_nametoindex(o->lans[i]);
		memcpy(cfg.ce_addr, res->ce, 16);
		teardown(&cfg, o->tun, o->wan, dir);
		mape_route_restore(o->pin_dir, err);
	}
	mape_ce__destroy(skel);
	return ret;
}

/*
 * The forwards of the configuration file replace those an earlier
 * `up --config` put in the state file; a forward added by the command
 * line that collides with one of them stops up (FILE: forward NAME: ...).
 */
static int merge_config_forwards(struct mape_fwd_set *fwds, const struct mape_conf *conf,
				 char *err)
{
	struct mape_fwd_set next = { 0 };
	char e2[MAPE_ERRLEN];
	int ret = 0;

	for (size_t i = 0; !ret && i < fwds->n; i++)
		if (fwds->v[i].origin != MAPE_FWD_CONFIG)
			ret = mape_fwd_set_add(&next, &fwds->v[i], err);
	for (size_t i = 0; !ret && i < conf->fwds.n; i++) {
		struct mape_fwd_rule r = conf->fwds.v[i];

		/* keep the enabled flag it had, so that up reports a change */
		for (size_t j = 0; j < fwds->n; j++)
			if (fwds->v[j].origin == MAPE_FWD_CONFIG && fwds->v[j].ext == r.ext &&
			    fwds->v[j].protos == r.protos)
				r.enabled = fwds->v[j].enabled;
		ret = mape_fwd_check_new(&next, &r, 0, e2);
		if (!ret)
			ret = mape_fwd_set_add(&next, &r, e2);
		if (ret)
			snprintf(err, MAPE_ERRLEN, "%s: forward %s: %s", conf->path, r.comment, e2);
	}
	if (ret) {
		mape_fwd_set_free(&next);
		return ret;
	}
	mape_fwd_set_free(fwds);
	*fwds = next;
	return 0;
}

int cmd_up(int argc, char **argv)
{
	struct up_opts o;
	struct mape_ruleset rs;
	struct mape_result res = { 0 };
	struct mape_config old;
	struct mape_fwd_set fwds = { 0 };
	struct mape_conf conf = { 0 };
	char err[MAPE_ERRLEN], dir[512], fwd_path[512];
	char **sv = NULL, **mv = NULL;
	const char *conf_path = mape_conf_arg(argc, argv);
	int ret, have_old = 0, lock = -1, sc = argc, orig_argc = argc;
	char **orig_argv = argv;

	for (int i = 1; i < argc; i++)
		if (!strncmp(argv[i], "--", 2) && mape_is_daemon_opt(argv[i] + 2))
			return mape_errorf("--%.*s is an option of mapectl daemon, not of up",
					   (int)strcspn(argv[i] + 2, "="), argv[i] + 2);
	if (conf_path) {
		ret = mape_conf_load(conf_path, mape_up_longopts(), &conf, err);
		if (!ret) {
			sv = mape_conf_strip(argc, argv, &sc);
			mv = sv ? mape_conf_merge(&conf, sc, sv, &argc) : NULL;
			if (!mv) {
				snprintf(err, MAPE_ERRLEN, "out of memory");
				ret = -ENOMEM;
			}
		}
		if (ret) {
			mape_conf_free(&conf);
			free(sv);
			return mape_errorf("%s", err);
		}
		argv = mv;
	}
	ret = parse_up(argc, argv, &o, err);
	if (ret == 2) {
		ret = mape_usage_error(argc, argv);
		goto done;
	}
	if (ret) {
		if (ret < 0) {
			mape_conf_where(&conf, sc, sv, err);
			mape_errorf("%s", err);
		}
		ret = ret > 0 ? 0 : 1;
		goto done;
	}
	mape_ruleset_init(&rs);
	ret = mape_input_resolve(&o.in, &rs, &res, err);
	if (!ret)
		ret = up_check(&o, &res, &old, &have_old, dir, err);
	/* the forwards to re-apply (a state file that cannot be read stops us
	 * here: running without them would silently unpublish servers) */
	mape_fwd_state_path(o.pin_dir, fwd_path, sizeof(fwd_path));
	if (!ret)
		ret = lock = mape_fwd_lock(fwd_path, err);
	if (ret >= 0)
		ret = mape_fwd_load(fwd_path, &fwds, err);
	if (!ret && conf_path)
		ret = merge_config_forwards(&fwds, &conf, err);
	if (!ret)
		ret = up_apply(&o, &res, &old, have_old, dir, &fwds, fwd_path, !!conf_path, err);
	if (lock >= 0)
		close(lock);
	mape_fwd_set_free(&fwds);
	mape_result_free(&res);
	mape_ruleset_free(&rs);
	if (ret && conf_path)
		mape_conf_where(&conf, sc, sv, err);
	if (!ret)	/* what mapectl update repeats without a daemon */
		mape_up_save_args(o.pin_dir, orig_argc, orig_argv);
	ret = ret ? mape_errorf("%s", err) : 0;
done:
	mape_conf_free(&conf);
	free(sv);
	free(mv);
	return ret;
}

int cmd_down(int argc, char **argv)
{
	static const struct mape_opt opts[] = {
		{ "pin-dir", OPT_PIN_DIR, "DIR", "the instance's pin directory (default " MAPE_PIN_DIR ")" },
			MAPE_OPT_END,
	};
	static const struct mape_opt *const optv[] = { opts, mape_help_opts, NULL };
	const char *pin_dir = MAPE_PIN_DIR;
	char err[MAPE_ERRLEN], dir[512], tun[IF_NAMESIZE] = "", wan[IF_NAMESIZE] = "";
	int ret;
	struct mape_config cfg;
	int c;

	optind = 1;
	while ((c = mape_getopt(argc, argv, "h", optv)) != -1) {
		if (c == OPT_PIN_DIR) {
			pin_dir = optarg;
		} else if (c == 'h') {
			printf("usage: mapectl down [--pin-dir DIR]\n"
			       "\n"
			       "Removes what mapectl up added: attachments, the tunnel interface,\n"
			       "the CE address, the pinned maps and programs (and so all sessions).\n"
			       "\n");
			mape_opts_help(stdout, optv);
			return 0;
		} else {
			return mape_usage_error(argc, argv);
		}
	}
	if (optind < argc)
		return mape_errorf("unexpected argument '%s'", argv[optind]);
	if (geteuid() != 0)
		return mape_errorf("mapectl down needs root");
	if (mape_pin_resolve(pin_dir, dir, sizeof(dir), err))
		return mape_errorf("%s", err);
	ret = mape_read_cfg(pin_dir, &cfg, err);
	if (ret == -EXDEV)	/* another namespace's instance: not ours to remove */
		return mape_errorf("%s", err);
	if (ret) {
		printf("nothing to do: %s\n", err);
		return 0;
	}
	if_indextoname(cfg.tun_ifindex, tun);
	if_indextoname(cfg.wan_ifindex, wan);
	teardown(&cfg, tun, wan, dir);
	printf("down: removed %s%s%s\n", tun[0] ? tun : "(tunnel gone)", wan[0] ? " and the CE "
	       "address on " : "", wan);
	ret = mape_route_restore(pin_dir, err);
	if (ret > 0)
		printf("down: restored %d default route%s that up had replaced\n", ret,
		       ret == 1 ? "" : "s");
	return 0;
}
