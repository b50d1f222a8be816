// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The one BPF object the collector loads: the shared maps (scaler_maps.h) and every
 * concern's programs. The hook ladder picks which programs load (libbpf autoload), so
 * all rungs live here and only the chosen one reaches the verifier.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>

#include "scaler_maps.h"

#include "hook_ladder/tp_btf.bpf.c" /* rung 1 */
#include "hook_ladder/fentry.bpf.c" /* rung 2, sk_storage and hash variants */
#include "hook_ladder/kprobe.bpf.c" /* rung 3 */
#include "demand.bpf.c"
#include "hold.bpf.c"            /* holdAtZero: cgroup_skb/egress */
#include "connect_demand.bpf.c"  /* demand seen at connect() */
#include "listen_overflow.bpf.c" /* accept-queue overflow: cgroup_skb/ingress */
#include "protocol_framing.bpf.c" /* HTTP/2, TLS, HTTP/1 interim: cgroup_skb ingress/egress */

char LICENSE[] SEC("license") = "Dual BSD/GPL";
