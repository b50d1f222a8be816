// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Not part of any rung: an empty program on the busiest tracepoint, loaded only by
 * bench/kernel-overhead.ts. kernel.bpf_stats_enabled times every run with two clock reads;
 * this program's average is that measuring floor, to subtract from the real hooks' figures.
 */
SEC("tp_btf/sk_data_ready")
int BPF_PROG(bench_floor_tp_btf, const struct sock *sk)
{
	return 0;
}
