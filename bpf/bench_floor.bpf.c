// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Not shipped to the collector: its own object (build/bpf/bench_floor.bpf.o), loaded only
 * by the benchmarks. An empty program on the busiest tracepoint: with
 * kernel.bpf_stats_enabled every run is timed with two clock reads, and this program's
 * average is that measuring floor, to subtract from the real hooks' figures.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

SEC("tp_btf/sk_data_ready")
int BPF_PROG(bench_floor_tp_btf, const struct sock *sk)
{
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
