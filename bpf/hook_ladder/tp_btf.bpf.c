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
#include "../request_timing.h"

static const struct scaler_rung tp_btf_rung = {
	.read = SCALER_READ_DIRECT,
	.store = SCALER_STORE_SK_STORAGE,
	.send_hook_after_send = 1,
	.socket_clock = 1,
};

SEC("tp_btf/sk_data_ready")
int BPF_PROG(rt_arrival_tp_btf, const struct sock *sk)
{
	scaler_timing_arrival(sk, tp_btf_rung);
	return 0;
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(rt_send_tp_btf, struct sock *sk, int ret, int flags)
{
	scaler_timing_send(sk, 0, ret, tp_btf_rung);
	return 0;
}

/* Also the state hook of rung 2's sk_storage variant: tp_btf on this tracepoint works
 * from 5.5 (BTF) on. */
SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(rt_state_tp_btf, const struct sock *sk, const int oldstate, const int newstate)
{
	scaler_timing_state(sk, oldstate, newstate, tp_btf_rung);
	return 0;
}

/*
 * The same hooks keeping connection state in the LRU hash, as the hash variants of 5.10
 * and kprobes do. Never chosen where the sk_storage variant loads (every kernel with these
 * tracepoints lets tracing programs use sk_storage): forced, it runs the hash path, and
 * protocol framing's hash build beside it, on the kernel the tests run on.
 * (rt_state_tp_btf_hash in fentry.bpf.c is this variant's state hook.)
 */
static const struct scaler_rung tp_btf_hash_rung = {
	.read = SCALER_READ_DIRECT,
	.store = SCALER_STORE_HASH,
	.send_hook_after_send = 1,
	.socket_clock = 1,
};

SEC("tp_btf/sk_data_ready")
int BPF_PROG(rt_arrival_tp_btf_hash, const struct sock *sk)
{
	scaler_timing_arrival(sk, tp_btf_hash_rung);
	return 0;
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(rt_send_tp_btf_hash, struct sock *sk, int ret, int flags)
{
	scaler_timing_send(sk, 0, ret, tp_btf_hash_rung);
	return 0;
}
