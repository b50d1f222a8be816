// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Test fixture, not shipped: a cgroup/connect4 program that refuses connect() to listed
 * IPv4 ip:port pairs, as a socket-level service load balancer (e.g. Cilium's kube-proxy
 * replacement) does for a Service without backends: the connect() fails with EPERM and no
 * SYN_SENT ever happens. test/bpf/connect-demand.test.ts checks demand is still counted.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct lb_refused_key {
	__u32 addr; /* network byte order */
	__u32 port; /* network byte order, as bpf_sock_addr.user_port */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, struct lb_refused_key);
	__type(value, __u32);
} lb_refused SEC(".maps");

SEC("cgroup/connect4")
int lb_refuse_connect4(struct bpf_sock_addr *ctx)
{
	struct lb_refused_key key = { .addr = ctx->user_ip4, .port = ctx->user_port };

	return bpf_map_lookup_elem(&lb_refused, &key) ? 0 : 1;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
