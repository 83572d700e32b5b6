/* SPDX-License-Identifier: MIT */
/*
 * icmp4.h - building an ICMPv4 error (header, quote, checksums) in a
 * buffer; shared by the CE's errors (icmp.h) and the relay of ICMPv6
 * Packet Too Big (pmtu.h), CE and BR.
 */
#ifndef MAPE_BPF_ICMP4_H
#define MAPE_BPF_ICMP4_H

#include "common.h"
#include "csum.h"

#define ICMP_QUOTE_MAX (60 + 8)	/* quoted IPv4 header + 8 bytes */

/* Sum of a buffer in 16-bit words; the buffer is zero-padded to its size. */
static __always_inline __u16 csum_buf(void *buf, __u32 size, __u32 seed)
{
	return ~csum_fold32(bpf_csum_diff(NULL, 0, buf, size, seed));
}

/* An ICMP error being built: our IPv4 header, then the ICMP header and the
 * quote (the offending packet's header and 8 bytes), zero-padded. */
struct icmp_errmsg {
	struct iphdr ip __attribute__((aligned(8)));
	__u8 msg[8 + ICMP_QUOTE_MAX] __attribute__((aligned(8)));	/* ICMP header + quote */
};

/* Fill the headers and checksums of an error from saddr to host, whose
 * quote of qlen bytes is already at e->msg + 8. mtu: next-hop MTU (type 3
 * code 4), else 0. */
static __always_inline void icmp_err_fill(struct icmp_errmsg *e, __be32 saddr, __be32 host,
					  __u32 qlen, __u8 type, __u8 code, __u16 mtu)
{
	e->msg[0] = type;
	e->msg[1] = code;
	*(__be16 *)&e->msg[6] = bpf_htons(mtu);
	*(__u16 *)&e->msg[2] = csum_buf(e->msg, sizeof(e->msg), 0);
	e->ip.version = 4;
	e->ip.ihl = 5;
	e->ip.tos = 0xc0;
	e->ip.tot_len = bpf_htons(20 + 8 + qlen);
	e->ip.ttl = 64;
	e->ip.protocol = IPPROTO_ICMP;
	e->ip.saddr = saddr;
	e->ip.daddr = host;
	e->ip.check = csum_buf(&e->ip, sizeof(e->ip), 0);
}

/* The quote's length for an IPv4 header's first byte, or 0 when unusable. */
static __always_inline __u32 icmp_qlen(__u8 vihl)
{
	__u32 qlen = (vihl & 0xf) * 4 + 8;

	return qlen < 28 || qlen > ICMP_QUOTE_MAX ? 0 : qlen;
}

#endif
