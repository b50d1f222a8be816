// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Demand that does not depend on the CNI. demand.bpf.c counts client sockets entering
 * SYN_SENT; a socket-level service load balancer (e.g. Cilium's kube-proxy replacement)
 * may refuse connect() to a Service without backends in its own cgroup/connect hook,
 * before any SYN_SENT, and then nothing was counted. Every cgroup/connect program of a
 * cgroup runs whatever the others answer, so this one (on the root cgroup v2) sees every
 * connect() toward a demand address: it marks the socket in connect_marks (by cookie),
 * demand.bpf.c notes in the mark that it counted the socket at SYN_SENT, and at release a
 * marked socket that never reached SYN_SENT counts as one demand attempt, refused, with a
 * wake-up. Nothing here refuses or rewrites a connect().
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "request_timing.h"

#define SCALER_CONNECT_ALLOW 1
#define SCALER_SOCK_STREAM 1

static __always_inline void connect_demand_mark(struct bpf_sock_addr *ctx, struct scaler_demand_key *key)
{
	struct scaler_connect_mark *mark;
	struct scaler_slot_ref *ref;
	__u32 generation;
	__u64 cookie;

	ref = bpf_map_lookup_elem(&demand_addrs, key);
	if (!ref)
		return;
	generation = scaler_slot_generation(ref->slot);
	if (!generation)
		return;
	cookie = bpf_get_socket_cookie(ctx);
	mark = demand_connect_mark(cookie);
	if (!mark)
		return;
	mark->cookie = cookie;
	mark->slot = ref->slot;
	mark->generation = generation;
	mark->syn_sent = 0;
}

SEC("cgroup/connect4")
int connect_demand4(struct bpf_sock_addr *ctx)
{
	struct scaler_demand_key key = {};
	__u32 daddr_v4;
	__u8 unused_v6[16] = {};
	__u16 dport;

	if (ctx->type != SCALER_SOCK_STREAM)
		return SCALER_CONNECT_ALLOW;
	dport = bpf_ntohs((__u16)ctx->user_port);
	if (!scaler_port_demanded(dport))
		return SCALER_CONNECT_ALLOW;
	daddr_v4 = ctx->user_ip4;
	if (demand_key_of(&key, SCALER_AF_INET, (const __u8 *)&daddr_v4, unused_v6, dport))
		connect_demand_mark(ctx, &key);
	return SCALER_CONNECT_ALLOW;
}

SEC("cgroup/connect6")
int connect_demand6(struct bpf_sock_addr *ctx)
{
	struct scaler_demand_key key = {};
	__u32 daddr_v6[4];
	__u32 unused_v4 = 0;
	__u16 dport;

	if (ctx->type != SCALER_SOCK_STREAM)
		return SCALER_CONNECT_ALLOW;
	dport = bpf_ntohs((__u16)ctx->user_port);
	if (!scaler_port_demanded(dport))
		return SCALER_CONNECT_ALLOW;
	daddr_v6[0] = ctx->user_ip6[0];
	daddr_v6[1] = ctx->user_ip6[1];
	daddr_v6[2] = ctx->user_ip6[2];
	daddr_v6[3] = ctx->user_ip6[3];
	if (demand_key_of(&key, SCALER_AF_INET6, (const __u8 *)&unused_v4, (const __u8 *)daddr_v6, dport))
		connect_demand_mark(ctx, &key);
	return SCALER_CONNECT_ALLOW;
}

/* Every socket of the node passes here at close. A socket refused in a connect hook never
 * had a destination port; one that has it went on into tcp_v4_connect/tcp_v6_connect (a
 * failure there clears it again) and reached SYN_SENT, where demand.bpf.c counted it.
 * Testing the port first skips the cookie and the table for every connected socket, client
 * or server. (A blocking connect() refused by a RST clears the port too: its mark says
 * SYN_SENT.) */
SEC("cgroup/sock_release")
int connect_demand_release(struct bpf_sock *sk)
{
	struct scaler_connect_mark *mark;
	struct scaler_target_stats *stats;
	__u64 cookie;

	if (sk->dst_port || sk->type != SCALER_SOCK_STREAM)
		return SCALER_CONNECT_ALLOW;
	cookie = bpf_get_socket_cookie(sk);
	mark = demand_connect_mark(cookie);
	if (!mark || mark->cookie != cookie)
		return SCALER_CONNECT_ALLOW;
	mark->cookie = 0;
	if (mark->syn_sent || scaler_slot_generation(mark->slot) != mark->generation)
		return SCALER_CONNECT_ALLOW;
	stats = scaler_stats(mark->slot);
	if (!stats)
		return SCALER_CONNECT_ALLOW;
	__sync_fetch_and_add(&stats->demand_attempts, 1);
	__sync_fetch_and_add(&stats->demand_refused, 1);
	demand_wakeup(mark->slot, bpf_ktime_get_ns());
	return SCALER_CONNECT_ALLOW;
}
