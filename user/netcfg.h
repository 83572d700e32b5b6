/* SPDX-License-Identifier: MIT */
/*
 * netcfg.h - the few network-configuration steps of `up`/`down`: running
 * iproute2 (no shell: argv as given), interface facts via ioctl (correct
 * under `nsenter --net`, where /sys belongs to another namespace), sysctls.
 */
#ifndef MAPE_NETCFG_H
#define MAPE_NETCFG_H

#include "mape.h"

/* Run `ip ARGS...` (NULL-terminated); on failure err gets the command and
 * ip's first error line. quiet: failure is expected and not an error. */
int mape_ip(char *err, int quiet, ...) __attribute__((sentinel));
int mape_if_mac(const char *ifname, __u8 mac[6], char *err);
int mape_if_mtu(const char *ifname, unsigned int *mtu, char *err);
/* Write a value to /proc/sys/<path>. */
int mape_sysctl(const char *path, const char *val, char *err);
int mape_conntrack_ready(char *err);
struct nlmsghdr;
/* Dump request type (RTM_GETROUTE, RTM_GETADDR) for family over rtnetlink;
 * fn is called for each message until it returns non-zero. 0 or -errno. */
int mape_nl_dump(int type, int family, int (*fn)(struct nlmsghdr *nh, void *ctx), void *ctx);
int mape_conntrack_liberal(char *err);
/* Run nft with one command line (commands separated by ';': one transaction);
 * quiet: its errors not on stderr. */
int mape_nft(const char *cmds, int quiet, char *err);
int mape_conntrack_anchor(const char *tun, int on, char *err);

#endif
