// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Protocol-aware request boundaries: cgroup_skb ingress and egress programs on the root
 * cgroup v2 read the first payload bytes of each connection on a watched port (no copies
 * to user space) and, where turn-taking would be wrong, frame the byte stream themselves:
 *
 *   HTTP/2 cleartext (preface "PRI * HTTP/2.0"): 9-byte frame headers are walked across
 *     segments. A request starts at the first HEADERS frame of a new client stream (client
 *     stream ids only grow) and ends at the server's first HEADERS or DATA frame on that
 *     stream; RST_STREAM aborts it; every other frame type is neither. Streams in flight
 *     live in h2_streams keyed by (socket cookie, stream id), at most
 *     SCALER_MAX_STREAMS_PER_CONN per connection.
 *   TLS (record header 0x16 0x03): 5-byte record headers are walked across segments;
 *     handshake, change-cipher-spec and alert records never start or end a request;
 *     application-data records take turns. TLS 1.3 hides its post-handshake messages in
 *     application-data records, so: a server sending application data before the client
 *     ever did is TLS 1.3; there the client's first application-data record (its Finished)
 *     starts nothing and client records of alert size (close_notify, KeyUpdate) start
 *     nothing. A server cannot answer a request it has not read: application data
 *     leaving while the socket's copied_seq has not passed the request's first record
 *     (TLS 1.3 NewSessionTickets, sent once the server read the client Finished) ends
 *     nothing; a server reading ahead (nginx) has read the request with the Finished, so
 *     server application data within SCALER_TLS13_POST_HANDSHAKE_NS of the Finished's
 *     arrival ends nothing either (a first response faster than that is missed: it ends
 *     with a later record of the response, or the request is aborted at close). A ClientHello offering ALPN "h2" cannot be split per stream
 *     from outside the encryption: such connections are counted and not timed.
 *   HTTP/1 (a request line): still timed by the hook ladder's turn-taking, but an interim
 *     1xx response (other than 101) seen leaving moves the request's write_seq past it, so
 *     the send hook takes it for the late hook of an earlier response and the request goes
 *     on (bpf/request_timing.h). Only the tp_btf rung's send hook runs after the send; the
 *     fentry and kprobe rungs' send hooks read the status line themselves as the send
 *     starts (scaler_send_is_interim), on every build.
 *   Anything else: turn-taking, as before.
 *
 * Ingress runs in tcp_v4_rcv/tcp_v6_rcv before the segment is queued (so before
 * sk_data_ready) and before TCP reassembly: a duplicate or overlapping segment is trimmed
 * by sequence number, a gap (segment loss, reordering) loses the connection's framing
 * (counted; no longer timed). Egress sees each packet once more per retransmission;
 * retransmitted bytes are skipped the same way.
 *
 * Per-packet cost: every packet of the node passes; a socket on an unwatched port leaves
 * after the port bitmap check, a connection framed as plain or HTTP/1 after one
 * sk_storage lookup.
 *
 * Two builds of each program, differing only in constants of inlined code:
 *   framing_ingress, framing_egress: beside hook ladder variants that keep connection
 *     state in sk_storage, sharing it with them; frames are walked with bpf_loop (5.17+).
 *   framing_ingress_compat, framing_egress_compat, framing_release_compat: where those do
 *     not load (no bpf_loop: before 5.17) and beside the hash variants (tracing programs
 *     on 5.10, kprobes), which cannot read sk_storage. Frames are walked by bounded loops
 *     continued in tail calls (framing_walk_compat), up to the same 128 per packet. The
 *     framing state lives in sk_storage (cgroup programs may use it from 5.2 on), shared
 *     with an sk_storage variant if that is what runs; a framed connection's cookie also
 *     goes into framed_conns, where a hash variant looks when it meets the connection,
 *     and leaves it alone. Open requests and streams are aborted when the server closes
 *     the socket (cgroup/sock_release), since a hash variant's close hook cannot reach
 *     them (beside an sk_storage variant the close hook then finds nothing left to abort).
 *     It does not look for HTTP/1 interim responses: the variants it serves (hash
 *     variants, fentry on 5.11-5.16) fire the send hook as the send starts, and that hook
 *     recognises them itself.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "request_timing.h"

#define FRAMING_PASS 1
#define FRAMING_ETH_P_IP 0x0800
#define FRAMING_ETH_P_IPV6 0x86DD

#define H2_DATA 0
#define H2_HEADERS 1
#define H2_RST_STREAM 3
#define H2_PREFACE_BYTES 24 /* "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" */

#define TLS_HANDSHAKE 22
#define TLS_APPLICATION_DATA 23
/* Largest TLS 1.3 record that can only be an alert or KeyUpdate: 2-byte alert or 5-byte
 * KeyUpdate + content type + 16-byte AEAD tag (no padding). */
#define TLS13_CONTROL_RECORD_MAX 24
#define TLS_EXT_ALPN 16
#define TLS_EXTENSIONS_WALKED 32
#define TLS_ALPN_NAMES_WALKED 8

/* (socket cookie, client stream id) -> request start (bpf_ktime_get_ns). LRU: a stream whose
 * entry is evicted stays open in streams_open and is aborted at close, so counts agree. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SCALER_MAX_H2_STREAMS);
	__type(key, struct scaler_h2_stream_key);
	__type(value, __u64);
} h2_streams SEC(".maps");

/* ---- HTTP/2 streams ------------------------------------------------------------------- */

static __always_inline void framing_stream_started(struct scaler_conn_state *conn)
{
	struct scaler_target_stats *stats = scaler_live_stats(conn->slot, conn->generation);

	if (stats)
		__sync_fetch_and_add(&stats->requests_started, 1);
	stats = scaler_live_stats(conn->any_slot, conn->any_generation);
	if (stats)
		__sync_fetch_and_add(&stats->requests_started, 1);
}

static __always_inline void h2_stream_start(struct scaler_conn_state *conn, __u32 stream_id, __u64 now_ns)
{
	struct scaler_h2_stream_key key = { .cookie = conn->cookie, .stream_id = stream_id };

	/* client-initiated streams have odd ids, each higher than the last: a HEADERS frame
	 * on a known stream is trailers or a continuation of the same request */
	if (!(stream_id & 1) || stream_id <= conn->h2_max_stream)
		return;
	conn->h2_max_stream = stream_id;
	if (conn->streams_open >= SCALER_MAX_STREAMS_PER_CONN) {
		framing_count(conn, FRAMING_OVER_LIMIT);
		return;
	}
	if (bpf_map_update_elem(&h2_streams, &key, &now_ns, BPF_ANY)) {
		scaler_count_health(1);
		return;
	}
	__sync_fetch_and_add(&conn->streams_open, 1);
	framing_stream_started(conn);
}

/* The server's first HEADERS/DATA frame on the stream (answered = 1), or RST_STREAM. */
static __always_inline void h2_stream_finish(struct scaler_conn_state *conn, __u32 stream_id, int answered)
{
	struct scaler_h2_stream_key key = { .cookie = conn->cookie, .stream_id = stream_id };
	__u64 *start = bpf_map_lookup_elem(&h2_streams, &key);
	__u64 latency_us, bucket;

	if (!start)
		return; /* a later frame of an answered stream, or a stream not timed */
	latency_us = (bpf_ktime_get_ns() - *start) / 1000;
	if (bpf_map_delete_elem(&h2_streams, &key))
		return; /* another CPU finished it */
	__sync_fetch_and_add(&conn->streams_open, -1);
	if (answered) {
		bucket = scaler_bucket_index(latency_us);
		scaler_record_latency(scaler_live_stats(conn->slot, conn->generation), latency_us, bucket);
		scaler_record_latency(scaler_live_stats(conn->any_slot, conn->any_generation), latency_us, bucket);
		return;
	}
	scaler_count_aborted(conn, 1);
}

/* ---- losing the framing ----------------------------------------------------------------- */

/* A gap or too many frames in one packet: the position in the stream is unknown from here
 * on, so the connection is no longer timed (its open request and streams are aborted;
 * their entries in h2_streams age out of the LRU). */
static __always_inline void framing_lose(struct scaler_conn_state *conn)
{
	if (conn->protocol == SCALER_PROTO_LOST)
		return;
	conn->protocol = SCALER_PROTO_LOST;
	framing_count(conn, FRAMING_LOST);
	scaler_abort_request(conn);
	scaler_abort_streams(conn);
}

/* ---- frames and records ----------------------------------------------------------------- */

struct framing_walk {
	__u64 now_ns;
	int ingress;
	/* TCP sequence of the byte at packet offset 0 (seq_base + off: the byte at off) */
	__u32 seq_base;
	/* egress: the socket's copied_seq, the first byte the server has not read yet */
	__u32 copied_seq;
};

static __always_inline void on_h2_frame(struct scaler_conn_state *conn, const __u8 *hdr, struct framing_walk *w)
{
	__u8 type = hdr[3];
	__u32 stream_id = (((__u32)hdr[5] & 0x7f) << 24) | ((__u32)hdr[6] << 16) | ((__u32)hdr[7] << 8) | hdr[8];

	if (!stream_id)
		return; /* connection-level: SETTINGS, PING, GOAWAY, WINDOW_UPDATE */
	if (type == H2_RST_STREAM) {
		h2_stream_finish(conn, stream_id, 0);
		return;
	}
	if (w->ingress) {
		if (type == H2_HEADERS)
			h2_stream_start(conn, stream_id, w->now_ns);
		return;
	}
	if (type == H2_HEADERS || type == H2_DATA)
		h2_stream_finish(conn, stream_id, 1);
}

/* header_seq: TCP sequence of the record's first header byte. */
static __always_inline void on_tls_record(struct scaler_conn_state *conn, const __u8 *hdr, struct framing_walk *w,
					  __u32 header_seq)
{
	__u32 length = ((__u32)hdr[3] << 8) | hdr[4];
	__u64 now_ns;

	if (hdr[0] != TLS_APPLICATION_DATA)
		return; /* handshake, change-cipher-spec, alert (TLS 1.2) */
	if (w->ingress) {
		if (!(conn->flags & SCALER_FRAMING_CLIENT_APP)) {
			conn->flags |= SCALER_FRAMING_CLIENT_APP;
			if (conn->flags & SCALER_FRAMING_TLS13) {
				conn->client_finished_ns = w->now_ns;
				return; /* the client's Finished */
			}
		}
		if ((conn->flags & SCALER_FRAMING_TLS13) && length <= TLS13_CONTROL_RECORD_MAX)
			return;
		if (conn->phase == SCALER_PHASE_IDLE) {
			scaler_begin_request(conn, w->now_ns, 0);
			conn->request_in_seq = header_seq;
		}
		return;
	}
	if (!(conn->flags & SCALER_FRAMING_CLIENT_APP)) {
		/* encrypted handshake before the client's first application data: TLS 1.3 */
		conn->flags |= SCALER_FRAMING_TLS13;
		return;
	}
	/* A server cannot answer a request it has not read: application data leaving before
	 * the server read the request's first record is post-handshake (TLS 1.3
	 * NewSessionTickets answer the client Finished, read just before). */
	if (conn->phase == SCALER_PHASE_REQUEST && (__s32)(w->copied_seq - conn->request_in_seq) <= 0)
		return;
	/* With read-ahead (nginx), the server read the request with the Finished: the tickets
	 * are told apart by time instead, sent at once when the Finished is processed. */
	now_ns = bpf_ktime_get_ns();
	if ((conn->flags & SCALER_FRAMING_TLS13) && conn->client_finished_ns &&
	    now_ns - conn->client_finished_ns < SCALER_TLS13_POST_HANDSHAKE_NS)
		return;
	scaler_end_request(conn, now_ns);
}

/* One walk over a packet's frames or records (bpf_loop's context). */
struct framing_cursor {
	struct __sk_buff *skb;
	struct scaler_conn_state *conn;
	struct scaler_frame_dir *dir;
	struct framing_walk *w;
	__u32 off;
	__u32 end;
};

/* One frame or record: skip the rest of the current body, then read the next header (from
 * this packet, or completing one split across packets) and act on it. 1 = packet done. */
static int framing_step(__u32 index, struct framing_cursor *c)
{
	struct scaler_frame_dir *dir = c->dir;
	struct scaler_conn_state *conn = c->conn;
	int h2 = conn->protocol == SCALER_PROTO_H2C;
	__u32 header_bytes = h2 ? 9 : 5;
	__u8 hdr[SCALER_FRAME_HEADER_MAX + 1] = {};
	__u32 k, skip, header_seq;

	if (dir->remaining) {
		skip = c->end - c->off;
		if (skip > dir->remaining)
			skip = dir->remaining;
		c->off += skip;
		dir->remaining -= skip;
	}
	if (c->off >= c->end)
		return 1;
	header_seq = c->w->seq_base + c->off - dir->hdr_have;
	if (!dir->hdr_have && c->end - c->off >= header_bytes) {
		if (bpf_skb_load_bytes(c->skb, c->off, hdr, h2 ? 9 : 5))
			goto stop;
		c->off += header_bytes;
	} else {
		/* a header split across packets: byte by byte into dir->hdr */
		for (k = 0; k < SCALER_FRAME_HEADER_MAX; k++) {
			__u32 have = dir->hdr_have;

			if (have >= header_bytes || have >= SCALER_FRAME_HEADER_MAX || c->off >= c->end)
				break;
			if (bpf_skb_load_bytes(c->skb, c->off, &dir->hdr[have], 1))
				goto stop;
			dir->hdr_have = have + 1;
			c->off++;
		}
		if (dir->hdr_have < header_bytes)
			return 1; /* the rest comes with the next packet */
		__builtin_memcpy(hdr, dir->hdr, SCALER_FRAME_HEADER_MAX);
		dir->hdr_have = 0;
	}
	if (h2) {
		dir->remaining = ((__u32)hdr[0] << 16) | ((__u32)hdr[1] << 8) | hdr[2];
		on_h2_frame(conn, hdr, c->w);
	} else {
		dir->remaining = ((__u32)hdr[3] << 8) | hdr[4];
		on_tls_record(conn, hdr, c->w, header_seq);
	}
	return 0;
stop:
	c->off = c->end; /* unreadable: give up on this packet */
	return 1;
}

/* Body bytes of the current frame or record that end this packet are skipped. */
static __always_inline void framing_skip_body(struct framing_cursor *c)
{
	__u32 skip;

	if (c->off < c->end && c->dir->remaining) {
		skip = c->end - c->off;
		if (skip > c->dir->remaining)
			skip = c->dir->remaining;
		c->off += skip;
		c->dir->remaining -= skip;
	}
}

/*
 * Walks the frames (HTTP/2, 9-byte headers) or records (TLS, 5-byte headers) whose headers
 * lie in [off, end) of this packet, carrying partial headers and body bytes left across
 * packets in `dir`. bpf_loop (kernel 5.17+) keeps verification to one pass over the step.
 * Returns 0, or -1 when the bound on frames per packet was hit.
 */
static __always_inline int framing_walk(struct __sk_buff *skb, struct scaler_conn_state *conn,
					struct scaler_frame_dir *dir, __u32 off, __u32 end, struct framing_walk *w)
{
	struct framing_cursor c = { .skb = skb, .conn = conn, .dir = dir, .w = w, .off = off, .end = end };

	bpf_loop(SCALER_FRAMES_PER_PACKET, framing_step, &c, 0);
	framing_skip_body(&c);
	return c.off >= c.end ? 0 : -1;
}

/*
 * The compat build's walk, without bpf_loop: the verifier walks a bounded loop once per
 * step, so a program takes SCALER_FRAMES_PER_CALL frames and leaves the rest of the packet
 * to a tail call of its continuation program (verified once, whatever the packet holds),
 * at most SCALER_FRAMING_TAIL_CALLS times: SCALER_FRAMES_PER_PACKET frames in all, as the
 * bpf_loop build. The cursor crosses in framing_resume, one per-CPU slot per direction,
 * tagged with the socket cookie and the packet's sequence number: a program nested on the
 * same CPU (a softirq interrupting a send) can only overwrite it for another socket, and
 * the continuation then sees the tag change and gives up on the packet.
 * Returns 0, or -1 when the bound was hit or the continuation could not run.
 */
struct framing_resume {
	__u64 cookie;
	__u64 now_ns;
	__u32 packet_seq;
	__u32 off;
	__u32 end;
	__u32 copied_seq;
	__u32 calls;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct framing_resume);
} framing_resume SEC(".maps");

/* Slot 0: the ingress (resp. egress) continuation program, set by user space after loading:
 * a tail call goes to a program of the same type and attach type. */
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} framing_more_in SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} framing_more_out SEC(".maps");

static __always_inline int framing_walk_compat(struct __sk_buff *skb, struct scaler_conn_state *conn,
					       struct scaler_frame_dir *dir, __u32 off, __u32 end,
					       struct framing_walk *w, __u32 packet_seq, __u32 calls, const int ingress)
{
	struct framing_cursor c = { .skb = skb, .conn = conn, .dir = dir, .w = w, .off = off, .end = end };
	struct framing_resume *r;
	__u32 i, slot = ingress ? 0 : 1;

	for (i = 0; i < SCALER_FRAMES_PER_CALL; i++) {
		if (framing_step(i, &c))
			break;
	}
	framing_skip_body(&c);
	if (c.off >= c.end)
		return 0;
	if (calls >= SCALER_FRAMING_TAIL_CALLS)
		return -1;
	r = bpf_map_lookup_elem(&framing_resume, &slot);
	if (!r)
		return -1;
	r->cookie = conn->cookie;
	r->now_ns = w->now_ns;
	r->packet_seq = packet_seq;
	r->off = c.off;
	r->end = c.end;
	r->copied_seq = w->copied_seq;
	r->calls = calls + 1;
	/* a constant direction: each program names one prog array, whose owner (the first
	 * program using it) fixes the attach type every program calling through it must have */
	if (ingress)
		bpf_tail_call(skb, &framing_more_in, 0);
	else
		bpf_tail_call(skb, &framing_more_out, 0);
	return -1; /* the continuation is not in place */
}

/* ---- classification ----------------------------------------------------------------- */

/* Does the ClientHello at `off` (a TLS record header) offer ALPN "h2"? Only what this
 * packet holds is read: a ClientHello split across packets counts as not offering it. */
static __always_inline int tls_offers_h2(struct __sk_buff *skb, __u32 off)
{
	__u8 b[4] = {};
	__u32 p, ext_end, list_end, i;

	if (bpf_skb_load_bytes(skb, off + 5, b, 1) || b[0] != 1)
		return 0; /* not a ClientHello */
	p = off + 5 + 4 + 2 + 32; /* record header, handshake header, version, random */
	if (bpf_skb_load_bytes(skb, p, b, 1))
		return 0;
	p += 1 + b[0]; /* session id */
	if (bpf_skb_load_bytes(skb, p, b, 2))
		return 0;
	p += 2 + (((__u32)b[0] << 8) | b[1]); /* cipher suites */
	if (bpf_skb_load_bytes(skb, p, b, 1))
		return 0;
	p += 1 + b[0]; /* compression methods */
	if (bpf_skb_load_bytes(skb, p, b, 2))
		return 0;
	ext_end = p + 2 + (((__u32)b[0] << 8) | b[1]);
	p += 2;
	for (i = 0; i < TLS_EXTENSIONS_WALKED; i++) {
		__u32 type, length;

		if (p + 4 > ext_end || bpf_skb_load_bytes(skb, p, b, 4))
			return 0;
		type = ((__u32)b[0] << 8) | b[1];
		length = ((__u32)b[2] << 8) | b[3];
		p += 4;
		if (type == TLS_EXT_ALPN) {
			if (bpf_skb_load_bytes(skb, p, b, 2))
				return 0;
			list_end = p + 2 + (((__u32)b[0] << 8) | b[1]);
			p += 2;
			for (i = 0; i < TLS_ALPN_NAMES_WALKED; i++) {
				if (p + 3 > list_end || bpf_skb_load_bytes(skb, p, b, 3))
					return 0;
				if (b[0] == 2 && b[1] == 'h' && b[2] == '2')
					return 1;
				p += 1 + b[0];
			}
			return 0;
		}
		p += length;
	}
	return 0;
}

/* An HTTP/1 request line: an upper-case method token, then a space. */
static __always_inline int is_http1_request(const __u8 *b)
{
	int i;

	for (i = 0; i < 8; i++) {
		if (b[i] == ' ')
			return i >= 3;
		if (b[i] < 'A' || b[i] > 'Z')
			return 0;
	}
	return 0;
}

/* The first payload of a selected connection says what it speaks. */
static __always_inline void framing_classify(struct __sk_buff *skb, struct scaler_conn_state *conn, __u32 off,
					     __u32 seq)
{
	__u8 b[16] = {};

	if (bpf_skb_load_bytes(skb, off, b, 3))
		return; /* under 3 bytes: decide with the next packet */
	bpf_skb_load_bytes(skb, off, b, 16);
	if (b[0] == 'P' && b[1] == 'R' && b[2] == 'I' && b[3] == ' ' && b[4] == '*' && b[5] == ' ' && b[6] == 'H' &&
	    b[7] == 'T' && b[8] == 'T' && b[9] == 'P' && b[10] == '/' && b[11] == '2') {
		conn->protocol = SCALER_PROTO_H2C;
		conn->in.remaining = H2_PREFACE_BYTES;
		framing_count(conn, FRAMING_H2C);
	} else if (b[0] == TLS_HANDSHAKE && b[1] == 3) {
		if (tls_offers_h2(skb, off)) {
			conn->protocol = SCALER_PROTO_TLS_H2;
			framing_count(conn, FRAMING_TLS_H2);
		} else {
			conn->protocol = SCALER_PROTO_TLS;
			framing_count(conn, FRAMING_TLS);
		}
	} else {
		conn->protocol = is_http1_request(b) ? SCALER_PROTO_HTTP1 : SCALER_PROTO_PLAIN;
		return;
	}
	/* a framed connection is known by its cookie: h2_streams keys, framed_conns (compat build) */
	conn->cookie = bpf_get_socket_cookie(skb);
	if (conn->protocol == SCALER_PROTO_TLS_H2)
		return; /* counted, never walked */
	conn->in.next_seq = seq;
	conn->in.synced = 1;
}

/* ---- per packet ------------------------------------------------------------------------ */

/* Length of the IP header before TCP, read in place, or 0 when the packet is not TCP
 * (IPv6: TCP right after the fixed header; extension headers are not walked). The IP and
 * TCP headers are in the linear part (TCP builds them there on egress and pulls them there
 * before the socket filter on ingress): two bpf_skb_load_bytes calls cost more than the
 * rest of an HTTP/1 packet's work. */
static __always_inline __u32 framing_tcp_l3(struct __sk_buff *skb)
{
	const __u8 *ip = (const __u8 *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;

	if (skb->protocol == bpf_htons(FRAMING_ETH_P_IP)) {
		if ((void *)(ip + 10) > data_end || ip[9] != SCALER_IPPROTO_TCP)
			return 0;
		return (ip[0] & 0xf) * 4;
	}
	if (skb->protocol == bpf_htons(FRAMING_ETH_P_IPV6)) {
		if ((void *)(ip + 7) > data_end || ip[6] != SCALER_IPPROTO_TCP)
			return 0;
		return 40;
	}
	return 0;
}

/* Offset of the TCP payload, its length and its sequence number; 0 when there is none. */
static __always_inline int framing_payload(struct __sk_buff *skb, __u32 *off, __u32 *len, __u32 *seq)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	__u32 l3 = framing_tcp_l3(skb);
	const __u32 *th;

	if (!l3)
		return 0;
	th = data + l3;
	if ((void *)(th + 4) > data_end)
		return 0;
	*seq = bpf_ntohl(th[1]);
	*off = l3 + ((bpf_ntohl(th[3]) >> 28) & 0xf) * 4;
	if (*off >= skb->len)
		return 0;
	*len = skb->len - *off;
	return 1;
}

/* Trims bytes this direction has seen already; 0 when nothing new is left or on a gap. */
static __always_inline int framing_in_order(struct scaler_conn_state *conn, struct scaler_frame_dir *dir,
					    __u32 *off, __u32 *len, __u32 seq)
{
	__s32 ahead;

	if (!dir->synced) {
		/* the first packet this side sends once framed starts at a frame boundary: a
		 * server writes whole frames, and nothing it wrote before is in flight */
		dir->next_seq = seq;
		dir->synced = 1;
	}
	ahead = (__s32)(seq - dir->next_seq);
	if (ahead > 0) {
		framing_lose(conn);
		return 0;
	}
	if (ahead < 0) {
		if ((__u32)(-ahead) >= *len)
			return 0; /* a retransmission */
		*off += -ahead;
		*len -= -ahead;
	}
	dir->next_seq = seq + *len;
	return 1;
}

/* Select the targets of a new connection (or re-select after a watch-set change). */
static __always_inline int framing_select(struct scaler_conn_state *conn, struct bpf_sock *sk, __u32 epoch)
{
	struct tcp_sock *tp = bpf_skc_to_tcp_sock(sk);
	struct scaler_conn_state sel = {};

	if (!tp)
		return 0;
	if (!scaler_select(&sel, tp->inet_conn.icsk_inet.sk.__sk_common.skc_net.net->ns.inum, sk->src_port) && !conn)
		return 0;
	if (conn) {
		conn->slot = sel.slot;
		conn->generation = sel.generation;
		conn->any_slot = sel.any_slot;
		conn->any_generation = sel.any_generation;
		conn->watch_epoch = epoch;
	}
	return 1;
}

/* The server socket of a watched port, or NULL. The bpf_loop build (5.17+) passes the
 * socket as skb->sk gives it: sk_storage and bpf_skc_to_tcp_sock take a sock_common from
 * 5.11 on, and an established socket that sends or receives TCP is a full TCP socket
 * (request and timewait sockets have other states), which spares the bpf_sk_fullsock
 * call on every packet. The compat build asks for the full socket, as 5.10 requires. */
static __always_inline struct bpf_sock *framing_socket(struct __sk_buff *skb, const int compat)
{
	struct bpf_sock *sk = skb->sk;

	if (!sk || !scaler_port_watched(sk->src_port))
		return 0;
	if (!compat)
		return sk->state == BPF_TCP_ESTABLISHED && framing_tcp_l3(skb) ? sk : 0;
	sk = bpf_sk_fullsock(sk);
	if (!sk || sk->protocol != SCALER_IPPROTO_TCP || sk->state != BPF_TCP_ESTABLISHED)
		return 0;
	return sk;
}

/* Compat build: tell a hash variant to leave a framed connection alone (framed_conns). */
static __always_inline void framing_announce(struct scaler_conn_state *conn)
{
	__u32 protocol = conn->protocol;

	if (bpf_map_update_elem(&framed_conns, &conn->cookie, &protocol, BPF_ANY))
		scaler_count_health(1);
}

static __always_inline int framing_on_ingress(struct __sk_buff *skb, const int compat)
{
	/* zeroed, then set: an initializer with a constant would be copied from .rodata, a
	 * section 5.10's BTF loader rejects when it names no variable */
	struct framing_walk w = {};
	struct scaler_conn_state *conn;
	struct bpf_sock *sk = framing_socket(skb, compat);
	__u32 off, len, seq, epoch;

	if (!sk)
		return FRAMING_PASS;
	w.ingress = 1;
	conn = bpf_sk_storage_get(&conn_state, sk, 0, 0);
	if (conn && conn->protocol != SCALER_PROTO_UNKNOWN && conn->protocol < SCALER_PROTO_FRAMED)
		return FRAMING_PASS; /* turn-taking: the hook ladder times it */
	if (conn && (conn->protocol == SCALER_PROTO_TLS_H2 || conn->protocol == SCALER_PROTO_LOST))
		return FRAMING_PASS;
	if (!framing_payload(skb, &off, &len, &seq))
		return FRAMING_PASS;
	epoch = scaler_current_epoch();
	if (!conn) {
		if (!framing_select(0, sk, epoch))
			return FRAMING_PASS;
		conn = bpf_sk_storage_get(&conn_state, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
		if (!conn) {
			scaler_count_health(1);
			return FRAMING_PASS;
		}
		framing_select(conn, sk, epoch);
	} else if (conn->watch_epoch != epoch) {
		framing_select(conn, sk, epoch);
	}
	if (conn->protocol == SCALER_PROTO_UNKNOWN) {
		framing_classify(skb, conn, off, seq);
		if (compat && conn->protocol >= SCALER_PROTO_FRAMED)
			framing_announce(conn);
		if (conn->protocol < SCALER_PROTO_FRAMED || conn->protocol == SCALER_PROTO_TLS_H2)
			return FRAMING_PASS;
	}
	if (!conn->generation && !conn->any_generation)
		return FRAMING_PASS;
	if (!framing_in_order(conn, &conn->in, &off, &len, seq))
		return FRAMING_PASS;
	w.now_ns = bpf_ktime_get_ns();
	w.seq_base = seq - off;
	if (compat ? framing_walk_compat(skb, conn, &conn->in, off, off + len, &w, seq, 0, 1)
		   : framing_walk(skb, conn, &conn->in, off, off + len, &w))
		framing_lose(conn);
	return FRAMING_PASS;
}

SEC("cgroup_skb/ingress")
int framing_ingress(struct __sk_buff *skb)
{
	return framing_on_ingress(skb, 0);
}

SEC("cgroup_skb/ingress")
int framing_ingress_compat(struct __sk_buff *skb)
{
	return framing_on_ingress(skb, 1);
}

/* An HTTP/1 interim response (1xx but 101) leaving: the request goes on. For send hooks
 * that run after the send (tp_btf); the others read it as the send starts. Only packets
 * small enough to be one are read, the bound the other rungs' send hooks use
 * (SCALER_INTERIM_MAX_SEND): on loopback and with GSO the payload sits in page fragments,
 * and the read cost 16 ns on every response packet (docs/benchmarks.md), while a final
 * response is mostly larger (nginx's `return 200`: 147 bytes). */
static __always_inline void framing_http1_egress(struct __sk_buff *skb, struct bpf_sock *sk,
						 struct scaler_conn_state *conn)
{
	struct tcp_sock *tp;
	__u32 off, len, seq;
	__u8 b[12] = {};

	if (conn->phase != SCALER_PHASE_REQUEST || !framing_payload(skb, &off, &len, &seq) || len < 12 ||
	    len > SCALER_INTERIM_MAX_SEND)
		return;
	if (bpf_skb_load_bytes(skb, off, b, 12) || !scaler_is_interim_status(b))
		return;
	tp = bpf_skc_to_tcp_sock(sk);
	/* equal: a send hook that runs as the send starts saw this response already
	 * (scaler_timing_send), or this is a retransmission */
	if (!tp || conn->request_write_seq == tp->write_seq)
		return;
	/* the send hook (after the send) and the next arrival compare with this */
	conn->request_write_seq = tp->write_seq;
	framing_count(conn, FRAMING_INTERIM);
}

static __always_inline int framing_on_egress(struct __sk_buff *skb, const int compat)
{
	struct framing_walk w = {};
	struct scaler_conn_state *conn;
	struct bpf_sock *sk = framing_socket(skb, compat);
	struct tcp_sock *tp;
	__u32 off, len, seq;

	if (!sk)
		return FRAMING_PASS;
	conn = bpf_sk_storage_get(&conn_state, sk, 0, 0);
	if (!conn)
		return FRAMING_PASS;
	if (conn->protocol == SCALER_PROTO_HTTP1) {
		if (!compat)
			framing_http1_egress(skb, sk, conn);
		return FRAMING_PASS;
	}
	if (conn->protocol != SCALER_PROTO_H2C && conn->protocol != SCALER_PROTO_TLS)
		return FRAMING_PASS;
	if (!framing_payload(skb, &off, &len, &seq))
		return FRAMING_PASS;
	w.seq_base = seq - off;
	if (!framing_in_order(conn, &conn->out, &off, &len, seq))
		return FRAMING_PASS;
	if (conn->protocol == SCALER_PROTO_TLS) {
		tp = bpf_skc_to_tcp_sock(sk);
		if (!tp)
			return FRAMING_PASS;
		w.copied_seq = tp->copied_seq;
	}
	if (compat ? framing_walk_compat(skb, conn, &conn->out, off, off + len, &w, seq, 0, 0)
		   : framing_walk(skb, conn, &conn->out, off, off + len, &w))
		framing_lose(conn);
	return FRAMING_PASS;
}

SEC("cgroup_skb/egress")
int framing_egress(struct __sk_buff *skb)
{
	return framing_on_egress(skb, 0);
}

SEC("cgroup_skb/egress")
int framing_egress_compat(struct __sk_buff *skb)
{
	return framing_on_egress(skb, 1);
}

/* Compat build: the rest of a packet's frames (framing_walk_compat); loaded, never attached. */
static __always_inline int framing_resume_walk(struct __sk_buff *skb, const int ingress)
{
	struct framing_walk w = {};
	struct scaler_conn_state *conn;
	struct framing_resume *r;
	struct bpf_sock *sk = framing_socket(skb, 1);
	__u32 off, len, seq, slot = ingress ? 0 : 1;

	if (!sk)
		return FRAMING_PASS;
	conn = bpf_sk_storage_get(&conn_state, sk, 0, 0);
	r = bpf_map_lookup_elem(&framing_resume, &slot);
	if (!conn || !r)
		return FRAMING_PASS;
	if (!framing_payload(skb, &off, &len, &seq) || seq != r->packet_seq || conn->cookie != r->cookie) {
		framing_lose(conn);
		return FRAMING_PASS;
	}
	w.ingress = ingress;
	w.now_ns = r->now_ns;
	w.seq_base = seq - off;
	w.copied_seq = r->copied_seq;
	if (framing_walk_compat(skb, conn, ingress ? &conn->in : &conn->out, r->off, r->end, &w, seq, r->calls, ingress))
		framing_lose(conn);
	return FRAMING_PASS;
}

SEC("cgroup_skb/ingress")
int framing_more_ingress_compat(struct __sk_buff *skb)
{
	return framing_resume_walk(skb, 1);
}

SEC("cgroup_skb/egress")
int framing_more_egress_compat(struct __sk_buff *skb)
{
	return framing_resume_walk(skb, 0);
}

/* Compat build: the server closed a framed connection; what it left unanswered is aborted
 * (a hash variant's close hook cannot reach it). Every socket's close passes; one without
 * framing state leaves after the sk_storage lookup (sock_release may not read the port). */
SEC("cgroup/sock_release")
int framing_release_compat(struct bpf_sock *sk)
{
	struct scaler_conn_state *conn;

	if (sk->protocol != SCALER_IPPROTO_TCP)
		return FRAMING_PASS;
	conn = bpf_sk_storage_get(&conn_state, sk, 0, 0);
	if (!conn || conn->protocol < SCALER_PROTO_FRAMED)
		return FRAMING_PASS;
	scaler_abort_request(conn);
	scaler_abort_streams(conn);
	if (conn->cookie)
		bpf_map_delete_elem(&framed_conns, &conn->cookie);
	return FRAMING_PASS;
}
