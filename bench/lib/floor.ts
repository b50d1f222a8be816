import path from 'node:path';
import { BpfObject } from '../../src/bpf/object.js';
import { programRunStats } from '../../src/bpf/prog-stats.js';
import { DEFAULT_BPF_OBJECT } from '../../src/collector/core.js';
import { attachToCgroupRoot } from '../../src/collector/slot-counters.js';

/**
 * The measuring floor of kernel.bpf_stats_enabled and the hooks' building blocks, from their
 * own object (build/bpf/bench_floor.bpf.o, bpf/bench_floor.bpf.c) so the collector's object
 * never ships them. The floor is an empty program: its average run time is what bpf_stats
 * itself adds to every run. Each part program does one thing the request-timing hooks do
 * (a clock read, a map lookup, an atomic add, ...), so part minus floor is that thing's cost.
 */
export const FLOOR_PROGRAM = 'bench_floor_tp_btf';
export const PART_PROGRAMS = [
  'bench_part_ktime',
  'bench_part_array_lookup',
  'bench_part_hash_lookup',
  'bench_part_sk_storage',
  'bench_part_tcp_sock',
  'bench_part_atomic_add',
] as const;
export const FLOOR_OBJECT = path.join(path.dirname(DEFAULT_BPF_OBJECT), 'bench_floor.bpf.o');

/** Empty programs on the collector's per-packet attach points (tracing ones first, then the cgroup_skb ones). */
export const EMPTY_TRACING_PROGRAMS = [FLOOR_PROGRAM, 'bench_empty_send'] as const;
export const EMPTY_CGROUP_PROGRAMS = ['bench_empty_ingress_a', 'bench_empty_ingress_b', 'bench_empty_egress'] as const;

const EMPTY_HOOK_SETS = {
  all: { tracing: EMPTY_TRACING_PROGRAMS, cgroup: EMPTY_CGROUP_PROGRAMS },
  tracing: { tracing: EMPTY_TRACING_PROGRAMS, cgroup: [] },
  cgroup: { tracing: [], cgroup: EMPTY_CGROUP_PROGRAMS },
  // one program per cgroup_skb point: what merging the two ingress programs would save
  'cgroup-one-ingress': { tracing: [], cgroup: ['bench_empty_ingress_a', 'bench_empty_egress'] },
} as const satisfies Record<string, { tracing: readonly string[]; cgroup: readonly string[] }>;

/**
 * Attaches the empty programs: on sk_data_ready and sock_send_length, two on cgroup_skb
 * ingress and one on egress of the cgroup v2 root, as many per packet as the collector runs
 * (`which`: only the tracing ones, only the cgroup_skb ones, or one cgroup_skb program per
 * point; `cgroupPaths`: another cgroup than the root).
 */
export function attachEmptyHooks(which: keyof typeof EMPTY_HOOK_SETS = 'all', cgroupPaths?: readonly string[]): { close(): void } {
  const { tracing, cgroup } = EMPTY_HOOK_SETS[which];
  const object = BpfObject.open(FLOOR_OBJECT);
  try {
    object.loadOnly([...tracing, ...cgroup]);
    object.load();
    for (const program of tracing) object.attach(program);
    attachToCgroupRoot(object, cgroup, cgroupPaths);
    return { close: () => object.close() };
  } catch (err) {
    object.close();
    throw err;
  }
}

export interface FloorPrograms {
  /** Kernel program ids by name (for bpftool prog show). */
  readonly ids: Readonly<Record<string, number>>;
  close(): void;
}

/** Loads and attaches the floor program, and the part programs when `withParts`. */
export function attachFloorPrograms(withParts = false): FloorPrograms {
  const programs = withParts ? [FLOOR_PROGRAM, ...PART_PROGRAMS] : [FLOOR_PROGRAM];
  const object = BpfObject.open(FLOOR_OBJECT);
  try {
    object.loadOnly(programs);
    object.load();
    for (const program of programs) object.attach(program);
    return { ids: Object.fromEntries(programs.map((p) => [p, object.programId(p)])), close: () => object.close() };
  } catch (err) {
    object.close();
    throw err;
  }
}

/** Cumulative run time (ns) and run count of one program by id (kernel.bpf_stats_enabled counts). */
export function progStats(id: number): { ns: number; cnt: number } {
  const s = programRunStats(id);
  return { ns: Number(s.runTimeNs), cnt: Number(s.runCount) };
}
