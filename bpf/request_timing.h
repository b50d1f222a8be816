/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Request timing, independent of the hook that delivers the events. Every rung of the
 * hook ladder (bpf/hook_ladder/) calls the same three handlers, scaler_timing_arrival,
 * scaler_timing_send and scaler_timing_state, with a struct scaler_rung that says how it
 * reaches the socket and where connection state lives. The struct is a compile-time
 * constant at every call site and the handlers are always inlined, so each program keeps
 * only its own branches: a kprobe program never contains a direct load or an sk_storage
 * call its program type may not use.
 *
 * Per connection:
 *   IDLE --bytes arrive--> REQUEST (start = arrival time, started + 1)
 *   REQUEST --first response byte sent--> IDLE (latency into the histogram)
 *   REQUEST --connection closes--> gone (aborted + 1)
 * (in flight = started - histogram total - aborted, computed in user space)
 * Later sends of the same response find IDLE and are ignored; the next arrival starts
 * the next request (keep-alive). One outstanding request per connection: pipelining and
 * HTTP/2 multiplexing are measured as turn-taking, except on connections the cgroup_skb
 * programs of bpf/protocol_framing.bpf.c frame (HTTP/2 cleartext, TLS): those are skipped
 * here, and only their close is handled here (open requests and streams are aborted).
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
#define SCALER_TCP_CLOSE_WAIT 8
#define SCALER_RCV_SHUTDOWN 1

/* How a rung reads socket fields. */
enum scaler_read {
	/* tp_btf and fentry receive typed kernel pointers: plain CO-RE loads. */
	SCALER_READ_DIRECT,
	/* kprobes and classic tracepoints get raw addresses: bpf_probe_read_kernel each. */
	SCALER_READ_PROBED,
};

/* Where a rung keeps per-connection state. */
enum scaler_conn_store {
	/* sk_storage, freed with the socket: tracing programs on kernels >= 5.11. */
	SCALER_STORE_SK_STORAGE,
	/* conn_state_by_sk, an LRU hash keyed by the socket's address and dropped at
	 * TCP_CLOSE: kprobes (never allowed sk_storage) and tracing programs on 5.10. */
	SCALER_STORE_HASH,
};

struct scaler_rung {
	enum scaler_read read;
	enum scaler_conn_store store;
	/* the send hook runs after the bytes were handed to TCP (see the top of this file) */
	int send_hook_after_send;
	/* times requests with the socket's own clock where it is known fresh (scaler_tcp_now) */
	int socket_clock;
};

/* ---- socket fields ------------------------------------------------------------------- */

static __always_inline __u16 scaler_sk_family(const struct sock *sk, struct scaler_rung rung)
{
	if (rung.read == SCALER_READ_DIRECT)
		return sk->__sk_common.skc_family;
	return BPF_CORE_READ(sk, __sk_common.skc_family);
}

static __always_inline __u8 scaler_sk_state(const struct sock *sk, struct scaler_rung rung)
{
	if (rung.read == SCALER_READ_DIRECT)
		return sk->__sk_common.skc_state;
	return BPF_CORE_READ(sk, __sk_common.skc_state);
}

/* Local port, host byte order. */
static __always_inline __u16 scaler_sk_port(const struct sock *sk, struct scaler_rung rung)
{
	if (rung.read == SCALER_READ_DIRECT)
		return sk->__sk_common.skc_num;
	return BPF_CORE_READ(sk, __sk_common.skc_num);
}

/* The socket's network namespace, never `current`'s: arrival runs in softirq on behalf
 * of any task. */
static __always_inline __u32 scaler_sk_netns(const struct sock *sk, struct scaler_rung rung)
{
	if (rung.read == SCALER_READ_DIRECT)
		return sk->__sk_common.skc_net.net->ns.inum;
	return BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
}

/* sk_protocol and sk_shutdown are bitfields on some kernels: CO-RE bitfield reads. */
static __always_inline __u16 scaler_sk_protocol(const struct sock *sk, struct scaler_rung rung)
{
	if (rung.read == SCALER_READ_DIRECT)
		return BPF_CORE_READ_BITFIELD(sk, sk_protocol);
	return BPF_CORE_READ_BITFIELD_PROBED(sk, sk_protocol);
}

static __always_inline __u8 scaler_sk_shutdown(const struct sock *sk, struct scaler_rung rung)
{
	if (rung.read == SCALER_READ_DIRECT)
		return BPF_CORE_READ_BITFIELD(sk, sk_shutdown);
	return BPF_CORE_READ_BITFIELD_PROBED(sk, sk_shutdown);
}

/* The socket's cookie, 0 when nothing ever asked for it (bpf_get_socket_cookie sets it). */
static __always_inline __u64 scaler_sk_cookie(const struct sock *sk, struct scaler_rung rung)
{
	if (rung.read == SCALER_READ_DIRECT)
		return sk->__sk_common.skc_cookie.counter;
	return BPF_CORE_READ(sk, __sk_common.skc_cookie.counter);
}

/* tcp_sock's write sequence. Typed pointers may not be cast past struct sock, so the
 * direct flavour asks the kernel for the tcp_sock view (one helper call). */
static __always_inline __u32 scaler_sk_write_seq(const struct sock *sk, struct scaler_rung rung)
{
	if (rung.read == SCALER_READ_DIRECT) {
		struct tcp_sock *tp = bpf_skc_to_tcp_sock((void *)sk);

		return tp ? tp->write_seq : 0;
	}
	return BPF_CORE_READ((const struct tcp_sock *)sk, write_seq);
}

/* Bytes the socket received that the application has not read yet, the FIN's sequence
 * number included (rcv_nxt counts it). */
static __always_inline __u32 scaler_sk_unread(const struct sock *sk, struct scaler_rung rung)
{
	if (rung.read == SCALER_READ_DIRECT) {
		struct tcp_sock *tp = bpf_skc_to_tcp_sock((void *)sk);

		return tp ? tp->rcv_nxt - tp->copied_seq : 0;
	}
	return BPF_CORE_READ((const struct tcp_sock *)sk, rcv_nxt) - BPF_CORE_READ((const struct tcp_sock *)sk, copied_seq);
}

/*
 * What the hot path needs of tcp_sock, read once. With rung.socket_clock, clock_ns is
 * tcp_clock_cache: CLOCK_MONOTONIC ns (the clock bpf_ktime_get_ns reads) that
 * tcp_mstamp_refresh stores at the top of tcp_rcv_established, before the data is queued
 * and sk_data_ready fires, and at the top of tcp_write_xmit. Reading it is one load where
 * bpf_ktime_get_ns is a kvm-clock read (~28 ns on a VM, most of a hook). It is only as
 * fresh as the last packet in or out, so the handlers use it only where one just passed
 * (scaler_arrival_ns, scaler_response_ns) and fall back to bpf_ktime_get_ns otherwise.
 * 0 = not available (other rungs, or a kernel without the field).
 */
struct scaler_tcp_now {
	__u64 clock_ns;
	__u32 write_seq;
	__u32 snd_nxt;
};

/* Read-only view of a kernel object as another BTF type (a kfunc; weak, so the object
 * still loads where it is missing: only programs that call it need it). */
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym __weak;

static __always_inline void scaler_tcp_read(const struct sock *sk, struct scaler_rung rung, struct scaler_tcp_now *out)
{
	struct tcp_sock *tp;

	out->clock_ns = 0;
	out->snd_nxt = 0;
	if (!rung.socket_clock || rung.read != SCALER_READ_DIRECT) {
		out->write_seq = scaler_sk_write_seq(sk, rung);
		return;
	}
	/* Only the tp_btf rungs get here (6.3+; the kfunc is 6.2+). The cast costs nothing
	 * where bpf_skc_to_tcp_sock is a helper call (13 ns of rt_arrival's 38 on an EPYC VM),
	 * and its loads are fault-safe. It does not check the protocol: for a socket of
	 * another protocol on a watched port these fields are garbage, which nothing reads,
	 * since only a TCP socket ever has connection state (the arrival handler checks the
	 * protocol before it creates one, and the others need one). */
	tp = bpf_rdonly_cast((void *)sk, bpf_core_type_id_kernel(struct tcp_sock));
	out->write_seq = tp->write_seq;
	out->snd_nxt = tp->snd_nxt;
	if (bpf_core_field_exists(tp->tcp_clock_cache))
		out->clock_ns = tp->tcp_clock_cache;
}

/* ---- connection state ---------------------------------------------------------------- */

static __always_inline struct scaler_conn_state *scaler_conn_find(const struct sock *sk, struct scaler_rung rung)
{
	__u64 key = (__u64)sk;

	if (rung.store == SCALER_STORE_SK_STORAGE)
		return bpf_sk_storage_get(&conn_state, (struct sock *)sk, 0, 0);
	return bpf_map_lookup_elem(&conn_state_by_sk, &key);
}

static __always_inline struct scaler_conn_state *scaler_conn_create(const struct sock *sk, struct scaler_rung rung)
{
	struct scaler_conn_state fresh = {};
	__u64 key = (__u64)sk;

	if (rung.store == SCALER_STORE_SK_STORAGE)
		return bpf_sk_storage_get(&conn_state, (struct sock *)sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	/* NOEXIST: a racing CPU's entry wins and both use it */
	bpf_map_update_elem(&conn_state_by_sk, &key, &fresh, BPF_NOEXIST);
	return bpf_map_lookup_elem(&conn_state_by_sk, &key);
}

/* At TCP_CLOSE. sk_storage goes with the socket by itself; the hash entry must go now,
 * before the socket's memory is reused by another socket. */
static __always_inline void scaler_conn_forget(const struct sock *sk, struct scaler_rung rung)
{
	__u64 key = (__u64)sk;

	if (rung.store == SCALER_STORE_HASH)
		bpf_map_delete_elem(&conn_state_by_sk, &key);
}

/* A hash variant's new connection: the protocol bpf/protocol_framing.bpf.c framed it as
 * (SCALER_PROTO_H2C and up: timed there), else SCALER_PROTO_UNKNOWN. The framing ingress
 * program classifies a connection on its first payload, before that payload is queued and
 * the arrival hook runs, so the verdict is there when the connection's state is created. A
 * connection whose first payload held under 3 bytes is classified later and then timed
 * twice (a documented limit). sk_storage variants share the framing state itself. */
static __always_inline __u8 scaler_framed_protocol(const struct sock *sk, struct scaler_rung rung)
{
	__u64 cookie = scaler_sk_cookie(sk, rung);
	__u32 *protocol;

	if (!cookie)
		return SCALER_PROTO_UNKNOWN;
	protocol = bpf_map_lookup_elem(&framed_conns, &cookie);
	return protocol ? (__u8)*protocol : SCALER_PROTO_UNKNOWN;
}

/* ---- targets ------------------------------------------------------------------------- */

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

/* The port's bit in a port bitmap (watch_port_bits, demand_port_bits): one inlined
 * array load. */
static __always_inline int scaler_port_bit(void *bitmap, __u16 port)
{
	__u32 word = port >> 6;
	__u64 *bits = bpf_map_lookup_elem(bitmap, &word);

	return bits && ((*bits >> (port & 63)) & 1);
}

/* May a watch entry name this port? */
static __always_inline int scaler_port_watched(__u16 port)
{
	return scaler_port_bit(&watch_port_bits, port);
}

/* May a demand address have this port? */
static __always_inline int scaler_port_demanded(__u16 port)
{
	return scaler_port_bit(&demand_port_bits, port);
}

static __always_inline __u32 scaler_current_epoch(void)
{
	__u32 zero = 0;
	__u32 *epoch = bpf_map_lookup_elem(&watch_epoch, &zero);

	return epoch ? *epoch : 0;
}

/* Selects the targets of a socket: the entry for (its netns, port) and the entry for
 * (any netns, port), each with the slot's current generation (0 = none). Returns
 * non-zero when at least one target watches it. */
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

/* ---- protocol counters (proto_stats) -------------------------------------------------- */

enum framing_counter {
	FRAMING_H2C,
	FRAMING_TLS,
	FRAMING_TLS_H2,
	FRAMING_OVER_LIMIT,
	FRAMING_LOST,
	FRAMING_INTERIM,
};

static __always_inline void framing_count_slot(__u32 slot, __u32 generation, enum framing_counter which)
{
	struct scaler_proto_stats *ps;

	if (!generation || scaler_slot_generation(slot) != generation)
		return;
	ps = bpf_map_lookup_elem(&proto_stats, &slot);
	if (!ps)
		return;
	switch (which) {
	case FRAMING_H2C:
		__sync_fetch_and_add(&ps->h2c_connections, 1);
		break;
	case FRAMING_TLS:
		__sync_fetch_and_add(&ps->tls_connections, 1);
		break;
	case FRAMING_TLS_H2:
		__sync_fetch_and_add(&ps->tls_h2_connections, 1);
		break;
	case FRAMING_OVER_LIMIT:
		__sync_fetch_and_add(&ps->h2_streams_over_limit, 1);
		break;
	case FRAMING_LOST:
		__sync_fetch_and_add(&ps->framing_lost, 1);
		break;
	case FRAMING_INTERIM:
		__sync_fetch_and_add(&ps->interim_responses, 1);
		break;
	}
}

static __always_inline void framing_count(struct scaler_conn_state *conn, enum framing_counter which)
{
	framing_count_slot(conn->slot, conn->generation, which);
	framing_count_slot(conn->any_slot, conn->any_generation, which);
}

/* ---- the state machine --------------------------------------------------------------- */

/* Request bytes arrived on a selected, idle connection. */
static __always_inline void scaler_begin_request(struct scaler_conn_state *conn, __u64 now_ns, __u32 write_seq)
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
						  __u64 bucket)
{
	if (!stats)
		return;
	/* Kernels before 6.2 forget the bound of a value clang spilled to the stack and
	 * reloaded (and clang may test the bound once for both targets): force the value
	 * into a register and test it right at the access. */
	barrier_var(bucket);
	if (bucket >= SCALER_BUCKET_COUNT)
		return;
	/* requests and in-flight are derived from these in user space */
	__sync_fetch_and_add(&stats->latency_buckets[bucket], 1);
	__sync_fetch_and_add(&stats->latency_sum_us, latency_us);
}

/* When a request's bytes arrived: the socket clock on a connection already timed (its
 * request came through tcp_rcv_established, which refreshed the clock just before
 * sk_data_ready), if it moved past the previous request's start. A new connection's first
 * bytes may come with the handshake's last ACK (tcp_rcv_state_process, no refresh): the
 * clock would be the SYN-ACK's. */
static __always_inline __u64 scaler_arrival_ns(const struct scaler_conn_state *conn, int known_conn,
					       const struct scaler_tcp_now *tcp)
{
	if (known_conn && tcp->clock_ns > conn->request_start_ns)
		return tcp->clock_ns;
	return bpf_ktime_get_ns();
}

/* When the response left: the socket clock if bytes past the request's write sequence were
 * transmitted (tcp_write_xmit refreshed the clock after they were written, so the clock is
 * between the write and now), else bpf_ktime_get_ns (the response was queued, not sent:
 * cork, MSG_MORE, a full window, or a hook that runs before the send). */
static __always_inline __u64 scaler_response_ns(const struct scaler_conn_state *conn, const struct scaler_tcp_now *tcp)
{
	if (tcp->clock_ns > conn->request_start_ns && (__s32)(tcp->snd_nxt - conn->request_write_seq) > 0)
		return tcp->clock_ns;
	return bpf_ktime_get_ns();
}

/* The first response byte left at now_ns. */
static __always_inline void scaler_end_request(struct scaler_conn_state *conn, __u64 now_ns)
{
	__u64 latency_us, bucket;

	if (conn->phase != SCALER_PHASE_REQUEST)
		return; /* later bytes of the same response, or an unsolicited send */
	conn->phase = SCALER_PHASE_IDLE;
	latency_us = (now_ns - conn->request_start_ns) / 1000;
	bucket = scaler_bucket_index(latency_us);
	/* a target removed or a slot reused since the request started gets nothing */
	scaler_record_latency(scaler_live_stats(conn->slot, conn->generation), latency_us, bucket);
	scaler_record_latency(scaler_live_stats(conn->any_slot, conn->any_generation), latency_us, bucket);
}

/* `n` requests of the connection's targets ended without a response. */
static __always_inline void scaler_count_aborted(struct scaler_conn_state *conn, __u64 n)
{
	struct scaler_target_stats *stats = scaler_live_stats(conn->slot, conn->generation);

	if (stats)
		__sync_fetch_and_add(&stats->aborted_requests, n);
	stats = scaler_live_stats(conn->any_slot, conn->any_generation);
	if (stats)
		__sync_fetch_and_add(&stats->aborted_requests, n);
}

/* The connection closed: a request without a response is aborted. */
static __always_inline void scaler_abort_request(struct scaler_conn_state *conn)
{
	if (conn->phase != SCALER_PHASE_REQUEST)
		return;
	conn->phase = SCALER_PHASE_IDLE;
	scaler_count_aborted(conn, 1);
}

/* The connection closed with HTTP/2 streams unanswered (bpf/protocol_framing.bpf.c). */
static __always_inline void scaler_abort_streams(struct scaler_conn_state *conn)
{
	__u64 open = conn->streams_open;

	if (!open)
		return;
	conn->streams_open = 0;
	scaler_count_aborted(conn, open);
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

/* ---- HTTP/1 interim responses ------------------------------------------------------ */

/* "HTTP/1.x 1yz" but not 101: Switching Protocols ends the HTTP/1 exchange. */
static __always_inline int scaler_is_interim_status(const __u8 *b)
{
	return b[0] == 'H' && b[1] == 'T' && b[2] == 'T' && b[3] == 'P' && b[4] == '/' && b[5] == '1' &&
	       b[6] == '.' && b[8] == ' ' && b[9] == '1' && !(b[10] == '0' && b[11] == '1');
}

/*
 * A send hook that runs as the send starts (fentry, kprobe on tcp_sendmsg_locked) ends the
 * request before TCP has the bytes, so the cgroup_skb egress check of
 * bpf/protocol_framing.bpf.c comes too late for it. Such a hook reads the status line from
 * the sender's own buffer instead, and only for the first send of a response (a request is
 * open) that is small enough to be an interim response. A `100 Continue` is a status line
 * alone (25 bytes from nginx 1.22, node 20 and Python's http.server, measured), while most
 * final responses are larger (nginx's `return 200`: 147 bytes), so the reads (five probed
 * loads and one user read) stay off most of them; a small final response (Python's
 * http.server: 111 bytes) pays them and is not mistaken. An interim response in a larger
 * send (a 103 Early Hints with links) ends the request, as before.
 * Splice and sendfile pages (ITER_BVEC) and kernel buffers are not read.
 */
#define SCALER_INTERIM_MAX_SEND 128

/* iov_iter before 5.14: the kind is a bit mask in `type`, bit 0 the direction */
struct iov_iter___pre514 {
	unsigned int type;
} __attribute__((preserve_access_index));

/* iov_iter before 6.4: the iovec array is `iov`, not `__iov` */
struct iov_iter___pre64 {
	const struct iovec *iov;
} __attribute__((preserve_access_index));

/* Where the first byte of a send is in user memory, or 0. Reads are probed on every rung:
 * this runs once per response, and one code path serves typed and raw pointers alike. */
static __always_inline const void *scaler_send_user_base(const struct msghdr *msg, long *span)
{
	const struct iov_iter *it = &msg->msg_iter;
	const struct iovec *iov;
	size_t offset = BPF_CORE_READ(it, iov_offset);
	int ubuf = 0, iovec = 0;

	if (bpf_core_field_exists(it->iter_type)) {
		__u8 kind = BPF_CORE_READ(it, iter_type);

		if (bpf_core_enum_value_exists(enum iter_type, ITER_UBUF) && bpf_core_field_exists(it->ubuf))
			ubuf = kind == bpf_core_enum_value(enum iter_type, ITER_UBUF);
		iovec = kind == bpf_core_enum_value(enum iter_type, ITER_IOVEC);
	} else {
		unsigned int type = BPF_CORE_READ((const struct iov_iter___pre514 *)it, type);

		iovec = (type & ~1u) == bpf_core_enum_value(enum iter_type, ITER_IOVEC);
	}
	if (ubuf) {
		if (bpf_core_field_exists(it->ubuf))
			return (const __u8 *)BPF_CORE_READ(it, ubuf) + offset;
		return 0;
	}
	if (!iovec)
		return 0;
	if (bpf_core_field_exists(it->__iov))
		iov = BPF_CORE_READ(it, __iov);
	else
		iov = BPF_CORE_READ((const struct iov_iter___pre64 *)it, iov);
	if (!iov)
		return 0;
	/* the first segment holds the status line, or this is not an interim response */
	*span = (long)BPF_CORE_READ(iov, iov_len) - (long)offset;
	return (const __u8 *)BPF_CORE_READ(iov, iov_base) + offset;
}

static __always_inline int scaler_send_is_interim(const struct msghdr *msg, long sent)
{
	const void *base;
	long span = sent;
	__u8 b[12] = {};

	if (!msg || sent < (long)sizeof(b) || sent > SCALER_INTERIM_MAX_SEND)
		return 0;
	base = scaler_send_user_base(msg, &span);
	if (!base || span < (long)sizeof(b) || bpf_probe_read_user(b, sizeof(b), base))
		return 0;
	return scaler_is_interim_status(b);
}

/* ---- the handlers every rung calls --------------------------------------------------- */

/* Bytes were queued on a socket (sk_data_ready). Cheapest checks first: most events are
 * for sockets nobody watches. */
static __always_inline void scaler_timing_arrival(const struct sock *sk, struct scaler_rung rung)
{
	struct scaler_conn_state *conn, sel = {};
	struct scaler_tcp_now tcp;
	__u32 epoch;
	__u16 family = scaler_sk_family(sk, rung);
	__u16 port;
	__u8 state;
	int known_conn;

	if (family != SCALER_AF_INET && family != SCALER_AF_INET6)
		return;
	port = scaler_sk_port(sk, rung);
	if (!scaler_port_watched(port))
		return;
	/* Listeners get data_ready for each queued connection: not a request. A FIN wakes
	 * readers after tcp_fin() moved the socket to CLOSE_WAIT: a request only when bytes
	 * came with it (a client that half-closes after its request, in one segment), i.e.
	 * more is unread than the FIN's one sequence number. Rare, so read only here. */
	state = scaler_sk_state(sk, rung);
	if (state == SCALER_TCP_CLOSE_WAIT) {
		if (scaler_sk_unread(sk, rung) <= 1)
			return;
	} else if (state != SCALER_TCP_ESTABLISHED || (scaler_sk_shutdown(sk, rung) & SCALER_RCV_SHUTDOWN)) {
		return; /* (established with RCV_SHUTDOWN: the server's own shutdown(SHUT_RD)) */
	}
	conn = scaler_conn_find(sk, rung);
	/* timed per frame or record by bpf/protocol_framing.bpf.c */
	if (conn && conn->protocol >= SCALER_PROTO_FRAMED)
		return;
	known_conn = conn != 0;
	scaler_tcp_read(sk, rung, &tcp);
	if (conn && conn->phase == SCALER_PHASE_REQUEST) {
		if (tcp.write_seq == conn->request_write_seq)
			return; /* more bytes of the same request */
		/* its response left; the send hook is late */
		scaler_end_request(conn, scaler_arrival_ns(conn, known_conn, &tcp));
	}
	epoch = scaler_current_epoch();
	if (!conn || conn->watch_epoch != epoch) {
		/* new, or the watch set changed since it was selected */
		if (scaler_sk_protocol(sk, rung) != SCALER_IPPROTO_TCP)
			return;
		if (!scaler_select(&sel, scaler_sk_netns(sk, rung), port) && !conn)
			return;
		if (!conn) {
			conn = scaler_conn_create(sk, rung);
			if (!conn) {
				scaler_count_health(1);
				return;
			}
			if (rung.store == SCALER_STORE_HASH)
				conn->protocol = scaler_framed_protocol(sk, rung);
		}
		conn->slot = sel.slot;
		conn->generation = sel.generation;
		conn->any_slot = sel.any_slot;
		conn->any_generation = sel.any_generation;
		conn->watch_epoch = epoch;
		if (conn->protocol >= SCALER_PROTO_FRAMED)
			return;
	}
	if (conn->generation || conn->any_generation)
		scaler_begin_request(conn, scaler_arrival_ns(conn, known_conn, &tcp), tcp.write_seq);
}

/* A send of `sent` bytes (after it returned, or as it starts: rung.send_hook_after_send).
 * `msg` is the send's msghdr where the hook has it (as the send starts), else 0. */
static __always_inline void scaler_timing_send(const struct sock *sk, const struct msghdr *msg, long sent,
					       struct scaler_rung rung)
{
	struct scaler_conn_state *conn;
	struct scaler_tcp_now tcp = {};

	if (sent <= 0 || !scaler_port_watched(scaler_sk_port(sk, rung)))
		return;
	conn = scaler_conn_find(sk, rung);
	if (!conn || conn->phase != SCALER_PHASE_REQUEST || conn->protocol >= SCALER_PROTO_FRAMED)
		return;
	if (!rung.send_hook_after_send && scaler_send_is_interim(msg, sent)) {
		/* the request goes on; its body's arrival will find write_seq past the interim
		 * response, where the arrival hook compares (as after the egress check) */
		conn->request_write_seq = scaler_sk_write_seq(sk, rung) + (__u32)sent;
		framing_count(conn, FRAMING_INTERIM);
		return;
	}
	if (rung.send_hook_after_send || rung.socket_clock)
		scaler_tcp_read(sk, rung, &tcp);
	/* after the send, no new bytes since the request began: this is the late hook of the
	 * previous response (see the top of this file) */
	if (rung.send_hook_after_send && tcp.write_seq == conn->request_write_seq)
		return;
	scaler_end_request(conn, scaler_response_ns(conn, &tcp));
}

/* inet_sock_set_state: handshake completed (accepted), or the connection closed. */
static __always_inline void scaler_timing_state(const struct sock *sk, int oldstate, int newstate,
						struct scaler_rung rung)
{
	struct scaler_conn_state *conn;
	__u16 port;

	if (newstate != SCALER_TCP_CLOSE && !(oldstate == SCALER_TCP_SYN_RECV && newstate == SCALER_TCP_ESTABLISHED))
		return;
	port = scaler_sk_port(sk, rung);
	/* At TCP_CLOSE the local port reads 0: tcp_set_state() gives the port back
	 * (inet_put_port) before the state store that fires this tracepoint. A port that
	 * still reads is checked; otherwise the connection-state lookup decides. */
	if ((port || newstate != SCALER_TCP_CLOSE) && !scaler_port_watched(port))
		return;
	if (newstate == SCALER_TCP_ESTABLISHED) {
		scaler_count_accepted(scaler_sk_netns(sk, rung), port);
		return;
	}
	conn = scaler_conn_find(sk, rung);
	if (!conn)
		return;
	scaler_abort_request(conn);
	scaler_abort_streams(conn);
	scaler_conn_forget(sk, rung);
}

#endif /* SCALER_REQUEST_TIMING_H */
