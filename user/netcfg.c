// SPDX-License-Identifier: MIT
/* netcfg.c - iproute2 invocations, ioctl interface facts, sysctls. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <sys/socket.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include "netcfg.h"

extern char **environ;

int mape_ip(char *err, int quiet, ...)
{
	char *argv[32], cmd[256] = "ip", line[256] = "", drain[256];
	posix_spawn_file_actions_t fa;
	int pfd[2], status, n = 0, ret;
	size_t off = 2;
	va_list ap;
	pid_t pid;
	ssize_t r;

	argv[n++] = "ip";
	va_start(ap, quiet);
	while (n < 31 && (argv[n] = va_arg(ap, char *))) {
		off += snprintf(cmd + off, off < sizeof(cmd) ? sizeof(cmd) - off : 0, " %s",
				argv[n]);
		n++;
	}
	va_end(ap);
	argv[n] = NULL;
	if (pipe2(pfd, O_CLOEXEC)) {
		snprintf(err, MAPE_ERRLEN, "pipe: %s", strerror(errno));
		return -errno;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pfd[1], 2);
	posix_spawn_file_actions_adddup2(&fa, pfd[1], 1);
	ret = posix_spawnp(&pid, "ip", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(pfd[1]);
	if (ret) {
		close(pfd[0]);
		snprintf(err, MAPE_ERRLEN, "cannot run ip (iproute2): %s", strerror(ret));
		return -ret;
	}
	r = read(pfd[0], line, sizeof(line) - 1);
	line[r > 0 ? r : 0] = 0;
	while (read(pfd[0], drain, sizeof(drain)) > 0)
		;	/* let ip finish writing */
	close(pfd[0]);
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status)) {
		line[strcspn(line, "\n")] = 0;
		if (!quiet)
			snprintf(err, MAPE_ERRLEN, "'%s' failed: %s", cmd, line);
		return -EIO;
	}
	return 0;
}

static int if_ioctl(const char *ifname, unsigned long req, struct ifreq *ifr, char *err)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), ret = 0;

	if (fd < 0) {
		snprintf(err, MAPE_ERRLEN, "socket: %s", strerror(errno));
		return -errno;
	}
	memset(ifr, 0, sizeof(*ifr));
	snprintf(ifr->ifr_name, IFNAMSIZ, "%s", ifname);
	if (ioctl(fd, req, ifr)) {
		ret = -errno;
		snprintf(err, MAPE_ERRLEN, "interface '%s': %s", ifname, strerror(errno));
	}
	close(fd);
	return ret;
}

int mape_if_mac(const char *ifname, __u8 mac[6], char *err)
{
	struct ifreq ifr;
	int ret = if_ioctl(ifname, SIOCGIFHWADDR, &ifr, err);

	if (!ret)
		memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
	return ret;
}

int mape_if_mtu(const char *ifname, unsigned int *mtu, char *err)
{
	struct ifreq ifr;
	int ret = if_ioctl(ifname, SIOCGIFMTU, &ifr, err);

	if (!ret)
		*mtu = ifr.ifr_mtu;
	return ret;
}

int mape_sysctl(const char *path, const char *val, char *err)
{
	char p[256];
	int fd, ret = 0;

	snprintf(p, sizeof(p), "/proc/sys/%s", path);
	fd = open(p, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, val, strlen(val)) < 0) {
		ret = -errno;
		snprintf(err, MAPE_ERRLEN, "cannot set %s = %s: %s", p, val, strerror(errno));
	}
	if (fd >= 0)
		close(fd);
	return ret;
}

#define BE_LIBERAL "net/netfilter/nf_conntrack_tcp_be_liberal"

/*
 * The kernel's connection tracking, which the data path asks whether a
 * flow is established (nf_conntrack's kfuncs). Loaded with modprobe when it
 * is a module not loaded yet; its sysctls appear with it.
 */
int mape_conntrack_ready(char *err)
{
	char *argv[] = { "modprobe", "-q", "nf_conntrack", NULL };
	char p[128];
	int status;
	pid_t pid;

	snprintf(p, sizeof(p), "/proc/sys/%s", BE_LIBERAL);
	if (!access(p, F_OK))
		return 0;
	if (!posix_spawnp(&pid, "modprobe", NULL, NULL, argv, environ))
		waitpid(pid, &status, 0);
	if (!access(p, F_OK))
		return 0;
	snprintf(err, MAPE_ERRLEN, "the kernel's connection tracking (nf_conntrack) is not "
		 "available: the data path needs it (modprobe nf_conntrack)");
	return -ENOENT;
}

/*
 * While XDP carries a TCP flow, conntrack sees none of its packets, so its
 * sequence window falls behind; without this the FIN that ends the flow
 * in the kernel would be "invalid" and a `ct state invalid drop` rule
 * would drop it. (An nftables flowtable resets the window when it gives a
 * flow back; BPF cannot write that part of the entry.)
 */
int mape_conntrack_liberal(char *err)
{
	return mape_sysctl(BE_LIBERAL, "1", err);
}

/* Run nft with one command line (commands separated by ';': one transaction). */
int mape_nft(const char *cmds, int quiet, char *err)
{
	char *argv[] = { "nft", (char *)cmds, NULL };
	posix_spawn_file_actions_t fa;
	int status, ret;
	pid_t pid;

	posix_spawn_file_actions_init(&fa);
	if (quiet)
		posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	ret = posix_spawnp(&pid, "nft", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (ret) {
		snprintf(err, MAPE_ERRLEN, "cannot run nft (nftables): %s", strerror(ret));
		return -ret;
	}
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status)) {
		snprintf(err, MAPE_ERRLEN, "nft failed: %s", cmds);
		return -EIO;
	}
	return 0;
}

/*
 * Conntrack follows a network namespace's traffic only while some rule or
 * NAT needs it. The data path asks it whether a flow is established, so an
 * instance keeps a table of its own, "mapectl_<tun>", whose one rule only
 * counts invalid packets but makes conntrack follow forwarded IPv4. Verdicts
 * stay the administrator's rules'.
 */
int mape_conntrack_anchor(const char *tun, int on, char *err)
{
	char cmds[512];

	if (!on) {
		snprintf(cmds, sizeof(cmds), "delete table ip mapectl_%s", tun);
		return mape_nft(cmds, 1, err);
	}
	snprintf(cmds, sizeof(cmds),
		 "add table ip mapectl_%s; "
		 "add chain ip mapectl_%s conntrack { type filter hook forward priority 0; "
		 "policy accept; comment \"mapectl: conntrack follows forwarded IPv4\"; }; "
		 "flush chain ip mapectl_%s conntrack; "
		 "add rule ip mapectl_%s conntrack ct state invalid counter",
		 tun, tun, tun, tun);
	return mape_nft(cmds, 0, err);
}

int mape_nl_dump(int type, int family, int (*fn)(struct nlmsghdr *nh, void *ctx), void *ctx)
{
	struct {
		struct nlmsghdr nh;
		struct rtgenmsg g;
	} req = { .nh = { .nlmsg_len = sizeof(req), .nlmsg_type = type,
			  .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP, .nlmsg_seq = 1 },
		  .g = { .rtgen_family = family } };
	static char buf[32768];
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE), ret = 0, done = 0;

	if (fd < 0 || send(fd, &req, sizeof(req), 0) < 0) {
		ret = -errno;
		if (fd >= 0)
			close(fd);
		return ret;
	}
	while (!done) {
		ssize_t len = recv(fd, buf, sizeof(buf), 0);
		struct nlmsghdr *nh;

		if (len <= 0) {
			ret = len < 0 ? -errno : 0;
			break;
		}
		for (nh = (void *)buf; NLMSG_OK(nh, len); nh = NLMSG_NEXT(nh, len)) {
			if (nh->nlmsg_type == NLMSG_DONE || nh->nlmsg_type == NLMSG_ERROR ||
			    fn(nh, ctx)) {
				done = 1;
				break;
			}
		}
	}
	close(fd);
	return ret;
}
