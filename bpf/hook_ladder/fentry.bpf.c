// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Request timing, hook ladder rung 2 (kernel >= 5.5 with BTF): fentry trampolines on the
 * functions the rung-1 tracepoints sit in.
 *   sock_def_readable    the default sk_data_ready: arrival (an exported function
 *                        called through a pointer, so never inlined away)
 *   tcp_sendmsg_locked   a send starts = first response byte (tcp_sendmsg and
 *                        splice/sendfile both go through it)
 *   inet_sock_set_state  the BTF tracepoint (5.5+), as in rung 1
 * Not tcp_recvmsg: it times when the application reads, missing queueing, and its
 * arguments changed in 5.16-5.19 (kernel quirk avoided rather than handled).
 *
 * Two variants that differ only in where connection state lives. Tracing programs may
 * call bpf_sk_storage_get from 5.11 on; on 5.10 the verifier answers "unknown func
 * bpf_sk_storage_get#107", so the hash variant keeps state in the LRU hash (as kprobes
 * do). User space loads the sk_storage variant first and falls back to the hash one.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "../request_timing.h"

static const struct scaler_rung fentry_rung = {
	.read = SCALER_READ_DIRECT,
	.store = SCALER_STORE_SK_STORAGE,
	.send_hook_after_send = 0,
};

static const struct scaler_rung fentry_hash_rung = {
	.read = SCALER_READ_DIRECT,
	.store = SCALER_STORE_HASH,
	.send_hook_after_send = 0,
};

SEC("fentry/sock_def_readable")
int BPF_PROG(rt_arrival_fentry, struct sock *sk)
{
	scaler_timing_arrival(sk, fentry_rung);
	return 0;
}

SEC("fentry/tcp_sendmsg_locked")
int BPF_PROG(rt_send_fentry, struct sock *sk, struct msghdr *msg, size_t size)
{
	scaler_timing_send(sk, msg, (long)size, fentry_rung);
	return 0;
}

/* (rt_state_tp_btf in tp_btf.bpf.c is this variant's state hook) */

SEC("fentry/sock_def_readable")
int BPF_PROG(rt_arrival_fentry_hash, struct sock *sk)
{
	scaler_timing_arrival(sk, fentry_hash_rung);
	return 0;
}

SEC("fentry/tcp_sendmsg_locked")
int BPF_PROG(rt_send_fentry_hash, struct sock *sk, struct msghdr *msg, size_t size)
{
	scaler_timing_send(sk, msg, (long)size, fentry_hash_rung);
	return 0;
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(rt_state_tp_btf_hash, const struct sock *sk, const int oldstate, const int newstate)
{
	scaler_timing_state(sk, oldstate, newstate, fentry_hash_rung);
	return 0;
}
