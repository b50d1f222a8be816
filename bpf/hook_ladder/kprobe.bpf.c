// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Request timing, hook ladder rung 3 (kernels with kprobes but no usable BTF trampolines):
 * kprobes on the same functions as rung 2 and the classic sock:inet_sock_set_state
 * tracepoint. kprobe programs may not use sk_storage, so connection state lives in an
 * LRU hash keyed by the socket's address and is dropped at TCP_CLOSE. No kretprobes:
 * they drop events under load.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "../request_timing.h"

static __always_inline struct scaler_conn_state *lru_conn_get(const struct sock *sk)
{
	__u64 key = (__u64)sk;

	return bpf_map_lookup_elem(&conn_state_by_sk, &key);
}

static __always_inline struct scaler_conn_state *lru_conn_create(const struct sock *sk)
{
	__u64 key = (__u64)sk;
	struct scaler_conn_state fresh = {};

	if (bpf_map_update_elem(&conn_state_by_sk, &key, &fresh, BPF_NOEXIST) &&
	    !bpf_map_lookup_elem(&conn_state_by_sk, &key))
		return 0;
	return bpf_map_lookup_elem(&conn_state_by_sk, &key);
}

static __always_inline void lru_conn_drop(const struct sock *sk)
{
	__u64 key = (__u64)sk;

	bpf_map_delete_elem(&conn_state_by_sk, &key);
}

SCALER_DEFINE_TIMING_HANDLERS(rung3, probed, lru_conn_get, lru_conn_create, lru_conn_drop, 0)

SEC("kprobe/sock_def_readable")
int BPF_KPROBE(rt_arrival_kprobe, struct sock *sk)
{
	rung3_arrival(sk);
	return 0;
}

SEC("kprobe/tcp_sendmsg_locked")
int BPF_KPROBE(rt_send_kprobe, struct sock *sk, struct msghdr *msg, size_t size)
{
	rung3_send(sk, (long)size);
	return 0;
}

SEC("tracepoint/sock/inet_sock_set_state")
int rt_state_tracepoint(struct trace_event_raw_inet_sock_set_state *ctx)
{
	const struct sock *sk = BPF_CORE_READ(ctx, skaddr);

	if (BPF_CORE_READ(ctx, protocol) != SCALER_IPPROTO_TCP)
		return 0;
	rung3_state(sk, BPF_CORE_READ(ctx, oldstate), BPF_CORE_READ(ctx, newstate));
	return 0;
}
