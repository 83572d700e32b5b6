/* SPDX-License-Identifier: MIT */
/*
 * nat.h - port-set NAPT44 (RFC 7597 s9, RFC 4787/5382/5508/7857), written
 * once for XDP and TC. Sessions live in mape_out (state, timer) and mape_in
 * (reverse); mape_bind gives endpoint-independent mapping, mape_ports the
 * per-port usage, mape_adf address-dependent filtering.
 *
 * Allocation policy for a new internal endpoint: a forward's server
 * (mapectl forward) sends from its forwarded port, and from no other; any
 * other endpoint: its existing binding; else its own port when in our set
 * and free; else the first free port from a random index (RFC 6056) over
 * all blocks; else a port whose (protocol, remote address, remote port) is
 * still unused: port overlapping (RFC 7857 s3.2). Else the session is
 * refused. A forwarded port is reserved: none of these ever hands it out.
 *
 * Expiry: each session arms a bpf_timer; the callback re-arms while the
 * session is active and otherwise releases every entry it owns. Nothing
 * else deletes sessions from the data path (see docs/design.md: deleting
 * timer-carrying elements elsewhere can deadlock on 6.1).
 *
 * Epochs: a session belongs to the epoch of the configuration it was made
 * in (mape_config.epoch, bumped when our IPv4 or port set changes). One of
 * another epoch is never used: it is ending, its timer made to fire now
 * (by the packet that finds it, by `up`'s sweep, or at its creation when
 * `up` switched meanwhile), and the callback releases it like an expiry.
 */
#ifndef MAPE_BPF_NAT_H
#define MAPE_BPF_NAT_H

#include "maps.h"
#include "parse.h"

#define CLOCK_MONOTONIC 1

static __always_inline __u32 proto_idx(__u8 proto)
{
	return proto == IPPROTO_TCP ? MAPE_P_TCP : proto == IPPROTO_UDP ? MAPE_P_UDP : MAPE_P_ICMP;
}

static __always_inline __u32 port_slot(__u8 proto, __be16 port)
{
	return proto_idx(proto) * 65536 + bpf_ntohs(port);
}

static __always_inline void in_key_of(struct mape_in_key *ik, __u8 proto, __be16 ext,
				      __be32 rem, __be16 rport)
{
	__builtin_memset(ik, 0, sizeof(*ik));
	ik->proto = proto;
	ik->ext_port = ext;
	ik->rem_addr = rem;
	ik->rem_port = rport;
}

static __always_inline __u32 state_timeout(const struct mape_config *cfg, __u8 proto, __u8 state)
{
	if (proto == IPPROTO_TCP)
		return state == MAPE_TCP_EST ? cfg->to_tcp_est : cfg->to_tcp_trans;
	return proto == IPPROTO_UDP ? cfg->to_udp : cfg->to_icmp;
}

/* What a LAN host holds (struct mape_host, as an array of counters):
 * HOST_SESSIONS, or HOST_PORTS(pi) the ports of protocol pi it took first. */
#define HOST_SESSIONS 0
#define HOST_PORTS(pi) (1 + (pi))
#define HOST_NUM (sizeof(struct mape_host) / sizeof(__u32))

/* Add delta to counter idx of LAN host `host` (fair sharing). */
static __always_inline void host_add(__be32 host, __u32 idx, int delta)
{
	struct mape_host one = {}, *h = bpf_map_lookup_elem(&mape_hosts, &host);

	if (idx >= HOST_NUM)
		return;
	if (h) {
		__sync_fetch_and_add(&((__u32 *)h)[idx], delta);
	} else if (delta > 0) {
		((__u32 *)&one)[idx] = 1;	/* set here: a constant would go to .rodata */
		bpf_map_update_elem(&mape_hosts, &host, &one, BPF_NOEXIST);
	}
}

/* LAN host `host`'s fair-sharing entry, made (zero) if it has none; NULL
 * when the map is full (its sessions are then not counted). Session
 * creation looks it up once and passes it on (host_over, host_inc). */
static __always_inline struct mape_host *host_get(__be32 host)
{
	struct mape_host zero = {}, *h = bpf_map_lookup_elem(&mape_hosts, &host);

	if (h)
		return h;
	bpf_map_update_elem(&mape_hosts, &host, &zero, BPF_NOEXIST);
	return bpf_map_lookup_elem(&mape_hosts, &host);
}

/* Does the host of entry h hold `limit` of counter idx already (0: no
 * limit)? The router's own traffic (our IPv4) has no limit. */
static __always_inline int host_over(const struct mape_config *cfg, const struct mape_host *h,
				     __be32 host, __u32 idx, __u32 limit)
{
	if (!limit || host == cfg->ipv4 || idx >= HOST_NUM || !h)
		return 0;
	return ((const __u32 *)h)[idx] >= limit;
}

static __always_inline void host_inc(struct mape_host *h, __u32 idx)
{
	if (h && idx < HOST_NUM)
		__sync_fetch_and_add(&((__u32 *)h)[idx], 1);
}

/* The forward of (proto, our port), or NULL: a forwarded port is reserved. */
static __always_inline struct mape_fwd *fwd_of(__u8 proto, __be16 port)
{
	struct mape_fwd_key fk = { .ext_port = port, .proto = proto };

	return bpf_map_lookup_elem(&mape_fwd, &fk);
}

/* Does forward f admit packets from src (its --from packet filter)? */
static __always_inline int fwd_admits(const struct mape_fwd *f, __be32 src)
{
	struct mape_fwd_src_key sk = { .prefixlen = 64, .filter = f->filter, .addr = src };

	return !f->filter || bpf_map_lookup_elem(&mape_fwd_src, &sk) != NULL;
}

/*
 * The forwarded port a LAN server's endpoint sends from (static NAPT), or
 * 0: the endpoint is no forward's target, or the port is not in our set
 * (a prefix change in progress: `up` disables such forwards right after).
 */
static __always_inline __be16 fwd_port_of(const struct mape_config *cfg,
					  const struct mape_bind_key *bk)
{
	struct mape_fwd_rev *r = bpf_map_lookup_elem(&mape_fwd_rev, bk);
	struct mape_fwd *f;

	if (!r || mape_ps_index(&cfg->ps, bpf_ntohs(r->ext_port)) < 0)
		return 0;
	f = fwd_of(bk->proto, r->ext_port);
	return f && f->int_addr == bk->int_addr && f->int_port == bk->int_port ? r->ext_port : 0;
}

/*
 * One event of the NAT session log, when someone reads it (mape_evlog);
 * s: the session (MAPE_EV_END: its counters). A full ring loses the event.
 * Not inlined: its buffer stays off the callers' frames.
 */
static __noinline void sess_log(const struct mape_out_key *k, const struct mape_session *s,
				__u32 type, __u32 why)
{
	__u32 zero = 0;
	struct mape_evlog *on = bpf_map_lookup_elem(&mape_evlog, &zero);
	struct mape_event *e;

	if (!on || !on->enabled)
		return;
	e = bpf_ringbuf_reserve(&mape_events, sizeof(*e), 0);
	if (!e)
		return;
	__builtin_memset(e, 0, sizeof(*e));
	e->ns = bpf_ktime_get_ns();
	e->int_addr = k->int_addr;
	e->rem_addr = k->rem_addr;
	e->int_port = k->int_port;
	e->rem_port = k->rem_port;
	e->proto = k->proto;
	e->ext_port = s->ext_port;
	e->type = type;
	e->why = why;
	if (type == MAPE_EV_END) {
		e->pkts_out = s->pkts_out;
		e->pkts_in = s->pkts_in;
	}
	bpf_ringbuf_submit(e, 0);
}

/* Release everything a session owns except its mape_out entry. */
static __always_inline void nat_release(const struct mape_out_key *k, __be16 ext)
{
	struct mape_in_key ik;
	struct mape_bind_key bk = { .int_addr = k->int_addr, .int_port = k->int_port,
				    .proto = k->proto };
	struct mape_adf_key ak = { .rem_addr = k->rem_addr, .ext_port = ext, .proto = k->proto };
	__u32 slot = port_slot(k->proto, ext);
	struct mape_port *pt;
	struct mape_bind *b;
	__u32 *n;

	in_key_of(&ik, k->proto, ext, k->rem_addr, k->rem_port);
	bpf_map_delete_elem(&mape_in, &ik);
	pt = bpf_map_lookup_elem(&mape_ports, &slot);
	if (pt && __sync_fetch_and_add(&pt->sessions, -1) == 1) {
		__u32 pi = proto_idx(k->proto), *used = bpf_map_lookup_elem(&mape_pused, &pi);

		host_add(pt->int_addr, HOST_PORTS(pi), -1);
		pt->shared = 0;
		pt->int_addr = 0;
		pt->int_port = 0;
		if (used)
			__sync_fetch_and_add(used, -1);
	}
	b = bpf_map_lookup_elem(&mape_bind, &bk);
	if (b && b->ext_port == ext && __sync_fetch_and_add(&b->sessions, -1) == 1)
		bpf_map_delete_elem(&mape_bind, &bk);
	n = bpf_map_lookup_elem(&mape_adf, &ak);
	if (n && __sync_fetch_and_add(n, -1) == 1)
		bpf_map_delete_elem(&mape_adf, &ak);
}

/* What is left of a session's life in ns (0: over): its idle timeout, or
 * none at all once `up` moved to another epoch (*stale set). */
static __always_inline __u64 sess_left(const struct mape_session *s, int *stale)
{
	struct mape_config *cfg = get_cfg();
	__u64 now = bpf_ktime_get_ns(), idle = now > s->last_ns ? now - s->last_ns : 0;
	__u64 to = (__u64)s->timeout * NSEC_PER_SEC;

	*stale = cfg && cfg->epoch != s->epoch;
	return idle < to && !*stale ? to - idle : 0;
}

/* End a session: release its port, binding, filter entry and host share,
 * and delete it (last: that frees s). */
static __always_inline void sess_finish(void *map, struct mape_out_key *k, struct mape_session *s,
					int stale)
{
	nat_release(k, s->ext_port);
	host_add(k->int_addr, HOST_SESSIONS, -1);
	count(stale ? MAPE_CTR_EV_STALE_ENDED : MAPE_CTR_EV_EXPIRED, 0);
	sess_log(k, s, MAPE_EV_END, stale);
	bpf_map_delete_elem(map, k);
}

/* Timer callback: re-arm while active, else end the session. */
static int sess_expire(void *map, struct mape_out_key *k, struct mape_session *s)
{
	int stale;
	__u64 left = sess_left(s, &stale);

	if (left)
		bpf_timer_start(&s->timer, left, 0);
	else
		sess_finish(map, k, s, stale);
	return 0;
}

/*
 * Arm a session's expiry timer: 0, or the helper's error. The timer's
 * memory is allocated here, and newer kernels' lock-free allocator can
 * fail for a moment under a burst of new sessions: the session then keeps
 * MAPE_SESS_NO_TIMER and is armed by the janitor, a second later, for what is
 * left of its timeout (a session
 * that cannot expire would hold its port for ever). Not by its packets: a
 * failing allocation on every packet of such a flow cost the fast path
 * 90 % of its rate in `make bench`.
 */
static __noinline int sess_arm(struct mape_session *s)
{
	long rc = bpf_timer_init(&s->timer, &mape_out, CLOCK_MONOTONIC);
	__u64 now = bpf_ktime_get_ns(), to = (__u64)s->timeout * NSEC_PER_SEC;
	__u64 idle = now > s->last_ns ? now - s->last_ns : 0;

	if (rc && rc != -EBUSY)	/* EBUSY: initialised, a later step failed */
		return rc;
	rc = bpf_timer_set_callback(&s->timer, sess_expire);
	/* what is left of the timeout: a session armed late by the janitor
	 * (found by the soak: 5-7 s past their timeout) ends on time */
	if (!rc)
		rc = bpf_timer_start(&s->timer, idle < to ? to - idle : 1, 0);
	if (!rc && (s->flags & MAPE_SESS_NO_TIMER))
		s->flags &= ~MAPE_SESS_NO_TIMER;
	return rc;
}

/* Make a session of a previous epoch end now (its callback releases it). */
static __always_inline void sess_end_now(struct mape_session *s)
{
	bpf_timer_start(&s->timer, 0, 0);
}

/* The sweep over mape_out, by `up` (mape_sweep) and by the janitor. */
struct sweep {
	struct mape_janitor *j;	/* where the findings are counted */
	__u32 epoch;
};

static long sweep_one(struct bpf_map *map, struct mape_out_key *k, struct mape_session *s,
		      struct sweep *st)
{
	int stale;

	/* a session the kernel cannot give a timer (its allocator may refuse
	 * for as long as its slab has nothing free) is expired by the sweep:
	 * the janitor comes back each second while there are such sessions */
	if ((s->flags & MAPE_SESS_NO_TIMER) && sess_arm(s)) {
		if (sess_left(s, &stale))
			st->j->unarmed++;
		else
			sess_finish(map, k, s, stale);
	} else if (s->epoch != st->epoch) {
		sess_end_now(s);
		st->j->found++;
	}
	return 0;
}

static __always_inline void sweep_sessions(struct mape_janitor *j)
{
	struct mape_config *cfg = get_cfg();
	struct sweep st = { .j = j };

	j->found = j->unarmed = 0;
	if (cfg) {
		st.epoch = cfg->epoch;
		bpf_for_each_map_elem(&mape_out, sweep_one, &st, 0);
	}
}

/* Janitor callback: sweep; again in a second while a session waits. */
static int janitor_run(void *map, __u32 *key, struct mape_janitor *j)
{
	j->pending = 0;
	sweep_sessions(j);
	if (j->unarmed) {
		j->pending = 1;
		bpf_timer_start(&j->timer, NSEC_PER_SEC, 0);
	}
	return 0;
}

/* A session waits for its timer: have the janitor look in a second. */
static __always_inline void janitor_kick(void)
{
	__u32 zero = 0;
	struct mape_janitor *j = bpf_map_lookup_elem(&mape_janitor, &zero);

	if (j && !j->pending) {
		j->pending = 1;
		if (bpf_timer_start(&j->timer, NSEC_PER_SEC, 0))
			j->pending = 0;	/* not initialised: `up` not finished */
	}
}

/*
 * The session of key k, or NULL. A session of another epoch is not ours to
 * use (its port may be outside our set now): it is made to end, and the
 * packet is treated as one without a session.
 */
static __always_inline struct mape_session *sess_get(const struct mape_config *cfg,
						     const struct mape_out_key *k)
{
	struct mape_session *s = bpf_map_lookup_elem(&mape_out, k);

	if (s && s->epoch != cfg->epoch) {
		sess_end_now(s);
		return NULL;
	}
	return s;
}

/* State for the port searches run by bpf_loop. */
struct port_search {
	struct mape_portset ps;	/* a copy: callbacks see only the stack */
	__u32 count, start;
	__u8 proto, overlap;	/* overlap: search tuple-unique instead of free */
	__u8 busy_only;		/* overlap only on ports in use (the host has its share) */
	__be32 rem_addr;
	__be16 rem_port;
	__be16 found;		/* network order; 0 = none */
};

static long port_search_step(__u32 i, struct port_search *st)
{
	__u32 idx = st->start + i, slot;
	struct mape_port *pt;
	struct mape_in_key ik;
	__be16 port;

	if (idx >= st->count)
		idx -= st->count;
	port = bpf_htons(mape_ps_port(&st->ps, idx));
	if (fwd_of(st->proto, port))
		return 0;	/* reserved for its forward */
	if (st->overlap) {
		if (st->busy_only) {
			slot = port_slot(st->proto, port);
			pt = bpf_map_lookup_elem(&mape_ports, &slot);
			if (!pt || !pt->sessions)
				return 0;
		}
		in_key_of(&ik, st->proto, port, st->rem_addr, st->rem_port);
		if (bpf_map_lookup_elem(&mape_in, &ik))
			return 0;
	} else {
		slot = port_slot(st->proto, port);
		pt = bpf_map_lookup_elem(&mape_ports, &slot);
		if (!pt || pt->sessions)
			return 0;
	}
	st->found = port;
	return 1;
}

/* Is (proto, port, remote) still free on the WAN side? */
static __always_inline int tuple_free(__u8 proto, __be16 port, __be32 rem, __be16 rport)
{
	struct mape_in_key ik;

	in_key_of(&ik, proto, port, rem, rport);
	return bpf_map_lookup_elem(&mape_in, &ik) == NULL;
}

/*
 * Choose the external port for a new session (policy above). Returns the
 * port (network order) or 0; *overlap tells whether it is shared (1), or,
 * with 0 returned, that the host's share of ports was the limit (2).
 * Inlined into nat_create: one frame less on the deepest chain.
 */
static __always_inline __u32 nat_pick_port(const struct mape_config *cfg, const struct mape_out_key *k,
					   const struct mape_host *h, int *overlap)
{
	struct mape_bind_key bk = { .int_addr = k->int_addr, .int_port = k->int_port,
				    .proto = k->proto };
	struct port_search st = { .ps = cfg->ps, .count = cfg->port_count, .proto = k->proto,
				  .rem_addr = k->rem_addr, .rem_port = k->rem_port };
	struct mape_bind *b = bpf_map_lookup_elem(&mape_bind, &bk);
	__u32 slot, pi = proto_idx(k->proto), *used = bpf_map_lookup_elem(&mape_pused, &pi);
	struct mape_port *pt;

	__be16 fwd = fwd_port_of(cfg, &bk);

	*overlap = 0;
	if (fwd)	/* a forward's server: its forwarded port, or none */
		return tuple_free(k->proto, fwd, k->rem_addr, k->rem_port) ? fwd : 0;
	if (b && b->epoch == (__u16)cfg->epoch && !fwd_of(k->proto, b->ext_port) &&
	    tuple_free(k->proto, b->ext_port, k->rem_addr, k->rem_port))
		return b->ext_port;	/* endpoint-independent mapping */
	if (!st.count)
		return 0;
	st.start = bpf_get_prandom_u32() % st.count;
	if (host_over(cfg, h, k->int_addr, HOST_PORTS(pi), cfg->max_ports_host)) {
		/* its share of free ports taken: it shares ports in use */
		st.overlap = st.busy_only = 1;
		bpf_loop(st.count, port_search_step, &st, 0);
		*overlap = st.found ? 1 : 2;
		return st.found;
	}
	if (mape_ps_index(&cfg->ps, bpf_ntohs(k->int_port)) >= 0) {
		slot = port_slot(k->proto, k->int_port);
		pt = bpf_map_lookup_elem(&mape_ports, &slot);
		if (pt && !pt->sessions && !fwd_of(k->proto, k->int_port))
			return k->int_port;	/* keep the port when we can */
	}
	/* a full set (every port has sessions) has nothing free to find */
	if (!used || *used < st.count) {
		bpf_loop(st.count, port_search_step, &st, 0);
		if (st.found)
			return st.found;
	}
	st.overlap = 1;
	bpf_loop(st.count, port_search_step, &st, 0);
	*overlap = st.found != 0;
	return st.found;
}

/* Account a new session on its port, binding and filter entries. */
static __always_inline void nat_account(const struct mape_out_key *k, __be16 ext, __u32 epoch,
					struct mape_host *h)
{
	struct mape_bind_key bk = { .int_addr = k->int_addr, .int_port = k->int_port,
				    .proto = k->proto };
	struct mape_adf_key ak = { .rem_addr = k->rem_addr, .ext_port = ext, .proto = k->proto };
	struct mape_bind nb = { .ext_port = ext, .epoch = (__u16)epoch, .sessions = 1 };
	__u32 slot = port_slot(k->proto, ext), one = 1;
	struct mape_port *pt = bpf_map_lookup_elem(&mape_ports, &slot);
	struct mape_bind *b;
	__u32 *n;

	if (pt) {
		if (__sync_fetch_and_add(&pt->sessions, 1) == 0) {
			__u32 pi = proto_idx(k->proto), *used = bpf_map_lookup_elem(&mape_pused, &pi);

			pt->int_addr = k->int_addr;
			pt->int_port = k->int_port;
			pt->shared = 0;
			host_inc(h, HOST_PORTS(pi));
			if (used)
				__sync_fetch_and_add(used, 1);
		} else if (pt->int_addr != k->int_addr || pt->int_port != k->int_port) {
			pt->shared = 1;
		}
	}
	/* a new flow's entries are usually new: insert first, and look up
	 * only when one exists (one hash operation less per new session) */
	if (bpf_map_update_elem(&mape_bind, &bk, &nb, BPF_NOEXIST)) {
		b = bpf_map_lookup_elem(&mape_bind, &bk);
		if (b && b->ext_port == ext)
			__sync_fetch_and_add(&b->sessions, 1);
	}
	if (bpf_map_update_elem(&mape_adf, &ak, &one, BPF_NOEXIST)) {
		n = bpf_map_lookup_elem(&mape_adf, &ak);
		if (n)
			__sync_fetch_and_add(n, 1);
	}
}

/*
 * Create a session for key k with external port ext (0: pick one). Returns
 * 0 or a negative counter (drop reason). The caller looks it up again.
 */
static __noinline int nat_create(const struct mape_config *cfg, const struct mape_out_key *k,
				 __u32 ext_arg, __u8 state, __u8 flags)
{
	struct mape_in_val iv = { .int_addr = k->int_addr, .int_port = k->int_port };
	struct mape_session *s, *sp;
	struct mape_host *h;
	struct mape_in_key ik;
	__be16 ext = (__be16)ext_arg;
	int overlap = 0, rc;
	__u32 zero = 0;

	/* the new value is built in a per-CPU scratch entry, not on the stack */
	s = (struct mape_session *)bpf_map_lookup_elem(&mape_scratch, &zero);
	if (!s)
		return -MAPE_CTR_DROP_TABLE_FULL;
	/* one host must not starve the others */
	h = host_get(k->int_addr);
	if (host_over(cfg, h, k->int_addr, HOST_SESSIONS, cfg->max_per_host))
		return -MAPE_CTR_DROP_HOST_LIMIT;
	if (!ext)
		ext = (__be16)nat_pick_port(cfg, k, h, &overlap);
	if (!ext)
		return overlap == 2 ? -MAPE_CTR_DROP_HOST_LIMIT : -MAPE_CTR_DROP_EXHAUSTED;
	__builtin_memset(s, 0, sizeof(*s));
	s->created_ns = s->last_ns = bpf_ktime_get_coarse_ns();
	s->ext_port = ext;
	s->state = state;
	s->flags = flags;
	s->timeout = state_timeout(cfg, k->proto, state);
	s->epoch = cfg->epoch;
	in_key_of(&ik, k->proto, ext, k->rem_addr, k->rem_port);
	if (bpf_map_update_elem(&mape_in, &ik, &iv, BPF_NOEXIST))
		return bpf_map_lookup_elem(&mape_in, &ik) ? -MAPE_CTR_DROP_EXHAUSTED :
							    -MAPE_CTR_DROP_TABLE_FULL;
	rc = bpf_map_update_elem(&mape_out, k, s, BPF_NOEXIST);
	if (rc) {
		bpf_map_delete_elem(&mape_in, &ik);
		/* EEXIST: another CPU won the race and its session serves us, or
		 * one of a previous epoch is still ending (or ended just now) */
		sp = bpf_map_lookup_elem(&mape_out, k);
		if (!sp)
			return rc == -EEXIST ? -MAPE_CTR_DROP_STALE : -MAPE_CTR_DROP_TABLE_FULL;
		if (sp->epoch == cfg->epoch)
			return 0;
		sess_end_now(sp);
		return -MAPE_CTR_DROP_STALE;
	}
	sp = bpf_map_lookup_elem(&mape_out, k);
	if (!sp)
		return -MAPE_CTR_DROP_TABLE_FULL;
	nat_account(k, ext, cfg->epoch, h);
	host_inc(h, HOST_SESSIONS);
	if (sess_arm(sp)) {
		sp->flags |= MAPE_SESS_NO_TIMER;
		count(MAPE_CTR_EV_TIMER_LATE, 0);
		janitor_kick();
	}
	/* `up` may have switched epochs since cfg was read: this session
	 * escaped its sweep, so it ends now (the accounting above is a full
	 * barrier: the sweep saw it, or we see the new epoch) */
	cfg = get_cfg();
	if (cfg && cfg->epoch != sp->epoch)
		sess_end_now(sp);
	count(MAPE_CTR_EV_NEW_SESSION, 0);
	if (overlap)
		count(MAPE_CTR_EV_OVERLAP, 0);
	sess_log(k, sp, MAPE_EV_CREATE, 0);
	return 0;
}

/* Only a SYN makes a TCP session (RFC 7857 s2.1); anything else may. */
static __always_inline int sess_may_create(__u8 proto, __u8 tcp_flags)
{
	return proto != IPPROTO_TCP || (tcp_flags & (TCP_SYN | TCP_RST | TCP_FIN)) == TCP_SYN;
}

/* The state a new session starts in: TCP's is transitory (made by a SYN),
 * or established when made by a SYN-ACK: a LAN server's answer to a SYN
 * from outside that the firewall let in (both SYNs seen). */
static __always_inline __u8 sess_state0(__u8 proto, __u8 tcp_flags)
{
	if (proto != IPPROTO_TCP)
		return 0;
	return (tcp_flags & TCP_ACK) ? MAPE_TCP_EST : MAPE_TCP_SYN_SENT;
}

/* Session flags of a new session: opened from outside (a SYN-ACK from the LAN). */
static __always_inline __u8 sess_flags0(__u8 proto, __u8 tcp_flags)
{
	return proto == IPPROTO_TCP && (tcp_flags & TCP_ACK) ? MAPE_SESS_INBOUND : 0;
}

/*
 * TCP state after a packet; outbound: from the LAN side. See enum
 * mape_tcp_state: one FIN is a half-close (the other side may go on
 * sending for hours), an RST may be spurious or forged (its sequence
 * number is not checked here), so only FINs both ways close for good, and
 * traffic after an RST takes the session back.
 */
static __always_inline void nat_tcp_state(const struct mape_config *cfg, struct mape_session *s,
					  __u8 flags, int outbound)
{
	__u8 st = s->state, f = s->flags;
	const __u8 fins = MAPE_SESS_FIN_OUT | MAPE_SESS_FIN_IN;

	if (flags & TCP_RST) {
		st = MAPE_TCP_CLOSING;
		f |= MAPE_SESS_RST;
	} else if ((flags & (TCP_SYN | TCP_ACK)) == TCP_SYN &&
		   (st == MAPE_TCP_CLOSING || (f & fins))) {
		st = MAPE_TCP_SYN_SENT;	/* the 5-tuple is opened anew, by this side */
		f &= ~(fins | MAPE_SESS_RST | MAPE_SESS_INBOUND);
		if (!outbound)
			f |= MAPE_SESS_INBOUND;
	} else {
		if (f & MAPE_SESS_RST) {	/* traffic after the RST: not the end */
			f &= ~MAPE_SESS_RST;
			st = MAPE_TCP_EST;
		}
		if (flags & TCP_FIN)
			f |= outbound ? MAPE_SESS_FIN_OUT : MAPE_SESS_FIN_IN;
		/* the SYN(-ACK) of the side that did not open (RFC 6146 s3.5.2) */
		if (st == MAPE_TCP_SYN_SENT && (flags & TCP_SYN) &&
		    !outbound == !(f & MAPE_SESS_INBOUND))
			st = MAPE_TCP_EST;
		if ((f & fins) == fins)
			st = MAPE_TCP_CLOSING;
	}
	if (f != s->flags)
		s->flags = f;
	if (st != s->state) {
		__u32 to = state_timeout(cfg, IPPROTO_TCP, st);

		s->state = st;
		/* a shorter timeout must fire sooner than the armed one */
		if (to < s->timeout)
			bpf_timer_start(&s->timer, (__u64)to * NSEC_PER_SEC, 0);
		s->timeout = to;
	}
}

static __always_inline void out_key_of(struct mape_out_key *k, __u8 proto, __be32 int_addr,
				       __be16 int_port, __be32 rem, __be16 rport)
{
	__builtin_memset(k, 0, sizeof(*k));
	k->proto = proto;
	k->int_addr = int_addr;
	k->int_port = int_port;
	k->rem_addr = rem;
	k->rem_port = rport;
}

/* The outbound key of a parsed packet from the LAN (not an ICMP error). */
static __always_inline void out_key_pkt(struct mape_out_key *k, const struct pkt4 *p)
{
	out_key_of(k, p->proto, p->saddr, p->sport, p->daddr,
		   p->proto == IPPROTO_ICMP ? 0 : p->dport);
}

#endif
