/* SPDX-License-Identifier: MIT */
/*
 * icmp.h - the ICMP errors the CE originates: destination unreachable,
 * code 13 (communication administratively prohibited) to a LAN host whose
 * new session could not be created (RFC 4787 REQ-8 / RFC 5382: no mapping
 * -> drop and signal), or code 4 (fragmentation needed) for a packet with
 * DF bigger than a path MTU learned for the tunnel (pmtu.h), at TC, sent back into the kernel through the
 * tunnel's veth peer, which routes it to the host; and, in XDP, time
 * exceeded and fragmentation needed for what XDP forwards without the
 * kernel. The packet is turned into the error in place. One builder for
 * both. Rate-limited by a token bucket (--icmp-rate per second, burst of
 * the same size).
 *
 * Invalidates all packet pointers.
 */
#ifndef MAPE_BPF_ICMP_H
#define MAPE_BPF_ICMP_H

#include "maps.h"
#include "parse.h"
#include "icmp4.h"

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

/*
 * Replace the packet (eth + IPv4 from the LAN host `host`) with an ICMP
 * type 3 from our IPv4 to it, quoting its header and 8 bytes: code 13 (no
 * mapping), or 4 (fragmentation needed, next-hop MTU mtu). To the router
 * itself (its own traffic) the source is 192.0.0.8 (RFC 7600): its kernel
 * would take its own address for a martian. Returns a TC verdict.
 * mape_tun's ACT_TELL_HOST (walk.h).
 */
static __noinline int icmp_tell_host(struct __sk_buff *skb, __be32 host, __u8 code, __u16 mtu)
{
	struct icmp_errmsg e = {};
	struct mape_config *cfg = get_cfg();
	__u16 eth_ip = bpf_htons(ETH_P_IP);
	__u8 macs[12], vihl;
	__u32 qlen;

	if (!cfg || bpf_skb_load_bytes(skb, ETH_HLEN, &vihl, 1))
		return TC_ACT_SHOT;
	if (!icmp_rate_ok(cfg)) {
		count(MAPE_CTR_EV_ICMP_LIMITED, 0);
		return TC_ACT_SHOT;
	}
	qlen = icmp_qlen(vihl);
	if (!qlen || skb->len < ETH_HLEN + qlen ||
	    bpf_skb_load_bytes(skb, ETH_HLEN, e.msg + 8, qlen))
		return TC_ACT_SHOT;
	icmp_err_fill(&e, host == cfg->ipv4 ? bpf_htonl(MAPE_DUMMY_IPV4) : cfg->ipv4, host, qlen,
		      ICMP_DEST_UNREACH, code, mtu);
	/* room for IPv4 + ICMP headers, then cut to the error's length */
	if (bpf_skb_adjust_room(skb, 28, BPF_ADJ_ROOM_MAC, 0) ||
	    bpf_skb_change_tail(skb, ETH_HLEN + 20 + 8 + qlen, 0))
		return TC_ACT_SHOT;
	__builtin_memcpy(macs, cfg->tun_mac, 6);
	__builtin_memcpy(macs + 6, cfg->tun_peer_mac, 6);
	if (bpf_skb_store_bytes(skb, 0, macs, 12, 0) || bpf_skb_store_bytes(skb, 12, &eth_ip, 2, 0) ||
	    bpf_skb_store_bytes(skb, ETH_HLEN, &e.ip, sizeof(e.ip), 0) ||
	    bpf_skb_store_bytes(skb, ETH_HLEN + 20, e.msg, 8 + (qlen & 0x7f), 0))
		return TC_ACT_SHOT;
	count(MAPE_CTR_EV_ICMP_SENT, 0);
	return bpf_redirect(cfg->tun_peer_ifindex, 0);
}

/*
 * Turn the LAN frame in XDP (eth + IPv4 from a LAN host) into an ICMP error
 * from our IPv4 to its sender and send it back where it came from
 * (XDP_TX): time exceeded, or fragmentation needed with the tunnel MTU, for
 * the packets XDP forwards itself that the kernel never sees (to CEs
 * sharing our IPv4). Rate-limited like the rest. Returns an XDP verdict.
 */
static __noinline int xdp_icmp_error(struct xdp_md *ctx, __u8 type, __u8 code, __u16 mtu)
{
	void *data = ctx_data(ctx, CTX_XDP), *end = ctx_end(ctx, CTX_XDP);
	struct ethhdr *eth = data;
	struct iphdr *ip = data + ETH_HLEN;
	struct mape_config *cfg = get_cfg();
	struct icmp_errmsg e = {};
	__u16 eth_ip = bpf_htons(ETH_P_IP);
	__u32 qlen, len = end - data;
	__u8 macs[12];
	__be32 host;

	if (!cfg || !PKT_OK(ip, sizeof(*ip), end))
		return XDP_DROP;
	if (!icmp_rate_ok(cfg)) {
		count(MAPE_CTR_EV_ICMP_LIMITED, 0);
		return XDP_DROP;
	}
	qlen = icmp_qlen(*(__u8 *)ip);
	host = ip->saddr;
	__builtin_memcpy(macs, eth->h_source, 6);	/* back to the sender */
	__builtin_memcpy(macs + 6, eth->h_dest, 6);
	if (!qlen || len < ETH_HLEN + qlen || bpf_xdp_load_bytes(ctx, ETH_HLEN, e.msg + 8, qlen))
		return XDP_DROP;
	icmp_err_fill(&e, cfg->ipv4, host, qlen, type, code, mtu);
	if (bpf_xdp_adjust_tail(ctx, (int)(ETH_HLEN + qlen) - (int)len) ||
	    bpf_xdp_adjust_head(ctx, -28))
		return XDP_DROP;
	if (bpf_xdp_store_bytes(ctx, 0, macs, 12) || bpf_xdp_store_bytes(ctx, 12, &eth_ip, 2) ||
	    bpf_xdp_store_bytes(ctx, ETH_HLEN, &e.ip, sizeof(e.ip)) ||
	    bpf_xdp_store_bytes(ctx, ETH_HLEN + 20, e.msg, 8 + (qlen & 0x7f)))
		return XDP_DROP;
	count(MAPE_CTR_EV_ICMP_SENT, 0);
	return XDP_TX;
}

#endif
