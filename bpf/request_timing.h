/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Request timing, independent of the hook that delivers the events (the hook ladder:
 * request_timing.bpf.c for rung 1, hook_ladder/ for rungs 2 and 3). Per connection:
 *   IDLE --bytes arrive--> REQUEST (start = arrival time, started + 1)
 *   REQUEST --first response byte sent--> IDLE (latency into the histogram)
 *   REQUEST --connection closes--> gone (aborted + 1)
 * (in flight = started - histogram total - aborted, computed in user space)
 * Later sends of the same response find IDLE and are ignored; the next arrival starts
 * the next request (keep-alive). One outstanding request per connection: pipelining and
 * HTTP/2 multiplexing are measured as turn-taking.
 *
 * Where the send hook fires after the send (rung 1's sock_send_length tracepoint), the
 * client may already have the response and its next request may arrive before the hook
 * runs: on loopback the next request is processed at release_sock inside tcp_sendmsg, or
 * the server is preempted after sendmsg returns. The socket's write sequence (tcp_sock
 * write_seq: bytes the application has handed to TCP, whether or not they were transmitted
 * yet) settles the order: an arrival during REQUEST after write_seq moved means the response
 * was written, so the request ends there and a new one starts; a send hook that finds
 * write_seq where the current request found it is the late hook of the previous response,
 * and is ignored.
 */
#ifndef SCALER_REQUEST_TIMING_H
#define SCALER_REQUEST_TIMING_H

#include "scaler_maps.h"

#define SCALER_AF_INET 2
#define SCALER_AF_INET6 10
#define SCALER_IPPROTO_TCP 6
#define SCALER_TCP_ESTABLISHED 1
#define SCALER_TCP_SYN_SENT 2
#define SCALER_TCP_SYN_RECV 3
#define SCALER_TCP_CLOSE 7
#define SCALER_RCV_SHUTDOWN 1

static __always_inline struct scaler_target_stats *scaler_stats(__u32 slot)
{
	return bpf_map_lookup_elem(&target_stats, &slot);
}

static __always_inline __u32 scaler_slot_generation(__u32 slot)
{
	struct scaler_slot_meta *meta = bpf_map_lookup_elem(&slot_meta, &slot);

	return meta ? meta->generation : 0;
}

static __always_inline void scaler_count_health(int conn_failure)
{
	__u32 zero = 0;
	struct scaler_health *h = bpf_map_lookup_elem(&health, &zero);

	if (!h)
		return;
	if (conn_failure)
		__sync_fetch_and_add(&h->conn_state_failures, 1);
	else
		__sync_fetch_and_add(&h->wakeup_drops, 1);
}

/* Socket field readers in two flavours. "direct": tp_btf and fentry receive typed kernel
 * pointers, so fields are plain CO-RE loads. "probed": kprobes and classic tracepoints
 * get raw addresses, read with bpf_probe_read_kernel (a helper call each). */
#define SCALER_DEFINE_SK_READERS(flavor, READ, READ_BITFIELD)                                 \
	static __always_inline __u16 sk_family_##flavor(const struct sock *sk)                 \
	{                                                                                      \
		return READ(sk, __sk_common.skc_family);                                       \
	}                                                                                      \
	static __always_inline __u8 sk_state_##flavor(const struct sock *sk)                   \
	{                                                                                      \
		return READ(sk, __sk_common.skc_state);                                        \
	}                                                                                      \
	static __always_inline __u16 sk_port_##flavor(const struct sock *sk)                   \
	{                                                                                      \
		return READ(sk, __sk_common.skc_num);                                          \
	}                                                                                      \
	static __always_inline __u32 sk_netns_##flavor(const struct sock *sk)                  \
	{                                                                                      \
		return READ(sk, __sk_common.skc_net.net, ns.inum);                             \
	}                                                                                      \
	static __always_inline __u16 sk_protocol_##flavor(const struct sock *sk)               \
	{                                                                                      \
		return READ_BITFIELD(sk, sk_protocol);                                         \
	}                                                                                      \
	static __always_inline __u8 sk_shutdown_##flavor(const struct sock *sk)                \
	{                                                                                      \
		return READ_BITFIELD(sk, sk_shutdown);                                         \
	}

/* Direct loads: a->b (one level) or a->b->c (two levels, the netns). */
#define SCALER_DIRECT_READ_1(s, a) ((s)->a)
#define SCALER_DIRECT_READ_2(s, a, b) ((s)->a->b)
#define SCALER_DIRECT_PICK(_1, _2, NAME, ...) NAME
#define SCALER_DIRECT_READ(s, ...)                                                             \
	SCALER_DIRECT_PICK(__VA_ARGS__, SCALER_DIRECT_READ_2, SCALER_DIRECT_READ_1)(s, __VA_ARGS__)

SCALER_DEFINE_SK_READERS(direct, SCALER_DIRECT_READ, BPF_CORE_READ_BITFIELD)
SCALER_DEFINE_SK_READERS(probed, BPF_CORE_READ, BPF_CORE_READ_BITFIELD_PROBED)

/* tcp_sock's write sequence. Typed pointers may not be cast past struct sock, so the
 * direct flavour asks the kernel for the tcp_sock view (one helper call). */
static __always_inline __u32 sk_write_seq_direct(const struct sock *sk)
{
	struct tcp_sock *tp = bpf_skc_to_tcp_sock((void *)sk);

	return tp ? tp->write_seq : 0;
}

static __always_inline __u32 sk_write_seq_probed(const struct sock *sk)
{
	return BPF_CORE_READ((const struct tcp_sock *)sk, write_seq);
}

/* May a watch entry name this port? One inlined array load. */
static __always_inline int scaler_port_watched(__u16 port)
{
	__u32 word = port >> 6;
	__u64 *bits = bpf_map_lookup_elem(&watch_port_bits, &word);

	return bits && ((*bits >> (port & 63)) & 1);
}

static __always_inline __u32 scaler_current_epoch(void)
{
	__u32 zero = 0;
	__u32 *epoch = bpf_map_lookup_elem(&watch_epoch, &zero);

	return epoch ? *epoch : 0;
}

/* Selects the targets of a socket: the entry for (its netns, port) and the entry for
 * (any netns, port), each with the slot's current generation (0 = none). Keyed by the
 * socket's netns, never by `current`: arrival runs in softirq on behalf of any task.
 * Returns non-zero when at least one target watches it. */
static __always_inline int scaler_select(struct scaler_conn_state *sel, __u32 netns_inum, __u16 port)
{
	struct scaler_watch_key key = { .netns_inum = netns_inum, .port = port };
	struct scaler_slot_ref *ref = bpf_map_lookup_elem(&watch_ports, &key);

	sel->generation = 0;
	sel->any_generation = 0;
	if (ref) {
		sel->slot = ref->slot;
		sel->generation = scaler_slot_generation(ref->slot);
	}
	key.netns_inum = SCALER_ANY_NETNS;
	ref = bpf_map_lookup_elem(&watch_ports, &key);
	if (ref) {
		sel->any_slot = ref->slot;
		sel->any_generation = scaler_slot_generation(ref->slot);
	}
	return sel->generation || sel->any_generation;
}

/* Stats of a selected slot whose target still owns it, else NULL. */
static __always_inline struct scaler_target_stats *scaler_live_stats(__u32 slot, __u32 generation)
{
	if (!generation || scaler_slot_generation(slot) != generation)
		return 0;
	return scaler_stats(slot);
}

/* Request bytes arrived on a selected, idle connection. */
static __always_inline void scaler_on_arrival(struct scaler_conn_state *conn, __u64 now_ns, __u32 write_seq)
{
	struct scaler_target_stats *stats;

	conn->phase = SCALER_PHASE_REQUEST;
	conn->request_start_ns = now_ns;
	conn->request_write_seq = write_seq;
	stats = scaler_live_stats(conn->slot, conn->generation);
	if (stats)
		__sync_fetch_and_add(&stats->requests_started, 1);
	stats = scaler_live_stats(conn->any_slot, conn->any_generation);
	if (stats)
		__sync_fetch_and_add(&stats->requests_started, 1);
}

static __always_inline void scaler_record_latency(struct scaler_target_stats *stats, __u64 latency_us,
						  __u32 bucket)
{
	if (!stats || bucket >= SCALER_BUCKET_COUNT)
		return; /* the bound also tells the verifier the index is safe */
	/* requests and in-flight are derived from these in user space */
	__sync_fetch_and_add(&stats->latency_buckets[bucket], 1);
	__sync_fetch_and_add(&stats->latency_sum_us, latency_us);
}

/* The first response byte left (a send returned > 0 bytes). */
static __always_inline void scaler_on_send(struct scaler_conn_state *conn)
{
	__u64 latency_us;
	__u32 bucket;

	if (conn->phase != SCALER_PHASE_REQUEST)
		return; /* later bytes of the same response, or an unsolicited send */
	conn->phase = SCALER_PHASE_IDLE;
	latency_us = (bpf_ktime_get_ns() - conn->request_start_ns) / 1000;
	bucket = scaler_bucket_index(latency_us);
	/* a target removed or a slot reused since the request started gets nothing */
	scaler_record_latency(scaler_live_stats(conn->slot, conn->generation), latency_us, bucket);
	scaler_record_latency(scaler_live_stats(conn->any_slot, conn->any_generation), latency_us, bucket);
}

/* The connection closed: a request without a response is aborted. */
static __always_inline void scaler_on_close(struct scaler_conn_state *conn)
{
	struct scaler_target_stats *stats;

	if (conn->phase != SCALER_PHASE_REQUEST)
		return;
	conn->phase = SCALER_PHASE_IDLE;
	stats = scaler_live_stats(conn->slot, conn->generation);
	if (stats)
		__sync_fetch_and_add(&stats->aborted_requests, 1);
	stats = scaler_live_stats(conn->any_slot, conn->any_generation);
	if (stats)
		__sync_fetch_and_add(&stats->aborted_requests, 1);
}

/* A server connection completed its handshake on a watched port. */
static __always_inline void scaler_count_accepted(__u32 netns_inum, __u16 port)
{
	struct scaler_conn_state sel = {};
	struct scaler_target_stats *stats;

	if (!scaler_select(&sel, netns_inum, port))
		return;
	stats = scaler_live_stats(sel.slot, sel.generation);
	if (stats)
		__sync_fetch_and_add(&stats->accepted_connections, 1);
	stats = scaler_live_stats(sel.any_slot, sel.any_generation);
	if (stats)
		__sync_fetch_and_add(&stats->accepted_connections, 1);
}

/* The hook-independent handlers, instantiated per rung with its field reader flavour and
 * its way to find / create / drop the connection state. Cheapest checks first: most
 * events are for sockets nobody watches. */
#define SCALER_DEFINE_TIMING_HANDLERS(prefix, rd, conn_get, conn_create, conn_drop, send_hook_after_send) \
	static __always_inline __attribute__((unused)) void prefix##_arrival(const struct sock *sk) \
	{                                                                                      \
		struct scaler_conn_state *conn, sel = {};                                      \
		__u32 epoch, write_seq = 0;                                                      \
		__u16 family = sk_family_##rd(sk);                                             \
		__u16 port;                                                                    \
                                                                                               \
		if (family != SCALER_AF_INET && family != SCALER_AF_INET6)                     \
			return;                                                                \
		port = sk_port_##rd(sk);                                                       \
		if (!scaler_port_watched(port))                                                \
			return;                                                                \
		/* listeners get data_ready for each queued connection: not a request */      \
		if (sk_state_##rd(sk) != SCALER_TCP_ESTABLISHED)                               \
			return;                                                                \
		/* a FIN also wakes readers: not a request (data + FIN in one segment is     \
		 * missed, a documented limit) */                                              \
		if (sk_shutdown_##rd(sk) & SCALER_RCV_SHUTDOWN)                                \
			return;                                                                \
		conn = conn_get(sk);                                                           \
		if (conn && conn->phase == SCALER_PHASE_REQUEST) {                             \
			write_seq = sk_write_seq_##rd(sk);                                         \
			if (write_seq == conn->request_write_seq)                                  \
				return; /* more bytes of the same request */                   \
			scaler_on_send(conn); /* its response left; the hook is late */        \
		}                                                                              \
		epoch = scaler_current_epoch();                                                \
		if (!conn || conn->watch_epoch != epoch) {                                     \
			/* new, or the watch set changed since it was selected */              \
			if (sk_protocol_##rd(sk) != SCALER_IPPROTO_TCP)                        \
				return;                                                        \
			if (!scaler_select(&sel, sk_netns_##rd(sk), port) && !conn)            \
				return;                                                        \
			if (!conn)                                                             \
				conn = conn_create(sk);                                        \
			if (!conn) {                                                           \
				scaler_count_health(1);                                        \
				return;                                                        \
			}                                                                      \
			conn->slot = sel.slot;                                                 \
			conn->generation = sel.generation;                                     \
			conn->any_slot = sel.any_slot;                                         \
			conn->any_generation = sel.any_generation;                             \
			conn->watch_epoch = epoch;                                             \
		}                                                                              \
		if (conn->generation || conn->any_generation)                                  \
			scaler_on_arrival(conn, bpf_ktime_get_ns(),                            \
					  write_seq ? write_seq : sk_write_seq_##rd(sk));            \
	}                                                                                      \
                                                                                               \
	static __always_inline __attribute__((unused)) void prefix##_send(const struct sock *sk, \
									   long sent)       \
	{                                                                                      \
		struct scaler_conn_state *conn;                                                \
                                                                                               \
		if (sent <= 0 || !scaler_port_watched(sk_port_##rd(sk)))                       \
			return;                                                                \
		conn = conn_get(sk);                                                           \
		if (!conn || conn->phase != SCALER_PHASE_REQUEST)                              \
			return;                                                                \
		/* after the send, no new bytes since the request began: this is the late    \
		 * hook of the previous response (see the top of this file) */                \
		if (send_hook_after_send && sk_write_seq_##rd(sk) == conn->request_write_seq)      \
			return;                                                                \
		scaler_on_send(conn);                                                          \
	}                                                                                      \
                                                                                               \
	static __always_inline __attribute__((unused)) void prefix##_state(                   \
		const struct sock *sk, int oldstate, int newstate)                             \
	{                                                                                      \
		struct scaler_conn_state *conn;                                                \
		__u16 port;                                                                    \
                                                                                               \
		if (newstate != SCALER_TCP_CLOSE &&                                            \
		    !(oldstate == SCALER_TCP_SYN_RECV && newstate == SCALER_TCP_ESTABLISHED))  \
			return;                                                                \
		port = sk_port_##rd(sk);                                                       \
		if (!scaler_port_watched(port))                                                \
			return;                                                                \
		if (newstate == SCALER_TCP_ESTABLISHED) {                                      \
			scaler_count_accepted(sk_netns_##rd(sk), port);                        \
			return;                                                                \
		}                                                                              \
		conn = conn_get(sk);                                                           \
		if (!conn)                                                                     \
			return;                                                                \
		scaler_on_close(conn);                                                         \
		conn_drop(sk);                                                                 \
	}

#endif /* SCALER_REQUEST_TIMING_H */
