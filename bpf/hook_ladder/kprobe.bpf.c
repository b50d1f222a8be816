// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Request timing, hook ladder rung 3 (kernels with kprobes but no usable BTF trampolines):
 * kprobes on the same functions as rung 2 and the classic sock:inet_sock_set_state
 * tracepoint. kprobe programs may not use sk_storage, so connection state lives in the
 * LRU hash keyed by the socket's address and is dropped at TCP_CLOSE. No kretprobes:
 * they drop events under load.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "../request_timing.h"

static const struct scaler_rung kprobe_rung = {
	.read = SCALER_READ_PROBED,
	.store = SCALER_STORE_HASH,
	.send_hook_after_send = 0,
};

SEC("kprobe/sock_def_readable")
int BPF_KPROBE(rt_arrival_kprobe, struct sock *sk)
{
	scaler_timing_arrival(sk, kprobe_rung);
	return 0;
}

SEC("kprobe/tcp_sendmsg_locked")
int BPF_KPROBE(rt_send_kprobe, struct sock *sk, struct msghdr *msg, size_t size)
{
	scaler_timing_send(sk, msg, (long)size, kprobe_rung);
	return 0;
}

SEC("tracepoint/sock/inet_sock_set_state")
int rt_state_tracepoint(struct trace_event_raw_inet_sock_set_state *ctx)
{
	const struct sock *sk = BPF_CORE_READ(ctx, skaddr);

	if (BPF_CORE_READ(ctx, protocol) != SCALER_IPPROTO_TCP)
		return 0;
	scaler_timing_state(sk, BPF_CORE_READ(ctx, oldstate), BPF_CORE_READ(ctx, newstate), kprobe_rung);
	return 0;
}
