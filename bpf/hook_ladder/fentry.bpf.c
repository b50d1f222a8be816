// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Request timing, hook ladder rung 2 (kernel >= 5.11 with BTF; for sk_storage in tracing
 * programs): fentry trampolines on the functions the rung-1 tracepoints sit in.
 *   sock_def_readable    the default sk_data_ready: arrival (an exported function
 *                        called through a pointer, so never inlined away)
 *   tcp_sendmsg_locked   a send starts = first response byte (tcp_sendmsg and
 *                        splice/sendfile both go through it)
 * State changes use rung 1's tp_btf/inet_sock_set_state program (BTF tracepoint, 5.5+).
 * Not tcp_recvmsg: it times when the application reads, missing queueing, and its
 * arguments changed in 5.16-5.19 (kernel quirk avoided rather than handled).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "../request_timing.h"

static __always_inline struct scaler_conn_state *fentry_conn_get(const struct sock *sk)
{
	return bpf_sk_storage_get(&conn_state, (struct sock *)sk, 0, 0);
}

static __always_inline struct scaler_conn_state *fentry_conn_create(const struct sock *sk)
{
	return bpf_sk_storage_get(&conn_state, (struct sock *)sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
}

static __always_inline void fentry_conn_keep(const struct sock *sk)
{
}

SCALER_DEFINE_TIMING_HANDLERS(rung2, direct, fentry_conn_get, fentry_conn_create, fentry_conn_keep, 0)

SEC("fentry/sock_def_readable")
int BPF_PROG(rt_arrival_fentry, struct sock *sk)
{
	rung2_arrival(sk);
	return 0;
}

SEC("fentry/tcp_sendmsg_locked")
int BPF_PROG(rt_send_fentry, struct sock *sk, struct msghdr *msg, size_t size)
{
	rung2_send(sk, (long)size);
	return 0;
}
