/* SPDX-License-Identifier: MIT */
/*
 * common.h - what every MAP-E program includes: kernel types, libbpf
 * helpers, the shared types and arithmetic, protocol constants.
 */
#ifndef MAPE_BPF_COMMON_H
#define MAPE_BPF_COMMON_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "mape_types.h"

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define ETH_ALEN 6
#define ETH_HLEN 14
#define EBUSY 16	/* errnos, as helpers return them negated */
#define EEXIST 17
#define IP_DF 0x4000
#define IP_MF 0x2000
#define IP_OFFSET 0x1fff
#define IPV6_HLEN 40
#define NEXTHDR_IPIP 4
#define NEXTHDR_DEST 60
#define NEXTHDR_ICMP6 58
#define ICMP_ECHOREPLY 0
#define ICMP_DEST_UNREACH 3
#define ICMP_ECHO 8
#define ICMP_TIME_EXCEEDED 11
#define ICMP_PARAMETERPROB 12
#define ICMP_FRAG_NEEDED 4
#define ICMP_PKT_FILTERED 13
#define TC_ACT_OK 0
#define TC_ACT_SHOT 2
#define TC_ACT_REDIRECT 7
#define AF_INET 2
#define AF_INET6 10
#define NSEC_PER_SEC 1000000000ULL

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

/* Why a packet does not parse (negated in parse.h's return values;
 * maps.h's parse_ctr() names it in a role's counters). */
enum mape_parse_err {
	MAPE_PARSE_TRUNCATED = 1,	/* shorter than its headers say */
	MAPE_PARSE_BAD_HDR,		/* a header field out of range */
	MAPE_PARSE_PROTO,		/* a protocol we do not translate */
};

/* Program flavour, a compile-time constant after inlining: code shared by
 * XDP and TC branches on it and the dead branch disappears. */
#define CTX_TC 0
#define CTX_XDP 1

/*
 * ctx->data / ctx->data_end as one load at a constant offset, in inline
 * asm: clang otherwise merges such loads from different branches into a
 * load at a register offset, which the verifier refuses ("dereference of
 * modified ctx ptr").
 */
#define CTX_LOAD(ctx, type, field)                                             \
	({                                                                     \
		void *__v;                                                     \
		asm volatile("%0 = *(u32 *)(%1 + %2)"                          \
			     : "=r"(__v)                                       \
			     : "r"(ctx), "i"(__builtin_offsetof(type, field))); \
		__v;                                                           \
	})

static __always_inline void *ctx_data(void *ctx, const int xdp)
{
	return xdp ? CTX_LOAD(ctx, struct xdp_md, data) : CTX_LOAD(ctx, struct __sk_buff, data);
}

static __always_inline void *ctx_end(void *ctx, const int xdp)
{
	return xdp ? CTX_LOAD(ctx, struct xdp_md, data_end) :
		     CTX_LOAD(ctx, struct __sk_buff, data_end);
}

static __always_inline __u32 ctx_len(void *ctx, const int xdp)
{
	return (__u32)((long)ctx_end(ctx, xdp) - (long)ctx_data(ctx, xdp));
}

/* Largest header offset we touch; a mask small enough for the verifier to
 * keep ranges on variable packet offsets (it gives up near 64 KiB). */
#define PKT_OFF_MAX 0x3ff

/* Make v opaque to the compiler: a bound checked before stays as a mask after
 * (clang drops `off & PKT_OFF_MAX` after `off > PKT_OFF_MAX` was excluded,
 * and 6.1's verifier then loses the bound across a spill). */
#define BARRIER_VAR(v) asm volatile("" : "+r"(v))

/* Bounds check of len bytes at p; the verifier's view of packet access. */
#define PKT_OK(p, len, end) ((void *)(p) + (len) <= (end))

#endif
