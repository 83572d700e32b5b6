/* SPDX-License-Identifier: MIT */
/* veth.h - can native XDP redirect into an interface (veth peers)? */
#ifndef MAPE_VETH_H
#define MAPE_VETH_H

#include <stddef.h>

/*
 * 1: frames that native XDP redirects into ifname are received (it is not a
 * veth, or its peer has GRO on or a native XDP program); 0: they would be
 * dropped (a veth whose peer has neither); -errno: unknown (the peer's
 * namespace could not be found). desc gets the peer's name and namespace.
 */
int mape_xdp_xmit_ok(const char *ifname, char *desc, size_t len);
/* mape_xdp_xmit_ok with a notice on stderr when the answer is not yes:
 * 1 (redirect into it), 0 (go through the kernel). */
int mape_xdp_xmit_check(const char *ifname);

#endif
