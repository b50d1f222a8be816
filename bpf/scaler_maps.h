/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The maps every program shares, defined once: bpf/scaler.bpf.c includes this header
 * and then each concern's .bpf.c, so all programs live in one object and one load
 * (build/bpf/scaler.bpf.o). Names are what user space looks up (src/bpf/abi.ts MAP_NAMES).
 * (bpftool's static linker was tried first: libbpf 1.1 fails map relocations against
 * extern or __weak maps of linked objects, "map relo failed to find map".)
 */
#ifndef SCALER_MAPS_H
#define SCALER_MAPS_H

#include "scaler_abi.h"

/* (netns inode, local port) -> target slot: which server sockets to time. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SCALER_MAX_WATCH_ENTRIES);
	__type(key, struct scaler_watch_key);
	__type(value, struct scaler_slot_ref);
} watch_ports SEC(".maps");

/* One bit per TCP port (65536 / 64 words): set when any watch entry names the port. The
 * first check on every socket event: an array lookup the verifier inlines, so sockets on
 * unwatched ports cost a few loads, not a hash lookup. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SCALER_PORT_BITMAP_WORDS);
	__type(key, __u32);
	__type(value, __u64);
} watch_port_bits SEC(".maps");

/* The same bitmap for the ports of demand addresses: connect() and SYN_SENT on any other
 * port (nearly every connection a node opens) leave after one inlined array load instead
 * of a hash lookup that misses. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SCALER_PORT_BITMAP_WORDS);
	__type(key, __u32);
	__type(value, __u64);
} demand_port_bits SEC(".maps");

/* One u32, bumped by user space after every watch-set change: connections selected under
 * an older epoch re-select at their next request, so new targets see existing sockets. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} watch_epoch SEC(".maps");

/* (family, address, port) -> target slot: where connection attempts count as demand. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SCALER_MAX_DEMAND_ENTRIES);
	__type(key, struct scaler_demand_key);
	__type(value, struct scaler_slot_ref);
} demand_addrs SEC(".maps");

/* slot -> owner generation and wake-up arming. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SCALER_MAX_TARGETS);
	__type(key, __u32);
	__type(value, struct scaler_slot_meta);
} slot_meta SEC(".maps");

/* slot -> cumulative counters and histogram. A shared (not per-CPU) array updated with
 * atomic adds: per-CPU copies would cost SCALER_MAX_TARGETS * 3 KiB per CPU (200 MiB on
 * 64 CPUs), while one target is rarely hot on many CPUs at once. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SCALER_MAX_TARGETS);
	__type(key, __u32);
	__type(value, struct scaler_target_stats);
} target_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scaler_health);
} health SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, SCALER_WAKEUP_RING_BYTES);
} wakeups SEC(".maps");

/* Per-connection state freed with the socket (no leak, no pointer keys): rung 1, and rung 2
 * on kernels >= 5.11. */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct scaler_conn_state);
} conn_state SEC(".maps");

/* Where sk_storage is not allowed (kprobes; tracing programs before 5.11): state keyed by
 * socket address, dropped at TCP_CLOSE; LRU so a missed close cannot leak. User space
 * shrinks it to 1 entry when the chosen variant keeps state in sk_storage. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SCALER_MAX_FALLBACK_CONNS);
	__type(key, __u64);
	__type(value, struct scaler_conn_state);
} conn_state_by_sk SEC(".maps");

/* Socket cookies of the connections bpf/protocol_framing.bpf.c frames (HTTP/2, TLS), for
 * the hash variants: their framing state lives in sk_storage, which tracing programs
 * before 5.11 and kprobes cannot read, so a hash variant meeting a new connection asks
 * here whether to leave it to the framing programs. The framing release program deletes
 * an entry when its socket is closed; LRU, so an entry whose release was missed ages out
 * (cookies are never reused). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SCALER_MAX_FALLBACK_CONNS);
	__type(key, __u64);
	__type(value, __u32);
} framed_conns SEC(".maps");

/* slot -> holdAtZero configuration (bpf/hold.bpf.c). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SCALER_MAX_TARGETS);
	__type(key, __u32);
	__type(value, struct scaler_hold_config);
} hold_config SEC(".maps");

/* slot -> hold deadline, outcomes and listening sockets (kernel-written). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SCALER_MAX_TARGETS);
	__type(key, __u32);
	__type(value, struct scaler_hold_stats);
} hold_stats SEC(".maps");

/* Held client sockets: each connection counts once as held, then released or timed out. */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct scaler_hold_conn);
} hold_conns SEC(".maps");

/* Client sockets whose connect() named a demand address (bpf/connect_demand.bpf.c), by
 * socket cookie: preallocated, so marking a connect() allocates nothing (sk_storage did,
 * and that was most of the hook's cost). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SCALER_CONNECT_MARKS);
	__type(key, __u32);
	__type(value, struct scaler_connect_mark);
} connect_marks SEC(".maps");

/* slot -> protocol counters (user space zeroes a slot when it assigns it): written by
 * bpf/protocol_framing.bpf.c and, for HTTP/1 interim responses, by send hooks that run as
 * the send starts (bpf/request_timing.h). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SCALER_MAX_TARGETS);
	__type(key, __u32);
	__type(value, struct scaler_proto_stats);
} proto_stats SEC(".maps");

#endif /* SCALER_MAPS_H */
