/* SPDX-License-Identifier: MIT */
/* attach.h - attaching, loading and pinning shared by `up` and `br up`. */
#ifndef MAPE_ATTACH_H
#define MAPE_ATTACH_H

#include <bpf/libbpf.h>
#include "mape.h"

/* Name of the XDP program on ifindex in a mode (skb 1: generic): 1, or 0 if none. */
int mape_xdp_attached(int ifindex, int skb_mode, char *name, size_t len);
/* -EBUSY (err set) when the interface runs an XDP program that is not ours. */
int mape_xdp_check_free(const char *ifname, char *err);
/* Detach our (mape_*) program from one mode of ifindex, if it is there. */
void mape_xdp_detach(int ifindex, int skb);
int mape_xdp_attach(int ifindex, int prog_fd, int skb, const char *ifname, char *err);
/* clsact egress, handle 1 priority 1, replacing ours. */
int mape_tc_attach(int ifindex, int prog_fd, int ingress, const char *ifname, char *err);
void mape_tc_detach(int ifindex, int ingress);
int mape_obj_load(struct bpf_object *obj, const char *dir, char *err);
int mape_obj_pin_progs(struct bpf_object *obj, const char *dir, char *err);
/* ifindex of an existing interface, or negative with "unknown interface" in err. */
int mape_check_iface(const char *name, const char *opt, char *err);
/* The IPv4 tunnel face: veth NAME / NAME-p, MTU, ARP off, up; IPv6 without
 * addresses on NAME when ipv6_in (the fast path's way into IPv6 forwarding). */
int mape_make_tunnel(const char *tun, unsigned long mtu, int ipv6_in, char *err);
void mape_tun_peer_name(const char *tun, char *buf);
int mape_map_clear(int fd, size_t key_size);
/*
 * Every entry of a map: cb(key, value, arg), value read into vbuf (NULL:
 * keys only; an entry gone before its value was read is skipped). The next
 * key is fetched before cb runs, so cb may delete the key it is given.
 * Bounded (a walk restarts when entries are deleted under it): twice the
 * map's size. Returns cb's first non-zero result, -errno when the walk
 * failed, or 0.
 */
typedef int (*mape_walk_cb)(const void *key, const void *value, void *arg);
int mape_map_walk(int fd, size_t key_size, void *vbuf, mape_walk_cb cb, void *arg);
void mape_unpin_dir(const char *dir);

#endif
