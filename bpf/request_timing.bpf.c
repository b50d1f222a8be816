// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Request timing, hook ladder rung 1 (kernel >= 6.3): BTF-enabled tracepoints.
 *   sk_data_ready        bytes queued on the socket = request arrival (before the
 *                        application reads: accept- and receive-queue waits count)
 *   sock_send_length     a send returned = first response byte out
 *   inet_sock_set_state  handshake done (accepted) / closed (abort an open request)
 * Cheapest rung: no trampolines, arguments are typed kernel pointers.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "request_timing.h"

static __always_inline struct scaler_conn_state *sk_storage_get(const struct sock *sk)
{
	return bpf_sk_storage_get(&conn_state, (struct sock *)sk, 0, 0);
}

static __always_inline struct scaler_conn_state *sk_storage_create(const struct sock *sk)
{
	return bpf_sk_storage_get(&conn_state, (struct sock *)sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
}

/* sk_storage is freed with the socket: nothing to drop at close. */
static __always_inline void sk_storage_keep(const struct sock *sk)
{
}

SCALER_DEFINE_TIMING_HANDLERS(rung1, direct, sk_storage_get, sk_storage_create, sk_storage_keep, 1)

SEC("tp_btf/sk_data_ready")
int BPF_PROG(rt_arrival_tp_btf, const struct sock *sk)
{
	rung1_arrival(sk);
	return 0;
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(rt_send_tp_btf, struct sock *sk, int ret, int flags)
{
	rung1_send(sk, ret);
	return 0;
}

/* Also rung 2's state hook: tp_btf on this tracepoint works from 5.5 (BTF) on. */
SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(rt_state_tp_btf, const struct sock *sk, const int oldstate, const int newstate)
{
	rung1_state(sk, oldstate, newstate);
	return 0;
}
