// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Listen-queue overflow as demand. A listener whose accept queue is full (the server does
 * not accept() fast enough) drops what would complete a connection: a new SYN
 * (tcp_conn_request) and the handshake's final ACK (tcp_v4/v6_syn_recv_sock), each counted
 * by the kernel as TcpExtListenOverflows and TcpExtListenDrops. The client's TCP retries
 * them after 1 s, 3 s, ...: without this file an overloaded server looks fast and idle.
 *
 * cgroup_skb/ingress on the root cgroup v2 runs inside tcp_v4_rcv/tcp_v6_rcv (tcp_filter)
 * with skb->sk = the listener, for a SYN before tcp_conn_request and for a handshake ACK
 * before tcp_check_req, in the same softirq and with the same accept-queue test the kernel
 * makes next (sk_acceptq_is_full: sk_ack_backlog > sk_max_ack_backlog). So a SYN or
 * handshake ACK that finds a watched listener full is one the kernel drops as overflow.
 * Every ACK delivered to a listener (skb->sk is the listener both for an ACK of a pending
 * request socket and for one carrying a SYN cookie) goes on to create the child socket, and
 * with the queue full that is an overflow. Counted though the kernel does not: a stray ACK
 * with neither (answered with a RST), an ACK failing the request's sequence check, and
 * TCP_DEFER_ACCEPT's deliberately dropped pure ACKs; none occurs in normal handshakes.
 *
 * Runs per received packet of every socket of the node: anything that is not a listener
 * on a watched port leaves after two loads (state, then the port bitmap).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "request_timing.h"

#define SCALER_LISTEN_PASS 1
#define SCALER_TCP_LISTEN_STATE 10
#define SCALER_ETH_P_IP 0x0800
#define SCALER_ETH_P_IPV6 0x86DD
#define SCALER_TCPHDR_FIN 0x01
#define SCALER_TCPHDR_SYN 0x02
#define SCALER_TCPHDR_RST 0x04
#define SCALER_TCPHDR_ACK 0x10

/* slot -> overflow counters and accept-queue fill (kernel-written, zeroed by user space). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SCALER_MAX_TARGETS);
	__type(key, __u32);
	__type(value, struct scaler_listen_stats);
} listen_stats SEC(".maps");

/* What a packet toward a listener means for its accept queue. */
enum scaler_listen_event {
	SCALER_LISTEN_SYN,      /* a new connection attempt */
	SCALER_LISTEN_SYN_DROP, /* a new connection attempt the full queue turns away */
	SCALER_LISTEN_ACK_DROP, /* a handshake the full queue cannot complete */
};

static __always_inline void listen_count(__u32 netns_inum, __u16 port, enum scaler_listen_event event,
					 __u32 queue_len, __u32 backlog)
{
	struct scaler_watch_key key = { .netns_inum = netns_inum, .port = port };
	struct scaler_slot_ref *ref = bpf_map_lookup_elem(&watch_ports, &key);
	struct scaler_listen_stats *st;
	__u32 slot;

	if (!ref)
		return;
	slot = ref->slot;
	if (!scaler_slot_generation(slot))
		return;
	st = bpf_map_lookup_elem(&listen_stats, &slot);
	if (!st)
		return;
	if (event == SCALER_LISTEN_ACK_DROP) {
		__sync_fetch_and_add(&st->ack_drops, 1);
		return;
	}
	__sync_fetch_and_add(&st->syns, 1);
	__sync_fetch_and_add(&st->accept_queue_sum, queue_len);
	st->backlog = backlog;
	if (event == SCALER_LISTEN_SYN_DROP)
		__sync_fetch_and_add(&st->syn_drops, 1);
}

SEC("cgroup_skb/ingress")
int listen_overflow_ingress(struct __sk_buff *skb)
{
	struct bpf_sock *sk = skb->sk;
	struct tcp_sock *tp;
	struct sock *lsk;
	__u32 queue_len, backlog, tcp_off, netns_inum;
	__u8 flags;
	__u16 port;
	enum scaler_listen_event event;

	if (!sk || sk->state != SCALER_TCP_LISTEN_STATE)
		return SCALER_LISTEN_PASS;
	port = sk->src_port; /* host order */
	if (!scaler_port_watched(port))
		return SCALER_LISTEN_PASS;

	if (skb->protocol == bpf_htons(SCALER_ETH_P_IP)) {
		struct iphdr iph;

		if (bpf_skb_load_bytes(skb, 0, &iph, sizeof(iph)) || iph.protocol != SCALER_IPPROTO_TCP)
			return SCALER_LISTEN_PASS;
		tcp_off = iph.ihl * 4;
	} else if (skb->protocol == bpf_htons(SCALER_ETH_P_IPV6)) {
		struct ipv6hdr ip6h;

		/* extension headers before TCP are not followed: such packets are not counted */
		if (bpf_skb_load_bytes(skb, 0, &ip6h, sizeof(ip6h)) || ip6h.nexthdr != SCALER_IPPROTO_TCP)
			return SCALER_LISTEN_PASS;
		tcp_off = sizeof(ip6h);
	} else {
		return SCALER_LISTEN_PASS;
	}
	if (bpf_skb_load_bytes(skb, tcp_off + 13, &flags, 1))
		return SCALER_LISTEN_PASS;
	if (flags & (SCALER_TCPHDR_RST | SCALER_TCPHDR_FIN))
		return SCALER_LISTEN_PASS;
	if ((flags & (SCALER_TCPHDR_SYN | SCALER_TCPHDR_ACK)) == SCALER_TCPHDR_SYN)
		event = SCALER_LISTEN_SYN;
	else if ((flags & (SCALER_TCPHDR_SYN | SCALER_TCPHDR_ACK)) == SCALER_TCPHDR_ACK)
		event = SCALER_LISTEN_ACK_DROP; /* only if the queue is full */
	else
		return SCALER_LISTEN_PASS;

	tp = bpf_skc_to_tcp_sock(sk);
	if (!tp)
		return SCALER_LISTEN_PASS;
	lsk = &tp->inet_conn.icsk_inet.sk;
	queue_len = lsk->sk_ack_backlog;
	backlog = lsk->sk_max_ack_backlog;
	if (event == SCALER_LISTEN_ACK_DROP) {
		if (queue_len <= backlog)
			return SCALER_LISTEN_PASS;
	} else if (queue_len > backlog) {
		event = SCALER_LISTEN_SYN_DROP;
	}
	netns_inum = lsk->__sk_common.skc_net.net->ns.inum;
	listen_count(netns_inum, port, event, queue_len, backlog);
	if (netns_inum != SCALER_ANY_NETNS)
		listen_count(SCALER_ANY_NETNS, port, event, queue_len, backlog);
	return SCALER_LISTEN_PASS;
}
