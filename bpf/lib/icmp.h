/* SPDX-License-Identifier: MIT */
/*
 * icmp.h - the ICMP errors the CE originates (TC only): destination
 * unreachable, code 13 (communication administratively prohibited) to a
 * LAN host whose new session could not be created (RFC 4787 REQ-8 / RFC
 * 5382: no mapping -> drop and signal). The packet is turned into the error
 * in place and sent back into the kernel through the tunnel's veth peer,
 * which routes it to the host. Rate-limited by a token bucket
 * (--icmp-rate per second, burst of the same size).
 *
 * Invalidates all packet pointers.
 */
#ifndef MAPE_BPF_ICMP_H
#define MAPE_BPF_ICMP_H

#include "maps.h"
#include "parse.h"

#define ICMP_QUOTE_MAX (60 + 8)	/* quoted IPv4 header + 8 bytes */

static __always_inline int icmp_rate_ok(const struct mape_config *cfg)
{
	__u32 zero = 0;
	struct mape_rl *rl = bpf_map_lookup_elem(&mape_icmp_rl, &zero);
	__u64 now = bpf_ktime_get_ns(), add;

	if (!rl || !cfg->icmp_rate)
		return 0;
	add = (now - rl->last_ns) * cfg->icmp_rate / NSEC_PER_SEC;
	if (add) {
		rl->tokens = rl->tokens + add > cfg->icmp_rate ? cfg->icmp_rate : rl->tokens + add;
		rl->last_ns = now;
	}
	if (!rl->tokens)
		return 0;
	rl->tokens--;
	return 1;
}

/* Sum of a buffer in 16-bit words; the buffer is zero-padded to its size. */
static __always_inline __u16 csum_buf(void *buf, __u32 size, __u32 seed)
{
	return ~csum_fold32(bpf_csum_diff(NULL, 0, buf, size, seed));
}

/*
 * Replace the packet (eth + IPv4 from the LAN host `host`) with an ICMP
 * type 3 code 13 from our IPv4 to it, quoting its header and 8 bytes.
 * Returns a TC verdict. mape_tun's ACT_TELL_HOST (walk.h).
 */
static __noinline int icmp_unreach13(struct __sk_buff *skb, __be32 host)
{
	__u8 quote[8 + ICMP_QUOTE_MAX] __attribute__((aligned(8))) = {};
	struct iphdr ip __attribute__((aligned(8))) = {};
	struct mape_config *cfg = get_cfg();
	__u16 eth_ip = bpf_htons(ETH_P_IP);
	__u8 macs[12], vihl;
	__u32 qlen;

	if (!cfg || bpf_skb_load_bytes(skb, ETH_HLEN, &vihl, 1))
		return TC_ACT_SHOT;
	qlen = (vihl & 0xf) * 4 + 8;
	if (!icmp_rate_ok(cfg)) {
		count(MAPE_CTR_EV_ICMP_LIMITED, 0);
		return TC_ACT_SHOT;
	}
	if (qlen < 28 || qlen > ICMP_QUOTE_MAX || skb->len < ETH_HLEN + qlen ||
	    bpf_skb_load_bytes(skb, ETH_HLEN, quote + 8, qlen))
		return TC_ACT_SHOT;
	/* ICMP header in front of the quote: type 3, code 13, unused 0 */
	quote[0] = ICMP_DEST_UNREACH;
	quote[1] = ICMP_PKT_FILTERED;
	*(__u16 *)&quote[2] = csum_buf(quote, sizeof(quote), 0);
	ip.version = 4;
	ip.ihl = 5;
	ip.tos = 0xc0;
	ip.tot_len = bpf_htons(20 + 8 + qlen);
	ip.ttl = 64;
	ip.protocol = IPPROTO_ICMP;
	ip.saddr = cfg->ipv4;
	ip.daddr = host;
	ip.check = csum_buf(&ip, sizeof(ip), 0);
	/* room for IPv4 + ICMP headers, then cut to the error's length */
	if (bpf_skb_adjust_room(skb, 28, BPF_ADJ_ROOM_MAC, 0) ||
	    bpf_skb_change_tail(skb, ETH_HLEN + 20 + 8 + qlen, 0))
		return TC_ACT_SHOT;
	__builtin_memcpy(macs, cfg->tun_mac, 6);
	__builtin_memcpy(macs + 6, cfg->tun_peer_mac, 6);
	if (bpf_skb_store_bytes(skb, 0, macs, 12, 0) || bpf_skb_store_bytes(skb, 12, &eth_ip, 2, 0) ||
	    bpf_skb_store_bytes(skb, ETH_HLEN, &ip, sizeof(ip), 0) ||
	    bpf_skb_store_bytes(skb, ETH_HLEN + 20, quote, 8 + (qlen & 0x7f), 0))
		return TC_ACT_SHOT;
	count(MAPE_CTR_EV_ICMP_SENT, 0);
	return bpf_redirect(cfg->tun_peer_ifindex, 0);
}

#endif
