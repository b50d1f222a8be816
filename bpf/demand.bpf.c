// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Demand: client sockets entering SYN_SENT toward a watched demand address count as
 * connection attempts for its target, whether or not anything answers; SYN_SENT -> CLOSE
 * (RST or timeout, never ESTABLISHED) counts as refused. The first attempt for an armed
 * (idle) target writes a ring-buffer record so user space reports at once instead of at
 * the next tick; user space re-arms the slot after a tick without activity.
 * Two hooks, the same logic: tp_btf (rungs 1-2) and the classic tracepoint (rung 3).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "request_timing.h"

static __always_inline int is_v4_mapped(const __u8 *a)
{
	return a[0] == 0 && a[1] == 0 && a[2] == 0 && a[3] == 0 && a[4] == 0 && a[5] == 0 &&
	       a[6] == 0 && a[7] == 0 && a[8] == 0 && a[9] == 0 && a[10] == 0xff && a[11] == 0xff;
}

/* Fills the demand key from the destination; IPv4-mapped IPv6 becomes IPv4. */
static __always_inline int demand_key_of(struct scaler_demand_key *key, __u16 family,
					 const __u8 *daddr_v4, const __u8 *daddr_v6, __u16 dport)
{
	key->port = dport;
	if (family == SCALER_AF_INET) {
		key->family = SCALER_FAMILY_INET;
		__builtin_memcpy(key->addr, daddr_v4, 4);
		return 1;
	}
	if (family != SCALER_AF_INET6)
		return 0;
	if (is_v4_mapped(daddr_v6)) {
		key->family = SCALER_FAMILY_INET;
		__builtin_memcpy(key->addr, daddr_v6 + 12, 4);
		return 1;
	}
	key->family = SCALER_FAMILY_INET6;
	__builtin_memcpy(key->addr, daddr_v6, 16);
	return 1;
}

static __always_inline void demand_wakeup(__u32 slot, __u64 now_ns)
{
	struct scaler_slot_meta *meta = bpf_map_lookup_elem(&slot_meta, &slot);
	struct scaler_wakeup_event event = {};

	if (!meta || !meta->wakeup_armed)
		return;
	/* Two CPUs may both see it armed: a duplicate wake-up is harmless, so no atomics
	 * that would need a newer instruction set. */
	meta->wakeup_armed = 0;
	event.time_ns = now_ns;
	event.slot = slot;
	event.generation = meta->generation;
	if (bpf_ringbuf_output(&wakeups, &event, sizeof(event), BPF_RB_FORCE_WAKEUP))
		scaler_count_health(0);
}

/* The connect_marks entry a socket cookie maps to (bpf/connect_demand.bpf.c). */
static __always_inline struct scaler_connect_mark *demand_connect_mark(__u64 cookie)
{
	__u32 index = (__u32)cookie & (SCALER_CONNECT_MARKS - 1);

	return bpf_map_lookup_elem(&connect_marks, &index);
}

static __always_inline void demand_on_state(struct scaler_demand_key *key, int oldstate,
					    int newstate, const struct sock *sk)
{
	struct scaler_connect_mark *mark;
	__u64 cookie;
	struct scaler_slot_ref *ref;
	struct scaler_target_stats *stats;
	int attempt = newstate == SCALER_TCP_SYN_SENT;
	int refused = oldstate == SCALER_TCP_SYN_SENT && newstate == SCALER_TCP_CLOSE;

	if (!attempt && !refused)
		return;
	ref = bpf_map_lookup_elem(&demand_addrs, key);
	if (!ref || !scaler_slot_generation(ref->slot))
		return;
	stats = scaler_stats(ref->slot);
	if (!stats)
		return;
	if (attempt) {
		__sync_fetch_and_add(&stats->demand_attempts, 1);
		demand_wakeup(ref->slot, bpf_ktime_get_ns());
		/* counted here: its release must not count it again (a cookie of 0: nothing
		 * asked for one, so connect_demand.bpf.c did not mark it either) */
		cookie = BPF_CORE_READ(sk, __sk_common.skc_cookie.counter);
		mark = cookie ? demand_connect_mark(cookie) : 0;
		if (mark && mark->cookie == cookie)
			mark->syn_sent = 1;
	} else {
		__sync_fetch_and_add(&stats->demand_refused, 1);
	}
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(demand_state_tp_btf, const struct sock *sk, const int oldstate, const int newstate)
{
	struct scaler_demand_key key = {};
	__u8 daddr_v4[4] = {};
	__u8 daddr_v6[16] = {};
	__u16 family, dport;

	if (newstate != SCALER_TCP_SYN_SENT &&
	    !(oldstate == SCALER_TCP_SYN_SENT && newstate == SCALER_TCP_CLOSE))
		return 0;
	dport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (!scaler_port_demanded(dport))
		return 0;
	family = BPF_CORE_READ(sk, __sk_common.skc_family);
	BPF_CORE_READ_INTO(&daddr_v4, sk, __sk_common.skc_daddr);
	if (family == SCALER_AF_INET6)
		BPF_CORE_READ_INTO(&daddr_v6, sk, __sk_common.skc_v6_daddr.in6_u.u6_addr8);
	if (!demand_key_of(&key, family, daddr_v4, daddr_v6, dport))
		return 0;
	demand_on_state(&key, oldstate, newstate, sk);
	return 0;
}

SEC("tracepoint/sock/inet_sock_set_state")
int demand_state_tracepoint(struct trace_event_raw_inet_sock_set_state *ctx)
{
	struct scaler_demand_key key = {};
	__u8 daddr_v4[4] = {};
	__u8 daddr_v6[16] = {};
	int oldstate = BPF_CORE_READ(ctx, oldstate);
	int newstate = BPF_CORE_READ(ctx, newstate);
	__u16 dport;

	if (BPF_CORE_READ(ctx, protocol) != SCALER_IPPROTO_TCP)
		return 0;
	if (newstate != SCALER_TCP_SYN_SENT &&
	    !(oldstate == SCALER_TCP_SYN_SENT && newstate == SCALER_TCP_CLOSE))
		return 0;
	dport = BPF_CORE_READ(ctx, dport); /* the tracepoint's dport is already host order */
	if (!scaler_port_demanded(dport))
		return 0;
	BPF_CORE_READ_INTO(&daddr_v4, ctx, daddr);
	BPF_CORE_READ_INTO(&daddr_v6, ctx, daddr_v6);
	if (!demand_key_of(&key, BPF_CORE_READ(ctx, family), daddr_v4, daddr_v6, dport))
		return 0;
	demand_on_state(&key, oldstate, newstate, BPF_CORE_READ(ctx, skaddr));
	return 0;
}
