// SPDX-License-Identifier: MIT
/*
 * attach.c - what `up` and `br up` share: attaching XDP and TC programs
 * (and refusing interfaces that run someone else's XDP program), loading
 * an object with pinned maps, pinning programs, the tunnel veth.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <net/if.h>
#include <linux/if_link.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "attach.h"
#include "netcfg.h"

/* Name of the XDP program attached to ifindex in the given mode, "" if none. */
int mape_xdp_attached(int ifindex, int skb_mode, char *name, size_t len)
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
int mape_xdp_check_free(const char *ifname, char *err)
{
	int ifindex = if_nametoindex(ifname);
	char name[32];

	for (int skb = 0; skb < 2; skb++)
		if (mape_xdp_attached(ifindex, skb, name, sizeof(name)) > 0 &&
		    strncmp(name, "mape_", 5)) {
			snprintf(err, MAPE_ERRLEN,
				 "interface %s already has XDP program '%s' attached: detach it first",
				 ifname, name);
			return -EBUSY;
		}
	return 0;
}

/* Detach our program from the given mode (skb 0: native, 1: generic). */
void mape_xdp_detach(int ifindex, int skb)
{
	char name[32];

	if (ifindex > 0 && mape_xdp_attached(ifindex, skb, name, sizeof(name)) > 0 &&
	    !strncmp(name, "mape_", 5))
		bpf_xdp_detach(ifindex, skb ? XDP_FLAGS_SKB_MODE : XDP_FLAGS_DRV_MODE, NULL);
}

int mape_xdp_attach(int ifindex, int prog_fd, int skb, const char *ifname, char *err)
{
	int ret;

	/* the other mode may hold our program from an earlier run */
	mape_xdp_detach(ifindex, !skb);
	ret = bpf_xdp_attach(ifindex, prog_fd, skb ? XDP_FLAGS_SKB_MODE : XDP_FLAGS_DRV_MODE,
			     NULL);
	if (ret)
		snprintf(err, MAPE_ERRLEN, "cannot attach XDP (%s mode) to %s: %s",
			 skb ? "skb" : "native", ifname, strerror(-ret));
	return ret;
}

/* Our TC program on an interface's clsact egress or ingress (handle 1,
 * priority 1; other filters there are left alone). */
int mape_tc_attach(int ifindex, int prog_fd, int ingress, const char *ifname, char *err)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
			    .attach_point = ingress ? BPF_TC_INGRESS : BPF_TC_EGRESS);
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
		snprintf(err, MAPE_ERRLEN, "cannot attach TC %s program to %s: %s",
			 ingress ? "ingress" : "egress", ifname, strerror(-ret));
	return ret;
}

/* Remove our TC program (handle 1, priority 1) from a hook; the clsact
 * qdisc stays, with whatever else is on it. */
void mape_tc_detach(int ifindex, int ingress)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
			    .attach_point = ingress ? BPF_TC_INGRESS : BPF_TC_EGRESS);
	DECLARE_LIBBPF_OPTS(bpf_tc_opts, opts, .handle = 1, .priority = 1);

	if (ifindex > 0)
		bpf_tc_detach(&hook, &opts);
}

static int libbpf_quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (getenv("MAPECTL_DEBUG"))
		return vfprintf(stderr, fmt, ap);
	return 0;
}

/* Load an opened object with its maps pinned under dir (reused if there). */
int mape_obj_load(struct bpf_object *obj, const char *dir, char *err)
{
	struct bpf_map *map;
	char path[512];
	int ret;

	libbpf_set_print(libbpf_quiet);
	bpf_object__for_each_map(map, obj) {
		/* the compiler's constant sections (.rodata*) are per load, and
		 * bpffs refuses their names: only our maps are shared and pinned */
		if (bpf_map__is_internal(map))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, bpf_map__name(map));
		bpf_map__set_pin_path(map, path);
	}
	ret = bpf_object__load(obj);
	if (ret)
		snprintf(err, MAPE_ERRLEN,
			 "cannot load the BPF programs: %s (kernel too old, not root, or maps "
			 "pinned in %s by another version: run down first; MAPECTL_DEBUG=1 "
			 "shows the verifier log)", strerror(-ret), dir);
	return ret;
}

int mape_obj_pin_progs(struct bpf_object *obj, const char *dir, char *err)
{
	struct bpf_program *prog;
	char path[512];
	int ret;

	bpf_object__for_each_program(prog, obj) {
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

int mape_check_iface(const char *name, const char *opt, char *err)
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

int mape_make_tunnel(const char *tun, unsigned long mtu_v, int ipv6_in, char *err)
{
	char peer[IFNAMSIZ], mtu[16], path[128];
	int ret;

	mape_tun_peer_name(tun, peer);
	snprintf(mtu, sizeof(mtu), "%lu", mtu_v);
	if (!if_nametoindex(tun)) {
		ret = mape_ip(err, 0, "link", "add", "name", tun, "type", "veth", "peer", "name", peer,
			      NULL);
		if (ret)
			return ret;
		/*
		 * No IPv6 address of any kind on the pair (no link-local: no DAD,
		 * no router solicitation) and no multicast (no MLD). With ipv6_in, IPv6 stays enabled
		 * on the tunnel side: encapsulated packets whose next hop XDP could
		 * not resolve enter the kernel there and are forwarded to the WAN
		 * by its IPv6 routing. Set once, at creation: a re-run of up
		 * leaves the administrator's later choices alone.
		 */
		mape_ip(err, 1, "link", "set", "dev", tun, "addrgenmode", "none", "multicast", "off",
			NULL);	/* without multicast it sends no MLD reports either */
		snprintf(path, sizeof(path), "net/ipv6/conf/%s/disable_ipv6", tun);
		mape_sysctl(path, ipv6_in ? "0" : "1", err);
		snprintf(path, sizeof(path), "net/ipv6/conf/%s/disable_ipv6", peer);
		mape_sysctl(path, "1", err);
	}
	ret = mape_ip(err, 0, "link", "set", "dev", tun, "mtu", mtu, "arp", "off", "up", NULL);
	if (!ret)
		ret = mape_ip(err, 0, "link", "set", "dev", peer, "mtu", mtu, "arp", "off", "up",
			      NULL);
	/*
	 * What the data path hands to the kernel through the peer may carry our
	 * own IPv4 as source (ICMP 3/13 to a LAN host, hairpinned packets): without
	 * accept_local the kernel drops it as a martian. Set on every run.
	 */
	snprintf(path, sizeof(path), "net/ipv4/conf/%s/accept_local", tun);
	if (!ret)
		ret = mape_sysctl(path, "1", err);
	return ret;
}

/* Remove every pin in dir (maps and programs) and the directory. */
void mape_unpin_dir(const char *dir)
{
	struct dirent *de;
	char path[1024];
	DIR *d = opendir(dir);

	if (!d)
		return;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.') {
			snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
			unlink(path);
		}
	closedir(d);
	rmdir(dir);
}

void mape_tun_peer_name(const char *tun, char *buf)
{
	snprintf(buf, IFNAMSIZ, "%s-p", tun);
}

int mape_map_walk(int fd, size_t key_size, void *vbuf, mape_walk_cb cb, void *arg)
{
	struct bpf_map_info info = { 0 };
	__u32 len = sizeof(info);
	__u8 key[64], next[64];
	unsigned long limit;
	int more, ret = 0;

	if (key_size > sizeof(key))
		return -EINVAL;
	limit = bpf_obj_get_info_by_fd(fd, &info, &len) ? 1UL << 24 :
							   2UL * info.max_entries + 16;
	more = !bpf_map_get_next_key(fd, NULL, next);
	if (!more && errno != ENOENT)
		return -errno;
	while (more && limit--) {
		memcpy(key, next, key_size);
		more = !bpf_map_get_next_key(fd, key, next);
		if (!more && errno != ENOENT)
			ret = -errno;
		if (vbuf && bpf_map_lookup_elem(fd, key, vbuf))
			continue;	/* gone meanwhile */
		if (!ret)
			ret = cb(key, vbuf, arg);
		if (ret)
			break;
	}
	return ret;
}

/*
 * Delete every key of a hash map (none may carry a bpf_timer: see
 * docs/design.md). A key another context deleted meanwhile (ENOENT) is no
 * reason to stop; any other failure is returned (-errno).
 */
int mape_map_clear(int fd, size_t key_size)
{
	char key[64];
	long guard = 1L << 24;	/* bounded even if others keep inserting */

	if (key_size > sizeof(key))
		return -EINVAL;
	while (!bpf_map_get_next_key(fd, NULL, key) && guard-- > 0)
		if (bpf_map_delete_elem(fd, key) && errno != ENOENT)
			return -errno;
	return 0;
}
