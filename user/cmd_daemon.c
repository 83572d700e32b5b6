// SPDX-License-Identifier: MIT
/*
 * cmd_daemon.c - `mapectl daemon` (the router service) and `mapectl update`.
 *
 * The daemon runs in the foreground (systemd Type=notify, logs on stderr).
 * It keeps the options of `up` (configuration file, then its command line)
 * and brings the CE up whenever what they lead to changes:
 *   - a prefix told by `mapectl update --prefix P [--dhcpv6-hex H]` (the
 *     DHCPv6 client's hook) through its control socket;
 *   - without a --prefix of its own and without an update, the /64 of the
 *     WAN's global address (an RA-only line), followed by netlink;
 *   - SIGHUP: the configuration file read again.
 * Each change is one run of `up` (in a child process, so that the daemon
 * outlives any failure): the configuration switch is atomic there. SIGTERM
 * and SIGINT run `down`, which also puts back the default route `up` had
 * replaced.
 *
 * `update` without a daemon runs `up` itself, with the options of the last
 * successful `up` of the instance (saved in its state directory).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <json-c/json.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "pin.h"
#include "cmd.h"
#include "opts.h"
#include "conf.h"
#include "input.h"
#include "route.h"
#include "metrics.h"
#include "netcfg.h"
#include "pcp.h"
#include "upnp.h"

const struct option *mape_up_longopts(void);	/* cmd_up.c */

#define RUN_DIR "/run/mape"
#define DEBOUNCE_MS 300

/* The control socket of pin_dir's instance: RUN/daemon[-NAME].sock. */
static void sock_path(const char *pin_dir, char *out, size_t len)
{
	const char *run = getenv("MAPE_RUN_DIR");
	char st[512], *base, *dot;

	/* the same naming as the state files, in the run directory */
	mape_state_path(pin_dir, "daemon", st, sizeof(st));
	base = strrchr(st, '/');
	base = base ? base + 1 : st;
	dot = strrchr(base, '.');
	if (dot)
		*dot = 0;
	snprintf(out, len, "%s/%s.sock", run && *run ? run : RUN_DIR, base);
}

/* The value of option name in argv ("--name V" or "--name=V"), the last one. */
static const char *opt_value(int argc, char **argv, const char *name)
{
	size_t n = strlen(name);
	const char *v = NULL;

	for (int i = 1; i < argc; i++) {
		if (!strncmp(argv[i], "--", 2) && !strncmp(argv[i] + 2, name, n)) {
			if (!argv[i][n + 2] && i + 1 < argc)
				v = argv[++i];
			else if (argv[i][n + 2] == '=')
				v = argv[i] + n + 3;
		}
	}
	return v;
}

static const char *const *daemon_opt_names(void);

/* argv without the options named in drop (each with its value). */
static int argv_without(int argc, char **argv, const char *const *drop, char **out)
{
	int n = 0;

	for (int i = 0; i < argc; i++) {
		int skip = 0;

		for (const char *const *d = drop; *d && i; d++) {
			size_t l = strlen(*d);

			if (!strncmp(argv[i], "--", 2) && !strncmp(argv[i] + 2, *d, l)) {
				if (!argv[i][l + 2]) {
					skip = 2;
					break;
				}
				if (argv[i][l + 2] == '=') {
					skip = 1;
					break;
				}
			}
		}
		if (skip == 2)
			i++;
		else if (!skip)
			out[n++] = argv[i];
	}
	out[n] = NULL;
	return n;
}

static const char *const rule_sources[] = { "preset", "rule", "dhcpv6-hex", "provisioning",
					    NULL };
static const char *const prefix_opt[] = { "prefix", NULL };

/* ---- saved options of the last up, for update without a daemon ---- */

int mape_up_save_args(const char *pin_dir, int argc, char **argv)
{
	json_object *l = json_object_new_array();
	char path[512], tmp[600];
	int ret = 0;

	mape_state_path(pin_dir, "up", path, sizeof(path));
	for (int i = 1; i < argc; i++)
		json_object_array_add(l, json_object_new_string(argv[i]));
	snprintf(tmp, sizeof(tmp), "%s.new", path);
	if (json_object_to_file_ext(tmp, l, JSON_C_TO_STRING_PLAIN) || rename(tmp, path))
		ret = -errno;
	json_object_put(l);
	return ret;
}

/* The saved options, as a new argv (argv[0] "up"); NULL when none. */
static char **load_up_args(const char *pin_dir, int *argc)
{
	char path[512];
	json_object *l;
	char **v;
	size_t n;

	mape_state_path(pin_dir, "up", path, sizeof(path));
	l = json_object_from_file(path);
	if (!l || !json_object_is_type(l, json_type_array)) {
		json_object_put(l);
		return NULL;
	}
	n = json_object_array_length(l);
	v = calloc(n + 2, sizeof(*v));
	if (v) {
		v[0] = strdup("up");
		for (size_t i = 0; i < n; i++)
			v[i + 1] = strdup(json_object_get_string(json_object_array_get_idx(l, i)));
		*argc = n + 1;
	}
	json_object_put(l);
	return v;
}

/* ---- running up and down ---- */

/* The up command line: base (argv[0] "up"), with prefix and dhcpv6 (when
 * given) replacing the base's --prefix and its rule source. */
static char **up_argv(int argc, char **argv, const char *prefix, const char *dhcpv6, int *out)
{
	char **a = calloc(argc + 6, sizeof(*a)), **b = calloc(argc + 6, sizeof(*b));
	int n;

	if (!a || !b) {
		free(a);
		free(b);
		return NULL;
	}
	n = argv_without(argc, argv, prefix ? prefix_opt : daemon_opt_names(), a);
	if (prefix)
		n = argv_without(n, a, daemon_opt_names(), a);
	if (dhcpv6)
		n = argv_without(n, a, rule_sources, b);
	else
		memcpy(b, a, (n + 1) * sizeof(*a));
	free(a);
	if (prefix) {
		b[n++] = "--prefix";
		b[n++] = (char *)prefix;
	}
	if (dhcpv6) {
		b[n++] = "--dhcpv6-hex";
		b[n++] = (char *)dhcpv6;
	}
	b[n] = NULL;
	*out = n;
	return b;
}

/* Run `mapectl ARGV...` (this binary, argv[0] the command) in a child
 * whose stdout goes to stderr (the journal); its exit code. exec, not a
 * plain fork: the metrics server is a thread of ours. */
static int run_child(int argc, char **argv)
{
	char **v = calloc(argc + 2, sizeof(*v));
	pid_t pid;
	int status;

	if (!v)
		return 1;
	v[0] = "mapectl";
	memcpy(v + 1, argv, argc * sizeof(*v));
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		free(v);
		return 1;
	}
	if (!pid) {
		dup2(2, 1);
		execv("/proc/self/exe", v);
		_exit(127);
	}
	free(v);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

/* ---- the WAN's /64 (RA-only lines) ---- */

/* The /64 of the WAN's first global /64 address learned from router
 * advertisements (SLAAC: not permanent; not deprecated); 0 or -ENOENT.
 * Addresses configured by hand (permanent) are the ISP link's, not ours. */
struct wan64 {
	unsigned int ifindex;
	char *out;
	size_t len;
};

static int one_addr(struct nlmsghdr *nh, void *ctx)
{
	struct wan64 *w = ctx;
	struct ifaddrmsg *ifa = NLMSG_DATA(nh);
	int alen = IFA_PAYLOAD(nh);
	struct ifa_cacheinfo *ci = NULL;
	__u8 *addr = NULL, p[16] = { 0 };
	__u32 flags = ifa->ifa_flags;

	if (ifa->ifa_index != w->ifindex || ifa->ifa_prefixlen != 64 ||
	    ifa->ifa_scope != RT_SCOPE_UNIVERSE)
		return 0;
	for (struct rtattr *a = IFA_RTA(ifa); RTA_OK(a, alen); a = RTA_NEXT(a, alen)) {
		if (a->rta_type == IFA_ADDRESS)
			addr = RTA_DATA(a);
		else if (a->rta_type == IFA_CACHEINFO)
			ci = RTA_DATA(a);
		else if (a->rta_type == IFA_FLAGS)
			flags = *(__u32 *)RTA_DATA(a);
	}
	/* learned from an RA (SLAAC: not permanent), usable */
	if (!addr || (flags & (IFA_F_PERMANENT | IFA_F_DEPRECATED | IFA_F_TENTATIVE |
			       IFA_F_DADFAILED)) || (ci && !ci->ifa_prefered))
		return 0;
	memcpy(p, addr, 8);
	inet_ntop(AF_INET6, p, w->out, w->len);
	strncat(w->out, "/64", w->len - strlen(w->out) - 1);
	return 1;	/* the first one */
}

static int wan_prefix64(unsigned int ifindex, char *out, size_t len)
{
	struct wan64 w = { .ifindex = ifindex, .out = out, .len = len };
	int ret;

	out[0] = 0;
	ret = mape_nl_dump(RTM_GETADDR, AF_INET6, one_addr, &w);
	return ret ? ret : out[0] ? 0 : -ENOENT;
}

static void logf_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- the NAT session log ---- */

struct evlog {
	const char *where;	/* a file, or "journal" */
	FILE *f;
	struct ring_buffer *rb;
	int evlog_fd;
};

static void fmt_endpoint(__be32 a, __be16 p, __u8 proto, char *buf, size_t len)
{
	char ip[16];

	mape_fmt_ip4(ntohl(a), ip, sizeof(ip));
	if (proto == IPPROTO_ICMP)
		snprintf(buf, len, "%s", ip);
	else
		snprintf(buf, len, "%s:%u", ip, ntohs(p));
}

static int on_event(void *ctx, void *data, size_t size)
{
	struct evlog *l = ctx;
	const struct mape_event *e = data;
	struct timespec mono, real;
	char when[40], in[32], rem[32], proto[8], line[256];
	time_t t;
	struct tm tm;
	long long ns;

	if (size < sizeof(*e))
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &mono);
	clock_gettime(CLOCK_REALTIME, &real);
	ns = (long long)real.tv_sec * 1000000000LL + real.tv_nsec -
	     ((long long)mono.tv_sec * 1000000000LL + mono.tv_nsec - (long long)e->ns);
	t = ns / 1000000000LL;
	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(when + strlen(when), sizeof(when) - strlen(when), ".%03lldZ",
		 (ns % 1000000000LL) / 1000000LL);
	snprintf(proto, sizeof(proto), "%s", e->proto == IPPROTO_TCP ? "tcp" :
		 e->proto == IPPROTO_UDP ? "udp" : "icmp");
	fmt_endpoint(e->int_addr, e->int_port, e->proto, in, sizeof(in));
	fmt_endpoint(e->rem_addr, e->rem_port, e->proto, rem, sizeof(rem));
	if (e->type == MAPE_EV_CREATE)
		snprintf(line, sizeof(line), "create %s %s ext %u remote %s", proto, in,
			 ntohs(e->ext_port), rem);
	else
		snprintf(line, sizeof(line), "end %s %s ext %u remote %s %s packets %llu/%llu",
			 proto, in, ntohs(e->ext_port), rem, e->why ? "prefix-change" : "expired",
			 (unsigned long long)e->pkts_out, (unsigned long long)e->pkts_in);
	if (l->f) {
		fprintf(l->f, "%s %s\n", when, line);
	} else {
		sd_journal_send("MESSAGE=%s", line, "SYSLOG_IDENTIFIER=mapectl",
				"MAPE_EVENT=%s", e->type == MAPE_EV_CREATE ? "create" : "end",
				"MAPE_PROTO=%s", proto, "MAPE_LAN=%s", in, "MAPE_EXT_PORT=%u",
				ntohs(e->ext_port), "MAPE_REMOTE=%s", rem, NULL);
	}
	return 0;
}

/* (Re)attach to the instance's ring after an up (its maps may be new). */
static void evlog_attach(struct evlog *l, const char *pin_dir)
{
	char err[MAPE_ERRLEN];
	struct mape_evlog on = { .enabled = 1 };
	__u32 zero = 0;
	int fd;

	if (!l->where)
		return;
	ring_buffer__free(l->rb);
	l->rb = NULL;
	if (l->evlog_fd >= 0)
		close(l->evlog_fd);
	l->evlog_fd = mape_pin_open(pin_dir, "mape_evlog", err);
	fd = mape_pin_open(pin_dir, "mape_events", err);
	if (fd < 0 || l->evlog_fd < 0) {
		logf_("session log: %s", err);
		if (fd >= 0)
			close(fd);
		return;
	}
	l->rb = ring_buffer__new(fd, on_event, l, NULL);
	close(fd);	/* the ring keeps its own mapping */
	if (!l->rb || bpf_map_update_elem(l->evlog_fd, &zero, &on, BPF_ANY))
		logf_("session log: cannot read the ring: %s", strerror(errno));
}

static void evlog_stop(struct evlog *l)
{
	struct mape_evlog off = { 0 };
	__u32 zero = 0;

	if (l->evlog_fd >= 0) {
		bpf_map_update_elem(l->evlog_fd, &zero, &off, BPF_ANY);
		close(l->evlog_fd);
	}
	ring_buffer__free(l->rb);
	if (l->f)
		fclose(l->f);
}

/* ---- the daemon ---- */

struct daemon {
	const char *conf_path;	/* NULL: none */
	int cli_argc;		/* the daemon's own command line (up options) */
	char **cli_argv;
	struct mape_conf conf;
	int argc;		/* file + command line, argv[0] "up" */
	char **argv;
	const char *pin_dir, *wan;
	char prefix[64];	/* from update, or learned from the WAN; "" none */
	char *dhcpv6;		/* from update */
	int prefix_fixed;	/* the options give --prefix (no RA following) */
	int from_update;	/* the prefix came from update */
	char applied[256];	/* what the last successful up ran with */
	int ok;			/* the last up succeeded */
	struct evlog *log;	/* --session-log, or NULL */
	/* port mappings for LAN hosts (UPnP IGD, NAT-PMP, PCP) */
	int pm_on, pm_started;
	struct mape_pmap pm;
	struct mape_pcp pcp;
	__u32 pm_ipv4;			/* the address and set the mappings are of */
	struct mape_portset pm_ps;
	long long pm_checked;		/* CLOCK_MONOTONIC s of the last look at them */
};

static void logf_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logf_(const char *fmt, ...)
{
	va_list ap;

	fputs("mapectl daemon: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* (Re)read the file and build the up options; on error the old ones stay. */
static int daemon_load(struct daemon *d, char *err)
{
	struct mape_conf c = { 0 };
	char **m, **cli;
	int n, cn, ret;

	if (d->conf_path) {
		ret = mape_conf_load(d->conf_path, mape_up_longopts(), &c, err);
		if (ret)
			return ret;
	}
	cli = calloc(d->cli_argc + 1, sizeof(*cli));
	if (!cli) {
		mape_conf_free(&c);
		snprintf(err, MAPE_ERRLEN, "out of memory");
		return -ENOMEM;
	}
	cli[0] = "up";
	for (int i = 1; i < d->cli_argc; i++)
		cli[i] = d->cli_argv[i];
	cn = d->cli_argc;
	m = mape_conf_merge(&c, cn, cli, &n);
	free(cli);
	if (!m) {
		mape_conf_free(&c);
		snprintf(err, MAPE_ERRLEN, "out of memory");
		return -ENOMEM;
	}
	/* --config stays: up reads the file's forwards (and its other keys,
	 * which the command line built here already overrides) */
	if (d->conf_path) {
		char **w = realloc(m, (n + 3) * sizeof(*m));

		if (!w) {
			free(m);
			mape_conf_free(&c);
			snprintf(err, MAPE_ERRLEN, "out of memory");
			return -ENOMEM;
		}
		m = w;
		m[n++] = "--config";
		m[n++] = (char *)d->conf_path;
		m[n] = NULL;
	}
	mape_conf_free(&d->conf);
	free(d->argv);
	d->conf = c;
	d->argv = m;
	d->argc = n;
	d->pin_dir = opt_value(n, m, "pin-dir");
	if (!d->pin_dir)
		d->pin_dir = MAPE_PIN_DIR;
	d->wan = opt_value(n, m, "wan");
	d->prefix_fixed = opt_value(n, m, "prefix") != NULL;
	if (!d->wan) {
		snprintf(err, MAPE_ERRLEN, "no wan (give --wan, or wan = in %s)",
			 d->conf_path ? d->conf_path : MAPE_CONF_DEFAULT);
		return -EINVAL;
	}
	return 0;
}

/* ---- port mappings ---- */

static void pm_log(const char *line)
{
	logf_("%s", line);
}

/* UPnP's HTTP port must not be one the internet reaches: not in the set. */
static int in_port_set(unsigned int port, void *ctx)
{
	struct daemon *d = ctx;

	return mape_ps_index(&d->pm_ps, port) >= 0;
}

/* Start the servers (after the first up), or follow what up changed: a
 * new address or port set drops every mapping and starts a new epoch,
 * which the clients are told about. */
static void pm_after_up(struct daemon *d)
{
	struct mape_config cfg;
	char err[MAPE_ERRLEN], dir[600], run[512], lan[IF_NAMESIZE] = "";
	unsigned int ifs[MAPE_MAX_LANS];
	int n = 0;

	if (!d->pm_on || mape_read_cfg(d->pin_dir, &cfg, err))
		return;
	for (int i = 0; i < cfg.n_lans && i < MAPE_MAX_LANS; i++)
		ifs[n++] = cfg.lan_ifindex[i];
	if (d->pm_started) {
		int same = n == d->pcp.n;

		/* LANs added or removed (SIGHUP): NAT-PMP/PCP follow (UPnP stays on its LAN) */
		for (int i = 0; same && i < n; i++)
			same = ifs[i] == d->pcp.ifindex[i];
		if (!same) {
			mape_pcp_close(&d->pcp);
			if (mape_pcp_open(&d->pcp, &d->pm, ifs, n, err))
				logf_("port mappings: %s (NAT-PMP and PCP off)", err);
			else
				mape_pcp_announce(&d->pcp);
		}
		if (d->pm_ipv4 == cfg.ipv4 && !memcmp(&d->pm_ps, &cfg.ps, sizeof(cfg.ps)))
			return;
		d->pm_ipv4 = cfg.ipv4;
		d->pm_ps = cfg.ps;
		logf_("port mappings: the address or port set changed: all dropped, a new epoch");
		if (mape_pmap_reset(&d->pm, err))
			logf_("port mappings: %s", err);
		mape_pcp_announce(&d->pcp);
		mape_upnp_changed();
		return;
	}
	d->pm_ipv4 = cfg.ipv4;
	d->pm_ps = cfg.ps;
	/* mappings of an earlier run are gone for their clients: a new epoch */
	if (mape_pmap_reset(&d->pm, err))
		logf_("port mappings: %s", err);
	if (mape_pcp_open(&d->pcp, &d->pm, ifs, n, err))
		logf_("port mappings: %s (NAT-PMP and PCP off)", err);
	else
		mape_pcp_announce(&d->pcp);
	if (n && if_indextoname(ifs[0], lan)) {
		sock_path(d->pin_dir, run, sizeof(run));
		snprintf(dir, sizeof(dir), "%.*s.upnp", (int)(strlen(run) - 5), run);
		if (mape_upnp_start(&d->pm, lan, dir, d->pin_dir, in_port_set, d, err))
			logf_("port mappings: %s (UPnP off)", err);
		else
			logf_("port mappings: UPnP IGD on %s (HTTP port %u), NAT-PMP and PCP on "
			      "%d LAN%s; at most %u per host, for at most %us", lan,
			      mape_upnp_port(), d->pcp.n, d->pcp.n == 1 ? "" : "s", d->pm.per_host,
			      d->pm.max_lifetime);
	}
	d->pm_started = 1;
}

static void pm_stop(struct daemon *d)
{
	char err[MAPE_ERRLEN];

	if (!d->pm_started)
		return;
	mape_upnp_stop();
	mape_pcp_close(&d->pcp);
	if (mape_pmap_reset(&d->pm, err))
		logf_("port mappings: %s", err);
	d->pm_started = 0;
}

/* The options of the port mappings; -EINVAL with err. */
static int pm_options(struct daemon *d, char *err)
{
	const char *on = opt_value(d->argc, d->argv, "port-mapping");
	const char *ph = opt_value(d->argc, d->argv, "port-mapping-per-host");
	const char *ml = opt_value(d->argc, d->argv, "port-mapping-max-lifetime");
	const char *ns = opt_value(d->argc, d->argv, "port-mapping-nft-set");
	unsigned long per_host = MAPE_PMAP_PER_HOST, life = MAPE_PMAP_MAX_LIFETIME;

	if (on && strcmp(on, "on") && strcmp(on, "off")) {
		snprintf(err, MAPE_ERRLEN, "bad --port-mapping '%s': want on or off", on);
		return -EINVAL;
	}
	if (ph && (mape_parse_uint("--port-mapping-per-host", ph, MAPE_FWD_MAX_RULES, &per_host,
				   err) || !per_host)) {
		snprintf(err, MAPE_ERRLEN, "bad --port-mapping-per-host '%s': must be an integer "
			 "1..%d", ph, MAPE_FWD_MAX_RULES);
		return -EINVAL;
	}
	if (ml && (mape_parse_uint("--port-mapping-max-lifetime", ml, 604800, &life, err) ||
		   !life)) {
		snprintf(err, MAPE_ERRLEN, "bad --port-mapping-max-lifetime '%s': must be an "
			 "integer 1..604800 (seconds)", ml);
		return -EINVAL;
	}
	if (ns && mape_pmap_nft_spec(ns, err))
		return -EINVAL;
	if (d->pm_started) {
		/* SIGHUP: the limits and the set change; on/off takes a restart */
		if ((!on || !strcmp(on, "on")) != d->pm_on)
			logf_("SIGHUP: port-mapping = %s takes a restart of the daemon",
			      d->pm_on ? "off" : "on");
		pthread_mutex_lock(&d->pm.mu);
		d->pm.per_host = per_host;
		d->pm.max_lifetime = life;
		snprintf(d->pm.nft_set, sizeof(d->pm.nft_set), "%s", ns ? ns : "");
		pthread_mutex_unlock(&d->pm.mu);
		return 0;
	}
	d->pm_on = !on || !strcmp(on, "on");
	mape_pmap_init(&d->pm, d->pin_dir, per_host, life);
	snprintf(d->pm.nft_set, sizeof(d->pm.nft_set), "%s", ns ? ns : "");
	d->pm.log = pm_log;
	return 0;
}

/* Bring the CE up with what is known now. */
static void daemon_apply(struct daemon *d, const char *why)
{
	const char *prefix = d->prefix[0] ? d->prefix : NULL;
	char **a, desc[256];
	int n, rc;

	if (!prefix && !d->prefix_fixed) {
		logf_("%s: waiting for a prefix (an RA /64 on %s, or mapectl update --prefix)", why,
		      d->wan);
		sd_notifyf(0, "STATUS=waiting for a prefix on %s", d->wan);
		return;
	}
	a = up_argv(d->argc, d->argv, prefix, d->dhcpv6, &n);
	if (!a) {
		logf_("out of memory");
		return;
	}
	snprintf(desc, sizeof(desc), "prefix %s%s", prefix ? prefix :
		 opt_value(d->argc, d->argv, "prefix"), d->dhcpv6 ? " with DHCPv6 rules" : "");
	logf_("%s: up with %s", why, desc);
	rc = run_child(n, a);
	free(a);
	d->ok = rc == 0;
	if (d->ok) {
		snprintf(d->applied, sizeof(d->applied), "%s", desc);
		sd_notifyf(0, "STATUS=up: %s", desc);
		if (d->log)
			evlog_attach(d->log, d->pin_dir);
		pm_after_up(d);
	} else {
		logf_("up failed (exit %d): the previous configuration stays in force", rc);
		sd_notifyf(0, "STATUS=up failed for %s (previous configuration in force)", desc);
	}
}

/* Follow the WAN's /64 (no --prefix given and no update): 1 when it changed. */
static int daemon_follow_wan(struct daemon *d)
{
	char p[64] = "";
	unsigned int ifindex;

	if (d->prefix_fixed || d->from_update)
		return 0;
	ifindex = if_nametoindex(d->wan);
	if (!ifindex || wan_prefix64(ifindex, p, sizeof(p)))
		p[0] = 0;
	if (!strcmp(p, d->prefix))
		return 0;
	if (!p[0]) {
		logf_("the /64 on %s is gone: the configuration in force stays", d->wan);
		return 0;	/* keep running on the last one */
	}
	snprintf(d->prefix, sizeof(d->prefix), "%s", p);
	return 1;
}

/* One request on the control socket: "update [prefix=P] [dhcpv6=H]". */
static void daemon_request(struct daemon *d, int fd)
{
	char buf[8192], reply[512], err[MAPE_ERRLEN], *save = NULL, *t;
	char *prefix = NULL, *dhcpv6 = NULL;
	struct mape_prefix p6;
	ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);

	if (n <= 0)
		return;
	buf[n] = 0;
	buf[strcspn(buf, "\n")] = 0;
	t = strtok_r(buf, " ", &save);
	if (!t || strcmp(t, "update")) {
		snprintf(reply, sizeof(reply), "error: unknown request\n");
		goto out;
	}
	while ((t = strtok_r(NULL, " ", &save))) {
		if (!strncmp(t, "prefix=", 7))
			prefix = t + 7;
		else if (!strncmp(t, "dhcpv6=", 7))
			dhcpv6 = t + 7;
	}
	if (!prefix || mape_parse_prefix6(prefix, &p6, err)) {
		snprintf(reply, sizeof(reply), "error: %s\n", prefix ? err : "no prefix");
		goto out;
	}
	snprintf(d->prefix, sizeof(d->prefix), "%s", prefix);
	d->from_update = 1;
	free(d->dhcpv6);
	d->dhcpv6 = dhcpv6 && *dhcpv6 ? strdup(dhcpv6) : NULL;
	daemon_apply(d, "update");
	snprintf(reply, sizeof(reply), d->ok ? "ok: up with %s\n" :
					      "error: up failed for %s (see the daemon's log)\n",
		 d->ok ? d->applied : prefix);
out:
	send(fd, reply, strlen(reply), MSG_NOSIGNAL);
}

static int listen_sock(const char *path, char *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char dir[sizeof(sa.sun_path)], *slash;
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, MAPE_ERRLEN, "control socket path too long: %s", path);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, path);
	strcpy(dir, path);
	slash = strrchr(dir, '/');
	if (slash) {
		*slash = 0;
		mkdir(dir, 0755);
	}
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, MAPE_ERRLEN, "socket: %s", strerror(errno));
		return -errno;
	}
	/* a socket left by a daemon that died: nobody answers on it */
	if (!connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		close(fd);
		snprintf(err, MAPE_ERRLEN, "another daemon runs for this instance (%s)", path);
		return -EBUSY;
	}
	close(fd);
	unlink(path);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 8)) {
		snprintf(err, MAPE_ERRLEN, "cannot listen on %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -errno;
	}
	chmod(path, 0600);
	return fd;
}

const struct mape_opt mape_daemon_opts[] = {
	{ "metrics", MAPE_OPT_DAEMON_ONLY, "ADDR:PORT",
	  "serve Prometheus metrics at http://ADDR:PORT/metrics\n"
	  "(counters, sessions, port usage, hosts, forwards)" },
	{ "session-log", MAPE_OPT_DAEMON_ONLY, "FILE|journal",
	  "log each NAT session made and ended (time, LAN endpoint,\n"
	  "external port, remote), appended to FILE or to the journal" },
	{ "port-mapping", MAPE_OPT_DAEMON_ONLY, "on|off",
	  "serve UPnP IGD (first LAN), NAT-PMP and PCP (every LAN) so\n"
	  "LAN hosts open their own inbound ports, inside the port set\n"
	  "(default on; never on the WAN)" },
	{ "port-mapping-per-host", MAPE_OPT_DAEMON_ONLY, "N",
	  "mappings one LAN host may hold (default 16)" },
	{ "port-mapping-max-lifetime", MAPE_OPT_DAEMON_ONLY, "SECONDS",
	  "the longest lifetime granted (default 86400)" },
	{ "port-mapping-nft-set", MAPE_OPT_DAEMON_ONLY, "'FAMILY TABLE SET'",
	  "keep this set of the ruleset (type ipv4_addr . inet_proto .\n"
	  "inet_service) equal to the mapped LAN endpoints, for the\n"
	  "forward chain to accept them" },
	MAPE_OPT_END,
};

int mape_is_daemon_opt(const char *name)
{
	size_t l = strcspn(name, "=");

	for (const struct mape_opt *o = mape_daemon_opts; o->name; o++)
		if (strlen(o->name) == l && !strncmp(name, o->name, l))
			return 1;
	return 0;
}

/* The names of mapectl daemon's options, for argv_without. */
static const char *const *daemon_opt_names(void)
{
	static const char *names[16];

	if (!names[0])
		for (int i = 0; mape_daemon_opts[i].name && i < 15; i++)
			names[i] = mape_daemon_opts[i].name;
	return names;
}

static void daemon_usage(void)
{
	static const struct mape_opt *const helpv[] = { mape_daemon_opts, mape_help_opts, NULL };

	fputs("usage: mapectl daemon [--config FILE] [--metrics ADDR:PORT]\n"
	      "                      [--session-log FILE|journal] [--port-mapping on|off]\n"
	      "                      [--port-mapping-per-host N] [--port-mapping-max-lifetime S]\n"
	      "                      [--port-mapping-nft-set 'FAMILY TABLE SET']\n"
	      "                      [up options...]\n"
	      "\n"
	      "Runs in the foreground as the router's MAP-E service (systemd Type=notify; logs on\n"
	      "stderr). Brings the CE up from the configuration file (default " MAPE_CONF_DEFAULT
	      ",\n"
	      "if it exists) and its own options (which override the file), and follows the line:\n"
	      "  - mapectl update --prefix P [--dhcpv6-hex H] (a DHCPv6 client's hook) through\n"
	      "    its control socket (/run/mape/daemon.sock, per --pin-dir);\n"
	      "  - with no --prefix and no update, the /64 of the WAN's SLAAC address (RA-only\n"
	      "    lines), followed as it changes;\n"
	      "  - SIGHUP reads the configuration file again; SIGTERM/SIGINT run mapectl down\n"
	      "    (which also restores the default route up replaced) and exit.\n"
	      "The options are those of mapectl up (mapectl up --help); --prefix may be omitted.\n"
	      "\n", stdout);
	mape_opts_help(stdout, helpv);
}

int cmd_daemon(int argc, char **argv)
{
	struct daemon d = { 0 };
	char err[MAPE_ERRLEN], path[512];
	sigset_t mask;
	int ctl, nl, sfd, ret = 1, pending = 0;
	struct sockaddr_nl snl = { .nl_family = AF_NETLINK, .nl_groups = RTMGRP_IPV6_IFADDR };
	struct timespec due = { 0 };
	const char *metrics_at, *slog;
	void *metrics = NULL;
	struct evlog evlog = { .evlog_fd = -1 };
	struct pollfd pf[4 + MAPE_PCP_MAX_IFS];

	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			daemon_usage();
			return 0;
		}
	d.conf_path = mape_conf_arg(argc, argv);
	if (!d.conf_path && !access(MAPE_CONF_DEFAULT, F_OK))
		d.conf_path = MAPE_CONF_DEFAULT;
	d.cli_argv = mape_conf_strip(argc, argv, &d.cli_argc);
	if (!d.cli_argv)
		return mape_errorf("out of memory");
	if (daemon_load(&d, err)) {
		mape_errorf("%s", err);
		goto out;
	}
	if (pm_options(&d, err)) {
		mape_errorf("%s", err);
		goto out;
	}
	if (geteuid() != 0) {
		mape_errorf("mapectl daemon needs root");
		goto out;
	}
	sock_path(d.pin_dir, path, sizeof(path));
	ctl = listen_sock(path, err);
	if (ctl < 0) {
		mape_errorf("%s", err);
		goto out;
	}
	nl = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE);
	if (nl < 0 || bind(nl, (struct sockaddr *)&snl, sizeof(snl))) {
		mape_errorf("cannot watch addresses (netlink): %s", strerror(errno));
		if (nl >= 0)
			close(nl);
		goto out_ctl;
	}
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	metrics_at = opt_value(d.argc, d.argv, "metrics");
	if (metrics_at) {
		struct sockaddr_storage ss;
		socklen_t sl;

		if (mape_metrics_parse(metrics_at, &ss, &sl, err) ||
		    !(metrics = mape_metrics_start(d.pin_dir, &ss, err))) {
			mape_errorf("%s", err);
			goto out_nl;
		}
	}
	slog = opt_value(d.argc, d.argv, "session-log");
	if (slog) {
		evlog.where = slog;
		if (strcmp(slog, "journal")) {
			evlog.f = fopen(slog, "ae");
			if (!evlog.f) {
				mape_errorf("bad --session-log '%s': %s", slog, strerror(errno));
				goto out_metrics;
			}
			setvbuf(evlog.f, NULL, _IOLBF, 0);
		}
		d.log = &evlog;
	}
	logf_("started (version %s, pin dir %s, WAN %s%s%s%s%s)", MAPE_VERSION, d.pin_dir, d.wan,
	      d.conf_path ? ", configuration " : "", d.conf_path ? d.conf_path : "",
	      metrics_at ? ", metrics on " : "", metrics_at ? metrics_at : "");
	daemon_follow_wan(&d);
	daemon_apply(&d, "start");
	sd_notify(0, "READY=1");
	pf[0] = (struct pollfd){ .fd = sfd, .events = POLLIN };
	pf[1] = (struct pollfd){ .fd = ctl, .events = POLLIN };
	pf[2] = (struct pollfd){ .fd = nl, .events = POLLIN };
	for (;;) {
		int timeout = -1;

		/* the session log's ring (new after each up) */
		pf[3] = (struct pollfd){ .fd = evlog.rb ? ring_buffer__epoll_fd(evlog.rb) : -1,
					 .events = POLLIN };

		int tick = -1, npf = 4;

		if (pending) {
			struct timespec now;
			long ms;

			clock_gettime(CLOCK_MONOTONIC, &now);
			ms = (due.tv_sec - now.tv_sec) * 1000 + (due.tv_nsec - now.tv_nsec) / 1000000;
			timeout = ms > 0 ? (int)ms : 0;
		}
		if (d.pm_started) {
			/* NAT-PMP/PCP sockets; each second: expiry, and a port set
			 * changed by a hand-run up */
			for (int i = 0; i < d.pcp.n; i++)
				pf[npf++] = (struct pollfd){ .fd = d.pcp.fd[i], .events = POLLIN };
			tick = mape_pcp_tick(&d.pcp);
			tick = tick < 0 || tick > 1000 ? 1000 : tick;
			if (timeout < 0 || tick < timeout)
				timeout = tick;
		}
		if (poll(pf, npf, timeout) < 0 && errno != EINTR)
			break;
		for (int i = 4; i < npf; i++)
			if (pf[i].revents & POLLIN)
				mape_pcp_input(&d.pcp, i - 4);
		if (d.pm_started) {
			struct timespec now;

			clock_gettime(CLOCK_MONOTONIC, &now);
			if (now.tv_sec != d.pm_checked) {
				d.pm_checked = now.tv_sec;
				if (mape_pmap_expire(&d.pm, err) > 0)
					mape_upnp_changed();
				pm_after_up(&d);
			}
		}
		if ((pf[3].revents & POLLIN) && evlog.rb)
			ring_buffer__consume(evlog.rb);
		if (pf[0].revents & POLLIN) {
			struct signalfd_siginfo si;

			if (read(sfd, &si, sizeof(si)) != sizeof(si))
				continue;
			if (si.ssi_signo == SIGHUP) {
				if (daemon_load(&d, err) || pm_options(&d, err)) {
					logf_("SIGHUP: %s (the previous configuration stays)", err);
				} else {
					if (d.prefix_fixed && !d.from_update)
						d.prefix[0] = 0;
					daemon_follow_wan(&d);
					daemon_apply(&d, "SIGHUP");
				}
				continue;
			}
			if (evlog.rb)
				ring_buffer__consume(evlog.rb);
			logf_("%s: taking the CE down", strsignal(si.ssi_signo));
			sd_notify(0, "STOPPING=1");
			pm_stop(&d);
			{
				char *dv[] = { "down", "--pin-dir", (char *)d.pin_dir, NULL };

				ret = run_child(3, dv);
			}
			break;
		}
		if (pf[1].revents & POLLIN) {
			int c = accept4(ctl, NULL, NULL, SOCK_CLOEXEC);

			if (c >= 0) {
				daemon_request(&d, c);
				close(c);
			}
		}
		if (pf[2].revents & POLLIN) {
			char buf[8192];

			while (recv(nl, buf, sizeof(buf), 0) > 0)
				;
			if (!pending) {	/* a burst of address events is one change */
				clock_gettime(CLOCK_MONOTONIC, &due);
				due.tv_nsec += DEBOUNCE_MS * 1000000L;
				due.tv_sec += due.tv_nsec / 1000000000L;
				due.tv_nsec %= 1000000000L;
				pending = 1;
			}
		}
		if (pending) {
			struct timespec now;

			clock_gettime(CLOCK_MONOTONIC, &now);
			if (now.tv_sec < due.tv_sec ||
			    (now.tv_sec == due.tv_sec && now.tv_nsec < due.tv_nsec))
				continue;
			pending = 0;
			if (daemon_follow_wan(&d))
				daemon_apply(&d, "the WAN's /64 changed");
		}
	}
	close(sfd);
	pm_stop(&d);
out_metrics:
	evlog_stop(&evlog);
	mape_metrics_stop(metrics);
out_nl:
	close(nl);
out_ctl:
	close(ctl);
	unlink(path);
out:
	mape_conf_free(&d.conf);
	free(d.argv);
	free(d.cli_argv);
	free(d.dhcpv6);
	return ret;
}

/* ---- update ---- */

static const struct mape_opt update_opts[] = {
	{ "prefix", 'p', "PREFIX", "the delegated IPv6 prefix" },
	{ "dhcpv6-hex", 'd', "HEX", "the RFC 7598 options the DHCPv6 server sent, as hex" },
	{ "pin-dir", 'P', "DIR", "the instance (default " MAPE_PIN_DIR ")" },
	MAPE_OPT_END,
};

static const struct mape_opt *const update_optv[] = { update_opts, mape_help_opts, NULL };

static void update_usage(void)
{
	fputs("usage: mapectl update --prefix PREFIX [--dhcpv6-hex HEX] [--pin-dir DIR]\n"
	      "\n"
	      "Tells the instance its (new) delegated prefix, and the RFC 7598 DHCPv6 options when\n"
	      "the server sent them (they then replace the configured rule source). With a daemon\n"
	      "running for --pin-dir, through its control socket; without one, runs mapectl up with\n"
	      "the options of the instance's last successful up. For DHCPv6 clients' hooks.\n"
	      "\n", stdout);
	mape_opts_help(stdout, update_optv);
}

int cmd_update(int argc, char **argv)
{
	const char *prefix = NULL, *dhcpv6 = NULL, *pin_dir = MAPE_PIN_DIR;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct mape_prefix p6;
	char err[MAPE_ERRLEN], path[512], req[8192], reply[600];
	char **saved, **a;
	int c, fd, n, sn, ret;

	optind = 1;
	while ((c = mape_getopt(argc, argv, "h", update_optv)) != -1) {
		switch (c) {
		case 'p':
			prefix = optarg;
			break;
		case 'd':
			dhcpv6 = optarg;
			break;
		case 'P':
			pin_dir = optarg;
			break;
		case 'h':
			update_usage();
			return 0;
		default:
			return mape_usage_error(argc, argv);
		}
	}
	if (optind < argc)
		return mape_errorf("unexpected argument '%s'", argv[optind]);
	if (!prefix)
		return mape_errorf("missing --prefix (the delegated prefix)");
	if (mape_parse_prefix6(prefix, &p6, err))
		return mape_errorf("%s", err);
	if (dhcpv6 && strlen(dhcpv6) > sizeof(req) - 100)
		return mape_errorf("bad --dhcpv6-hex: longer than %zu characters", sizeof(req) - 100);
	sock_path(pin_dir, path, sizeof(path));
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (fd >= 0 && !connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		snprintf(req, sizeof(req), "update prefix=%s%s%s\n", prefix, dhcpv6 ? " dhcpv6=" : "",
			 dhcpv6 ? dhcpv6 : "");
		if (send(fd, req, strlen(req), MSG_NOSIGNAL) < 0) {
			close(fd);
			return mape_errorf("cannot talk to the daemon (%s): %s", path, strerror(errno));
		}
		n = recv(fd, reply, sizeof(reply) - 1, 0);
		close(fd);
		if (n <= 0)
			return mape_errorf("the daemon (%s) did not answer", path);
		reply[n] = 0;
		reply[strcspn(reply, "\n")] = 0;
		if (!strncmp(reply, "ok", 2)) {
			printf("daemon: %s\n", reply);
			return 0;
		}
		return mape_errorf("daemon: %s", reply);
	}
	if (fd >= 0)
		close(fd);
	/* no daemon: up with the last up's options */
	saved = load_up_args(pin_dir, &sn);
	if (!saved)
		return mape_errorf("no daemon for %s and no earlier up to repeat: run mapectl up "
				   "(or mapectl daemon) first", pin_dir);
	a = up_argv(sn, saved, prefix, dhcpv6, &n);
	ret = a ? cmd_up(n, a) : mape_errorf("out of memory");
	free(a);
	for (int i = 0; i < sn; i++)
		free(saved[i]);
	free(saved);
	return ret;
}
