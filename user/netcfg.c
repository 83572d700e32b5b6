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
