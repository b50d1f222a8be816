// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * holdAtZero: the first connections to a target at zero are delayed, not refused.
 *
 * A client socket in SYN_SENT toward a holding target's demand address has its SYN
 * dropped on the way out of the client's own kernel (cgroup_skb/egress on the root cgroup
 * v2). tcp_connect() ignores that local drop (only -ECONNREFUSED fails the connect), so
 * connect() keeps waiting and the client's TCP retransmits the SYN on its usual schedule
 * (1 s, then 1 s or doubling: net.ipv4.tcp_syn_linear_timeouts); the first retransmission
 * after the target turned ready goes through. Measured alternative: a cgroup/connect4
 * program can only let connect() through or fail it at once (EPERM); it cannot make the
 * client wait, so it cannot hold.
 *
 * Each hold ends by itself: the deadline (first held SYN of an episode + hold_ns) is
 * compared with bpf_ktime_get_ns() here, and a dead collector detaches this program.
 *
 * The same file keeps the standalone readiness view: sockets entering and leaving LISTEN
 * on a watched (netns, port) move the slot's listen_delta, and a listener appearing for a
 * holding target wakes the collector at once (the wake-up ring).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "request_timing.h"

#define SCALER_SKB_DROP 0
#define SCALER_SKB_PASS 1
#define SCALER_TCP_LISTEN 10

/* The hold decision for one SYN of a socket toward `slot`; counts each connection once. */
static __always_inline int hold_decide(struct bpf_sock *sk, __u32 slot)
{
	__u32 generation = scaler_slot_generation(slot);
	struct scaler_hold_config *cfg;
	struct scaler_hold_stats *st;
	struct scaler_hold_conn *conn;
	__u64 now;

	if (!generation)
		return SCALER_SKB_PASS;
	cfg = bpf_map_lookup_elem(&hold_config, &slot);
	st = bpf_map_lookup_elem(&hold_stats, &slot);
	if (!cfg || !st)
		return SCALER_SKB_PASS;
	conn = bpf_sk_storage_get(&hold_conns, sk, 0, 0);
	if (cfg->hold_ns && cfg->generation == generation) {
		now = bpf_ktime_get_ns();
		/* A new episode starts its window at its first held SYN. Two CPUs may both
		 * start it within nanoseconds: either deadline is right. What must not happen
		 * is a CPU seeing the new episode with the previous deadline (then it lets the
		 * SYN through to a refusal): the deadline is stored before the episode, and
		 * read after it, with compiler barriers between, since clang emitted the
		 * episode's store first (one SYN of 20 refused in CI, 4 December 18:29 UTC).
		 * x86 keeps stores, and loads, in program order; a weakly ordered CPU (arm64)
		 * could still reorder them: not covered. */
		if (st->episode != cfg->episode) {
			st->deadline_ns = now + cfg->hold_ns;
			barrier();
			st->episode = cfg->episode;
		}
		barrier();
		if (now < st->deadline_ns) {
			if (!conn) {
				conn = bpf_sk_storage_get(&hold_conns, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
				if (conn) {
					conn->slot = slot;
					conn->outcome = SCALER_HOLD_HELD;
					__sync_fetch_and_add(&st->held_connections, 1);
				} else {
					scaler_count_health(1);
				}
			}
			return SCALER_SKB_DROP;
		}
		if (conn && conn->outcome == SCALER_HOLD_HELD) {
			conn->outcome = SCALER_HOLD_TIMED_OUT;
			__sync_fetch_and_add(&st->timed_out_connections, 1);
		}
		return SCALER_SKB_PASS;
	}
	if (conn && conn->outcome == SCALER_HOLD_HELD) {
		conn->outcome = SCALER_HOLD_RELEASED;
		__sync_fetch_and_add(&st->released_connections, 1);
	}
	return SCALER_SKB_PASS;
}

SEC("cgroup_skb/egress")
int hold_syn_egress(struct __sk_buff *skb)
{
	struct scaler_demand_key key = {};
	struct scaler_slot_ref *ref;
	struct bpf_sock *sk = skb->sk;
	__u32 daddr_v6[4];
	__u32 daddr_v4;

	/* Every packet of the node passes here: anything but a connecting TCP socket leaves
	 * after two loads (in SYN_SENT the only packet a socket sends is its SYN). */
	if (!sk || sk->state != BPF_TCP_SYN_SENT)
		return SCALER_SKB_PASS;
	sk = bpf_sk_fullsock(sk);
	if (!sk || sk->protocol != SCALER_IPPROTO_TCP || !scaler_port_demanded(bpf_ntohs(sk->dst_port)))
		return SCALER_SKB_PASS;
	daddr_v4 = sk->dst_ip4;
	daddr_v6[0] = sk->dst_ip6[0];
	daddr_v6[1] = sk->dst_ip6[1];
	daddr_v6[2] = sk->dst_ip6[2];
	daddr_v6[3] = sk->dst_ip6[3];
	if (!demand_key_of(&key, sk->family, (const __u8 *)&daddr_v4, (const __u8 *)daddr_v6,
			   bpf_ntohs(sk->dst_port)))
		return SCALER_SKB_PASS;
	ref = bpf_map_lookup_elem(&demand_addrs, &key);
	if (!ref)
		return SCALER_SKB_PASS;
	return hold_decide(sk, ref->slot);
}

/* A socket entered (change 1) or left (-1) LISTEN on a port the watch entry names. */
static __always_inline void hold_count_listener(__u32 netns_inum, __u16 port, int change, __u64 now_ns)
{
	struct scaler_watch_key key = { .netns_inum = netns_inum, .port = port };
	struct scaler_slot_ref *ref = bpf_map_lookup_elem(&watch_ports, &key);
	struct scaler_hold_config *cfg;
	struct scaler_hold_stats *st;
	struct scaler_wakeup_event event = {};
	__u32 slot;

	if (!ref)
		return;
	slot = ref->slot;
	event.generation = scaler_slot_generation(slot);
	if (!event.generation)
		return;
	st = bpf_map_lookup_elem(&hold_stats, &slot);
	if (!st)
		return;
	__sync_fetch_and_add(&st->listen_delta, change);
	cfg = bpf_map_lookup_elem(&hold_config, &slot);
	/* A holding target's first listener: report now, not at the next tick. */
	if (change > 0 && cfg && cfg->hold_ns) {
		event.time_ns = now_ns;
		event.slot = slot;
		if (bpf_ringbuf_output(&wakeups, &event, sizeof(event), BPF_RB_FORCE_WAKEUP))
			scaler_count_health(0);
	}
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(hold_listen_tp_btf, const struct sock *sk, const int oldstate, const int newstate)
{
	__u32 netns_inum;
	__u16 port;
	int change;

	/* A listener only ever leaves LISTEN for CLOSE; LISTEN -> SYN_RECV is a child socket
	 * cloned from it (inet_csk_clone_lock), not the listener going away. */
	if (newstate == SCALER_TCP_LISTEN)
		change = 1;
	else if (oldstate == SCALER_TCP_LISTEN && newstate == SCALER_TCP_CLOSE)
		change = -1;
	else
		return 0;
	if (BPF_CORE_READ_BITFIELD(sk, sk_protocol) != SCALER_IPPROTO_TCP)
		return 0;
	port = sk->__sk_common.skc_num;
	if (!scaler_port_watched(port))
		return 0;
	netns_inum = sk->__sk_common.skc_net.net->ns.inum;
	hold_count_listener(netns_inum, port, change, bpf_ktime_get_ns());
	if (netns_inum != SCALER_ANY_NETNS)
		hold_count_listener(SCALER_ANY_NETNS, port, change, bpf_ktime_get_ns());
	return 0;
}
