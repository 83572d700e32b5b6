// SPDX-License-Identifier: MIT
#define _GNU_SOURCE	/* setns, pipe2 */
/*
 * veth.c - can native XDP redirect into this interface?
 *
 * A frame that native XDP redirects into a veth is received by the veth's
 * peer only if the peer runs NAPI: it has an XDP program or GRO on. A veth
 * created with defaults (GRO off) on a container's or namespace's side
 * silently drops such frames. The peer often lives in another network
 * namespace; it is found through the netnsid the kernel reports for it
 * (IFLA_LINK_NETNSID), matched against the namespaces of /run/netns and
 * of running processes (RTM_GETNSID), and looked at from a child process
 * that enters that namespace.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <net/if.h>
#include <linux/ethtool.h>
#include <linux/if_link.h>
#include <linux/net_namespace.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <bpf/libbpf.h>
#include "veth.h"

static int ethtool(const char *ifname, void *cmd)
{
	struct ifreq ifr = { 0 };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), ret;

	if (fd < 0)
		return -errno;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	ifr.ifr_data = cmd;
	ret = ioctl(fd, SIOCETHTOOL, &ifr) ? -errno : 0;
	close(fd);
	return ret;
}

static int is_veth(const char *ifname)
{
	struct ethtool_drvinfo di = { .cmd = ETHTOOL_GDRVINFO };

	return ethtool(ifname, &di) ? 0 : !strcmp(di.driver, "veth");
}

/* One request, one answer: the first message's attributes after a header of
 * hdr_len bytes. Returns the attribute bytes' length or -errno. */
static int rtnl_ask(struct nlmsghdr *req, char *buf, size_t size, size_t hdr_len,
		    struct rtattr **attrs)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE), n;
	struct nlmsghdr *h = (struct nlmsghdr *)buf;

	if (fd < 0)
		return -errno;
	if (sendto(fd, req, req->nlmsg_len, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		n = -errno;
		close(fd);
		return n;
	}
	n = recv(fd, buf, size, 0);
	close(fd);
	if (n < 0)
		return -errno;
	if (!NLMSG_OK(h, (unsigned int)n))
		return -EPROTO;
	if (h->nlmsg_type == NLMSG_ERROR) {
		struct nlmsgerr *e = NLMSG_DATA(h);

		return e->error ? e->error : -EPROTO;
	}
	if (h->nlmsg_len < NLMSG_LENGTH(hdr_len))
		return -EPROTO;
	*attrs = (struct rtattr *)((char *)NLMSG_DATA(h) + NLMSG_ALIGN(hdr_len));
	return (int)(h->nlmsg_len - NLMSG_LENGTH(NLMSG_ALIGN(hdr_len)));
}

/* The veth's peer: its ifindex and, when it is in another namespace, the
 * netnsid under which ours knows that namespace (-1: ours). */
static int veth_peer(int ifindex, int *peer, int *nsid)
{
	struct {
		struct nlmsghdr h;
		struct ifinfomsg i;
	} req = { .h = { .nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg)),
			 .nlmsg_type = RTM_GETLINK, .nlmsg_flags = NLM_F_REQUEST },
		  .i = { .ifi_family = AF_UNSPEC, .ifi_index = ifindex } };
	char buf[16384];
	struct rtattr *a;
	int len = rtnl_ask(&req.h, buf, sizeof(buf), sizeof(struct ifinfomsg), &a);

	if (len < 0)
		return len;
	*peer = 0;
	*nsid = -1;
	for (; RTA_OK(a, len); a = RTA_NEXT(a, len)) {
		if (a->rta_type == IFLA_LINK && RTA_PAYLOAD(a) >= 4)
			memcpy(peer, RTA_DATA(a), 4);
		else if (a->rta_type == IFLA_LINK_NETNSID && RTA_PAYLOAD(a) >= 4)
			memcpy(nsid, RTA_DATA(a), 4);
	}
	return *peer ? 0 : -ENOENT;
}

/* The netnsid our namespace has for the namespace of fd (-1: none). */
static int nsid_of(int nsfd)
{
	struct {
		struct nlmsghdr h;
		struct rtgenmsg g;
		char pad[3];
		struct rtattr a;
		__u32 fd;
	} req = { .h = { .nlmsg_len = sizeof(req), .nlmsg_type = RTM_GETNSID,
			 .nlmsg_flags = NLM_F_REQUEST },
		  .g = { .rtgen_family = AF_UNSPEC },
		  .a = { .rta_len = RTA_LENGTH(4), .rta_type = NETNSA_FD }, .fd = (__u32)nsfd };
	char buf[1024];
	struct rtattr *a;
	int len = rtnl_ask(&req.h, buf, sizeof(buf), sizeof(struct rtgenmsg), &a), id = -1;

	for (; len > 0 && RTA_OK(a, len); a = RTA_NEXT(a, len))
		if (a->rta_type == NETNSA_NSID && RTA_PAYLOAD(a) >= 4)
			memcpy(&id, RTA_DATA(a), 4);
	return id;
}

static int try_ns(const char *path, int nsid, char *where, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	if (nsid_of(fd) == nsid) {
		snprintf(where, len, "%s", path);
		return fd;
	}
	close(fd);
	return -1;
}

/* An fd of the namespace our namespace calls nsid: a named one, or one a
 * process runs in. */
static int find_ns(int nsid, char *where, size_t len)
{
	char path[300];
	struct dirent *de;
	DIR *d;
	int fd = -1;

	d = opendir("/run/netns");
	while (d && fd < 0 && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/run/netns/%s", de->d_name);
		fd = try_ns(path, nsid, where, len);
	}
	if (d)
		closedir(d);
	d = opendir("/proc");
	while (d && fd < 0 && (de = readdir(d))) {
		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/ns/net", de->d_name);
		fd = try_ns(path, nsid, where, len);
	}
	if (d)
		closedir(d);
	return fd;
}

/* In the peer's namespace: 1 when it runs NAPI (GRO on, or a native XDP
 * program: a generic one gives no NAPI). */
static int peer_napi_here(int ifindex, char *name)
{
	struct ethtool_value gro = { .cmd = ETHTOOL_GGRO };
	__u32 prog = 0;

	if (!if_indextoname(ifindex, name))
		return -ENODEV;
	if (!bpf_xdp_query_id(ifindex, XDP_FLAGS_DRV_MODE, &prog) && prog)
		return 1;
	if (ethtool(name, &gro))
		return -errno;
	return gro.data != 0;
}

int mape_xdp_xmit_check(const char *ifname)
{
	char desc[400];
	int ok = mape_xdp_xmit_ok(ifname, desc, sizeof(desc));

	if (ok > 0)
		return 1;
	if (ok == 0)
		fprintf(stderr, "notice: %s is a veth whose peer %s has neither GRO nor an XDP "
			"program: traffic into %s goes through the kernel (ethtool -K on the peer: "
			"gro on, then up again, gives it the XDP fast path)\n", ifname, desc, ifname);
	else
		fprintf(stderr, "notice: %s is a veth whose peer (%s) could not be checked (%s): "
			"traffic into %s goes through the kernel\n", ifname, desc, strerror(-ok),
			ifname);
	return 0;
}

int mape_xdp_xmit_ok(const char *ifname, char *desc, size_t len)
{
	char where[300] = "this namespace", name[IF_NAMESIZE] = "?";
	int ifindex = (int)if_nametoindex(ifname), peer, nsid, nsfd, st, ret, pfd[2];
	pid_t pid;

	snprintf(desc, len, "%s", ifname);
	if (!ifindex)
		return -ENODEV;
	if (!is_veth(ifname))
		return 1;
	ret = veth_peer(ifindex, &peer, &nsid);
	if (ret)
		return ret;
	if (nsid < 0) {
		ret = peer_napi_here(peer, name);
		snprintf(desc, len, "%s (in this namespace)", name);
		return ret;
	}
	nsfd = find_ns(nsid, where, sizeof(where));
	if (nsfd < 0) {
		snprintf(desc, len, "ifindex %d in netns id %d", peer, nsid);
		return -ENOENT;
	}
	if (pipe2(pfd, O_CLOEXEC)) {
		close(nsfd);
		return -errno;
	}
	pid = fork();
	if (pid == 0) {	/* the child enters the peer's namespace and looks */
		close(pfd[0]);
		ret = setns(nsfd, CLONE_NEWNET) ? -errno : peer_napi_here(peer, name);
		if (write(pfd[1], name, sizeof(name)) != sizeof(name))
			_exit(3);
		_exit(ret < 0 ? 2 : ret);
	}
	close(nsfd);
	close(pfd[1]);
	if (pid < 0) {
		close(pfd[0]);
		return -errno;
	}
	if (read(pfd[0], name, sizeof(name)) != sizeof(name))
		snprintf(name, sizeof(name), "?");
	name[IF_NAMESIZE - 1] = 0;
	close(pfd[0]);
	if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) > 1)
		ret = -EIO;
	else
		ret = WEXITSTATUS(st);
	snprintf(desc, len, "%s (in %s)", name, where);
	return ret;
}
