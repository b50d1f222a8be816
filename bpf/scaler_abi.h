/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The kernel/user ABI of keda-ebpf-scaler: every struct that crosses the boundary, with
 * fixed-width fields, explicit padding, units in the names and size asserts. The
 * TypeScript mirror is src/bpf/abi.ts; test/bpf/abi.test.ts checks the two agree (every
 * struct's size and every field's offset from the compiled object's BTF, the bucket index
 * against src/histogram/layout.ts).
 *
 * Included by BPF programs (after vmlinux.h) and by host C (after <stdint.h>), hence the
 * __u* types, which both provide.
 */
#ifndef SCALER_ABI_H
#define SCALER_ABI_H

/* ---- limits, each with its reason ---------------------------------------------------- */

/* Targets one collector times at once. A node rarely runs more than a few hundred
 * workloads; 4096 slots of SCALER_TARGET_STATS_BYTES cost 12.8 MiB, a fixed cost. */
#define SCALER_MAX_TARGETS 4096

/* (netns, port) pairs: several ports per target and one entry per pod netns. */
#define SCALER_MAX_WATCH_ENTRIES 16384

/* The watched-port bitmap: one bit per TCP port. */
#define SCALER_PORT_BITMAP_WORDS (65536 / 64)

/* Demand addresses (ClusterIP:port or ip:port): a few per target. */
#define SCALER_MAX_DEMAND_ENTRIES 16384

/* Wake-up events in flight: at most one per target per user-space read (the slot is
 * re-armed by user space), 24 bytes each with the ring header; 4096 fit 4 times. */
#define SCALER_WAKEUP_RING_BYTES (256 * 1024)

/* Rungs whose programs cannot use sk_storage (kprobes; fentry on 5.10): connections tracked
 * in an LRU hash keyed by socket address. Beyond this, the least recently used connection
 * loses its state. */
#define SCALER_MAX_FALLBACK_CONNS 65536

/* ---- the shared histogram layout (src/histogram/layout.ts) ---------------------------- */

#define SCALER_SUB_BUCKET_BITS 4
#define SCALER_SUB_BUCKETS (1 << SCALER_SUB_BUCKET_BITS)
#define SCALER_MAX_EXPONENT 26
#define SCALER_BUCKET_COUNT ((SCALER_MAX_EXPONENT - SCALER_SUB_BUCKET_BITS + 2) * SCALER_SUB_BUCKETS)
#define SCALER_MAX_TRACKED_US ((1ULL << (SCALER_MAX_EXPONENT + 1)) - 1)

/* Bucket index of a latency in microseconds: shifts and compares only, no loop, no
 * floating point (the verifier and the BPF ISA have neither cheap loops nor clz). */
static inline __u32 scaler_bucket_index(__u64 us)
{
	__u32 exponent = 0;
	__u64 v;

	if (us > SCALER_MAX_TRACKED_US)
		us = SCALER_MAX_TRACKED_US;
	if (us < 2 * SCALER_SUB_BUCKETS)
		return (__u32)us;
	/* floor(log2(us)) by binary search; us < 2^27 so 5 steps cover it */
	v = us;
	if (v >> 16) {
		v >>= 16;
		exponent += 16;
	}
	if (v >> 8) {
		v >>= 8;
		exponent += 8;
	}
	if (v >> 4) {
		v >>= 4;
		exponent += 4;
	}
	if (v >> 2) {
		v >>= 2;
		exponent += 2;
	}
	if (v >> 1)
		exponent += 1;
	return (exponent - SCALER_SUB_BUCKET_BITS + 1) * SCALER_SUB_BUCKETS +
	       (__u32)((us >> (exponent - SCALER_SUB_BUCKET_BITS)) & (SCALER_SUB_BUCKETS - 1));
}

/* ---- maps ---------------------------------------------------------------------------- */

/* watch_ports key: a server socket is timed when (its netns inode, its local port) or
 * (SCALER_ANY_NETNS, its local port) is present. */
#define SCALER_ANY_NETNS 0
struct scaler_watch_key {
	__u32 netns_inum;
	__u16 port; /* host byte order */
	__u16 pad;
};

/* watch_ports / demand_addrs value: the target slot. */
struct scaler_slot_ref {
	__u32 slot;
	__u32 pad;
};

/* demand_addrs key: a connection attempt toward addr:port counts as demand. */
#define SCALER_FAMILY_INET 2
#define SCALER_FAMILY_INET6 10
struct scaler_demand_key {
	__u16 family; /* SCALER_FAMILY_INET or SCALER_FAMILY_INET6 */
	__u16 port;   /* host byte order */
	__u8 addr[16]; /* network byte order; IPv4 in the first 4 bytes, the rest zero */
};

/* slot_meta value: which target generation owns a slot. generation 0 = slot unused, so
 * connections still carrying an old generation stop counting the moment user space
 * clears or reassigns the slot. */
struct scaler_slot_meta {
	__u32 generation;
	__u32 wakeup_armed; /* 1: the next demand attempt emits a wake-up event */
};

/* target_stats value: cumulative counters per slot; user space computes deltas and
 * derives requests = sum of latency_buckets and the in-flight gauge = requests_started -
 * requests - aborted_requests. Arrivals (softirq on the receiving CPU) and responses (the
 * sending CPU) write separate cache lines, and a response costs two atomic adds, not four:
 * the counters a CPU writes do not bounce against the other side's. */
#define SCALER_CACHE_LINE_BYTES 64
struct scaler_target_stats {
	/* line 1: arrival and connection side */
	__u64 requests_started;
	__u64 accepted_connections;
	__u64 demand_attempts;
	__u64 demand_refused; /* SYN_SENT -> CLOSE without ESTABLISHED: RST or timeout */
	__u64 aborted_requests; /* connection closed before a response byte */
	__u64 pad_arrival[3];
	/* line 2 onwards: response side */
	__u64 latency_sum_us;
	__u64 pad_response[7];
	__u64 latency_buckets[SCALER_BUCKET_COUNT];
};

/* health value (one entry): events the kernel side could not record. */
struct scaler_health {
	__u64 conn_state_failures; /* sk_storage / LRU insert failed (memory) */
	__u64 wakeup_drops;        /* ring buffer full */
	__u64 reserved[2];
};

/* ring buffer record: the first demand attempt for an armed (idle) target. */
struct scaler_wakeup_event {
	__u64 time_ns; /* bpf_ktime_get_ns() (CLOCK_MONOTONIC) */
	__u32 slot;
	__u32 generation;
};

/* per-connection state (sk_storage, or the LRU hash: bpf/request_timing.h). Not user-visible
 * but sized here with the rest. A socket may count for two targets at once: the one
 * watching its (netns, port) and the one watching (any netns, port); overlapping triggers
 * each see every request. */
/* Framing position in one direction of a framed connection: where the next TCP payload
 * byte belongs, how much of the current HTTP/2 frame or TLS record body is still to come,
 * and a frame header split across segments. */
#define SCALER_FRAME_HEADER_MAX 9 /* HTTP/2: 9; TLS records: 5 */
struct scaler_frame_dir {
	__u32 next_seq;  /* TCP sequence number of the next payload byte */
	__u32 remaining; /* body bytes of the current frame/record still to come */
	__u8 synced;     /* next_seq is known */
	__u8 hdr_have;   /* bytes of a split header in hdr */
	__u8 hdr[SCALER_FRAME_HEADER_MAX + 1];
	__u8 pad[3];
};

/* conn_state protocol: what the connection's first request bytes said. Connections from
 * SCALER_PROTO_H2C on are timed by the cgroup_skb programs only; the hook ladder's
 * turn-taking skips them. */
#define SCALER_PROTO_UNKNOWN 0 /* no payload seen yet, or no framing programs attached */
#define SCALER_PROTO_PLAIN 1   /* anything else: turn-taking (Redis, Postgres, ...) */
#define SCALER_PROTO_HTTP1 2   /* HTTP/1 request line: turn-taking, interim 1xx skipped */
#define SCALER_PROTO_FRAMED 3  /* first framed protocol */
#define SCALER_PROTO_H2C 3     /* HTTP/2 prior knowledge: per stream */
#define SCALER_PROTO_TLS 4     /* TLS: application-data records take turns */
#define SCALER_PROTO_TLS_H2 5  /* TLS offering ALPN h2: not split per stream, not timed */
#define SCALER_PROTO_LOST 6    /* framing lost (gap, loop bound): no longer timed */

/* conn_state flags (TLS) */
#define SCALER_FRAMING_TLS13 1           /* server sent application data before the client did */
#define SCALER_FRAMING_CLIENT_APP 2      /* the client sent an application-data record */

#define SCALER_PHASE_IDLE 0      /* no request seen, or the response has started */
#define SCALER_PHASE_REQUEST 1   /* request bytes arrived, no response byte yet */
struct scaler_conn_state {
	__u64 request_start_ns;
	__u32 slot;           /* target watching (this netns, port) */
	__u32 generation;     /* 0 = none */
	__u32 any_slot;       /* target watching (any netns, port) */
	__u32 any_generation; /* 0 = none */
	__u32 watch_epoch;    /* watch_epoch when selected: re-select after a change */
	__u32 phase;
	__u32 request_write_seq; /* tcp write_seq when the request arrived: has a response left since? */
	__u32 pad;
	/* ---- protocol framing (bpf/protocol_framing.bpf.c, cgroup_skb programs) ---- */
	__u64 cookie;          /* socket cookie: key of its HTTP/2 streams in h2_streams */
	__u8 protocol;         /* SCALER_PROTO_* */
	__u8 flags;            /* SCALER_FRAMING_* */
	__u16 pad_framing;
	__u32 h2_max_stream;   /* highest client stream id started: client ids only grow */
	__u32 streams_open;    /* HTTP/2 streams started and neither answered nor reset */
	__u32 request_in_seq;  /* TLS: TCP sequence of the current request's first record */
	struct scaler_frame_dir in;  /* client -> server */
	struct scaler_frame_dir out; /* server -> client */
	__u64 client_finished_ns; /* TLS 1.3: when the client's Finished arrived */
};

_Static_assert(sizeof(struct scaler_watch_key) == 8, "watch key ABI");
_Static_assert(sizeof(struct scaler_slot_ref) == 8, "slot ref ABI");
_Static_assert(sizeof(struct scaler_demand_key) == 20, "demand key ABI");
_Static_assert(sizeof(struct scaler_slot_meta) == 8, "slot meta ABI");
_Static_assert(SCALER_BUCKET_COUNT == 384, "histogram layout of src/histogram/layout.ts");
_Static_assert(sizeof(struct scaler_target_stats) == 2 * SCALER_CACHE_LINE_BYTES + 8 * 384, "target stats ABI");
_Static_assert(__builtin_offsetof(struct scaler_target_stats, latency_sum_us) == SCALER_CACHE_LINE_BYTES, "response side on its own line");
_Static_assert(sizeof(struct scaler_health) == 32, "health ABI");
_Static_assert(sizeof(struct scaler_wakeup_event) == 16, "wakeup event ABI");
_Static_assert(sizeof(struct scaler_frame_dir) == 24, "frame dir size");
_Static_assert(sizeof(struct scaler_conn_state) == 120, "conn state size");

/* ---- protocol framing (bpf/protocol_framing.bpf.c) ------------------------------------ */

/* HTTP/2 streams in flight on one connection (SETTINGS_MAX_CONCURRENT_STREAMS is commonly
 * 100); streams beyond are not timed and counted in h2_streams_over_limit. */
#define SCALER_MAX_STREAMS_PER_CONN 128
/* HTTP/2 streams in flight on the node: (socket cookie, stream id) -> start time. */
#define SCALER_MAX_H2_STREAMS 65536
/* TLS 1.3: application data the server sends this soon after the client's Finished arrived
 * answers the Finished (NewSessionTickets, one write each), not a request. */
#define SCALER_TLS13_POST_HANDSHAKE_NS (3ULL * 1000 * 1000)
/* Frames or records walked per packet; a packet with more loses the connection's framing. */
#define SCALER_FRAMES_PER_PACKET 128
/* Without bpf_loop (the compat build): frames per program, and tail calls to the
 * continuation program per packet. The verifier walks a bounded loop once per step, so a
 * longer loop per program costs verification time (5.10 refused 32 in one program:
 * over 1M instructions). */
#define SCALER_FRAMES_PER_CALL 4
#define SCALER_FRAMING_TAIL_CALLS 31
_Static_assert(SCALER_FRAMES_PER_CALL * (SCALER_FRAMING_TAIL_CALLS + 1) == SCALER_FRAMES_PER_PACKET, "both builds walk as many frames per packet");

struct scaler_h2_stream_key {
	__u64 cookie;
	__u32 stream_id;
	__u32 pad;
};

/* proto_stats value: per-slot protocol counters (kernel-written, cumulative). */
struct scaler_proto_stats {
	__u64 h2c_connections;       /* connections framed as HTTP/2 cleartext */
	__u64 tls_connections;       /* connections framed as TLS (records take turns) */
	__u64 tls_h2_connections;    /* TLS connections offering ALPN h2: not timed */
	__u64 h2_streams_over_limit; /* streams beyond SCALER_MAX_STREAMS_PER_CONN: not timed */
	__u64 framing_lost;          /* connections whose framing was lost (gap, loop bound) */
	__u64 interim_responses;     /* HTTP/1 1xx responses that did not end a request */
	__u64 reserved[2];
};

_Static_assert(sizeof(struct scaler_h2_stream_key) == 16, "h2 stream key size");
_Static_assert(sizeof(struct scaler_proto_stats) == 64, "proto stats ABI");

/* ---- holding the first connections at zero (bpf/hold.bpf.c, bpf/connect_demand.bpf.c) --- */

/* hold_config value (user space writes it): while hold_ns > 0 and generation matches the
 * slot, SYNs of client sockets toward the slot's demand addresses are dropped in the
 * client's kernel, so its own TCP retransmits them (the SYN retry schedule) until the
 * target is ready. A hold episode starts at the first SYN held after user space bumped
 * `episode` (the target went from ready to not ready) and ends hold_ns later by itself:
 * the kernel compares its deadline with bpf_ktime_get_ns(), so no dead collector or
 * scaler can keep a target held longer. */
struct scaler_hold_config {
	__u64 hold_ns;    /* 0 = do not hold (holdAtZero unset, or the target is ready) */
	__u32 generation; /* slot_meta generation this configuration belongs to */
	__u32 episode;    /* bumped by user space to start a new hold window */
};

/* hold_stats value (the kernel writes it; user space only zeroes it with the slot):
 * the current episode's deadline, per-connection outcomes, and the listening sockets on
 * the target's watched ports (the standalone readiness view). */
struct scaler_hold_stats {
	__u64 deadline_ns; /* bpf_ktime_get_ns() after which held SYNs pass (refused as before) */
	__u32 episode;     /* the hold_config episode the deadline belongs to */
	__u32 pad;
	__u64 held_connections;      /* connections whose SYN was held at least once */
	__u64 released_connections;  /* held connections let through because the hold ended */
	__u64 timed_out_connections; /* held connections let through at the deadline */
	__s64 listen_delta;          /* sockets that entered LISTEN minus those that left it */
};

/* hold_conns value (sk_storage of a held client socket): counts each connection once. */
#define SCALER_HOLD_HELD 1
#define SCALER_HOLD_RELEASED 2
#define SCALER_HOLD_TIMED_OUT 3
struct scaler_hold_conn {
	__u32 slot;
	__u32 outcome; /* SCALER_HOLD_* */
};

/* connect_marks: a direct-mapped table of client sockets whose connect() named a demand
 * address, indexed by socket cookie modulo SCALER_CONNECT_MARKS (a power of two). Counted
 * as demand at release when the socket never reached SYN_SENT (a socket-level load
 * balancer refused it in its own cgroup/connect hook). A later demand connect() whose
 * cookie lands on the same entry overwrites it: a refused socket still open after
 * SCALER_CONNECT_MARKS further cookies were handed out is not counted. Memory:
 * SCALER_CONNECT_MARKS x 24 bytes (768 KiB), allocated once; no allocation per connect(). */
#define SCALER_CONNECT_MARKS 32768
struct scaler_connect_mark {
	__u64 cookie;   /* the socket's cookie; 0 = free */
	__u32 slot;
	__u32 generation;
	__u32 syn_sent; /* 1: the SYN_SENT demand program counted it already */
	__u32 pad;
};

_Static_assert(sizeof(struct scaler_hold_config) == 16, "hold config ABI");
_Static_assert(sizeof(struct scaler_hold_stats) == 48, "hold stats ABI");
_Static_assert(__builtin_offsetof(struct scaler_hold_stats, listen_delta) == 40, "hold stats ABI");
_Static_assert(sizeof(struct scaler_hold_conn) == 8, "hold conn size");
_Static_assert(sizeof(struct scaler_connect_mark) == 24, "connect mark size");
_Static_assert((SCALER_CONNECT_MARKS & (SCALER_CONNECT_MARKS - 1)) == 0, "connect marks: a power of two");

/* ---- listen-queue overflow (bpf/listen_overflow.bpf.c) ----------------------------------- */

/* listen_stats value (the kernel writes it; user space only zeroes it with the slot): packets
 * the target's listeners dropped because their accept queue was full (what nstat counts as
 * TcpExtListenOverflows), split by kind, and the accept queue's fill seen by each SYN. */
struct scaler_listen_stats {
	__u64 syn_drops;        /* SYNs dropped: each a connection attempt turned away (rps) */
	__u64 ack_drops;        /* handshake-completing ACKs dropped: the client retries them */
	__u64 syns;             /* SYNs that reached a listener of the target */
	__u64 accept_queue_sum; /* sum over those SYNs of the accept queue length they found */
	__u32 backlog;          /* the listen() backlog (sk_max_ack_backlog) the last SYN saw */
	__u32 pad;
};

_Static_assert(sizeof(struct scaler_listen_stats) == 40, "listen stats ABI");

#endif /* SCALER_ABI_H */
