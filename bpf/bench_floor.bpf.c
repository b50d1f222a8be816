// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Not shipped to the collector: its own object (build/bpf/bench_floor.bpf.o), loaded only
 * by the benchmarks, which attach these programs on sk_data_ready beside the real hooks.
 *   bench_floor_tp_btf   empty: with kernel.bpf_stats_enabled every run is timed with two
 *                        clock reads, and this program's average is that measuring floor,
 *                        to subtract from the real hooks' figures
 *   bench_part_*         one building block of the request-timing hooks each, so the
 *                        per-hook cost can be split into its parts (each minus the floor)
 *   bench_empty_*        empty programs on every per-packet attach point the collector uses
 *                        (with bench_floor_tp_btf on sk_data_ready): what attaching there costs
 *                        a server before any program does work (bench/overhead-candidates.ts)
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u64);
} bench_array SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u64);
	__type(value, __u64);
} bench_hash SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, __u64);
} bench_store SEC(".maps");

/* Results go here so the compiler cannot drop the work. */
volatile __u64 bench_sink;

SEC("tp_btf/sk_data_ready")
int BPF_PROG(bench_floor_tp_btf, const struct sock *sk)
{
	return 0;
}

SEC("tp_btf/sk_data_ready")
int BPF_PROG(bench_part_ktime, const struct sock *sk)
{
	bench_sink = bpf_ktime_get_ns();
	return 0;
}

SEC("tp_btf/sk_data_ready")
int BPF_PROG(bench_part_array_lookup, const struct sock *sk)
{
	__u32 key = sk->__sk_common.skc_num >> 6;
	__u64 *v = bpf_map_lookup_elem(&bench_array, &key);

	if (v)
		bench_sink = *v;
	return 0;
}

SEC("tp_btf/sk_data_ready")
int BPF_PROG(bench_part_hash_lookup, const struct sock *sk)
{
	__u64 key = sk->__sk_common.skc_num;
	__u64 *v = bpf_map_lookup_elem(&bench_hash, &key);

	if (v)
		bench_sink = *v;
	return 0;
}

SEC("tp_btf/sk_data_ready")
int BPF_PROG(bench_part_sk_storage, const struct sock *sk)
{
	__u64 *v = bpf_sk_storage_get(&bench_store, (struct sock *)sk, 0, BPF_SK_STORAGE_GET_F_CREATE);

	if (v)
		bench_sink = *v;
	return 0;
}

SEC("tp_btf/sk_data_ready")
int BPF_PROG(bench_part_tcp_sock, const struct sock *sk)
{
	struct tcp_sock *tp = bpf_skc_to_tcp_sock((void *)sk);

	if (tp)
		bench_sink = tp->write_seq;
	return 0;
}

SEC("tp_btf/sk_data_ready")
int BPF_PROG(bench_part_atomic_add, const struct sock *sk)
{
	__u32 key = 0;
	__u64 *v = bpf_map_lookup_elem(&bench_array, &key);

	if (v)
		__sync_fetch_and_add(v, 1);
	return 0;
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(bench_empty_send, struct sock *sk, int ret, int flags)
{
	return 0;
}

/* cgroup_skb programs answer 1 (pass); two on ingress, as the collector attaches two there */
SEC("cgroup_skb/ingress")
int bench_empty_ingress_a(struct __sk_buff *skb)
{
	return 1;
}

SEC("cgroup_skb/ingress")
int bench_empty_ingress_b(struct __sk_buff *skb)
{
	return 1;
}

SEC("cgroup_skb/egress")
int bench_empty_egress(struct __sk_buff *skb)
{
	return 1;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
