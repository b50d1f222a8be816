import fs from 'node:fs';
import os from 'node:os';
import { libbpf, type Pointer } from '../bpf/libbpf.js';
import type { HookFacts } from './hook-ladder.js';

/**
 * Probes this host for what the collector needs: capabilities, BTF, which tracepoints and
 * functions exist, kprobe support. Reads files and BTF only; loads nothing into the kernel.
 */

const BTF_KIND_TYPEDEF = 8;
const BTF_KIND_FUNC = 12;
export const VMLINUX_BTF_PATH = '/sys/kernel/btf/vmlinux';
const KPROBE_PMU_PATH = '/sys/bus/event_source/devices/kprobe/type';

/** Capability bit numbers (linux/capability.h). */
export const CAPABILITIES = {
  CAP_NET_ADMIN: 12,
  CAP_SYS_ADMIN: 21,
  CAP_SYS_RESOURCE: 24,
  CAP_PERFMON: 38,
  CAP_BPF: 39,
} as const;
export type CapabilityName = keyof typeof CAPABILITIES;

/** Effective capabilities of this process, from /proc/self/status (CapEff, hex). */
export function effectiveCapabilities(statusText: string = fs.readFileSync('/proc/self/status', 'utf8')): Set<CapabilityName> {
  const match = /^CapEff:\s*([0-9a-fA-F]+)$/m.exec(statusText);
  const mask = match?.[1] !== undefined ? BigInt(`0x${match[1]}`) : 0n;
  const held = new Set<CapabilityName>();
  for (const [name, bit] of Object.entries(CAPABILITIES) as [CapabilityName, number][]) {
    if ((mask >> BigInt(bit)) & 1n) held.add(name);
  }
  return held;
}

/**
 * What is missing to load and attach tracing programs: CAP_BPF (maps, programs) and
 * CAP_PERFMON (tracing programs, reading kernel memory), each satisfied by CAP_SYS_ADMIN
 * on its own (kernels before 5.8 know only CAP_SYS_ADMIN). Empty = enough.
 */
export function missingCapabilities(held: ReadonlySet<CapabilityName>): CapabilityName[] {
  if (held.has('CAP_SYS_ADMIN')) return [];
  const missing: CapabilityName[] = [];
  if (!held.has('CAP_BPF')) missing.push('CAP_BPF');
  if (!held.has('CAP_PERFMON')) missing.push('CAP_PERFMON');
  return missing;
}

export interface KernelFacts {
  readonly kernelRelease: string;
  readonly libbpfVersion: string;
  readonly capabilities: readonly CapabilityName[];
  readonly missingCapabilities: readonly CapabilityName[];
  /** RLIMIT_MEMLOCK does not matter on kernels >= 5.11 (memcg accounting), libbpf knows. */
  readonly hook: HookFacts;
}

function btfHas(btf: Pointer, name: string, kind: number): boolean {
  return libbpf().btf__find_by_name_kind(btf, name, kind) >= 0;
}

export function probeKernelFacts(): KernelFacts {
  const lib = libbpf();
  const held = effectiveCapabilities();
  let btf: Pointer | null = null;
  if (fs.existsSync(VMLINUX_BTF_PATH)) btf = lib.btf__load_vmlinux_btf();
  const has = (name: string, kind: number): boolean => btf !== null && btfHas(btf, name, kind);
  const hook: HookFacts = {
    btf: btf !== null,
    btfTracepoints: {
      sk_data_ready: has('btf_trace_sk_data_ready', BTF_KIND_TYPEDEF),
      sock_send_length: has('btf_trace_sock_send_length', BTF_KIND_TYPEDEF),
      inet_sock_set_state: has('btf_trace_inet_sock_set_state', BTF_KIND_TYPEDEF),
    },
    btfFunctions: {
      sock_def_readable: has('sock_def_readable', BTF_KIND_FUNC),
      tcp_sendmsg_locked: has('tcp_sendmsg_locked', BTF_KIND_FUNC),
    },
    kprobes: fs.existsSync(KPROBE_PMU_PATH),
  };
  if (btf !== null) lib.btf__free(btf);
  return {
    kernelRelease: os.release(),
    libbpfVersion: `${lib.libbpf_major_version()}.${lib.libbpf_minor_version()}`,
    capabilities: [...held].sort(),
    missingCapabilities: missingCapabilities(held),
    hook,
  };
}
